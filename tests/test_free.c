/*
 * test_free.c - zfree and bad input (contract 7): NULL is fine; a double free,
 * an interior, misaligned, foreign, stack, wild or never-allocated pointer is
 * EINVAL and changes nothing (zone_walk and zone_stats compared before and
 * after, zone_check after); the same pointers are rejected by zrealloc and
 * unknown to zone_owns and zone_block_size; a NULL zone is refused by every
 * call.
 */
#include "support.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* A zone of 4096 bytes with blocks a (48 bytes), b (16, freed), c (112),
 * d (16), then free space from 192 on. */
typedef struct fixture {
  zone_t *z;
  char *base;
  char *a, *b, *c, *d;
} fixture_t;

static fixture_t setup(void) {
  fixture_t f;
  f.z = create_zone(4096);
  ck_assert_ptr_nonnull(f.z);
  f.base = (char *)zt_base(f.z);
  f.a = zalloc(f.z, 48);
  f.b = zalloc(f.z, 16);
  f.c = zalloc(f.z, 100);
  f.d = zalloc(f.z, 16);
  ck_assert_ptr_eq(f.a, f.base);
  ck_assert_ptr_eq(f.d, f.base + 176);
  ck_assert_int_eq(zfree(f.z, f.b), 0);
  return f;
}

/* p is not a live block of z: every call that takes a block refuses it and
 * the zone stays exactly as it was. */
static void assert_rejected(zone_t *z, void *p, const char *what) {
  zt_snapshot_t before;
  zt_snapshot_take(z, &before);

  ck_assert_msg(zfree(z, p) == EINVAL, "zfree(%s %p) did not return EINVAL", what, p);
  zt_assert_unchanged(z, &before, what);
  ck_assert_msg(zone_check(z) == 0, "zone_check fails after zfree(%s)", what);

  ck_assert_msg(!zone_owns(z, p), "zone_owns(%s)", what);
  ck_assert_msg(zone_block_size(z, p) == 0, "zone_block_size(%s) = %zu", what,
                zone_block_size(z, p));

  static const size_t sizes[] = {1, 32, 4096};
  for (size_t i = 0; i < 3; i++) {
    errno = 0;
    ck_assert_msg(zrealloc(z, p, sizes[i]) == NULL, "zrealloc(%s, %zu) succeeded", what,
                  sizes[i]);
    ck_assert_msg(errno == EINVAL, "zrealloc(%s, %zu): errno %d", what, sizes[i], errno);
  }
  errno = 0;
  ck_assert_ptr_null(zrealloc(z, p, 0));
  ck_assert_msg(errno == EINVAL, "zrealloc(%s, 0): errno %d", what, errno);

  zt_assert_unchanged(z, &before, what);
  zt_snapshot_free(&before);
  ck_assert_int_eq(zone_check(z), 0);
}

START_TEST(free_null_ptr_ok) {
  fixture_t f = setup();
  zt_snapshot_t before;
  zt_snapshot_take(f.z, &before);
  ck_assert_int_eq(zfree(f.z, NULL), 0);
  zt_assert_unchanged(f.z, &before, "zfree(NULL)");
  zt_snapshot_free(&before);
  destroy_zone(f.z);
}
END_TEST

/* A valid free returns 0 and the block is gone at once. */
START_TEST(free_valid_block) {
  fixture_t f = setup();
  ck_assert(zone_owns(f.z, f.c));
  ck_assert_int_eq(zfree(f.z, f.c), 0);
  ck_assert(!zone_owns(f.z, f.c));
  ck_assert_uint_eq(zone_block_size(f.z, f.c), 0);
  zone_stats_t st;
  zone_stats(f.z, &st);
  ck_assert_uint_eq(st.blocks, 2);
  ck_assert_uint_eq(st.used, 64);
  zt_assert_check(f.z);
  destroy_zone(f.z);
}
END_TEST

START_TEST(double_free) {
  fixture_t f = setup();
  assert_rejected(f.z, f.b, "already freed block");
  ck_assert_int_eq(zfree(f.z, f.c), 0);
  assert_rejected(f.z, f.c, "block freed twice");
  /* b and c merged into one region with a: still not blocks. */
  ck_assert_int_eq(zfree(f.z, f.a), 0);
  assert_rejected(f.z, f.a, "freed block merged with neighbours");
  assert_rejected(f.z, f.b, "freed block in the middle of a merged region");
  destroy_zone(f.z);
}
END_TEST

/* The start of a granule inside a block, or any byte inside it. */
START_TEST(interior_pointer) {
  fixture_t f = setup();
  assert_rejected(f.z, f.a + G, "second granule of a block");
  assert_rejected(f.z, f.a + 2 * G, "last granule of a block");
  assert_rejected(f.z, f.c + 96, "last granule of a 112-byte block");
  assert_rejected(f.z, f.c + 111, "last byte of a block");
  destroy_zone(f.z);
}
END_TEST

