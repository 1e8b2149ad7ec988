/*
 * malloc.c - the malloc family on the arenas, with glibc's semantics:
 * malloc, free, calloc, realloc, reallocarray, the aligned calls,
 * malloc_usable_size and the __libc_* names glibc still exports. Each entry is
 * a thin mapping onto zalloc, zfree, zcalloc, zrealloc or zalloc_aligned; the
 * core decides where a block goes. What glibc promises and the core does not
 * say on its own is settled here: malloc(0) and realloc(NULL, 0) give a live
 * block, free keeps errno, posix_memalign never touches errno, a pointer that
 * is no live block is a misuse (misuse.c) rather than an error code.
 *
 * Allocation uses the thread's arena; free, realloc and malloc_usable_size go
 * to the block's owner, tried first in the thread's arena and then, when the
 * process has more than one, in the arenas whose span holds the pointer
 * (arena.c). The hot path is: load the thread's zone (kept beside its arena
 * in one thread-local, shim.h), mark the thread as inside the core (for fork
 * from a signal handler), call the core, unmark it and count the operation
 * for memory return in one subtraction (the marks hold both), look at the
 * thread's lock-wait count (an allocation that waited moves the thread to
 * another arena). Nothing else: options were read once at start-up (with
 * ZONE_DUMP_EVERY every operation's count comes out due, and the allocation
 * is counted off the hot path, trim.c), and a process with one thread takes
 * no atomic (the core's lock skips them).
 */
#include "fast.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the core calls, bracketed -------------------------------------------------- */

/* After a call on the thread's own arena: if it waited for the lock, the
 * thread moves (arena.c). */
static inline void after_own_call(void) {
  if (zone__unlikely(zone__lock_waits != 0))
    zone__shim_contended();
}

static inline void *alloc_plain(zone_t *z, size_t bytes) {
  zone__shim_enter();
  void *p = zalloc(z, bytes);
  zone__shim_leave();
  return p;
}

static inline void *alloc_aligned(zone_t *z, size_t align, size_t bytes) {
  zone__shim_enter();
  void *p = zalloc_aligned(z, align, bytes);
  zone__shim_leave();
  return p;
}

/* An operation on arena a done, already out of the core: counted for memory
 * return (trim.c: a look at the arena's usage every few dozen calls on a
 * thread) and, for an allocation, ZONE_DUMP_EVERY's count. */
static inline void count_op(zone__shim_arena_t *a, bool alloc) {
  if (zone__unlikely((zone__shim_self.marks -= ZONE_MARK_OP) < 0))
    zone__shim_op_due(a, alloc);
}

/* After a successful allocation that left the core uncounted. */
static inline void *allocated(zone__shim_arena_t *a, void *p) {
  count_op(a, true);
  return p;
}

/* Requests above PTRDIFF_MAX fail as glibc's do, whatever the core could map. */
static inline bool too_large(size_t bytes) { return bytes > (size_t)PTRDIFF_MAX; }

/* ---- malloc, free, calloc -------------------------------------------------------- */

/* malloc on the way that finds the thread's arena and zone first (the first
 * call, start-up, a thread's end), or of a size 0 or too large. */
static __attribute__((noinline, cold)) void *malloc_slow(size_t bytes) {
  if (too_large(bytes)) {
    errno = ENOMEM;
    return NULL;
  }
  zone__shim_arena_t *a = zone__shim_arena();
  zone_t *z = zone__shim_arena_zone(a);  /* made first: the options are read then */
  if (zone__unlikely(z == NULL))
    return NULL;
  zone__shim_remember(a, z);
  void *p = zone__shim_huge_alloc(bytes, 0);
  if (p != NULL)
    return p;
  p = alloc_plain(z, bytes);
  after_own_call();
  return zone__likely(p != NULL) ? allocated(a, p) : NULL;
}

/* After a successful allocation on the thread's known zone, left counted:
 * the lock waits first, then the due operation on the arena the block came
 * from (the move, if any, changes the thread's arena). */
static __attribute__((noinline, cold)) void *malloc_after(void *p, bool due) {
  zone__shim_arena_t *a = zone__shim_self.mine;
  after_own_call();
  if (due)
    zone__shim_op_due(a, true);
  return p;
}

/* An allocation on the thread's known zone failed, still marked inside. */
static __attribute__((noinline, cold)) void *malloc_failed(void) {
  zone__shim_leave();
  after_own_call();
  return NULL;
}

