/*
 * arena.c - threads and arenas: which arena a thread allocates from, when it
 * moves to another, and which arena owns a block that any thread frees.
 *
 * The main thread, and the only thread of a single-threaded process, use
 * arena 0, the default zone: a single-threaded program never has another.
 * Any other thread gets an arena at its first call (as glibc's threads do),
 * by the rule a move uses: a made arena no thread is attached to (one whose
 * threads exited: reused before anything is made), else a new arena while
 * there are fewer than the limit (ZONE_ARENAS, default 8 per core), else the
 * one with the fewest threads attached (ties taken in turn). Starting a thread
 * on an arena of its own rather than on arena 0 until it contends measured
 * the same in time and lower in peak RSS (bench/run.py: prodcons, xmalloc-4,
 * mstress-4), and keeps concurrent threads' blocks off each other's cache
 * lines from the start. A thread that shares its arena moves when it had to
 * wait for the lock: the lock's slow path counts the wait (zone__lock_waits),
 * the shim's allocation calls look at the count after the call, and a nonzero
 * count brings the thread here to choose again. A thread alone on its arena
 * does not move: it can only have waited for another thread's free of one of
 * its blocks, which would follow it anywhere. A thread counts as attached to
 * its arena until it exits (a thread-specific value's destructor); a call
 * after that (a later destructor's) uses arena 0.
 *
 * A block belongs to the arena that placed it, whichever thread frees it:
 * each arena is an exact-first-fit zone, and a block goes to the lowest fit in
 * the calling thread's arena. A free from another thread takes the owner's
 * lock when it is free and otherwise hands the free over without waiting
 * (zone__free_or_hand_over, lib/remote.c): the lock's holder or its next
 * taker applies it before anything else, so every call on an arena sees every
 * free made before it took the lock. The owner is found from the address:
 * every zone publishes the span of its extents (zone__span), and the zone
 * whose span holds p and whose own zfree (or zrealloc, zone_block_size)
 * accepts p is the owner. Spans only narrow the search; the zone's call under
 * its lock decides, so a bad or double free is caught exactly whichever thread
 * makes it (a handed-over one by the thread that applies it). A free is handed
 * over only when one arena's span holds p (zone__shim_sole_holder, which asks
 * the table of slots below before it scans the arenas' spans).
 */
#include "fast.h"

#include <pthread.h>
#include <sys/single_threaded.h>
#include <unistd.h>

/* Set once the key exists (made at start-up): its destructor detaches an
 * exiting thread from its arena. */
static pthread_key_t exit_key;
static bool exit_key_made;

static _Atomic unsigned next_turn;  /* where the fewest-attached search starts */
static ZONE_SHIM_TLS bool moving;   /* this thread is inside a move */
static ZONE_SHIM_TLS bool exit_armed;  /* its key value is set */
static ZONE_SHIM_TLS bool exited;   /* its key's destructor ran */

/* Threads on arena k, for the choice. */
static unsigned load_of(unsigned k) {
  return atomic_load_explicit(&zone__shim_arenas[k].attached, memory_order_relaxed);
}

/* The arena a thread leaving `from` goes to; NULL: stay. With the table
 * lock held. */
static zone__shim_arena_t *choose(const zone__shim_arena_t *from) {
  unsigned n = atomic_load_explicit(&zone__shim_narenas, memory_order_acquire);
  for (unsigned k = 1; k < n; k++)
    if (&zone__shim_arenas[k] != from && load_of(k) == 0)
      return &zone__shim_arenas[k];
  zone__shim_arena_t *made = zone__shim_arena_make();
  if (made != NULL)
    return made;
  n = atomic_load_explicit(&zone__shim_narenas, memory_order_acquire);
  unsigned start = atomic_fetch_add_explicit(&next_turn, 1, memory_order_relaxed);
  zone__shim_arena_t *best = NULL;
  unsigned best_load = ~0u;
  for (unsigned i = 0; i < n; i++) {
    unsigned k = (start + i) % n;
    if (&zone__shim_arenas[k] == from)
      continue;
    unsigned load = load_of(k);
    if (load < best_load) {
      best = &zone__shim_arenas[k];
      best_load = load;
    }
  }
  return best;
}

/* Detaches the exiting thread; a call made after this (by a later
 * destructor) runs on arena 0 again. */
static void thread_exit(void *value) {
  (void)value;
  zone__shim_arena_t *a = zone__shim_self.mine;
  exit_armed = false;
  exited = true;
  if (a != NULL) {
    zone__shim_set_mine(NULL);
    atomic_fetch_sub_explicit(&a->attached, 1, memory_order_relaxed);
  }
}

/* Makes `to` this thread's arena (counted there, no longer where it was);
 * the table lock is held. */
