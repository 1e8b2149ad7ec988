/*
 * core_pairs.c - the core's cost per zalloc+zfree pair against the number of
 * live blocks, and its bookkeeping bytes per block.
 *
 * For each live-set size N (1k, 10k, 100k, 1M) a default (locked) ZONE_GROW
 * zone is filled with N blocks from the realistic size mix and churned N
 * times to reach a steady, fragmented state. Then three timings:
 *   random  free a random victim, allocate a replacement from the mix: first
 *           fit searches a zone whose holes are spread everywhere;
 *   lifo    allocate and at once free one block, the best case (the hole it
 *           fills is the one it leaves);
 *   malloc  the random pattern through this process's malloc, for scale.
 * Each figure is the median of seven equal slices of its timing. The four
 * zones live side by side and the random and lifo slices of the four sizes
 * are interleaved, round by round in a rotating order: the 1M/1k ratio then
 * compares figures taken over the same stretch of time, so a burst of load on
 * the shared machine falls on every size alike, not on whichever size was
 * being timed (the malloc figures, which share one heap, come after, a size
 * at a time).
 * Bookkeeping is read from the core (zone__bookkeeping_bytes: the zone's own
 * mapping and the pages in use of each extent's book), which is why this
 * program links the zone_core objects rather than libzone.so. A last line
 * fills a zone with 16-byte blocks, the worst case for any per-block scheme.
 */
#include "bench_util.h"
#include "internal.h"

#define FULL_PAIRS 2000000
#define ZONE_START ((size_t)1 << 20)

static const size_t live_sizes[] = {1000, 10000, 100000, 1000000};

/* Each timing runs in SLICES equal slices and reports the median slice's ns
 * per pair: on a shared machine another process's burst then spoils one
 * slice, not the figure. */
#define SLICES 7

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median_slice(double *ns) {
  qsort(ns, SLICES, sizeof *ns, cmp_double);
  return ns[SLICES / 2];
}

typedef enum { RANDOM, LIFO, MALLOC } pattern_t;

/* One pair of the pattern; inlined with a constant pattern, so the switch
 * costs nothing in the timed loop. */
static inline __attribute__((always_inline)) void one_pair(pattern_t pattern, zone_t *z,
                                                          void **p, size_t n,
                                                          bench_rng_t *rng) {
  size_t i;
  void *q;
  switch (pattern) {
  case RANDOM:  /* free a random victim, allocate its replacement */
    i = bench_below(rng, n);
    zfree(z, p[i]);
    p[i] = zalloc(z, bench_size_mix(rng));
    break;
  case LIFO:  /* allocate and free at once */
    q = zalloc(z, bench_size_mix(rng));
    bench_check(q != NULL, "zalloc");
    zfree(z, q);
    break;
  case MALLOC:  /* the random pattern through this process's malloc */
    i = bench_below(rng, n);
    free(p[i]);
    p[i] = malloc(bench_size_mix(rng));
    break;
  }
}

/* Pairs in one slice of a timing of `pairs`. */
static size_t slice_pairs(size_t pairs) { return pairs / SLICES > 0 ? pairs / SLICES : 1; }

/* ns per pair over one slice of `per` pairs of the pattern. */
static inline __attribute__((always_inline)) double one_slice(pattern_t pattern, zone_t *z,
                                                             void **p, size_t n, size_t per,
                                                             bench_rng_t *rng) {
  double t0 = bench_now();
  for (size_t k = 0; k < per; k++)
    one_pair(pattern, z, p, n, rng);
  return (bench_now() - t0) * 1e9 / (double)per;
}

/* ns per pair of the pattern, the median of SLICES timed slices. */
static inline __attribute__((always_inline)) double time_pairs(pattern_t pattern, zone_t *z,
                                                              void **p, size_t n, size_t pairs,
                                                              bench_rng_t *rng) {
  double ns[SLICES];
  for (int s = 0; s < SLICES; s++)
    ns[s] = one_slice(pattern, z, p, n, slice_pairs(pairs), rng);
  return median_slice(ns);
}

/* One size's zone, its victims, and its slices. */
typedef struct sized {
  size_t n;
  bench_rng_t rng;
  void **p;
  zone_t *z;
  double random_ns[SLICES], lifo_ns[SLICES];
} sized_t;

