/*
 * zone.c - the zone: its lifecycle and the public allocation entry points. A
 * zone is a sorted list of extents (mappings, or the caller's buffer); first
 * fit asks each extent in address order for its lowest fit, so placement is
 * by address across the whole zone. This file owns locking and the accounting
 * behind zone_stats; where a block goes inside an extent is index.c's
 * business, where memory comes from grow.c's, what a heap checker (memcheck,
 * ASan) is told checker.c's: under one, each call below also tells it, behind
 * a single test of zone__checked(z) that natively is all it costs.
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* ---- locking and lookup -------------------------------------------------------- */

static inline bool extent_holds(const zone__extent_t *e, uintptr_t p) {
  return p >= e->base && p - e->base < e->idx.ngran * ZONE_G;
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

/* The live block starting at p: its extent and granule, or NULL. */
static zone__extent_t *block_at(const zone_t *z, const void *p, size_t *g) {
  uintptr_t a = (uintptr_t)p;
  zone__extent_t *e = find_extent(z, a);
  if (e == NULL || (a - e->base) % ZONE_G != 0)
    return NULL;
  *g = (a - e->base) / ZONE_G;
  return zone__index_is_block(&e->idx, *g) ? e : NULL;
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
  z->used_gran = z->used_gran + gran_added - gran_removed;
  z->blocks = (size_t)((long)z->blocks + block_delta);
  if (z->used_gran > z->peak_gran)
    z->peak_gran = z->used_gran;
}

/* A block freed: usage only falls, the peak stays. */
static inline void account_free(zone_t *z, size_t gran) {
  z->used_gran -= gran;
  z->blocks--;
}
/* ---- lifecycle -------------------------------------------------------------------- */

static zone_t *zone_new(unsigned flags) {
  size_t page = zone__os_page_size();
  size_t len = (sizeof(zone_t) + page - 1) / page * page;
  unsigned kind = zone__checker_detect();
  zone_t *z = zone__checker_record_new(kind, len);
  if (z == NULL)
    return NULL;
  z->flags = flags;
  z->check.kind = kind;
  z->self_len = len;
  zone__lock_init(&z->lock);
  return z;
}

/* The zone's own record and what is left of its reservation. */
static void zone_unmap_self(zone_t *z) {
  zone__reserve_release(z);
  zone__lock_destroy(&z->lock);
  zone__checker_record_free(z);
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
  if (zone__extent_map(z, &e, ngran) != 0) {
    zone_unmap_self(z);
    errno = ENOMEM;
    return NULL;
  }
  zone__extent_insert(z, &e);
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
  memset(&e, 0, sizeof e);
  e.base = lo;
  if (zone__index_init(&e.idx, ngran, ngran) != 0) {  /* never grows */
    zone_unmap_self(z);
    errno = ENOMEM;
    return NULL;
  }
  z->caller_memory = true;
  e.fresh = ngran;  /* the caller's bytes may hold anything */
  zone__extent_insert(z, &e);
  zone__checker_fresh(z, (void *)lo, ngran * ZONE_G);
  return z;
}

void destroy_zone(zone_t *z) {
  if (z == NULL)
    return;
  zone__checker_destroy(z);
  for (size_t k = 0; k < z->nextents; k++) {
    zone__extent_t *e = &z->extents[k];
    if (z->caller_memory)
      zone__index_fini(&e->idx);
    else
      zone__extent_unmap(e);
  }
  zone__remote_free(z);
  zone_unmap_self(z);
}

void zone_reset(zone_t *z) {
  if (z == NULL)
    return;
  zone__lock(z);
  if (zone__checked(z))
    zone__checker_reset(z);  /* while the index still knows the blocks */
  for (size_t k = 0; k < z->nextents; k++)
    zone__index_clear(&z->extents[k].idx, z->extents[k].fresh);
  z->used_gran = 0;
  z->blocks = 0;
  zone_assert_expensive(z);
  zone__unlock(z);
}

/* ---- allocation ---------------------------------------------------------------------- */

/* Granules [g, g + n) of e may now hold a program's data: the fresh mark
 * (never handed out, known zero) moves above them. */
static inline void fresh_cover(zone__extent_t *e, size_t g, size_t n) {
  if (g + n > e->fresh)
    e->fresh = g + n;
}

/* Takes granules [g, g + n) of extent e for a block; returns its address and,
 * in *stale, how many of its bytes may hold old data (the rest lies above the
 * extent's fresh mark: never handed out since the kernel zeroed it). */
static inline void *taken_at(zone__extent_t *e, size_t g, size_t n, size_t *stale) {
  size_t dirty = e->fresh <= g ? 0 : e->fresh - g < n ? e->fresh - g : n;
  fresh_cover(e, g, n);
  zone__pages_taken(e, g, n);
  *stale = dirty * ZONE_G;
  return granule_addr(e, g);
}

/* Takes the lowest fit of n granules in e (aligned when align > G) or NULL. */
ZONE_INLINE void *take_in(zone__extent_t *e, size_t n, size_t align, size_t *stale) {
  size_t g;
  if (align <= ZONE_G) {
    if (n <= ZONE_REACH_MAX && !zone__reach_may_fit(&e->idx, n))
      return NULL;
    g = zone__index_alloc(&e->idx, n);
  } else {
    g = zone__index_fit_aligned(&e->idx, e->base, n, align);
    if (g != ZONE_NONE)
      zone__index_take(&e->idx, g, n);
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
  zone__extent_t *e = zone__grow(z, n > ZONE_NONE - slack ? ZONE_NONE : n + slack);
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

/* The rest of an allocation, with the lock held: any zone, size and
 * alignment; growth, the heap checker and zeroing. */
ZONE_INLINE void *alloc_locked(zone_t *z, size_t n, size_t bytes, size_t align, bool zeroed) {
  size_t stale = 0, known = 0;
  void *p = take_lowest(z, n, align, &stale);
  if (p != NULL) {
    account(z, n, 0, 1);
    if (zone__checked(z))
      known = zone__checker_alloc(z, p, bytes, n * ZONE_G, zeroed);
  }
  zone_assert_expensive(z);
  zone__unlock(z);
  if (p == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  if (zeroed) {
    zero_block(p, n * ZONE_G, stale);
    if (zone__checked(z))
      zone__checker_zeroed(z, p, known, n * ZONE_G);
  }
  return p;
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
  zone__lock(z);
  return alloc_locked(z, n, bytes, align, zeroed);
}

/* zalloc's ways off its short path, out of line so that it keeps a small
 * frame: any request, and one whose size is known good with the lock held. */
static __attribute__((noinline)) void *zalloc_any(zone_t *z, size_t bytes) {
  return alloc_common(z, bytes, 0, false);
}
static __attribute__((noinline)) void *zalloc_locked(zone_t *z, size_t n, size_t bytes) {
  zone__settle_waiting(z);
  return alloc_locked(z, n, bytes, 0, false);
}

/* Granules [g, g + n) of a plain zone's extent were taken and its pages
 * have marks (trim.c; only after a trim): the block's address. */
static __attribute__((noinline)) void *small_taken_marked(zone__extent_t *e, size_t g, size_t n) {
  zone__pages_taken(e, g, n);
  return granule_addr(e, g);
}

/* ZONE_OPAQUE (internal.h) keeps a call whose result it takes a call, not a
 * jump: under a heap checker, the stack it reports for an allocation or a
 * free names zalloc or zfree, not the function that finished their work. */

/* Off zalloc's and zfree's short paths, out of line so that those keep
 * nothing in registers across them: the wait for a held lock and the rest of
 * the call, and the wake-up of a waiter (a tail call). */
static __attribute__((noinline, cold)) void *zalloc_contended(zone_t *z, size_t bytes,
                                                              int expected) {
  zone__lock_contended(&z->lock, expected);
  void *p = zalloc_locked(z, granules_for(bytes), bytes);
  ZONE_OPAQUE(p);
  return p;
}
static __attribute__((noinline)) void *wake_then(zone_t *z, void *p) {
  zone__lock_wake(&z->lock);
  return p;
}
static __attribute__((noinline)) int wake_then_err(zone_t *z, int err) {
  zone__lock_wake(&z->lock);
  return err;
}

/* The end of zalloc's short path: granules [g, g + n) of the one extent e
 * were taken, the lock held. Counted, their pages' marks kept, unlocked:
 * the block's address. */
ZONE_INLINE void *small_taken(zone_t *z, zone__extent_t *e, size_t g, size_t n) {
  account(z, n, 0, 1);
  fresh_cover(e, g, n);
  void *p = granule_addr(e, g);
  if (__builtin_expect(g + n > e->returned.clear_below, 0))
    p = small_taken_marked(e, g, n);
  zone_assert_expensive(z);
  if (__builtin_expect(zone__unlock_fast(z), 0))
    return wake_then(z, p);
  return p;
}

/* zalloc's short path in a zone whose frees are deferred (n granules, the
 * lock held): the lowest fit is taken without the deferred free done first
 * when that free cannot change it, its block starting at or past the end of
 * the fit. A fit below the block would have been found with it done too,
 * and one that the freed granules join must take some of them, so it ends
 * past the block's start. Else the take is undone, the free done, and the
 * search made again; no fit at all goes the long way (zalloc_locked:
 * growth). The free is also done first when the take would set a new peak
 * of use: the waiting block, still counted, would raise it too far (below
 * the peak, the peak stays either way). Frees handed over (remote.c) are
 * done first, as everywhere. */
static __attribute__((noinline)) void *alloc_deferring(zone_t *z, size_t n) {
  if (__builtin_expect(zone__remote_pending(z), 0))
    zone__remote_settle(z);
  if (z->pending != NULL && z->used_gran + n > z->peak_gran)
    zone__settle(z);
  zone__extent_t *e = &z->extents[0];
  if (z->nextents == 1 && z->check.kind == ZONE_CHECKER_NONE) {
    size_t g = zone__index_alloc(&e->idx, n);
    if (g != ZONE_NONE && z->pending != NULL && ((uintptr_t)z->pending - e->base) / ZONE_G < g + n) {
      zone__index_release(&e->idx, g);
      zone__settle(z);
      g = zone__index_alloc(&e->idx, n);
    }
    if (g != ZONE_NONE)
      return small_taken(z, e, g, n);
  }
  return zalloc_locked(z, n, n * ZONE_G);
}

_Static_assert(ZONE_ALLOC_SIZED_MAX == ZONE_EXTENT_MAX_GRANULES * ZONE_G,
               "zone__alloc_sized takes what one extent can hold");

/* zalloc for z not NULL and a request its extent holds (1 byte to
 * ZONE_EXTENT_MAX_GRANULES granules): the short path for a zone of one
 * extent and no heap checker (z->plain). When the extent has no fit, and
 * for everything else, alloc_locked: it looks again (a request that fits
 * nowhere is rare: the zone grows, or fails) and grows the zone. */
ZONE_INLINE void *alloc_sized(zone_t *z, size_t bytes) {
  void *p;
  int expected;
  if (__builtin_expect(!zone__lock_fast(z, &expected), 0)) {
    p = zalloc_contended(z, bytes, expected);
    ZONE_OPAQUE(p);
    return p;
  }
  size_t n = (bytes + ZONE_G - 1) / ZONE_G;
  zone__extent_t *e = &z->extents[0];
  if (__builtin_expect(!zone__plain(z), 0)) {
    p = z->defers ? alloc_deferring(z, n) : zalloc_locked(z, n, bytes);
    ZONE_OPAQUE(p);
    return p;
  }
  ZONE_OPAQUE(n);  /* n, not bytes, kept across the call: one register fewer */
  size_t g = zone__index_alloc(&e->idx, n);
  if (__builtin_expect(g == ZONE_NONE, 0)) {
    /* The request's own size only matters to a heap checker, which a plain
     * zone has none of. */
    p = zalloc_locked(z, n, n * ZONE_G);
    ZONE_OPAQUE(p);
    return p;
  }
  return small_taken(z, e, g, n);
}

void *zalloc(zone_t *z, size_t bytes) {
  if (__builtin_expect(z == NULL || bytes - 1 >= ZONE_ALLOC_SIZED_MAX, 0)) {
    void *p = zalloc_any(z, bytes);
    ZONE_OPAQUE(p);
    return p;
  }
  return alloc_sized(z, bytes);
}

void *zone__alloc_sized(size_t bytes, zone_t *z) { return alloc_sized(z, bytes); }

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

/* zfree of a zone that is not plain, or of a pointer outside its extent: the
 * lock held. */
static int release_locked(zone_t *z, void *p) {
  uintptr_t a = (uintptr_t)p;
  zone__extent_t *e = find_extent(z, a);
  size_t n = 0;
  if (e != NULL && (a - e->base) % ZONE_G == 0)
    n = zone__index_release(&e->idx, (a - e->base) / ZONE_G);
  if (n == 0)
    return EINVAL;
  account_free(z, n);
  if (zone__checked(z))
    zone__checker_free(z, p, n * ZONE_G);
  zone_assert_expensive(z);
  return 0;
}

void (*zone__refused_late)(void *p);

/* A free made after its call (handed over or deferred), the lock held: a
 * pointer that starts no block then goes to zone__refused_late. */
static void release_late(zone_t *z, void *p) {
  if (release_locked(z, p) != 0 && zone__refused_late != NULL)
    zone__refused_late(p);
}

/* Applies the frees handed over (remote.c), a batch at a time, in order. */
static void remote_apply(zone_t *z, bool skip_unwritten) {
  void *batch[64];
  size_t n;
  while ((n = zone__remote_take(z, batch, 64, skip_unwritten)) != 0)
    for (size_t k = 0; k < n; k++)
      release_late(z, batch[k]);
  zone__plain_set(z);
}

void zone__remote_settle(zone_t *z) { remote_apply(z, false); }

static __attribute__((noinline)) int free_locked(zone_t *z, void *p) {
  zone__settle_waiting(z);
  int err = release_locked(z, p);
  zone__unlock(z);
  return err;
}


/* ---- deferred frees ------------------------------------------------------------------ */

void zone__settle(zone_t *z) {
  void *p = z->pending;
  z->pending = NULL;
  release_late(z, p);
}

/* The shim's free in a zone that defers its frees (the lock held): the
 * block's bookkeeping is fetched now (prefetches, which wait for nothing)
 * and its free done at the next call into the zone, the free before it done
 * now, whose bookkeeping the same was fetched a call ago. A free in a large
 * zone then waits for no cache miss. A pointer that can't be a block of the
 * extent, and the block already waiting (a double free), are refused at
 * once; any other pointer that starts no block is found out when its free
 * is done, and handed to zone__refused_late. An extent smaller than
 * zone__defer_frees asked frees at once. A call that takes the lock
 * with zone__lock does the waiting free first, and so do the contended
 * paths and the growth (zalloc_locked, free_locked). */
static __attribute__((noinline)) int free_deferring(zone_t *z, void *p) {
  if (__builtin_expect(zone__remote_pending(z), 0))
    zone__remote_settle(z);
  zone__extent_t *e = &z->extents[0];
  uintptr_t off = (uintptr_t)p - e->base;
  if (z->nextents != 1 || z->check.kind != ZONE_CHECKER_NONE || off % ZONE_G != 0 ||
      off / ZONE_G >= e->idx.ngran || e->idx.ngran < z->defer_min)
    return free_locked(z, p);
  if (p == z->pending) {
    zone__unlock(z);
    return EINVAL;
  }
  size_t w = off / ZONE_G / ZONE_WORD_BITS;
  __builtin_prefetch(&e->idx.used[w], 1);
  __builtin_prefetch(&e->idx.end[w], 1);
  __builtin_prefetch(&e->idx.leaf[w], 1);
  __builtin_prefetch(&e->idx.reach.bytes[w], 1);
  void *before = z->pending;
  z->pending = p;
  if (before != NULL)
    release_late(z, before);
  zone_assert_expensive(z);
  zone__unlock(z);
  return 0;
}

void zone__defer_frees(zone_t *z, bool on, size_t min_bytes) {
  zone__lock(z);  /* a free waiting is done */
  z->defers = on && z->check.kind == ZONE_CHECKER_NONE;
  z->defer_min = min_bytes / ZONE_G;
  zone__plain_set(z);
  zone__unlock(z);
}

static __attribute__((noinline, cold)) int zfree_contended(zone_t *z, void *p, int expected) {
  zone__lock_contended(&z->lock, expected);
  int err = free_locked(z, p);
  ZONE_OPAQUE(err);
  return err;
}

int zone__free_or_hand_over(zone_t *z, void *p) {
  int expected;
  if (zone__lock_looks_free(&z->lock, &expected) && zone__lock_fast(z, &expected))
    return free_locked(z, p);
  if (zone__remote_push(z, p) != 0)
    return zfree_contended(z, p, expected);  /* held: both tests set it */
  /* The holder may have let go since: then apply it now, so that a free
   * does not wait for the arena's next call when it need not. */
  if (zone__lock_looks_free(&z->lock, &expected) && zone__lock_fast(z, &expected)) {
    zone__settle_waiting(z);
    zone__unlock(z);
  }
  return 0;
}

/* p's granule in extent e, its offset rotated right by the granule's bits:
 * an offset that is no multiple of the granule, or p below the extent (the
 * subtraction wraps), gives a number past every granule, so one compare
 * against ngran sends them all to the slow paths, which sort them out. */
static inline size_t granule_rotated(const zone__extent_t *e, const void *p) {
  uintptr_t off = (uintptr_t)p - e->base;
  return (size_t)(off >> ZONE_G_SHIFT | off << (sizeof off * 8 - ZONE_G_SHIFT));
}

/* zfree's work for a zone and a pointer, neither NULL: the short path for a
 * plain zone and a pointer inside its extent, the rest out of line; `defer`
 * (the shim's free) lets a zone that defers its frees defer this one. */
ZONE_INLINE int free_block(zone_t *z, void *p, bool defer) {
  int expected, err;
  if (__builtin_expect(!zone__lock_fast(z, &expected), 0)) {
    err = zfree_contended(z, p, expected);
    ZONE_OPAQUE(err);
    return err;
  }
  zone__extent_t *e = &z->extents[0];
  size_t g = granule_rotated(e, p);
  if (__builtin_expect(!zone__plain(z) || g >= e->idx.ngran, 0)) {
    err = defer && z->defers ? free_deferring(z, p) : free_locked(z, p);
    ZONE_OPAQUE(err);
    return err;
  }
  size_t n = zone__index_release(&e->idx, g);
  err = 0;
  if (__builtin_expect(n == 0, 0))
    err = EINVAL;
  else
    account_free(z, n);
  zone_assert_expensive(z);
  if (__builtin_expect(zone__unlock_fast(z), 0))
    return wake_then_err(z, err);
  return err;
}

int zfree(zone_t *z, void *p) {
  if (z == NULL)
    return EINVAL;
  if (p == NULL)
    return 0;
  return free_block(z, p, false);
}

void *zone__free_known(void *p, zone_t *z) { return free_block(z, p, true) == 0 ? NULL : p; }

/* The span test first, without the lock: p outside it is no block of z. */
void *zone__free_held(void *p, zone_t *z) {
  if (!zone__span_holds(z, p))
    return p;
  return zone__free_known(p, z);
}

/* Moves a block's contents (the whole old block, or as much as fits) to its
 * new place; under a heap checker, only what the program asked for of it
 * (the rest is off limits), and the checker is told. */
static void move_block(zone_t *z, void *to, size_t to_bytes, void *from, size_t from_bytes,
                       size_t request) {
  if (zone__checked(z)) {
    zone__checker_move(z, to, to_bytes, from, from_bytes, request);
    return;
  }
  memmove(to, from, to_bytes < from_bytes ? to_bytes : from_bytes);
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
  size_t old_n = zone__index_block_len(&e->idx, g);
  size_t new_n = granules_for(bytes);
  if (new_n == ZONE_NONE) {
    zone__unlock(z);
    errno = ENOMEM;
    return NULL;
  }
  if (new_n <= old_n ||
      zone__index_free_len(&e->idx, g + old_n, new_n - old_n) == new_n - old_n) {
    /* Shrink, or grow into the free run right after the block: in place. */
    zone__index_resize(&e->idx, g, old_n, new_n);
    fresh_cover(e, g, new_n);
    if (new_n > old_n)
      zone__pages_taken(e, g + old_n, new_n - old_n);
    account(z, new_n, old_n, 0);
    if (zone__checked(z))
      zone__checker_resize(z, p, old_n * ZONE_G, new_n * ZONE_G, bytes);
    zone_assert_expensive(z);
    zone__unlock(z);
    return p;
  }
  /* Move to the first fit as if the block were already free: its own space
   * and a free run before it count. On failure it is taken back unchanged. */
  zone__index_give(&e->idx, g, old_n);
  size_t stale;
  void *q = take_lowest(z, new_n, 0, &stale);
  if (q == NULL) {
    e = find_extent(z, (uintptr_t)p);  /* growth may have moved the array */
    zone__index_take(&e->idx, g, old_n);
    zone_assert_expensive(z);
    zone__unlock(z);
    errno = ENOMEM;
    return NULL;
  }
  account(z, new_n, old_n, 0);
  move_block(z, q, new_n * ZONE_G, p, old_n * ZONE_G, bytes);
  zone_assert_expensive(z);
  zone__unlock(z);
  return q;
}

/* ---- queries ---------------------------------------------------------------------------- */

size_t zone_block_size(const zone_t *z, const void *p) {
  if (z == NULL || p == NULL)
    return 0;
  zone__lock(z);
  size_t g, bytes = 0;
  zone__extent_t *e = block_at(z, p, &g);
  if (e != NULL) {
    bytes = zone__index_block_len(&e->idx, g) * ZONE_G;
    if (zone__checked(z))  /* the usable size: all of it may be used now */
      zone__checker_usable((zone_t *)z, p, bytes);
  }
  zone__unlock(z);
  return bytes;
}

/* zone_block_size's short path, as free_block's: a plain zone and a
 * pointer inside its extent are answered at once, the rest by
 * zone_block_size (which settles what waits first). */
size_t zone__block_size_known(const void *p, zone_t *z) {
  int expected;
  if (__builtin_expect(!zone__lock_fast(z, &expected), 0))
    return zone_block_size(z, p);
  zone__extent_t *e = &z->extents[0];
  size_t g = granule_rotated(e, p);
  size_t n = 0;
  bool slow = !zone__plain(z) || g >= e->idx.ngran;
  if (__builtin_expect(!slow, 1))
    n = zone__index_block_at(&e->idx, g);
  if (__builtin_expect(zone__unlock_fast(z), 0))
    zone__lock_wake(&z->lock);
  return __builtin_expect(slow, 0) ? zone_block_size(z, p) : n * ZONE_G;
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

/* ---- the shim's narrow API (zone_ext.h) --------------------------------------------------- */

__thread unsigned zone__lock_waits __attribute__((tls_model("initial-exec")));

void zone__fork_lock(zone_t *z) { zone__lock(z); }
void zone__fork_unlock(zone_t *z) { zone__unlock(z); }
void zone__fork_reinit(zone_t *z) { zone__lock_init(&z->lock); }
void zone__fork_child(zone_t *z) {
  zone__fork_reinit(z);
  remote_apply(z, true);
}

/* Nothing else ever changes a frozen zone, so reading it unlocked is safe
 * except while the interrupted call finishes; the block's own size is then a
 * guess, so it is bounded by the extent. */
bool zone__lookup_unlocked(const zone_t *z, const void *p, size_t *usable) {
  const zone__extent_t *e = find_extent(z, (uintptr_t)p);
  if (e == NULL)
    return false;
  size_t g = ((uintptr_t)p - e->base) / ZONE_G;
  size_t to_end = e->idx.ngran * ZONE_G - ((uintptr_t)p - e->base);
  size_t bytes = zone__index_is_block(&e->idx, g) ? zone__index_block_len(&e->idx, g) * ZONE_G : to_end;
  *usable = bytes < to_end ? bytes : to_end;
  return true;
}
