/*
 * pair_bench.c - what a malloc+free pair costs, for the shim's notes (not a
 * test; the benchmark suite proper lives under bench/). Run it with and
 * without LD_PRELOAD, interleaved:
 *   pair_bench [pairs]
 * Prints ns per pair for a few sizes, back to back (the block is the lowest
 * fit every time), and with 1000 live blocks of mixed sizes around it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  long pairs = argc > 1 ? atol(argv[1]) : 5000000;
  const size_t sizes[] = {16, 64, 256, 4096};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    double t0 = now_ns();
    for (long i = 0; i < pairs; i++) {
      char *p = malloc(sizes[s]);
      *(volatile char *)p = 1;
      free(p);
    }
    printf("back-to-back %5zu B: %6.1f ns/pair\n", sizes[s], (now_ns() - t0) / (double)pairs);
  }
  enum { LIVE = 1000 };
  void *live[LIVE];
  unsigned seed = 1;
  for (int i = 0; i < LIVE; i++)
    live[i] = malloc((size_t)(rand_r(&seed) % 512) + 1);
  double t0 = now_ns();
  for (long i = 0; i < pairs; i++) {
    int k = rand_r(&seed) % LIVE;
    free(live[k]);
    live[k] = malloc((size_t)(rand_r(&seed) % 512) + 1);
    *(volatile char *)live[k] = 1;
  }
  printf("1000 live, 1-512 B  : %6.1f ns/pair\n", (now_ns() - t0) / (double)pairs);
  for (int i = 0; i < LIVE; i++)
    free(live[i]);
  return 0;
}
