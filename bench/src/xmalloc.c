/*
 * xmalloc.c - many-to-many producer/consumer in the manner of Lever and
 * Boreham's xmalloc test: of T threads (--threads N), half produce and half
 * consume. Producers allocate small messages (16..1024 bytes, 60% of them
 * at most 64), write them in full and send them in batches of 256 to the
 * consumers in turn, so every consumer frees blocks from every producer, and
 * no block is freed by the thread that allocated it.
 *
 * Each consumer has one inbound queue, a bounded ring of batches under a
 * mutex and two condition variables: threads sleep instead of spinning when
 * they must wait, so with more threads than cores the time measures
 * allocation and freeing, not who got a core (see prodcons.c). Wake-ups go
 * at half a ring, not at every batch: a sleeping consumer is woken when its
 * ring is half full, sleeping producers when it is half empty, so that a
 * thread that waits sleeps once per half a ring, not once per batch (waking
 * at every batch, or batches of 64, spent more time in futex calls than in
 * malloc and free). A producer closes by sending an empty batch to every
 * consumer, which wakes the consumer whatever the ring holds.
 *
 * Fixed work: MESSAGES messages in all, split evenly over the producers.
 * Each message carries its producer and sequence number and a hash of them;
 * consumers check it and the message's last byte before freeing, and add up
 * the sequence numbers, which main checks against the total sent.
 */
#include "bench_util.h"

#include <pthread.h>

#define MESSAGES 24000000  /* all producers together */
#define BATCH 256
#define QUEUE 16           /* batches in flight per consumer */
#define MAX_THREADS 64

typedef struct batch {
  uint64_t *msg[BATCH];
  uint32_t size[BATCH];
  size_t n;                /* 0: the producer is done */
} batch_t;

typedef struct inbox {
  pthread_mutex_t lock;
  pthread_cond_t not_full, not_empty;
  batch_t ring[QUEUE];
  size_t head, count;
  int producers_waiting, consumer_waiting;
  size_t received;         /* messages, and the sum of their sequence numbers */
  uint64_t seq_sum;
} inbox_t;

static inbox_t inbox[MAX_THREADS];
static int producers, consumers;
static size_t per_producer;

static uint64_t hash(uint64_t x) {
  bench_rng_t r = {x};
  return bench_rand(&r);
}

/* Mostly small, as the messages of a server are: 60% 16..64 bytes, 30%
 * 65..256, 10% 257..1024. */
static size_t message_size(bench_rng_t *rng) {
  size_t u = bench_below(rng, 10);
  if (u < 6)
    return bench_between(rng, 16, 64);
  if (u < 9)
    return bench_between(rng, 65, 256);
  return bench_between(rng, 257, 1024);
}

static void post(inbox_t *q, const batch_t *b) {
  pthread_mutex_lock(&q->lock);
  while (q->count == QUEUE) {
    q->producers_waiting++;
    pthread_cond_wait(&q->not_full, &q->lock);
    q->producers_waiting--;
  }
  q->ring[(q->head + q->count) % QUEUE] = *b;
  q->count++;
  /* The consumer sleeps only on an empty ring, and every producer ends with
   * an empty batch, so waiting for half a ring loses no wake-up. */
  if (q->consumer_waiting && (q->count == QUEUE / 2 || b->n == 0))
    pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->lock);
}

static void *produce(void *arg) {
  uint64_t id = (uint64_t)(uintptr_t)arg;
  bench_rng_t rng = {9001u + id};
  batch_t b;
  size_t seq = 0;
  int to = (int)(id % (uint64_t)consumers);
  while (seq < per_producer) {
    for (b.n = 0; b.n < BATCH && seq < per_producer; b.n++, seq++) {
      size_t size = message_size(&rng);
      uint64_t *m = malloc(size);
      bench_check(m != NULL, "malloc");
      uint64_t h = hash(id << 40 | seq);
      memset(m, (int)(h & 0xff), size);
      m[0] = id << 40 | seq;
      m[1] = h;
      b.msg[b.n] = m;
      b.size[b.n] = (uint32_t)size;
    }
    post(&inbox[to], &b);
    to = (to + 1) % consumers;
  }
  b.n = 0;
  for (int c = 0; c < consumers; c++)
    post(&inbox[c], &b);
  return NULL;
}

static void *consume(void *arg) {
  inbox_t *q = arg;
  int open = producers;
  while (open > 0) {
    batch_t b;
    pthread_mutex_lock(&q->lock);
    while (q->count == 0) {
      q->consumer_waiting = 1;
      pthread_cond_wait(&q->not_empty, &q->lock);
      q->consumer_waiting = 0;
    }
    b = q->ring[q->head];
    q->head = (q->head + 1) % QUEUE;
    q->count--;
    /* Producers sleep only on a full ring: it passes half on its way down. */
    if (q->producers_waiting && q->count == QUEUE / 2)
      pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    if (b.n == 0)
      open--;
    for (size_t k = 0; k < b.n; k++) {
      uint64_t *m = b.msg[k];
      uint64_t h = hash(m[0]);
      bench_check(m[1] == h && (b.size[k] <= 2 * sizeof h || ((unsigned char *)m)[b.size[k] - 1] == (unsigned char)h),
                  "a message was overwritten");
      q->seq_sum += m[0] & ((1ull << 40) - 1);
      free(m);
    }
    q->received += b.n;
  }
  return NULL;
}

int main(int argc, char **argv) {
  int threads = bench_threads(&argc, argv, 2, MAX_THREADS);
  double scale = bench_scale(argc, argv, "[--threads N]");
  if (threads < 2) {
    fprintf(stderr, "%s: needs a producer and a consumer: --threads 2 or more\n", argv[0]);
    return 2;
  }
  producers = threads / 2;
  consumers = threads - producers;
  per_producer = bench_scaled(MESSAGES, scale, 10000) / (size_t)producers;
  pthread_t tid[MAX_THREADS];

  double t0 = bench_now();
  for (int c = 0; c < consumers; c++) {
    pthread_mutex_init(&inbox[c].lock, NULL);
    pthread_cond_init(&inbox[c].not_full, NULL);
    pthread_cond_init(&inbox[c].not_empty, NULL);
    bench_check(pthread_create(&tid[c], NULL, consume, &inbox[c]) == 0, "pthread_create");
  }
  for (int p = 0; p < producers; p++)
    bench_check(pthread_create(&tid[consumers + p], NULL, produce, (void *)(uintptr_t)p) == 0,
                "pthread_create");
  for (int t = 0; t < threads; t++)
    pthread_join(tid[t], NULL);
  double t1 = bench_now();

  size_t received = 0;
  uint64_t seq_sum = 0;
  for (int c = 0; c < consumers; c++) {
    received += inbox[c].received;
    seq_sum += inbox[c].seq_sum;
  }
  bench_check(received == per_producer * (size_t)producers, "messages were lost or repeated");
  bench_check(seq_sum == (uint64_t)producers * (per_producer * (per_producer - 1) / 2),
              "messages were lost or repeated");
  printf("xmalloc: %d producers -> %d consumers, %zu messages each, %.1f ns/message\n", producers,
         consumers, per_producer, (t1 - t0) * 1e9 / (double)(per_producer * (size_t)producers));
  return 0;
}
