/*
 * test_create.c - zone lifecycle (contract 2 and 9): sizes and their rounding,
 * every byte usable, EINVAL/ENOMEM on creation, flags, create_zone_in over
 * caller buffers (static, stack, shared memory, misaligned and trimmed),
 * destroy_zone with live blocks and giving a buffer back untouched, zone_reset.
 */
#include "support.h"

#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static size_t round_up(size_t n) {
  return (n + G - 1) / G * G;
}

/* zone_size is the request rounded up to G, and one block of exactly that
 * size fits: bookkeeping takes none of the zone's bytes. */
START_TEST(size_is_rounded_and_all_usable) {
  static const size_t sizes[] = {1, 15, 16, 17, 100, 4095, 4096, 4097, 65536 + 3, 1 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    zone_t *z = create_zone(sizes[i]);
    ck_assert_ptr_nonnull(z);
    ck_assert_uint_eq(zone_size(z), round_up(sizes[i]));
    void *p = zalloc(z, zone_size(z));
    ck_assert_msg(p != NULL, "zone of %zu: a block of all %zu bytes", sizes[i], zone_size(z));
    ck_assert_uint_eq(zone_block_size(z, p), zone_size(z));
    memset(p, 0xab, zone_size(z));
    zt_assert_fails(zalloc(z, 0), ENOMEM);
    zt_assert_check(z);
    destroy_zone(z);
  }
}
END_TEST

START_TEST(zero_bytes_is_einval) {
  zt_assert_fails(create_zone(0), EINVAL);
  zt_assert_fails(create_zone_flags(0, 0), EINVAL);
  zt_assert_fails(create_zone_flags(0, ZONE_GROW), EINVAL);
}
END_TEST

/* Sizes that can't be mapped give ENOMEM, including those whose rounding up
 * to G or to pages would wrap around to a small number. */
START_TEST(unmappable_size_is_enomem) {
  static const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - G + 2, SIZE_MAX / 2 + 1,
                                 (size_t)1 << 62, (size_t)1 << 56};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    errno = 0;
    ck_assert_msg(create_zone(sizes[i]) == NULL, "create_zone(%zu) succeeded", sizes[i]);
    ck_assert_msg(errno == ENOMEM, "create_zone(%zu): errno %d", sizes[i], errno);
    zt_assert_fails(create_zone_flags(sizes[i], ZONE_GROW), ENOMEM);
  }
}
END_TEST

START_TEST(flags_accepted) {
  static const unsigned flags[] = {0, ZONE_GROW, ZONE_UNLOCKED, ZONE_GROW | ZONE_UNLOCKED};
  for (size_t i = 0; i < 4; i++) {
    zone_t *z = create_zone_flags(1000, flags[i]);
    ck_assert_ptr_nonnull(z);
    ck_assert_uint_eq(zone_size(z), round_up(1000));
    void *p = zalloc(z, 10);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(zfree(z, p), 0);
    zt_assert_check(z);
    destroy_zone(z);
  }
}
END_TEST

START_TEST(unknown_flags_einval) {
  zt_assert_fails(create_zone_flags(4096, 1u << 7), EINVAL);
  zt_assert_fails(create_zone_flags(4096, ZONE_GROW | (1u << 31)), EINVAL);
  alignas(16) static unsigned char buf[256];
  zt_assert_fails(create_zone_in(buf, sizeof buf, 1u << 4), EINVAL);
}
END_TEST

