/*
 * test_valgrind.c - the memcheck annotations (contract 16), asserted from
 * inside valgrind through client requests: a read of a zfree'd block is an
 * error memcheck counts, a block nobody points to any more is a definite leak
 * (at the zone's first byte too), so is a zone nobody points to, fresh bytes
 * are undefined and zcalloc'd ones defined, a grow in place leaves the new
 * tail undefined, a move keeps the contents defined, and blocks freed by
 * zone_reset or destroy_zone are not leaks. The cases make memcheck report
 * on purpose, so they run in their own valgrind ctests (zone.valgrind.*)
 * without --error-exitcode; natively the binary exits 77 (skipped).
 */
#include "support.h"

#include <stdlib.h>
#include <string.h>
#include <valgrind/memcheck.h>

/* Definite leak bytes after a fresh full leak check. */
static unsigned long leaked_now(void) {
  unsigned long leaked = 0, dubious = 0, reachable = 0, suppressed = 0;
  VALGRIND_DO_LEAK_CHECK;
  VALGRIND_COUNT_LEAKS(leaked, dubious, reachable, suppressed);
  (void)dubious;
  (void)reachable;
  (void)suppressed;
  return leaked;
}

/* Fills vb with the validity bits of n bytes at p (0x00 defined, 0xff not). */
static void vbits(const void *p, unsigned char *vb, size_t n) {
  ck_assert_int_eq(VALGRIND_GET_VBITS(p, vb, n), 1);
}

static bool all_bytes(const unsigned char *b, size_t n, unsigned char v) {
  for (size_t i = 0; i < n; i++)
    if (b[i] != v)
      return false;
  return true;
}

START_TEST(read_after_free_reported) {
  zone_t *z = create_zone(4096);
  ck_assert_ptr_nonnull(z);
  unsigned char *p = zalloc(z, 64);
  memset(p, 1, 64);
  ck_assert_int_eq(zfree(z, p), 0);
  unsigned before = VALGRIND_COUNT_ERRORS;
  volatile unsigned char v = *(volatile unsigned char *)(p + 8);
  (void)v;
  unsigned after = VALGRIND_COUNT_ERRORS;
  ck_assert_msg(after > before, "memcheck saw no invalid read of a freed block (%u -> %u)",
                before, after);
  destroy_zone(z);
}
END_TEST

/* After zone_reset, reading a block from before is an invalid read too. */
START_TEST(read_after_reset_reported) {
  zone_t *z = create_zone(4096);
  unsigned char *p = zalloc(z, 64);
  memset(p, 1, 64);
  zone_reset(z);
  unsigned before = VALGRIND_COUNT_ERRORS;
  volatile unsigned char v = *(volatile unsigned char *)(p + 8);
  (void)v;
  ck_assert_uint_gt(VALGRIND_COUNT_ERRORS, before);
  destroy_zone(z);
}
END_TEST

/* A moving zrealloc frees the old place: reading it is an error. */
START_TEST(read_after_move_reported) {
  zone_t *z = create_zone(4096);
  unsigned char *p = zalloc(z, 64);
  unsigned char *guard = zalloc(z, 16);
  (void)guard;
  memset(p, 3, 64);
  unsigned char *q = zrealloc(z, p, 256);
  ck_assert_ptr_ne(q, p);
  ck_assert(all_bytes(q, 64, 3));
  unsigned before = VALGRIND_COUNT_ERRORS;
  volatile unsigned char v = *(volatile unsigned char *)p;
  (void)v;
  ck_assert_uint_gt(VALGRIND_COUNT_ERRORS, before);
  destroy_zone(z);
}
END_TEST

/* Allocates n bytes and forgets the pointer; noinline keeps it out of the
 * caller's registers and live stack. */
static __attribute__((noinline)) void lose_block(zone_t *z, size_t n) {
  void *volatile p = zalloc(z, n);
  ck_assert_ptr_nonnull(p);
  p = NULL;
}

