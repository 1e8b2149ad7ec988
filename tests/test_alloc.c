/*
 * test_alloc.c - zalloc (contract 1, 2, 3): granule rounding and alignment,
 * zalloc(0), a 4096-byte zone serving exactly 4096 bytes, exact first fit
 * (lowest address, not best or next fit), coalescing of neighbours, ENOMEM
 * without side effects, and the NULL zone.
 */
#include "support.h"

#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

static size_t round_up(size_t n) {
  return n == 0 ? G : (n + G - 1) / G * G;
}

static zone_t *new_zone(size_t bytes) {
  zone_t *z = create_zone(bytes);
  ck_assert_ptr_nonnull(z);
  return z;
}

/* Every request gets a block of the request rounded up to G, starting on a
 * multiple of G (and so aligned for any object). */
START_TEST(granule_rounding) {
  ck_assert_uint_eq(G, alignof(max_align_t));
  zone_t *z = new_zone(1 << 16);
  for (size_t n = 0; n <= 200; n++) {
    void *p = zalloc(z, n);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % G, 0);
    ck_assert_uint_eq((uintptr_t)p % alignof(max_align_t), 0);
    ck_assert_msg(zone_block_size(z, p) == round_up(n), "zalloc(%zu): block of %zu", n,
                  zone_block_size(z, p));
    memset(p, (int)n, n);
  }
  zone_stats_t st;
  zone_stats(z, &st);
  size_t want = 0;
  for (size_t n = 0; n <= 200; n++)
    want += round_up(n);
  ck_assert_uint_eq(st.used, want);
  ck_assert_uint_eq(st.blocks, 201);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Consecutive allocations in an empty zone are packed with no gap or header:
 * each starts where the previous block ends. */
START_TEST(packed_no_headers) {
  zone_t *z = new_zone(1 << 14);
  char *base = (char *)zt_base(z);
  size_t off = 0;
  for (size_t n = 1; n < 300; n += 7) {
    char *p = zalloc(z, n);
    ck_assert_ptr_eq(p, base + off);
    off += round_up(n);
  }
  destroy_zone(z);
}
END_TEST

/* zalloc(0) gives distinct one-granule blocks, each freeable. */
START_TEST(zero_bytes_unique) {
  zone_t *z = new_zone(4096);
  void *p[10];
  for (int i = 0; i < 10; i++) {
    p[i] = zalloc(z, 0);
    ck_assert_ptr_nonnull(p[i]);
    ck_assert_uint_eq(zone_block_size(z, p[i]), G);
    for (int k = 0; k < i; k++)
      ck_assert_ptr_ne(p[i], p[k]);
  }
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.blocks, 0);
  ck_assert_uint_eq(st.used, 0);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

