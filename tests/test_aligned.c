/*
 * test_aligned.c - zalloc_aligned (contract 4): a non power of two is EINVAL;
 * A <= G is plain first fit; a larger A gives the lowest A-aligned address
 * (absolute, whatever the zone's base) where the rounded size is free; the
 * padding before the block stays free and later first fits use it.
 */
#include "support.h"

#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

static uintptr_t align_up(uintptr_t p, size_t a) {
  return (p + a - 1) / a * a;
}

/* Lowest A-aligned address in the zone where n bytes are free, computed
 * from a zone_walk snapshot: the answer zalloc_aligned must give. */
static uintptr_t expected_fit(const zone_t *z, size_t align, size_t n) {
  zt_snapshot_t s;
  zt_snapshot_take(z, &s);
  uintptr_t want = 0;
  for (size_t i = 0; i < s.count && want == 0; i++) {
    if (s.regions[i].used)
      continue;
    uintptr_t a = align_up(s.regions[i].addr, align);
    if (a >= s.regions[i].addr && a - s.regions[i].addr + n <= s.regions[i].size)
      want = a;
  }
  zt_snapshot_free(&s);
  return want;
}

START_TEST(not_power_of_two_einval) {
  zone_t *z = create_zone(1 << 16);
  ck_assert_ptr_nonnull(z);
  zalloc(z, 16);
  zt_snapshot_t before;
  zt_snapshot_take(z, &before);
  static const size_t bad[] = {0, 3, 5, 6, 7, 12, 24, 48, 100, 1000, 4095, 4097,
                               (1u << 20) + 16, SIZE_MAX, SIZE_MAX - 1, SIZE_MAX / 2};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    ck_assert_msg(zalloc_aligned(z, bad[i], 16) == NULL, "alignment %zu accepted", bad[i]);
    ck_assert_msg(errno == EINVAL, "alignment %zu: errno %d", bad[i], errno);
    zt_assert_unchanged(z, &before, "after a rejected alignment");
  }
  zt_snapshot_free(&before);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A <= G changes nothing: the block is exactly where zalloc would put it. */
START_TEST(small_alignment_is_first_fit) {
  zone_t *z = create_zone(4096);
  ck_assert_ptr_nonnull(z);
  char *base = (char *)zt_base(z);
  char *a = zalloc(z, 16);
  char *b = zalloc(z, 16);
  (void)b;
  ck_assert_int_eq(zfree(z, a), 0);
  for (size_t al = 1; al <= G; al *= 2) {
    char *p = zalloc_aligned(z, al, 10);
    ck_assert_msg(p == base, "alignment %zu: %p, want %p", al, (void *)p, (void *)base);
    ck_assert_uint_eq(zone_block_size(z, p), 16);
    ck_assert_int_eq(zfree(z, p), 0);
  }
  /* in a zone whose base is an odd multiple of G, still plain first fit */
  alignas(64) static char buf[1024];
  zone_t *in = create_zone_in(buf + G, 512, 0);
  ck_assert_ptr_nonnull(in);
  ck_assert_ptr_eq(zalloc_aligned(in, G, 1), buf + G);
  ck_assert_ptr_eq(zalloc_aligned(in, G / 2, 1), buf + 2 * G);
  destroy_zone(in);
  destroy_zone(z);
}
END_TEST

/* The padding skipped to reach an aligned address stays free, and later
 * first fits use it. */
START_TEST(padding_stays_free_and_reused) {
  alignas(256) static char buf[4096];
  zone_t *z = create_zone_in(buf, sizeof buf, 0);
  ck_assert_ptr_nonnull(z);
  char *a = zalloc(z, 16);
  ck_assert_ptr_eq(a, buf);
  char *p = zalloc_aligned(z, 256, 16);
  ck_assert_ptr_eq(p, buf + 256);
  ck_assert_uint_eq(zone_block_size(z, p), 16);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 32);
  ck_assert_uint_eq(st.free_blocks, 2);  /* padding [16,256) and the tail */
  ck_assert_uint_eq(st.largest_free, 4096 - 272);
  /* the padding is the first fit for anything up to 240 bytes */
  ck_assert_ptr_eq(zalloc(z, 100), buf + 16);
  ck_assert_ptr_eq(zalloc(z, 128), buf + 128);
  ck_assert_ptr_eq(zalloc(z, 16), buf + 272);  /* padding now full */
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* The aligned address is the lowest one inside any free region that leaves
 * room for the block after it, not the start of the first region that could
 * hold the size plus the worst padding. */
