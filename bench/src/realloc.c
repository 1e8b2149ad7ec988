/*
 * realloc.c - realloc growth of many buffers: a pool of buffers, each growing
 * towards its own target length by appends of 1..256 bytes, in random
 * interleaving. Half grow the naive way, realloc to the exact new length at
 * every append, as string builders in C often do (targets log-uniform, 64 B to
 * 4 KiB: strings); half the vector way, capacity doubled when full (targets
 * 256 B to 256 KiB: buffers). A buffer that reaches its target is checked,
 * freed and started again. Rewards growing in place and punishes copying.
 */
#include "bench_util.h"

#define BUFFERS 2000
#define APPENDS 8000000

typedef struct buf {
  unsigned char *p;
  size_t len, cap, target;
  unsigned char fill;   /* every byte of the buffer holds this value */
  int doubling;         /* grows the vector way */
} buf_t;

/* Log-uniform in [2^lo, 2^hi): many short buffers, a few long ones. */
static size_t target_len(bench_rng_t *rng, unsigned lo, unsigned hi) {
  unsigned shift = lo + (unsigned)bench_below(rng, hi - lo);
  return bench_between(rng, (size_t)1 << shift, ((size_t)2 << shift) - 1);
}

static void restart(buf_t *b, size_t i, bench_rng_t *rng) {
  b->p = NULL;
  b->len = b->cap = 0;
  b->doubling = (int)(i & 1);
  b->target = b->doubling ? target_len(rng, 8, 18) : target_len(rng, 6, 12);
  b->fill = (unsigned char)(i * 31 + b->target);
}

static void finish(buf_t *b) {
  /* Sample a few bytes: every one was written with the same fill value. */
  bench_check(b->p[0] == b->fill && b->p[b->len / 2] == b->fill && b->p[b->len - 1] == b->fill,
              "a buffer lost its contents across realloc");
  free(b->p);
}

int main(int argc, char **argv) {
  double scale = bench_scale(argc, argv, NULL);
  size_t buffers = bench_working_set(BUFFERS, scale, 16);
  size_t appends = bench_scaled(APPENDS, scale, 1000);
  bench_rng_t rng = {7};
  buf_t *pool = calloc(buffers, sizeof *pool);
  bench_check(pool != NULL, "calloc");
  for (size_t i = 0; i < buffers; i++)
    restart(&pool[i], i, &rng);

  size_t reallocs = 0, done = 0;
  double t0 = bench_now();
  for (size_t n = 0; n < appends; n++) {
    size_t i = bench_below(&rng, buffers);
    buf_t *b = &pool[i];
    size_t chunk = bench_between(&rng, 1, 256);
    size_t need = b->len + chunk;
    if (need > b->cap) {
      size_t cap = need;
      if (b->doubling) {
        cap = b->cap ? b->cap : 64;
        while (cap < need)
          cap *= 2;
      }
      unsigned char *q = realloc(b->p, cap);
      bench_check(q != NULL, "realloc");
      b->p = q;
      b->cap = cap;
      reallocs++;
    }
    memset(b->p + b->len, b->fill, chunk);
    b->len = need;
    if (b->len >= b->target) {
      finish(b);
      restart(b, i, &rng);
      done++;
    }
  }
  for (size_t i = 0; i < buffers; i++)
    if (pool[i].p != NULL)
      finish(&pool[i]);
  double t1 = bench_now();
  free(pool);
  printf("realloc: %zu buffers, %zu appends, %zu reallocs, %zu buffers completed, %.1f ns/append\n",
         buffers, appends, reallocs, done, (t1 - t0) * 1e9 / (double)appends);
  return 0;
}
