/*
 * support.c - the shared test plumbing declared in support.h: running a
 * suite, loop scaling, zone snapshots, a seeded generator and byte patterns.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(ZONE_TEST_HAVE_MEMCHECK_H)
#include <valgrind/memcheck.h>
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ZT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZT_ASAN 1
#endif
#endif
#if defined(ZT_ASAN)
#include <sanitizer/asan_interface.h>
#endif

/* ---- running ---------------------------------------------------------------- */

void zt_add_case(Suite *s, const char *name, const TTest *fn) {
  TCase *tc = tcase_create(name);
  /* Generous: the randomized and threaded cases run for seconds natively, and
   * CK_TIMEOUT_MULTIPLIER stretches this further for slow builds. */
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, fn);
  suite_add_tcase(s, tc);
}

int zt_main(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int run = srunner_ntests_run(sr);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  const char *only = getenv("CK_RUN_CASE");
  if (only != NULL && run == 0) {
    fprintf(stderr, "no test case named '%s' ran\n", only);
    return EXIT_FAILURE;
  }
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

size_t zt_scaled(size_t n) {
  const char *s = getenv("ZONE_TEST_SCALE");
  double f = s ? atof(s) : 1.0;
  if (!(f > 0))
    f = 1.0;
  double v = (double)n * f;
  return v < 1 ? 1 : (size_t)v;
}

bool zt_under_valgrind(void) {
#if defined(ZONE_TEST_HAVE_MEMCHECK_H)
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

/* ---- snapshots ------------------------------------------------------------------- */

static int snapshot_visit(void *ptr, size_t size, bool used, void *arg) {
  zt_snapshot_t *snap = arg;
  if (snap->count == snap->cap) {
    size_t cap = snap->cap ? snap->cap * 2 : 64;
    zt_region_t *r = realloc(snap->regions, cap * sizeof *r);
    ZT_REQUIRE(r != NULL, "out of memory for a snapshot");
    snap->regions = r;
    snap->cap = cap;
  }
  snap->regions[snap->count++] = (zt_region_t){(uintptr_t)ptr, size, used};
  return 0;
}

void zt_snapshot_take(const zone_t *z, zt_snapshot_t *snap) {
  memset(snap, 0, sizeof *snap);
  int rc = zone_walk(z, snapshot_visit, snap);
  ZT_REQUIRE(rc == 0, "zone_walk returned %d", rc);
  zone_stats(z, &snap->stats);
}

void zt_snapshot_free(zt_snapshot_t *snap) {
  free(snap->regions);
  memset(snap, 0, sizeof *snap);
}

void zt_snapshot_assert_equal(const zt_snapshot_t *a, const zt_snapshot_t *b, const char *what) {
  ZT_REQUIRE(a->count == b->count, "%s: walk has %zu entries, was %zu", what, b->count,
                a->count);
  for (size_t i = 0; i < a->count; i++) {
    const zt_region_t *x = &a->regions[i], *y = &b->regions[i];
    ZT_REQUIRE(x->addr == y->addr && x->size == y->size && x->used == y->used,
                  "%s: walk entry %zu is %#lx %zu %s, was %#lx %zu %s", what, i,
                  (unsigned long)y->addr, y->size, y->used ? "used" : "free",
                  (unsigned long)x->addr, x->size, x->used ? "used" : "free");
  }
  ZT_REQUIRE(memcmp(&a->stats, &b->stats, sizeof a->stats) == 0, "%s: zone_stats changed",
                what);
}

void zt_assert_unchanged(const zone_t *z, const zt_snapshot_t *before, const char *what) {
  zt_snapshot_t now;
  zt_snapshot_take(z, &now);
  zt_snapshot_assert_equal(before, &now, what);
  zt_snapshot_free(&now);
}

static int first_visit(void *ptr, size_t size, bool used, void *arg) {
  (void)size;
  (void)used;
  *(uintptr_t *)arg = (uintptr_t)ptr;
  return 1;
}

uintptr_t zt_base(const zone_t *z) {
  uintptr_t base = 0;
  ck_assert_int_eq(zone_walk(z, first_visit, &base), 1);
  return base;
}

/* ---- random ---------------------------------------------------------------------- */

void zt_rng_seed(zt_rng_t *r, uint64_t seed) {
  r->s = seed ? seed : 0x9e3779b97f4a7c15u;
}

uint64_t zt_rng_next(zt_rng_t *r) {
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 0x2545f4914f6cdd1du;
}

size_t zt_rng_below(zt_rng_t *r, size_t n) {
  return (size_t)(zt_rng_next(r) % n);
}

size_t zt_resident_pages(uintptr_t lo, uintptr_t hi) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  lo = (lo + page - 1) / page * page;
  hi = hi / page * page;
  if (hi <= lo)
    return 0;
  size_t n = (hi - lo) / page, resident = 0;
  unsigned char *vec = malloc(n);
  ck_assert_ptr_nonnull(vec);
  ck_assert_int_eq(mincore((void *)lo, hi - lo, vec), 0);
  for (size_t i = 0; i < n; i++)
    resident += vec[i] & 1;
  free(vec);
  return resident;
}

uint64_t zt_seed(void) {
  const char *s = getenv("ZONE_TEST_SEED");
  if (s != NULL && *s != '\0')
    return strtoull(s, NULL, 0);
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
}

/* ---- patterns -------------------------------------------------------------------- */

static unsigned char pattern_byte(size_t i, uint64_t tag) {
  uint64_t x = (tag + i) * 0x9e3779b97f4a7c15u;
  return (unsigned char)(x >> 56);
}

void zt_fill(void *p, size_t n, uint64_t tag) {
  unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    b[i] = pattern_byte(i, tag);
}

bool zt_verify(const void *p, size_t n, uint64_t tag) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != pattern_byte(i, tag))
      return false;
  return true;
}

void zt_scribble(void *p, int c, size_t n) {
#if defined(ZONE_TEST_HAVE_MEMCHECK_H)
  (void)VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#endif
#if defined(ZT_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(p, n);  /* libzone poisons what no block holds */
#endif
  memset(p, c, n);
}
