/*
 * trim.c - giving memory back to the OS: zone_trim (zone.h), zone__trim, the
 * decay's look (zone__trim_freed) and the marks that make them cheap to
 * repeat.
 *
 * An extent's returned-pages bitmap (the index's returned[], kept in its
 * book beside the freed[] marks: no mapping of its own) marks the pages a
 * trim gave back that no block has been taken over since: they hold
 * no memory and read as zero, so the next trim skips them and its madvise
 * covers only pages a program may have touched in between. Every way a block
 * comes to cover a page (a take, a grow in place) clears the page's mark
 * first (zone__pages_taken, internal.h), so a marked page is always free.
 * The extent counts its marked pages and keeps a bound below which none is
 * marked, so that a take below every mark (all takes, while none is set)
 * costs one compare.
 *
 * The decay's look reads the index's freed[] marks (a bit per 8 KiB chunk in
 * which a give left a bitmap word wholly free, index.c) and moves them into
 * waiting[] (kept beside them in the index's book, so it costs no mapping of
 * its own); the chunks that were waiting and have not been freed into again
 * since give back their pages found wholly free now. A page goes back once
 * it has stayed free from one look to the next with no free into its chunk
 * in between, for one check of its words at the look. A chunk freed into
 * again is in use: its free pages are likely to be written again soon, so
 * they wait (bench/src/mstress.c faulted in again nearly every page the
 * decay gave back; with this rule its faults are those of no decay at all).
 */
#include "internal.h"
#include "bits.h"

#include <errno.h>
#include <string.h>

/* ---- the marks ------------------------------------------------------------------ */

/* No page is marked below granule `g` of e, as far as its bound knows. */
static void marks_from(zone__extent_t *e, size_t g) {
  e->returned.clear_below = g;
}

void zone__returned_init(zone__extent_t *e) {
  memset(&e->returned, 0, sizeof e->returned);
  e->returned.page_shift = (unsigned)__builtin_ctzll(zone__os_page_size() / ZONE_G);
  marks_from(e, SIZE_MAX);
}

/* Clears (set = false) or sets the bits [lo, hi) of map; returns how many
 * changed. */
static size_t pages_assign(uint64_t *map, size_t lo, size_t hi, bool set) {
  size_t changed = 0;
  while (lo < hi) {
    size_t w = lo / ZONE_WORD_BITS;
    unsigned b = (unsigned)(lo % ZONE_WORD_BITS);
    unsigned top = hi - w * ZONE_WORD_BITS >= ZONE_WORD_BITS ? ZONE_WORD_BITS : (unsigned)(hi - w * ZONE_WORD_BITS);
    uint64_t m = bits_between(b, top);
    uint64_t hit = (set ? ~map[w] : map[w]) & m;
    if (hit != 0) {
      map[w] ^= hit;
      changed += (size_t)__builtin_popcountll(hit);
    }
    lo = (w + 1) * ZONE_WORD_BITS;
  }
  return changed;
}

/* The first clear bit in [from, to) of map after passing over *skip clear
 * bits (*skip goes down by those passed), or to. */
static size_t pages_first_clear(const uint64_t *map, size_t from, size_t to, size_t *skip) {
  while (from < to) {
    size_t w = from / ZONE_WORD_BITS, first = w * ZONE_WORD_BITS;
    unsigned top = to - first >= ZONE_WORD_BITS ? ZONE_WORD_BITS : (unsigned)(to - first);
    uint64_t clear = ~map[w] & bits_between((unsigned)(from - first), top);
    size_t n = (size_t)__builtin_popcountll(clear);
    if (n > *skip) {
      for (; *skip > 0; (*skip)--)
        clear &= clear - 1;
      return first + ctz64(clear);
    }
    *skip -= n;
    from = first + ZONE_WORD_BITS;
  }
  return to;
}

/* The last clear bit in [from, to) of map, or from when there is none. */
static size_t pages_last_clear(const uint64_t *map, size_t from, size_t to) {
  while (to > from) {
    size_t w = (to - 1) / ZONE_WORD_BITS, first = w * ZONE_WORD_BITS;
    unsigned lo = from > first ? (unsigned)(from - first) : 0;
    uint64_t clear = ~map[w] & bits_between(lo, (unsigned)(to - first));
    if (clear != 0)
      return first + ZONE_WORD_BITS - 1 - clz64(clear);
    to = first;
  }
  return from;
}