START_TEST(zone_4096_one_block) {
  zone_t *z = new_zone(4096);
  void *p = zalloc(z, 4096);
  ck_assert_ptr_eq(p, (void *)zt_base(z));
  memset(p, 0xff, 4096);
  zt_assert_fails(zalloc(z, 1), ENOMEM);
  zt_assert_fails(zalloc(z, 0), ENOMEM);
  ck_assert_int_eq(zfree(z, p), 0);
  ck_assert_ptr_eq(zalloc(z, 4096), p);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* 256 blocks of 1..16 bytes fill a 4096-byte zone exactly, one granule each,
 * in address order; the 257th fails. */
START_TEST(zone_4096_256_small_blocks) {
  zone_t *z = new_zone(4096);
  char *base = (char *)zt_base(z);
  for (size_t i = 0; i < 256; i++) {
    char *p = zalloc(z, 1 + i % 16);
    ck_assert_msg(p == base + i * G, "block %zu at %p, want %p", i, (void *)p,
                  (void *)(base + i * G));
    memset(p, (int)i, 1 + i % 16);
  }
  zt_assert_fails(zalloc(z, 1), ENOMEM);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 4096);
  ck_assert_uint_eq(st.free, 0);
  ck_assert_uint_eq(st.blocks, 256);
  ck_assert_uint_eq(st.free_blocks, 0);
  ck_assert_uint_eq(st.largest_free, 0);
  for (size_t i = 0; i < 256; i++)
    ck_assert_uint_eq((unsigned char)base[i * G], i & 0xff);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Holes of 32, 64, 128 and 48 bytes (in address order) between 16-byte
 * blocks. Each request must take the lowest hole that holds it: not the best
 * fit (the 48-byte hole for 40 bytes), not the hole after the last one used. */
START_TEST(exact_first_fit) {
  zone_t *z = new_zone(1024);
  char *base = (char *)zt_base(z);
  static const size_t sizes[] = {32, 16, 64, 16, 128, 16, 48, 16};
  char *blk[8];
  for (int i = 0; i < 8; i++)
    blk[i] = zalloc(z, sizes[i]);
  for (int i = 0; i < 8; i += 2)
    ck_assert_int_eq(zfree(z, blk[i]), 0);
  /* holes: [0,32) [48,112) [128,256) [272,320); tail [336,1024) */
  ck_assert_ptr_eq(zalloc(z, 40), base + 48);    /* best fit: 272 */
  ck_assert_ptr_eq(zalloc(z, 100), base + 128);
  ck_assert_ptr_eq(zalloc(z, 16), base + 0);     /* back to the lowest */
  ck_assert_ptr_eq(zalloc(z, 16), base + 16);
  ck_assert_ptr_eq(zalloc(z, 24), base + 272);   /* 16-byte leftovers too small */
  ck_assert_ptr_eq(zalloc(z, 16), base + 96);    /* leftover of [48,112) */
  ck_assert_ptr_eq(zalloc(z, 17), base + 336);   /* leftovers of 16 too small */
  ck_assert_ptr_eq(zalloc(z, 16), base + 240);
  ck_assert_ptr_eq(zalloc(z, 16), base + 304);
  ck_assert_ptr_eq(zalloc(z, 1), base + 368);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A request larger than every hole but the tail goes to the tail; freeing
 * restores the lower holes for later requests. */
START_TEST(first_fit_skips_small_holes) {
  zone_t *z = new_zone(1 << 14);
  char *base = (char *)zt_base(z);
  char *p[64];
  for (int i = 0; i < 64; i++)
    p[i] = zalloc(z, 64);
  for (int i = 0; i < 64; i += 2)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  ck_assert_ptr_eq(zalloc(z, 65), base + 64 * 64);
  ck_assert_ptr_eq(zalloc(z, 64), base);
  ck_assert_int_eq(zfree(z, p[61]), 0);  /* [3904,3968) joins 60 and 62 */
  ck_assert_ptr_eq(zalloc(z, 64 * 3), base + 60 * 64);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* ---- coalescing --------------------------------------------------------------- */

static size_t free_regions(const zone_t *z) {
  zone_stats_t st;
  zone_stats(z, &st);
  return st.free_blocks;
}

/* Freed neighbours merge whatever the order: left, right, middle last. */
START_TEST(coalesce_every_order) {
  /* Three blocks A B C followed by a used guard block, so the tail free
   * region does not touch them. Permutations of the freeing order. */
  static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                   {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  for (int o = 0; o < 6; o++) {
    zone_t *z = new_zone(1024);
    char *base = (char *)zt_base(z);
    char *blk[3];
    for (int i = 0; i < 3; i++)
      blk[i] = zalloc(z, 64);
    char *guard = zalloc(z, 16);
    ck_assert_ptr_eq(guard, base + 192);
    ck_assert_uint_eq(free_regions(z), 1);
    bool freed[3] = {false, false, false};
    for (int k = 0; k < 3; k++) {
      ck_assert_int_eq(zfree(z, blk[orders[o][k]]), 0);
      freed[orders[o][k]] = true;
      /* maximal runs among A B C, plus the tail */
      size_t runs = 1;
      for (int i = 0; i < 3; i++)
        runs += freed[i] && (i == 0 || !freed[i - 1]);
      ck_assert_uint_eq(free_regions(z), runs);
    }
    ck_assert_uint_eq(free_regions(z), 2);
    zone_stats_t st;
    zone_stats(z, &st);
    ck_assert_uint_eq(st.largest_free, 1024 - 208);
    /* The merged 192 bytes serve one request at the base. */
    ck_assert_ptr_eq(zalloc(z, 192), base);
    ck_assert_uint_eq(free_regions(z), 1);
    zt_assert_check(z);
    destroy_zone(z);
  }
}
END_TEST

/* Freeing the block before the tail merges it into the tail; freeing all
 * blocks leaves one region, the whole zone. */
START_TEST(coalesce_into_tail_and_whole) {
  zone_t *z = new_zone(4096);
  char *base = (char *)zt_base(z);
  char *p[32];
  for (int i = 0; i < 32; i++)
    p[i] = zalloc(z, 16 * (size_t)(i + 1) % 80 + 1);
  ck_assert_int_eq(zfree(z, p[31]), 0);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.free_blocks, 1);
  ck_assert_uint_eq(st.largest_free, 4096 - (size_t)(p[31] - base));
  /* free the rest, odd ones first, then even */
  for (int i = 1; i < 31; i += 2)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  for (int i = 0; i < 31; i += 2)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  zone_stats(z, &st);
  ck_assert_uint_eq(st.free_blocks, 1);
  ck_assert_uint_eq(st.largest_free, 4096);
  ck_assert_uint_eq(st.used, 0);
  ck_assert_ptr_eq(zalloc(z, 4096), base);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* ---- failure ------------------------------------------------------------------- */

/* When nothing fits: NULL, ENOMEM, and the zone exactly as before. */
START_TEST(enomem_leaves_zone_unchanged) {
  zone_t *z = new_zone(4096);
  void *p[8];
  for (int i = 0; i < 8; i++)
    p[i] = zalloc(z, 500);
  for (int i = 0; i < 8; i += 2)
    zfree(z, p[i]);
  zt_snapshot_t before;
  zt_snapshot_take(z, &before);
  static const size_t too_big[] = {513, 1000, 4096, 4097, SIZE_MAX, SIZE_MAX - 5,
                                   SIZE_MAX - G + 1, SIZE_MAX / 2};
  for (size_t i = 0; i < sizeof too_big / sizeof too_big[0]; i++) {
    errno = 0;
    ck_assert_msg(zalloc(z, too_big[i]) == NULL, "zalloc(%zu) succeeded", too_big[i]);
    ck_assert_int_eq(errno, ENOMEM);
    zt_assert_unchanged(z, &before, "after a failed zalloc");
  }
  zt_snapshot_free(&before);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

START_TEST(null_zone_einval) {
  zt_assert_fails(zalloc(NULL, 16), EINVAL);
  zt_assert_fails(zalloc(NULL, 0), EINVAL);
}
END_TEST

/* Blocks never overlap: each keeps its own pattern while others are written. */
START_TEST(blocks_disjoint) {
  zone_t *z = new_zone(1 << 15);
  enum { N = 200 };
  unsigned char *p[N];
  size_t len[N];
  for (int i = 0; i < N; i++) {
    len[i] = (size_t)(i * 37 % 150);
    p[i] = zalloc(z, len[i]);
    ck_assert_ptr_nonnull(p[i]);
    zt_fill(p[i], len[i], (uint64_t)i);
  }
  for (int i = 0; i < N; i += 3)
    zfree(z, p[i]);
  for (int i = 0; i < N; i += 3) {
    p[i] = zalloc(z, len[i]);
    ck_assert_ptr_nonnull(p[i]);
    zt_fill(p[i], len[i], (uint64_t)i);
  }
  for (int i = 0; i < N; i++)
    ck_assert_msg(zt_verify(p[i], len[i], (uint64_t)i), "block %d was overwritten", i);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

int main(void) {
  Suite *s = suite_create("alloc");
  ZT_CASE(s, granule_rounding);
  ZT_CASE(s, packed_no_headers);
  ZT_CASE(s, zero_bytes_unique);
  ZT_CASE(s, zone_4096_one_block);
  ZT_CASE(s, zone_4096_256_small_blocks);
  ZT_CASE(s, exact_first_fit);
  ZT_CASE(s, first_fit_skips_small_holes);
  ZT_CASE(s, coalesce_every_order);
  ZT_CASE(s, coalesce_into_tail_and_whole);
  ZT_CASE(s, enomem_leaves_zone_unchanged);
  ZT_CASE(s, null_zone_einval);
  ZT_CASE(s, blocks_disjoint);
  return zt_main(s);
}
