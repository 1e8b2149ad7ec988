/*
 * test_realloc.c - zrealloc (contract 5): NULL acts as zalloc, size 0 frees,
 * shrinks stay and free the tail, grows stay when the next region is free and
 * large enough (even when a lower fit exists), otherwise the block moves to the
 * first fit as if it were already freed (its own space and a free region just
 * before it count, so it may move down over itself), contents preserved, and
 * a failure leaves the block untouched with ENOMEM.
 */
#include "support.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static zone_t *new_zone(size_t bytes, char **base) {
  zone_t *z = create_zone(bytes);
  ck_assert_ptr_nonnull(z);
  *base = (char *)zt_base(z);
  return z;
}

START_TEST(null_ptr_acts_as_zalloc) {
  char *base;
  zone_t *z = new_zone(1024, &base);
  char *a = zalloc(z, 32);
  char *b = zalloc(z, 32);
  ck_assert_int_eq(zfree(z, a), 0);
  char *p = zrealloc(z, NULL, 20);
  ck_assert_ptr_eq(p, base);  /* first fit, as zalloc */
  ck_assert_uint_eq(zone_block_size(z, p), 32);
  char *q = zrealloc(z, NULL, 0);
  ck_assert_ptr_eq(q, base + 64);  /* one granule, like zalloc(0) */
  ck_assert_uint_eq(zone_block_size(z, q), G);
  ck_assert(zone_owns(z, b));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

START_TEST(zero_size_frees) {
  char *base;
  zone_t *z = new_zone(1024, &base);
  char *a = zalloc(z, 100);
  char *b = zalloc(z, 10);
  ck_assert_ptr_null(zrealloc(z, a, 0));
  ck_assert(!zone_owns(z, a));
  ck_assert_uint_eq(zone_block_size(z, a), 0);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.blocks, 1);
  ck_assert_uint_eq(st.used, G);
  ck_assert_ptr_eq(zalloc(z, 112), base);
  ck_assert(zone_owns(z, b));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Shrinks that round to the same granules, or grow within the block's last
 * granule, change nothing. */
START_TEST(same_granules_stays) {
  char *base;
  zone_t *z = new_zone(1024, &base);
  char *p = zalloc(z, 40);  /* 48 */
  char *guard = zalloc(z, 16);
  zt_fill(p, 40, 3);
  zt_snapshot_t before;
  zt_snapshot_take(z, &before);
  static const size_t sizes[] = {33, 40, 47, 48};
  for (int i = 0; i < 4; i++) {
    ck_assert_ptr_eq(zrealloc(z, p, sizes[i]), p);
    ck_assert_uint_eq(zone_block_size(z, p), 48);
    zt_assert_unchanged(z, &before, "realloc within the block's granules");
  }
  /* Nothing moved, so natively all 40 bytes are still there; memcheck keeps
   * the 33 that the smallest size kept, as for malloc's realloc (the bytes
   * past a shrink are gone to it, and come back undefined). */
  ck_assert(zt_verify(p, zt_under_valgrind() ? 33 : 40, 3));
  ck_assert(zone_owns(z, guard));
  zt_snapshot_free(&before);
  destroy_zone(z);
}
END_TEST

/* ---- one zrealloc on a laid-out zone --------------------------------------------
 * Most cases share one shape: lay out blocks in a fresh zone, free some, fill
 * one with a pattern, zrealloc it, then check where it went and what the zone
 * looks like. Each such case is a row of rows[] run by run_row. */

/* A block of a row's layout, allocated in order from the empty zone. */
typedef struct layout_block {
  size_t bytes;   /* zalloc(bytes); the layout ends at the first 0 */
  bool freed;     /* freed, in layout order, once every block is allocated */
  bool live;      /* zone_owns it after the zrealloc */
  bool placed;    /* it must start at base + at */
  size_t at;
  bool nonnull;   /* the zalloc must succeed (placement not checked) */
} layout_block_t;

/* B(bytes, flags...): a layout block, e.g. B(16, FREED) or B(32, AT(96), LIVE). */
#define B(...) {.bytes = __VA_ARGS__}
#define FREED .freed = true
#define LIVE .live = true
#define AT(off) .placed = true, .at = (off)
#define NONNULL .nonnull = true

/* zone_stats fields a row checks after the zrealloc. */
enum stat_field { STATS_END, USED, BLOCKS, FREE_BLOCKS, LARGEST_FREE };
static const char *const stat_names[] = {"", "used", "blocks", "free_blocks", "largest_free"};

typedef struct realloc_row {
  size_t zone;               /* create_zone(zone) */
  layout_block_t blk[6];
  bool full;                 /* the layout fills the zone: zalloc(1) fails (before the frees) */
  int p;                     /* the block resized, its `bytes` filled with pattern `tag` first */
  uint64_t tag;
  size_t to;                 /* zrealloc(p, to) */
  bool stays;                /* the result must be p; else base + lands */
  size_t lands;
  size_t size;               /* zone_block_size of the result; 0: not checked */
  bool old_gone;             /* zone_owns(p) false afterwards */
  struct {
    enum stat_field field;
    size_t value;
  } stats[2];                /* up to the first STATS_END */
  struct {
    size_t bytes, at;
  } then[2];                 /* then zalloc(bytes) == base + at, up to the first 0 bytes */
} realloc_row_t;

enum {
  SHRINK_IN_PLACE,
  GROW_IN_PLACE_NEXT_FREE,
  GROW_IN_PLACE_EXACT,
  GROW_AT_ZONE_END,
  GROW_TO_LOWER_HOLE,
  GROW_OVER_PRECEDING,
  GROW_OVER_BOTH,
  GROW_NEXT_TOO_SMALL,
};

static const realloc_row_t rows[] = {
  /* A shrink keeps the address and contents and frees the tail for first
   * fit: the freed tail [32, 112) is the first fit for 80 bytes. */
  [SHRINK_IN_PLACE] = {
    .zone = 1024,
    .blk = {B(100), B(16, AT(112))},
    .p = 0, .tag = 7, .to = 20, .stays = true, .size = 32,
    .stats = {{USED, 32 + 16}, {FREE_BLOCKS, 2}},
    .then = {{80, 32}},
  },
  /* A grow into a free region right after the block stays in place, even
   * when a lower region ([0,128) here) could hold the grown block: in place
   * comes first. The free space right after the grown block starts at 208. */
  [GROW_IN_PLACE_NEXT_FREE] = {
    .zone = 1024,
    .blk = {B(128, FREED), B(16, LIVE), B(16, AT(144))},
    .p = 2, .tag = 11, .to = 64, .stays = true, .size = 64,
    .then = {{200, 208}},
  },
  /* The next region holds exactly what the grow needs: in place, and the
   * region is used up (the block now touches its right neighbour at 80; the
   * only free region left is the tail after it). */
  [GROW_IN_PLACE_EXACT] = {
    .zone = 1024,
    .blk = {B(32), B(48, FREED), B(16, AT(80))},
    .p = 0, .tag = 5, .to = 80, .stays = true, .size = 80,
    .stats = {{FREE_BLOCKS, 1}},
    .then = {{16, 96}},
  },
  /* The grow crosses the zone's end if it stayed: it must move. As if freed,
   * the whole zone (256) is one run: the block moves to 0. */
  [GROW_AT_ZONE_END] = {
    .zone = 256,
    .blk = {B(128, FREED), B(128)},
    .p = 1, .tag = 9, .to = 200, .lands = 0, .size = 208, .old_gone = true,
  },
  /* Next block used: the block moves to the lowest fit, which may be a hole
   * below it; its old place [48,64) is free again. */
  [GROW_TO_LOWER_HOLE] = {
    .zone = 1024,
    .blk = {B(64, FREED), B(16, LIVE), B(16), B(16, LIVE)},
    .p = 2, .tag = 21, .to = 48, .lands = 0, .old_gone = true,
    .then = {{16, 48}, {16, 80}},
  },
  /* The free region just before the block plus the block's own space hold
   * the grown block: it moves down, overlapping its old place, contents
   * intact. A zone with no other room shows that the old space counts as
   * free. */
  [GROW_OVER_PRECEDING] = {
    .zone = 128,
    .blk = {B(32, FREED), B(64), B(32, AT(96), LIVE)},
    .p = 1, .tag = 33, .to = 96, .lands = 0, .size = 96,
    .stats = {{USED, 128}, {BLOCKS, 2}},
  },
  /* Free before and after the block: neither side alone holds the grow, the
   * whole run from the region before does; the block lands at its start.
   * The last block fills the tail: no other room. */
  [GROW_OVER_BOTH] = {
    .zone = 256,
    .blk = {B(16, LIVE), B(32, FREED), B(32), B(32, FREED), B(16, LIVE), B(128, NONNULL)},
    .full = true,
    .p = 2, .tag = 44, .to = 80, .lands = 16,
    .stats = {{FREE_BLOCKS, 1}, {LARGEST_FREE, 16}},
    .then = {{16, 96}},
  },
  /* The next region is free but too small (32 + 16 free after: not enough)
   * and nothing lower fits: the block goes to the lowest fit above. Its old
   * place and the small region merge: 48 bytes at 16. */
  [GROW_NEXT_TOO_SMALL] = {
    .zone = 1024,
    .blk = {B(16, LIVE), B(32), B(16, FREED), B(16, LIVE)},
    .p = 1, .tag = 55, .to = 64, .lands = 80,
    .then = {{48, 16}},
  },
};

static size_t stat_value(const zone_stats_t *st, enum stat_field f) {
  switch (f) {
  case USED:
    return st->used;
  case BLOCKS:
    return st->blocks;
  case FREE_BLOCKS:
    return st->free_blocks;
  default:
    return st->largest_free;
  }
}

static void run_row(const realloc_row_t *r) {
  enum { NBLK = sizeof r->blk / sizeof r->blk[0] };
  char *base;
  zone_t *z = new_zone(r->zone, &base);
  char *b[NBLK];
  int n = 0;
  for (; n < NBLK && r->blk[n].bytes != 0; n++) {
    b[n] = zalloc(z, r->blk[n].bytes);
    if (r->blk[n].placed)
      ck_assert_ptr_eq(b[n], base + r->blk[n].at);
    if (r->blk[n].nonnull)
      ck_assert_ptr_nonnull(b[n]);
  }
  if (r->full)
    ck_assert_ptr_null(zalloc(z, 1));
  for (int i = 0; i < n; i++)
    if (r->blk[i].freed)
      ck_assert_int_eq(zfree(z, b[i]), 0);

  char *p = b[r->p];
  size_t had = r->blk[r->p].bytes;
  zt_fill(p, had, r->tag);
  char *q = zrealloc(z, p, r->to);
  if (r->stays)
    ck_assert_ptr_eq(q, p);
  else
    ck_assert_ptr_eq(q, base + r->lands);
  if (r->size != 0)
    ck_assert_uint_eq(zone_block_size(z, q), r->size);
  ck_assert_msg(zt_verify(q, had < r->to ? had : r->to, r->tag), "contents lost in the zrealloc");
  if (r->old_gone)
    ck_assert(!zone_owns(z, p));
  for (int i = 0; i < n; i++)
    if (r->blk[i].live)
      ck_assert_msg(zone_owns(z, b[i]), "block %d of the layout is gone", i);
  zone_stats_t st;
  zone_stats(z, &st);
  for (size_t i = 0; i < 2 && r->stats[i].field != STATS_END; i++)
    ck_assert_msg(stat_value(&st, r->stats[i].field) == r->stats[i].value,
                  "zone_stats.%s is %zu, want %zu", stat_names[r->stats[i].field],
                  stat_value(&st, r->stats[i].field), r->stats[i].value);
  for (size_t i = 0; i < 2 && r->then[i].bytes != 0; i++)
    ck_assert_ptr_eq(zalloc(z, r->then[i].bytes), base + r->then[i].at);
  zt_assert_check(z);
  destroy_zone(z);
}

START_TEST(shrink_in_place_frees_tail) { run_row(&rows[SHRINK_IN_PLACE]); }
END_TEST

START_TEST(grow_in_place_when_next_free) { run_row(&rows[GROW_IN_PLACE_NEXT_FREE]); }
END_TEST

START_TEST(grow_in_place_exact_fit) { run_row(&rows[GROW_IN_PLACE_EXACT]); }
END_TEST

START_TEST(grow_at_zone_end_moves) { run_row(&rows[GROW_AT_ZONE_END]); }
END_TEST

START_TEST(grow_moves_to_lower_hole) { run_row(&rows[GROW_TO_LOWER_HOLE]); }
END_TEST

START_TEST(grow_over_preceding_free_region) { run_row(&rows[GROW_OVER_PRECEDING]); }
END_TEST

START_TEST(grow_over_both_neighbours) { run_row(&rows[GROW_OVER_BOTH]); }
END_TEST

START_TEST(grow_next_too_small_moves_up) { run_row(&rows[GROW_NEXT_TOO_SMALL]); }
END_TEST

/* Nothing can hold the grown block, even counting its own space: NULL,
 * ENOMEM, the block where it was with its contents, zone unchanged. */
START_TEST(failure_leaves_block_intact) {
  char *base;
  zone_t *z = new_zone(512, &base);
  char *a = zalloc(z, 64);
  char *p = zalloc(z, 64);
  char *b = zalloc(z, 64);
  char *c = zalloc(z, 64);
  ck_assert_int_eq(zfree(z, a), 0);
  ck_assert_int_eq(zfree(z, c), 0);
  zt_fill(p, 64, 66);
  zt_snapshot_t before;
  zt_snapshot_take(z, &before);
  static const size_t sizes[] = {129 + 256, 512, 513, 100000, SIZE_MAX, SIZE_MAX - G};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    errno = 0;
    ck_assert_msg(zrealloc(z, p, sizes[i]) == NULL, "zrealloc to %zu succeeded", sizes[i]);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert(zone_owns(z, p));
    ck_assert_uint_eq(zone_block_size(z, p), 64);
    ck_assert(zt_verify(p, 64, 66));
    zt_assert_unchanged(z, &before, "after a failed zrealloc");
    ck_assert_int_eq(zone_check(z), 0);
  }
  ck_assert(zone_owns(z, b));
  zt_snapshot_free(&before);
  destroy_zone(z);
}
END_TEST

