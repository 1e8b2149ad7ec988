/*
 * test_defer.c - deferred frees (zone__defer_frees, the shim's
 * ZONE_FREE_DEFER): a free through zone__free_known waits for the next call
 * into the zone, and every call sees the zone as if it had been done at once:
 * the lowest fit stays exact, stats and checks count it, zfree stays
 * immediate. A pointer that can't be a block of the first extent and the
 * block already waiting are refused at once; any other pointer that starts no
 * block is handed to zone__refused_late at the next call, the zone unchanged.
 */
#include "support.h"
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static void *late[8];
static size_t nlate;

static void record_late(void *p) {
  if (nlate < sizeof late / sizeof late[0])
    late[nlate] = p;
  nlate++;
}

/* A deferring zone of 4096 bytes with blocks a (48 bytes), b (16) and c
 * (16), then free space from granule 5 (byte 80) on. */
typedef struct fixture {
  zone_t *z;
  char *a, *b, *c;
} fixture_t;

static fixture_t setup(unsigned flags) {
  fixture_t f;
  f.z = create_zone_flags(4096, flags);
  ck_assert_ptr_nonnull(f.z);
  zone__defer_frees(f.z, true, 0);
  f.a = zalloc(f.z, 48);
  f.b = zalloc(f.z, 16);
  f.c = zalloc(f.z, 16);
  ck_assert_ptr_eq(f.b, f.a + 48);
  ck_assert_ptr_eq(f.c, f.a + 64);
  nlate = 0;
  zone__refused_late = record_late;
  return f;
}

static void teardown(fixture_t *f) {
  zone__refused_late = NULL;
  destroy_zone(f->z);
}

/* The zone sound, nothing refused late, the fixture gone. */
static void finish_clean(fixture_t *f) {
  zt_assert_check(f->z);
  ck_assert_uint_eq(nlate, 0);
  teardown(f);
}

/* A zone with a heap checker (under valgrind) never defers: its free is
 * done at once. True (the fixture gone) when that is the case here. */
static bool checked_frees_at_once(fixture_t *f) {
  if (f->z->defers)
    return false;
  ck_assert_int_ne(f->z->check.kind, ZONE_CHECKER_NONE);
  ck_assert_ptr_null(zone__free_known(f->b, f->z));
  ck_assert_ptr_null(f->z->pending);
  ck_assert_uint_eq(zone_block_size(f->z, f->b), 0);
  teardown(f);
  return true;
}

START_TEST(free_waits_for_the_next_call) {
  fixture_t f = setup(0);
  if (checked_frees_at_once(&f))
    return;
  ck_assert_ptr_null(zone__free_known(f.b, f.z));
  ck_assert_ptr_eq(f.z->pending, f.b);  /* not done yet */
  ck_assert_uint_eq(f.z->used_gran, 5);
  zone_stats_t st;
  zone_stats(f.z, &st);  /* done first */
  ck_assert_ptr_null(f.z->pending);
  ck_assert_uint_eq(st.used, 64);
  ck_assert_uint_eq(st.blocks, 2);
  ck_assert_uint_eq(zone_block_size(f.z, f.b), 0);
  /* The next deferred free does the one before. */
  ck_assert_ptr_null(zone__free_known(f.a, f.z));
  ck_assert_ptr_null(zone__free_known(f.c, f.z));
  ck_assert_ptr_eq(f.z->pending, f.c);
  ck_assert_uint_eq(f.z->used_gran, 1);  /* a's 3 granules are back */
  zt_assert_check(f.z);
  ck_assert_uint_eq(f.z->used_gran, 0);
  ck_assert_uint_eq(nlate, 0);
  teardown(&f);
}
END_TEST

