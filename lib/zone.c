/*
 * zone.c - the zone: its lifecycle, its extents and the public allocation
 * entry points. A zone is a sorted list of extents (mappings, or the caller's
 * buffer); first fit asks each extent in address order for its lowest fit, so
 * placement is by address across the whole zone. This file owns locking, the
 * accounting behind zone_stats, growth and the valgrind annotations; where a
 * block goes inside an extent is extent.c's business.
 */
#include "zone_internal.h"
#include "bits.h"
#include "track.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define MIN_GROW_BYTES ((size_t)64 << 10)  /* smallest extent a growth maps */

/* ---- locking and lookup -------------------------------------------------------- */

void zone__lock_reinit(zone_t *z) { zone__lock_init(&z->lock); }

static inline bool extent_holds(const zone__extent_t *e, uintptr_t p) {
  return p >= e->base && p - e->base < e->ngran * ZONE_G;
}

ZONE_INLINE zone__extent_t *find_extent(const zone_t *z, uintptr_t p) {
  zone__extent_t *ext = ((zone_t *)z)->extents;
  if (z->nextents == 1)
    return extent_holds(ext, p) ? ext : NULL;
  size_t lo = 0, hi = z->nextents;
  while (lo < hi) {  /* extents are sorted by base and never overlap */
    size_t mid = (lo + hi) / 2;
    if (p < ext[mid].base)
      hi = mid;
    else if (extent_holds(&ext[mid], p))
      return &ext[mid];
    else
      lo = mid + 1;
  }
  return NULL;
}

zone__extent_t *zone__find_extent(const zone_t *z, uintptr_t p) { return find_extent(z, p); }

/* The live block starting at p: its extent and granule, or NULL. */
static zone__extent_t *block_at(const zone_t *z, const void *p, size_t *g) {
  uintptr_t a = (uintptr_t)p;
  zone__extent_t *e = find_extent(z, a);
  if (e == NULL || (a - e->base) % ZONE_G != 0)
    return NULL;
  *g = (a - e->base) / ZONE_G;
  return zone__extent_is_block(e, *g) ? e : NULL;
}

static inline void *granule_addr(const zone__extent_t *e, size_t g) {
  return (void *)(e->base + g * ZONE_G);
}

/* Request bytes to granules; 0 gets one granule. ZONE_NONE on overflow or a
 * size no extent can ever hold. */
static size_t granules_for(size_t bytes) {
  if (bytes == 0)
    return 1;
  if (bytes > ZONE_EXTENT_MAX_GRANULES * ZONE_G)
    return ZONE_NONE;
  return (bytes + ZONE_G - 1) / ZONE_G;
}

/* ---- accounting ---------------------------------------------------------------- */

static void account(zone_t *z, size_t gran_added, size_t gran_removed, long block_delta) {
  z->used = z->used + gran_added * ZONE_G - gran_removed * ZONE_G;
  z->blocks = (size_t)((long)z->blocks + block_delta);
  if (z->used > z->peak_used)
    z->peak_used = z->used;
}

/* ---- extents -------------------------------------------------------------------- */

/* Inserts a prepared extent keeping the array sorted by base address. */
static zone__extent_t *extent_insert(zone_t *z, const zone__extent_t *e) {
  size_t at = z->nextents;
  while (at > 0 && z->extents[at - 1].base > e->base) {
    z->extents[at] = z->extents[at - 1];
    at--;
  }
  z->extents[at] = *e;
  z->nextents++;
  z->size += e->ngran * ZONE_G;
  return &z->extents[at];
}

/*
 * Where a growing zone's extents go. mmap hands out addresses from the top of
 * the address space down, so extents mapped one by one would each land below
 * the last; first fit, which prefers low addresses, would then pull live data
 * into every new extent and leave the old ones' pages resident and half empty
 * (bench/results/PROFILE.md: churn_large, python). A ZONE_GROW zone reserves
 * address space instead (no memory) and grows upward into it: its extent
 * grows in place (grow_in_place below), or a new extent is carved above the
 * last, so the oldest memory stays what is filled first. A reservation that
 * runs out is followed by a larger one asked for just above it (its first
 * growth is a new extent); where the kernel can't oblige, an extent goes
 * wherever mmap puts it, and first fit still orders by address.
 */
#define RESERVE_MIN ((size_t)1 << 30)  /* address space, not memory */