/* The first set bit in [from, to) of map, or to. */
static size_t pages_first_set(const uint64_t *map, size_t from, size_t to) {
  while (from < to) {
    size_t w = from / ZONE_WORD_BITS, first = w * ZONE_WORD_BITS;
    uint64_t set = map[w] & (ALL_ONES << (from - first));
    if (set != 0)
      return first + ctz64(set) < to ? first + ctz64(set) : to;
    from = first + ZONE_WORD_BITS;
  }
  return to;
}

/* Pages [p0, p1] of e are being taken: their marks go, counted as reuse;
 * the bound below which none is marked rises past them when they were the
 * lowest, to the next marked page (none: every take skips the bit tests). */
static __attribute__((noinline)) void pages_reuse(zone__extent_t *e, size_t p0, size_t p1) {
  zone__returned_t *r = &e->returned;
  if (r->marked == 0) {
    marks_from(e, SIZE_MAX);  /* none marked: a take need not look */
    return;
  }
  size_t cleared = pages_assign(e->idx.returned, p0, p1 + 1, false);
  r->reused += cleared;
  r->marked -= cleared;
  if (r->marked == 0) {
    marks_from(e, SIZE_MAX);
  } else if (p0 <= r->clear_below >> r->page_shift) {
    size_t pages = e->idx.ngran >> r->page_shift;
    marks_from(e, pages_first_set(e->idx.returned, p1 + 1, pages) << r->page_shift);
  }
}

/* One compare for a take below every marked page (all of them while none is
 * marked: before the extent's first trim, and once every page given back is
 * used again), then two bit tests for a block on one or two pages, and a
 * call only when a mark is set or the block is larger (tests/test_trim.c
 * checks that a marked page is always free, and the bound). */
ZONE_INLINE_SHARED void zone__pages_taken(zone__extent_t *e, size_t g, size_t n) {
  if (g + n <= e->returned.clear_below)
    return;
  const uint64_t *map = e->idx.returned;
  unsigned shift = e->returned.page_shift;
  size_t p0 = g >> shift, p1 = (g + n - 1) >> shift;
  if (__builtin_expect(p1 - p0 <= 1, 1) &&
      (((map[p0 / ZONE_WORD_BITS] >> (p0 % ZONE_WORD_BITS)) |
        (map[p1 / ZONE_WORD_BITS] >> (p1 % ZONE_WORD_BITS))) & 1) == 0)
    return;
  pages_reuse(e, p0, p1);
}

/* ---- giving memory back ------------------------------------------------------------- */

/* e's bits of returned pages (in its index's book), or NULL for an extent
 * that does not start on a page (memory a caller gave, which no trim gives
 * back): a trim then gives back every page it sees. */
static uint64_t *returned_pages(zone__extent_t *e, size_t page) {
  return e->base % page == 0 ? e->idx.returned : NULL;
}

/* Gives back the pages [lo, hi) of e (addresses, page-aligned, one free run)
 * that are not marked as given back already, but for the first *keep of them
 * (*keep goes down by those kept), and marks them. One madvise covers them
 * all, from the first page given to the last: the marked pages between hold
 * no memory and cost the kernel a page-table walk, where a call per unmarked
 * stretch would cost a TLB flush each. Returns the bytes newly given back. */
static size_t trim_pages(zone__extent_t *e, uintptr_t lo, uintptr_t hi, size_t page, size_t *keep) {
  uint64_t *map = returned_pages(e, page);
  if (map == NULL) {
    size_t kept = (hi - lo) / page < *keep ? (hi - lo) / page : *keep;
    *keep -= kept;
    lo += kept * page;
    zone__os_discard((void *)lo, hi - lo);
    return hi - lo;
  }
  size_t p = (lo - e->base) / page, end = (hi - e->base) / page;
  size_t first = pages_first_clear(map, p, end, keep);
  if (first == end)
    return 0;
  size_t last = pages_last_clear(map, first, end) + 1;
  zone__os_discard((void *)(e->base + first * page), (last - first) * page);
  size_t marked = pages_assign(map, first, last, true);
  e->returned.marked += marked;
  if (first << e->returned.page_shift < e->returned.clear_below)
    marks_from(e, first << e->returned.page_shift);
  return marked * page;
}

size_t zone__trim_keep(zone_t *z, size_t min_bytes, size_t keep_bytes) {
  size_t page = zone__os_page_size(), released = 0, keep = keep_bytes / page;
  size_t n = (min_bytes > page ? min_bytes : page) / ZONE_G;
  int saved = errno;  /* madvise may set it: a trim has no error to report */
  zone__lock(z);
  for (size_t k = 0; k < z->nextents && !z->caller_memory; k++) {
    zone__extent_t *e = &z->extents[k];
    size_t g = 0;
    while (g < e->idx.ngran && (g = zone__index_fit(&e->idx, n, g)) != ZONE_NONE) {
      size_t end = g + zone__index_free_run(&e->idx, g);
      uintptr_t lo = (e->base + g * ZONE_G + page - 1) / page * page;
      uintptr_t hi = (e->base + end * ZONE_G) / page * page;
      if (hi > lo)
        released += trim_pages(e, lo, hi, page, &keep);
      g = end;
    }
  }
  zone__unlock(z);
  errno = saved;
  return released;
}

