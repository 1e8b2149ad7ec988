/*
 * fast.h - the shim's inline helpers for the hot path: the thread's arena and
 * the default zone, the marks around a call into the core, the options read
 * on every call. They read state.c's and options.c's data; those two files do
 * not include this.
 */
#ifndef ZONE_SHIM_FAST_H
#define ZONE_SHIM_FAST_H

#include "shim.h"

/* The default zone (arena 0's), made on first use. */
static inline zone_t *zone__shim_get(void) {
  zone_t *z = atomic_load_explicit(&zone__shim_arenas[0].zone, memory_order_acquire);
  return zone__likely(z != NULL) ? z : zone__shim_zone_slow();
}

/* This thread's arena: one thread-local load (the first call picks it). */
static inline zone__shim_arena_t *zone__shim_arena(void) {
  zone__shim_arena_t *a = zone__shim_self.mine;
  return zone__likely(a != NULL) ? a : zone__shim_arena_first();
}

/* This thread's zone when its arena and the arena's zone are known, else
 * NULL: then zone__shim_arena and zone__shim_arena_zone find them, and
 * zone__shim_remember keeps what they found. */
static inline zone_t *zone__shim_known_zone(void) { return zone__shim_self.zone; }

/* Keeps z as the thread's known zone if a is its arena (an arena attached
 * before its zone was made: arena 0, on a call before the first allocation). */
static inline void zone__shim_remember(const zone__shim_arena_t *a, zone_t *z) {
  if (a == zone__shim_self.mine)
    zone__shim_self.zone = z;
}

/* Its zone: only arena 0 may not be made yet (a thread moves only to a made
 * arena). */
static inline zone_t *zone__shim_arena_zone(zone__shim_arena_t *a) {
  zone_t *z = atomic_load_explicit(&a->zone, memory_order_acquire);
  return zone__likely(z != NULL) ? z : zone__shim_zone_slow();
}

/* Whether the process has more than one arena (then a block may be another
 * arena's). */
static inline bool zone__shim_many_arenas(void) {
  return atomic_load_explicit(&zone__shim_narenas, memory_order_relaxed) > 1;
}

/* Brackets a call into the core; the signal fences keep the compiler from
 * moving the marks across the call, which is all a signal handler can see. */
static inline void zone__shim_enter(void) {
  zone__shim_self.marks += ZONE_MARK_DEPTH;
  atomic_signal_fence(memory_order_seq_cst);
}
static inline void zone__shim_leave(void) {
  atomic_signal_fence(memory_order_seq_cst);
  zone__shim_self.marks -= ZONE_MARK_DEPTH;
}
/* The same, and the call counted as an operation for memory return: true
 * when the count is spent (zone__shim_op_due is then to be called). */
static inline bool zone__shim_leave_counted(void) {
  atomic_signal_fence(memory_order_seq_cst);
  return (zone__shim_self.marks -= ZONE_MARK_DEPTH + ZONE_MARK_OP) < 0;
}
/* Whether this thread is inside the core. */
static inline bool zone__shim_inside(void) {
  return ((unsigned)zone__shim_self.marks & ZONE_MARK_DEPTH_MASK) != 0;
}

/* Options another thread may change (relaxed loads: see options.c). */
static inline zone__misuse_t zone__shim_misuse_mode(void) {
  return (zone__misuse_t)atomic_load_explicit(&zone__shim_opt.misuse, memory_order_relaxed);
}
static inline size_t zone__shim_trim_threshold(void) {
  return atomic_load_explicit(&zone__shim_opt.trim_threshold, memory_order_relaxed);
}
static inline size_t zone__shim_return_delay(void) { return zone__shim_opt.return_delay; }
static inline unsigned long zone__shim_dump_every(void) {
  return atomic_load_explicit(&zone__shim_opt.dump_every, memory_order_relaxed);
}

#endif /* ZONE_SHIM_FAST_H */