START_TEST(misaligned_pointer) {
  fixture_t f = setup();
  for (size_t k = 1; k < G; k++) {
    assert_rejected(f.z, f.a + k, "misaligned in a block");
    assert_rejected(f.z, f.d + k, "misaligned in the last block");
  }
  assert_rejected(f.z, f.b + 8, "misaligned in a freed block");
  destroy_zone(f.z);
}
END_TEST

/* A block of another zone (of the same size, created next) is refused by
 * this zone and stays live in its own. */
START_TEST(other_zones_block) {
  fixture_t f = setup();
  zone_t *other = create_zone(4096);
  ck_assert_ptr_nonnull(other);
  char *o1 = zalloc(other, 48);
  char *o2 = zalloc(other, 16);
  zt_snapshot_t before;
  zt_snapshot_take(other, &before);
  assert_rejected(f.z, o1, "another zone's first block");
  assert_rejected(f.z, o2, "another zone's block");
  zt_assert_unchanged(other, &before, "the other zone");
  /* ... and the other way round. */
  assert_rejected(other, f.a, "this zone's block in the other zone");
  assert_rejected(other, f.c, "this zone's block in the other zone");
  ck_assert_int_eq(zfree(other, o2), 0);
  ck_assert_int_eq(zfree(f.z, f.c), 0);
  zt_assert_check(other);
  zt_assert_check(f.z);
  zt_snapshot_free(&before);
  destroy_zone(other);
  destroy_zone(f.z);
}
END_TEST

/* A block of a caller-buffer zone in a mapped zone and the other way round. */
START_TEST(other_zone_caller_buffer) {
  fixture_t f = setup();
  _Alignas(16) static char buf[1024];
  zone_t *in = create_zone_in(buf, sizeof buf, 0);
  ck_assert_ptr_nonnull(in);
  char *p = zalloc(in, 32);
  ck_assert_ptr_eq(p, buf);
  assert_rejected(f.z, p, "a caller-buffer zone's block");
  assert_rejected(in, f.a, "a mapped zone's block");
  ck_assert_int_eq(zfree(in, p), 0);
  destroy_zone(in);
  destroy_zone(f.z);
}
END_TEST

START_TEST(stack_pointer) {
  fixture_t f = setup();
  _Alignas(16) char local[64];
  memset(local, 0, sizeof local);
  assert_rejected(f.z, local, "a stack array");
  assert_rejected(f.z, &f, "a stack struct");
  destroy_zone(f.z);
}
END_TEST

/* Pointers that point nowhere the zone knows: small, huge, just outside the
 * zone on either side, a static object, a function. */
START_TEST(wild_pointer) {
  fixture_t f = setup();
  static int static_object;
  assert_rejected(f.z, (void *)(uintptr_t)0x10, "0x10");
  assert_rejected(f.z, (void *)(uintptr_t)1, "0x1");
  assert_rejected(f.z, (void *)(uintptr_t)0xdeadbeef0, "0xdeadbeef0");
  assert_rejected(f.z, (void *)(UINTPTR_MAX & ~(uintptr_t)15), "top of address space");
  assert_rejected(f.z, (void *)(UINTPTR_MAX), "UINTPTR_MAX");
  assert_rejected(f.z, f.base - G, "one granule before the zone");
  assert_rejected(f.z, f.base - 4096, "one page before the zone");
  assert_rejected(f.z, f.base + 4096, "the end of the zone");
  assert_rejected(f.z, f.base + 4096 + G, "past the end of the zone");
  assert_rejected(f.z, &static_object, "a static object");
  destroy_zone(f.z);
}
END_TEST

/* Granule boundaries inside the zone's free space that were never handed
 * out: the start of the tail and spots deep inside it. */
START_TEST(never_allocated_spot) {
  fixture_t f = setup();
  assert_rejected(f.z, f.base + 192, "start of the never-used tail");
  assert_rejected(f.z, f.base + 2048, "middle of the never-used tail");
  assert_rejected(f.z, f.base + 4096 - G, "last granule of the zone");
  /* A fresh zone: nothing at all is a block, not even its first byte. */
  zone_t *z = create_zone(1024);
  ck_assert_ptr_nonnull(z);
  char *base = (char *)zt_base(z);
  for (size_t off = 0; off < 1024; off += G)
    assert_rejected(z, base + off, "granule of an empty zone");
  destroy_zone(z);
  destroy_zone(f.z);
}
END_TEST