/* Room for len bytes at the zone's reservation cursor, or NULL (map anywhere). */
static char *reserve_room(zone_t *z, size_t len) {
  if ((size_t)(z->reserve_end - z->reserve) >= len)
    return z->reserve;
  size_t want = z->reserve_len > RESERVE_MIN / 2 ? z->reserve_len : RESERVE_MIN / 2;
  want = want > SIZE_MAX / 2 ? SIZE_MAX : want * 2;
  if (want / 4 < len)
    want = len > SIZE_MAX / 4 ? len : len * 4;
  char *r = zone__os_reserve(z->reserve_end, want);
  if (r == NULL)
    return NULL;
  zone__os_unmap(z->reserve, (size_t)(z->reserve_end - z->reserve));
  z->reserve = r;
  z->reserve_end = r + want;
  z->reserve_len = want;
  return r;
}

/* Maps an extent of ngran granules followed by a guard page: the guard keeps
 * extents from ever touching, so a free run never spans two of them, and it
 * stops a linear overflow off the zone's end. Returns 0 or ENOMEM. */
static int extent_map(zone_t *z, zone__extent_t *out, size_t ngran) {
  size_t page = zone__os_page_size();
  size_t bytes = ngran * ZONE_G;
  size_t len = (bytes + page - 1) / page * page + page;
  if (len < bytes)
    return ENOMEM;
  char *mem = (z->flags & ZONE_GROW) ? reserve_room(z, len) : NULL;
  bool reserved = mem != NULL;
  if (reserved) {
    if (zone__os_commit(mem, len - page) != 0)  /* the guard stays reserved */
      return ENOMEM;
  } else {
    mem = zone__os_map(len);
    if (mem == NULL)
      return ENOMEM;
    zone__os_guard(mem + len - page, page);
  }
  if (zone__extent_init(out, (uintptr_t)mem, ngran) != 0) {
    if (reserved)
      zone__os_guard(mem, len - page);  /* untouched: back to address space only */
    else
      zone__os_unmap(mem, len);
    return ENOMEM;
  }
  if (reserved)
    z->reserve = mem + len;
  out->map = mem;
  out->map_len = len;
  zone__track_noaccess(mem, bytes);
  return 0;
}

static void extent_unmap(zone__extent_t *e) {
  zone__os_unmap(e->returned, e->returned_len);
  zone__extent_fini(e);
  zone__os_unmap(e->map, e->map_len);
}

/* Bytes mapped for a bitmap of returned pages covering `pages` pages. */
static size_t returned_len_for(size_t pages) {
  size_t page = zone__os_page_size();
  size_t len = (pages + WORD_BITS - 1) / WORD_BITS * sizeof(uint64_t);
  return (len + page - 1) / page * page;
}

/* Makes e's bitmap of returned pages cover `pages` pages (a new mapping with
 * the old marks when it is too short): 0 or ENOMEM, nothing changed. */
static int returned_cover(zone__extent_t *e, size_t pages) {
  size_t len = returned_len_for(pages);
  if (e->returned == NULL || len <= e->returned_len)
    return 0;
  uint64_t *map = zone__os_map(len);
  if (map == NULL)
    return ENOMEM;
  memcpy(map, e->returned, e->returned_len);
  uint64_t *old = e->returned;
  size_t old_len = e->returned_len;
  e->returned = map;
  e->returned_len = len;
  zone__os_unmap(old, old_len);
  return 0;
}

/*
 * Growth in place: the extent that ends at the reservation cursor (its guard
 * page the last thing carved) takes `gran` more granules from the reservation,
 * its guard page among them, and a new guard goes after them. The zone stays
 * one extent as it doubles, so allocation has one index to search and free
 * one range to test, whatever the zone's size (bench/core_pairs). The
 * extent's bookkeeping is rebuilt, an O(size) cost that doubling amortizes.
 * NULL when it can't (no such extent, the reservation too short, a mapping
 * refused): the caller maps a new extent instead.
 */
