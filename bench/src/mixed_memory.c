/*
 * mixed_memory.c - where a zone's resident memory goes on the mixed workload.
 *
 * Runs bench/src/mixed.c's sequence (same seed, sizes, first-and-last-byte
 * writes) through the core on one ZONE_GROW zone of the shim's first size
 * (4 MiB), with the shim's automatic return emulated: every 64 operations a
 * look at the bytes in use, and when they have fallen BUDGET (32 trim
 * thresholds) below their high-water mark since the last return, the whole
 * pages inside free runs of at least the threshold go back (zone__trim).
 * Every --every steps it classifies each resident page of the zone (mincore):
 *
 *   touched   holds the first or last byte of a live block: memory any
 *             allocator that put the block there would need
 *   stale     holds live granules but no live block's written byte: resident
 *             because an earlier block wrote there, now under the untouched
 *             middle of a live one
 *   free<T    wholly free, inside a free run shorter than the threshold
 *             (never returned)
 *   free>=T   wholly free, inside a run of the threshold or more (waiting for
 *             the next return)
 *
 * plus the bookkeeping's resident bytes, and prints the breakdown at the
 * sample where the zone's resident total peaks. White-box (it reads the
 * extents), so it links the core's objects.
 *
 *   mixed_memory [--live N] [--steps N] [--every N] [--threshold BYTES]
 *                [--trim-every N]   (zone__trim(z, threshold) every N steps)
 *                [--trim-keep BYTES] (zone_trim's keep for --trim-every)
 *                [--faults 1]  (count the pages each block's writes bring in)
 */
#include "bench_util.h"
#include "internal.h"

#include <sys/mman.h>
#include <unistd.h>

typedef struct slot {
  unsigned char *p;
  size_t size;
} slot_t;

enum { TOUCHED, STALE, FREE_SHORT, FREE_LONG, CLASSES };
static const char *const class_name[CLASSES] = {"touched", "stale", "free<T", "free>=T"};

typedef struct sample {
  size_t step, used, resident, book, process, cls[CLASSES];
} sample_t;

static size_t page;

static size_t resident_in(uintptr_t lo, size_t len) {
  size_t n = (len + page - 1) / page, r = 0;
  unsigned char *vec = malloc(n + 1);
  bench_check(vec != NULL, "malloc");
  if (n != 0 && mincore((void *)lo, n * page, vec) == 0)
    for (size_t i = 0; i < n; i++)
      r += vec[i] & 1;
  free(vec);
  return r;
}

/* One sample: the classes of every resident page of every extent. */
static void classify(zone_t *z, const slot_t *set, size_t slots, size_t threshold, sample_t *s) {
  memset(s->cls, 0, sizeof s->cls);
  s->used = z->used_gran * ZONE_G;
  s->book = 0;
  for (size_t k = 0; k < z->nextents; k++) {
    zone__extent_t *e = &z->extents[k];
    size_t pages = (e->idx.ngran * ZONE_G + page - 1) / page;
    unsigned char *vec = malloc(pages + 1), *kind = calloc(pages + 1, 1);
    bench_check(vec != NULL && kind != NULL, "malloc");
    bench_check(mincore((void *)e->base, pages * page, vec) == 0, "mincore");
    /* kind: 0 live granules, 1 wholly free in a short run, 2 in a long run */
    for (size_t p = 0; p < pages; p++)
      kind[p] = 0;
    size_t g = 0, n_gran = page / ZONE_G;
    while (g < e->idx.ngran && (g = zone__index_fit(&e->idx, 1, g)) != ZONE_NONE) {
      size_t len = zone__index_free_len(&e->idx, g, e->idx.ngran - g);
      size_t p0 = (g + n_gran - 1) / n_gran, p1 = (g + len) / n_gran;  /* whole pages [p0, p1) */
      for (size_t p = p0; p < p1; p++)
        kind[p] = len * ZONE_G >= threshold && threshold != 0 ? 2 : 1;
      g += len;
    }
    unsigned char *touched = calloc(pages + 1, 1);
    bench_check(touched != NULL, "calloc");
    for (size_t i = 0; i < slots; i++) {
      uintptr_t a = (uintptr_t)set[i].p;
      if (a < e->base || a >= e->base + e->idx.ngran * ZONE_G)
        continue;
      touched[(a - e->base) / page] = 1;
      touched[(a + set[i].size - 1 - e->base) / page] = 1;
    }
    for (size_t p = 0; p < pages; p++) {
      if (!(vec[p] & 1))
        continue;
      s->cls[kind[p] == 2 ? FREE_LONG : kind[p] == 1 ? FREE_SHORT : touched[p] ? TOUCHED : STALE]++;
    }
    /* the book is a reservation laid out for more than the extent (index.c):
     * its resident pages are its bookkeeping, the returned-pages marks too */
    s->book += resident_in((uintptr_t)e->idx.book, e->idx.book_len);
    free(vec);
    free(kind);
    free(touched);
  }
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long vm = 0, rss = 0;
  if (f != NULL) {
    if (fscanf(f, "%lu %lu", &vm, &rss) != 2)
      rss = 0;
    fclose(f);
  }
  s->process = rss;
  s->resident = 0;
  for (int c = 0; c < CLASSES; c++)
    s->resident += s->cls[c];
}

