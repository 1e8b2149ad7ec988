/*
 * test_model.c - the randomized differential test: long seeded sequences of
 * zalloc, zcalloc, zrealloc, zalloc_aligned, zfree (good and bad pointers)
 * and zone_reset run on a real zone and on the reference model (model.h) side
 * by side. After every step the returned address (as an offset from the
 * zone's base), the errno of a failure, the whole zone_walk layout and
 * zone_stats must equal the model's, zone_check must pass, and every live
 * block must still hold its contents. A failure names the seed; rerun it with
 * ZONE_TEST_SEED=<seed>. The model is first checked by hand on small cases.
 */
#include "support.h"
#include "model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the model itself, by hand --------------------------------------------- */

START_TEST(model_by_hand) {
  zone_model_t m;
  int err;
  ck_assert_int_eq(model_init(&m, 0x10000, 1024), 0);  /* 64 granules */
  ck_assert_uint_eq(model_alloc(&m, 0, &err), 0);
  ck_assert_uint_eq(model_block_size(&m, 0), G);
  ck_assert_uint_eq(model_alloc(&m, 17, &err), 1);      /* 2 granules: 1..2 */
  ck_assert_uint_eq(model_alloc(&m, 16, &err), 3);
  ck_assert_int_eq(model_free(&m, 1), 0);
  ck_assert_int_eq(model_free(&m, 1), EINVAL);
  ck_assert_int_eq(model_free(&m, 2), EINVAL);
  ck_assert_int_eq(model_free(&m, MODEL_NONE), 0);
  ck_assert_uint_eq(model_alloc(&m, 48, &err), 4);      /* hole 1..2 too small */
  ck_assert_uint_eq(model_alloc(&m, 1, &err), 1);       /* back to the hole */
  /* aligned: base 0x10000, so granule 4 (0x10040) is 64-aligned */
  ck_assert_uint_eq(model_alloc_aligned(&m, 64, 16, &err), 8);
  ck_assert_uint_eq(model_alloc_aligned(&m, 3, 16, &err), MODEL_NONE);
  ck_assert_int_eq(err, EINVAL);
  ck_assert_uint_eq(model_alloc(&m, 16, &err), 2);
  ck_assert_uint_eq(model_alloc(&m, 16, &err), 7);
  ck_assert_uint_eq(model_alloc(&m, 2000, &err), MODEL_NONE);
  ck_assert_int_eq(err, ENOMEM);
  /* realloc: grow in place into free 9.., shrink, move as if freed */
  ck_assert_uint_eq(model_realloc(&m, 8, 64, &err), 8);  /* 8..11 */
  ck_assert_uint_eq(model_block_size(&m, 8), 64);
  ck_assert_uint_eq(model_realloc(&m, 8, 16, &err), 8);
  ck_assert_uint_eq(model_alloc(&m, 16, &err), 9);
  ck_assert_int_eq(model_free(&m, 7), 0);
  /* 7 free, 8 used (1 granule), 9 used: grow 8 to 2 granules can't stay;
   * as if freed, 7..8 is a run of 2: it moves down to 7 */
  ck_assert_uint_eq(model_realloc(&m, 8, 32, &err), 7);
  ck_assert_uint_eq(model_block_size(&m, 7), 32);
  ck_assert_uint_eq(model_block_size(&m, 8), 0);
  size_t len;
  bool used;
  ck_assert(model_next(&m, 0, &len, &used));
  ck_assert(used);
  ck_assert_uint_eq(len, 1);
  zone_stats_t st;
  model_stats(&m, &st);
  ck_assert_uint_eq(st.size, 1024);
  ck_assert_uint_eq(st.blocks, 7);
  ck_assert_uint_eq(st.used, 10 * G);
  ck_assert_uint_eq(st.free_blocks, 1);
  ck_assert_uint_eq(st.largest_free, 1024 - 10 * G);
  /* realloc failure keeps the block */
  ck_assert_uint_eq(model_realloc(&m, 7, 4096, &err), MODEL_NONE);
  ck_assert_int_eq(err, ENOMEM);
  ck_assert_uint_eq(model_block_size(&m, 7), 32);
  ck_assert_uint_eq(model_calloc(&m, SIZE_MAX, 2, &err), MODEL_NONE);
  ck_assert_int_eq(err, ENOMEM);
  ck_assert_uint_eq(model_realloc(&m, 7, 0, &err), MODEL_NONE);
  ck_assert_int_eq(err, 0);
  ck_assert_uint_eq(model_block_size(&m, 7), 0);
  model_reset(&m);
  model_stats(&m, &st);
  ck_assert_uint_eq(st.used, 0);
  ck_assert_uint_eq(st.peak_used, 12 * G);
  model_fini(&m);
}
END_TEST