START_TEST(first_fit_stays_exact) {
  fixture_t f = setup(0);
  if (checked_frees_at_once(&f))
    return;
  /* c waits; the lowest fit of one granule past it is byte 80, which the
   * freed c would undercut: c is freed first and taken. */
  ck_assert_ptr_null(zone__free_known(f.c, f.z));
  ck_assert_ptr_eq(zalloc(f.z, 16), f.c);
  ck_assert_ptr_null(f.z->pending);
  /* b freed at once, c waits: the fit at b ends before c starts, so the
   * take leaves c waiting. */
  ck_assert_int_eq(zfree(f.z, f.b), 0);
  ck_assert_ptr_null(zone__free_known(f.c, f.z));
  ck_assert_ptr_eq(zalloc(f.z, 16), f.b);
  ck_assert_ptr_eq(f.z->pending, f.c);
  /* Two granules: none below c; the run from c (c and the free space after
   * it) starts lower than the fit at byte 80 found without it. */
  ck_assert_ptr_eq(zalloc(f.z, 32), f.c);
  ck_assert_ptr_null(f.z->pending);
  /* a waits and its run joins b's: a 4-granule request fits at a only
   * with a freed, found when the fit past it is undone. */
  ck_assert_int_eq(zfree(f.z, f.b), 0);
  ck_assert_ptr_null(zone__free_known(f.a, f.z));
  ck_assert_ptr_eq(zalloc(f.z, 64), f.a);
  finish_clean(&f);
}
END_TEST

/* The peak of use counts the waiting free as done: a take that keeps it
 * waiting while the zone is at its peak must not count its block twice. */
START_TEST(peak_counts_the_waiting_free_done) {
  fixture_t f = setup(0);
  if (checked_frees_at_once(&f))
    return;
  ck_assert_int_eq(zfree(f.z, f.a), 0);  /* 3 granules free at byte 0; b, c in use */
  char *e = zalloc(f.z, 64);               /* too big for a's run: past c, the peak 6 */
  ck_assert_ptr_eq(e, f.a + 80);
  ck_assert_ptr_null(zone__free_known(f.c, f.z));
  /* 3 granules at a's place end before c starts: c may go on waiting, but
   * with it counted the take would make a peak of 9 where there are 8. */
  ck_assert_ptr_eq(zalloc(f.z, 48), f.a);
  zone_stats_t st;
  zone_stats(f.z, &st);
  ck_assert_uint_eq(st.used, 128);
  ck_assert_uint_eq(st.peak_used, 128);
  /* Below the peak the free waits on: nothing it could change. */
  ck_assert_ptr_null(zone__free_known(f.b, f.z));
  ck_assert_ptr_eq(f.z->pending, f.b);
  zone_stats(f.z, &st);
  ck_assert_uint_eq(st.peak_used, 128);
  finish_clean(&f);
}
END_TEST

START_TEST(refused_at_once) {
  fixture_t f = setup(0);
  if (checked_frees_at_once(&f))
    return;
  char outside[32];
  ck_assert_ptr_eq(zone__free_known(outside, f.z), outside);         /* not in the extent */
  ck_assert_ptr_eq(zone__free_known(f.a + 5, f.z), f.a + 5);         /* no granule's alignment */
  ck_assert_ptr_eq(zone__free_known(f.a + 4096, f.z), f.a + 4096);   /* past the extent */
  ck_assert_ptr_null(zone__free_known(f.b, f.z));
  ck_assert_ptr_eq(zone__free_known(f.b, f.z), f.b);                 /* a double free */
  ck_assert_ptr_eq(f.z->pending, f.b);
  zt_assert_check(f.z);
  ck_assert_uint_eq(zone_block_size(f.z, f.a), 48);
  ck_assert_uint_eq(nlate, 0);
  teardown(&f);
}
END_TEST

START_TEST(bad_pointer_found_at_the_next_call) {
  fixture_t f = setup(0);
  if (checked_frees_at_once(&f))
    return;
  zt_snapshot_t before;
  zt_snapshot_take(f.z, &before);
  /* An interior granule: taken as deferred, refused when done (by the walk
   * that compares), the zone unchanged. */
  ck_assert_ptr_null(zone__free_known(f.a + 16, f.z));
  ck_assert_uint_eq(nlate, 0);
  zt_assert_unchanged(f.z, &before, "an interior pointer's deferred free");
  ck_assert_uint_eq(nlate, 1);
  ck_assert_ptr_eq(late[0], f.a + 16);
  /* The same found by an allocation, whose fit it might have changed. */
  ck_assert_ptr_null(zone__free_known(f.a + 32, f.z));
  ck_assert_ptr_eq(zalloc(f.z, 16), f.a + 80);
  ck_assert_uint_eq(nlate, 2);
  ck_assert_ptr_eq(late[1], f.a + 32);
  /* A free granule, then a double free of a block done already: each found
   * at the next deferred free. */
  char *d = zalloc(f.z, 16);
  ck_assert_int_eq(zfree(f.z, d), 0);
  ck_assert_ptr_null(zone__free_known(d + 16, f.z));
  ck_assert_ptr_null(zone__free_known(d, f.z));
  ck_assert_uint_eq(nlate, 3);
  ck_assert_ptr_eq(late[2], d + 16);
  zone_stats_t st;
  zone_stats(f.z, &st);
  ck_assert_uint_eq(nlate, 4);
  ck_assert_ptr_eq(late[3], d);
  zt_snapshot_free(&before);
  zt_assert_check(f.z);
  ck_assert_uint_eq(st.blocks, 4);  /* a, b, c and the block taken above */
  teardown(&f);
}
END_TEST

