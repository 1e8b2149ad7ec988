/*
 * churn.c - steady churn: a working set of live blocks where each step frees
 * a random victim and allocates a replacement from the realistic size mix.
 * Built twice: churn_small (a few thousand blocks, cache-resident, measures
 * the allocator's fast path) and churn_large (hundreds of thousands of blocks,
 * ~100 MB, measures its behaviour once metadata and data fall out of cache).
 * Every block is written in full, as a program initialises what it
 * allocates (so peak RSS counts every byte handed out, not just the pages an
 * allocator happened to have touched), and carries a tag at both ends,
 * checked before it is freed, so overlapping blocks fail the run.
 */
#include "bench_util.h"

#ifdef CHURN_LARGE
#define SLOTS 400000
#define STEPS 5000000
#define NAME "churn_large"
#else
#define SLOTS 2000
#define STEPS 30000000
#define NAME "churn_small"
#endif

typedef struct slot {
  unsigned char *p;
  size_t size;
} slot_t;

static uint64_t tag_of(size_t i, size_t size) { return (uint64_t)i * 0x9e3779b97f4a7c15ull ^ size; }

static void fill(slot_t *s, size_t i, size_t size) {
  s->p = malloc(size);
  bench_check(s->p != NULL, "malloc");
  s->size = size;
  uint64_t t = tag_of(i, size);
  memset(s->p, (int)(i & 0xff), size);
  s->p[size - 1] = (unsigned char)size;
  memcpy(s->p, &t, sizeof t);  /* the mix never asks for under 8 bytes */
}

static void drain(slot_t *s, size_t i) {
  uint64_t t;
  memcpy(&t, s->p, sizeof t);
  bench_check(t == tag_of(i, s->size) && (s->size <= sizeof t || s->p[s->size - 1] == (unsigned char)s->size),
              "a live block was overwritten");
  free(s->p);
}

int main(int argc, char **argv) {
  double scale = bench_scale(argc, argv, NULL);
  size_t slots = bench_working_set(SLOTS, scale, 64);
  /* the working set shrinks only for --quick, and less than the step count */
  size_t steps = bench_scaled(STEPS, scale, 1000);
  bench_rng_t rng = {42};
  slot_t *set = calloc(slots, sizeof *set);
  bench_check(set != NULL, "calloc");

  double t0 = bench_now();
  for (size_t i = 0; i < slots; i++)
    fill(&set[i], i, bench_size_mix(&rng));
  for (size_t n = 0; n < steps; n++) {
    size_t i = bench_below(&rng, slots);
    drain(&set[i], i);
    fill(&set[i], i, bench_size_mix(&rng));
  }
  for (size_t i = 0; i < slots; i++)
    drain(&set[i], i);
  double t1 = bench_now();

  free(set);
  printf("%s: %zu live blocks, %zu steps, %.1f ns/step\n", NAME, slots, steps,
         (t1 - t0) * 1e9 / (double)(steps + slots));
  return 0;
}
