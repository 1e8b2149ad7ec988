/*
 * test_faults.c - the system's refusal of memory, on demand. White-box: the
 * core's test hook zone__os_fail_after(n, sticky) makes the n-th mapping from
 * now on fail with ENOMEM (and every later one too when sticky). Each case
 * runs a call with n = 1, 2, 3, ... until the call no longer reaches an n-th
 * mapping, so every mapping the call makes is refused once, wherever it sits
 * in the call. Under every refusal the call must return NULL with ENOMEM and
 * leave everything as it was: zone_check passes, the zone's layout, stats and
 * size are unchanged, block contents are intact, a caller's buffer untouched
 * and no mapping is left behind (checked from /proc/self/maps natively; under
 * valgrind the memcheck run's leak check stands in for it).
 *
 * One ctest per case: zone.faults.<case> (CK_RUN_CASE=<case>).
 */
#include "internal.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ZONE_TEST_HAVE_MEMCHECK_H
#include <valgrind/memcheck.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

#define MAX_POINTS 64   /* no call makes this many mappings */
#define MAX_ITEMS 512

/* ---- helpers ----------------------------------------------------------------- */

/* Bytes mapped in the process outside the heap and the stack. A sanitizer or
 * valgrind maps memory of its own at any time, so there it is not measured. */
static bool can_count_mappings(void) { return !UNDER_SANITIZER && !RUNNING_ON_VALGRIND; }

static size_t mapped_bytes(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  ck_assert_ptr_nonnull(f);
  char line[512];
  size_t total = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
      continue;
    if (strstr(line, "[heap]") != NULL || strstr(line, "[stack]") != NULL)
      continue;
    total += hi - lo;
  }
  fclose(f);
  return total;
}

/* After a call made under zone__os_fail_after(n, ...): whether the refusal is
 * still pending, that is the call made fewer than n mappings. Probes with
 * n mappings of our own; any refused one means it was. */
static bool failure_pending(long n) {
  void *probe[MAX_POINTS];
  size_t page = zone__os_page_size();
  bool pending = false;
  long made = 0;
  for (; made < n; made++) {
    probe[made] = zone__os_map(page);
    if (probe[made] == NULL) {
      pending = true;
      break;
    }
  }
  for (long i = 0; i < made; i++)
    zone__os_unmap(probe[i], page);
  return pending;
}

static uint8_t pattern(uintptr_t seed, size_t i) {
  uint32_t x = (uint32_t)seed * 2654435761u + (uint32_t)i * 40503u;
  return (uint8_t)(x >> 13 ^ x);
}

static void fill(void *p, size_t n, uintptr_t seed) {
  for (size_t i = 0; i < n; i++)
    ((uint8_t *)p)[i] = pattern(seed, i);
}

static bool intact(const void *p, size_t n, uintptr_t seed) {
  for (size_t i = 0; i < n; i++)
    if (((const uint8_t *)p)[i] != pattern(seed, i))
      return false;
  return true;
}

/* A zone's observable state: stats, size and every item of the walk. */
typedef struct snap {
  zone_stats_t st;
  size_t size, n;
  struct { uintptr_t addr; size_t size; bool used; } item[MAX_ITEMS];
} snap_t;

static int snap_visit(void *ptr, size_t size, bool used, void *arg) {
  snap_t *s = arg;
  ck_assert_uint_lt(s->n, MAX_ITEMS);
  s->item[s->n].addr = (uintptr_t)ptr;
  s->item[s->n].size = size;
  s->item[s->n].used = used;
  s->n++;
  return 0;
}

static void snap_take(const zone_t *z, snap_t *s) {
  memset(s, 0, sizeof *s);
  zone_stats(z, &s->st);
  s->size = zone_size(z);
  ck_assert_int_eq(zone_walk(z, snap_visit, s), 0);
}

static void snap_expect_same(const zone_t *z, const snap_t *before) {
  static snap_t now;
  ck_assert_int_eq(zone_check(z), 0);
  snap_take(z, &now);
  ck_assert_uint_eq(now.size, before->size);
  ck_assert_uint_eq(now.st.used, before->st.used);
  ck_assert_uint_eq(now.st.blocks, before->st.blocks);
  ck_assert_uint_eq(now.st.free_blocks, before->st.free_blocks);
  ck_assert_uint_eq(now.st.largest_free, before->st.largest_free);
  ck_assert_uint_eq(now.st.peak_used, before->st.peak_used);
  ck_assert_uint_eq(now.n, before->n);
  for (size_t i = 0; i < now.n; i++) {
    ck_assert_uint_eq(now.item[i].addr, before->item[i].addr);
    ck_assert_uint_eq(now.item[i].size, before->item[i].size);
    ck_assert(now.item[i].used == before->item[i].used);
  }
}