/* An unlocked zone behaves the same, one thread at a time. */
START_TEST(unlocked_zone_works) {
  zone_t *z = create_zone_flags(4096, ZONE_UNLOCKED);
  ck_assert_ptr_nonnull(z);
  void *a = zalloc(z, 16), *b = zalloc(z, 16);
  ck_assert_ptr_eq((char *)a + 16, b);
  ck_assert_int_eq(zfree(z, a), 0);
  ck_assert_ptr_eq(zalloc(z, 1), a);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* ---- create_zone_in --------------------------------------------------------- */

START_TEST(in_null_memory_einval) {
  zt_assert_fails(create_zone_in(NULL, 4096, 0), EINVAL);
}
END_TEST

/* No whole granule inside [memory, memory + bytes): EINVAL. */
START_TEST(in_no_whole_granule_einval) {
  alignas(16) static unsigned char buf[64];
  zt_assert_fails(create_zone_in(buf, 0, 0), EINVAL);
  zt_assert_fails(create_zone_in(buf, G - 1, 0), EINVAL);
  /* G bytes, but starting off a granule boundary: no whole granule inside. */
  zt_assert_fails(create_zone_in(buf + 1, G, 0), EINVAL);
  zt_assert_fails(create_zone_in(buf + 5, 2 * G - 6, 0), EINVAL);
  /* One more byte and the granule at buf + G is whole. */
  zone_t *z = create_zone_in(buf + 5, 2 * G - 5, 0);
  ck_assert_ptr_nonnull(z);
  ck_assert_uint_eq(zone_size(z), G);
  ck_assert_ptr_eq(zalloc(z, 1), buf + G);
  destroy_zone(z);
}
END_TEST

START_TEST(in_grow_einval) {
  alignas(16) static unsigned char buf[1024];
  zt_assert_fails(create_zone_in(buf, sizeof buf, ZONE_GROW), EINVAL);
  zt_assert_fails(create_zone_in(buf, sizeof buf, ZONE_GROW | ZONE_UNLOCKED), EINVAL);
  zone_t *z = create_zone_in(buf, sizeof buf, ZONE_UNLOCKED);
  ck_assert_ptr_nonnull(z);
  ck_assert_uint_eq(zone_size(z), sizeof buf);
  destroy_zone(z);
}
END_TEST

/* The zone covers exactly the whole granules inside an unaligned buffer: it
 * starts at the first granule boundary at or after memory and ends at the
 * last one at or before memory + bytes; all of it can be handed out. */
START_TEST(in_trims_to_whole_granules) {
  alignas(64) static unsigned char buf[4096 + 64];
  for (size_t head = 0; head < 2 * G; head += 3) {
    for (size_t len = 3 * G; len < 3 * G + 2 * G; len += 5) {
      unsigned char *mem = buf + head;
      uintptr_t lo = ((uintptr_t)mem + G - 1) / G * G;
      uintptr_t hi = ((uintptr_t)mem + len) / G * G;
      zone_t *z = create_zone_in(mem, len, 0);
      ck_assert_ptr_nonnull(z);
      ck_assert_uint_eq(zone_size(z), hi - lo);
      ck_assert_uint_eq(zt_base(z), lo);
      void *p = zalloc(z, hi - lo);
      ck_assert_ptr_eq(p, (void *)lo);
      memset(p, 0x5a, hi - lo);
      zt_assert_fails(zalloc(z, 1), ENOMEM);
      zt_assert_check(z);
      destroy_zone(z);
    }
  }
}
END_TEST

/* Blocks of a caller-owned zone lie inside the buffer, in first-fit order. */
START_TEST(in_blocks_inside_buffer) {
  alignas(16) unsigned char stackbuf[512];
  zone_t *z = create_zone_in(stackbuf, sizeof stackbuf, 0);
  ck_assert_ptr_nonnull(z);
  ck_assert_uint_eq(zone_size(z), sizeof stackbuf);
  unsigned char *a = zalloc(z, 100);
  unsigned char *b = zalloc(z, 1);
  ck_assert_ptr_eq(a, stackbuf);
  ck_assert_ptr_eq(b, stackbuf + 112);
  ck_assert(zone_owns(z, a));
  ck_assert(zone_owns(z, b));
  memset(a, 1, 100);
  memset(b, 2, 1);
  zt_assert_check(z);
  destroy_zone(z);
  /* The stack buffer is ours again and usable. */
  memset(stackbuf, 0x77, sizeof stackbuf);
  for (size_t i = 0; i < sizeof stackbuf; i++)
    ck_assert_uint_eq(stackbuf[i], 0x77);
}
END_TEST

/* The zone never writes the caller's buffer on its own: contents written
 * before create_zone_in survive allocation, frees, reset and destroy, and the
 * buffer is fully readable and writable afterwards (memcheck: no errors). */
START_TEST(in_destroy_gives_buffer_back_untouched) {
  enum { N = 8192 };
  unsigned char *buf = malloc(N);
  ck_assert_ptr_nonnull(buf);
  zt_fill(buf, N, 42);
  zone_t *z = create_zone_in(buf, N, 0);
  ck_assert_ptr_nonnull(z);
  void *ptrs[40];
  for (int i = 0; i < 40; i++) {
    ptrs[i] = zalloc(z, (size_t)(i * 7 + 1));
    ck_assert_ptr_nonnull(ptrs[i]);
  }
  for (int i = 0; i < 40; i += 2)
    ck_assert_int_eq(zfree(z, ptrs[i]), 0);
  void *r = zrealloc(z, ptrs[1], 8);  /* shrink in place: no copy */
  ck_assert_ptr_eq(r, ptrs[1]);
  zone_reset(z);
  for (int i = 0; i < 10; i++)
    ck_assert_ptr_nonnull(zalloc(z, 33));
  zt_assert_check(z);
  destroy_zone(z);  /* with live blocks */
  ck_assert_msg(zt_verify(buf, N, 42), "the zone wrote into the caller's buffer");
  memset(buf, 0, N);
  for (size_t i = 0; i < N; i++)
    ck_assert_uint_eq(buf[i], 0);
  free(buf);
}
END_TEST

/* After destroy_zone with live blocks that the program wrote, the buffer is
 * the caller's again: defined, addressable, reusable for a new zone. */
START_TEST(in_destroy_with_live_blocks_reusable) {
  alignas(16) static unsigned char buf[2048];
  for (int round = 0; round < 3; round++) {
    zone_t *z = create_zone_in(buf, sizeof buf, 0);
    ck_assert_ptr_nonnull(z);
    unsigned char *p = zalloc(z, 1000);
    ck_assert_ptr_eq(p, buf);
    memset(p, round, 1000);
    unsigned char *q = zalloc(z, 5);
    memset(q, 9, 5);
    destroy_zone(z);
    /* Read every byte: what the program wrote is still there, the rest is the
     * previous round's. */
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof buf; i++)
      sum += buf[i];
    ck_assert_uint_ge(sum, 1000u * (unsigned)round);
    ck_assert_uint_eq(buf[0], (unsigned)round);
    ck_assert_uint_eq(buf[1008], 9);
    memset(buf, 0xee, sizeof buf);
  }
}
END_TEST

