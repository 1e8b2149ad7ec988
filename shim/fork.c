/*
 * fork.c - fork. The prepare handler takes the arena table's lock and every
 * arena's lock, in index order, so the child inherits arenas that no thread
 * was changing, and the child reinitialises the locks. The one case where
 * that can't work is a fork from a signal handler that interrupted this same
 * thread inside the core: a lock is held by the very thread that would wait
 * for it. The thread's marks say so (zone__shim_inside); then the prepare handler
 * takes nothing, and the child, any of whose arenas may be halfway through a
 * change (other threads took no notice of the fork), gets a fresh default
 * zone as its only arena and keeps every old arena frozen: their blocks stay
 * readable and reallocatable, their frees are ignored.
 *
 * Lock order. glibc's fork takes its stdio list lock before its malloc locks,
 * and so must we: a thread in fflush(NULL) holds the list lock and waits for
 * a FILE's lock, whose holder (in getline, say) waits for an arena's lock in
 * realloc; a prepare handler that took the arenas' locks and then waited inside
 * fork for the list lock would close the cycle. So the prepare handler takes
 * the list lock first (it is recursive: fork takes it again after the
 * handlers). In the parent, fork drops its own hold before the parent
 * handlers run and ours drops the other. In the child, glibc resets the list
 * lock itself when the process had threads, which is the only time we take
 * it: a process with one thread has nobody to deadlock with.
 */
#include "fast.h"

#include <pthread.h>
#include <sys/single_threaded.h>

#define MAX_FROZEN ((size_t)2 * ZONE_ARENAS_MAX)

/* glibc's stdio list lock (exported since 2.2.5, declared in no public
 * header): its own names, reserved for the implementation, are the point. */
extern void _IO_list_lock(void);    // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
extern void _IO_list_unlock(void);  // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)

static zone_t *frozen[MAX_FROZEN];  /* written only in a fork child, single-threaded */
static _Atomic size_t nfrozen;

/* Forks in progress on this thread, and which of them took the arenas' locks
 * (bit k for the fork at nesting level k). They nest when a signal handler
 * forks while this thread is inside fork() itself, between its prepare and
 * parent handlers: the outer prepare holds the lock and marks the thread as
 * inside the core, so the inner prepare takes nothing, like a fork that
 * interrupted malloc. All handlers of one fork run on the forking thread. */
static ZONE_SHIM_TLS unsigned fork_level;
static ZONE_SHIM_TLS unsigned fork_took;
static ZONE_SHIM_TLS unsigned fork_took_stdio;

static void fork_prepare(void) {
  unsigned level = fork_level++;
  zone_t *z = atomic_load(&zone__shim_arenas[0].zone);
  if (z == NULL || zone__shim_inside() || level >= 32)
    return;  /* inside the core on this thread: waiting for a lock could deadlock */
  zone__shim_enter();
  if (!__libc_single_threaded) {
    _IO_list_lock();
    fork_took_stdio |= 1u << level;
  }
  zone__shim_arenas_lock();
  fork_took |= 1u << level;
}

/* Whether the fork now finishing (the innermost) took the arenas' locks, and
 * in *stdio whether it took the stdio list lock too; pops both. */
static bool fork_finish(bool *stdio) {
  unsigned level = --fork_level;
  *stdio = false;
  if (level >= 32 || !(fork_took & (1u << level)))
    return false;
  *stdio = (fork_took_stdio >> level) & 1;
  fork_took &= ~(1u << level);
  fork_took_stdio &= ~(1u << level);
  return true;
}

static void fork_parent(void) {
  bool stdio;
  if (fork_finish(&stdio)) {
    zone__shim_arenas_unlock();
    if (stdio)
      _IO_list_unlock();
    zone__shim_leave();
  }
}

static void fork_child(void) {
  bool stdio;  /* reset by glibc in the child */
  bool took = fork_finish(&stdio);
  zone__shim_trim_fork_child();
  zone__shim_owners_fork_child();
  if (atomic_load(&zone__shim_arenas[0].zone) == NULL) {
    zone__shim_state_fork_child(false, NULL);
    return;
  }
  if (took) {
    zone__shim_state_fork_child(false, NULL);
    zone__shim_leave();
    return;
  }
  /* Any arena may be halfway through a change: freeze them all, start a new
   * default zone. */
  size_t k = atomic_load(&nfrozen);
  unsigned n = atomic_load(&zone__shim_narenas);
  zone_t *fresh = k + n > MAX_FROZEN ? NULL : zone__shim_zone_new();
  if (fresh == NULL) {  /* nested beyond reason, or no memory: keep them and hope */
    zone__shim_state_fork_child(false, NULL);
    return;
  }
  for (unsigned i = 0; i < n; i++)
    frozen[k + i] = atomic_load(&zone__shim_arenas[i].zone);
  atomic_store(&nfrozen, k + n);
  zone__shim_state_fork_child(true, fresh);
}

bool zone__shim_frozen_lookup(const void *p, size_t *usable) {
  size_t k = atomic_load(&nfrozen);
  for (size_t i = 0; i < k; i++)
    if (zone__lookup_unlocked(frozen[i], p, usable))
      return true;
  return false;
}

/* At start-up, after libc's own: pthread_atfork may allocate, which by then is
 * a plain allocation. */
__attribute__((constructor)) static void fork_start(void) {
  (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}
