/*
 * lock.h - the zone lock: a three-state futex mutex (0 free, 1 held, 2 held
 * with waiters), as in Drepper's "Futexes Are Tricky". An uncontended lock and
 * unlock are one atomic each, cheaper than pthread_mutex's type dispatch. A
 * waiter polls briefly (critical sections are a few hundred nanoseconds, a
 * futex sleep and wake several microseconds), then sleeps in the kernel, so a
 * holder that was preempted costs no more than a bounded spin.
 * A zone created with ZONE_UNLOCKED skips it. Nothing here allocates, so the
 * lock is safe inside the malloc shim, and a fork child can reset it.
 *
 * While the process has a single thread (glibc's __libc_single_threaded, which
 * glibc's own malloc reads the same way) the atomics are skipped too: no other
 * thread can hold or want the lock, and only this thread could create one, not
 * while it is inside the zone. Release then needs to know whether acquire took
 * the lock; the lock's own state says so: nonzero only while someone holds it,
 * and nobody else can while a single thread runs. A thread made by a raw
 * clone() that bypasses glibc would not clear the flag; such a program needs
 * ZONE_LOCK_ALWAYS at build time (as with glibc's malloc).
 */
#ifndef ZONE_LOCK_H
#define ZONE_LOCK_H

#include <linux/futex.h>
#if !defined(ZONE_LOCK_ALWAYS) && defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define ZONE_SINGLE_THREADED() (__libc_single_threaded != 0)
#endif
#endif
#ifndef ZONE_SINGLE_THREADED
#define ZONE_SINGLE_THREADED() 0
#endif
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct zone__lock {
  _Atomic int state;
} zone__lock_t;

static inline void zone__lock_init(zone__lock_t *l) { atomic_init(&l->state, 0); }

static inline void zone__futex(_Atomic int *addr, int op, int val) {
  syscall(SYS_futex, (int *)addr, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

#define ZONE_LOCK_SPINS 1000 /* polls of a held lock before sleeping */

#if defined(__x86_64__) || defined(__i386__)
#define zone__cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define zone__cpu_relax() __asm__ __volatile__("yield")
#else
#define zone__cpu_relax() ((void)0)
#endif

/* Times this thread found a lock held and waited (zone.c defines it): the
 * malloc shim reads it after a call to tell contention from a free lock, and
 * moves the thread to another arena. Only the slow path below writes it. */
extern __thread unsigned zone__lock_waits __attribute__((tls_model("initial-exec")));

/* The slow path, out of line: spin a little first, since the holder is
 * likely running on the other core and leaves within a few hundred
 * nanoseconds (a sleep and a wake-up cost microseconds each); then mark the
 * lock as having waiters and sleep until it is free. */
static __attribute__((noinline, unused)) void zone__lock_contended(zone__lock_t *l, int expected) {
  zone__lock_waits++;
  for (int spin = 0; spin < ZONE_LOCK_SPINS && expected != 2; spin++) {
    zone__cpu_relax();
    expected = atomic_load_explicit(&l->state, memory_order_relaxed);
    if (expected == 0 &&
        atomic_compare_exchange_weak_explicit(&l->state, &expected, 1, memory_order_acquire,
                                              memory_order_relaxed))
      return;
  }
  if (expected != 2)
    expected = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
  while (expected != 0) {
    zone__futex(&l->state, FUTEX_WAIT, 2);
    expected = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
  }
}

/* The uncontended acquire, for a caller that has tested
 * ZONE_SINGLE_THREADED(): true when it took the lock; false when it is held,
 * *expected then says how (for zone__lock_contended). Split from the wait so
 * that a hot caller can make the wait a tail call of its own slow path. */
static inline bool zone__lock_try(zone__lock_t *l, int *expected) {
  *expected = 0;
  return __builtin_expect(atomic_compare_exchange_strong_explicit(&l->state, expected, 1,
                                                                  memory_order_acquire,
                                                                  memory_order_relaxed), 1);
}

/* Whether the lock is free at this moment, by a plain load (*expected gets
 * its state, for zone__lock_contended): a caller that would rather not wait
 * tests it before zone__lock_try, since a compare-and-swap on a lock another
 * core holds takes the line from the holder for nothing. */
static inline bool zone__lock_looks_free(zone__lock_t *l, int *expected) {
  *expected = atomic_load_explicit(&l->state, memory_order_relaxed);
  return *expected == 0;
}

static inline void zone__lock_acquire(zone__lock_t *l) {
  if (ZONE_SINGLE_THREADED())
    return;
  int expected;
  if (!zone__lock_try(l, &expected))
    zone__lock_contended(l, expected);
}

/* The release without its wake-up: true when a waiter must be woken
 * (zone__lock_wake), so that a hot caller can make that a tail call. */
static inline bool zone__lock_drop(zone__lock_t *l) {
  if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0)
    return false;  /* acquire skipped it: one thread */
  return __builtin_expect(atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2, 0);
}

static inline void zone__lock_wake(zone__lock_t *l) { zone__futex(&l->state, FUTEX_WAKE, 1); }

static inline void zone__lock_release(zone__lock_t *l) {
  if (zone__lock_drop(l))
    zone__lock_wake(l);
}

static inline void zone__lock_destroy(zone__lock_t *l) { (void)l; }

#endif /* ZONE_LOCK_H */
