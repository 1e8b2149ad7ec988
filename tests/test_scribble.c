/*
 * test_scribble.c - scribbling is harmless to the allocator (contract 8): the
 * program may overwrite any byte of the zone - live blocks, freed blocks,
 * never-used space - with anything, including bytes that look like allocator
 * headers (zeros, all ones, sizes, pointers into the zone), and the zone's
 * bookkeeping does not notice: zone_check passes, walk and stats are unchanged,
 * and first fit places every later request exactly where an untouched twin
 * zone with the same history places it.
 */
#include "support.h"

#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

/* Fill patterns that a header-based allocator would misread. */
enum { PAT_ZERO, PAT_ONES, PAT_SIZES, PAT_POINTERS, PAT_RANDOM, PAT_COUNT };

static void scribble(void *p, size_t n, int pattern, uintptr_t base, zt_rng_t *rng) {
  zt_scribble(p, 0, n);  /* makes the bytes writable under memcheck */
  unsigned char *b = p;
  size_t words = n / sizeof(uint64_t);
  uint64_t *w = (uint64_t *)p;
  switch (pattern) {
  case PAT_ZERO:
    break;
  case PAT_ONES:
    memset(b, 0xff, n);
    break;
  case PAT_SIZES:
    for (size_t i = 0; i < words; i++)
      w[i] = (i % 2) ? 16 * (i + 1) : 1;
    break;
  case PAT_POINTERS:
    for (size_t i = 0; i < words; i++)
      w[i] = base + 16 * ((i * 7) % 64);
    break;
  default:
    for (size_t i = 0; i < words; i++)
      w[i] = zt_rng_next(rng);
    break;
  }
}

/* Scribbling over the whole of an empty, then a busy zone, with every
 * pattern: nothing observable changes. */
START_TEST(whole_zone_every_pattern) {
  zt_rng_t rng;
  zt_rng_seed(&rng, zt_seed());
  for (int pat = 0; pat < PAT_COUNT; pat++) {
    zone_t *z = create_zone(1 << 14);
    ck_assert_ptr_nonnull(z);
    uintptr_t base = zt_base(z);
    char *p[50];
    for (int i = 0; i < 50; i++)
      p[i] = zalloc(z, (size_t)(i * 13 % 300));
    for (int i = 0; i < 50; i += 3)
      zfree(z, p[i]);
    zt_snapshot_t before, after;
    zt_snapshot_take(z, &before);
    scribble((void *)base, zone_size(z), pat, base, &rng);
    zt_assert_check(z);
    zt_snapshot_take(z, &after);
    zt_snapshot_assert_equal(&before, &after, "after scribbling the whole zone");
    zt_snapshot_free(&after);
    zt_snapshot_free(&before);
    /* live blocks free normally, dead ones are still refused */
    for (int i = 0; i < 50; i++)
      ck_assert_int_eq(zfree(z, p[i]), i % 3 == 0 ? EINVAL : 0);
    zone_stats_t st;
    zone_stats(z, &st);
    ck_assert_uint_eq(st.used, 0);
    ck_assert_uint_eq(st.free_blocks, 1);
    ck_assert_ptr_eq(zalloc(z, 1 << 14), (void *)base);
    zt_assert_check(z);
    destroy_zone(z);
  }
}
END_TEST

/* Two zones with the same history, one scribbled after every step: the same
 * requests land on the same offsets, and walks agree at every step. */
