/*
 * test_trim.c - giving free pages back (zone__trim, the core's hook behind
 * malloc_trim and the shim's automatic return). A trim gives back the whole
 * pages inside large free runs and remembers them: the next trim skips a
 * page given back unless a block has been taken over it since (by any path:
 * zalloc, zcalloc, zalloc_aligned, zrealloc moving or growing in place), so
 * its cost follows what was used in between, not what was ever returned. A
 * page marked as given back is always free and not resident, and the
 * extent's count of marked pages is exact; what a trim
 * gives back reads as zero. zone__trim_reused counts the marked pages taken
 * again. zone_trim is the same return for programs: every whole free page
 * but the lowest `keep` bytes, blocks untouched, bad input refused.
 * White-box: links the core's objects for zone__trim, the returned[] bitmap
 * and the zone__os_fail_after hook.
 */
#include "support.h"
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* The extent invariant: every page marked as given back lies wholly inside a
 * free run and holds no memory. Returns the number of marked pages. */
static size_t assert_marks_free(zone_t *z) {
  size_t page = page_size(), page_gran = page / G, marked = 0;
  for (size_t k = 0; k < z->nextents; k++) {
    zone__extent_t *e = &z->extents[k];
    if (e->base % page != 0) {  /* memory a caller gave: never marked */
      ck_assert_uint_eq(e->returned.marked, 0);
      continue;
    }
    const uint64_t *map = e->idx.returned;
    ZT_REQUIRE((const char *)map >= (const char *)e->idx.book &&
                   (const char *)(map + (e->idx.ngran / page_gran + 63) / 64) <=
                       (const char *)e->idx.book + e->idx.book_len,
               "extent %zu: its marks lie outside its index's book", k);
    size_t pages = e->idx.ngran / page_gran, before = marked;
    for (size_t p = 0; p < pages; p++) {
      if (!((map[p / 64] >> (p % 64)) & 1))
        continue;
      marked++;
      ZT_REQUIRE(p * page_gran >= e->returned.clear_below, "page %zu of extent %zu is marked below the bound %zu", p,
                 k, e->returned.clear_below);
      ZT_REQUIRE(zone__index_free_len(&e->idx, p * page_gran, page_gran) == page_gran,
                 "page %zu of extent %zu is marked as given back but holds a block", p, k);
      uintptr_t a = e->base + p * page;
      ZT_REQUIRE(zt_resident_pages(a, a + page) == 0,
                 "page %zu of extent %zu is marked as given back but resident", p, k);
    }
    ZT_REQUIRE(marked - before == e->returned.marked, "extent %zu: %zu pages marked, its count says %zu", k,
               marked - before, e->returned.marked);
  }
  return marked;
}

/* Whole pages inside [run_lo, run_hi) that overlap [lo, hi): those a take
 * over [lo, hi) unmarks in a free run that was all given back. */
static size_t pages_unmarked_by(uintptr_t run_lo, uintptr_t run_hi, uintptr_t lo, uintptr_t hi) {
  size_t page = page_size(), n = 0;
  for (uintptr_t a = (run_lo + page - 1) / page * page; a + page <= run_hi; a += page)
    if (a < hi && lo < a + page)
      n++;
  return n;
}

/* A zone of 16 blocks of a little under 64 KiB with the even ones freed and
 * given back. Fills p[] (NULL for the freed ones). */
enum { N = 16 };
#define BLOCK (((size_t)1 << 16) - 100)

static zone_t *returned_zone(char **p) {
  zone_t *z = create_zone(1 << 20);
  ck_assert_ptr_nonnull(z);
  for (int i = 0; i < N; i++) {
    p[i] = zalloc(z, BLOCK);
    ck_assert_ptr_nonnull(p[i]);
    zt_fill(p[i], BLOCK, (uint64_t)i);
  }
  for (int i = 0; i < N; i += 2) {
    ck_assert_int_eq(zfree(z, p[i]), 0);
    p[i] = NULL;
  }
  ck_assert_uint_gt(zone__trim(z, 0), 0);
  return z;
}

/* ---- cases ------------------------------------------------------------------- */

/* A second trim with nothing used in between gives back nothing new, and
 * both leave every whole free page out of memory. */