size_t zone__trim(zone_t *z, size_t min_bytes) { return zone__trim_keep(z, min_bytes, 0); }

/* ---- the decay: pages freed since the look before ------------------------------- */

/* A run of whole free pages [lo, hi) of one extent, page numbers, gathered
 * in rising order for one madvise. */
typedef struct page_run {
  size_t lo, hi;
} page_run_t;

/* Gives back the pages of run, if any: the bytes newly given back. */
static size_t run_flush(zone__extent_t *e, page_run_t *run, size_t page) {
  if (run->hi == run->lo)
    return 0;
  size_t keep = 0;
  size_t released = trim_pages(e, e->base + run->lo * page, e->base + run->hi * page, page, &keep);
  run->lo = run->hi = 0;
  return released;
}

/* The whole pages of chunk c that are free now join the run, or start
 * another (the one before given back). Returns the bytes given back. */
static size_t chunk_pages(zone__extent_t *e, size_t c, size_t page, page_run_t *run) {
  size_t per_page = page / ZONE_G, released = 0;
  size_t g0 = c * ZONE_CHUNK_BITS, g1 = g0 + ZONE_CHUNK_BITS;
  if (g1 > e->idx.ngran)
    g1 = e->idx.ngran;
  for (size_t p = g0 / per_page; p * per_page < g1 && (p + 1) * per_page <= e->idx.ngran; p++) {
    if (p < run->hi)
      continue;  /* a page over several chunks, seen already */
    if (zone__index_free_len(&e->idx, p * per_page, per_page) < per_page)
      continue;
    if (p != run->hi) {
      released += run_flush(e, run, page);
      run->lo = p;
    }
    run->hi = p + 1;
  }
  return released;
}

/* One extent's look: the chunks that waited since the last look and were
 * not freed into again give back their free pages, and those freed into
 * since take their place. */
static size_t extent_look(zone__extent_t *e, size_t page) {
  zone__index_t *ix = &e->idx;
  if (ix->freed_hi == 0 && ix->waiting_hi == 0)
    return 0;
  if (returned_pages(e, page) == NULL)
    return 0;  /* no marks to keep (memory a caller gave): nothing to look at */
  size_t lo = ix->waiting_hi == 0 || (ix->freed_hi != 0 && ix->freed_lo < ix->waiting_lo) ? ix->freed_lo : ix->waiting_lo;
  size_t hi = ix->freed_hi > ix->waiting_hi ? ix->freed_hi : ix->waiting_hi;
  size_t released = 0;
  page_run_t run = {0, 0};
  for (size_t i = lo; i < hi; i++) {
    uint64_t due = ix->waiting[i] & ~ix->freed[i];  /* freed into again: in use */
    ix->waiting[i] = ix->freed[i];
    ix->freed[i] = 0;
    for (; due != 0; due &= due - 1)
      released += chunk_pages(e, i * ZONE_WORD_BITS + ctz_index(due), page, &run);
  }
  released += run_flush(e, &run, page);
  ix->waiting_lo = ix->freed_lo;
  ix->waiting_hi = ix->freed_hi;
  ix->freed_lo = ix->freed_hi = 0;
  return released;
}

size_t zone__trim_freed(zone_t *z, size_t *handed_out) {
  size_t page = zone__os_page_size(), released = 0, fresh = 0;
  int saved = errno;  /* as zone__trim_keep's */
  zone__lock(z);
  for (size_t k = 0; k < z->nextents && !z->caller_memory; k++) {
    fresh += z->extents[k].fresh;
    if (z->extents[k].base % page == 0)
      released += extent_look(&z->extents[k], page);
  }
  zone__unlock(z);
  errno = saved;
  *handed_out = fresh * ZONE_G;
  return released;
}

size_t zone_trim(zone_t *z, size_t keep) {
  if (z == NULL) {
    errno = EINVAL;
    return 0;
  }
  return zone__trim_keep(z, 0, keep);
}

size_t zone__trim_reused(zone_t *z) {
  size_t pages = 0;
  zone__lock(z);
  for (size_t k = 0; k < z->nextents; k++)
    pages += z->extents[k].returned.reused;
  zone__unlock(z);
  return pages * zone__os_page_size();
}