static void attach(zone__shim_arena_t *to) {
  atomic_fetch_add_explicit(&to->attached, 1, memory_order_relaxed);
  if (zone__shim_self.mine != NULL)
    atomic_fetch_sub_explicit(&zone__shim_self.mine->attached, 1, memory_order_relaxed);
  zone__shim_set_mine(to);
}

/* Outside every lock: the first keys' values live in the thread itself, but
 * a later key's may be allocated, which is a plain malloc here. */
static void arm_exit(void) {
  if (!exit_armed) {
    exit_armed = true;
    (void)pthread_setspecific(exit_key, (void *)1);
  }
}

zone__shim_arena_t *zone__shim_arena_first(void) {
  if (moving || exited || !exit_key_made)
    return &zone__shim_arenas[0];  /* not now: start-up, a move, a thread's end */
  moving = true;
  bool alone = __libc_single_threaded || gettid() == getpid() || zone__shim_arena_limit() <= 1;
  zone__shim_enter();  /* a fork from a signal handler must not wait for the table */
  zone__shim_table_lock();
  zone__shim_arena_t *to = alone ? NULL : choose(NULL);
  attach(to != NULL ? to : &zone__shim_arenas[0]);
  zone__shim_table_unlock();
  zone__shim_leave();
  arm_exit();
  moving = false;
  return zone__shim_self.mine;
}

void zone__shim_contended(void) {
  zone__lock_waits = 0;
  if (moving || exited || !exit_key_made || zone__shim_arena_limit() <= 1)
    return;
  /* Alone on its arena, the thread waited for another's free: moving would
   * not help (frees follow their blocks) and would spread its memory. */
  zone__shim_arena_t *mine = zone__shim_self.mine;
  if (mine == NULL || atomic_load_explicit(&mine->attached, memory_order_relaxed) <= 1)
    return;
  moving = true;
  zone__shim_enter();
  zone__shim_table_lock();
  zone__shim_arena_t *to = choose(mine);
  if (to != NULL)
    attach(to);
  zone__shim_table_unlock();
  zone__shim_leave();
  moving = false;
  zone__lock_waits = 0;  /* what the move itself waited for says nothing */
}

zone_t *zone__shim_holder(const void *p, unsigned *cursor, const zone_t *skip) {
  unsigned n = atomic_load_explicit(&zone__shim_narenas, memory_order_acquire);
  for (unsigned k = *cursor; k < n; k++) {
    zone_t *z = atomic_load_explicit(&zone__shim_arenas[k].zone, memory_order_acquire);
    if (z != NULL && z != skip && zone__span_holds(z, p)) {
      *cursor = k + 1;
      return z;
    }
  }
  *cursor = n;
  return NULL;
}

/* ---- the owner of an address, without a scan ---------------------------------------- */

/*
 * Every zone asks for its first reservation in a 64 GiB slot of its own from
 * 32 TiB up (lib/grow.c) and grows within it, so an arena's span normally lies
 * inside one slot, and each arena's in another. The table below maps a slot
 * to the one arena whose span lies in it, as read at a moment; it is built
 * again whenever a span has grown since (zone__span_changes) or the arenas
 * changed, and is used only while every arena's span lay inside a slot of
 * its own (clean): then the one arena a slot names is the only arena whose
 * span can hold an address there, which is what a scan over every arena's
 * span would say. Otherwise (a span outside the slots, over two, or two
 * arenas in one) the scan answers, as it does while the table is being
 * built: a seqlock (odd while building) and a flag that lets one builder in.
 */
#define OWNER_BASE ((uintptr_t)1 << 45)
#define OWNER_SHIFT 36
#define OWNER_SLOTS 256u

static struct {
  _Atomic unsigned seq;            /* odd while being built */
  _Atomic unsigned long changes;   /* zone__span_changes when it was built */
  _Atomic unsigned narenas;        /* the arenas then */
  _Atomic bool clean;              /* each arena's span in a slot of its own */
  struct {
    zone_t *_Atomic zone;          /* the arena whose span lies in the slot */
    _Atomic uintptr_t lo, hi;      /* that span, as it was */
  } owner[OWNER_SLOTS];
} owners = {.seq = 0, .changes = ~0ul};
static atomic_flag owners_building = ATOMIC_FLAG_INIT;

static unsigned owner_slot(uintptr_t a) { return (unsigned)((a - OWNER_BASE) >> OWNER_SHIFT); }

