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

/* A shrink keeps the address and contents and frees the tail for first fit. */
START_TEST(shrink_in_place_frees_tail) {
  char *base;
  zone_t *z = new_zone(1024, &base);
  char *p = zalloc(z, 100);  /* 112 */
  char *guard = zalloc(z, 16);
  ck_assert_ptr_eq(guard, base + 112);
  zt_fill(p, 100, 7);
  ck_assert_ptr_eq(zrealloc(z, p, 20), p);
  ck_assert_uint_eq(zone_block_size(z, p), 32);
  ck_assert(zt_verify(p, 20, 7));
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 32 + 16);
  ck_assert_uint_eq(st.free_blocks, 2);
  /* the freed tail [32, 112) is the first fit for 80 bytes */
  ck_assert_ptr_eq(zalloc(z, 80), base + 32);
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
  zt_snapshot_t before, after;
  zt_snapshot_take(z, &before);
  static const size_t sizes[] = {33, 40, 47, 48};
  for (int i = 0; i < 4; i++) {
    ck_assert_ptr_eq(zrealloc(z, p, sizes[i]), p);
    ck_assert_uint_eq(zone_block_size(z, p), 48);
    zt_snapshot_take(z, &after);
    zt_snapshot_assert_equal(&before, &after, "realloc within the block's granules");
    zt_snapshot_free(&after);
  }
  ck_assert(zt_verify(p, 40, 3));
  ck_assert(zone_owns(z, guard));
  zt_snapshot_free(&before);
  destroy_zone(z);
}
END_TEST

/* A grow into a free region right after the block stays in place, even when
 * a lower region could hold the grown block: in place comes first. */
START_TEST(grow_in_place_when_next_free) {
  char *base;
  zone_t *z = new_zone(1024, &base);
  char *hole = zalloc(z, 128);
  char *used = zalloc(z, 16);
  char *p = zalloc(z, 16);
  ck_assert_ptr_eq(p, base + 144);
  ck_assert_int_eq(zfree(z, hole), 0);
  zt_fill(p, 16, 11);
  ck_assert_ptr_eq(zrealloc(z, p, 64), p);  /* [0,128) would fit too */
  ck_assert_uint_eq(zone_block_size(z, p), 64);
  ck_assert(zt_verify(p, 16, 11));
  /* the free space right after the grown block starts at 208 */
  ck_assert_ptr_eq(zalloc(z, 200), base + 208);
  ck_assert(zone_owns(z, used));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* The next region holds exactly what the grow needs: in place, and the
 * region is used up (the block now touches its right neighbour). */
START_TEST(grow_in_place_exact_fit) {
  char *base;
  zone_t *z = new_zone(1024, &base);
  char *p = zalloc(z, 32);
  char *mid = zalloc(z, 48);
  char *right = zalloc(z, 16);
  ck_assert_int_eq(zfree(z, mid), 0);
  zt_fill(p, 32, 5);
  ck_assert_ptr_eq(zrealloc(z, p, 80), p);
  ck_assert_uint_eq(zone_block_size(z, p), 80);
  ck_assert(zt_verify(p, 32, 5));
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.free_blocks, 1);  /* only the tail after `right` */
  ck_assert_ptr_eq(right, base + 80);
  ck_assert_ptr_eq(zalloc(z, 16), base + 96);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* The grow crosses the zone's end if it stayed: it must move (here: to the
 * start, which is free). */
