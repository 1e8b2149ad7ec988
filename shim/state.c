/*
 * state.c - the shim's arenas and its start-up. Arena 0, the default zone, is
 * created on the first allocation (ld.so makes it before any constructor
 * runs, so it comes from static storage and mmap only), with the options
 * read as soon as `environ` is there; the other arenas are made for the other
 * threads (arena.c decides when, this file makes them). Every arena is an
 * ordinary growing zone (the others start smaller than the default one,
 * shim.h); a program that never has more than one arena gets exactly the
 * addresses a single zone gives. No arena is ever torn down: destructors and
 * late threads keep calling free after ours has run, and an arena's blocks
 * outlive the threads that used it.
 */
#include "shim.h"

#include <errno.h>
#include <sched.h>
#include <sys/sysinfo.h>

#define ARENAS_PER_CORE 8                     /* glibc's factor on 64-bit */

zone__shim_arena_t zone__shim_arenas[ZONE_ARENAS_MAX];
_Atomic unsigned zone__shim_narenas;
ZONE_SHIM_TLS zone__shim_thread_t zone__shim_self;

void zone__shim_set_mine(zone__shim_arena_t *a) {
  zone__shim_self.mine = a;
  zone__shim_self.zone = a != NULL ? atomic_load_explicit(&a->zone, memory_order_acquire) : NULL;
}

/* Guards start-up and the making of arenas. */
static atomic_flag table_lock = ATOMIC_FLAG_INIT;

void zone__shim_table_lock(void) {
  while (atomic_flag_test_and_set_explicit(&table_lock, memory_order_acquire))
    sched_yield();
}

void zone__shim_table_unlock(void) { atomic_flag_clear_explicit(&table_lock, memory_order_release); }

/* Frees are deferred in a zone of this much and more: its bookkeeping, 1.5
 * MiB and more, no longer stays in cache beside the program's own data. Below
 * it a deferred free would only cost the next allocation a second search
 * now and then (at 1k live blocks, malloc's p50 46 -> 79 ns). */
#define DEFER_MIN_BYTES ((size_t)64 << 20)

/* A growing zone whose first extent holds `bytes`, as every arena's is. */
static zone_t *zone_made(size_t bytes) {
  zone__refused_late = zone__shim_refused_late;
  zone_t *z = create_zone_flags(bytes, ZONE_GROW);
  if (z != NULL && zone__shim_opt.free_defer)
    zone__defer_frees(z, true, DEFER_MIN_BYTES);
  return z;
}

zone_t *zone__shim_zone_new(void) { return zone_made(ZONE_SHIM_DEFAULT_ZONE_BYTES); }

/* Publishes a made zone as arena k (the next): its zone first, then the
 * count, so that whoever sees the count sees the zone. */
static zone__shim_arena_t *arena_publish(unsigned k, zone_t *z) {
  zone__shim_arena_t *a = &zone__shim_arenas[k];
  a->index = k;
  atomic_store_explicit(&a->zone, z, memory_order_release);
  atomic_store_explicit(&zone__shim_narenas, k + 1, memory_order_release);
  return a;
}

zone_t *zone__shim_zone_slow(void) {
  zone__shim_table_lock();
  zone_t *z = atomic_load(&zone__shim_arenas[0].zone);
  if (z == NULL) {
    zone__shim_read_options();
    z = zone__shim_zone_new();
    if (z != NULL)
      arena_publish(0, z);
  }
  zone__shim_table_unlock();
  if (z == NULL)
    errno = ENOMEM;
  return z;
}

unsigned zone__shim_arena_limit(void) {
  static _Atomic unsigned limit;  /* computed once */
  unsigned n = atomic_load_explicit(&limit, memory_order_relaxed);
  if (zone__likely(n != 0))
    return n;
  n = zone__shim_opt.arenas;
  if (n == 0) {
    int cores = get_nprocs();  /* reads sysfs into a buffer of its own: no malloc */
    n = cores < 1 ? ARENAS_PER_CORE : (unsigned)cores * ARENAS_PER_CORE;
  }
  if (n > ZONE_ARENAS_MAX)
    n = ZONE_ARENAS_MAX;
  atomic_store_explicit(&limit, n, memory_order_relaxed);
  return n;
}

zone__shim_arena_t *zone__shim_arena_make(void) {
  unsigned k = atomic_load_explicit(&zone__shim_narenas, memory_order_relaxed);
  if (k == 0 || k >= zone__shim_arena_limit())
    return NULL;
  zone_t *z = zone_made(ZONE_SHIM_ARENA_ZONE_BYTES);
  return z != NULL ? arena_publish(k, z) : NULL;
}

/* ---- fork ------------------------------------------------------------------------- */

void zone__shim_arenas_lock(void) {
  zone__shim_table_lock();
  unsigned n = atomic_load(&zone__shim_narenas);
  for (unsigned k = 0; k < n; k++)
    zone__fork_lock(atomic_load(&zone__shim_arenas[k].zone));
}

void zone__shim_arenas_unlock(void) {
  unsigned n = atomic_load(&zone__shim_narenas);
  for (unsigned k = n; k-- > 0;)
    zone__fork_unlock(atomic_load(&zone__shim_arenas[k].zone));
  zone__shim_table_unlock();
}

void zone__shim_state_fork_child(bool fresh, zone_t *fresh_default) {
  atomic_flag_clear(&table_lock);
  unsigned n = atomic_load(&zone__shim_narenas);
  for (unsigned k = 0; k < n; k++) {
    zone__shim_arena_t *a = &zone__shim_arenas[k];
    atomic_store(&a->attached, 0);
    if (fresh && k > 0)
      atomic_store(&a->zone, NULL);
    else if (fresh)
      zone__fork_reinit(atomic_load(&a->zone));
    else
      zone__fork_child(atomic_load(&a->zone));
  }
  if (fresh) {
    zone__shim_set_mine(NULL);
    atomic_store(&zone__shim_arenas[0].zone, fresh_default);
    atomic_store(&zone__shim_narenas, 1);
  } else if (zone__shim_self.mine != NULL) {
    atomic_store(&zone__shim_self.mine->attached, 1);  /* the one thread left */
  }
}

/* Runs after libc's own start-up: reads the options if the first allocation
 * came too early to see the environment, and makes the default zone. */
__attribute__((constructor)) static void shim_start(void) {
  zone__shim_table_lock();
  zone__shim_read_options();
  zone__shim_table_unlock();
  if (atomic_load_explicit(&zone__shim_arenas[0].zone, memory_order_acquire) == NULL)
    (void)zone__shim_zone_slow();
  zone__shim_options_settle();
}
