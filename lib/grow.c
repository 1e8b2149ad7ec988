/*
 * grow.c - where a zone's memory comes from: the extents it maps, the
 * address space a ZONE_GROW zone reserves to grow into, and growth itself
 * (in place where the reservation allows, else a new extent). An extent's
 * placement index is index.c's; its page-return marks are trim.c's.
 */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define MIN_GROW_BYTES ((size_t)64 << 10)  /* smallest extent a growth maps */
/*
 * The most a growth in place adds beyond what the request needs. Up to it a
 * zone doubles; past it, it grows by this much at a time. A growth in place
 * writes the new granules' leaves and reach bytes (index.c), and its call
 * takes time in proportion to what it adds: at a million live blocks, the
 * malloc that doubled a zone from 128 to 256 MiB took 2.2-3.0 ms on a
 * shared 2-core VM, where each first touch of a bookkeeping page costs a
 * few microseconds; a step of 32 MiB takes 0.5 ms (bench/latency). The
 * growths are more, but each costs what it adds, so the total is the same.
 */
#define MAX_GROW_STEP_BYTES ((size_t)32 << 20)

/*
 * The room a growing zone's extent keeps in its bookkeeping (index.c's
 * book): laid out for BOOK_ROOM times the extent's size, so that it grows in
 * place, writing only what is new, through six doublings before it moves
 * (to room for 64 times its size again, up to the largest extent). Room
 * costs address space, 2.4% of the size it is for (1.5 times the extent's
 * size), and a few pages where each array's part in use ends in a page of
 * its own. So only extents of ZONE_BOOK_ROOM_FROM and more have it, and only
 * where address space is plentiful: a 64-bit process with no RLIMIT_AS.
 * Smaller extents keep their bookkeeping packed for their size, as small as
 * ever, and move it at each growth: a copy of 2.4% of at most 16 MiB, a few
 * hundred microseconds (bench/results/PROFILE.md). Only an extent that can
 * grow in place has room: one carved from the zone's reservation. Where the
 * book's room can't be had all the same, it is laid out for the size alone
 * (index.c).
 */
#define BOOK_ROOM 64

static _Atomic size_t room_from = ZONE_BOOK_ROOM_FROM;

void zone__book_room_from(size_t bytes) { atomic_store(&room_from, bytes); }

/* The room for an extent of ngran granules that may grow in place. */
static size_t book_room(size_t ngran) {
#if UINTPTR_MAX > 0xffffffffu
  if (ngran >= atomic_load_explicit(&room_from, memory_order_relaxed) / ZONE_G && !zone__os_space_limited())
    return ngran > ZONE_EXTENT_MAX_GRANULES / BOOK_ROOM ? ZONE_EXTENT_MAX_GRANULES : ngran * BOOK_ROOM;
#endif
  return ngran;
}

/* ---- extents -------------------------------------------------------------------- */

/* Widens the zone's published span to hold [lo, hi). Written under the lock,
 * read by anyone (zone__span): relaxed stores, since a reader that must see a
 * block's extent in the span got the block's address through a
 * synchronisation that orders this store before its load. The words are kept
 * complemented, as checker.c keeps its table: memcheck's leak scan must not
 * find the first block's address in the zone's record. A zeroed record reads
 * as lo = hi = UINTPTR_MAX, an empty span. */
static void span_cover(zone_t *z, uintptr_t lo, uintptr_t hi) {
  uintptr_t old_lo = ~atomic_load_explicit(&z->span_lo, memory_order_relaxed);
  uintptr_t old_hi = ~atomic_load_explicit(&z->span_hi, memory_order_relaxed);
  bool lower = lo < old_lo, higher = old_lo == UINTPTR_MAX || hi > old_hi;
  if (lower)
    atomic_store_explicit(&z->span_lo, ~lo, memory_order_relaxed);
  if (higher)
    atomic_store_explicit(&z->span_hi, ~hi, memory_order_relaxed);
  if (lower || higher)  /* after the span: whoever sees the count sees it */
    atomic_fetch_add_explicit(&zone__span_changes, 1, memory_order_release);
}

_Atomic unsigned long zone__span_changes;

void zone__span(const zone_t *z, uintptr_t *lo, uintptr_t *hi) {
  *lo = ~atomic_load_explicit(&z->span_lo, memory_order_relaxed);
  *hi = ~atomic_load_explicit(&z->span_hi, memory_order_relaxed);
  if (*lo == UINTPTR_MAX)
    *lo = *hi = 0;
}

ZONE_INLINE_SHARED bool zone__span_holds(const zone_t *z, const void *p) {
  uintptr_t a = (uintptr_t)p;
  return a >= ~atomic_load_explicit(&z->span_lo, memory_order_relaxed) &&
         a < ~atomic_load_explicit(&z->span_hi, memory_order_relaxed);
}

