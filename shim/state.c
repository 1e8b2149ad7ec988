/*
 * state.c - the shim's default zone and its start-up: created on the first
 * allocation (ld.so makes it before any constructor runs, so it comes from
 * static storage and mmap only), with the options read as soon as `environ`
 * is there. The zone is never torn down: destructors and late threads keep
 * calling free after ours has run.
 */
#include "shim.h"

#include <errno.h>
#include <sched.h>

#define INITIAL_ZONE_BYTES ((size_t)4 << 20)  /* first extent; growth doubles */

zone_t *_Atomic zone__shim_zone;
ZONE_SHIM_TLS unsigned zone__shim_depth;

static atomic_flag init_lock = ATOMIC_FLAG_INIT;

static void init_lock_take(void) {
  while (atomic_flag_test_and_set_explicit(&init_lock, memory_order_acquire))
    sched_yield();
}

static void init_lock_drop(void) { atomic_flag_clear_explicit(&init_lock, memory_order_release); }

zone_t *zone__shim_zone_new(void) { return create_zone_flags(INITIAL_ZONE_BYTES, ZONE_GROW); }

zone_t *zone__shim_zone_slow(void) {
  init_lock_take();
  zone_t *z = atomic_load(&zone__shim_zone);
  if (z == NULL) {
    zone__shim_read_options();
    z = zone__shim_zone_new();
    atomic_store_explicit(&zone__shim_zone, z, memory_order_release);
  }
  init_lock_drop();
  if (z == NULL)
    errno = ENOMEM;
  return z;
}

void zone__shim_state_fork_child(void) { atomic_flag_clear(&init_lock); }

/* Runs after libc's own start-up: reads the options if the first allocation
 * came too early to see the environment, and makes the zone. */
__attribute__((constructor)) static void shim_start(void) {
  init_lock_take();
  zone__shim_read_options();
  init_lock_drop();
  if (atomic_load_explicit(&zone__shim_zone, memory_order_acquire) == NULL)
    (void)zone__shim_zone_slow();
  zone__shim_options_settle();
}