static void twin_run(zone_t *clean, zone_t *dirty, size_t steps, uint64_t seed) {
  zt_rng_t rng, noise;
  zt_rng_seed(&rng, seed);
  zt_rng_seed(&noise, seed ^ 0xabcdef);
  uintptr_t cb = zt_base(clean), db = zt_base(dirty);
  size_t size = zone_size(clean);
  ck_assert_uint_eq(zone_size(dirty), size);
  enum { N = 64 };
  size_t off[N];
  bool live[N] = {false};
  for (size_t s = 0; s < steps; s++) {
    size_t i = zt_rng_below(&rng, N);
    size_t op = zt_rng_below(&rng, 3);
    size_t n = zt_rng_below(&rng, 400);
    char *c, *d;
    if (live[i] && op == 0) {
      ck_assert_int_eq(zfree(clean, (char *)cb + off[i]), 0);
      ck_assert_int_eq(zfree(dirty, (char *)db + off[i]), 0);
      live[i] = false;
      c = d = NULL;
    } else if (live[i]) {
      c = zrealloc(clean, (char *)cb + off[i], n);
      d = zrealloc(dirty, (char *)db + off[i], n);
      if (n == 0)
        live[i] = false;  /* freed; on ENOMEM the block stays live */
    } else {
      /* aligned requests only where the twins' bases agree modulo the
       * alignment, so that the same offsets are the right answer */
      size_t al = (size_t)64 << zt_rng_below(&rng, 4);
      if (op != 2 || cb % al != db % al)
        al = 1;
      c = zalloc_aligned(clean, al, n);
      d = zalloc_aligned(dirty, al, n);
    }
    ck_assert_msg((c == NULL) == (d == NULL), "seed %llu step %zu: one twin failed",
                  (unsigned long long)seed, s);
    if (c != NULL) {
      ck_assert_msg((uintptr_t)c - cb == (uintptr_t)d - db,
                    "seed %llu step %zu: offsets %zu and %zu differ", (unsigned long long)seed, s,
                    (size_t)((uintptr_t)c - cb), (size_t)((uintptr_t)d - db));
      off[i] = (uintptr_t)c - cb;
      live[i] = true;
    }
    /* scribble a random stretch of the dirty zone, whatever is there */
    size_t from = zt_rng_below(&noise, size / G) * G;
    size_t len = zt_rng_below(&noise, size - from) + 1;
    scribble((char *)db + from, len, (int)zt_rng_below(&noise, PAT_COUNT), db, &noise);
    if (s % 16 == 0) {
      zt_assert_check(dirty);
      zt_snapshot_t a, b;
      zt_snapshot_take(clean, &a);
      zt_snapshot_take(dirty, &b);
      ck_assert_uint_eq(a.count, b.count);
      for (size_t k = 0; k < a.count; k++) {
        ck_assert_uint_eq(a.regions[k].addr - cb, b.regions[k].addr - db);
        ck_assert_uint_eq(a.regions[k].size, b.regions[k].size);
        ck_assert_int_eq(a.regions[k].used, b.regions[k].used);
      }
      ck_assert(memcmp(&a.stats, &b.stats, sizeof a.stats) == 0);
      zt_snapshot_free(&a);
      zt_snapshot_free(&b);
    }
  }
  zt_assert_check(dirty);
  zt_assert_check(clean);
}

START_TEST(first_fit_unchanged_mapped) {
  uint64_t seed = zt_seed();
  zone_t *clean = create_zone(1 << 14);
  zone_t *dirty = create_zone(1 << 14);
  ck_assert_ptr_nonnull(clean);
  ck_assert_ptr_nonnull(dirty);
  twin_run(clean, dirty, zt_scaled(4000), seed);
  destroy_zone(clean);
  destroy_zone(dirty);
}
END_TEST

START_TEST(first_fit_unchanged_caller_buffer) {
  alignas(4096) static char cbuf[1 << 13], dbuf[1 << 13];
  uint64_t seed = zt_seed();
  zone_t *clean = create_zone_in(cbuf, sizeof cbuf, 0);
  zone_t *dirty = create_zone_in(dbuf, sizeof dbuf, 0);
  ck_assert_ptr_nonnull(clean);
  ck_assert_ptr_nonnull(dirty);
  twin_run(clean, dirty, zt_scaled(4000), seed);
  destroy_zone(clean);
  destroy_zone(dirty);
}
END_TEST

/* Only freed blocks scribbled, right after each free, with bytes that look
 * like a free-list node pointing back into the zone. */
START_TEST(freed_blocks_fake_headers) {
  zone_t *z = create_zone(4096);
  uintptr_t base = zt_base(z);
  char *p[32];
  for (int i = 0; i < 32; i++)
    p[i] = zalloc(z, 64);
  for (int i = 0; i < 32; i += 2) {
    ck_assert_int_eq(zfree(z, p[i]), 0);
    scribble(p[i], 64, PAT_POINTERS, base, NULL);
  }
  zt_assert_check(z);
  /* first fit refills the holes in address order */
  for (int i = 0; i < 32; i += 2)
    ck_assert_ptr_eq(zalloc(z, 64), p[i]);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.free_blocks, 1);
  ck_assert_uint_eq(st.blocks, 32);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Never-used space scribbled before the first allocation ever. */
START_TEST(never_used_space) {
  zone_t *z = create_zone(4096);
  uintptr_t base = zt_base(z);
  scribble((void *)base, 4096, PAT_ONES, base, NULL);
  zt_assert_check(z);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 0);
  ck_assert_uint_eq(st.free_blocks, 1);
  ck_assert_uint_eq(st.largest_free, 4096);
  for (int i = 0; i < 256; i++)
    ck_assert_ptr_eq(zalloc(z, 16), (char *)base + 16 * i);
  ck_assert_ptr_null(zalloc(z, 1));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

int main(void) {
  Suite *s = suite_create("scribble");
  ZT_CASE(s, whole_zone_every_pattern);
  ZT_CASE(s, first_fit_unchanged_mapped);
  ZT_CASE(s, first_fit_unchanged_caller_buffer);
  ZT_CASE(s, freed_blocks_fake_headers);
  ZT_CASE(s, never_used_space);
  return zt_main(s);
}