/* Shared memory is just another caller buffer. */
START_TEST(in_shared_memory) {
  size_t len = 1 << 16;
  void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ck_assert_ptr_ne(mem, MAP_FAILED);
  zone_t *z = create_zone_in(mem, len, 0);
  ck_assert_ptr_nonnull(z);
  ck_assert_uint_eq(zone_size(z), len);
  void *a = zalloc(z, len / 2);
  void *b = zalloc(z, len / 2);
  ck_assert_ptr_eq(a, mem);
  ck_assert_ptr_eq(b, (char *)mem + len / 2);
  ck_assert_ptr_null(zalloc(z, 1));
  zt_assert_check(z);
  destroy_zone(z);
  memset(mem, 1, len);
  ck_assert_int_eq(munmap(mem, len), 0);
}
END_TEST

/* Two zones over disjoint halves of one buffer do not interfere. */
START_TEST(in_two_zones_one_buffer) {
  alignas(16) static unsigned char buf[1024];
  zone_t *a = create_zone_in(buf, 512, 0);
  zone_t *b = create_zone_in(buf + 512, 512, 0);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  void *pa = zalloc(a, 512), *pb = zalloc(b, 512);
  ck_assert_ptr_eq(pa, buf);
  ck_assert_ptr_eq(pb, buf + 512);
  ck_assert(!zone_owns(a, pb));
  ck_assert(!zone_owns(b, pa));
  ck_assert_int_eq(zfree(a, pb), EINVAL);
  ck_assert_int_eq(zfree(b, pa), EINVAL);
  ck_assert_int_eq(zfree(a, pa), 0);
  ck_assert_int_eq(zfree(b, pb), 0);
  destroy_zone(a);
  destroy_zone(b);
}
END_TEST