START_TEST(lowest_aligned_address) {
  alignas(4096) static char buf[4096];
  zone_t *z = create_zone_in(buf, sizeof buf, 0);
  ck_assert_ptr_nonnull(z);
  /* Blocks at [0,16) and [304,320) around one free run [16,304), then the
   * tail [320,4096). Each aligned request takes the lowest 128-aligned spot
   * with room, inside a run, skipping spots without room after them. */
  char *b0 = zalloc(z, 16);
  char *h1 = zalloc(z, 120);  /* [16,144) */
  char *b1 = zalloc(z, 16);   /* [144,160) */
  char *h2 = zalloc(z, 144);  /* [160,304) */
  char *b2 = zalloc(z, 16);   /* [304,320) */
  ck_assert_ptr_eq(b2, buf + 304);
  ck_assert_int_eq(zfree(z, h1), 0);
  ck_assert_int_eq(zfree(z, h2), 0);
  ck_assert_int_eq(zfree(z, b1), 0);  /* now [16, 304) is one run: 128 fits */
  ck_assert_ptr_eq(zalloc_aligned(z, 128, 16), buf + 128);
  ck_assert_ptr_eq(zalloc_aligned(z, 128, 32), buf + 256);
  ck_assert_ptr_eq(zalloc_aligned(z, 128, 16), buf + 384);
  /* padding left free: [16,128) [144,256) [288,304) [320,384) */
  ck_assert_ptr_eq(zalloc(z, 112), buf + 16);
  ck_assert_ptr_eq(zalloc(z, 112), buf + 144);
  ck_assert_ptr_eq(zalloc(z, 64), buf + 320);
  ck_assert_ptr_eq(zalloc(z, 16), buf + 288);
  ck_assert(zone_owns(z, b0));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Alignment is absolute: a zone whose base is only G-aligned still returns
 * A-aligned addresses, the lowest ones in the zone. */
START_TEST(absolute_alignment_odd_base) {
  alignas(4096) static char buf[3 * 4096];
  for (size_t head = G; head < 256; head += G) {
    zone_t *z = create_zone_in(buf + head, 2 * 4096, 0);
    ck_assert_ptr_nonnull(z);
    for (size_t al = 2 * G; al <= 4096; al *= 2) {
      uintptr_t want = expected_fit(z, al, 16);
      char *p = zalloc_aligned(z, al, 16);
      ck_assert_msg((uintptr_t)p == want, "head %zu align %zu: %p, want %#lx", head, al,
                    (void *)p, (unsigned long)want);
      ck_assert_uint_eq((uintptr_t)p % al, 0);
    }
    zt_assert_check(z);
    destroy_zone(z);
  }
}
END_TEST

/* Large alignments in a mapped zone: pages and beyond. */
START_TEST(large_alignment) {
  zone_t *z = create_zone(1 << 20);
  ck_assert_ptr_nonnull(z);
  zalloc(z, 16);
  static const size_t aligns[] = {4096, 8192, 65536, 1 << 18};
  for (size_t i = 0; i < 4; i++) {
    uintptr_t want = expected_fit(z, aligns[i], 100);
    char *p = zalloc_aligned(z, aligns[i], 100);
    ck_assert_msg((uintptr_t)p == want, "align %zu: %p, want %#lx", aligns[i], (void *)p,
                  (unsigned long)want);
    if (p != NULL) {
      ck_assert_uint_eq((uintptr_t)p % aligns[i], 0);
      ck_assert_uint_eq(zone_block_size(z, p), 112);
      memset(p, 1, 100);
    }
  }
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* No aligned address with room: ENOMEM, zone unchanged; even for absurd
 * alignments and sizes that would overflow an address computation. */
START_TEST(no_aligned_room_enomem) {
  alignas(8192) static char buf[8192];
  zone_t *z = create_zone_in(buf + G, 4000, 0);
  ck_assert_ptr_nonnull(z);
  zalloc(z, 16);
  zt_snapshot_t before;
  zt_snapshot_take(z, &before);
  struct {
    size_t align, n;
  } cases[] = {{8192, 16},
               {4096, 16},  /* buf + 4096 is past the zone's end */
               {1u << 20, 1},
               {(size_t)1 << 62, 16},
               {(size_t)1 << 63, 16},
               {64, 4000},
               {64, SIZE_MAX},
               {(size_t)1 << 63, SIZE_MAX - 100}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    errno = 0;
    ck_assert_msg(zalloc_aligned(z, cases[i].align, cases[i].n) == NULL,
                  "zalloc_aligned(%zu, %zu) succeeded", cases[i].align, cases[i].n);
    ck_assert_int_eq(errno, ENOMEM);
    zt_assert_unchanged(z, &before, "after a failed zalloc_aligned");
  }
  zt_snapshot_free(&before);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* zalloc_aligned(A, 0) is one granule, like zalloc(0), and freeable. */
START_TEST(zero_bytes_one_granule) {
  alignas(1024) static char buf[2048];
  zone_t *z = create_zone_in(buf, sizeof buf, 0);
  ck_assert_ptr_nonnull(z);
  zalloc(z, 1);
  char *p = zalloc_aligned(z, 512, 0);
  ck_assert_ptr_eq(p, buf + 512);
  ck_assert_uint_eq(zone_block_size(z, p), G);
  ck_assert_int_eq(zfree(z, p), 0);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Blocks from zalloc_aligned are ordinary blocks: zfree, zrealloc in place,
 * zone_walk all treat them alike. */
START_TEST(aligned_blocks_are_ordinary) {
  alignas(1024) static char buf[4096];
  zone_t *z = create_zone_in(buf, sizeof buf, 0);
  ck_assert_ptr_nonnull(z);
  zalloc(z, 1);
  char *p = zalloc_aligned(z, 1024, 64);
  ck_assert_ptr_eq(p, buf + 1024);
  zt_fill(p, 64, 1);
  ck_assert_ptr_eq(zrealloc(z, p, 256), p);  /* room after it */
  ck_assert(zt_verify(p, 64, 1));
  ck_assert_ptr_eq(zrealloc(z, p, 32), p);
  ck_assert_int_eq(zfree(z, p), 0);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.blocks, 1);
  ck_assert_uint_eq(st.free_blocks, 1);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

int main(void) {
  Suite *s = suite_create("aligned");
  ZT_CASE(s, not_power_of_two_einval);
  ZT_CASE(s, small_alignment_is_first_fit);
  ZT_CASE(s, padding_stays_free_and_reused);
  ZT_CASE(s, lowest_aligned_address);
  ZT_CASE(s, absolute_alignment_odd_base);
  ZT_CASE(s, large_alignment);
  ZT_CASE(s, no_aligned_room_enomem);
  ZT_CASE(s, zero_bytes_one_granule);
  ZT_CASE(s, aligned_blocks_are_ordinary);
  return zt_main(s);
}