/* ---- a growable zone full of patterned blocks ----------------------------------- */

#define NBLOCKS 24

typedef struct fixture {
  zone_t *z;
  void *blk[NBLOCKS];
  size_t len[NBLOCKS];
} fixture_t;

/* A ZONE_GROW zone whose first extent is nearly full: blocks of assorted
 * sizes, every third one freed, each holding its own pattern. */
static void fixture_make(fixture_t *f, unsigned flags) {
  memset(f, 0, sizeof *f);
  f->z = create_zone_flags(8192, flags);
  ck_assert_ptr_nonnull(f->z);
  for (size_t i = 0; i < NBLOCKS; i++) {
    f->len[i] = 16 + (i * 37) % 300;
    f->blk[i] = zalloc(f->z, f->len[i]);
    ck_assert_ptr_nonnull(f->blk[i]);
    fill(f->blk[i], f->len[i], (uintptr_t)f->blk[i]);
  }
  for (size_t i = 0; i < NBLOCKS; i += 3) {
    ck_assert_int_eq(zfree(f->z, f->blk[i]), 0);
    f->blk[i] = NULL;
  }
}

static void fixture_expect_intact(const fixture_t *f) {
  for (size_t i = 0; i < NBLOCKS; i++) {
    if (f->blk[i] == NULL)
      continue;
    ck_assert(zone_owns(f->z, f->blk[i]));
    ck_assert_msg(intact(f->blk[i], f->len[i], (uintptr_t)f->blk[i]), "block %zu changed", i);
  }
}

/* ---- the driver ------------------------------------------------------------------ */

/* A refused call must have been refused by us: with a one-shot refusal, the
 * call that failed must have used it up. */
static void expect_refusal_used(long n, bool sticky) {
  if (!sticky)
    ck_assert_msg(!failure_pending(n), "the call failed before reaching mapping %ld", n);
}

/* A call on a fixture that may need memory from the OS. Returns the new
 * block (NULL on failure); `target` is a live block for zrealloc. */
typedef void *(*grow_call_fn)(zone_t *z, void *target);

static void *call_zalloc(zone_t *z, void *target) {
  (void)target;
  return zalloc(z, 20000);
}

static void *call_zcalloc(zone_t *z, void *target) {
  (void)target;
  return zcalloc(z, 100, 300);
}

static void *call_aligned(zone_t *z, void *target) {
  (void)target;
  return zalloc_aligned(z, 4096, 9000);
}

static void *call_zrealloc(zone_t *z, void *target) {
  return zrealloc(z, target, 30000);
}

/* Refuses each mapping of `call` in turn on a fresh fixture; sticky: that
 * mapping and every later one. Returns the number of refusal points. */
static long refuse_each_mapping(grow_call_fn call, bool sticky) {
  size_t base = can_count_mappings() ? mapped_bytes() : 0;
  long n;
  for (n = 1; n < MAX_POINTS; n++) {
    fixture_t f;
    static snap_t before;
    fixture_make(&f, ZONE_GROW);
    void *target = f.blk[1];
    size_t target_len = f.len[1];
    snap_take(f.z, &before);
    size_t mapped = can_count_mappings() ? mapped_bytes() : 0;

    zone__os_fail_after(n, sticky);
    errno = 0;
    void *p = call(f.z, target);
    int err = errno;
    bool pending = p != NULL && failure_pending(n);
    if (p == NULL)
      expect_refusal_used(n, sticky);
    zone__os_fail_after(0, false);

    if (p == NULL) {
      ck_assert_int_eq(err, ENOMEM);
      snap_expect_same(f.z, &before);
      fixture_expect_intact(&f);
      ck_assert(zone_owns(f.z, target));
      ck_assert_uint_eq(zone_block_size(f.z, target), (target_len + ZONE_G - 1) / ZONE_G * ZONE_G);
      if (can_count_mappings())
        ck_assert_uint_eq(mapped_bytes(), mapped);
      /* The zone still works: the same call succeeds now. */
      p = call(f.z, target);
      ck_assert_ptr_nonnull(p);
    }
    ck_assert_int_eq(zone_check(f.z), 0);
    ck_assert_uint_gt(zone_size(f.z), before.size);  /* every call here must grow */
    if (call == call_zrealloc) {
      ck_assert_msg(intact(p, target_len, (uintptr_t)target), "zrealloc lost the contents");
      f.blk[1] = NULL;  /* moved */
    }
    fixture_expect_intact(&f);
    destroy_zone(f.z);
    if (pending)
      break;  /* the call made fewer than n mappings: every one was refused */
  }
  ck_assert_int_lt(n, MAX_POINTS);
  if (can_count_mappings())
    ck_assert_uint_eq(mapped_bytes(), base);
  return n - 1;
}

