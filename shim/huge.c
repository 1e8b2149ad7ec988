/*
 * huge.c - blocks of a mapping of their own. A request of ZONE_MMAP_THRESHOLD
 * bytes or more (32 MiB by default: glibc's malloc, too, maps blocks this
 * large apart, its mmap threshold never rising above it) gets an anonymous
 * mapping instead of a place in an arena. In a zone such a block costs its share of the
 * bookkeeping resident, a bit per 16-byte granule in the used bitmap, all
 * set, even over the pages the program never writes: 30 MB for the 3.9 GB
 * buffer GNU sort asks for and fills with a few megabytes. On its own it
 * costs the pages written, free gives it back whole (munmap) and realloc
 * moves it with mremap, without a copy.
 *
 * The mappings are recorded outside the blocks, as the zones' bookkeeping
 * is: a table of (address, length) slots, open addressing over a fixed array
 * mapped on first use. So a free is checked exactly (the address of a
 * mapping's start, or misuse: an interior pointer, a second free) and the
 * program's writes can't damage the record. Slots change by compare-and-swap
 * alone, so no lock is ever held here: a fork, from a signal handler too,
 * finds the table as it is, and a child may free its parent's blocks. A
 * table with no slot free within HUGE_PROBES of a new block's hash leaves
 * the block to the arenas.
 */
#include "shim.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_SLOTS 4096 /* a power of two: 64 KiB of table */
#define HUGE_PROBES 64
#define SLOT_EMPTY ((uintptr_t)0)
#define SLOT_GONE ((uintptr_t)1) /* a block freed: lookups go on past it */

typedef struct huge_slot {
  _Atomic uintptr_t start; /* the block's address, SLOT_EMPTY or SLOT_GONE */
  _Atomic size_t len;      /* its mapping's bytes, whole pages */
} huge_slot_t;

static huge_slot_t *_Atomic table;
static _Atomic size_t live_count, live_bytes, peak_count, peak_bytes;

/* The table, mapped by the first thread that needs it (another that maps
 * one at the same time unmaps its own); NULL when it can't be mapped. */
static huge_slot_t *table_get(void) {
  huge_slot_t *t = atomic_load_explicit(&table, memory_order_acquire);
  if (zone__likely(t != NULL))
    return t;
  size_t len = HUGE_SLOTS * sizeof *t;
  huge_slot_t *mine = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mine == MAP_FAILED)
    return NULL;
  if (!atomic_compare_exchange_strong(&table, &t, mine)) {
    munmap(mine, len);
    return t;
  }
  return mine;
}

static size_t slot_of(uintptr_t start, size_t probe) {
  size_t hash = (size_t)(((start >> 12) * 0x9e3779b97f4a7c15ull) >> 52);
  return (hash + probe) & (HUGE_SLOTS - 1);
}

/* p's slot, or NULL when p starts no block of its own. */
static huge_slot_t *slot_find(const void *p) {
  huge_slot_t *t = atomic_load_explicit(&table, memory_order_acquire);
  uintptr_t start = (uintptr_t)p;
  if (t == NULL || start <= SLOT_GONE)
    return NULL;
  for (size_t i = 0; i < HUGE_PROBES; i++) {
    huge_slot_t *s = &t[slot_of(start, i)];
    uintptr_t k = atomic_load_explicit(&s->start, memory_order_acquire);
    if (k == start)
      return s;
    if (k == SLOT_EMPTY)
      return NULL;
  }
  return NULL;
}

static void count_add(size_t bytes) {
  size_t n = atomic_fetch_add(&live_count, 1) + 1;
  size_t b = atomic_fetch_add(&live_bytes, bytes) + bytes;
  size_t seen = atomic_load(&peak_count);
  while (n > seen && !atomic_compare_exchange_weak(&peak_count, &seen, n)) {
  }
  seen = atomic_load(&peak_bytes);
  while (b > seen && !atomic_compare_exchange_weak(&peak_bytes, &seen, b)) {
  }
}

static void count_sub(size_t bytes) {
  atomic_fetch_sub(&live_count, 1);
  atomic_fetch_sub(&live_bytes, bytes);
}

/* Records [start, start + len); false when the table has no room near its
 * hash (or none at all). */
