/*
 * mstress.c - memory stress: T threads (--threads N) allocating and freeing
 * at random, with lifetimes and sizes that vary widely, started anew each
 * round. Each step replaces one block:
 *   80%  a young block: one of YOUNG per thread, freed when the thread exits
 *        at the end of its round (short lives);
 *   17%  an old block: one of the thread's share of OLD, which outlive the
 *        thread and are taken over by the same-numbered thread of the next
 *        round (long lives, freed by another thread);
 *    3%  a transfer: a young block is swapped into a shared slot and whatever
 *        was there, left by any thread, becomes the young block (blocks
 *        change threads, to be freed by whichever thread holds them last).
 * Sizes: 88% 16..256 bytes, 11.9% 257 B..64 KiB (even over the powers of
 * two), 0.1% 64 KiB..1 MiB. Every block is written in full when allocated,
 * as a program initialises what it gets.
 *
 * Fixed work: STEPS steps in all, split evenly over the rounds and threads;
 * the live set (YOUNG per thread, OLD and TRANSFER in all) is the same for
 * every thread count but the young blocks. A block's first words are its
 * size and a hash of the size and its address, the rest a fill byte taken
 * from the hash; before a block is freed the header and a byte in every
 * 4 KiB, the middle and the last byte are checked.
 */
#include "bench_util.h"

#include <pthread.h>
#include <stdatomic.h>

#define STEPS 16000000   /* all threads and rounds together */
#define ROUNDS 8
#define YOUNG 48         /* per thread */
#define OLD 12000        /* all threads together */
#define TRANSFER 1024
#define MAX_SIZE (1u << 20)
#define MAX_THREADS 64

static unsigned char **old;
static size_t old_per_thread, steps_per_thread;
static _Atomic(unsigned char *) transfer[TRANSFER];

typedef struct worker {
  int index, round;
} worker_t;

static uint64_t tag_of(const unsigned char *p, size_t size) {
  bench_rng_t r = {(uint64_t)(uintptr_t)p ^ size};
  return bench_rand(&r);
}

static size_t block_size(bench_rng_t *rng) {
  size_t u = bench_below(rng, 1000);
  if (u < 880)
    return bench_between(rng, 16, 256);
  if (u < 999) {
    size_t e = bench_between(rng, 8, 15);
    return bench_between(rng, ((size_t)1 << e) + 1, (size_t)1 << (e + 1));
  }
  return bench_between(rng, 65537, MAX_SIZE);
}

static unsigned char *make(bench_rng_t *rng) {
  size_t size = block_size(rng);
  unsigned char *p = malloc(size);
  bench_check(p != NULL, "malloc");
  uint64_t w[2] = {size, tag_of(p, size)};
  memset(p, (int)(w[1] & 0xff), size);
  memcpy(p, w, sizeof w);
  return p;
}

static void release(unsigned char *p) {
  if (p == NULL)
    return;
  uint64_t w[2];
  memcpy(w, p, sizeof w);
  size_t size = (size_t)w[0];
  bench_check(size >= sizeof w && size <= MAX_SIZE && w[1] == tag_of(p, size), "a block's header was overwritten");
  unsigned char fill = (unsigned char)(w[1] & 0xff);
  for (size_t i = 4096; i < size; i += 4096)
    bench_check(p[i] == fill, "a block was overwritten");
  bench_check((size / 2 < sizeof w || p[size / 2] == fill) && (size == sizeof w || p[size - 1] == fill),
              "a block was overwritten");
  free(p);
}

static void *run(void *arg) {
  const worker_t *w = arg;
  bench_rng_t rng = {(uint64_t)w->round << 32 | (uint64_t)w->index};
  unsigned char *young[YOUNG] = {0};
  unsigned char **mine = old + (size_t)w->index * old_per_thread;
  for (size_t n = 0; n < steps_per_thread; n++) {
    size_t u = bench_below(&rng, 100);
    if (u < 80) {
      unsigned char **s = &young[bench_below(&rng, YOUNG)];
      release(*s);
      *s = make(&rng);
    } else if (u < 97) {
      unsigned char **s = &mine[bench_below(&rng, old_per_thread)];
      release(*s);
      *s = make(&rng);
    } else {
      unsigned char **s = &young[bench_below(&rng, YOUNG)];
      if (*s == NULL)
        *s = make(&rng);
      *s = atomic_exchange(&transfer[bench_below(&rng, TRANSFER)], *s);
    }
  }
  for (size_t i = 0; i < YOUNG; i++)
    release(young[i]);
  return NULL;
}

int main(int argc, char **argv) {
  int threads = bench_threads(&argc, argv, 2, MAX_THREADS);
  double scale = bench_scale(argc, argv, "[--threads N]");
  old_per_thread = bench_working_set(OLD, scale, 64) / (size_t)threads;
  if (old_per_thread < 8)
    old_per_thread = 8;
  steps_per_thread = bench_scaled(STEPS, scale, 10000) / (size_t)threads / ROUNDS;
  old = calloc(old_per_thread * (size_t)threads, sizeof *old);
  bench_check(old != NULL, "calloc");
  pthread_t tid[MAX_THREADS];
  worker_t w[MAX_THREADS];

  double t0 = bench_now();
  for (int r = 0; r < ROUNDS; r++) {
    for (int t = 0; t < threads; t++) {
      w[t] = (worker_t){t, r};
      bench_check(pthread_create(&tid[t], NULL, run, &w[t]) == 0, "pthread_create");
    }
    for (int t = 0; t < threads; t++)
      pthread_join(tid[t], NULL);
  }
  for (size_t i = 0; i < old_per_thread * (size_t)threads; i++)
    release(old[i]);
  for (size_t i = 0; i < TRANSFER; i++)
    release(atomic_load(&transfer[i]));
  double t1 = bench_now();

  free(old);
  printf("mstress: %d threads x %d rounds, %zu steps per thread and round, %.1f ns/step\n", threads,
         ROUNDS, steps_per_thread, (t1 - t0) * 1e9 / (double)(steps_per_thread * ROUNDS * (size_t)threads));
  return 0;
}
