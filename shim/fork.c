/*
 * fork.c - fork. The prepare handler takes the zone's lock so the child
 * inherits a zone that no thread was changing, and the child reinitialises
 * the lock. The one case where that can't work is a fork from a signal
 * handler that interrupted this same thread inside the core: the lock is held
 * by the very thread that would wait for it. The thread-local depth counter
 * says so; then the prepare handler takes nothing, and the child, whose zone
 * may be halfway through a change, gets a fresh default zone and keeps the
 * old one frozen: its blocks stay readable and reallocatable, its frees are
 * ignored.
 */
#include "fast.h"

#include <pthread.h>

#define MAX_FROZEN 8

static zone_t *frozen[MAX_FROZEN];  /* written only in a fork child, single-threaded */
static _Atomic size_t nfrozen;

/* Forks in progress on this thread, and which of them took the zone's lock
 * (bit k for the fork at nesting level k). They nest when a signal handler
 * forks while this thread is inside fork() itself, between its prepare and
 * parent handlers: the outer prepare holds the lock and marks the thread as
 * inside the core, so the inner prepare takes nothing, like a fork that
 * interrupted malloc. All handlers of one fork run on the forking thread. */
static ZONE_SHIM_TLS unsigned fork_level;
static ZONE_SHIM_TLS unsigned fork_took;

static void fork_prepare(void) {
  unsigned level = fork_level++;
  zone_t *z = atomic_load(&zone__shim_zone);
  if (z == NULL || zone__shim_depth != 0 || level >= 32)
    return;  /* inside the core on this thread: waiting for the lock could deadlock */
  zone__shim_enter();
  zone__fork_lock(z);
  fork_took |= 1u << level;
}

/* Whether the fork now finishing (the innermost) took the lock; pops it. */
static bool fork_finish(void) {
  unsigned level = --fork_level;
  if (level >= 32 || !(fork_took & (1u << level)))
    return false;
  fork_took &= ~(1u << level);
  return true;
}

static void fork_parent(void) {
  if (fork_finish()) {
    zone__fork_unlock(atomic_load(&zone__shim_zone));
    zone__shim_leave();
  }
}

static void fork_child(void) {
  bool took = fork_finish();
  zone_t *z = atomic_load(&zone__shim_zone);
  zone__shim_trim_fork_child();
  zone__shim_state_fork_child();
  if (z == NULL)
    return;
  zone__fork_reinit(z);
  if (took) {
    zone__shim_leave();
    return;
  }
  /* The zone may be halfway through a change: freeze it, start a new one. */
  size_t k = atomic_load(&nfrozen);
  if (k == MAX_FROZEN)
    return;  /* nested beyond reason: keep the old zone and hope */
  zone_t *fresh = zone__shim_zone_new();
  if (fresh == NULL)
    return;
  frozen[k] = z;
  atomic_store(&nfrozen, k + 1);
  atomic_store(&zone__shim_zone, fresh);
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