START_TEST(zfree_stays_immediate) {
  fixture_t f = setup(0);
  if (checked_frees_at_once(&f))
    return;
  ck_assert_int_eq(zfree(f.z, f.a + 16), EINVAL);
  ck_assert_ptr_null(zone__free_known(f.b, f.z));
  ck_assert_int_eq(zfree(f.z, f.b), EINVAL);  /* b's free was done first */
  ck_assert_ptr_null(f.z->pending);
  ck_assert_int_eq(zfree(f.z, f.c), 0);
  ck_assert_uint_eq(zone_block_size(f.z, f.c), 0);
  finish_clean(&f);
}
END_TEST

/* The calls that take a block see the waiting free done: a realloc and the
 * queries of the freed block refuse it, and a neighbour's realloc grows in
 * place into its granules. */
START_TEST(other_calls_see_it_done) {
  fixture_t f = setup(0);
  if (checked_frees_at_once(&f))
    return;
  ck_assert_ptr_null(zone__free_known(f.b, f.z));
  errno = 0;
  ck_assert_ptr_null(zrealloc(f.z, f.b, 32));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_ptr_null(zone__free_known(f.c, f.z));
  ck_assert(!zone_owns(f.z, f.c));
  /* b again: no block now, yet it is taken as deferred, and found when
   * done, by the realloc of a, which grows in place over b's and c's
   * granules. */
  ck_assert_ptr_null(zone__free_known(f.b, f.z));
  ck_assert_uint_eq(nlate, 0);
  ck_assert_ptr_eq(zrealloc(f.z, f.a, 80), f.a);
  ck_assert_uint_eq(nlate, 1);
  ck_assert_ptr_eq(late[0], f.b);
  ck_assert_uint_eq(zone_block_size(f.z, f.a), 80);
  zone_stats_t st;
  zone_stats(f.z, &st);
  ck_assert_uint_eq(st.blocks, 1);
  ck_assert_uint_eq(st.used, 80);
  nlate = 0;
  finish_clean(&f);
}
END_TEST

/* A request that makes the zone grow finds the waiting free done, and a
 * zone of two extents defers nothing more. */
START_TEST(growth_does_it_first) {
  fixture_t f = setup(ZONE_GROW);
  if (checked_frees_at_once(&f))
    return;
  char *rest = zalloc(f.z, 4096 - 80);
  ck_assert_ptr_eq(rest, f.a + 80);
  ck_assert_ptr_null(zone__free_known(f.b, f.z));
  char *big = zalloc(f.z, 8192);
  ck_assert_ptr_nonnull(big);
  ck_assert_ptr_null(f.z->pending);
  ck_assert_uint_eq(zone_block_size(f.z, f.b), 0);
  ck_assert_ptr_eq(zalloc(f.z, 16), f.b);
  if (zone__extent_count(f.z) > 1) {
    ck_assert_ptr_eq(zone__free_known(big, f.z), NULL);
    ck_assert_ptr_null(f.z->pending);  /* freed at once */
    ck_assert_uint_eq(zone_block_size(f.z, big), 0);
  }
  finish_clean(&f);
}
END_TEST

START_TEST(turned_off_does_the_waiting_free) {
  fixture_t f = setup(0);
  if (checked_frees_at_once(&f))
    return;
  ck_assert_ptr_null(zone__free_known(f.b, f.z));
  zone__defer_frees(f.z, false, 0);
  ck_assert_ptr_null(f.z->pending);
  ck_assert_uint_eq(zone_block_size(f.z, f.b), 0);
  ck_assert_ptr_null(zone__free_known(f.c, f.z));
  ck_assert_uint_eq(zone_block_size(f.z, f.c), 0);  /* at once now */
  ck_assert_ptr_eq(zone__free_known(f.c, f.z), f.c);
  zt_assert_check(f.z);
  teardown(&f);
}
END_TEST