/* After the core's allocation on the thread's own arena (marked by
 * zone__shim_enter): leaves the core counting the call, and takes the cold
 * ends for a due count, a lock wait or a failure. */
static inline void *own_call_done(void *p) {
  if (zone__likely(p != NULL)) {
    if (zone__unlikely(zone__shim_leave_counted()))
      return malloc_after(p, true);
    if (zone__unlikely(zone__lock_waits != 0))
      return malloc_after(p, false);
    return p;
  }
  return malloc_failed();
}

/* The hot path: the thread's zone (one thread-local load), the core's call
 * marked, counted as it leaves, and the lock waits looked at. A size of 0,
 * or one that may want a mapping of its own (ZONE_SHIM_HUGE_MIN and more:
 * huge.c), takes the slow way, so that the core need not test the size
 * (zone__alloc_sized). */
_Static_assert(ZONE_SHIM_HUGE_MIN <= ZONE_ALLOC_SIZED_MAX, "the hot path's sizes fit an extent");
static inline void *shim_malloc(size_t bytes) {
  zone_t *z = zone__shim_known_zone();
  if (zone__unlikely(z == NULL || bytes - 1 >= ZONE_SHIM_HUGE_MIN - 1))
    return malloc_slow(bytes);
  zone__shim_enter();
  void *p = zone__alloc_sized(bytes, z);
  return own_call_done(p);
}

/* zfree in the other arenas that may own p (not `tried`); 0 if one did. A
 * wait for another arena's lock moves nobody. When exactly one arena's span
 * holds p, free's free (hand_over; not realloc's, whose misuse report names
 * realloc) is handed over to that arena without its lock
 * (zone__remote_push): its next call under the lock applies it. */
static int free_remote(const zone_t *tried, void *p, bool hand_over) {
  unsigned waits = zone__lock_waits, cursor = 0;
  int err = EINVAL;
  zone_t *o;
  if (hand_over && (o = zone__shim_sole_holder(p, tried)) != NULL) {
    zone__shim_enter();
    err = zone__free_or_hand_over(o, p);
    zone__shim_leave();
    zone__lock_waits = waits;
    return err;
  }
  while (err != 0 && (o = zone__shim_holder(p, &cursor, tried)) != NULL) {
    zone__shim_enter();
    err = zfree(o, p);
    zone__shim_leave();
  }
  zone__lock_waits = waits;
  return err;
}

/* The name free's misuse reports give, by which a free is told from
 * realloc(p, 0)'s (one address compare, not a string compare). */
static const char free_call[] = "free";

/* A free the thread's zone z refused (or, with `many`, whose span does not
 * hold p): another arena's block, a frozen zone's, or misuse. */
static void free_elsewhere(zone_t *z, void *p, bool many, const char *call) {
  int saved = errno;
  if (!many || free_remote(z, p, call == free_call) != 0)
    zone__shim_foreign(p, call);
  errno = saved;
}

/* free on the way that finds the thread's arena first. */
static __attribute__((noinline, cold)) void free_slow(void *p, const char *call) {
  zone__shim_arena_t *a = zone__shim_arena();
  zone_t *z = atomic_load_explicit(&a->zone, memory_order_acquire);
  if (zone__unlikely(z == NULL)) {  /* no zone yet, so p can't be ours */
    zone__shim_misuse(call, p);
    return;
  }
  zone__shim_remember(a, z);
  int err = EINVAL;
  bool many = zone__shim_many_arenas();
  if (zone__likely(!many || zone__span_holds(z, p))) {
    zone__shim_enter();
    err = zfree(z, p);
    zone__shim_leave();
  }
  if (zone__unlikely(err != 0)) {
    free_elsewhere(z, p, many, call);
    return;
  }
  count_op(a, false);
}

/* The thread's known zone refused p (with more than one arena, p outside
 * its span counts as refused). The zone is read again rather than kept
 * across the call (a signal handler's move in between would only make
 * free_remote try the refusing zone once more), and so is the count of
 * arenas (more since can only help). */
static __attribute__((noinline, cold)) void free_refused(void *p, const char *call) {
  free_elsewhere(zone__shim_known_zone(), p, zone__shim_many_arenas(), call);
}

