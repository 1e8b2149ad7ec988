/*
 * support.h - what every Check suite shares: the main() that runs one suite
 * (or the single case named by CK_RUN_CASE, which ctest sets), the loop scale
 * for slow runs (ZONE_TEST_SCALE, lowered under valgrind), zone snapshots for
 * "the zone did not change" assertions, and a seeded random generator.
 */
#ifndef ZONE_TEST_SUPPORT_H
#define ZONE_TEST_SUPPORT_H

#include "zone.h"

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define G ((size_t)ZONE_GRANULE)

/* Adds a test case holding the single test fn, named after it, so each case
 * is one ctest (tests/CMakeLists.txt finds the names by this macro). */
#define ZT_CASE(suite, fn) zt_add_case((suite), #fn, (fn))
void zt_add_case(Suite *s, const char *name, const TTest *fn);

/* Runs the suite; returns the exit status for main. With CK_RUN_CASE set, a
 * run that executes no test fails, so a misspelt case can't pass silently. */
int zt_main(Suite *s);

/* n scaled by ZONE_TEST_SCALE (a factor, default 1), at least 1. */
size_t zt_scaled(size_t n);

/* Whether the test runs under valgrind (tests that measure time or depend on
 * real concurrency use it to shrink). */
bool zt_under_valgrind(void);

/* ---- snapshots: the zone's whole visible state ------------------------------ */

typedef struct zt_region {
  uintptr_t addr;
  size_t size;
  bool used;
} zt_region_t;

typedef struct zt_snapshot {
  zt_region_t *regions;
  size_t count;
  size_t cap;
  zone_stats_t stats;
} zt_snapshot_t;

/* Takes zone_walk and zone_stats; free with zt_snapshot_free. */
void zt_snapshot_take(const zone_t *z, zt_snapshot_t *snap);
void zt_snapshot_free(zt_snapshot_t *snap);
/* Fails the running test (with a description) unless a and b are equal. */
void zt_snapshot_assert_equal(const zt_snapshot_t *a, const zt_snapshot_t *b, const char *what);
/* Takes a snapshot of z now and fails the running test unless it equals
 * before: "the zone did not change" (zt_snapshot_assert_equal's checks). */
void zt_assert_unchanged(const zone_t *z, const zt_snapshot_t *before, const char *what);

/* The zone's first address (its first walk entry). */
uintptr_t zt_base(const zone_t *z);
/* Fails the running test unless zone_check(z) == 0. */
#define zt_assert_check(z) ZT_REQUIRE(zone_check(z) == 0, "zone_check(" #z ") failed")
/* Clears errno, then fails the running test unless `call` returns NULL and
 * leaves errno == err (two checks: ck_assert_ptr_null, ck_assert_int_eq). */
#define zt_assert_fails(call, err)    \
  do {                                \
    errno = 0;                        \
    ck_assert_ptr_null(call);         \
    ck_assert_int_eq(errno, (err));   \
  } while (0)

/* Like ck_assert_msg, but silent when it holds: Check records every passing
 * ck_assert with a write to its log, which dominates tight loops. */
#define ZT_REQUIRE(cond, ...)      \
  do {                             \
    if (!(cond))                   \
      ck_abort_msg(__VA_ARGS__);   \
  } while (0)

/* ---- random numbers (xorshift64*, seeded, reproducible) -------------------- */

typedef struct zt_rng {
  uint64_t s;
} zt_rng_t;

void zt_rng_seed(zt_rng_t *r, uint64_t seed);
uint64_t zt_rng_next(zt_rng_t *r);
/* Uniform in [0, n) (n > 0). */
size_t zt_rng_below(zt_rng_t *r, size_t n);
/* The seed for randomized tests: ZONE_TEST_SEED if set, else from the clock. */
uint64_t zt_seed(void);

/* ---- resident memory ------------------------------------------------------------- */

/* Resident pages (mincore) among the whole pages of [lo, hi). */
size_t zt_resident_pages(uintptr_t lo, uintptr_t hi);

/* ---- content patterns --------------------------------------------------------- */

/* Fills / verifies n bytes at p with a pattern derived from tag. */
void zt_fill(void *p, size_t n, uint64_t tag);
bool zt_verify(const void *p, size_t n, uint64_t tag);

/* Writes byte c over n bytes at p, whatever the zone thinks of them (freed
 * blocks, never-used space): the program scribbling of contract 8. Under
 * memcheck or ASan such writes are errors by design (contract 16), so the
 * bytes are first made addressable; the library's own accesses are still
 * checked. */
void zt_scribble(void *p, int c, size_t n);

#endif /* ZONE_TEST_SUPPORT_H */