START_TEST(grow_at_zone_end_moves) {
  char *base;
  zone_t *z = new_zone(256, &base);
  char *a = zalloc(z, 128);
  char *p = zalloc(z, 128);
  ck_assert_int_eq(zfree(z, a), 0);
  zt_fill(p, 128, 9);
  /* As if freed, the whole zone (256) is one run: the block moves to 0. */
  char *q = zrealloc(z, p, 200);
  ck_assert_ptr_eq(q, base);
  ck_assert(zt_verify(q, 128, 9));
  ck_assert_uint_eq(zone_block_size(z, q), 208);
  ck_assert(!zone_owns(z, p));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Next block used: the block moves to the lowest fit, which may be a hole
 * below it. */
START_TEST(grow_moves_to_lower_hole) {
  char *base;
  zone_t *z = new_zone(1024, &base);
  char *hole = zalloc(z, 64);
  char *x = zalloc(z, 16);
  char *p = zalloc(z, 16);
  char *y = zalloc(z, 16);
  ck_assert_int_eq(zfree(z, hole), 0);
  zt_fill(p, 16, 21);
  char *q = zrealloc(z, p, 48);
  ck_assert_ptr_eq(q, base);
  ck_assert(zt_verify(q, 16, 21));
  ck_assert(!zone_owns(z, p));
  ck_assert(zone_owns(z, x));
  ck_assert(zone_owns(z, y));
  /* its old place is free again */
  ck_assert_ptr_eq(zalloc(z, 16), base + 48);
  ck_assert_ptr_eq(zalloc(z, 16), base + 80);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* The free region just before the block plus the block's own space hold the
 * grown block: it moves down, overlapping its old place, contents intact. A
 * zone with no other room shows that the old space counts as free. */
START_TEST(grow_over_preceding_free_region) {
  char *base;
  zone_t *z = new_zone(128, &base);
  char *a = zalloc(z, 32);
  char *p = zalloc(z, 64);
  char *c = zalloc(z, 32);
  ck_assert_ptr_eq(c, base + 96);
  ck_assert_int_eq(zfree(z, a), 0);
  zt_fill(p, 64, 33);
  char *q = zrealloc(z, p, 96);
  ck_assert_ptr_eq(q, base);
  ck_assert_uint_eq(zone_block_size(z, q), 96);
  ck_assert_msg(zt_verify(q, 64, 33), "contents lost in an overlapping move");
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 128);
  ck_assert_uint_eq(st.blocks, 2);
  ck_assert(zone_owns(z, c));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Free before and after the block: neither side alone holds the grow, the
 * whole run from the region before does; the block lands at its start. */
START_TEST(grow_over_both_neighbours) {
  char *base;
  zone_t *z = new_zone(256, &base);
  char *left = zalloc(z, 16);
  char *before = zalloc(z, 32);
  char *p = zalloc(z, 32);
  char *after = zalloc(z, 32);
  char *right = zalloc(z, 16);
  char *rest = zalloc(z, 128);  /* fill the tail: no other room */
  ck_assert_ptr_nonnull(rest);
  ck_assert_ptr_null(zalloc(z, 1));
  ck_assert_int_eq(zfree(z, before), 0);
  ck_assert_int_eq(zfree(z, after), 0);
  zt_fill(p, 32, 44);
  char *q = zrealloc(z, p, 80);
  ck_assert_ptr_eq(q, base + 16);
  ck_assert(zt_verify(q, 32, 44));
  ck_assert(zone_owns(z, left));
  ck_assert(zone_owns(z, right));
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.free_blocks, 1);
  ck_assert_uint_eq(st.largest_free, 16);
  ck_assert_ptr_eq(zalloc(z, 16), base + 96);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* The next region is free but too small and nothing lower fits: the block
 * goes to the lowest fit above. */
START_TEST(grow_next_too_small_moves_up) {
  char *base;
  zone_t *z = new_zone(1024, &base);
  char *x = zalloc(z, 16);
  char *p = zalloc(z, 32);
  char *small = zalloc(z, 16);
  char *y = zalloc(z, 16);
  ck_assert_int_eq(zfree(z, small), 0);
  zt_fill(p, 32, 55);
  char *q = zrealloc(z, p, 64);  /* 32 + 16 free after: not enough */
  ck_assert_ptr_eq(q, base + 80);
  ck_assert(zt_verify(q, 32, 55));
  ck_assert(zone_owns(z, x));
  ck_assert(zone_owns(z, y));
  /* old place and the small region merged: 48 bytes at 16 */
  ck_assert_ptr_eq(zalloc(z, 48), base + 16);
  zt_assert_check(z);
  destroy_zone(z);
}
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
  zt_snapshot_t before, after;
  zt_snapshot_take(z, &before);
  static const size_t sizes[] = {129 + 256, 512, 513, 100000, SIZE_MAX, SIZE_MAX - G};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    errno = 0;
    ck_assert_msg(zrealloc(z, p, sizes[i]) == NULL, "zrealloc to %zu succeeded", sizes[i]);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert(zone_owns(z, p));
    ck_assert_uint_eq(zone_block_size(z, p), 64);
    ck_assert(zt_verify(p, 64, 66));
    zt_snapshot_take(z, &after);
    zt_snapshot_assert_equal(&before, &after, "after a failed zrealloc");
    zt_snapshot_free(&after);
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
  errno = 0;
  ck_assert_ptr_null(zrealloc(z, p + G, 16));
  ck_assert_int_eq(errno, EINVAL);
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