/* An extent below the size asked for frees at once; once the zone has
 * grown in place to it, frees wait. */
START_TEST(small_extent_frees_at_once) {
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  zone__defer_frees(z, true, 1 << 20);
  char *a = zalloc(z, 16);
  ck_assert_ptr_null(zone__free_known(a, z));
  ck_assert_ptr_null(z->pending);
  ck_assert_uint_eq(zone_block_size(z, a), 0);
  char *big = zalloc(z, 2 << 20);
  ck_assert_ptr_nonnull(big);
  if (z->defers && zone__extent_count(z) == 1) {  /* grown in place past 1 MiB */
    char *b = zalloc(z, 16);
    ck_assert_ptr_null(zone__free_known(b, z));
    ck_assert_ptr_eq(z->pending, b);
  }
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Random frees through the deferring calls, allocations (plain, zeroed,
 * aligned, reallocations), against a twin zone that frees at once: the same
 * blocks at the same offsets, every step, and the same stats at the end. */
START_TEST(same_as_immediate) {
  zone_t *d = create_zone(1 << 16), *i = create_zone(1 << 16);
  ck_assert_ptr_nonnull(d);
  ck_assert_ptr_nonnull(i);
  zone__defer_frees(d, true, 0);
  uintptr_t db = zt_base(d), ib = zt_base(i);
  enum { SLOTS = 256 };
  size_t off[SLOTS];
  bool live[SLOTS] = {false};
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (size_t step = 0; step < 20000; step++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    size_t k = (size_t)(x % SLOTS);
    size_t bytes = 1 + (size_t)((x >> 20) % ((x >> 40) % 8 == 0 ? 2048 : 160));
    unsigned how = (unsigned)(x >> 50) % 16;
    if (live[k] && how == 0) {  /* moved or resized: a call that does the waiting free first */
      char *p = zrealloc(d, (char *)db + off[k], bytes), *q = zrealloc(i, (char *)ib + off[k], bytes);
      ZT_REQUIRE((p == NULL) == (q == NULL), "one realloc failed, not the other");
      if (p != NULL) {
        ZT_REQUIRE((uintptr_t)p - db == (uintptr_t)q - ib, "step %zu: reallocs differ", step);
        off[k] = (uintptr_t)p - db;
      }
    } else if (live[k]) {
      ZT_REQUIRE(zone__free_known((char *)db + off[k], d) == NULL, "deferred free refused");
      ZT_REQUIRE(zfree(i, (char *)ib + off[k]) == 0, "free refused");
      live[k] = false;
    } else {
      char *p, *q;
      if (how == 1) {
        p = zalloc_aligned(d, 256, bytes);
        q = zalloc_aligned(i, 256, bytes);
      } else if (how == 2) {
        p = zcalloc(d, 1, bytes);
        q = zcalloc(i, 1, bytes);
      } else {
        p = zalloc(d, bytes);
        q = zalloc(i, bytes);
      }
      ZT_REQUIRE((p == NULL) == (q == NULL), "one zone full, not the other");
      if (p != NULL) {
        ZT_REQUIRE((uintptr_t)p - db == (uintptr_t)q - ib, "step %zu: fits differ", step);
        off[k] = (uintptr_t)p - db;
        live[k] = true;
      }
    }
  }
  zt_assert_check(d);
  zone_stats_t sd, si;
  zone_stats(d, &sd);
  zone_stats(i, &si);
  ck_assert_uint_eq(sd.used, si.used);
  ck_assert_uint_eq(sd.blocks, si.blocks);
  destroy_zone(d);
  destroy_zone(i);
}
END_TEST

int main(void) {
  Suite *s = suite_create("defer");
  ZT_CASE(s, free_waits_for_the_next_call);
  ZT_CASE(s, first_fit_stays_exact);
  ZT_CASE(s, peak_counts_the_waiting_free_done);
  ZT_CASE(s, refused_at_once);
  ZT_CASE(s, bad_pointer_found_at_the_next_call);
  ZT_CASE(s, zfree_stays_immediate);
  ZT_CASE(s, other_calls_see_it_done);
  ZT_CASE(s, growth_does_it_first);
  ZT_CASE(s, turned_off_does_the_waiting_free);
  ZT_CASE(s, small_extent_frees_at_once);
  ZT_CASE(s, same_as_immediate);
  return zt_main(s);
}