/* Overwrites dead stack below the caller, where a copy of the lost pointer
 * could linger. */
static __attribute__((noinline)) void clobber_stack(void) {
  volatile char junk[4096];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = 0;
}

START_TEST(lost_block_is_leak) {
  zone_t *z = create_zone(1 << 16);
  ck_assert_ptr_nonnull(z);
  /* A block kept at the zone's first byte: the lost one lies inside. */
  void *keep = zalloc(z, 256);
  ck_assert_ptr_nonnull(keep);
  unsigned long before = leaked_now();
  lose_block(z, 4096);
  clobber_stack();
  unsigned long after = leaked_now();
  ck_assert_msg(after >= before + 4096, "definitely lost %lu -> %lu bytes, want +4096", before,
                after);
  destroy_zone(z);
}
END_TEST

/* A lost block at the zone's first byte is a leak too, though the zone's
 * record holds that address (the leak scan skips the record) and a mapping
 * of someone else's may end right below it (the extent keeps a page of its
 * own there under memcheck). */
START_TEST(lost_base_block_is_leak) {
  zone_t *z = create_zone(1 << 16);
  ck_assert_ptr_nonnull(z);
  unsigned long before = leaked_now();
  lose_block(z, 4000);
  clobber_stack();
  unsigned long after = leaked_now();
  ck_assert_msg(after >= before + 4000, "definitely lost %lu -> %lu bytes, want +4000", before,
                after);
  destroy_zone(z);
  clobber_stack();
  ck_assert_uint_eq(leaked_now(), before);
}
END_TEST

/* Loses the only pointer to a new zone. */
static __attribute__((noinline)) void lose_zone(void) {
  zone_t *volatile z = create_zone(4096);
  ck_assert_ptr_nonnull(z);
  z = NULL;
}

/* A zone nobody points to any more is a leak of its own (its record), and
 * the blocks left in it are lost too. */
START_TEST(lost_zone_is_leak) {
  unsigned long before = leaked_now();
  lose_zone();
  clobber_stack();
  unsigned long after = leaked_now();
  ck_assert_msg(after > before, "definitely lost %lu -> %lu bytes after losing a zone", before,
                after);
}
END_TEST

/* Blocks that die with zone_reset or destroy_zone are not leaks. */
START_TEST(reset_and_destroy_not_leaks) {
  unsigned long before = leaked_now();
  zone_t *z = create_zone(1 << 16);
  zalloc(z, 256);
  for (int i = 0; i < 20; i++)
    lose_block(z, 100);
  zone_reset(z);
  clobber_stack();
  ck_assert_uint_eq(leaked_now(), before);
  for (int i = 0; i < 20; i++)
    lose_block(z, 100);
  destroy_zone(z);
  clobber_stack();
  ck_assert_uint_eq(leaked_now(), before);
}
END_TEST

START_TEST(fresh_bytes_undefined) {
  zone_t *z = create_zone(4096);
  unsigned char vb[256];
  unsigned char *p = zalloc(z, 256);
  vbits(p, vb, 256);
  ck_assert_msg(all_bytes(vb, 256, 0xff), "fresh zalloc bytes are not all undefined");
  memset(p, 7, 256);
  ck_assert_int_eq(zfree(z, p), 0);
  /* the same memory again: undefined again, not the old 7s */
  unsigned char *q = zalloc(z, 256);
  ck_assert_ptr_eq(q, p);
  vbits(q, vb, 256);
  ck_assert(all_bytes(vb, 256, 0xff));
  destroy_zone(z);
}
END_TEST

