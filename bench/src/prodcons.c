/*
 * prodcons.c - producer/consumer threads with cross-thread frees: two
 * producers allocate messages from the size mix and hand them over single-
 * producer/single-consumer rings to two consumers, which check and free them.
 * Every block is freed by a thread other than the one that allocated it, the
 * case thread-caching allocators handle worst and a locked zone pays for in
 * contention. The rings hold up to RING messages each, so the live set stays
 * small and the cost is the allocator's, not the cache's.
 */
#include "bench_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define PAIRS 2
#define RING 1024               /* power of two */
#define MESSAGES 6000000        /* per producer, full size */

typedef struct ring {
  _Alignas(64) _Atomic size_t head;  /* next slot the consumer reads */
  _Alignas(64) _Atomic size_t tail;  /* next slot the producer writes */
  _Alignas(64) void *slot[RING];
  size_t messages;
  uint64_t seed;
} ring_t;

static ring_t rings[PAIRS];

static void *produce(void *arg) {
  ring_t *r = arg;
  bench_rng_t rng = {r->seed};
  for (size_t n = 0; n < r->messages; n++) {
    size_t size = bench_size_mix(&rng);
    uint64_t *m = malloc(size);
    bench_check(m != NULL, "malloc");
    ((unsigned char *)m)[size - 1] = (unsigned char)n;
    m[0] = n;  /* the mix never asks for under 8 bytes */
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    while (tail - atomic_load_explicit(&r->head, memory_order_acquire) == RING)
      sched_yield();  /* full: two cores, four threads, so give the core away */
    r->slot[tail % RING] = m;
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
  }
  return NULL;
}

static void *consume(void *arg) {
  ring_t *r = arg;
  for (size_t n = 0; n < r->messages; n++) {
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    while (atomic_load_explicit(&r->tail, memory_order_acquire) == head)
      sched_yield();
    uint64_t *m = r->slot[head % RING];
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    bench_check(m[0] == n, "a message was overwritten");
    free(m);
  }
  return NULL;
}

int main(int argc, char **argv) {
  double scale = bench_scale(argc, argv, NULL);
  size_t messages = bench_scaled(MESSAGES, scale, 1000);
  pthread_t prod[PAIRS], cons[PAIRS];
  double t0 = bench_now();
  for (int i = 0; i < PAIRS; i++) {
    rings[i].messages = messages;
    rings[i].seed = 1000u + (uint64_t)i;
    bench_check(pthread_create(&cons[i], NULL, consume, &rings[i]) == 0, "pthread_create");
    bench_check(pthread_create(&prod[i], NULL, produce, &rings[i]) == 0, "pthread_create");
  }
  for (int i = 0; i < PAIRS; i++) {
    pthread_join(prod[i], NULL);
    pthread_join(cons[i], NULL);
  }
  double t1 = bench_now();
  printf("prodcons: %d pairs, %zu messages each, %.1f ns/message\n", PAIRS, messages,
         (t1 - t0) * 1e9 / (double)(messages * PAIRS));
  return 0;
}