/* The random and lifo slices of every size, interleaved (see the top). */
static void time_zones(sized_t *sz, size_t nsizes, size_t pairs) {
  size_t per = slice_pairs(pairs);
  for (int r = 0; r < SLICES; r++)
    for (size_t k = 0; k < nsizes; k++) {
      sized_t *one = &sz[(k + (size_t)r) % nsizes];
      one->random_ns[r] = one_slice(RANDOM, one->z, one->p, one->n, per, &one->rng);
    }
  for (int r = 0; r < SLICES; r++)
    for (size_t k = 0; k < nsizes; k++) {
      sized_t *one = &sz[(k + (size_t)r) % nsizes];
      one->lifo_ns[r] = one_slice(LIFO, one->z, one->p, one->n, per, &one->rng);
    }
  for (size_t k = 0; k < nsizes; k++)
    for (size_t i = 0; i < sz[k].n; i++)
      bench_check(sz[k].p[i] != NULL, "zalloc failed in a growing zone");
}

static double time_malloc(void **p, size_t n, size_t pairs, bench_rng_t *rng) {
  for (size_t i = 0; i < n; i++)
    p[i] = malloc(bench_size_mix(rng));
  double ns = time_pairs(MALLOC, NULL, p, n, pairs, rng);
  for (size_t i = 0; i < n; i++)
    free(p[i]);
  return ns;
}

/* Bookkeeping per block of a zone filled to the brim with 16-byte blocks. */
static void full_of_granules(size_t bytes) {
  zone_t *z = create_zone(bytes);
  bench_check(z != NULL, "create_zone");
  size_t blocks = 0;
  while (zalloc(z, 16) != NULL)
    blocks++;
  bench_check(blocks * 16 == zone_size(z), "a zone serves all of its bytes");
  size_t book = zone__bookkeeping_bytes(z);
  printf("# zone of %zu MiB full of 16-byte blocks: %zu blocks, bookkeeping %zu bytes = "
         "%.3f bytes/block = %.2f%% of the zone (limit 1/16 = 6.25%%)\n",
         bytes >> 20, blocks, book, (double)book / (double)blocks,
         100.0 * (double)book / (double)zone_size(z));
  destroy_zone(z);
}

int main(int argc, char **argv) {
  double scale = bench_scale(argc, argv, NULL);
  size_t pairs = bench_scaled(FULL_PAIRS, scale, 20000);
  enum { NSIZES = sizeof live_sizes / sizeof live_sizes[0] };
  static sized_t sz[NSIZES];

  printf("# core_pairs: ns per zalloc+zfree pair, locked ZONE_GROW zone from %zu KiB, "
         "sizes from the small mix, %zu pairs per timing\n", ZONE_START >> 10, pairs);
  printf("# live_blocks random_ns lifo_ns malloc_random_ns book_bytes_per_block "
         "book_pct_of_zone zone_mib extents\n");
  for (size_t s = 0; s < NSIZES; s++) {
    sized_t *one = &sz[s];
    one->n = live_sizes[s];
    one->rng = (bench_rng_t){one->n};
    one->p = malloc(one->n * sizeof *one->p);
    bench_check(one->p != NULL, "malloc");
    one->z = create_zone_flags(ZONE_START, ZONE_GROW);
    bench_check(one->z != NULL, "create_zone_flags");
    for (size_t i = 0; i < one->n; i++) {
      one->p[i] = zalloc(one->z, bench_size_mix(&one->rng));
      bench_check(one->p[i] != NULL, "zalloc");
    }
    /* warm up into a fragmented steady state */
    time_pairs(RANDOM, one->z, one->p, one->n, one->n, &one->rng);
  }
  time_zones(sz, NSIZES, pairs);

  double random_ns[NSIZES];
  for (size_t s = 0; s < NSIZES; s++) {
    sized_t *one = &sz[s];
    size_t n = one->n;
    random_ns[s] = median_slice(one->random_ns);
    double lifo_ns = median_slice(one->lifo_ns);
    zone_t *z = one->z;
    bench_check(zone_check(z) == 0, "zone_check after the timings");
    zone_stats_t st;
    zone_stats(z, &st);
    bench_check(st.blocks == n, "live block count");
    size_t book = zone__bookkeeping_bytes(z);
    size_t extents = z->nextents;
    destroy_zone(z);
    double malloc_ns = time_malloc(one->p, n, pairs, &one->rng);
    free(one->p);

    printf("%zu %.1f %.1f %.1f %.2f %.2f %.1f %zu\n", n, random_ns[s], lifo_ns, malloc_ns,
           (double)book / (double)n, 100.0 * (double)book / (double)st.size,
           (double)st.size / (1 << 20), extents);
    fflush(stdout);
  }
  printf("# random cost at %zu live blocks / at %zu: %.2fx\n",
         live_sizes[NSIZES - 1], live_sizes[0], random_ns[NSIZES - 1] / random_ns[0]);
  full_of_granules(scale < 0.1 ? (size_t)4 << 20 : (size_t)64 << 20);
  return 0;
}