static __attribute__((noinline, cold)) void owners_build(unsigned long changes, unsigned n) {
  if (atomic_flag_test_and_set_explicit(&owners_building, memory_order_acquire))
    return;  /* another thread builds it */
  unsigned seq = atomic_load_explicit(&owners.seq, memory_order_relaxed);
  /* The entries are stored with release, so that a reader that sees one sees
   * the odd count before it (no fences: ThreadSanitizer knows none). */
  atomic_store_explicit(&owners.seq, seq + 1, memory_order_relaxed);
  for (unsigned s = 0; s < OWNER_SLOTS; s++)
    atomic_store_explicit(&owners.owner[s].zone, NULL, memory_order_release);
  bool clean = true;
  for (unsigned k = 0; k < n && clean; k++) {
    zone_t *z = atomic_load_explicit(&zone__shim_arenas[k].zone, memory_order_acquire);
    uintptr_t lo, hi;
    if (z == NULL)
      continue;
    zone__span(z, &lo, &hi);
    if (lo == hi)
      continue;  /* nothing mapped yet */
    unsigned s = owner_slot(lo);
    clean = lo >= OWNER_BASE && s < OWNER_SLOTS && owner_slot(hi - 1) == s &&
            atomic_load_explicit(&owners.owner[s].zone, memory_order_relaxed) == NULL;
    if (clean) {
      atomic_store_explicit(&owners.owner[s].zone, z, memory_order_release);
      atomic_store_explicit(&owners.owner[s].lo, lo, memory_order_release);
      atomic_store_explicit(&owners.owner[s].hi, hi, memory_order_release);
    }
  }
  atomic_store_explicit(&owners.clean, clean, memory_order_release);
  atomic_store_explicit(&owners.changes, changes, memory_order_release);
  atomic_store_explicit(&owners.narenas, n, memory_order_release);
  atomic_store_explicit(&owners.seq, seq + 2, memory_order_release);
  atomic_flag_clear_explicit(&owners_building, memory_order_release);
}

/* The table's answer for the address a (in the slots), read as it stood at
 * `changes` and n arenas: 1 with *z the one arena whose span holds a, or NULL
 * for none; 0 when the table is of another moment (or being built); -1 when
 * it can't answer (not clean). */
static inline int owners_read(uintptr_t a, unsigned long changes, unsigned n, zone_t **z) {
  unsigned seq = atomic_load_explicit(&owners.seq, memory_order_acquire);
  /* Loads with acquire, so that the count's second load comes after them. */
  if ((seq & 1) || atomic_load_explicit(&owners.changes, memory_order_acquire) != changes ||
      atomic_load_explicit(&owners.narenas, memory_order_acquire) != n)
    return 0;
  bool clean = atomic_load_explicit(&owners.clean, memory_order_acquire);
  unsigned s = owner_slot(a);
  zone_t *o = atomic_load_explicit(&owners.owner[s].zone, memory_order_acquire);
  uintptr_t lo = atomic_load_explicit(&owners.owner[s].lo, memory_order_acquire);
  uintptr_t hi = atomic_load_explicit(&owners.owner[s].hi, memory_order_acquire);
  if (atomic_load_explicit(&owners.seq, memory_order_relaxed) != seq)
    return 0;
  if (!clean)
    return -1;
  *z = o != NULL && a >= lo && a < hi ? o : NULL;  /* the span is still that */
  return 1;
}

static __attribute__((noinline, cold)) bool owners_answer_built(uintptr_t a, unsigned long changes,
                                                                 unsigned n, zone_t **z) {
  owners_build(changes, n);
  return owners_read(a, changes, n, z) > 0;
}

/* True when the table answers for p: *z is then the one arena whose span
 * holds p, or NULL for none. */
static inline bool owners_answer(const void *p, zone_t **z) {
  uintptr_t a = (uintptr_t)p;
  if (a < OWNER_BASE || owner_slot(a) >= OWNER_SLOTS)
    return false;
  unsigned long changes = atomic_load_explicit(&zone__span_changes, memory_order_acquire);
  unsigned n = atomic_load_explicit(&zone__shim_narenas, memory_order_acquire);
  int r = owners_read(a, changes, n, z);
  if (zone__likely(r > 0))
    return true;
  return r == 0 && owners_answer_built(a, changes, n, z);
}

void zone__shim_owners_fork_child(void) {
  atomic_flag_clear(&owners_building);  /* its builder may not have come along */
  atomic_store(&owners.changes, ~0ul);
  atomic_store(&owners.seq, 0);
}

/* The scan over every arena's span, when the table can't answer. */
static __attribute__((noinline)) zone_t *sole_holder_scan(const void *p, const zone_t *skip) {
  unsigned cursor = 0;
  zone_t *z = zone__shim_holder(p, &cursor, skip);
  return z != NULL && zone__shim_holder(p, &cursor, skip) == NULL ? z : NULL;
}

zone_t *zone__shim_sole_holder(const void *p, const zone_t *skip) {
  zone_t *z;
  if (zone__likely(owners_answer(p, &z)))
    return z != skip ? z : NULL;
  return sole_holder_scan(p, skip);
}

/* At start-up, while the process has one thread: pthread_key_create takes
 * no memory. */
__attribute__((constructor)) static void arena_start(void) {
  exit_key_made = pthread_key_create(&exit_key, thread_exit) == 0;
}