/* Inserts a prepared extent keeping the array sorted by base address. */
zone__extent_t *zone__extent_insert(zone_t *z, const zone__extent_t *e) {
  span_cover(z, e->base, e->base + e->idx.ngran * ZONE_G);
  size_t at = z->nextents;
  while (at > 0 && z->extents[at - 1].base > e->base) {
    z->extents[at] = z->extents[at - 1];
    at--;
  }
  z->extents[at] = *e;
  zone__returned_init(&z->extents[at]);
  z->nextents++;
  zone__plain_set(z);
  z->size += e->idx.ngran * ZONE_G;
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
 * last, so the oldest memory stays what is filled first.
 *
 * The reservation is kept small, about as large again as the zone (4 MiB at
 * least: RESERVE_MIN), so that a process's virtual size and its RLIMIT_AS are
 * not spent on address space it may never use: it is extended in place at its
 * end when it runs short. For the space above it to be free, a zone's first
 * reservation is asked for in a region of its own, far below where mmap puts
 * libraries and other mappings (a slot of ZONE_SLOT_BYTES among ZONE_SLOTS
 * from ZONE_SLOT_BASE, a hint the kernel may ignore). Where the end can't be extended, a new reservation
 * follows wherever the kernel puts it (its first growth is a new extent), and
 * where none can be had an extent goes wherever mmap puts it; first fit still
 * orders by address.
 */
/* The least a reservation holds (address space, not memory): a zone that
 * starts small (the shim's, 256 KiB) doubles in place up to 4 MiB wherever
 * the kernel puts its first reservation, even where the slot hint below is
 * refused (a sanitizer's layout) and the space above it is taken. */
#define RESERVE_MIN ((size_t)4 << 20)
#if UINTPTR_MAX > 0xffffffffu
#define ZONE_SLOT_BASE ((uintptr_t)1 << 45)     /* 32 TiB: above ASan's shadow too */
#define ZONE_SLOT_BYTES ((uintptr_t)64 << 30)  /* 64 GiB a zone */
#define ZONE_SLOTS 256
#endif

/* Where a zone's first reservation is asked for. */
static char *reserve_hint(void) {
#ifdef ZONE_SLOT_BASE
  static _Atomic unsigned next_slot;
  unsigned slot = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed) % ZONE_SLOTS;
  return (char *)(ZONE_SLOT_BASE + slot * ZONE_SLOT_BYTES);
#else
  return NULL;
#endif
}

/* Room for len bytes at the zone's reservation cursor, or NULL (map anywhere):
 * the reservation extended at its end, else a new one. */
static char *reserve_room(zone_t *z, size_t len) {
  size_t have = (size_t)(z->reserve_end - z->reserve);
  if (have >= len)
    return z->reserve;
  size_t page = zone__os_page_size();
  size_t more = z->size > RESERVE_MIN ? z->size : RESERVE_MIN;  /* address space doubles */
  if (len > SIZE_MAX / 2 || more > SIZE_MAX / 2)
    return NULL;
  size_t want = (len + more + page - 1) / page * page;
  if (z->reserve != NULL && zone__os_reserve_at(z->reserve_end, want - have) == 0) {
    z->reserve_end += want - have;
    z->reserve_len += want - have;
    return z->reserve;
  }
  char *r = zone__os_reserve(z->reserve != NULL ? z->reserve_end : reserve_hint(), want);
  if (r == NULL)  /* short of address space (RLIMIT_AS): the request alone */
    r = zone__os_reserve(NULL, want = (len + page - 1) / page * page);
  if (r == NULL)
    return NULL;
  zone__os_unmap(z->reserve, have);
  z->reserve = r;
  z->reserve_end = r + want;
  z->reserve_len = want;
  return r;
}

/* Maps an extent of ngran granules followed by a guard page: the guard keeps
 * extents from ever touching, so a free run never spans two of them, and it
 * stops a linear overflow off the zone's end. Under memcheck a page before
 * the granules is kept inaccessible too (checker.c's lead). The heap checker
 * is told that the whole mapping is off limits. Returns 0 or ENOMEM. */
int zone__extent_map(zone_t *z, zone__extent_t *out, size_t ngran) {
  size_t page = zone__os_page_size();
  size_t lead = zone__checker_lead(z->check.kind);
  size_t bytes = ngran * ZONE_G;
  size_t len = lead + (bytes + page - 1) / page * page + page;
  if (len < bytes)
    return ENOMEM;
  char *mem = (z->flags & ZONE_GROW) ? reserve_room(z, len) : NULL;
  bool reserved = mem != NULL;
  if (reserved) {
    if (zone__os_commit(mem + lead, len - lead - page) != 0)  /* lead and guard stay reserved */
      return ENOMEM;
  } else {
    mem = zone__os_map(len);
    if (mem == NULL)
      return ENOMEM;
    if (lead != 0)
      zone__os_guard(mem, lead);
    zone__os_guard(mem + len - page, page);
  }
  memset(out, 0, sizeof *out);
  if (zone__index_init(&out->idx, ngran, reserved ? book_room(ngran) : ngran) != 0) {
    if (reserved)
      zone__os_guard(mem, len - page);  /* untouched: back to address space only */
    else
      zone__os_unmap(mem, len);
    return ENOMEM;
  }
  if (reserved)
    z->reserve = mem + len;
  out->base = (uintptr_t)(mem + lead);
  out->map = mem;
  out->map_len = len;
  zone__checker_fresh(z, mem, len);
  return 0;
}