/* ---- cases: creation --------------------------------------------------------------- */

START_TEST(create_zone_refused) {
  static const size_t sizes[] = {1, 4096, 1 << 20};
  static const unsigned flags[] = {0, ZONE_GROW, ZONE_UNLOCKED};
  size_t base = can_count_mappings() ? mapped_bytes() : 0;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
      for (int sticky = 0; sticky < 2; sticky++) {
        long n;
        for (n = 1; n < MAX_POINTS; n++) {
          zone__os_fail_after(n, sticky);
          errno = 0;
          zone_t *z = create_zone_flags(sizes[s], flags[k]);
          int err = errno;
          bool pending = z != NULL && failure_pending(n);
          if (z == NULL)
            expect_refusal_used(n, sticky);
          zone__os_fail_after(0, false);
          if (z == NULL) {
            ck_assert_int_eq(err, ENOMEM);
            if (can_count_mappings())
              ck_assert_uint_eq(mapped_bytes(), base);
            continue;
          }
          ck_assert_int_eq(zone_check(z), 0);
          ck_assert_uint_ge(zone_size(z), sizes[s]);
          void *p = zalloc(z, sizes[s]);
          ck_assert_ptr_nonnull(p);
          fill(p, sizes[s], 7);
          destroy_zone(z);
          if (pending)
            break;
        }
        ck_assert_int_gt(n, 1);  /* creation maps something */
        ck_assert_int_lt(n, MAX_POINTS);
      }
    }
  }
  if (can_count_mappings())
    ck_assert_uint_eq(mapped_bytes(), base);
}
END_TEST

START_TEST(create_zone_in_refused) {
  enum { LEN = 10000 };
  unsigned char *buf = malloc(LEN), *copy = malloc(LEN);
  ck_assert_ptr_nonnull(buf);
  ck_assert_ptr_nonnull(copy);
  fill(buf, LEN, 99);
  memcpy(copy, buf, LEN);
  size_t base = can_count_mappings() ? mapped_bytes() : 0;
  long n;
  for (n = 1; n < MAX_POINTS; n++) {
    zone__os_fail_after(n, true);
    errno = 0;
    zone_t *z = create_zone_in(buf + 3, LEN - 3, 0);
    int err = errno;
    bool pending = z != NULL && failure_pending(n);
    zone__os_fail_after(0, false);
    if (z == NULL) {
      ck_assert_int_eq(err, ENOMEM);
      ck_assert_mem_eq(buf, copy, LEN);
      if (can_count_mappings())
        ck_assert_uint_eq(mapped_bytes(), base);
      continue;
    }
    ck_assert_int_eq(zone_check(z), 0);
    destroy_zone(z);
    ck_assert_mem_eq(buf, copy, LEN);
    if (pending)
      break;
  }
  ck_assert_int_gt(n, 1);
  ck_assert_int_lt(n, MAX_POINTS);
  if (can_count_mappings())
    ck_assert_uint_eq(mapped_bytes(), base);
  free(buf);
  free(copy);
}
END_TEST

/* ---- cases: growth ----------------------------------------------------------------- */

START_TEST(zalloc_growth_refused) {
  ck_assert_int_gt(refuse_each_mapping(call_zalloc, false), 0);
  ck_assert_int_gt(refuse_each_mapping(call_zalloc, true), 0);
}
END_TEST

START_TEST(zcalloc_growth_refused) {
  ck_assert_int_gt(refuse_each_mapping(call_zcalloc, false), 0);
  ck_assert_int_gt(refuse_each_mapping(call_zcalloc, true), 0);
}
END_TEST

START_TEST(zalloc_aligned_growth_refused) {
  ck_assert_int_gt(refuse_each_mapping(call_aligned, false), 0);
  ck_assert_int_gt(refuse_each_mapping(call_aligned, true), 0);
}
END_TEST

START_TEST(zrealloc_growth_refused) {
  ck_assert_int_gt(refuse_each_mapping(call_zrealloc, false), 0);
  ck_assert_int_gt(refuse_each_mapping(call_zrealloc, true), 0);
}
END_TEST

/* A growth refused after the zone already has several extents: the failing
 * one must not disturb the extent array (growth inserts in address order). */
