/*
 * shim.h - what the shim's files share. The shim maps the malloc family onto
 * one default zone of the core and adds what a process-wide allocator needs
 * around it: lazy start-up, options from the environment, fork handling,
 * misuse reports, memory return and exit reports. It holds no placement logic.
 * Grouped by the file that defines it.
 */
#ifndef ZONE_SHIM_H
#define ZONE_SHIM_H

#include "zone_internal.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define ZONE_SHIM_EXPORT __attribute__((visibility("default")))
#define ZONE_SHIM_TLS __thread __attribute__((tls_model("initial-exec")))
#define zone__likely(x) __builtin_expect(!!(x), 1)
#define zone__unlikely(x) __builtin_expect(!!(x), 0)

/* ---- state.c: the default zone, options, fork, exit ------------------------ */

/* What a detected misuse does (ZONE_MISUSE). */
typedef enum { ZONE_MISUSE_ABORT, ZONE_MISUSE_WARN, ZONE_MISUSE_IGNORE } zone__misuse_t;

typedef struct zone__shim_options {
  zone__misuse_t misuse;
  bool stats;                /* ZONE_STATS: summary on stderr at exit */
  unsigned long dump_every;  /* ZONE_DUMP_EVERY: also dump every N allocations */
  size_t trim_threshold;     /* smallest free region given back; 0: never automatically */
  char dump_path[4096];      /* ZONE_DUMP: zdump at exit, appended; "" for none */
} zone__shim_options_t;

extern zone__shim_options_t zone__shim_opt;

/* The default zone, NULL until the first allocation creates it. */
extern zone_t *_Atomic zone__shim_zone;

/* Calls into the core currently running on this thread. Nonzero while the
 * thread may hold the zone's lock: a fork from a signal handler then must not
 * wait for that lock (see fork handling in state.c). */
extern ZONE_SHIM_TLS unsigned zone__shim_depth;

/* Creates the default zone (and reads the options, registers the fork
 * handlers) on first use. NULL with errno ENOMEM if the zone can't be mapped. */
zone_t *zone__shim_zone_slow(void);

static inline zone_t *zone__shim_get(void) {
  zone_t *z = atomic_load_explicit(&zone__shim_zone, memory_order_acquire);
  return zone__likely(z != NULL) ? z : zone__shim_zone_slow();
}

/* Brackets a call into the core; the signal fences keep the compiler from
 * moving the marks across the call, which is all a signal handler can see. */
static inline void zone__shim_enter(void) {
  zone__shim_depth++;
  atomic_signal_fence(memory_order_seq_cst);
}
static inline void zone__shim_leave(void) {
  atomic_signal_fence(memory_order_seq_cst);
  zone__shim_depth--;
}

/* Counts an allocation for ZONE_DUMP_EVERY (only called when it is set). */
void zone__shim_count_alloc(void);

/* The zone created by a fork child whose parent was inside the allocator owns
 * new blocks; the parent's zone is kept, frozen, so that blocks made before the
 * fork stay readable. Whether p lies in a frozen zone; if so *usable gets the
 * bytes from p that can be read (its block, or up to its extent's end). */
bool zone__shim_frozen_lookup(const void *p, size_t *usable);

/* ---- misuse.c: reporting a bad pointer --------------------------------------- */

/* Reports `call`(p) on a pointer that is no live block, as ZONE_MISUSE says:
 * abort() after the message (the default), or the message only, or nothing. */
void zone__shim_misuse(const char *call, const void *p) __attribute__((cold));

/* ---- trim.c: memory back to the OS ------------------------------------------- */

/* Operations left on this thread before the next look at the zone's usage. */
extern ZONE_SHIM_TLS unsigned zone__shim_ops_left;

/* Looks at the zone's usage; when it fell far enough below its high-water
 * mark, gives the large free regions back. Called every few hundred
 * operations per thread, never with the lock held. */
void zone__shim_usage_tick(zone_t *z);

static inline void zone__shim_count_op(zone_t *z) {
  if (zone__unlikely(zone__shim_ops_left-- == 0))
    zone__shim_usage_tick(z);
}

/* Bytes given back so far (for ZONE_STATS). */
size_t zone__shim_returned_bytes(void);

/* Resets the memory-return state in a fork child. */
void zone__shim_trim_fork_child(void);

#endif /* ZONE_SHIM_H */
