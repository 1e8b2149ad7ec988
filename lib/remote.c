/*
 * remote.c - frees handed over to a zone by threads that do not hold its
 * lock: a bounded ring of pointers per zone, filled without a lock by any
 * thread (zone__remote_push) and emptied by the lock's next holder, which
 * applies each free before it does anything else (zone__settle_waiting in
 * internal.h, which zone__lock and zone.c's locked paths call).
 * A zone that never gets one has no ring.
 *
 * What it buys: a multi-arena allocator whose threads free each other's
 * blocks (a producer and a consumer) would otherwise take the owner's lock
 * for every free, and the owner's lock word and bookkeeping would bounce
 * between the cores on every call. A push is one compare-and-swap and two
 * stores; the owner applies the frees in a run, with its bookkeeping in its
 * own cache.
 *
 * What it keeps: every operation under the lock sees every free pushed
 * before it took the lock, in push order, so what a zone's first fit sees is
 * exactly the blocks freed as of its lock's last acquisition, and a pointer
 * that is no live block when its free is applied (a double free, a wild
 * pointer) is refused exactly as zfree would refuse it; only the refusal
 * comes later, from the thread that applied it (zone__refused_late, the
 * hook of deferred frees too).
 *
 * How the holder learns of a push without a test on its hot path: the push
 * clears the zone's `plain` flag, which zalloc's and zfree's short paths test
 * anyway; the next call takes the long way, which settles the ring and sets
 * `plain` again (zone__plain_set). The flag and the ring's tail are written
 * and read in opposite orders with sequentially consistent accesses, so a
 * push that the settle missed always leaves `plain` clear.
 */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#define REMOTE_SLOTS 1024  /* a power of two */

struct zone__remote {
  _Alignas(64) _Atomic size_t tail;  /* slots claimed by pushers, all time */
  _Alignas(64) _Atomic size_t head;  /* slots applied; written by the lock's holder */
  _Alignas(64) void *_Atomic slot[REMOTE_SLOTS];  /* NULL: free, or claimed and not yet written */
};

static zone__remote_t *remote_of(const zone_t *z) {
  return atomic_load_explicit(&((zone_t *)z)->remote, memory_order_acquire);
}

/* The zone's ring, made by the first push (several may race: one wins). */
static zone__remote_t *remote_make(zone_t *z) {
  zone__remote_t *r = remote_of(z);
  if (r != NULL)
    return r;
  zone__remote_t *made = zone__os_map(sizeof *made);  /* zero: empty */
  if (made == NULL)
    return NULL;
  zone__remote_t *expected = NULL;
  if (atomic_compare_exchange_strong_explicit(&z->remote, &expected, made, memory_order_acq_rel,
                                              memory_order_acquire))
    return made;
  zone__os_unmap(made, sizeof *made);
  return expected;
}

int zone__remote_push(zone_t *z, void *p) {
  if ((z->flags & ZONE_UNLOCKED) || z->check.kind != ZONE_CHECKER_NONE)
    return EAGAIN;  /* nobody else may touch an unlocked zone; a checker wants each free told at once */
  zone__remote_t *r = remote_make(z);
  if (r == NULL)
    return EAGAIN;
  size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  do {
    if (t - atomic_load_explicit(&r->head, memory_order_acquire) >= REMOTE_SLOTS)
      return EAGAIN;  /* full: the caller frees under the lock, which settles the ring first */
  } while (!atomic_compare_exchange_weak_explicit(&r->tail, &t, t + 1, memory_order_seq_cst,
                                                  memory_order_relaxed));
  atomic_store_explicit(&r->slot[t % REMOTE_SLOTS], p, memory_order_release);
  /* Written only when set: a run of pushes leaves the line the holder reads
   * on every call alone after the first. */
  if (atomic_load_explicit(&z->plain, memory_order_seq_cst))
    atomic_store_explicit(&z->plain, false, memory_order_seq_cst);
  return 0;
}

bool zone__remote_pending(const zone_t *z) {
  const zone__remote_t *r = remote_of(z);
  return r != NULL && atomic_load_explicit(&r->tail, memory_order_seq_cst) !=
                          atomic_load_explicit(&r->head, memory_order_relaxed);
}

size_t zone__remote_take(zone_t *z, void **out, size_t max, bool skip_unwritten) {
  zone__remote_t *r = remote_of(z);
  if (r == NULL)
    return 0;
  size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  size_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
  size_t n = 0;
  for (; h != t && n < max; h++) {
    void *_Atomic *s = &r->slot[h % REMOTE_SLOTS];
    void *p = atomic_load_explicit(s, memory_order_acquire);
    if (p == NULL && !skip_unwritten)
      break;  /* a pusher between its claim and its store: the next settle */
    atomic_store_explicit(s, NULL, memory_order_relaxed);
    if (p != NULL)
      out[n++] = p;
  }
  atomic_store_explicit(&r->head, h, memory_order_release);  /* the slots are free again */
  return n;
}

void zone__remote_free(zone_t *z) {
  zone__remote_t *r = remote_of(z);
  if (r != NULL)
    zone__os_unmap(r, sizeof *r);
  atomic_store_explicit(&z->remote, NULL, memory_order_relaxed);
}

void zone__plain_set(zone_t *z) {
  bool plain = z->nextents == 1 && z->check.kind == ZONE_CHECKER_NONE && !z->defers;
  atomic_store_explicit(&z->plain, plain, memory_order_seq_cst);
  if (plain && zone__remote_pending(z))  /* a push the settle did not see */
    atomic_store_explicit(&z->plain, false, memory_order_seq_cst);
}