START_TEST(growth_refused_with_many_extents) {
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  void *big[6];
  for (size_t i = 0; i < 6; i++) {
    big[i] = zalloc(z, (size_t)70000 << i);
    ck_assert_ptr_nonnull(big[i]);
    fill(big[i], 4096, i);
  }
  static snap_t before;
  snap_take(z, &before);
  for (long n = 1; n < 8; n++) {
    zone__os_fail_after(n, false);
    errno = 0;
    void *p = zalloc(z, (size_t)1 << 26);
    int err = errno;
    zone__os_fail_after(0, false);
    if (p != NULL) {
      ck_assert_int_eq(zfree(z, p), 0);
      break;
    }
    ck_assert_int_eq(err, ENOMEM);
    snap_expect_same(z, &before);
  }
  for (size_t i = 0; i < 6; i++)
    ck_assert(intact(big[i], 4096, i));
  ck_assert_int_eq(zone_check(z), 0);
  destroy_zone(z);
}
END_TEST

/* A request that fits needs no memory from the OS: with every mapping refused
 * it still succeeds (ENOMEM only when nothing fits and the zone can't grow),
 * and zfree, zrealloc in place, zone_reset keep working. */
START_TEST(fits_need_no_mapping) {
  fixture_t f;
  fixture_make(&f, ZONE_GROW);
  zone__os_fail_after(1, true);
  void *p = zalloc(f.z, 16);
  ck_assert_ptr_nonnull(p);
  void *q = zrealloc(f.z, p, 8);
  ck_assert_ptr_eq(q, p);
  ck_assert_int_eq(zfree(f.z, q), 0);
  void *a = zalloc_aligned(f.z, 64, 32);
  ck_assert_ptr_nonnull(a);
  ck_assert_int_eq(zfree(f.z, a), 0);
  errno = 0;
  ck_assert_ptr_null(zalloc(f.z, 1 << 20));
  ck_assert_int_eq(errno, ENOMEM);
  fixture_expect_intact(&f);
  zone_reset(f.z);
  ck_assert_int_eq(zone_check(f.z), 0);
  ck_assert_ptr_nonnull(zalloc(f.z, 1000));
  zone__os_fail_after(0, false);
  destroy_zone(f.z);
}
END_TEST

/* Refusals one after another on the same zone, then growth works again and
 * the zone is exactly as a zone that never saw a refusal. */
START_TEST(refusals_leave_no_trace) {
  fixture_t f, g;
  fixture_make(&f, ZONE_GROW);
  fixture_make(&g, ZONE_GROW);
  for (long n = 1; n <= 4; n++) {
    zone__os_fail_after(n, n % 2 == 0);
    for (int i = 0; i < 4; i++)
      (void)zalloc(f.z, 50000);  /* some refused, maybe some not */
    zone__os_fail_after(0, false);
    zone_reset(f.z);
    ck_assert_int_eq(zone_check(f.z), 0);
  }
  zone_reset(g.z);
  static snap_t empty;
  snap_take(f.z, &empty);
  void *pf = zalloc(f.z, 100), *pg = zalloc(g.z, 100);
  ck_assert_ptr_nonnull(pf);
  ck_assert_ptr_nonnull(pg);
  ck_assert_uint_eq((uintptr_t)pf, empty.item[0].addr);  /* first fit: the lowest address */
  zone_stats_t sf, sg;
  zone_stats(f.z, &sf);
  zone_stats(g.z, &sg);
  ck_assert_uint_eq(sf.used, sg.used);
  ck_assert_uint_eq(sf.blocks, sg.blocks);
  ck_assert_uint_eq(sf.free_blocks, empty.st.free_blocks);
  destroy_zone(f.z);
  destroy_zone(g.z);
}
END_TEST

/* ---- suite ----------------------------------------------------------------------- */

int main(void) {
  /* CASE lines are read by tests/hardening/CMakeLists.txt: one ctest each. */
#define CASE(name) {#name, name}
  const struct {
    const char *name;
    const TTest *test;
  } cases[] = {
    CASE(create_zone_refused),
    CASE(create_zone_in_refused),
    CASE(zalloc_growth_refused),
    CASE(zcalloc_growth_refused),
    CASE(zalloc_aligned_growth_refused),
    CASE(zrealloc_growth_refused),
    CASE(growth_refused_with_many_extents),
    CASE(fits_need_no_mapping),
    CASE(refusals_leave_no_trace),
  };
  Suite *s = suite_create("faults");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    TCase *tc = tcase_create(cases[i].name);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, cases[i].test);
    suite_add_tcase(s, tc);
  }
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  int run = srunner_ntests_run(sr);
  srunner_free(sr);
  if (run == 0) {
    fprintf(stderr, "no test case ran (CK_RUN_CASE names none?)\n");
    return EXIT_FAILURE;
  }
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