START_TEST(zcalloc_bytes_defined) {
  zone_t *z = create_zone(4096);
  unsigned char vb[256];
  unsigned char *p = zalloc(z, 256);
  memset(p, 9, 256);
  zfree(z, p);
  unsigned char *q = zcalloc(z, 16, 16);
  ck_assert_ptr_eq(q, p);
  vbits(q, vb, 256);
  ck_assert(all_bytes(vb, 256, 0));
  ck_assert(all_bytes(q, 256, 0));
  unsigned char *r = zcalloc(z, 1, 512);  /* never-used memory */
  unsigned char vr[512];
  vbits(r, vr, 512);
  ck_assert(all_bytes(vr, 512, 0));
  destroy_zone(z);
}
END_TEST

/* A grow in place: the old bytes keep their state, the new tail is
 * undefined. A shrink makes the cut-off tail inaccessible. */
START_TEST(realloc_in_place_tracking) {
  zone_t *z = create_zone(4096);
  unsigned char vb[128];
  unsigned char *p = zalloc(z, 64);
  memset(p, 5, 64);
  ck_assert_ptr_eq(zrealloc(z, p, 128), p);
  vbits(p, vb, 128);
  ck_assert(all_bytes(vb, 64, 0));
  ck_assert(all_bytes(vb + 64, 64, 0xff));
  ck_assert_ptr_eq(zrealloc(z, p, 32), p);
  unsigned before = VALGRIND_COUNT_ERRORS;
  volatile unsigned char v = p[100];
  (void)v;
  ck_assert_uint_gt(VALGRIND_COUNT_ERRORS, before);
  destroy_zone(z);
}
END_TEST

/* A move carries definedness: written bytes stay defined, the rest of the
 * new block is undefined. */
START_TEST(realloc_move_tracking) {
  zone_t *z = create_zone(4096);
  unsigned char vb[256];
  unsigned char *p = zalloc(z, 64);
  zalloc(z, 16);
  memset(p, 5, 40);  /* bytes 40..63 never written */
  unsigned char *q = zrealloc(z, p, 256);
  ck_assert_ptr_ne(q, p);
  vbits(q, vb, 256);
  ck_assert(all_bytes(vb, 40, 0));
  ck_assert(all_bytes(vb + 64, 192, 0xff));
  ck_assert(all_bytes(q, 40, 5));
  destroy_zone(z);
}
END_TEST

/* No error at all from normal use: a baseline for the cases above. */
START_TEST(clean_use_no_errors) {
  unsigned before = VALGRIND_COUNT_ERRORS;
  zone_t *z = create_zone_flags(1 << 14, ZONE_GROW);
  char *p[64];
  for (int i = 0; i < 64; i++) {
    p[i] = zalloc(z, (size_t)i * 9);
    memset(p[i], i, (size_t)i * 9);
  }
  for (int i = 0; i < 64; i += 2)
    p[i] = zrealloc(z, p[i], (size_t)i * 20 + 1);
  for (int i = 0; i < 64; i++)
    zfree(z, p[i]);
  ck_assert_int_eq(zone_check(z), 0);
  destroy_zone(z);
  ck_assert_uint_eq(VALGRIND_COUNT_ERRORS, before);
}
END_TEST

int main(void) {
  if (!RUNNING_ON_VALGRIND) {
    fprintf(stderr, "test_valgrind: not under valgrind, skipped\n");
    return 77;
  }
  Suite *s = suite_create("valgrind");
  ZT_CASE(s, read_after_free_reported);
  ZT_CASE(s, read_after_reset_reported);
  ZT_CASE(s, read_after_move_reported);
  ZT_CASE(s, lost_block_is_leak);
  ZT_CASE(s, lost_base_block_is_leak);
  ZT_CASE(s, lost_zone_is_leak);
  ZT_CASE(s, reset_and_destroy_not_leaks);
  ZT_CASE(s, fresh_bytes_undefined);
  ZT_CASE(s, zcalloc_bytes_defined);
  ZT_CASE(s, realloc_in_place_tracking);
  ZT_CASE(s, realloc_move_tracking);
  ZT_CASE(s, clean_use_no_errors);
  return zt_main(s);
}