START_TEST(second_trim_gives_nothing) {
  zone_t *z = create_zone_flags(1 << 16, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  enum { M = 64 };
  char *p[M];
  for (int i = 0; i < M; i++) {  /* grows the zone several times */
    p[i] = zalloc(z, (size_t)(i % 7 + 1) * 9000);
    ck_assert_ptr_nonnull(p[i]);
    zt_fill(p[i], (size_t)(i % 7 + 1) * 9000, (uint64_t)i);
  }
  ck_assert_uint_gt(zone_size(z), (size_t)M * 9000);
  for (int i = 0; i < M; i++)
    if (i % 3 != 0)
      ck_assert_int_eq(zfree(z, p[i]), 0);
  size_t first = zone__trim(z, 0);
  ck_assert_uint_gt(first, 0);
  ck_assert_uint_eq(first % page_size(), 0);
  ck_assert_uint_eq(assert_marks_free(z), first / page_size());
  ck_assert_uint_eq(zone__trim(z, 0), 0);
  ck_assert_uint_eq(zone__trim(z, (size_t)1 << 20), 0);
  ck_assert_uint_eq(assert_marks_free(z), first / page_size());
  zt_snapshot_t s;
  zt_snapshot_take(z, &s);
  for (size_t i = 0; i < s.count; i++)
    if (!s.regions[i].used)
      ZT_REQUIRE(zt_resident_pages(s.regions[i].addr, s.regions[i].addr + s.regions[i].size) == 0,
                 "free region at %#lx still resident", (unsigned long)s.regions[i].addr);
  zt_snapshot_free(&s);
  for (int i = 0; i < M; i += 3)
    ck_assert(zt_verify(p[i], (size_t)(i % 7 + 1) * 9000, (uint64_t)i));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A trim with a larger minimum gives back the large runs only; a later trim
 * with a smaller one gives back the rest, and nothing twice. */
START_TEST(smaller_minimum_adds_the_rest) {
  size_t page = page_size();
  zone_t *z = create_zone(1 << 20);
  ck_assert_ptr_nonnull(z);
  char *small[4], *sep[5];
  for (int i = 0; i < 4; i++) {
    sep[i] = zalloc(z, 100);
    small[i] = zalloc(z, 5 * page);
  }
  sep[4] = zalloc(z, 100);
  char *big = zalloc(z, 64 * page);
  char *tail = zalloc(z, 100);
  ck_assert_ptr_nonnull(tail);
  size_t want_small = 0;
  for (int i = 0; i < 4; i++) {
    zt_fill(small[i], 5 * page, 1);
    uintptr_t lo = (uintptr_t)small[i], hi = (uintptr_t)sep[i + 1];
    want_small += pages_unmarked_by(lo, hi, lo, hi);
    zfree(z, small[i]);
  }
  zt_fill(big, 64 * page, 2);
  zfree(z, big);
  size_t large = zone__trim(z, 32 * page);
  ck_assert_uint_ge(large, 63 * page);
  ck_assert_uint_eq(zone__trim(z, 0), want_small * page);
  ck_assert_uint_eq(zone__trim(z, 0), 0);
  ck_assert_uint_eq(assert_marks_free(z) * page, large + want_small * page);
  destroy_zone(z);
}
END_TEST

/* zone__trim_keep leaves the lowest pages it would give back in memory, as
 * many as it is told, and gives back the rest; pages given back already are
 * not counted as kept. */
START_TEST(keep_leaves_the_lowest_pages) {
  size_t page = page_size();
  zone_t *z = create_zone(1 << 20);
  ck_assert_ptr_nonnull(z);
  enum { RUNS = 3 };
  char *run[RUNS], *sep[RUNS + 1];
  sep[0] = zalloc(z, 100);
  for (int i = 0; i < RUNS; i++) {
    run[i] = zalloc(z, 16 * page);
    sep[i + 1] = zalloc(z, 100);
  }
  ck_assert_ptr_nonnull(sep[RUNS]);
  size_t whole[RUNS], total = 0;
  for (int i = 0; i < RUNS; i++) {
    memset(run[i], 1, 16 * page);
    uintptr_t lo = (uintptr_t)run[i], hi = (uintptr_t)sep[i + 1];
    whole[i] = pages_unmarked_by(lo, hi, lo, hi);
    total += whole[i];
    zfree(z, run[i]);
  }
  /* Keep the first run's pages and half the second's; the zone's never-used
   * tail lies above them all and goes back. */
  size_t keep = whole[0] + whole[1] / 2;
  uintptr_t top = (uintptr_t)sep[RUNS] + zone_block_size(z, sep[RUNS]), end = zt_base(z) + zone_size(z);
  size_t tail_pages = pages_unmarked_by(top, end, top, end);
  ck_assert_uint_eq(zone__trim_keep(z, 0, keep * page + page / 2), (total - keep + tail_pages) * page);
  ck_assert_uint_eq(zt_resident_pages((uintptr_t)run[0], (uintptr_t)sep[1]), whole[0]);
  ck_assert_uint_eq(zt_resident_pages((uintptr_t)run[1], (uintptr_t)sep[2]), whole[1] / 2);
  ck_assert_uint_eq(zt_resident_pages((uintptr_t)run[2], (uintptr_t)sep[3]), 0);
  assert_marks_free(z);
  /* The same keep again: the kept pages are still the lowest, nothing goes. */
  ck_assert_uint_eq(zone__trim_keep(z, 0, keep * page), 0);
  ck_assert_uint_eq(zone__trim_keep(z, 0, whole[0] * page), (keep - whole[0]) * page);
  ck_assert_uint_eq(zone__trim(z, 0), whole[0] * page);
  ck_assert_uint_eq(zone__trim_keep(z, 0, 0), 0);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* The ways a block comes to cover a page. Each takes its blocks inside the
 * zone's first free run (all of it given back), writes them, and records the
 * ranges it took and the blocks to free to make the run whole again. */
enum { VIA_ZALLOC, VIA_ZCALLOC, VIA_ALIGNED, VIA_REALLOC_MOVE, VIA_REALLOC_GROW, VIA_COUNT };

typedef struct taken {
  uintptr_t lo[3], hi[3];
  size_t ranges;
  char *to_free[2];
  size_t nfree;
} taken_t;

static void took(taken_t *t, void *p, size_t bytes) {
  t->lo[t->ranges] = (uintptr_t)p;
  t->hi[t->ranges++] = (uintptr_t)p + (bytes + G - 1) / G * G;
}

static void take_via(zone_t *z, int via, size_t bytes, taken_t *t) {
  size_t page = page_size();
  char *q = NULL;
  memset(t, 0, sizeof *t);
  switch (via) {
  case VIA_ZALLOC:
    q = zalloc(z, bytes);
    break;
  case VIA_ZCALLOC:
    q = zcalloc(z, 1, bytes);
    break;
  case VIA_ALIGNED:
    q = zalloc_aligned(z, 2 * page, bytes);
    break;
  case VIA_REALLOC_MOVE: {
    /* x can't grow in place (y follows it): it moves past y. */
    char *x = zalloc(z, 64), *y = zalloc(z, 64);
    ck_assert_ptr_nonnull(y);
    took(t, x, 64);
    took(t, y, 64);
    t->to_free[t->nfree++] = y;
    q = zrealloc(z, x, bytes);
    ck_assert_ptr_ne(q, x);
    break;
  }
  case VIA_REALLOC_GROW: {
    /* x grows in place over the pages after it: only that path unmarks them. */
    char *x = zalloc(z, 64);
    ck_assert_ptr_nonnull(x);
    q = zrealloc(z, x, bytes);
    ck_assert_ptr_eq(q, x);
    break;
  }
  }
  ck_assert_ptr_nonnull(q);
  memset(q, 0xa5, bytes);
  took(t, q, bytes);
  t->to_free[t->nfree++] = q;
}

/* Whatever path takes a block over pages given back, they are no longer
 * marked (the take counts them as reused): once the run is free again, the
 * next trim gives exactly those pages back, they leave memory and read as
 * zero. A path that kept the marks would leave them resident, skipped. */
START_TEST(every_take_unmarks_its_pages) {
  size_t page = page_size(), bytes = 5 * page + 300;
  for (int via = 0; via < VIA_COUNT; via++) {
    char *p[N];
    zone_t *z = returned_zone(p);
    uintptr_t run_lo = zt_base(z), run_hi = (uintptr_t)p[1];
    size_t marked = assert_marks_free(z);
    ck_assert_uint_gt(marked, 0);
    taken_t t;
    take_via(z, via, bytes, &t);
    size_t want = 0;
    for (uintptr_t a = run_lo; a + page <= run_hi; a += page) {
      bool hit = false;
      for (size_t r = 0; r < t.ranges; r++) {
        ZT_REQUIRE(t.lo[r] >= run_lo && t.hi[r] <= run_hi, "via %d: block outside the first run", via);
        hit = hit || (a < t.hi[r] && t.lo[r] < a + page);
      }
      want += hit;
    }
    ck_assert_uint_ge(want, 5);
    ck_assert_uint_eq(zone__trim_reused(z), want * page);
    ck_assert_uint_eq(assert_marks_free(z), marked - want);
    for (size_t k = 0; k < t.nfree; k++)
      ck_assert_int_eq(zfree(z, t.to_free[k]), 0);
    ck_assert_uint_eq(zone__trim(z, 0), want * page);
    ck_assert_uint_eq(zt_resident_pages(run_lo, run_hi), 0);
    ck_assert_uint_eq(assert_marks_free(z), marked);
    unsigned char *c = zcalloc(z, 1, bytes);
    ck_assert_ptr_eq(c, (void *)run_lo);
    for (size_t i = 0; i < bytes; i++)
      ZT_REQUIRE(c[i] == 0, "via %d: byte %zu not zero", via, i);
    for (int i = 1; i < N; i += 2)
      ck_assert(zt_verify(p[i], BLOCK, (uint64_t)i));
    zt_assert_check(z);
    destroy_zone(z);
  }
}
END_TEST

/* zone__trim_reused counts the marked pages that takes cover, once each, and
 * nothing while no trim has marked anything. */
START_TEST(reuse_counts_marked_pages) {
  size_t page = page_size();
  zone_t *z = create_zone(1 << 20);
  ck_assert_ptr_nonnull(z);
  char *a = zalloc(z, 4 * page);
  zfree(z, a);
  ck_assert_uint_eq(zone__trim_reused(z), 0);
  destroy_zone(z);

  char *p[N];
  z = returned_zone(p);
  ck_assert_uint_eq(zone__trim_reused(z), 0);
  a = zalloc(z, page + 100);  /* the run's first two pages */
  ck_assert_ptr_eq(a, (void *)zt_base(z));
  ck_assert_uint_eq(zone__trim_reused(z), 2 * page);
  char *b = zalloc(z, 16);    /* on the second page: counted already */
  ck_assert_ptr_eq(b, a + page + 112);
  ck_assert_uint_eq(zone__trim_reused(z), 2 * page);
  zfree(z, a);
  zfree(z, b);
  a = zalloc(z, 3 * page);    /* the third page is new */
  ck_assert_uint_eq(zone__trim_reused(z), 3 * page);
  zfree(z, a);
  ck_assert_uint_eq(zone__trim(z, 0), 3 * page);
  ck_assert_uint_eq(zone__trim_reused(z), 3 * page);
  destroy_zone(z);
}
END_TEST

/* A trim maps nothing of its own (its marks are in the index's book): with
 * every mapping refused it gives back every whole free page, marks them,
 * keeps errno, and gives back nothing the next time; pages used again and
 * freed go back, the rest stay marked. */
START_TEST(trim_maps_nothing) {
  zone_t *z = create_zone(1 << 20);
  ck_assert_ptr_nonnull(z);
  size_t big_bytes = (size_t)256 << 10;
  char *a = zalloc(z, 100), *big = zalloc(z, big_bytes), *c = zalloc(z, 100);
  ck_assert_ptr_nonnull(c);
  zt_fill(big, big_bytes, 3);
  zfree(z, big);
  zone__os_fail_after(1, true);  /* every mapping refused from here on */
  errno = ERANGE;
  size_t first = zone__trim(z, 0);
  ck_assert_int_eq(errno, ERANGE);
  ck_assert_uint_gt(first, big_bytes - page_size());
  ck_assert_uint_eq(zt_resident_pages((uintptr_t)big, (uintptr_t)c), 0);
  ck_assert_uint_eq(assert_marks_free(z), first / page_size());
  ck_assert_uint_eq(zone__trim(z, 0), 0);  /* marked: nothing again */
  zone__os_fail_after(0, false);
  big = zalloc(z, big_bytes);
  memset(big, 1, big_bytes);
  zfree(z, big);
  uintptr_t lo = (uintptr_t)big, hi = (uintptr_t)c;
  ck_assert_uint_eq(zone__trim(z, 0), pages_unmarked_by(lo, hi, lo, hi) * page_size());
  ck_assert_uint_eq(zt_resident_pages(lo, hi), 0);
  zfree(z, a);
  zfree(z, c);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Random use of every allocation path with trims in between: marked pages
 * stay free and out of memory, live blocks keep their bytes, zcalloc reads
 * zero, and a trim right after another gives back nothing. */
START_TEST(marks_follow_random_use) {
  zt_rng_t rng;
  uint64_t seed = zt_seed();
  zt_rng_seed(&rng, seed);
  zone_t *z = create_zone_flags(1 << 20, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  enum { SLOTS = 128 };
  char *p[SLOTS] = {0};
  size_t len[SLOTS] = {0};
  uint64_t tag[SLOTS] = {0};
  size_t page = page_size(), steps = zt_scaled(6000);
  for (size_t s = 0; s < steps; s++) {
    size_t i = zt_rng_below(&rng, SLOTS);
    size_t n = zt_rng_below(&rng, 4) == 0 ? zt_rng_below(&rng, 40 * page) + 1 : zt_rng_below(&rng, 2000) + 1;
    if (p[i] != NULL) {
      ZT_REQUIRE(zt_verify(p[i], len[i], tag[i]), "seed %llu step %zu: block changed",
                 (unsigned long long)seed, s);
      if (zt_rng_below(&rng, 3) == 0) {
        char *q = zrealloc(z, p[i], n);
        ck_assert_ptr_nonnull(q);
        ZT_REQUIRE(zt_verify(q, n < len[i] ? n : len[i], tag[i]), "seed %llu step %zu: realloc lost bytes",
                   (unsigned long long)seed, s);
        p[i] = q;
        len[i] = n;
      } else {
        ck_assert_int_eq(zfree(z, p[i]), 0);
        p[i] = NULL;
        continue;
      }
    } else {
      switch (zt_rng_below(&rng, 3)) {
      case 0:
        p[i] = zalloc(z, n);
        break;
      case 1:
        p[i] = zcalloc(z, n, 1);
        ck_assert_ptr_nonnull(p[i]);
        for (size_t k = 0; k < n; k++)
          ZT_REQUIRE(p[i][k] == 0, "seed %llu step %zu: zcalloc byte %zu not zero",
                     (unsigned long long)seed, s, k);
        break;
      default:
        p[i] = zalloc_aligned(z, (size_t)1 << (4 + zt_rng_below(&rng, 10)), n);
        break;
      }
      ck_assert_ptr_nonnull(p[i]);
      len[i] = n;
    }
    tag[i] = zt_rng_next(&rng);
    zt_fill(p[i], len[i], tag[i]);
    if (s % 97 == 0) {
      zone__trim_keep(z, zt_rng_below(&rng, 2) ? 0 : (size_t)zt_rng_below(&rng, 64) * page,
                      zt_rng_below(&rng, 2) ? 0 : (size_t)zt_rng_below(&rng, 300) * page);
      assert_marks_free(z);
    }
    if (s % 211 == 0) {
      zone_trim(z, zt_rng_below(&rng, 2) ? 0 : (size_t)zt_rng_below(&rng, 300) * page);
      assert_marks_free(z);
    }
    if (s % 61 == 0) {
      size_t handed = 0, was = 0;
      zone__trim_freed(z, &handed);
      for (size_t k = 0; k < z->nextents; k++)
        was += z->extents[k].fresh * G;
      ZT_REQUIRE(handed == was, "seed %llu step %zu: handed out %zu, extents say %zu", (unsigned long long)seed, s,
                 handed, was);
      assert_marks_free(z);
    }
    if (s % 389 == 0) {
      zone__trim(z, 0);
      ZT_REQUIRE(zone__trim(z, 0) == 0, "seed %llu step %zu: a second trim gave back pages",
                 (unsigned long long)seed, s);
      assert_marks_free(z);
    }
  }
  for (size_t i = 0; i < SLOTS; i++)
    if (p[i] != NULL)
      ZT_REQUIRE(zt_verify(p[i], len[i], tag[i]), "seed %llu: block %zu changed", (unsigned long long)seed, i);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST


/* ---- the decay: zone__trim_freed ----------------------------------------------------- */

/* A zone of 1 MiB filled with `size`-byte blocks, all written: small gives
 * are what leave words, then pages, wholly free one block at a time. Blocks
 * of 256 bytes (16 granules) lie four to a word, so the last free in a word
 * is a one-word give; blocks of 240 bytes (15 granules) run across words, so
 * it is mostly a give of two words. */
enum { SMALL = 240, ALIGNED = 256 };
static zone_t *small_blocks_zone(char **p, size_t n, size_t size) {
  zone_t *z = create_zone(1 << 20);
  ck_assert_ptr_nonnull(z);
  for (size_t i = 0; i < n; i++) {
    p[i] = zalloc(z, size);
    ck_assert_ptr_nonnull(p[i]);
    zt_fill(p[i], size, (uint64_t)i);
  }
  return z;
}

/* The whole pages inside [lo, hi). */
static size_t whole_pages(uintptr_t lo, uintptr_t hi) {
  size_t page = page_size();
  lo = (lo + page - 1) / page * page;
  hi = hi / page * page;
  return hi > lo ? (hi - lo) / page : 0;
}

static size_t look(zone_t *z) {
  size_t handed;
  return zone__trim_freed(z, &handed);
}

/* Pages a free leaves wholly free wait one look, go back at the next, and
 * are not given back twice; the blocks around them keep their bytes. For
 * blocks across words and blocks inside one. */
static void wait_one_look(size_t size) {
  enum { B = 1024 };
  static char *p[B];
  zone_t *z = small_blocks_zone(p, B, size);
  size_t lo = 100, hi = 700;  /* blocks [lo, hi) freed: a free run of 600 blocks */
  ck_assert_uint_eq(look(z), 0);  /* nothing freed yet */
  for (size_t i = lo; i < hi; i++)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  uintptr_t run_lo = (uintptr_t)p[lo], run_hi = (uintptr_t)p[hi];
  size_t pages = whole_pages(run_lo, run_hi);
  ck_assert_uint_gt(pages, 30);
  ck_assert_uint_eq(zt_resident_pages(run_lo, run_hi), pages);
  ck_assert_uint_eq(look(z), 0);  /* they wait */
  ck_assert_uint_eq(zt_resident_pages(run_lo, run_hi), pages);
  ck_assert_uint_eq(look(z), pages * page_size());
  ck_assert_uint_eq(zt_resident_pages(run_lo, run_hi), 0);
  ck_assert_uint_eq(assert_marks_free(z), pages);
  ck_assert_uint_eq(look(z), 0);
  for (size_t i = 0; i < B; i++)
    if (i < lo || i >= hi)
      ZT_REQUIRE(zt_verify(p[i], size, (uint64_t)i), "block %zu changed", i);
  zt_assert_check(z);
  destroy_zone(z);
}

START_TEST(freed_pages_wait_one_look) { wait_one_look(SMALL); }
END_TEST
START_TEST(one_word_frees_wait_one_look) { wait_one_look(ALIGNED); }
END_TEST

/* A page that a block takes again before the look stays; the others of the
 * run go back. Blocks freed between two looks wait for the one after. */
START_TEST(page_taken_before_the_look_stays) {
  enum { B = 1024 };
  static char *p[B];
  zone_t *z = small_blocks_zone(p, B, SMALL);
  size_t page = page_size();
  for (size_t i = 100; i < 700; i++)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  uintptr_t run_lo = (uintptr_t)p[100], run_hi = (uintptr_t)p[700];
  size_t pages = whole_pages(run_lo, run_hi);
  ck_assert_uint_eq(look(z), 0);
  char *again = zalloc(z, SMALL);  /* first fit: the run's first granules */
  ck_assert_ptr_eq(again, (char *)run_lo);
  zt_fill(again, SMALL, 99);
  size_t taken = pages_unmarked_by(run_lo, run_hi, run_lo, run_lo + SMALL);
  ck_assert_uint_eq(look(z), (pages - taken) * page);
  ck_assert_uint_eq(zt_resident_pages(run_lo, run_hi), taken);
  ck_assert(zt_verify(again, SMALL, 99));
  /* freed now: waits for the look after next */
  for (size_t i = 800; i < 900; i++)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  size_t later = whole_pages((uintptr_t)p[800], (uintptr_t)p[900]);
  ck_assert_uint_gt(later, 0);
  ck_assert_uint_eq(look(z), 0);
  ck_assert_uint_eq(look(z), later * page);
  ck_assert_uint_eq(assert_marks_free(z), pages - taken + later);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A chunk freed into again between two looks is in use: its free pages wait
 * for a look that follows a whole stretch with no free into it; the other
 * chunks of the run go back as before. */
START_TEST(chunk_freed_into_again_waits) {
  enum { B = 1024 };
  static char *p[B];
  zone_t *z = small_blocks_zone(p, B, SMALL);
  size_t page = page_size();
  uintptr_t base = z->extents[0].base, chunk = ZONE_CHUNK_BITS * ZONE_G;
  size_t lo = 100;  /* the run starts with a chunk's first block */
  while (((uintptr_t)p[lo] - base) % chunk >= SMALL)
    lo++;
  ck_assert_uint_lt(lo, 200);
  for (size_t i = lo; i < 700; i++)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  uintptr_t run_lo = (uintptr_t)p[lo], run_hi = (uintptr_t)p[700];
  size_t pages = whole_pages(run_lo, run_hi);
  ck_assert_uint_eq(look(z), 0);  /* they wait */
  /* Five blocks taken again (first fit: the run's first granules, past its
   * first bitmap word) and freed: a free into the run's first chunk that
   * leaves a word wholly free, which is what marks a chunk. */
  char *again[5];
  for (size_t k = 0; k < 5; k++) {
    again[k] = zalloc(z, SMALL);
    ck_assert_ptr_eq(again[k], (char *)run_lo + k * SMALL);
    zt_fill(again[k], SMALL, 99);
  }
  for (size_t k = 0; k < 5; k++)
    ck_assert_int_eq(zfree(z, again[k]), 0);
  uintptr_t hot_lo = base + (run_lo - base) / chunk * chunk;
  size_t hot = whole_pages(run_lo, hot_lo + chunk);
  ck_assert_uint_gt(hot, 0);
  ck_assert_uint_eq(look(z), (pages - hot) * page);
  ck_assert_uint_eq(zt_resident_pages(run_lo, run_hi), hot);
  ck_assert_uint_eq(look(z), hot * page);  /* no free into it since */
  ck_assert_uint_eq(zt_resident_pages(run_lo, run_hi), 0);
  ck_assert_uint_eq(assert_marks_free(z), pages);
  for (size_t i = 0; i < B; i++)
    if (i < lo || i >= 700)
      ZT_REQUIRE(zt_verify(p[i], SMALL, (uint64_t)i), "block %zu changed", i);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Every path that frees granules marks them for the look: a large block, a
 * block across two words, a shrink in place; and zone_reset's. The look
 * reports the bytes ever handed out, which only grow. */
START_TEST(every_give_reaches_the_look) {
  size_t page = page_size(), handed = 0, before = 0;
  zone_t *z = create_zone(1 << 20);
  ck_assert_ptr_nonnull(z);
  ck_assert_uint_eq(zone__trim_freed(z, &handed), 0);
  ck_assert_uint_eq(handed, 0);
  char *a = zalloc(z, 1000), *big = zalloc(z, 20 * page), *two = zalloc(z, 6000);
  char *grown = zalloc(z, 12 * page), *end = zalloc(z, 100);
  ck_assert_ptr_nonnull(end);
  ck_assert_uint_eq(zone__trim_freed(z, &handed), 0);
  ck_assert_uint_eq(handed, (size_t)(end + 112 - a));
  /* the rest taken too, so the free pages are the ones freed below */
  ck_assert_ptr_nonnull(zalloc(z, zone_size(z) - handed));
  ck_assert_uint_eq(zone__trim_freed(z, &handed), 0);
  ck_assert_uint_eq(handed, zone_size(z));
  before = handed;
  zt_fill(big, 20 * page, 1);
  zt_fill(grown, 12 * page, 2);
  ck_assert_int_eq(zfree(z, big), 0);
  ck_assert_ptr_eq(zrealloc(z, grown, 2 * page), grown);  /* in place */
  ck_assert_uint_eq(look(z), 0);
  size_t want = whole_pages((uintptr_t)big, (uintptr_t)two) + whole_pages((uintptr_t)grown + 2 * page, (uintptr_t)end);
  ck_assert_uint_eq(zone__trim_freed(z, &handed), want * page);
  ck_assert_uint_eq(handed, before);
  ck_assert_uint_eq(assert_marks_free(z), want);
  ck_assert_int_eq(zfree(z, two), 0);  /* joins the run below: its pages go back too */
  ck_assert_uint_eq(look(z), 0);
  look(z);
  ck_assert_uint_gt(whole_pages((uintptr_t)big, (uintptr_t)grown), whole_pages((uintptr_t)big, (uintptr_t)two));
  ck_assert_uint_eq(assert_marks_free(z), whole_pages((uintptr_t)big, (uintptr_t)grown) +
                                              whole_pages((uintptr_t)grown + 2 * page, (uintptr_t)end));
  ck_assert_uint_eq(zt_resident_pages((uintptr_t)big, (uintptr_t)grown), 0);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A look maps nothing of its own either: with every mapping refused, the
 * first look moves the freed marks on and the next gives their pages back,
 * keeping errno. */
START_TEST(look_maps_nothing) {
  enum { B = 1024 };
  static char *p[B];
  zone_t *z = small_blocks_zone(p, B, SMALL);
  for (size_t i = 100; i < 700; i++)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  size_t pages = whole_pages((uintptr_t)p[100], (uintptr_t)p[700]);
  zone__os_fail_after(1, true);  /* every mapping refused from here on */
  errno = ERANGE;
  ck_assert_uint_eq(look(z), 0);  /* the marks move on: they wait one look */
  ck_assert_uint_eq(look(z), pages * page_size());
  ck_assert_int_eq(errno, ERANGE);
  zone__os_fail_after(0, false);
  ck_assert_uint_eq(assert_marks_free(z), pages);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A zone in the caller's memory gives nothing back. */
START_TEST(caller_memory_is_not_looked_at) {
  size_t page = page_size(), len = 64 * page;
  unsigned char *buf = aligned_alloc(page, len);
  ck_assert_ptr_nonnull(buf);
  zone_t *z = create_zone_in(buf, len, 0);
  ck_assert_ptr_nonnull(z);
  char *b = zalloc(z, 16 * page);
  ck_assert_ptr_nonnull(b);
  memset(b, 7, 16 * page);
  ck_assert_int_eq(zfree(z, b), 0);
  look(z);
  ck_assert_uint_eq(look(z), 0);
  ck_assert_uint_eq(zt_resident_pages((uintptr_t)b, (uintptr_t)b + 16 * page), 16);
  destroy_zone(z);
  free(buf);
}
END_TEST

/* ---- zone_trim, the public call ---------------------------------------------------- */

/* Blocks of many sizes in a grown zone, every other one freed. */
enum { PUB = 48 };
static size_t pub_size(int i) { return (size_t)(i % 5) * 7000 + (size_t)(i % 3) * 40 + 24; }

static zone_t *public_zone(char **p) {
  zone_t *z = create_zone_flags(1 << 16, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  for (int i = 0; i < PUB; i++) {
    p[i] = zalloc(z, pub_size(i));
    ck_assert_ptr_nonnull(p[i]);
    zt_fill(p[i], pub_size(i), (uint64_t)i);
  }
  for (int i = 0; i < PUB; i += 2) {
    ck_assert_int_eq(zfree(z, p[i]), 0);
    p[i] = NULL;
  }
  return z;
}

static void verify_live(char **p) {
  for (int i = 0; i < PUB; i++)
    if (p[i] != NULL)
      ZT_REQUIRE(zt_verify(p[i], pub_size(i), (uint64_t)i), "block %d changed", i);
}

/* Every whole free page leaves memory, nothing else changes (blocks, free
 * regions, stats, live bytes), and a second call has nothing to give. */
START_TEST(zone_trim_gives_back_free_pages) {
  char *p[PUB];
  zone_t *z = public_zone(p);
  zt_snapshot_t before;
  zt_snapshot_take(z, &before);
  size_t released = zone_trim(z, 0);
  ck_assert_uint_gt(released, 0);
  ck_assert_uint_eq(released % page_size(), 0);
  ck_assert_uint_eq(assert_marks_free(z) * page_size(), released);
  zt_assert_unchanged(z, &before, "zone_trim");
  for (size_t i = 0; i < before.count; i++)
    if (!before.regions[i].used)
      ZT_REQUIRE(zt_resident_pages(before.regions[i].addr, before.regions[i].addr + before.regions[i].size) == 0,
                 "free region at %#lx still resident", (unsigned long)before.regions[i].addr);
  zt_snapshot_free(&before);
  verify_live(p);
  ck_assert_uint_eq(zone_trim(z, 0), 0);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Pages given back take blocks again: the same requests land where they were
 * (first fit), hold what is written to them, count as reused, and once freed
 * go back again, exactly those pages. */
START_TEST(zone_trim_pages_are_reused) {
  char *p[PUB];
  zone_t *z = public_zone(p);
  size_t released = zone_trim(z, 0);
  ck_assert_uint_gt(released, 0);
  char *again[PUB] = {0};
  for (int i = 0; i < PUB; i += 2) {
    again[i] = zalloc(z, pub_size(i));
    ck_assert_ptr_nonnull(again[i]);
    zt_fill(again[i], pub_size(i), (uint64_t)i + 1000);
  }
  size_t reused = zone__trim_reused(z);
  ck_assert_uint_gt(reused, 0);
  ck_assert_uint_eq(reused % page_size(), 0);
  assert_marks_free(z);
  for (int i = 0; i < PUB; i += 2) {
    ZT_REQUIRE(zt_verify(again[i], pub_size(i), (uint64_t)i + 1000), "new block %d changed", i);
    ZT_REQUIRE(zt_resident_pages((uintptr_t)again[i], (uintptr_t)again[i] + pub_size(i)) ==
                   pages_unmarked_by((uintptr_t)again[i], (uintptr_t)again[i] + pub_size(i),
                                     (uintptr_t)again[i], (uintptr_t)again[i] + pub_size(i)),
               "new block %d is not all resident", i);
  }
  verify_live(p);
  zt_assert_check(z);
  for (int i = 0; i < PUB; i += 2)
    ck_assert_int_eq(zfree(z, again[i]), 0);
  ck_assert_uint_eq(zone_trim(z, 0), reused);
  ck_assert_uint_eq(assert_marks_free(z) * page_size(), released);
  verify_live(p);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* keep: the lowest `keep` bytes of the pages it would give back stay in
 * memory (rounded down to pages), the rest goes. */
START_TEST(zone_trim_keeps_the_lowest) {
  size_t page = page_size();
  zone_t *z = create_zone(1 << 20);
  ck_assert_ptr_nonnull(z);
  char *a = zalloc(z, 100), *run = zalloc(z, 32 * page), *b = zalloc(z, 100);
  ck_assert_ptr_nonnull(b);
  memset(run, 7, 32 * page);
  zfree(z, run);
  uintptr_t lo = (uintptr_t)run, hi = (uintptr_t)b;
  size_t whole = pages_unmarked_by(lo, hi, lo, hi);
  ck_assert_uint_eq(zt_resident_pages(lo, hi), whole);
  size_t keep = 5;
  size_t released = zone_trim(z, keep * page + page / 2);
  ck_assert_uint_eq(zt_resident_pages(lo, hi), keep);
  uintptr_t first = (lo + page - 1) / page * page;
  ck_assert_uint_eq(zt_resident_pages(first, first + keep * page), keep);
  uintptr_t top = (uintptr_t)b + zone_block_size(z, b), end = zt_base(z) + zone_size(z);
  ck_assert_uint_eq(released, (whole - keep + pages_unmarked_by(top, end, top, end)) * page);
  ck_assert_uint_eq(zone_trim(z, 0), keep * page);
  ck_assert_uint_eq(zt_resident_pages(lo, hi), 0);
  ck_assert_int_eq(zfree(z, a), 0);
  ck_assert_int_eq(zfree(z, b), 0);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A NULL zone is refused with EINVAL; a call that succeeds leaves errno alone,
 * whatever it releases. */
START_TEST(zone_trim_bad_input) {
  errno = 0;
  ck_assert_uint_eq(zone_trim(NULL, 0), 0);
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_uint_eq(zone_trim(NULL, 4096), 0);
  ck_assert_int_eq(errno, EINVAL);
  char *p[PUB];
  zone_t *z = public_zone(p);
  errno = ERANGE;
  ck_assert_uint_gt(zone_trim(z, 0), 0);
  ck_assert_int_eq(errno, ERANGE);
  ck_assert_uint_eq(zone_trim(z, 0), 0);
  ck_assert_int_eq(errno, ERANGE);
  verify_live(p);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A zone over a caller's buffer gives nothing back: the buffer's bytes stay
 * as they were, free ones included. An unlocked zone trims as a locked one. */
START_TEST(zone_trim_caller_buffer_and_unlocked) {
  size_t page = page_size(), len = 64 * page;
  unsigned char *buf = aligned_alloc(page, len);
  ck_assert_ptr_nonnull(buf);
  memset(buf, 0x5a, len);
  zone_t *z = create_zone_in(buf, len, 0);
  ck_assert_ptr_nonnull(z);
  char *a = zalloc(z, 100), *big = zalloc(z, 16 * page), *c = zalloc(z, 100);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(zfree(z, big), 0);
  ck_assert_uint_eq(zone_trim(z, 0), 0);
  ck_assert_int_eq(zfree(z, a), 0);
  ck_assert_int_eq(zfree(z, c), 0);
  zt_assert_check(z);
  destroy_zone(z);
  for (size_t i = 0; i < len; i++)  /* nothing wrote to the buffer */
    ZT_REQUIRE(buf[i] == 0x5a, "byte %zu of the caller's buffer changed", i);
  free(buf);

  z = create_zone_flags(1 << 20, ZONE_UNLOCKED);
  ck_assert_ptr_nonnull(z);
  big = zalloc(z, 16 * page);
  memset(big, 1, 16 * page);
  ck_assert_int_eq(zfree(z, big), 0);
  ck_assert_uint_ge(zone_trim(z, 0), 16 * page);
  ck_assert_uint_eq(zt_resident_pages(zt_base(z), zt_base(z) + zone_size(z)), 0);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* ---- the bookkeeping of a big block ----------------------------------------------- */

/* Resident pages of the whole pages inside an array's elements [lo, hi). */
static size_t array_resident(const void *base, size_t elem, size_t lo, size_t hi) {
  return zt_resident_pages((uintptr_t)base + lo * elem, (uintptr_t)base + hi * elem);
}
static size_t array_pages(const void *base, size_t elem, size_t lo, size_t hi) {
  size_t page = page_size();
  uintptr_t a = ((uintptr_t)base + lo * elem + page - 1) / page * page;
  uintptr_t b = ((uintptr_t)base + hi * elem) / page * page;
  return b > a ? (b - a) / page : 0;
}

/* zone__os_zero: every byte of the range reads zero, the bytes around it are
 * kept, and the whole pages of a long range hold no memory (a short one is
 * written). */
START_TEST(os_zero_gives_back_whole_pages) {
  size_t page = page_size(), len = ZONE_ZERO_DISCARD_BYTES * 2 + 4 * page;
  unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert_ptr_ne(m, MAP_FAILED);
  memset(m, 0xa5, len);
  size_t lo = 100, n = ZONE_ZERO_DISCARD_BYTES + 2 * page + 7;
  zone__os_zero(m + lo, n);
  for (size_t i = 0; i < len; i++)
    ZT_REQUIRE(m[i] == (i >= lo && i < lo + n ? 0 : 0xa5), "byte %zu is %u", i, m[i]);
  /* the pages wholly inside were given back; the reads above mapped them
   * again, but only as the shared zero page, which mincore counts: look at a
   * fresh copy instead */
  memset(m, 0xa5, len);
  zone__os_zero(m + lo, n);
  size_t inside = (lo + n) / page - (lo + page - 1) / page;
  ck_assert_uint_eq(zt_resident_pages((uintptr_t)m + lo, (uintptr_t)m + lo + n), 0);
  ck_assert_uint_ge(inside, ZONE_ZERO_DISCARD_BYTES / page);
  ck_assert_uint_eq(m[lo - 1], 0xa5);
  ck_assert_uint_eq(m[lo + n], 0xa5);
  /* short of the threshold: written, and resident */
  memset(m, 0xa5, len);
  zone__os_zero(m + page, ZONE_ZERO_DISCARD_BYTES - page);
  ck_assert_uint_eq(zt_resident_pages((uintptr_t)m + page, (uintptr_t)m + ZONE_ZERO_DISCARD_BYTES),
                    ZONE_ZERO_DISCARD_BYTES / page - 1);
  for (size_t i = page; i < ZONE_ZERO_DISCARD_BYTES; i++)
    ZT_REQUIRE(m[i] == 0, "byte %zu is %u", i, m[i]);
  munmap(m, len);
}
END_TEST

/* The bitmaps of a new zone are neither read nor written until blocks come
 * near them, and a reset clears only the words below where blocks ever
 * reached: the rest of their pages stay not resident. (Reading a page never
 * written makes it resident too: a page of its own on some kernels, the
 * shared zero page on others; mincore sees either.) */
START_TEST(bitmaps_untouched_past_the_blocks) {
  zone_t *z = create_zone((size_t)16 << 20);
  ck_assert_ptr_nonnull(z);
  zone__index_t *ix = &z->extents[0].idx;
  size_t words = ix->nwords, reached = ((size_t)2 << 20) / G / 64;  /* 2 MiB of blocks */
  ck_assert_uint_ge(array_pages(ix->used, 8, 0, words), 32);
  ck_assert_uint_eq(array_resident(ix->used, 8, 0, words), 0);
  ck_assert_uint_eq(array_resident(ix->end, 8, 0, words), 0);
  for (size_t i = 0; i < 512; i++)
    ck_assert_ptr_nonnull(zalloc(z, 4096));
  ck_assert_uint_gt(array_resident(ix->used, 8, 0, reached), 0);
  ck_assert_uint_gt(array_resident(ix->end, 8, 0, reached), 0);
  zone_reset(z);
  ck_assert_uint_eq(array_resident(ix->used, 8, reached, words), 0);
  ck_assert_uint_eq(array_resident(ix->end, 8, reached, words), 0);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 0);
  ck_assert_uint_eq(st.largest_free, zone_size(z));
  zt_assert_check(z);
  ck_assert_ptr_eq(zalloc(z, 100), (void *)zt_base(z));
  destroy_zone(z);
}
END_TEST

/* A block of most of a 1 GiB zone: its take leaves the leaves and the tree's
 * chunk summaries under it zero and not resident (they were all written as
 * free when the zone was made), its free leaves the used bitmap under it
 * zero and not resident; the zone stays consistent and first fit finds the
 * same place again. A quarter resident is allowed for the kernel's huge
 * pages coming back together behind the test's back; before, all were. */
START_TEST(big_block_gives_back_its_bookkeeping) {
  size_t bytes = (size_t)1 << 30, big = bytes - ((size_t)1 << 20);
  zone_t *z = create_zone(bytes);
  ck_assert_ptr_nonnull(z);
  zone__index_t *ix = &z->extents[0].idx;
  size_t w0 = 1, w1 = big / G / 64 - 1;  /* words wholly inside the block */
  size_t c0 = 1, c1 = w1 / ZONE_CHUNK_WORDS;
  ck_assert_uint_eq(array_resident(ix->leaf, 4, w0, w1), array_pages(ix->leaf, 4, w0, w1));
  char *small = zalloc(z, 100);
  ck_assert_ptr_nonnull(small);
  zfree(z, small);
  char *p = zalloc(z, big);
  ck_assert_ptr_eq(p, (char *)zt_base(z));
  size_t leaf_pages = array_pages(ix->leaf, 4, w0, w1);
  size_t chunk_pages = array_pages(ix->tree.chunk, sizeof *ix->tree.chunk, c0, c1);
  ck_assert_uint_ge(leaf_pages, 512);
  ck_assert_uint_ge(chunk_pages, 64);
  ck_assert_uint_le(array_resident(ix->leaf, 4, w0, w1), leaf_pages / 4);
  ck_assert_uint_le(array_resident(ix->tree.chunk, sizeof *ix->tree.chunk, c0, c1), chunk_pages / 4);
  for (size_t w = w0; w < w1; w += 997) {
    ZT_REQUIRE(ix->leaf[w] == 0 && ix->reach.bytes[w] == 0, "word %zu reads as free", w);
    ZT_REQUIRE(ix->used[w] == ~(uint64_t)0, "word %zu is not all used", w);
  }
  ck_assert_uint_eq(zone_block_size(z, p), big);
  p[0] = 1;
  p[big - 1] = 2;
  char *after = zalloc(z, 100);
  ck_assert_ptr_eq(after, p + big);
  zt_assert_check(z);

  ck_assert_int_eq(zfree(z, p), 0);
  size_t used_pages = array_pages(ix->used, 8, w0, w1);
  ck_assert_uint_ge(used_pages, 2000);
  ck_assert_uint_le(array_resident(ix->used, 8, w0, w1), used_pages / 4);
  zt_assert_check(z);
  ck_assert_ptr_eq(zalloc(z, big - 4096), p);  /* the lowest fit again */
  ck_assert_ptr_eq(zalloc(z, 4096), p + big - 4096);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A growing zone that grows for one huge request (GNU sort's buffer): the
 * bookkeeping it keeps resident is the used bitmap of the block, 1/128 of
 * it, and the edges of the arrays, not the leaves, tree and reach bytes too
 * (about 7.4 of the 19 MiB it maps for 768 MiB). */
START_TEST(growth_for_a_huge_block_keeps_little_bookkeeping) {
  /* Counted in small pages: with transparent huge pages each edge touched
   * costs a 2 MiB page wherever the mapping happens to land. */
  ck_assert_int_eq(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), 0);
  zone_t *z = create_zone_flags(1 << 20, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  size_t big = (size_t)768 << 20;
  char *p = zalloc(z, big);
  ck_assert_ptr_nonnull(p);
  ck_assert_uint_eq(z->nextents, 1);
  zone__index_t *ix = &z->extents[0].idx;
  size_t book = zt_resident_pages((uintptr_t)ix->book, (uintptr_t)ix->book + ix->book_len) * page_size();
  /* the used bits (6 MiB) and the arrays' edges, counted in small pages */
  ck_assert_uint_le(book, big / 128 + ((size_t)2 << 20));
  ck_assert_uint_ge(book, big / 128);
  zt_assert_check(z);
  ck_assert_int_eq(zfree(z, p), 0);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Big blocks at odd granules between small ones, a free run of 5 granules
 * just before each (the first word's reach byte is not zero), taken, shrunk
 * and grown in place, and freed: every step's bookkeeping, zeroed pages and
 * all, passes zone_check, first fit puts each where the reference would, and
 * the contents written in the block stay. */
START_TEST(big_blocks_at_odd_places_stay_consistent) {
  size_t bytes = (size_t)512 << 20;
  zone_t *z = create_zone(bytes);
  ck_assert_ptr_nonnull(z);
  const size_t pads[] = {16, 48, 1008, 4096 + 32, 65536 - 16};
  const size_t bigs[] = {(size_t)40 << 20, ((size_t)100 << 20) + 16 * 7, ((size_t)300 << 20) - 16 * 3};
  for (size_t i = 0; i < sizeof pads / sizeof *pads; i++) {
    for (size_t j = 0; j < sizeof bigs / sizeof *bigs; j++) {
      char *pad = zalloc(z, pads[i]);
      ck_assert_ptr_eq(pad, (char *)zt_base(z));
      char *gap = zalloc(z, 5 * G), *blocker = zalloc(z, G);
      ck_assert_ptr_eq(blocker, gap + 5 * G);
      ck_assert_int_eq(zfree(z, gap), 0);
      char *p = zalloc(z, bigs[j]);
      ck_assert_ptr_eq(p, blocker + G);
      zt_assert_check(z);  /* before a small take nearby refreshes the edge chunk */
      char *after = zalloc(z, 100);
      ck_assert_ptr_eq(after, p + bigs[j]);
      p[0] = 'a';
      p[bigs[j] / 2 - 1] = 'm';
      p[bigs[j] - 1] = 'z';
      zt_assert_check(z);
      ck_assert_int_eq(zfree(z, after), 0);
      ck_assert_ptr_eq(zrealloc(z, p, bigs[j] / 2), p);  /* shrink in place */
      zt_assert_check(z);
      ck_assert_ptr_eq(zrealloc(z, p, bigs[j] + ((size_t)8 << 20)), p);  /* grow in place */
      zt_assert_check(z);
      ck_assert_int_eq(p[0], 'a');
      ck_assert_int_eq(p[bigs[j] / 2 - 1], 'm');
      ck_assert_uint_eq(zone_block_size(z, p), bigs[j] + ((size_t)8 << 20));
      ck_assert_ptr_eq(zalloc(z, 100), p + bigs[j] + ((size_t)8 << 20));
      ck_assert_int_eq(zfree(z, p), 0);
      zt_assert_check(z);
      ck_assert_ptr_eq(zalloc(z, 200), p);  /* the lowest fit, in the freed run */
      zone_reset(z);
      zt_assert_check(z);
    }
  }
  destroy_zone(z);
}
END_TEST

/* Every free run's length as a trim finds it (zone__index_free_run, over the
 * summary tree) against the bitmap's count (zone__index_free_len), at each
 * run's first granule and at one inside it, and 0 at a used granule or past
 * the end: zone e's state after random takes and gives of 16 B to 256 KiB
 * (runs inside a chunk, over many chunks, up to the free tail), the tree
 * awake or asleep (only small changes between two looks). */
static void assert_free_runs(zone_t *z, zt_rng_t *rng) {
  zone__index_t *ix = &z->extents[0].idx;
  for (size_t g = 0; g < ix->ngran;) {
    size_t want = zone__index_free_len(ix, g, ix->ngran - g);
    if (want == 0) {
      ZT_REQUIRE(zone__index_free_run(ix, g) == 0, "granule %zu is used", g);
      g++;
      continue;
    }
    ZT_REQUIRE(zone__index_free_run(ix, g) == want, "the run at %zu: %zu granules, found %zu", g, want,
               zone__index_free_run(ix, g));
    size_t inside = g + zt_rng_below(rng, want);
    ZT_REQUIRE(zone__index_free_run(ix, inside) == g + want - inside, "granule %zu inside the run at %zu", inside,
               g);
    g += want;
  }
  ck_assert_uint_eq(zone__index_free_run(ix, ix->ngran), 0);
}

START_TEST(free_run_matches_the_bitmap) {
  zt_rng_t rng;
  uint64_t seed = zt_seed();
  zt_rng_seed(&rng, seed);
  zone_t *z = create_zone(8 << 20);
  ck_assert_ptr_nonnull(z);
  enum { SLOTS = 256 };
  char *p[SLOTS] = {0};
  size_t steps = zt_scaled(4000);
  for (size_t s = 0; s < steps; s++) {
    size_t i = zt_rng_below(&rng, SLOTS);
    bool small_only = (s / 500) % 2 == 1;  /* stretches of small changes: the tree may sleep */
    size_t n = !small_only && zt_rng_below(&rng, 4) == 0 ? zt_rng_below(&rng, 256 << 10) + 1
                                                         : zt_rng_below(&rng, 1000) + 1;
    if (p[i] != NULL) {
      ck_assert_int_eq(zfree(z, p[i]), 0);
      p[i] = NULL;
    } else {
      p[i] = zalloc(z, n);
    }
    if (s % 500 == 499)
      assert_free_runs(z, &rng);
  }
  assert_free_runs(z, &rng);
  zt_assert_check(z);
  destroy_zone(z);

  /* A zone whose granules are not a whole number of words: the tail run
   * ends at the last granule, not at the padding. */
  size_t page = page_size(), len = 64 * page + 48;
  unsigned char *buf = aligned_alloc(page, 65 * page);
  ck_assert_ptr_nonnull(buf);
  z = create_zone_in(buf, len, 0);
  ck_assert_ptr_nonnull(z);
  zone__index_t *ix = &z->extents[0].idx;
  ck_assert_uint_ne(ix->ngran % 64, 0);
  char *a = zalloc(z, 100);
  ck_assert_ptr_nonnull(a);
  assert_free_runs(z, &rng);
  ck_assert_uint_eq(zone__index_free_run(ix, ix->ngran - 1), 1);
  ck_assert_int_eq(zfree(z, a), 0);
  ck_assert_uint_eq(zone__index_free_run(ix, 0), ix->ngran);
  zt_assert_check(z);
  destroy_zone(z);
  free(buf);
}
END_TEST

int main(void) {
  Suite *s = suite_create("trim");
  ZT_CASE(s, big_blocks_at_odd_places_stay_consistent);
  ZT_CASE(s, os_zero_gives_back_whole_pages);
  ZT_CASE(s, bitmaps_untouched_past_the_blocks);
  ZT_CASE(s, big_block_gives_back_its_bookkeeping);
  ZT_CASE(s, growth_for_a_huge_block_keeps_little_bookkeeping);
  ZT_CASE(s, second_trim_gives_nothing);
  ZT_CASE(s, smaller_minimum_adds_the_rest);
  ZT_CASE(s, keep_leaves_the_lowest_pages);
  ZT_CASE(s, every_take_unmarks_its_pages);
  ZT_CASE(s, reuse_counts_marked_pages);
  ZT_CASE(s, trim_maps_nothing);
  ZT_CASE(s, marks_follow_random_use);
  ZT_CASE(s, freed_pages_wait_one_look);
  ZT_CASE(s, one_word_frees_wait_one_look);
  ZT_CASE(s, page_taken_before_the_look_stays);
  ZT_CASE(s, chunk_freed_into_again_waits);
  ZT_CASE(s, every_give_reaches_the_look);
  ZT_CASE(s, caller_memory_is_not_looked_at);
  ZT_CASE(s, look_maps_nothing);
  ZT_CASE(s, zone_trim_gives_back_free_pages);
  ZT_CASE(s, zone_trim_pages_are_reused);
  ZT_CASE(s, zone_trim_keeps_the_lowest);
  ZT_CASE(s, zone_trim_bad_input);
  ZT_CASE(s, zone_trim_caller_buffer_and_unlocked);
  ZT_CASE(s, free_run_matches_the_bitmap);
  return zt_main(s);
}