static zone__extent_t *grow_in_place(zone_t *z, size_t gran) {
  size_t page = zone__os_page_size(), add = gran * ZONE_G;
  if (z->reserve == NULL || z->nextents == 0 || (size_t)(z->reserve_end - z->reserve) < add)
    return NULL;
  zone__extent_t *e = &z->extents[z->nextents - 1];
  if (e->map == NULL)
    return NULL;
  char *guard = (char *)e->map + e->map_len - page;
  if (guard + page != z->reserve)
    return NULL;
  /* The bytes between the extent's last granule and its guard (a size that
   * was not a whole number of pages) join it too. */
  size_t ngran = ((uintptr_t)guard + add - e->base) / ZONE_G;
  if (ngran > ZONE_EXTENT_MAX_GRANULES)
    return NULL;
  if (returned_cover(e, ngran * ZONE_G / page) != 0)
    return NULL;
  if (zone__os_commit(guard, add) != 0)
    return NULL;
  size_t old_bytes = e->ngran * ZONE_G;
  if (zone__extent_extend(e, ngran) != 0) {
    zone__os_guard(guard, add);
    zone__track_noaccess(guard, add);  /* as before the commit, for memcheck too */
    return NULL;
  }
  e->map_len += add;
  z->reserve += add;
  z->size += ngran * ZONE_G - old_bytes;
  zone__track_noaccess((char *)e->base + old_bytes, ngran * ZONE_G - old_bytes);
  return e;
}

/* Grows a ZONE_GROW zone by room for `need` granules: at least the zone's
 * current size, so growth doubles and the extents stay few (one, while the
 * reservation lasts). */
static zone__extent_t *zone_grow(zone_t *z, size_t need) {
  if (!(z->flags & ZONE_GROW) || need == ZONE_NONE)
    return NULL;
  size_t page_gran = zone__os_page_size() / ZONE_G;
  size_t gran = z->size / ZONE_G;
  if (gran < MIN_GROW_BYTES / ZONE_G)
    gran = MIN_GROW_BYTES / ZONE_G;
  if (gran < need)
    gran = need;
  gran = (gran + page_gran - 1) / page_gran * page_gran;
  if (gran > ZONE_EXTENT_MAX_GRANULES)
    gran = ZONE_EXTENT_MAX_GRANULES;
  if (gran < need)
    return NULL;
  zone__extent_t *grown = grow_in_place(z, gran);
  if (grown != NULL || z->nextents == ZONE_MAX_EXTENTS)
    return grown;
  zone__extent_t e;
  if (extent_map(z, &e, gran) != 0)
    return NULL;
  return extent_insert(z, &e);
}

/* ---- lifecycle -------------------------------------------------------------------- */

static zone_t *zone_new(unsigned flags) {
  size_t page = zone__os_page_size();
  size_t len = (sizeof(zone_t) + page - 1) / page * page;
  zone_t *z = zone__os_map(len);
  if (z == NULL)
    return NULL;
  z->flags = flags;
  z->self_len = len;
  zone__lock_init(&z->lock);
  return z;
}

/* The zone's own mapping and what is left of its reservation. */
static void zone_unmap_self(zone_t *z) {
  zone__os_unmap(z->reserve, (size_t)(z->reserve_end - z->reserve));
  zone__lock_destroy(&z->lock);
  zone__os_unmap(z, z->self_len);
}

zone_t *create_zone(size_t bytes) { return create_zone_flags(bytes, 0); }