/* Contents survive any chain of grows, shrinks and moves, up to the smaller
 * of old and new size. */
START_TEST(contents_preserved_chain) {
  char *base;
  zone_t *z = new_zone(1 << 16, &base);
  enum { N = 16 };
  char *p[N];
  size_t len[N];
  for (int i = 0; i < N; i++) {
    len[i] = 24;
    p[i] = zalloc(z, len[i]);
    zt_fill(p[i], len[i], (uint64_t)i);
  }
  zt_rng_t rng;
  uint64_t seed = zt_seed();
  zt_rng_seed(&rng, seed);
  size_t rounds = zt_scaled(2000);
  for (size_t r = 0; r < rounds; r++) {
    int i = (int)zt_rng_below(&rng, N);
    size_t n = 1 + zt_rng_below(&rng, 600);
    char *q = zrealloc(z, p[i], n);
    ck_assert_msg(q != NULL, "seed %llu: zrealloc(%zu) failed", (unsigned long long)seed, n);
    size_t keep = len[i] < n ? len[i] : n;
    ck_assert_msg(zt_verify(q, keep, (uint64_t)i + r * N),
                  "seed %llu round %zu: contents lost", (unsigned long long)seed, r);
    p[i] = q;
    len[i] = n;
    zt_fill(q, n, (uint64_t)i + (r + 1) * N);
    /* the other blocks keep their own tags: refresh them to this round's */
    for (int k = 0; k < N; k++)
      if (k != i)
        zt_fill(p[k], len[k], (uint64_t)k + (r + 1) * N);
  }
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A bad pointer is EINVAL (see test_free for every kind); zrealloc never
 * frees or moves it. */
START_TEST(bad_pointer_einval) {
  char *base;
  zone_t *z = new_zone(1024, &base);
  char *p = zalloc(z, 64);
  zt_assert_fails(zrealloc(z, p + G, 16), EINVAL);
  ck_assert_uint_eq(zone_block_size(z, p), 64);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

int main(void) {
  Suite *s = suite_create("realloc");
  ZT_CASE(s, null_ptr_acts_as_zalloc);
  ZT_CASE(s, zero_size_frees);
  ZT_CASE(s, shrink_in_place_frees_tail);
  ZT_CASE(s, same_granules_stays);
  ZT_CASE(s, grow_in_place_when_next_free);
  ZT_CASE(s, grow_in_place_exact_fit);
  ZT_CASE(s, grow_at_zone_end_moves);
  ZT_CASE(s, grow_moves_to_lower_hole);
  ZT_CASE(s, grow_over_preceding_free_region);
  ZT_CASE(s, grow_over_both_neighbours);
  ZT_CASE(s, grow_next_too_small_moves_up);
  ZT_CASE(s, failure_leaves_block_intact);
  ZT_CASE(s, contents_preserved_chain);
  ZT_CASE(s, bad_pointer_einval);
  return zt_main(s);
}
