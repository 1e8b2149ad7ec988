/*
 * mixed.c - churn over sizes spread across four orders of magnitude, with
 * blocks touched sparsely: a working set of live blocks (100k by default,
 * --live N for another count, say 1000000) where each step frees a random
 * victim and allocates a replacement. Sizes from bench_size_wide
 * (bench_util.h): 70% of 8-128 B, 25% to 2 KiB, 4.8% to 32 KiB, 0.2% to
 * 512 KiB.
 *
 * Each block is written at its first and last byte only, as a program that
 * reserves capacity (a buffer, a vector, a hash table) touches little of it at
 * first: an allocator that hands out memory whose pages were never touched
 * costs no resident memory for the middle of the block, and one that spreads
 * small blocks over such pages pays for every page it touches. Both bytes
 * carry a tag, checked before the block is freed, so overlapping blocks fail
 * the run. A fixed seed makes every run ask for the same sizes in the same
 * order.
 */
#include "bench_util.h"

#define LIVE 100000
#define STEPS 3000000

typedef struct slot {
  unsigned char *p;
  size_t size;
} slot_t;

static unsigned char tag_of(size_t i, size_t size, unsigned end) {
  return (unsigned char)(((uint64_t)i * 0x9e3779b97f4a7c15ull ^ size) >> (end ? 56 : 48));
}

static void fill(slot_t *s, size_t i, size_t size) {
  s->p = malloc(size);
  bench_check(s->p != NULL, "malloc");
  s->size = size;
  s->p[0] = tag_of(i, size, 0);
  s->p[size - 1] = tag_of(i, size, 1);
}

static void drain(slot_t *s, size_t i) {
  bench_check(s->p[0] == tag_of(i, s->size, 0) && s->p[s->size - 1] == tag_of(i, s->size, 1),
              "a live block was overwritten");
  free(s->p);
}

/* Takes "--live N" (1 <= N <= 100M) out of argv, as bench_threads does. */
static size_t live_option(int *argc, char **argv) {
  size_t n = 0;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--live") != 0)
      continue;
    char *end = NULL;
    long long v = i + 1 < *argc ? strtoll(argv[i + 1], &end, 10) : 0;
    if (end == NULL || *end != '\0' || v < 1 || v > 100000000) {
      fprintf(stderr, "%s: --live wants a whole number from 1 to 100000000\n", argv[0]);
      exit(2);
    }
    n = (size_t)v;
    for (int k = i; k + 2 <= *argc; k++)
      argv[k] = argv[k + 2];
    *argc -= 2;
    i--;
  }
  return n;
}

int main(int argc, char **argv) {
  size_t live = live_option(&argc, argv);
  double scale = bench_scale(argc, argv, "[--live N]");
  /* --live sets the working set as given; the step count keeps its ratio to it */
  size_t slots = live ? live : bench_working_set(LIVE, scale, 64);
  size_t steps = bench_scaled(STEPS, scale * (live ? (double)live / LIVE : 1.0), 1000);
  bench_rng_t rng = {42};
  slot_t *set = calloc(slots, sizeof *set);
  bench_check(set != NULL, "calloc");

  double t0 = bench_now();
  for (size_t i = 0; i < slots; i++)
    fill(&set[i], i, bench_size_wide(&rng));
  for (size_t n = 0; n < steps; n++) {
    size_t i = bench_below(&rng, slots);
    drain(&set[i], i);
    fill(&set[i], i, bench_size_wide(&rng));
  }
  for (size_t i = 0; i < slots; i++)
    drain(&set[i], i);
  double t1 = bench_now();

  free(set);
  printf("mixed: %zu live blocks, %zu steps, %.1f ns/step\n", slots, steps,
         (t1 - t0) * 1e9 / (double)(steps + slots));
  return 0;
}
