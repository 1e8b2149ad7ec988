/*
 * trim.c - giving memory back to the OS: zone_trim (zone.h), zone__trim and
 * the marks that make them cheap to repeat.
 *
 * An extent's returned-pages bitmap (mapped by its first trim) marks the
 * pages a trim gave back that no block has been taken over since: they hold
 * no memory and read as zero, so the next trim skips them and its madvise
 * covers only pages a program may have touched in between. Every way a block
 * comes to cover a page (a take, a grow in place) clears the page's mark
 * first (zone__pages_taken, internal.h), so a marked page is always free.
 */
#include "internal.h"
#include "bits.h"

#include <errno.h>
#include <string.h>

/* ---- the marks ------------------------------------------------------------------ */

/* Bytes mapped for a bitmap of returned pages covering `pages` pages. */
static size_t returned_len_for(size_t pages) {
  size_t page = zone__os_page_size();
  size_t len = (pages + ZONE_WORD_BITS - 1) / ZONE_WORD_BITS * sizeof(uint64_t);
  return (len + page - 1) / page * page;
}

/* Makes e's bitmap of returned pages cover `pages` pages (a new mapping with
 * the old marks when it is too short): 0 or ENOMEM, nothing changed. */
int zone__returned_cover(zone__extent_t *e, size_t pages) {
  size_t len = returned_len_for(pages);
  if (e->returned.map == NULL || len <= e->returned.map_len)
    return 0;
  uint64_t *map = zone__os_map(len);
  if (map == NULL)
    return ENOMEM;
  memcpy(map, e->returned.map, e->returned.map_len);
  uint64_t *old = e->returned.map;
  size_t old_len = e->returned.map_len;
  e->returned.map = map;
  e->returned.map_len = len;
  zone__os_unmap(old, old_len);
  return 0;
}

void zone__returned_fini(zone__extent_t *e) {
  zone__os_unmap(e->returned.map, e->returned.map_len);
  e->returned.map = NULL;
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

/* Pages [p0, p1] of e are being taken: their marks go, counted as reuse. */
/* Pages [p0, p1] of e are being taken: their marks go, counted as reuse. */
static __attribute__((noinline)) void pages_reuse(zone__extent_t *e, size_t p0, size_t p1) {
  e->returned.reused += pages_assign(e->returned.map, p0, p1 + 1, false);
}

/* A NULL test until the extent's first trim, then two bit tests for a block
 * on one or two pages, and a call only when a mark is set or the block is
 * larger (tests/test_trim.c checks that a marked page is always free). */
ZONE_INLINE_SHARED void zone__pages_taken(zone__extent_t *e, size_t g, size_t n) {
  const uint64_t *map = e->returned.map;
  if (map == NULL)
    return;
  unsigned shift = e->returned.page_shift;
  size_t p0 = g >> shift, p1 = (g + n - 1) >> shift;
  if (__builtin_expect(p1 - p0 <= 1, 1) &&
      (((map[p0 / ZONE_WORD_BITS] >> (p0 % ZONE_WORD_BITS)) |
        (map[p1 / ZONE_WORD_BITS] >> (p1 % ZONE_WORD_BITS))) & 1) == 0)
    return;
  pages_reuse(e, p0, p1);
}

/* ---- giving memory back ------------------------------------------------------------- */

/* e's bitmap of returned pages, mapped zeroed (nothing marked) on first use;
 * NULL when it can't be had, and the trim then gives back every page it sees. */
static uint64_t *returned_pages(zone__extent_t *e, size_t page) {
  if (e->returned.map != NULL || e->base % page != 0)
    return e->returned.map;
  size_t len = returned_len_for((e->idx.ngran * ZONE_G + page - 1) / page);
  uint64_t *map = zone__os_map(len);
  if (map != NULL) {
    e->returned.map = map;
    e->returned.map_len = len;
    e->returned.page_shift = (unsigned)__builtin_ctzll(page / ZONE_G);
  }
  return map;
}

/* Gives back the pages [lo, hi) of e (addresses, page-aligned, one free run)
 * that are not marked as given back already, but for the first *keep of them
 * (*keep goes down by those kept), and marks them. One madvise covers them
 * all, from the first page given to the last: the marked pages between hold
 * no memory and cost the kernel a page-table walk, where a call per unmarked
 * stretch would cost a TLB flush each. Returns the bytes newly given back. */
static size_t trim_pages(zone__extent_t *e, uintptr_t lo, uintptr_t hi, size_t page, size_t *keep) {
  if (e->returned.map == NULL) {
    size_t kept = (hi - lo) / page < *keep ? (hi - lo) / page : *keep;
    *keep -= kept;
    lo += kept * page;
    zone__os_discard((void *)lo, hi - lo);
    return hi - lo;
  }
  size_t p = (lo - e->base) / page, end = (hi - e->base) / page;
  size_t first = pages_first_clear(e->returned.map, p, end, keep);
  if (first == end)
    return 0;
  size_t last = pages_last_clear(e->returned.map, first, end) + 1;
  zone__os_discard((void *)(e->base + first * page), (last - first) * page);
  return pages_assign(e->returned.map, first, last, true) * page;
}

size_t zone__trim_keep(zone_t *z, size_t min_bytes, size_t keep_bytes) {
  size_t page = zone__os_page_size(), released = 0, keep = keep_bytes / page;
  size_t n = (min_bytes > page ? min_bytes : page) / ZONE_G;
  zone__lock(z);
  for (size_t k = 0; k < z->nextents && !z->caller_memory; k++) {
    zone__extent_t *e = &z->extents[k];
    returned_pages(e, page);
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
  return released;
}

size_t zone__trim(zone_t *z, size_t min_bytes) { return zone__trim_keep(z, min_bytes, 0); }

size_t zone_trim(zone_t *z, size_t keep) {
  if (z == NULL) {
    errno = EINVAL;
    return 0;
  }
  int saved = errno;  /* madvise may set it; a trim has no error to report */
  size_t released = zone__trim_keep(z, 0, keep);
  errno = saved;
  return released;
}

size_t zone__trim_reused(zone_t *z) {
  size_t pages = 0;
  zone__lock(z);
  for (size_t k = 0; k < z->nextents; k++)
    pages += z->extents[k].returned.reused;
  zone__unlock(z);
  return pages * zone__os_page_size();
}