/* Bad pointers after zone_reset: every old block is gone. */
START_TEST(stale_after_reset) {
  fixture_t f = setup();
  zone_reset(f.z);
  assert_rejected(f.z, f.a, "block from before a reset");
  assert_rejected(f.z, f.c, "block from before a reset");
  assert_rejected(f.z, f.d, "block from before a reset");
  destroy_zone(f.z);
}
END_TEST

/* A NULL zone: allocation NULL/EINVAL, zfree EINVAL, zone_check nonzero,
 * queries 0/false, zone_walk EINVAL, destroy and reset no-ops. */
START_TEST(null_zone) {
  fixture_t f = setup();
  static const size_t n = 16;
  zt_assert_fails(zalloc(NULL, n), EINVAL);
  zt_assert_fails(zcalloc(NULL, 1, n), EINVAL);
  zt_assert_fails(zrealloc(NULL, NULL, n), EINVAL);
  zt_assert_fails(zrealloc(NULL, f.a, n), EINVAL);
  zt_assert_fails(zalloc_aligned(NULL, 64, n), EINVAL);
  ck_assert_int_eq(zfree(NULL, f.a), EINVAL);
  ck_assert_int_ne(zone_check(NULL), 0);
  ck_assert_uint_eq(zone_size(NULL), 0);
  ck_assert_uint_eq(zone_block_size(NULL, f.a), 0);
  ck_assert(!zone_owns(NULL, f.a));
  zone_stats_t st;
  memset(&st, 0xff, sizeof st);
  zone_stats(NULL, &st);
  zone_stats_t zero;
  memset(&zero, 0, sizeof zero);
  ck_assert(memcmp(&st, &zero, sizeof st) == 0);
  ck_assert_int_eq(zone_walk(NULL, NULL, NULL), EINVAL);
  destroy_zone(NULL);
  zone_reset(NULL);
  FILE *out = tmpfile();
  ck_assert_ptr_nonnull(out);
  zdump(NULL, out);
  fclose(out);
  /* The real zone saw none of it. */
  ck_assert(zone_owns(f.z, f.a));
  zt_assert_check(f.z);
  destroy_zone(f.z);
}
END_TEST

/* Freed space is reused by first fit: free then allocate the same size
 * returns the same address. */
START_TEST(freed_space_reused) {
  fixture_t f = setup();
  ck_assert_ptr_eq(zalloc(f.z, 16), f.b);
  ck_assert_int_eq(zfree(f.z, f.c), 0);
  ck_assert_ptr_eq(zalloc(f.z, 112), f.c);
  zt_assert_check(f.z);
  destroy_zone(f.z);
}
END_TEST

/* Frees inside a word with used granules below and above (its edge runs
 * unchanged) grow its longest free run: the next fit of that length must
 * find it, also when the word's reach came from a longer run across into
 * the next word (granules 62-65) and the run inside it grows past that. */
START_TEST(interior_frees_grow_the_longest_run) {
  zone_t *z = create_zone(4096);
  ck_assert_ptr_nonnull(z);
  char *base = (char *)zt_base(z);
  char *p[128];
  for (int i = 0; i < 128; i++) {
    p[i] = zalloc(z, 16);
    ck_assert_ptr_eq(p[i], base + 16 * i);
  }
  static const int across[] = {62, 63, 64, 65};
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(zfree(z, p[across[i]]), 0);
  for (int i = 20; i <= 24; i++) {
    ck_assert_int_eq(zfree(z, p[i]), 0);  /* the run 20..i, used on both sides */
    zt_assert_check(z);
  }
  /* Runs of 5 (20-24) and 4 (62-65): the lowest fit of 5 is at 20. */
  char *q = zalloc(z, 5 * 16);
  ck_assert_ptr_eq(q, base + 16 * 20);
  ck_assert_int_eq(zfree(z, q), 0);
  /* One more between two used granules, apart: 40, 42, then 41 joins them. */
  ck_assert_int_eq(zfree(z, p[40]), 0);
  ck_assert_int_eq(zfree(z, p[42]), 0);
  ck_assert_int_eq(zfree(z, p[41]), 0);
  zt_assert_check(z);
  ck_assert_ptr_eq(zalloc(z, 3 * 16), base + 16 * 20);
  ck_assert_ptr_eq(zalloc(z, 3 * 16), base + 16 * 40);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A run of 65 to 127 granules through a wholly free word: word 0's top
 * run (granules 50-63), all of word 1 and word 2's bottom run (from 128).
 * Freed in an order that makes the last change the one two words above the
 * run's start (word 2's bottom run, seen through the free word 1), it must
 * be found at 50 for its exact length and no more; a granule taken at 128
 * (an aligned request: first fit would take 50) shortens it again through
 * the same free word. */
