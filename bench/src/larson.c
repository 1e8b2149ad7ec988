/*
 * larson.c - a server in the manner of Larson and Krishnan's benchmark: T
 * threads, each owning a slot array of live blocks of 16..1024 bytes; each
 * operation frees the block in a random slot and allocates a new one into it.
 * After each round a thread starts a new thread, hands it the slot array and
 * what is left of the work, and exits: the new thread frees blocks its
 * predecessor allocated, as a server's worker does with state that outlives
 * the thread that built it. The blocks still live at the end are freed by the
 * main thread.
 *
 * Fixed work, not a throughput over a fixed time: OPS operations in all,
 * split evenly over the threads (--threads N), so every thread count does the
 * same work and, on a machine with fewer cores than threads, an allocator
 * that scales takes the same time for each. The live set is per thread, as a
 * server's is per connection: SLOTS blocks (about 1 MB) each, so that a
 * thread's blocks stay in a core's cache at every thread count.
 *
 * A block carries a random tag at its head and the tag's complement at its
 * tail, both kept in the slot too and checked before the block is freed.
 */
#include "bench_util.h"

#include <pthread.h>

#define SLOTS 2000       /* live blocks per thread */
#define OPS 60000000     /* free+malloc operations, all threads together */
#define ROUNDS 16        /* threads per lineage: each hands over to the next */
#define MIN_SIZE 16
#define MAX_SIZE 1024
#define MAX_THREADS 64

typedef struct slot {
  unsigned char *p;
  uint64_t tag;
  uint32_t size;
} slot_t;

/* One line of threads passing the same slots down. tid[g] is written by
 * thread g-1 before it exits and read by main after joining thread g-1. */
typedef struct lineage {
  slot_t *slot;
  size_t slots, ops_per_round, ops_last, round;
  bench_rng_t rng;
  pthread_t tid[ROUNDS];
} lineage_t;

static lineage_t lines[MAX_THREADS];

static void put(slot_t *s, bench_rng_t *rng) {
  size_t size = bench_between(rng, MIN_SIZE, MAX_SIZE);
  uint64_t tag = bench_rand(rng), tail = ~tag;
  s->p = malloc(size);
  bench_check(s->p != NULL, "malloc");
  s->size = (uint32_t)size;
  s->tag = tag;
  memcpy(s->p, &tag, sizeof tag);
  memcpy(s->p + size - sizeof tail, &tail, sizeof tail);
}

static void take(slot_t *s) {
  uint64_t head, tail;
  memcpy(&head, s->p, sizeof head);
  memcpy(&tail, s->p + s->size - sizeof tail, sizeof tail);
  bench_check(head == s->tag && tail == ~s->tag, "a live block was overwritten");
  free(s->p);
}

static void *worker(void *arg) {
  lineage_t *l = arg;
  size_t round = l->round;
  if (round == 0)
    for (size_t i = 0; i < l->slots; i++)
      put(&l->slot[i], &l->rng);
  size_t ops = round + 1 == ROUNDS ? l->ops_last : l->ops_per_round;
  for (size_t n = 0; n < ops; n++) {
    slot_t *s = &l->slot[bench_below(&l->rng, l->slots)];
    take(s);
    put(s, &l->rng);
  }
  if (round + 1 < ROUNDS) {
    l->round = round + 1;  /* published to the successor by pthread_create */
    bench_check(pthread_create(&l->tid[round + 1], NULL, worker, l) == 0, "pthread_create");
  }
  return NULL;
}

int main(int argc, char **argv) {
  int threads = bench_threads(&argc, argv, 2, MAX_THREADS);
  double scale = bench_scale(argc, argv, "[--threads N]");
  size_t slots = bench_working_set(SLOTS, scale, 64);
  size_t ops = bench_scaled(OPS, scale, 10000) / (size_t)threads;

  double t0 = bench_now();
  for (int t = 0; t < threads; t++) {
    lineage_t *l = &lines[t];
    l->slot = calloc(slots, sizeof *l->slot);
    bench_check(l->slot != NULL, "calloc");
    l->slots = slots;
    l->ops_per_round = ops / ROUNDS;
    l->ops_last = ops - l->ops_per_round * (ROUNDS - 1);
    l->rng.s = 7001u + (uint64_t)t;
    bench_check(pthread_create(&l->tid[0], NULL, worker, l) == 0, "pthread_create");
  }
  for (int t = 0; t < threads; t++)
    for (size_t g = 0; g < ROUNDS; g++)
      pthread_join(lines[t].tid[g], NULL);
  for (int t = 0; t < threads; t++) {
    for (size_t i = 0; i < slots; i++)
      take(&lines[t].slot[i]);
    free(lines[t].slot);
  }
  double t1 = bench_now();

  printf("larson: %d threads x %zu rounds, %zu live blocks and %zu ops per thread, %.1f ns/op\n",
         threads, (size_t)ROUNDS, slots, ops, (t1 - t0) * 1e9 / (double)(ops * (size_t)threads));
  return 0;
}