/* free, and realloc(p, 0), which names itself in a misuse report. */
static inline void free_as(void *p, const char *call) {
  if (p == NULL)
    return;
  zone_t *z = zone__shim_known_zone();
  if (zone__unlikely(z == NULL)) {
    free_slow(p, call);
    return;
  }
  /* With more than one arena, p may be another's: a pointer outside the
   * zone's span is refused without its lock. The core hands a refused
   * pointer back, so that p need not be kept across the call. */
  zone__shim_enter();
  void *refused = zone__unlikely(zone__shim_many_arenas()) ? zone__free_held(p, z) : zone__free_known(p, z);
  if (zone__likely(refused == NULL)) {
    if (zone__unlikely(zone__shim_leave_counted()))
      zone__shim_op_due(zone__shim_self.mine, false);
    return;
  }
  zone__shim_leave();
  free_refused(refused, call);
}

static void shim_free(void *p) { free_as(p, free_call); }

/* calloc on the way that finds the thread's arena and zone first, or of a
 * size that may want a mapping of its own (whose pages are zero). */
static __attribute__((noinline, cold)) void *calloc_slow(size_t count, size_t size) {
  zone__shim_arena_t *a = zone__shim_arena();
  zone_t *z = zone__shim_arena_zone(a);
  if (zone__unlikely(z == NULL))
    return NULL;
  zone__shim_remember(a, z);
  void *huge = zone__shim_huge_alloc(count * size, 0);
  if (huge != NULL)
    return huge;
  zone__shim_enter();
  void *p = zcalloc(z, count, size);
  zone__shim_leave();
  after_own_call();
  return zone__likely(p != NULL) ? allocated(a, p) : NULL;
}

/* As malloc's hot path. */
static void *shim_calloc(size_t count, size_t size) {
  size_t bytes;
  if (zone__unlikely(__builtin_mul_overflow(count, size, &bytes) || too_large(bytes))) {
    errno = ENOMEM;
    return NULL;
  }
  zone_t *z = zone__shim_known_zone();
  if (zone__unlikely(z == NULL || bytes >= ZONE_SHIM_HUGE_MIN))
    return calloc_slow(count, size);
  zone__shim_enter();
  void *p = zcalloc(z, count, size);
  return own_call_done(p);
}

/* ---- realloc ------------------------------------------------------------------ */

/* realloc of a block no arena owns to a size that wants no mapping of its
 * own (realloc_huge serves the others): a block of its own mapping moves
 * into the thread's arena and its mapping goes (huge.c); a frozen zone's
 * block moves into the thread's arena (it is left where it was); anything
 * else is misuse. */
static void *realloc_foreign(zone__shim_arena_t *a, zone_t *z, void *p, size_t bytes,
                             const char *call) {
  size_t usable = zone__shim_huge_size(p);
  if (usable != 0) {
    void *q = alloc_plain(z, bytes);
    if (q == NULL)
      return NULL;
    memcpy(q, p, usable < bytes ? usable : bytes);
    zone__shim_huge_free(p);
    return allocated(a, q);
  }
  if (!zone__shim_frozen_lookup(p, &usable)) {
    zone__shim_misuse(call, p);
    errno = EINVAL;
    return NULL;
  }
  void *q = alloc_plain(z, bytes);
  if (q == NULL)
    return NULL;
  memcpy(q, p, usable < bytes ? usable : bytes);
  return allocated(a, q);
}

/* realloc of a block another arena may own: resized (or moved) in its owner,
 * under the owner's lock, as the owner's first fit has it. *found says
 * whether an arena owned p. */
static void *realloc_remote(const zone_t *tried, void *p, size_t bytes, bool *found) {
  unsigned waits = zone__lock_waits, cursor = 0;
  void *q = NULL;
  zone_t *o;
  *found = false;
  int saved = errno;
  while ((o = zone__shim_holder(p, &cursor, tried)) != NULL) {
    errno = saved;
    zone__shim_enter();
    q = zrealloc(o, p, bytes);
    zone__shim_leave();
    if (q != NULL || errno != EINVAL) {
      *found = true;
      break;
    }
  }
  if (!*found)
    errno = saved;
  zone__lock_waits = waits;
  return q;
}

static size_t usable_size_as(void *p, const char *call);

/* realloc to a size that wants a mapping of its own: a block of its own
 * mapping is resized there (huge.c), any other moves into one. *done is false
 * when no mapping could be had: the arenas then serve the call. */
static void *realloc_huge(void *p, size_t bytes, bool *done) {
  *done = true;
  if (zone__shim_huge_size(p) != 0)
    return zone__shim_huge_resize(p, bytes);
  size_t size = usable_size_as(p, "realloc");
  if (size == 0) {  /* no live block: said, if ZONE_MISUSE lets it return */
    errno = EINVAL;
    return NULL;
  }
  void *q = zone__shim_huge_alloc(bytes, 0);
  if (q == NULL) {
    *done = false;
    return NULL;
  }
  memcpy(q, p, size < bytes ? size : bytes);
  free_as(p, "realloc");
  return q;
}

