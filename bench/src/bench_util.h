/*
 * bench_util.h - what the benchmark programs share: a fast deterministic
 * random generator, the realistic small-size mix every synthetic workload
 * draws from, the size knob (--quick / --scale) and a monotonic clock.
 *
 * Header-only and malloc-free on purpose: the programs run under several
 * allocators by LD_PRELOAD, and the harness itself must not be what differs.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- random numbers ---------------------------------------------------------- */

/* xoshiro-style generators are overkill here: splitmix64 is one multiply chain,
 * passes the statistics a benchmark needs and is seeded from a single word. */
typedef struct bench_rng {
  uint64_t s;
} bench_rng_t;

static inline uint64_t bench_rand(bench_rng_t *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0, by the multiply-shift map (no modulo bias worth
 * worrying about at these n, and no division on the hot path). */
static inline size_t bench_below(bench_rng_t *r, size_t n) {
  return (size_t)(((unsigned __int128)bench_rand(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline size_t bench_between(bench_rng_t *r, size_t lo, size_t hi) {
  return lo + bench_below(r, hi - lo + 1);
}

/* ---- the size mix --------------------------------------------------------------- */

/*
 * Request sizes of a typical C/C++ program: most allocations are small
 * (strings, list and tree nodes, small structs), a tail of buffers. The
 * weights follow the shape published allocator studies report (Zorn and
 * Grunwald's and the SPEC/mimalloc-bench traces): about 70% at or under
 * 96 bytes, under 1% above 4 KiB. Mean about 270 bytes.
 *
 *   weight (per mille)  sizes (bytes, uniform inside the class)
 *   400                 8 .. 32
 *   300                 33 .. 96
 *   180                 97 .. 256
 *    90                 257 .. 1024
 *    25                 1025 .. 4096
 *     5                 4097 .. 32768
 */
static inline size_t bench_size_mix(bench_rng_t *r) {
  size_t u = bench_below(r, 1000);
  if (u < 400)
    return bench_between(r, 8, 32);
  if (u < 700)
    return bench_between(r, 33, 96);
  if (u < 880)
    return bench_between(r, 97, 256);
  if (u < 970)
    return bench_between(r, 257, 1024);
  if (u < 995)
    return bench_between(r, 1025, 4096);
  return bench_between(r, 4097, 32768);
}

/*
 * The wide mix of bench/src/mixed.c: sizes over four orders of magnitude,
 * uniform inside each class.
 *
 *   weight (per 10,000)  sizes (bytes)
 *   7000                 8 .. 128
 *   2500                 129 .. 2048
 *    480                 2049 .. 32768
 *     20                 32769 .. 524288
 */
static inline size_t bench_size_wide(bench_rng_t *r) {
  size_t u = bench_below(r, 10000);
  if (u < 7000)
    return bench_between(r, 8, 128);
  if (u < 9500)
    return bench_between(r, 129, 2048);
  if (u < 9980)
    return bench_between(r, 2049, 32768);
  return bench_between(r, 32769, 524288);
}

/* ---- clock ------------------------------------------------------------------------- */

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the size knob -------------------------------------------------------------------- */

/*
 * Every program takes the same options: --quick (the CI size: a fraction of a
 * second) or --scale F (multiplies the full size; default 1). Returns the
 * factor to apply to the program's full-size counts. Unknown options stop the
 * program: a typo must not silently benchmark the wrong thing.
 */
#define BENCH_QUICK_SCALE 0.02

static inline double bench_scale(int argc, char **argv, const char *usage) {
  double scale = 1.0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      scale = BENCH_QUICK_SCALE;
    } else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
      scale = strtod(argv[++i], NULL);
      if (!(scale > 0)) {
        fprintf(stderr, "%s: --scale wants a positive number\n", argv[0]);
        exit(2);
      }
    } else {
      fprintf(stderr, "usage: %s [--quick | --scale F] %s\n", argv[0], usage ? usage : "");
      exit(2);
    }
  }
  return scale;
}

/*
 * The multithreaded programs' thread count: takes "--threads N" (1 <= N <=
 * max) out of argv, so that bench_scale sees only its own options, and
 * returns N, or `dflt` when the option is absent. Call it before bench_scale.
 */
static inline int bench_threads(int *argc, char **argv, int dflt, int max) {
  int n = dflt;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--threads") != 0)
      continue;
    char *end = NULL;
    long v = i + 1 < *argc ? strtol(argv[i + 1], &end, 10) : 0;
    if (end == NULL || *end != '\0' || v < 1 || v > max) {
      fprintf(stderr, "%s: --threads wants a whole number from 1 to %d\n", argv[0], max);
      exit(2);
    }
    n = (int)v;
    for (int k = i; k + 2 <= *argc; k++)  /* drop the pair, keep argv[argc] == NULL */
      argv[k] = argv[k + 2];
    *argc -= 2;
    i--;
  }
  return n;
}

/* n scaled, at least `floor`. */
static inline size_t bench_scaled(size_t n, double scale, size_t floor) {
  double v = (double)n * scale;
  return v < (double)floor ? floor : (size_t)v;
}

/* A working set (live blocks, buffers) for a run at `scale`: full size down to
 * a tenth of the full run, then shrinking with it (only --quick gets there),
 * so a shorter run keeps the same cache behaviour. */
static inline size_t bench_working_set(size_t n, double scale, size_t floor) {
  return bench_scaled(n, scale * 10 < 1 ? scale * 10 : 1, floor);
}

/* Stops the program with a message: a workload that sees its own data
 * corrupted must fail loudly, whatever allocator it runs on. */
#define bench_check(cond, what)                                                  \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "bench: %s failed at %s:%d: %s\n", #cond, __FILE__, __LINE__, what); \
      abort();                                                                   \
    }                                                                            \
  } while (0)

#endif /* BENCH_UTIL_H */
