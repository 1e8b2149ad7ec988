/*
 * test_calloc.c - zcalloc (contract 6): the block is zeroed, also when it
 * reuses memory that held data (freed blocks, a shrunk block's tail, space
 * scribbled on, a reset zone, a caller's dirty buffer); first fit like zalloc;
 * count * size overflow is NULL with ENOMEM and changes nothing.
 */
#include "support.h"

#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

static bool all_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0)
      return false;
  return true;
}

START_TEST(fresh_memory_zeroed) {
  zone_t *z = create_zone(1 << 16);
  ck_assert_ptr_nonnull(z);
  char *base = (char *)zt_base(z);
  char *p = zcalloc(z, 10, 10);
  ck_assert_ptr_eq(p, base);
  ck_assert_uint_eq(zone_block_size(z, p), 112);
  ck_assert(all_zero(p, 100));
  char *q = zcalloc(z, 3, 1000);
  ck_assert_ptr_eq(q, base + 112);
  ck_assert(all_zero(q, 3000));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A freed block's data does not show through the next zcalloc there. */
START_TEST(reused_block_zeroed) {
  zone_t *z = create_zone(4096);
  ck_assert_ptr_nonnull(z);
  for (int round = 0; round < 20; round++) {
    size_t n = 16 + (size_t)round * 50;
    char *p = zalloc(z, n);
    memset(p, 0xa5, n);
    ck_assert_int_eq(zfree(z, p), 0);
    char *q = zcalloc(z, 1, n);
    ck_assert_ptr_eq(q, p);
    ck_assert_msg(all_zero(q, n), "round %d: reused memory not zeroed", round);
    memset(q, 0x5a, n);
    ck_assert_int_eq(zfree(z, q), 0);
  }
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A zcalloc spanning several freed blocks and never-used space. */
START_TEST(reused_span_zeroed) {
  zone_t *z = create_zone(4096);
  ck_assert_ptr_nonnull(z);
  char *p[8];
  for (int i = 0; i < 8; i++) {
    p[i] = zalloc(z, 64);
    memset(p[i], 0xff, 64);
  }
  for (int i = 0; i < 8; i++)
    zfree(z, p[i]);
  char *q = zcalloc(z, 100, 10);
  ck_assert_ptr_eq(q, p[0]);
  ck_assert(all_zero(q, 1000));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* The tail a shrink gives back, then reused by zcalloc, reads as zero. */
START_TEST(shrunk_tail_zeroed) {
  zone_t *z = create_zone(4096);
  ck_assert_ptr_nonnull(z);
  char *p = zalloc(z, 512);
  zalloc(z, 16);
  memset(p, 0x77, 512);
  ck_assert_ptr_eq(zrealloc(z, p, 64), p);
  char *q = zcalloc(z, 448, 1);
  ck_assert_ptr_eq(q, p + 64);
  ck_assert(all_zero(q, 448));
  for (int i = 0; i < 64; i++)
    ck_assert_uint_eq((unsigned char)p[i], 0x77);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A grow in place reaches memory never handed out before; once the program
 * wrote it and freed it, zcalloc there must still zero it. */
START_TEST(realloc_grown_tail_zeroed) {
  zone_t *z = create_zone(16384);
  ck_assert_ptr_nonnull(z);
  char *p = zalloc(z, 16);
  char *q = zrealloc(z, p, 1024);
  ck_assert_ptr_eq(q, p);
  memset(q, 0xff, 1024);
  ck_assert_int_eq(zfree(z, q), 0);
  unsigned char *r = zcalloc(z, 1, 1024);
  ck_assert_ptr_eq(r, q);
  size_t nonzero = 0;
  for (size_t i = 0; i < 1024; i++)
    nonzero += r[i] != 0;
  ck_assert_msg(nonzero == 0, "%zu of 1024 bytes not zeroed", nonzero);
  /* the same after a move into never-used space */
  char *a = zalloc(z, 16);
  zalloc(z, 16);
  char *b = zrealloc(z, a, 4096);
  ck_assert_ptr_ne(b, a);
  memset(b, 0xee, 4096);
  ck_assert_int_eq(zfree(z, b), 0);
  unsigned char *c = zcalloc(z, 4096, 1);
  ck_assert_ptr_eq(c, b);
  ck_assert(all_zero(c, 4096));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* After zone_reset the old data is gone for zcalloc. */
START_TEST(after_reset_zeroed) {
  zone_t *z = create_zone(1 << 16);
  ck_assert_ptr_nonnull(z);
  char *p = zalloc(z, 1 << 16);
  memset(p, 0xee, 1 << 16);
  zone_reset(z);
  char *q = zcalloc(z, 1 << 12, 16);
  ck_assert_ptr_eq(q, p);
  ck_assert(all_zero(q, 1 << 16));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Program writes over free space between blocks (allowed, contract 8) do not
 * show through zcalloc either. */
START_TEST(scribbled_free_space_zeroed) {
  alignas(16) static unsigned char buf[4096];
  memset(buf, 0xcc, sizeof buf);  /* a dirty caller buffer */
  zone_t *z = create_zone_in(buf, sizeof buf, 0);
  ck_assert_ptr_nonnull(z);
  unsigned char *p = zcalloc(z, 1, 100);
  ck_assert_ptr_eq(p, buf);
  ck_assert(all_zero(p, 100));
  unsigned char *q = zalloc(z, 200);
  ck_assert_int_eq(zfree(z, q), 0);
  zt_scribble(q, 0x99, 200);  /* scribble on a freed block */
  unsigned char *r = zcalloc(z, 20, 10);
  ck_assert_ptr_eq(r, q);
  ck_assert(all_zero(r, 200));
  unsigned char *t = zcalloc(z, 1, 3000);
  ck_assert(all_zero(t, 3000));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A program scribbling over never-used space of a mapped zone (contract 8)
 * does not show through zcalloc either: small blocks there are cleared, and
 * the whole pages of large ones are given back to the kernel, reading zero. */
START_TEST(scribbled_fresh_space_zeroed) {
  zone_t *z = create_zone(1 << 20);
  ck_assert_ptr_nonnull(z);
  unsigned char *a = zalloc(z, 16);
  ck_assert_ptr_nonnull(a);
  zt_scribble(a + 16, 0x5a, (1 << 20) - 16);  /* every byte never handed out */
  unsigned char *small = zcalloc(z, 1, 100);
  ck_assert_ptr_eq(small, a + 16);
  ck_assert(all_zero(small, 100));
  unsigned char *big = zcalloc(z, 1, 300000);  /* many whole pages, partial edges */
  ck_assert_ptr_nonnull(big);
  ck_assert(all_zero(big, 300000));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* count * size past SIZE_MAX: NULL, ENOMEM, nothing changed. */
START_TEST(overflow_enomem) {
  zone_t *z = create_zone_flags(1 << 16, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  zalloc(z, 16);
  zt_snapshot_t before;
  zt_snapshot_take(z, &before);
  struct {
    size_t count, size;
  } cases[] = {{SIZE_MAX, 2},
               {2, SIZE_MAX},
               {SIZE_MAX / 2 + 1, 2},
               {(size_t)1 << 32, (size_t)1 << 32},
               {SIZE_MAX, SIZE_MAX},
               {(SIZE_MAX / 16) + 1, 16},
               {3, SIZE_MAX / 3 + 1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    errno = 0;
    ck_assert_msg(zcalloc(z, cases[i].count, cases[i].size) == NULL,
                  "zcalloc(%zu, %zu) succeeded", cases[i].count, cases[i].size);
    ck_assert_int_eq(errno, ENOMEM);
    zt_assert_unchanged(z, &before, "after an overflowing zcalloc");
  }
  zt_snapshot_free(&before);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* No overflow, just too big for the zone: ENOMEM too. */
START_TEST(too_big_enomem) {
  zone_t *z = create_zone(4096);
  ck_assert_ptr_nonnull(z);
  zt_assert_fails(zcalloc(z, 4097, 1), ENOMEM);
  ck_assert_ptr_nonnull(zcalloc(z, 4096, 1));
  destroy_zone(z);
}
END_TEST

/* A zero count or size is a zero-byte request: one granule, unique. */
START_TEST(zero_count_or_size) {
  zone_t *z = create_zone(4096);
  ck_assert_ptr_nonnull(z);
  char *a = zcalloc(z, 0, 10);
  char *b = zcalloc(z, 10, 0);
  char *c = zcalloc(z, 0, 0);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_ptr_nonnull(c);
  ck_assert_ptr_ne(a, b);
  ck_assert_ptr_ne(b, c);
  ck_assert_ptr_ne(a, c);
  ck_assert_uint_eq(zone_block_size(z, a), G);
  ck_assert_uint_eq(zone_block_size(z, b), G);
  ck_assert_int_eq(zfree(z, a), 0);
  ck_assert_int_eq(zfree(z, b), 0);
  ck_assert_int_eq(zfree(z, c), 0);
  destroy_zone(z);
}
END_TEST

/* Placement is first fit, exactly as zalloc. */
START_TEST(first_fit_like_zalloc) {
  zone_t *z = create_zone(4096);
  ck_assert_ptr_nonnull(z);
  char *p[6];
  for (int i = 0; i < 6; i++)
    p[i] = zalloc(z, 32 * (size_t)(i + 1));
  zfree(z, p[1]);  /* 64 bytes */
  zfree(z, p[3]);  /* 128 bytes */
  ck_assert_ptr_eq(zcalloc(z, 3, 30), p[3]);
  ck_assert_ptr_eq(zcalloc(z, 1, 64), p[1]);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

int main(void) {
  Suite *s = suite_create("calloc");
  ZT_CASE(s, fresh_memory_zeroed);
  ZT_CASE(s, reused_block_zeroed);
  ZT_CASE(s, reused_span_zeroed);
  ZT_CASE(s, shrunk_tail_zeroed);
  ZT_CASE(s, realloc_grown_tail_zeroed);
  ZT_CASE(s, after_reset_zeroed);
  ZT_CASE(s, scribbled_free_space_zeroed);
  ZT_CASE(s, overflow_enomem);
  ZT_CASE(s, too_big_enomem);
  ZT_CASE(s, zero_count_or_size);
  ZT_CASE(s, scribbled_fresh_space_zeroed);
  ZT_CASE(s, first_fit_like_zalloc);
  return zt_main(s);
}