/* ---- destroy and reset ------------------------------------------------------ */

/* destroy_zone releases live blocks too (memcheck: no leak), and NULL is a
 * no-op. */
START_TEST(destroy_with_live_blocks) {
  for (int i = 0; i < 20; i++) {
    zone_t *z = create_zone_flags(1 << 16, i % 2 ? ZONE_GROW : 0);
    ck_assert_ptr_nonnull(z);
    for (int k = 0; k < 100; k++) {
      void *p = zalloc(z, (size_t)k * 5);
      ck_assert_ptr_nonnull(p);
      memset(p, k, (size_t)k * 5);
    }
    destroy_zone(z);
  }
  destroy_zone(NULL);
}
END_TEST

START_TEST(reset_frees_everything_keeps_zone) {
  zone_t *z = create_zone(4096);
  ck_assert_ptr_nonnull(z);
  uintptr_t base = zt_base(z);
  void *p[10];
  for (int i = 0; i < 10; i++)
    p[i] = zalloc(z, 100);
  ck_assert_int_eq(zfree(z, p[3]), 0);
  zone_reset(z);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.size, 4096);
  ck_assert_uint_eq(zone_size(z), 4096);
  ck_assert_uint_eq(st.used, 0);
  ck_assert_uint_eq(st.free, 4096);
  ck_assert_uint_eq(st.blocks, 0);
  ck_assert_uint_eq(st.free_blocks, 1);
  ck_assert_uint_eq(st.largest_free, 4096);
  for (int i = 0; i < 10; i++) {
    ck_assert(!zone_owns(z, p[i]));
    ck_assert_uint_eq(zone_block_size(z, p[i]), 0);
    ck_assert_int_eq(zfree(z, p[i]), EINVAL);
  }
  zt_assert_check(z);
  /* The whole zone is free again, from its first byte. */
  void *all = zalloc(z, 4096);
  ck_assert_ptr_eq(all, (void *)base);
  zone_reset(z);
  zone_reset(NULL);
  ck_assert_ptr_eq(zalloc(z, 1), (void *)base);
  destroy_zone(z);
}
END_TEST

/* Many zones at once, each independent and released. */
START_TEST(many_zones) {
  enum { N = 64 };
  zone_t *z[N];
  for (int i = 0; i < N; i++) {
    z[i] = create_zone((size_t)(i + 1) * 100);
    ck_assert_ptr_nonnull(z[i]);
    ck_assert_uint_eq(zone_size(z[i]), round_up((size_t)(i + 1) * 100));
  }
  for (int i = 0; i < N; i++) {
    void *p = zalloc(z[i], zone_size(z[i]));
    ck_assert_ptr_nonnull(p);
    for (int k = 0; k < N; k++)
      ck_assert(zone_owns(z[k], p) == (k == i));
  }
  for (int i = 0; i < N; i++)
    destroy_zone(z[i]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("create");
  ZT_CASE(s, size_is_rounded_and_all_usable);
  ZT_CASE(s, zero_bytes_is_einval);
  ZT_CASE(s, unmappable_size_is_enomem);
  ZT_CASE(s, flags_accepted);
  ZT_CASE(s, unknown_flags_einval);
  ZT_CASE(s, unlocked_zone_works);
  ZT_CASE(s, in_null_memory_einval);
  ZT_CASE(s, in_no_whole_granule_einval);
  ZT_CASE(s, in_grow_einval);
  ZT_CASE(s, in_trims_to_whole_granules);
  ZT_CASE(s, in_blocks_inside_buffer);
  ZT_CASE(s, in_destroy_gives_buffer_back_untouched);
  ZT_CASE(s, in_destroy_with_live_blocks_reusable);
  ZT_CASE(s, in_shared_memory);
  ZT_CASE(s, in_two_zones_one_buffer);
  ZT_CASE(s, destroy_with_live_blocks);
  ZT_CASE(s, reset_frees_everything_keeps_zone);
  ZT_CASE(s, many_zones);
  return zt_main(s);
}