/* --faults: the pages each new block's two writes bring into memory, by the
 * block's size class and by what the page was: never written before, below
 * the highest page written so far (inside a hole) or above it (new memory at
 * the top), or written before and given back since (a refault). */
enum { HOLE, TOP, REFAULT, KINDS };
static const char *const kind_name[KINDS] = {"first touch in a hole", "first touch at the top", "refault after return"};
static size_t fault_count[4][KINDS];
static unsigned char *ever;  /* a byte per page from `origin`: written once */
static uintptr_t origin;
static size_t top_page;

static void count_fault_at(uintptr_t a, int cls) {
  uintptr_t pa = a / page * page;
  unsigned char v;
  bench_check(mincore((void *)pa, page, &v) == 0, "mincore");
  if (v & 1)
    return;
  bench_check(pa >= origin && (pa - origin) / page < ((size_t)64 << 30) / page, "address out of range");
  size_t p = (pa - origin) / page;
  fault_count[cls][ever[p] ? REFAULT : p < top_page ? HOLE : TOP]++;
  ever[p] = 1;
  if (p >= top_page)
    top_page = p + 1;
}

static void count_faults(unsigned char *p, size_t size) {
  int cls = size <= 128 ? 0 : size <= 2048 ? 1 : size <= 32768 ? 2 : 3;
  count_fault_at((uintptr_t)p, cls);
  if (((uintptr_t)p + size - 1) / page != (uintptr_t)p / page)
    count_fault_at((uintptr_t)p + size - 1, cls);
}

static size_t option(int *argc, char **argv, const char *name, size_t dflt) {
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], name) != 0)
      continue;
    char *end = NULL;
    long long v = i + 1 < *argc ? strtoll(argv[i + 1], &end, 10) : -1;
    if (end == NULL || *end != '\0' || v < 0) {
      fprintf(stderr, "%s: %s wants a whole number\n", argv[0], name);
      exit(2);
    }
    for (int k = i; k + 2 <= *argc; k++)
      argv[k] = argv[k + 2];
    *argc -= 2;
    return (size_t)v;
  }
  return dflt;
}

static double mib(size_t pages_or_bytes, size_t unit) { return (double)pages_or_bytes * (double)unit / 1048576.0; }