zone_t *create_zone_flags(size_t bytes, unsigned flags) {
  if (bytes == 0 || (flags & ~(unsigned)(ZONE_GROW | ZONE_UNLOCKED))) {
    errno = EINVAL;
    return NULL;
  }
  size_t ngran = granules_for(bytes);
  if (ngran == ZONE_NONE) {
    errno = ENOMEM;
    return NULL;
  }
  zone_t *z = zone_new(flags);
  if (z == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  zone__extent_t e;
  if (extent_map(z, &e, ngran) != 0) {
    zone_unmap_self(z);
    errno = ENOMEM;
    return NULL;
  }
  extent_insert(z, &e);
  return z;
}

zone_t *create_zone_in(void *memory, size_t bytes, unsigned flags) {
  if (memory == NULL || (flags & ~(unsigned)ZONE_UNLOCKED)) {
    errno = EINVAL;
    return NULL;
  }
  uintptr_t lo = ((uintptr_t)memory + ZONE_G - 1) & ~(uintptr_t)(ZONE_G - 1);
  uintptr_t hi = (uintptr_t)memory + bytes;
  if (hi < (uintptr_t)memory || lo < (uintptr_t)memory)
    hi = UINTPTR_MAX;  /* the buffer runs to the top of the address space */
  hi &= ~(uintptr_t)(ZONE_G - 1);
  if (hi <= lo) {
    errno = EINVAL;
    return NULL;
  }
  size_t ngran = (hi - lo) / ZONE_G;
  if (ngran > ZONE_EXTENT_MAX_GRANULES) {
    errno = ENOMEM;
    return NULL;
  }
  zone_t *z = zone_new(flags);
  if (z == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  zone__extent_t e;
  if (zone__extent_init(&e, lo, ngran) != 0) {
    zone_unmap_self(z);
    errno = ENOMEM;
    return NULL;
  }
  z->caller_memory = true;
  e.fresh = ngran;  /* the caller's bytes may hold anything */
  extent_insert(z, &e);
  zone__track_noaccess((void *)lo, ngran * ZONE_G);
  return z;
}

/* Tells memcheck that every live block is gone (destroy and reset). */
static void track_release_all(zone_t *z) {
  if (!zone__track_running())
    return;
  for (size_t k = 0; k < z->nextents; k++) {
    zone__extent_t *e = &z->extents[k];
    for (size_t g = zone__extent_next_block(e, 0); g != ZONE_NONE;
         g = zone__extent_next_block(e, g + zone__extent_block_len(e, g)))
      zone__track_free(granule_addr(e, g));
  }
}

void destroy_zone(zone_t *z) {
  if (z == NULL)
    return;
  track_release_all(z);
  for (size_t k = 0; k < z->nextents; k++) {
    zone__extent_t *e = &z->extents[k];
    if (z->caller_memory) {
      zone__track_defined((void *)e->base, e->ngran * ZONE_G);
      zone__extent_fini(e);
    } else {
      extent_unmap(e);
    }
  }
  zone_unmap_self(z);
}

void zone_reset(zone_t *z) {
  if (z == NULL)
    return;
  zone__lock(z);
  track_release_all(z);
  for (size_t k = 0; k < z->nextents; k++) {
    zone__extent_clear(&z->extents[k]);
    zone__track_noaccess((void *)z->extents[k].base, z->extents[k].ngran * ZONE_G);
  }
  z->used = 0;
  z->blocks = 0;
  zone_assert_expensive(z);
  zone__unlock(z);
}

/* ---- pages given back ------------------------------------------------------------------
 * An extent's returned[] bitmap (mapped by its first zone__trim) marks the
 * pages a trim gave back that no block has been taken over since: they hold
 * no memory and read as zero, so the next trim skips them and its madvise
 * covers only pages a program may have touched in between. Every way a block
 * comes to cover a page (a take, a grow in place) clears the page's mark
 * first, so a marked page is always free. That clearing is on the hot path: a
 * NULL test until the extent's first trim, then two bit tests for a block on
 * one or two pages, and a call only when a mark is set or the block is larger
 * (tests/test_trim.c checks the invariant). */

/* Clears (set = false) or sets the bits [lo, hi) of map; returns how many
 * changed. */
static size_t pages_assign(uint64_t *map, size_t lo, size_t hi, bool set) {
  size_t changed = 0;
  while (lo < hi) {
    size_t w = lo / WORD_BITS;
    unsigned b = (unsigned)(lo % WORD_BITS);
    unsigned top = hi - w * WORD_BITS >= WORD_BITS ? WORD_BITS : (unsigned)(hi - w * WORD_BITS);
    uint64_t m = bits_between(b, top);
    uint64_t hit = (set ? ~map[w] : map[w]) & m;
    if (hit != 0) {
      map[w] ^= hit;
      changed += (size_t)__builtin_popcountll(hit);
    }
    lo = (w + 1) * WORD_BITS;
  }
  return changed;
}

/* The first clear bit in [from, to) of map after passing over *skip clear
 * bits (*skip goes down by those passed), or to. */
static size_t pages_first_clear(const uint64_t *map, size_t from, size_t to, size_t *skip) {
  while (from < to) {
    size_t w = from / WORD_BITS, first = w * WORD_BITS;
    unsigned top = to - first >= WORD_BITS ? WORD_BITS : (unsigned)(to - first);
    uint64_t clear = ~map[w] & bits_between((unsigned)(from - first), top);
    size_t n = (size_t)__builtin_popcountll(clear);
    if (n > *skip) {
      for (; *skip > 0; (*skip)--)
        clear &= clear - 1;
      return first + ctz64(clear);
    }
    *skip -= n;
    from = first + WORD_BITS;
  }
  return to;
}

/* The last clear bit in [from, to) of map, or from when there is none. */
static size_t pages_last_clear(const uint64_t *map, size_t from, size_t to) {
  while (to > from) {
    size_t w = (to - 1) / WORD_BITS, first = w * WORD_BITS;
    unsigned lo = from > first ? (unsigned)(from - first) : 0;
    uint64_t clear = ~map[w] & bits_between(lo, (unsigned)(to - first));
    if (clear != 0)
      return first + WORD_BITS - 1 - clz64(clear);
    to = first;
  }
  return from;
}

/* Pages [p0, p1] of e are being taken: their marks go, counted as reuse. */
static __attribute__((noinline)) void pages_reuse(zone__extent_t *e, size_t p0, size_t p1) {
  e->returned_reused += pages_assign(e->returned, p0, p1 + 1, false);
}

/* Granules [g, g + n) of e are about to be used: their pages are no longer
 * known to be given back. */
ZONE_INLINE void pages_taken(zone__extent_t *e, size_t g, size_t n) {
  const uint64_t *map = e->returned;
  if (map == NULL)
    return;
  size_t p0 = g >> e->page_shift, p1 = (g + n - 1) >> e->page_shift;
  if (__builtin_expect(p1 - p0 <= 1, 1) &&
      (((map[p0 / WORD_BITS] >> (p0 % WORD_BITS)) |
        (map[p1 / WORD_BITS] >> (p1 % WORD_BITS))) & 1) == 0)
    return;
  pages_reuse(e, p0, p1);
}

/* ---- allocation ---------------------------------------------------------------------- */

/* Takes granules [g, g + n) of extent e for a block; returns its address and,
 * in *stale, how many of its bytes may hold old data (the rest lies above the
 * extent's fresh mark: never handed out since the kernel zeroed it). */
static inline void *taken_at(zone__extent_t *e, size_t g, size_t n, size_t *stale) {
  size_t dirty = e->fresh <= g ? 0 : e->fresh - g < n ? e->fresh - g : n;
  if (g + n > e->fresh)
    e->fresh = g + n;
  pages_taken(e, g, n);
  *stale = dirty * ZONE_G;
  return granule_addr(e, g);
}

/* Takes the lowest fit of n granules in e (aligned when align > G) or NULL. */
ZONE_INLINE void *take_in(zone__extent_t *e, size_t n, size_t align, size_t *stale) {
  size_t g;
  if (align <= ZONE_G) {
    if (n <= ZONE_SMALL_MAX && !zone__extent_may_fit_small(e, n))
      return NULL;
    g = zone__extent_alloc(e, n);
  } else {
    g = zone__extent_fit_aligned(e, n, align);
    if (g != ZONE_NONE)
      zone__extent_take(e, g, n);
  }
  return g == ZONE_NONE ? NULL : taken_at(e, g, n, stale);
}

/* Takes the lowest fit of n granules (aligned when align > G), growing the zone
 * if it may. Lock held. NULL when nothing fits. */
ZONE_INLINE void *take_lowest(zone_t *z, size_t n, size_t align, size_t *stale) {
  for (size_t k = 0; k < z->nextents; k++) {
    void *p = take_in(&z->extents[k], n, align, stale);
    if (p != NULL)
      return p;
  }
  size_t slack = align > ZONE_G ? align / ZONE_G : 0;  /* room to reach an aligned start */
  zone__extent_t *e = zone_grow(z, n > ZONE_NONE - slack ? ZONE_NONE : n + slack);
  if (e == NULL)
    return NULL;
  return take_in(e, n, align, stale);
}

/* Zeroes a new zcalloc block. Its first `stale` bytes may hold old data and
 * are cleared; past them lies memory never handed out since the kernel zeroed
 * it, where only a program scribbling over free memory could have written.
 * Its whole pages are given back instead of written (they read as zero and
 * cost no memory until touched, as a fresh calloc should), and only the
 * partial pages at its edges are cleared. */
static void zero_block(void *p, size_t bytes, size_t stale) {
  char *c = p;
  memset(c, 0, stale);
  size_t page = zone__os_page_size();
  uintptr_t lo = ((uintptr_t)c + stale + page - 1) / page * page;
  uintptr_t hi = ((uintptr_t)c + bytes) / page * page;
  if (hi <= lo) {
    memset(c + stale, 0, bytes - stale);
    return;
  }
  memset(c + stale, 0, lo - ((uintptr_t)c + stale));
  zone__os_discard((void *)lo, hi - lo);
  memset((void *)hi, 0, (uintptr_t)c + bytes - hi);
}

ZONE_INLINE void *alloc_common(zone_t *z, size_t bytes, size_t align, bool zeroed) {
  if (z == NULL) {
    errno = EINVAL;
    return NULL;
  }
  size_t n = granules_for(bytes);
  if (n == ZONE_NONE) {
    errno = ENOMEM;
    return NULL;
  }
  size_t stale = 0;
  zone__lock(z);
  void *p = take_lowest(z, n, align, &stale);
  if (p != NULL) {
    account(z, n, 0, 1);
    zone__track_alloc(p, n * ZONE_G, zeroed);
  }
  zone_assert_expensive(z);
  zone__unlock(z);
  if (p == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  if (zeroed)
    zero_block(p, n * ZONE_G, stale);
  return p;
}

void *zalloc(zone_t *z, size_t bytes) { return alloc_common(z, bytes, 0, false); }

void *zcalloc(zone_t *z, size_t count, size_t size) {
  if (z == NULL) {
    errno = EINVAL;
    return NULL;
  }
  if (size != 0 && count > SIZE_MAX / size) {
    errno = ENOMEM;
    return NULL;
  }
  return alloc_common(z, count * size, 0, true);
}

void *zalloc_aligned(zone_t *z, size_t alignment, size_t bytes) {
  if (z == NULL || alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return NULL;
  }
  return alloc_common(z, bytes, alignment, false);
}

int zfree(zone_t *z, void *p) {
  if (z == NULL)
    return EINVAL;
  if (p == NULL)
    return 0;
  zone__lock(z);
  uintptr_t a = (uintptr_t)p;
  zone__extent_t *e = find_extent(z, a);
  size_t n = 0;
  if (e != NULL && (a - e->base) % ZONE_G == 0)
    n = zone__extent_release(e, (a - e->base) / ZONE_G);
  if (n == 0) {
    zone__unlock(z);
    return EINVAL;
  }
  account(z, 0, n, -1);
  zone__track_free(p);
  zone_assert_expensive(z);
  zone__unlock(z);
  return 0;
}

/* Moves a block's contents to its new place. Under memcheck an overlapping
 * move would lose the definedness of the bytes (the old block is marked
 * inaccessible over the new one), so their V bits are saved and restored. */
static void move_block(void *to, size_t to_bytes, void *from, size_t from_bytes) {
  size_t copy = to_bytes < from_bytes ? to_bytes : from_bytes;
  char *t = to, *f = from;
  bool overlap = t < f + from_bytes && f < t + to_bytes;
  if (!overlap || !zone__track_running()) {
    zone__track_alloc(to, to_bytes, false);
    memmove(to, from, copy);
    zone__track_free(from);
    return;
  }
  char *vbits = zone__os_map(copy);
  if (vbits != NULL)
    zone__track_get_vbits(from, vbits, copy);
  zone__track_undefined(to, to_bytes);
  memmove(to, from, copy);
  zone__track_free(from);
  zone__track_alloc(to, to_bytes, false);
  if (vbits != NULL) {
    zone__track_set_vbits(to, vbits, copy);
    zone__os_unmap(vbits, copy);
  } else {
    zone__track_defined(to, copy);
  }
}

void *zrealloc(zone_t *z, void *p, size_t bytes) {
  if (z == NULL) {
    errno = EINVAL;
    return NULL;
  }
  if (p == NULL)
    return zalloc(z, bytes);
  if (bytes == 0) {
    int err = zfree(z, p);
    if (err != 0)
      errno = err;
    return NULL;
  }
  zone__lock(z);
  size_t g;
  zone__extent_t *e = block_at(z, p, &g);
  if (e == NULL) {
    zone__unlock(z);
    errno = EINVAL;
    return NULL;
  }
  size_t old_n = zone__extent_block_len(e, g);
  size_t new_n = granules_for(bytes);
  if (new_n == ZONE_NONE) {
    zone__unlock(z);
    errno = ENOMEM;
    return NULL;
  }
  if (new_n <= old_n ||
      zone__extent_free_len(e, g + old_n, new_n - old_n) == new_n - old_n) {
    /* Shrink, or grow into the free run right after the block: in place. */
    zone__extent_resize(e, g, old_n, new_n);
    if (g + new_n > e->fresh)
      e->fresh = g + new_n;  /* the program may write there: no longer known zero */
    if (new_n > old_n)
      pages_taken(e, g + old_n, new_n - old_n);
    account(z, new_n, old_n, 0);
    zone__track_resize(p, old_n * ZONE_G, new_n * ZONE_G);
    zone_assert_expensive(z);
    zone__unlock(z);
    return p;
  }
  /* Move to the first fit as if the block were already free: its own space
   * and a free run before it count. On failure it is taken back unchanged. */
  zone__extent_give(e, g, old_n);
  size_t stale;
  void *q = take_lowest(z, new_n, 0, &stale);
  if (q == NULL) {
    e = zone__find_extent(z, (uintptr_t)p);  /* growth may have moved the array */
    zone__extent_take(e, g, old_n);
    zone_assert_expensive(z);
    zone__unlock(z);
    errno = ENOMEM;
    return NULL;
  }
  account(z, new_n, old_n, 0);
  move_block(q, new_n * ZONE_G, p, old_n * ZONE_G);
  zone_assert_expensive(z);
  zone__unlock(z);
  return q;
}

/* ---- giving memory back ------------------------------------------------------------- */

/* e's bitmap of returned pages, mapped zeroed (nothing marked) on first use;
 * NULL when it can't be had, and the trim then gives back every page it sees. */
static uint64_t *returned_pages(zone__extent_t *e, size_t page) {
  if (e->returned != NULL || e->base % page != 0)
    return e->returned;
  size_t len = returned_len_for((e->ngran * ZONE_G + page - 1) / page);
  uint64_t *map = zone__os_map(len);
  if (map != NULL) {
    e->returned = map;
    e->returned_len = len;
    e->page_shift = (unsigned)__builtin_ctzll(page / ZONE_G);
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
  if (e->returned == NULL) {
    size_t kept = (hi - lo) / page < *keep ? (hi - lo) / page : *keep;
    *keep -= kept;
    lo += kept * page;
    zone__os_discard((void *)lo, hi - lo);
    return hi - lo;
  }
  size_t p = (lo - e->base) / page, end = (hi - e->base) / page;
  size_t first = pages_first_clear(e->returned, p, end, keep);
  if (first == end)
    return 0;
  size_t last = pages_last_clear(e->returned, first, end) + 1;
  zone__os_discard((void *)(e->base + first * page), (last - first) * page);
  return pages_assign(e->returned, first, last, true) * page;
}

size_t zone__trim_keep(zone_t *z, size_t min_bytes, size_t keep_bytes) {
  size_t page = zone__os_page_size(), released = 0, keep = keep_bytes / page;
  size_t n = (min_bytes > page ? min_bytes : page) / ZONE_G;
  zone__lock(z);
  for (size_t k = 0; k < z->nextents && !z->caller_memory; k++) {
    zone__extent_t *e = &z->extents[k];
    returned_pages(e, page);
    size_t g = 0;
    while (g < e->ngran && (g = zone__extent_fit(e, n, g)) != ZONE_NONE) {
      size_t end = g + zone__extent_free_len(e, g, e->ngran - g);
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

size_t zone__trim_reused(zone_t *z) {
  size_t pages = 0;
  zone__lock(z);
  for (size_t k = 0; k < z->nextents; k++)
    pages += z->extents[k].returned_reused;
  zone__unlock(z);
  return pages * zone__os_page_size();
}

/* ---- queries ---------------------------------------------------------------------------- */

size_t zone_block_size(const zone_t *z, const void *p) {
  if (z == NULL || p == NULL)
    return 0;
  zone__lock(z);
  size_t g, bytes = 0;
  zone__extent_t *e = block_at(z, p, &g);
  if (e != NULL)
    bytes = zone__extent_block_len(e, g) * ZONE_G;
  zone__unlock(z);
  return bytes;
}

bool zone_owns(const zone_t *z, const void *p) {
  if (z == NULL || p == NULL)
    return false;
  zone__lock(z);
  size_t g;
  bool owns = block_at(z, p, &g) != NULL;
  zone__unlock(z);
  return owns;
}

size_t zone_size(const zone_t *z) {
  if (z == NULL)
    return 0;
  zone__lock(z);
  size_t size = z->size;
  zone__unlock(z);
  return size;
}