static bool slot_add(uintptr_t start, size_t len) {
  huge_slot_t *t = table_get();
  if (t == NULL)
    return false;
  for (size_t i = 0; i < HUGE_PROBES; i++) {
    huge_slot_t *s = &t[slot_of(start, i)];
    uintptr_t k = atomic_load_explicit(&s->start, memory_order_relaxed);
    while (k == SLOT_EMPTY || k == SLOT_GONE) {
      /* The slot, then its length: whoever reads the length found the start
       * by the block's address, which nobody has before we return it. */
      if (atomic_compare_exchange_weak_explicit(&s->start, &k, start, memory_order_relaxed,
                                                memory_order_relaxed)) {
        atomic_store_explicit(&s->len, len, memory_order_release);
        count_add(len);
        return true;
      }
    }
  }
  return false;
}

bool zone__shim_huge_wanted(size_t bytes) {
  size_t threshold = atomic_load_explicit(&zone__shim_opt.mmap_threshold, memory_order_relaxed);
  return threshold != 0 && bytes >= threshold;
}

void *zone__shim_huge_alloc(size_t bytes, size_t align) {
  if (!zone__shim_huge_wanted(bytes))
    return NULL;
  size_t page = zone__os_page_size();
  if (align < page)
    align = page;
  if (align > SIZE_MAX / 4 || bytes > SIZE_MAX / 2 - align)
    return NULL;
  size_t len = (bytes + page - 1) & ~(page - 1), extra = align - page;
  char *m = mmap(NULL, len + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  /* An alignment above the page: the mapping trimmed to an aligned start. */
  uintptr_t start = ((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1);
  if (start > (uintptr_t)m)
    munmap(m, start - (uintptr_t)m);
  if ((uintptr_t)m + extra > start)
    munmap((void *)(start + len), (uintptr_t)m + extra - start);
  if (!slot_add(start, len)) {
    munmap((void *)start, len);
    return NULL;
  }
  return (void *)start;
}

size_t zone__shim_huge_size(const void *p) {
  huge_slot_t *s = slot_find(p);
  return s != NULL ? atomic_load_explicit(&s->len, memory_order_relaxed) : 0;
}

/* Forgets p's slot s (len bytes): false when another thread did first (two
 * frees of one block at once: one wins, the other is a misuse). */
static bool slot_drop(huge_slot_t *s, void *p, size_t len) {
  uintptr_t start = (uintptr_t)p;
  if (!atomic_compare_exchange_strong(&s->start, &start, SLOT_GONE))
    return false;
  count_sub(len);
  return true;
}

bool zone__shim_huge_free(void *p) {
  huge_slot_t *s = slot_find(p);
  if (s == NULL)
    return false;
  size_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
  if (!slot_drop(s, p, len))
    return false;
  int saved = errno;
  munmap(p, len);
  errno = saved;
  return true;
}

void *zone__shim_huge_resize(void *p, size_t bytes) {
  huge_slot_t *s = slot_find(p);
  if (s == NULL) {
    errno = EINVAL;
    return NULL;
  }
  size_t page = zone__os_page_size(), len = atomic_load_explicit(&s->len, memory_order_acquire);
  if (bytes > SIZE_MAX - page) {
    errno = ENOMEM;
    return NULL;
  }
  size_t want = (bytes + page - 1) & ~(page - 1);
  if (want == len)
    return p;
  if (mremap(p, len, want, 0) != MAP_FAILED) {  /* in place: shrunk, or grown into free space */
    atomic_store_explicit(&s->len, want, memory_order_release);
    count_sub(len);
    count_add(want);
    return p;
  }
  /* A new block, recorded before anything moves (p stays intact when it
   * can't be had); p's pages then move over it, without a copy. */
  void *q = zone__shim_huge_alloc(bytes, 0);
  if (q == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  int saved = errno;
  if (mremap(p, len, want, MREMAP_MAYMOVE | MREMAP_FIXED, q) == q) {
    slot_drop(s, p, len);
  } else {
    memcpy(q, p, len < want ? len : want);
    zone__shim_huge_free(p);
  }
  errno = saved;
  return q;
}

void zone__shim_huge_stats(zone__shim_huge_stats_t *out) {
  out->count = atomic_load(&live_count);
  out->bytes = atomic_load(&live_bytes);
  out->peak_count = atomic_load(&peak_count);
  out->peak_bytes = atomic_load(&peak_bytes);
}
