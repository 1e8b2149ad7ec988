/*
 * trim.c - giving memory back to the OS: malloc_trim, and the automatic
 * return of large free regions after a program frees a lot.
 *
 * What is given back: the whole pages inside a free region of at least the
 * trim threshold (128 KiB, ZONE_TRIM_THRESHOLD or mallopt(M_TRIM_THRESHOLD)),
 * with madvise(MADV_DONTNEED), so they read as zero and cost no resident
 * memory until they are used again.
 *
 * When: every OPS_PER_TICK allocations and frees on a thread, a look at the
 * zone's usage. When the bytes in use have fallen by BUDGET_FACTOR thresholds
 * (4 MiB by default) below their high-water mark since the last return, the
 * large free regions go back, except the lowest RETAIN_FACTOR thresholds of
 * them: first fit reuses low addresses first, so those are the ones a program
 * that frees and allocates the same sizes over and over will reuse, and they
 * stay resident. Those two margins are the hysteresis that keeps repeated
 * alloc/free of the same sizes from faulting pages in and out.
 *
 * zone__shim_discard walks the free regions with the core's placement search
 * under the zone's lock; it is the prototype of a core function (the lock
 * must be held across the madvise, or a block allocated meanwhile in the
 * region would be zeroed). The sampling here is the shim's stand-in for a
 * check the core could make exactly inside zfree.
 */
#include "shim.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>

#define OPS_PER_TICK 64
#define BUDGET_FACTOR 32
#define RETAIN_FACTOR 16

ZONE_SHIM_TLS unsigned zone__shim_ops_left;

static atomic_flag tick_busy = ATOMIC_FLAG_INIT;
static size_t high_water;  /* used bytes, highest seen since the last return; under tick_busy */
static _Atomic size_t returned_total;

static size_t times_saturated(size_t a, size_t b) {
  size_t r;
  return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

size_t zone__shim_discard(zone_t *z, size_t min_region, size_t retain) {
  size_t page = zone__os_page_size();
  if (min_region < page)
    min_region = page;
  size_t n = (min_region + ZONE_G - 1) / ZONE_G;  /* region length in granules */
  size_t discarded = 0, passed = 0;
  int saved = errno;
  zone__shim_enter();
  zone__lock(z);
  for (size_t k = 0; k < z->nextents; k++) {
    zone__extent_t *e = &z->extents[k];
    size_t g = 0;
    while (g < e->ngran && (g = zone__extent_fit(e, n, g)) != ZONE_NONE) {
      size_t len = zone__extent_free_len(e, g, e->ngran - g);
      uintptr_t lo = e->base + g * ZONE_G, hi = lo + len * ZONE_G;
      if (passed < retain) {
        size_t keep = retain - passed < hi - lo ? retain - passed : hi - lo;
        passed += keep;
        lo += keep;
      }
      lo = (lo + page - 1) & ~(uintptr_t)(page - 1);
      hi &= ~(uintptr_t)(page - 1);
      if (hi > lo) {
        zone__os_discard((void *)lo, hi - lo);
        discarded += hi - lo;
      }
      g += len;
    }
  }
  zone__unlock(z);
  zone__shim_leave();
  errno = saved;
  atomic_fetch_add_explicit(&returned_total, discarded, memory_order_relaxed);
  return discarded;
}

void zone__shim_usage_tick(zone_t *z) {
  zone__shim_ops_left = OPS_PER_TICK;
  size_t threshold = zone__shim_opt.trim_threshold;
  if (threshold == 0 || atomic_flag_test_and_set_explicit(&tick_busy, memory_order_acquire))
    return;  /* off, or another thread is looking */
  zone_stats_t st;
  zone__shim_enter();
  zone_stats(z, &st);
  zone__shim_leave();
  if (st.used >= high_water) {
    high_water = st.used;
  } else if (high_water - st.used >= times_saturated(threshold, BUDGET_FACTOR)) {
    zone__shim_discard(z, threshold, times_saturated(threshold, RETAIN_FACTOR));
    high_water = st.used;
  }
  atomic_flag_clear_explicit(&tick_busy, memory_order_release);
}

size_t zone__shim_returned_bytes(void) { return atomic_load(&returned_total); }

void zone__shim_trim_fork_child(void) {
  atomic_flag_clear(&tick_busy);
  zone__shim_ops_left = OPS_PER_TICK;
}

/* Gives back every whole free page but the lowest `pad` bytes of free space;
 * 1 if any memory went back, as glibc says. */
ZONE_SHIM_EXPORT int malloc_trim(size_t pad) {
  zone_t *z = zone__shim_get();
  if (z == NULL)
    return 0;
  return zone__shim_discard(z, 0, pad) != 0;
}