static void *shim_realloc(void *p, size_t bytes) {
  if (p == NULL)
    return shim_malloc(bytes);  /* realloc(NULL, 0) is a live block too */
  if (bytes == 0) {
    free_as(p, "realloc");
    return NULL;
  }
  if (zone__unlikely(too_large(bytes))) {
    errno = ENOMEM;
    return NULL;
  }
  if (zone__unlikely(bytes >= ZONE_SHIM_HUGE_MIN) && zone__shim_huge_wanted(bytes)) {
    bool done;
    void *q = realloc_huge(p, bytes, &done);
    if (done)
      return q;
  }
  zone__shim_arena_t *a = zone__shim_arena();
  zone_t *z = zone__shim_arena_zone(a);
  if (zone__unlikely(z == NULL)) {
    zone__shim_misuse("realloc", p);
    errno = EINVAL;
    return NULL;
  }
  int saved = errno;
  bool many = zone__shim_many_arenas();
  if (zone__likely(!many || zone__span_holds(z, p))) {
    zone__shim_enter();
    void *q = zrealloc(z, p, bytes);
    zone__shim_leave();
    after_own_call();
    if (zone__likely(q != NULL))
      return allocated(a, q);
    if (errno != EINVAL)  /* zrealloc's word for "p is no live block" */
      return NULL;        /* ENOMEM, the block is intact */
    errno = saved;
  }
  if (many) {
    bool found;
    void *q = realloc_remote(z, p, bytes, &found);
    if (found)
      return q != NULL ? allocated(a, q) : NULL;
  }
  return realloc_foreign(a, z, p, bytes, "realloc");
}

static void *shim_reallocarray(void *p, size_t count, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return NULL;
  }
  return shim_realloc(p, bytes);
}

/* ---- aligned allocation ---------------------------------------------------------- */

/* memalign and aligned_alloc as glibc 2.36 has them: an alignment up to the
 * granule is plain malloc, one that is not a power of two is rounded up to the
 * next, one above SIZE_MAX / 2 + 1 is EINVAL. */
static void *shim_memalign(size_t align, size_t bytes) {
  if (align <= ZONE_GRANULE)
    return shim_malloc(bytes);
  if (align > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return NULL;
  }
  if ((align & (align - 1)) != 0)
    align = (size_t)1 << (64 - __builtin_clzll((unsigned long long)align));
  if (zone__unlikely(too_large(bytes))) {
    errno = ENOMEM;
    return NULL;
  }
  zone__shim_arena_t *a = zone__shim_arena();
  zone_t *z = zone__shim_arena_zone(a);
  if (zone__unlikely(z == NULL))
    return NULL;
  void *p = zone__shim_huge_alloc(bytes, align);
  if (p != NULL)
    return p;
  p = alloc_aligned(z, align, bytes);
  after_own_call();
  return p != NULL ? allocated(a, p) : NULL;
}

static int shim_posix_memalign(void **out, size_t align, size_t bytes) {
  if (align < sizeof(void *) || (align & (align - 1)) != 0)
    return EINVAL;
  /* errno: untouched on success; on failure left as the allocation set it
   * (ENOMEM), as glibc's posix_memalign leaves it and programs read it. */
  int saved = errno;
  void *p = shim_memalign(align, bytes);
  if (p == NULL)
    return errno;
  errno = saved;
  *out = p;
  return 0;
}

static void *shim_valloc(size_t bytes) { return shim_memalign(zone__os_page_size(), bytes); }

/* Whole pages: the size rounds up to the page (0 gets one page). */
static void *shim_pvalloc(size_t bytes) {
  size_t page = zone__os_page_size();
  if (bytes > SIZE_MAX - page) {
    errno = ENOMEM;
    return NULL;
  }
  size_t rounded = bytes == 0 ? page : (bytes + page - 1) & ~(page - 1);
  return shim_memalign(page, rounded);
}

/* ---- sizes ------------------------------------------------------------------------ */

/* malloc_usable_size, and realloc's look at a block's size, which names
 * realloc in a misuse report. */