void zone__extent_unmap(zone__extent_t *e) {
  zone__index_fini(&e->idx);
  zone__os_unmap(e->map, e->map_len);
}

void zone__reserve_release(zone_t *z) {
  zone__os_unmap(z->reserve, (size_t)(z->reserve_end - z->reserve));
  z->reserve = z->reserve_end = NULL;
}

/*
 * Growth in place: the extent that ends at the reservation cursor (its guard
 * page the last thing carved) takes `gran` more granules from the reservation,
 * its guard page among them, and a new guard goes after them. The zone stays
 * one extent as it grows, so allocation has one index to search and free
 * one range to test, whatever the zone's size (bench/core_pairs). The
 * extent's bookkeeping grows in place within its room (BOOK_ROOM): the
 * call costs what the new granules need, not what the old ones hold.
 * NULL when it can't (no such extent, the reservation too short, a mapping
 * refused): the caller maps a new extent instead.
 */
static zone__extent_t *grow_in_place(zone_t *z, size_t gran) {
  size_t page = zone__os_page_size(), add = gran * ZONE_G;
  if (z->reserve == NULL || z->nextents == 0)
    return NULL;
  zone__extent_t *e = &z->extents[z->nextents - 1];
  if (e->map == NULL)
    return NULL;
  char *guard = (char *)e->map + e->map_len - page;
  if (guard + page != z->reserve || reserve_room(z, add) != guard + page)
    return NULL;
  /* The bytes between the extent's last granule and its guard (a size that
   * was not a whole number of pages) join it too. */
  size_t ngran = ((uintptr_t)guard + add - e->base) / ZONE_G;
  if (ngran > ZONE_EXTENT_MAX_GRANULES)
    return NULL;
  if (zone__os_commit(guard, add) != 0)
    return NULL;
  size_t old_bytes = e->idx.ngran * ZONE_G;
  if (zone__index_extend(&e->idx, ngran, book_room(ngran)) != 0) {
    zone__os_guard(guard, add);
    if (z->check.kind == ZONE_CHECKER_MEMCHECK)
      zone__checker_fresh(z, guard, add);  /* as before the commit (ASan's view never changed) */
    return NULL;
  }
  e->map_len += add;
  z->reserve += add;
  z->size += ngran * ZONE_G - old_bytes;
  span_cover(z, e->base, e->base + ngran * ZONE_G);
  zone__checker_fresh(z, guard, add + page);  /* the old guard, the new granules and guard */
  return e;
}

/* Grows the zone: by `step` granules in place, else by `gran` in a new
 * extent. */
static zone__extent_t *grow_by(zone_t *z, size_t step, size_t gran) {
  zone__extent_t *grown = grow_in_place(z, step);
  if (grown != NULL || z->nextents == ZONE_MAX_EXTENTS)
    return grown;
  zone__extent_t e;
  if (zone__extent_map(z, &e, gran) != 0)
    return NULL;
  return zone__extent_insert(z, &e);
}

/* `gran` granules rounded up to whole pages, at most an extent's, and at
 * least `need`. */
static size_t growth_of(size_t gran, size_t need, size_t page_gran) {
  if (gran < need)
    gran = need;
  gran = (gran + page_gran - 1) / page_gran * page_gran;
  return gran > ZONE_EXTENT_MAX_GRANULES ? ZONE_EXTENT_MAX_GRANULES : gran;
}

/* Room for `need` granules and more: the zone's current size (it doubles),
 * at least MIN_GROW_BYTES and the request. In place, at most
 * MAX_GROW_STEP_BYTES beyond the request: the zone stays one extent however
 * many steps it takes. A new extent (no reservation to grow into) still
 * doubles, so that the extents stay few (ZONE_MAX_EXTENTS). */
zone__extent_t *zone__grow(zone_t *z, size_t need) {
  if (!(z->flags & ZONE_GROW) || need == ZONE_NONE)
    return NULL;
  size_t page_gran = zone__os_page_size() / ZONE_G;
  size_t size = z->size / ZONE_G;
  if (size < MIN_GROW_BYTES / ZONE_G)
    size = MIN_GROW_BYTES / ZONE_G;
  size_t most_step = MAX_GROW_STEP_BYTES / ZONE_G;
  size_t gran = growth_of(size, need, page_gran);
  size_t step = growth_of(size < most_step ? size : most_step, need, page_gran);
  size_t least = (need + page_gran - 1) / page_gran * page_gran;
  if (least > ZONE_EXTENT_MAX_GRANULES)  /* more than an extent holds */
    return NULL;
  zone__extent_t *grown = grow_by(z, step, gran);
  /* Short of memory or address space (RLIMIT_AS): the request alone, so that
   * a program gets as close to its limit as with glibc. */
  if (grown == NULL && least < gran)
    grown = grow_by(z, least, least);
  return grown;
}
