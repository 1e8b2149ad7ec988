/*
 * frag.c - a fragmentation-heavy pattern of mixed lifetimes. Each round
 * allocates a batch of blocks; most die at the end of the round, some live
 * for 1..40 rounds, a few for the rest of the run, so the short-lived ones
 * leave holes between survivors. The sizes drift: every ROUNDS_PER_EPOCH
 * rounds the size mix is scaled by the next factor of 1, 3, 2, 5, so the holes
 * left by one epoch are the wrong size for the next. Frees go in random order
 * (a shuffled lifetime queue), as they do in real programs. What an allocator
 * keeps here over the live bytes is its fragmentation: the peak RSS shows it.
 */
#include "bench_util.h"

#define ROUNDS 240
#define BATCH 20000
#define ROUNDS_PER_EPOCH 12
#define MAX_LIFE 40                      /* rounds a mid-lived block may live */

typedef struct block {
  unsigned char *p;
  size_t size;
} block_t;

/* A growable array of blocks per death round; the arrays themselves come
 * from malloc too, as a real program's containers would. */
typedef struct bucket {
  block_t *v;
  size_t n, cap;
} bucket_t;

static void push(bucket_t *b, block_t blk) {
  if (b->n == b->cap) {
    b->cap = b->cap ? b->cap * 2 : 64;
    b->v = realloc(b->v, b->cap * sizeof *b->v);
    bench_check(b->v != NULL, "realloc");
  }
  b->v[b->n++] = blk;
}

/* Frees a bucket's blocks in random order, checking each one's fill. */
static void expire(bucket_t *b, bench_rng_t *rng) {
  for (size_t k = b->n; k > 1; k--) {
    size_t j = bench_below(rng, k);
    block_t t = b->v[k - 1];
    b->v[k - 1] = b->v[j];
    b->v[j] = t;
  }
  for (size_t k = 0; k < b->n; k++) {
    block_t *blk = &b->v[k];
    bench_check(blk->p[0] == (unsigned char)blk->size && blk->p[blk->size / 2] == (unsigned char)blk->size &&
                    blk->p[blk->size - 1] == (unsigned char)blk->size,
                "a live block was overwritten");
    free(blk->p);
  }
  b->n = 0;
}

int main(int argc, char **argv) {
  static const size_t factor[] = {1, 3, 2, 5};
  double scale = bench_scale(argc, argv, NULL);
  size_t rounds = bench_scaled(ROUNDS, scale * 5 < 1 ? scale * 5 : 1, 2 * ROUNDS_PER_EPOCH);
  size_t batch = bench_scaled(BATCH, scale * 5 < 1 ? 1.0 / 5 : scale, 100);
  bench_rng_t rng = {2024};
  /* Death buckets indexed by round modulo the horizon; the last is "never". */
  bucket_t *dies = calloc(MAX_LIFE + 2, sizeof *dies);
  bench_check(dies != NULL, "calloc");
  bucket_t *forever = &dies[MAX_LIFE + 1];
  size_t live = 0, peak_live = 0, allocated = 0;

  double t0 = bench_now();
  for (size_t r = 0; r < rounds; r++) {
    size_t f = factor[(r / ROUNDS_PER_EPOCH) % 4];
    for (size_t k = 0; k < batch; k++) {
      size_t size = bench_size_mix(&rng) * f;
      block_t blk = {malloc(size), size};
      bench_check(blk.p != NULL, "malloc");
      memset(blk.p, (unsigned char)size, size);  /* written in full, as programs do */
      size_t u = bench_below(&rng, 1000);
      size_t life = u < 820 ? 0 : u < 995 ? bench_between(&rng, 1, MAX_LIFE) : (size_t)-1;
      push(life == (size_t)-1 ? forever : &dies[(r + life) % (MAX_LIFE + 1)], blk);
      live += size;
      allocated++;
    }
    if (live > peak_live)
      peak_live = live;
    bucket_t *now = &dies[r % (MAX_LIFE + 1)];
    for (size_t k = 0; k < now->n; k++)
      live -= now->v[k].size;
    expire(now, &rng);
  }
  for (size_t d = 0; d < MAX_LIFE + 2; d++) {
    expire(&dies[d], &rng);
    free(dies[d].v);
  }
  double t1 = bench_now();
  free(dies);
  printf("frag: %zu rounds of %zu, %zu blocks, peak live %.1f MiB, %.1f ns/block\n", rounds,
         batch, allocated, (double)peak_live / (1 << 20), (t1 - t0) * 1e9 / (double)allocated);
  return 0;
}