static size_t usable_size_as(void *p, const char *call) {
  if (p == NULL)
    return 0;
  zone_t *z = zone__shim_known_zone();
  if (zone__unlikely(z == NULL))
    z = atomic_load_explicit(&zone__shim_arena()->zone, memory_order_acquire);
  size_t bytes = 0;
  if (z != NULL) {
    zone__shim_enter();
    bytes = zone__block_size_known(p, z);
    zone__shim_leave();
  }
  if (zone__likely(bytes != 0))
    return bytes;
  unsigned waits = zone__lock_waits, cursor = 0;
  zone_t *o;
  while (bytes == 0 && (o = zone__shim_holder(p, &cursor, z)) != NULL) {
    zone__shim_enter();
    bytes = zone_block_size(o, p);
    zone__shim_leave();
  }
  zone__lock_waits = waits;
  if (bytes != 0)
    return bytes;
  size_t usable = zone__shim_huge_size(p);
  if (usable != 0 || zone__shim_frozen_lookup(p, &usable))
    return usable;
  zone__shim_misuse(call, p);
  return 0;
}

static size_t shim_usable_size(void *p) { return usable_size_as(p, "malloc_usable_size"); }

/* ---- the exported names ------------------------------------------------------------
 * Every name glibc exports for these calls, so that no pointer of ours can reach
 * glibc's allocator (for example through __libc_free, or cfree in old binaries).
 * A test that includes this file to call the shim_* functions under a
 * sanitizer (whose runtime owns these names) defines ZONE_SHIM_NO_EXPORTS. */
#ifndef ZONE_SHIM_NO_EXPORTS

ZONE_SHIM_EXPORT void *malloc(size_t bytes) { return shim_malloc(bytes); }
ZONE_SHIM_EXPORT void free(void *p) { shim_free(p); }
ZONE_SHIM_EXPORT void *calloc(size_t count, size_t size) { return shim_calloc(count, size); }
ZONE_SHIM_EXPORT void *realloc(void *p, size_t bytes) { return shim_realloc(p, bytes); }
ZONE_SHIM_EXPORT void *reallocarray(void *p, size_t count, size_t size) {
  return shim_reallocarray(p, count, size);
}
ZONE_SHIM_EXPORT int posix_memalign(void **out, size_t align, size_t bytes) {
  return shim_posix_memalign(out, align, bytes);
}
/* C17 and glibc 2.38: an alignment that is not a power of two is EINVAL
 * (memalign keeps rounding it up, as glibc's does). */
static void *shim_aligned_alloc(size_t align, size_t bytes) {
  if (align == 0 || (align & (align - 1)) != 0) {
    errno = EINVAL;
    return NULL;
  }
  return shim_memalign(align, bytes);
}

ZONE_SHIM_EXPORT void *aligned_alloc(size_t align, size_t bytes) {
  return shim_aligned_alloc(align, bytes);
}
ZONE_SHIM_EXPORT void *memalign(size_t align, size_t bytes) { return shim_memalign(align, bytes); }
ZONE_SHIM_EXPORT void *valloc(size_t bytes) { return shim_valloc(bytes); }
ZONE_SHIM_EXPORT void *pvalloc(size_t bytes) { return shim_pvalloc(bytes); }
ZONE_SHIM_EXPORT size_t malloc_usable_size(void *p) { return shim_usable_size(p); }

/* glibc's own names for the same calls, still exported by glibc 2.36. */
ZONE_SHIM_EXPORT void *__libc_malloc(size_t bytes);
ZONE_SHIM_EXPORT void __libc_free(void *p);
ZONE_SHIM_EXPORT void *__libc_calloc(size_t count, size_t size);
ZONE_SHIM_EXPORT void *__libc_realloc(void *p, size_t bytes);
ZONE_SHIM_EXPORT void *__libc_memalign(size_t align, size_t bytes);
ZONE_SHIM_EXPORT void *__libc_valloc(size_t bytes);
ZONE_SHIM_EXPORT void *__libc_pvalloc(size_t bytes);
ZONE_SHIM_EXPORT void cfree(void *p);

void *__libc_malloc(size_t bytes) { return shim_malloc(bytes); }
void __libc_free(void *p) { shim_free(p); }
void *__libc_calloc(size_t count, size_t size) { return shim_calloc(count, size); }
void *__libc_realloc(void *p, size_t bytes) { return shim_realloc(p, bytes); }
void *__libc_memalign(size_t align, size_t bytes) { return shim_memalign(align, bytes); }
void *__libc_valloc(size_t bytes) { return shim_valloc(bytes); }
void *__libc_pvalloc(size_t bytes) { return shim_pvalloc(bytes); }
void cfree(void *p) { shim_free(p); }
#endif /* ZONE_SHIM_NO_EXPORTS */