int main(int argc, char **argv) {
  size_t live = option(&argc, argv, "--live", 100000);
  size_t steps = option(&argc, argv, "--steps", 30 * live);
  size_t every = option(&argc, argv, "--every", 20000);
  size_t threshold = option(&argc, argv, "--threshold", (size_t)128 << 10);
  size_t trim_every = option(&argc, argv, "--trim-every", 0);
  size_t trim_keep = option(&argc, argv, "--trim-keep", 0);
  size_t faults = option(&argc, argv, "--faults", 0);
  (void)bench_scale(argc, argv, "[--live N] [--steps N] [--every N] [--threshold B] [--trim-every N] [--trim-keep B] [--faults 1]");
  page = (size_t)sysconf(_SC_PAGESIZE);
  zone_t *z = create_zone_flags((size_t)4 << 20, ZONE_GROW);
  bench_check(z != NULL, "create_zone_flags");
  if (faults) {
    origin = z->extents[0].base / page * page;
    ever = calloc(((size_t)64 << 30) / page, 1);
    bench_check(ever != NULL, "calloc");
  }
  slot_t *set = calloc(live, sizeof *set);
  bench_check(set != NULL && every > 0, "calloc");
  bench_rng_t rng = {42};
  size_t high_water = 0, ops = 0, returned = 0, budget = threshold * 32;
  size_t keep = 0, quiet = 0, reused_seen = 0;
  sample_t peak = {0}, s;

  for (size_t n = 0; n < live + steps; n++) {
    size_t i = n < live ? n : bench_below(&rng, live);
    if (n >= live) {
      bench_check(zfree(z, set[i].p) == 0, "zfree");
      ops++;
    }
    size_t size = bench_size_wide(&rng);
    set[i].p = zalloc(z, size);
    bench_check(set[i].p != NULL, "zalloc");
    set[i].size = size;
    if (faults)
      count_faults(set[i].p, size);
    set[i].p[0] = 1;
    set[i].p[size - 1] = 2;
    ops++;
    if (threshold != 0 && ops >= 64) {  /* the shim's usage tick (shim/trim.c) */
      ops = 0;
      if (++quiet >= 16384 && keep != 0) {
        keep = keep / 2 < threshold ? 0 : keep / 2;
        quiet = 0;
        returned += zone__trim_keep(z, threshold, keep);
      }
      if (z->used_gran * ZONE_G >= high_water) {
        high_water = z->used_gran * ZONE_G;
      } else if (high_water - z->used_gran * ZONE_G >= budget) {
        size_t reused = zone__trim_reused(z), since = reused - reused_seen;
        reused_seen = reused;
        if (since >= threshold) {
          keep = keep < budget && since < budget - keep ? keep + since : budget;
          quiet = 0;
        }
        returned += zone__trim_keep(z, threshold, keep);
        high_water = z->used_gran * ZONE_G;
      }
    }
    if (trim_every != 0 && n % trim_every == 0)
      returned += zone__trim_keep(z, threshold, trim_keep);
    if (n % every == 0 || n + 1 == live + steps) {
      classify(z, set, live, threshold, &s);
      s.step = n;
      if (s.resident + s.book >= peak.resident + peak.book)
        peak = s;
    }
  }
  zone_stats_t st;
  zone_stats(z, &st);
  printf("mixed_memory: %zu live, %zu steps, threshold %zu, zone %.1f MiB, peak used %.1f MiB, returned %.1f MiB\n",
         live, steps, threshold, mib(st.size, 1), mib(st.peak_used, 1), mib(returned, 1));
  printf("peak resident at step %zu: zone %.1f MiB + bookkeeping %.1f MiB (process %.1f MiB); live bytes %.1f MiB\n",
         peak.step, mib(peak.resident, page), mib(peak.book, page), mib(peak.process, page), mib(peak.used, 1));
  for (int c = 0; c < CLASSES; c++)
    printf("  %-8s %8.1f MiB  %5.1f%%\n", class_name[c], mib(peak.cls[c], page),
           100.0 * (double)peak.cls[c] / (double)(peak.resident ? peak.resident : 1));
  if (faults) {
    static const char *const cls_name[4] = {"8-128 B", "129 B-2 KiB", "2-32 KiB", "32-512 KiB"};
    printf("pages brought in by the blocks' writes (MiB):\n  %-12s", "");
    for (int k = 0; k < KINDS; k++)
      printf(" %24s", kind_name[k]);
    printf("\n");
    for (int c = 0; c < 4; c++) {
      printf("  %-12s", cls_name[c]);
      for (int k = 0; k < KINDS; k++)
        printf(" %24.1f", mib(fault_count[c][k], page));
      printf("\n");
    }
    free(ever);
  }
  for (size_t i = 0; i < live; i++)
    zfree(z, set[i].p);
  bench_check(zone_check(z) == 0, "zone_check");
  destroy_zone(z);
  free(set);
  return 0;
}