START_TEST(middling_runs_through_a_free_word) {
  enum { N = 1024 };
  zone_t *z = create_zone(N * G);
  ck_assert_ptr_nonnull(z);
  char *base = (char *)zt_base(z);
  static char *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = zalloc(z, G);
    ck_assert_ptr_eq(p[i], base + G * i);
  }
  for (int i = 700; i < 801; i++)  /* a run of 101 above, the next fit of a longer request */
    ck_assert_int_eq(zfree(z, p[i]), 0);
  for (int i = 50; i < 128; i++)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  zt_assert_check(z);
  for (int i = 128; i < 141; i++) {  /* word 2's bottom run grows under word 0's reach */
    ck_assert_int_eq(zfree(z, p[i]), 0);
    zt_assert_check(z);
  }
  /* 14 + 64 + 13 = 91 granules at 50. */
  ck_assert_ptr_eq(zalloc(z, 92 * G), base + G * 700);
  ck_assert_int_eq(zfree(z, base + G * 700), 0);
  char *q = zalloc(z, 91 * G);
  ck_assert_ptr_eq(q, base + G * 50);
  ck_assert_int_eq(zfree(z, q), 0);
  zt_assert_check(z);
  /* A granule taken at 128: 14 + 64 = 78 at 50. */
  char *at128 = zalloc_aligned(z, 128 * G, G);
  ck_assert_ptr_eq(at128, base + G * 128);
  zt_assert_check(z);
  ck_assert_ptr_eq(zalloc(z, 79 * G), base + G * 700);
  q = zalloc(z, 78 * G);
  ck_assert_ptr_eq(q, base + G * 50);
  zt_assert_check(z);
  /* A granule taken at 50, from below: 13 + 64 = 77 at 51. */
  ck_assert_int_eq(zfree(z, q), 0);
  ck_assert_ptr_eq(zalloc(z, G), base + G * 50);
  ck_assert_ptr_eq(zalloc(z, 77 * G), base + G * 51);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Blocks over two words: their take and their free (the end read off the
 * next word, where the neighbours' ends are too), also across a chunk's
 * edge (granule 512: the end kept in cross[]) and for a block of more than
 * 64 granules over two words; and a block over four words (the next word
 * holds no end) beside them. In a zone of 16-byte blocks, each run is freed,
 * taken whole by the first fit of its length, freed again: exactly its
 * granules come back (one more granule fits nowhere) and its neighbours stay
 * live blocks of their size. */
START_TEST(blocks_across_word_edges) {
  enum { N = 1024 };
  zone_t *z = create_zone(N * 16);
  ck_assert_ptr_nonnull(z);
  char *base = (char *)zt_base(z);
  static char *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = zalloc(z, 16);
    ck_assert_ptr_eq(p[i], base + 16 * i);
  }
  ck_assert_ptr_null(zalloc(z, 16));
  static const struct { int at, len; } runs[] = {{60, 8}, {508, 8}, {127, 2}, {740, 80}, {830, 140}};
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
    int at = runs[r].at, len = runs[r].len;
    for (int i = at; i < at + len; i++)
      ck_assert_int_eq(zfree(z, p[i]), 0);
    char *q = zalloc(z, (size_t)len * 16);
    ck_assert_ptr_eq(q, base + 16 * at);
    ck_assert_uint_eq(zone_block_size(z, q), (size_t)len * 16);
    zt_assert_check(z);
    ck_assert_int_eq(zfree(z, q), 0);
    zt_assert_check(z);
    ck_assert_uint_eq(zone_block_size(z, p[at - 1]), 16);
    ck_assert_uint_eq(zone_block_size(z, p[at + len]), 16);
    ck_assert_ptr_null(zalloc(z, (size_t)(len + 1) * 16));
    q = zalloc(z, (size_t)len * 16);
    ck_assert_ptr_eq(q, base + 16 * at);
    zt_assert_check(z);
  }
  destroy_zone(z);
}
END_TEST

int main(void) {
  Suite *s = suite_create("free");
  ZT_CASE(s, free_null_ptr_ok);
  ZT_CASE(s, free_valid_block);
  ZT_CASE(s, double_free);
  ZT_CASE(s, interior_pointer);
  ZT_CASE(s, misaligned_pointer);
  ZT_CASE(s, other_zones_block);
  ZT_CASE(s, other_zone_caller_buffer);
  ZT_CASE(s, stack_pointer);
  ZT_CASE(s, wild_pointer);
  ZT_CASE(s, never_allocated_spot);
  ZT_CASE(s, stale_after_reset);
  ZT_CASE(s, null_zone);
  ZT_CASE(s, freed_space_reused);
  ZT_CASE(s, interior_frees_grow_the_longest_run);
  ZT_CASE(s, blocks_across_word_edges);
  ZT_CASE(s, middling_runs_through_a_free_word);
  return zt_main(s);
}
