/*
 * prodcons.c - producer/consumer threads with cross-thread frees: two
 * producers allocate messages from the size mix and hand them, in batches,
 * to two consumers, which check and free them. Every block is freed by a
 * thread other than the one that allocated it, the case thread-caching
 * allocators handle worst and a locked zone pays for in contention.
 *
 * Hand-over is a bounded queue of batches per pair under a mutex and two
 * condition variables: threads sleep rather than spin when they must wait,
 * so on a loaded 2-core machine the time measures allocation, not who got
 * the core (a spinning version varied 4x from run to run). Batches of 256
 * keep the synchronisation a small share of the cost; at most QUEUE + 2
 * batches per pair are live, so the working set stays small.
 */
#include "bench_util.h"

#include <pthread.h>

#define PAIRS 2
#define BATCH 256
#define QUEUE 8                 /* batches in flight per pair */
#define MESSAGES 6000000        /* per producer, full size */

typedef struct batch {
  uint64_t *msg[BATCH];
  size_t n;
} batch_t;

typedef struct pair {
  pthread_mutex_t lock;
  pthread_cond_t not_full, not_empty;
  batch_t queue[QUEUE];
  size_t head, count;           /* ring of batches */
  size_t messages;
  uint64_t seed;
} pair_t;

static pair_t pairs[PAIRS];

static void *produce(void *arg) {
  pair_t *q = arg;
  bench_rng_t rng = {q->seed};
  batch_t b;
  size_t n = 0;
  while (n < q->messages) {
    for (b.n = 0; b.n < BATCH && n < q->messages; b.n++, n++) {
      size_t size = bench_size_mix(&rng);
      uint64_t *m = malloc(size);
      bench_check(m != NULL, "malloc");
      memset(m, (unsigned char)n, size);  /* a message is written in full */
      m[0] = n;                           /* the mix never asks for under 8 bytes */
      b.msg[b.n] = m;
    }
    pthread_mutex_lock(&q->lock);
    while (q->count == QUEUE)
      pthread_cond_wait(&q->not_full, &q->lock);
    q->queue[(q->head + q->count) % QUEUE] = b;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
  }
  return NULL;
}

static void *consume(void *arg) {
  pair_t *q = arg;
  size_t n = 0;
  while (n < q->messages) {
    batch_t b;
    pthread_mutex_lock(&q->lock);
    while (q->count == 0)
      pthread_cond_wait(&q->not_empty, &q->lock);
    b = q->queue[q->head];
    q->head = (q->head + 1) % QUEUE;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    for (size_t k = 0; k < b.n; k++, n++) {
      bench_check(b.msg[k][0] == n, "a message was overwritten");
      free(b.msg[k]);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  double scale = bench_scale(argc, argv, NULL);
  size_t messages = bench_scaled(MESSAGES, scale, 1000);
  pthread_t prod[PAIRS], cons[PAIRS];
  double t0 = bench_now();
  for (int i = 0; i < PAIRS; i++) {
    pair_t *q = &pairs[i];
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_full, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    q->messages = messages;
    q->seed = 1000u + (uint64_t)i;
    bench_check(pthread_create(&cons[i], NULL, consume, q) == 0, "pthread_create");
    bench_check(pthread_create(&prod[i], NULL, produce, q) == 0, "pthread_create");
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
