/*
 * false_sharing.c - small blocks written hard by different threads, in the
 * manner of Hoard's cache-thrash and cache-scratch tests. Each of T threads
 * (--threads N) has a block size of its own, 8..64 bytes; it allocates a
 * block, increments its bytes INCREMENTS times in all in a tight loop,
 * checks it, frees it, and again. An allocator that gives two threads blocks
 * on one 64-byte cache line makes the line bounce between the cores, which
 * shows as time: actively, when it carves concurrent threads' blocks from one
 * place, and passively, when a block freed by one thread is reused by
 * another. The passive case is built in: each thread's first block was
 * allocated by the main thread, all of them back to back, before the threads
 * started, and the thread frees it like its own; an allocator that keeps a
 * freed block for the thread that freed it hands it back at the next malloc
 * of that size, for the rest of the run.
 *
 * Fixed work: BLOCKS blocks in all, split evenly over the threads, and the
 * same number of increments in a block of any size. The bytes are reached
 * through a volatile pointer, so the compiler keeps every load and store.
 */
#include "bench_util.h"

#include <pthread.h>

#define BLOCKS 4000000   /* all threads together */
#define INCREMENTS 2048 /* per block, over its bytes: the same work for every size */
#define MIN_SIZE 8
#define MAX_SIZE 64
#define MAX_THREADS 64

typedef struct worker {
  unsigned char *first;  /* allocated by main */
  size_t first_size;
  uint64_t seed;
} worker_t;

static size_t blocks_per_thread;

/* Increments, not plain stores: a core buffers plain stores and commits a
 * burst of them each time it gets the line back, which hid a shared line
 * entirely on this machine; a load must wait for the line every time. */
static void hammer(unsigned char *p, size_t size, unsigned char salt) {
  volatile unsigned char *v = p;
  size_t passes = INCREMENTS / size;
  for (size_t k = 0; k < size; k++)
    v[k] = (unsigned char)(k + salt);
  for (size_t pass = 0; pass < passes; pass++)
    for (size_t k = 0; k < size; k++)
      v[k]++;
  for (size_t k = 0; k < size; k++)
    bench_check(v[k] == (unsigned char)(k + salt + passes), "a block was overwritten");
}

static void *run(void *arg) {
  worker_t *w = arg;
  hammer(w->first, w->first_size, (unsigned char)w->seed);
  free(w->first);
  for (size_t n = 1; n < blocks_per_thread; n++) {
    size_t size = w->first_size;
    unsigned char *p = malloc(size);
    bench_check(p != NULL, "malloc");
    hammer(p, size, (unsigned char)n);
    free(p);
  }
  return NULL;
}

int main(int argc, char **argv) {
  int threads = bench_threads(&argc, argv, 2, MAX_THREADS);
  double scale = bench_scale(argc, argv, "[--threads N]");
  blocks_per_thread = bench_scaled(BLOCKS, scale, 1000) / (size_t)threads;
  pthread_t tid[MAX_THREADS];
  worker_t w[MAX_THREADS];
  bench_rng_t rng = {4242};

  double t0 = bench_now();
  for (int t = 0; t < threads; t++) {
    w[t].first_size = bench_between(&rng, MIN_SIZE, MAX_SIZE);
    w[t].first = malloc(w[t].first_size);
    bench_check(w[t].first != NULL, "malloc");
    w[t].seed = 100u + (uint64_t)t;
  }
  for (int t = 0; t < threads; t++)
    bench_check(pthread_create(&tid[t], NULL, run, &w[t]) == 0, "pthread_create");
  for (int t = 0; t < threads; t++)
    pthread_join(tid[t], NULL);
  double t1 = bench_now();

  printf("false_sharing: %d threads, %zu blocks of 8..64 bytes each, %d increments, %.1f ns/block\n", threads,
         blocks_per_thread, INCREMENTS, (t1 - t0) * 1e9 / (double)(blocks_per_thread * (size_t)threads));
  return 0;
}