/* ---- the differential run ------------------------------------------------------ */

enum { HANDLES = 96 };

typedef struct run {
  zone_t *z;
  zone_model_t m;
  zt_rng_t rng;
  uint64_t seed;
  size_t step;
  size_t off[HANDLES];   /* granule offset of each live handle */
  size_t len[HANDLES];   /* bytes requested */
  uint64_t tag[HANDLES];
  bool live[HANDLES];
  uint64_t next_tag;
  char why[320];
} run_t;

#define RUN_ASSERT(r, cond, ...)                                                            \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      snprintf((r)->why, sizeof(r)->why, __VA_ARGS__);                                      \
      ck_abort_msg("seed %llu step %zu: %s (rerun: ZONE_TEST_SEED=%llu, trace: "            \
                   "ZONE_TEST_TRACE=1)",                                                    \
                   (unsigned long long)(r)->seed, (r)->step, (r)->why,                      \
                   (unsigned long long)(r)->seed);                                          \
    }                                                                                       \
  } while (0)

/* With ZONE_TEST_TRACE set, every operation and its result go to stderr:
 * the raw material for a minimal reproducer of a failing seed. */
static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...) {
  static int on = -1;
  if (on < 0)
    on = getenv("ZONE_TEST_TRACE") != NULL;
  if (!on)
    return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

static size_t pick_size(run_t *r) {
  size_t zone_bytes = r->m.ngran * G;
  size_t k = zt_rng_below(&r->rng, 100);
  if (k < 45)
    return zt_rng_below(&r->rng, 65);
  if (k < 80)
    return zt_rng_below(&r->rng, 1025);
  if (k < 95)
    return zt_rng_below(&r->rng, zone_bytes / 4 + 1);
  if (k < 98)
    return zt_rng_below(&r->rng, zone_bytes + 2 * G);
  static const size_t huge[] = {SIZE_MAX, SIZE_MAX - G + 1, SIZE_MAX / 2 + 1};
  return huge[zt_rng_below(&r->rng, 3)];
}

static size_t pick_alignment(run_t *r) {
  if (zt_rng_below(&r->rng, 10) == 0) {
    static const size_t bad[] = {0, 3, 24, 48, 1000, SIZE_MAX};
    return bad[zt_rng_below(&r->rng, 6)];
  }
  return (size_t)1 << zt_rng_below(&r->rng, 14);  /* 1 .. 8192 */
}

static int free_handle(run_t *r) {
  for (int i = 0; i < HANDLES; i++)
    if (!r->live[i])
      return i;
  return -1;
}

static int live_handle(run_t *r) {
  int start = (int)zt_rng_below(&r->rng, HANDLES);
  for (int k = 0; k < HANDLES; k++) {
    int i = (start + k) % HANDLES;
    if (r->live[i])
      return i;
  }
  return -1;
}

/* The zone's answer p (with its errno) against the model's answer mo. */
static void compare_result(run_t *r, const char *op, void *p, int zerr, size_t mo, int merr) {
  trace("step %zu: %s -> %s%zd (errno %d); model %zd (err %d)\n", r->step, op,
        p ? "offset " : "NULL ", p ? (ptrdiff_t)(((uintptr_t)p - r->m.base) / G) : -1,
        p ? 0 : zerr, mo == MODEL_NONE ? -1 : (ptrdiff_t)mo, merr);
  if (mo == MODEL_NONE) {
    RUN_ASSERT(r, p == NULL, "%s returned %p (offset %zu), the model fails with %d", op, p,
               (size_t)(((uintptr_t)p - r->m.base) / G), merr);
    if (merr != 0)
      RUN_ASSERT(r, zerr == merr, "%s failed with errno %d, the model says %d", op, zerr, merr);
  } else {
    RUN_ASSERT(r, p != NULL, "%s failed (errno %d), the model gives offset %zu", op, zerr, mo);
    RUN_ASSERT(r, p == model_addr(&r->m, mo), "%s returned offset %zd, the model says %zu", op,
               (ptrdiff_t)((uintptr_t)p - r->m.base) / (ptrdiff_t)G, mo);
  }
}

static void track(run_t *r, int h, size_t off, size_t len, bool zeroed) {
  void *p = model_addr(&r->m, off);
  if (zeroed) {
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
      RUN_ASSERT(r, b[i] == 0, "zcalloc byte %zu of %zu is not zero", i, len);
  }
  r->live[h] = true;
  r->off[h] = off;
  r->len[h] = len;
  r->tag[h] = ++r->next_tag;
  zt_fill(p, len, r->tag[h]);
}

static void step_alloc(run_t *r) {
  int h = free_handle(r);
  if (h < 0)
    return;
  size_t n = pick_size(r);
  int merr;
  errno = 0;
  void *p = zalloc(r->z, n);
  int zerr = errno;
  size_t mo = model_alloc(&r->m, n, &merr);
  char op[64];
  snprintf(op, sizeof op, "zalloc(%zu)", n);
  compare_result(r, op, p, zerr, mo, merr);
  if (p != NULL)
    track(r, h, mo, n, false);
}

static void step_calloc(run_t *r) {
  int h = free_handle(r);
  if (h < 0)
    return;
  size_t count, size;
  if (zt_rng_below(&r->rng, 20) == 0) {
    count = SIZE_MAX / 2 + 1 + zt_rng_below(&r->rng, 1000);
    size = 2 + zt_rng_below(&r->rng, 10);
  } else {
    count = zt_rng_below(&r->rng, 40);
    size = count ? pick_size(r) / count : pick_size(r);
    if (size > (1u << 20))
      size = zt_rng_below(&r->rng, 100);
  }
  int merr;
  errno = 0;
  void *p = zcalloc(r->z, count, size);
  int zerr = errno;
  size_t mo = model_calloc(&r->m, count, size, &merr);
  char op[64];
  snprintf(op, sizeof op, "zcalloc(%zu, %zu)", count, size);
  compare_result(r, op, p, zerr, mo, merr);
  if (p != NULL)
    track(r, h, mo, count * size, true);
}

static void step_aligned(run_t *r) {
  int h = free_handle(r);
  if (h < 0)
    return;
  size_t a = pick_alignment(r);
  size_t n = pick_size(r);
  int merr;
  errno = 0;
  void *p = zalloc_aligned(r->z, a, n);
  int zerr = errno;
  size_t mo = model_alloc_aligned(&r->m, a, n, &merr);
  char op[64];
  snprintf(op, sizeof op, "zalloc_aligned(%zu, %zu)", a, n);
  compare_result(r, op, p, zerr, mo, merr);
  if (p != NULL)
    track(r, h, mo, n, false);
}

static void step_free(run_t *r) {
  int h = live_handle(r);
  if (h < 0)
    return;
  void *p = model_addr(&r->m, r->off[h]);
  RUN_ASSERT(r, zt_verify(p, r->len[h], r->tag[h]), "block at offset %zu lost its contents",
             r->off[h]);
  trace("step %zu: zfree(offset %zu)\n", r->step, r->off[h]);
  int zr = zfree(r->z, p);
  int mr = model_free(&r->m, r->off[h]);
  RUN_ASSERT(r, zr == mr, "zfree returned %d, the model %d", zr, mr);
  r->live[h] = false;
}

static void step_realloc(run_t *r) {
  int h = live_handle(r);
  size_t n = zt_rng_below(&r->rng, 8) == 0 ? 0 : pick_size(r);
  size_t off = h < 0 ? MODEL_NONE : r->off[h];
  if (h < 0) {
    h = free_handle(r);
    if (h < 0)
      return;
  }
  void *old = model_addr(&r->m, off);
  int merr;
  errno = 0;
  void *p = zrealloc(r->z, old, n);
  int zerr = errno;
  size_t mo = model_realloc(&r->m, off, n, &merr);
  char op[64];
  snprintf(op, sizeof op, "zrealloc(offset %zd, %zu)", off == MODEL_NONE ? -1 : (ptrdiff_t)off,
           n);
  compare_result(r, op, p, zerr, mo, merr);
  if (off == MODEL_NONE) {
    if (p != NULL)
      track(r, h, mo, n, false);
    return;
  }
  if (p == NULL) {
    if (n == 0 && merr == 0) {
      r->live[h] = false;  /* freed */
      return;
    }
    RUN_ASSERT(r, zt_verify(old, r->len[h], r->tag[h]), "failed zrealloc changed the block");
    return;
  }
  size_t keep = r->len[h] < n ? r->len[h] : n;
  RUN_ASSERT(r, zt_verify(p, keep, r->tag[h]), "zrealloc lost the contents (offset %zu -> %zu)",
             off, mo);
  r->live[h] = false;
  track(r, h, mo, n, false);
}

/* Bad pointers are EINVAL for zfree and zrealloc, and the model agrees they
 * are not blocks. */
static void step_bad(run_t *r) {
  size_t g = zt_rng_below(&r->rng, r->m.ngran);
  uintptr_t a = r->m.base + g * G;
  if (zt_rng_below(&r->rng, 3) == 0)
    a += 1 + zt_rng_below(&r->rng, G - 1);  /* misaligned */
  else if (model_block_size(&r->m, g) != 0)
    return;  /* a real block: not a bad pointer */
  RUN_ASSERT(r, zfree(r->z, (void *)a) == EINVAL, "zfree(offset %zu + %zu) was not EINVAL", g,
             (size_t)(a - r->m.base) % G);
  errno = 0;
  RUN_ASSERT(r, zrealloc(r->z, (void *)a, 16) == NULL && errno == EINVAL,
             "zrealloc of a bad pointer was not EINVAL");
  RUN_ASSERT(r, !zone_owns(r->z, (void *)a), "zone_owns of a non-block");
  RUN_ASSERT(r, zone_block_size(r->z, (void *)a) == 0, "zone_block_size of a non-block");
}

static void step_reset(run_t *r) {
  trace("step %zu: zone_reset\n", r->step);
  zone_reset(r->z);
  model_reset(&r->m);
  memset(r->live, 0, sizeof r->live);
}

static void verify_all(run_t *r) {
  RUN_ASSERT(r, zone_check(r->z) == 0, "zone_check failed");
  char why[200];
  int diff = model_compare(&r->m, r->z, why, sizeof why);
  RUN_ASSERT(r, diff == 0, "layout differs from the model: %s", why);
  for (int i = 0; i < HANDLES; i++)
    if (r->live[i]) {
      RUN_ASSERT(r, zone_block_size(r->z, model_addr(&r->m, r->off[i])) ==
                        model_block_size(&r->m, r->off[i]),
                 "zone_block_size of the block at offset %zu", r->off[i]);
    }
}

/* One seeded run of `steps` operations on z, whose managed bytes start at
 * base. Every live block's contents are checked at every free and realloc,
 * and all of them every 64 steps. */
static void differential(zone_t *z, uintptr_t base, uint64_t seed, size_t steps) {
  static run_t r;  /* big: off the stack */
  memset(&r, 0, sizeof r);
  r.z = z;
  r.seed = seed;
  zt_rng_seed(&r.rng, seed);
  ck_assert_int_eq(model_init(&r.m, base, zone_size(z)), 0);
  verify_all(&r);
  for (r.step = 0; r.step < steps; r.step++) {
    size_t k = zt_rng_below(&r.rng, 1000);
    if (k < 300)
      step_alloc(&r);
    else if (k < 560)
      step_free(&r);
    else if (k < 760)
      step_realloc(&r);
    else if (k < 860)
      step_aligned(&r);
    else if (k < 940)
      step_calloc(&r);
    else if (k < 998)
      step_bad(&r);
    else
      step_reset(&r);
    verify_all(&r);
    if (r.step % 64 == 0)
      for (int i = 0; i < HANDLES; i++)
        if (r.live[i])
          RUN_ASSERT(&r, zt_verify(model_addr(&r.m, r.off[i]), r.len[i], r.tag[i]),
                     "block at offset %zu lost its contents", r.off[i]);
  }
  model_fini(&r.m);
}

static void mapped_runs(size_t bytes, unsigned flags, size_t steps, int seeds) {
  uint64_t seed = zt_seed();
  for (int s = 0; s < seeds; s++) {
    zone_t *z = create_zone_flags(bytes, flags);
    ck_assert_ptr_nonnull(z);
    differential(z, model_zone_base(z), seed + (uint64_t)s, zt_scaled(steps));
    destroy_zone(z);
  }
}

START_TEST(random_tiny_zone) {
  mapped_runs(4096, 0, 20000, 3);
}
END_TEST

START_TEST(random_small_zone) {
  mapped_runs(16 << 10, 0, 20000, 3);
}
END_TEST

START_TEST(random_medium_zone) {
  mapped_runs(256 << 10, 0, 10000, 2);
}
END_TEST

START_TEST(random_odd_size_zone) {
  mapped_runs(10000, 0, 20000, 2);
}
END_TEST

START_TEST(random_unlocked_zone) {
  mapped_runs(16 << 10, ZONE_UNLOCKED, 20000, 2);
}
END_TEST

/* Caller buffers whose first whole granule sits at various offsets from a
 * page: the zone's alignment answers depend on the real base. */
START_TEST(random_caller_buffers) {
  alignas(8192) static unsigned char buf[(32 << 10) + 8192];
  uint64_t seed = zt_seed();
  static const size_t heads[] = {0, 5, G, 48, 1000, 4096 - G, 4096 + 3 * G};
  for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
    unsigned char *mem = buf + heads[i];
    size_t len = (24 << 10) + 7;
    zone_t *z = create_zone_in(mem, len, i % 2 ? ZONE_UNLOCKED : 0);
    ck_assert_ptr_nonnull(z);
    uintptr_t base = ((uintptr_t)mem + G - 1) / G * G;
    ck_assert_uint_eq(model_zone_base(z), base);
    ck_assert_uint_eq(zone_size(z), ((uintptr_t)mem + len) / G * G - base);
    differential(z, base, seed, zt_scaled(8000));
    destroy_zone(z);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("model");
  ZT_CASE(s, model_by_hand);
  ZT_CASE(s, random_tiny_zone);
  ZT_CASE(s, random_small_zone);
  ZT_CASE(s, random_medium_zone);
  ZT_CASE(s, random_odd_size_zone);
  ZT_CASE(s, random_unlocked_zone);
  ZT_CASE(s, random_caller_buffers);
  return zt_main(s);
}
