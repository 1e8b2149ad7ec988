/*
 * os.c - memory from the operating system, and nothing else. Zones and their
 * bookkeeping come from anonymous mmap, never from malloc, so the malloc shim
 * can run on the core. A test hook makes the n-th mapping fail, so that the
 * system's refusal of memory can be tested on demand.
 */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static _Atomic long fail_countdown;  /* > 0: mappings left before one fails */
static _Atomic bool fail_sticky;     /* keep failing after the first one */
static _Atomic bool failing;

void zone__os_fail_after(long n, bool sticky) {
  atomic_store(&failing, false);
  atomic_store(&fail_sticky, sticky);
  atomic_store(&fail_countdown, n > 0 ? n : 0);
}

static bool injected_failure(void) {
  if (atomic_load_explicit(&failing, memory_order_relaxed))
    return true;
  if (atomic_load_explicit(&fail_countdown, memory_order_relaxed) == 0)
    return false;
  if (atomic_fetch_sub(&fail_countdown, 1) != 1)
    return false;
  if (atomic_load(&fail_sticky))
    atomic_store(&failing, true);
  return true;
}

size_t zone__os_page_size(void) {
  static _Atomic size_t page;  /* threads may race to set it: all store the same value */
  if (page == 0) {
    long p = sysconf(_SC_PAGESIZE);
    page = p > 0 ? (size_t)p : 4096;
  }
  return page;
}

void *zone__os_map(size_t bytes) {
  if (bytes == 0 || injected_failure()) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    errno = ENOMEM;
    return NULL;
  }
  return p;
}

void *zone__os_map_quiet(size_t bytes) {
  if (bytes == 0)
    return NULL;
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

bool zone__os_refused(void) { return injected_failure(); }

void *zone__os_reserve(void *hint, size_t bytes) {
  if (bytes == 0)
    return NULL;
  void *p = mmap(hint, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int zone__os_reserve_at(void *at, size_t bytes) {
  if (bytes == 0)
    return ENOMEM;
  void *p = mmap(at, bytes, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED)
    return ENOMEM;
  if (p != at) {  /* a kernel older than MAP_FIXED_NOREPLACE took it as a hint */
    munmap(p, bytes);
    return ENOMEM;
  }
  return 0;
}

int zone__os_commit(void *p, size_t bytes) {
  if (bytes == 0 || injected_failure())
    return ENOMEM;
  return mprotect(p, bytes, PROT_READ | PROT_WRITE) == 0 ? 0 : ENOMEM;
}

void zone__os_unmap(void *p, size_t bytes) {
  if (p != NULL && bytes != 0)
    munmap(p, bytes);
}

void zone__os_discard(void *p, size_t bytes) {
  if (p != NULL && bytes != 0)
    madvise(p, bytes, MADV_DONTNEED);
}

void zone__os_zero(void *p, size_t bytes) {
  size_t page = zone__os_page_size();
  uintptr_t lo = ((uintptr_t)p + page - 1) / page * page;
  uintptr_t hi = ((uintptr_t)p + bytes) / page * page;
  if (bytes < ZONE_ZERO_DISCARD_BYTES || hi <= lo || hi - lo < ZONE_ZERO_DISCARD_BYTES) {
    memset(p, 0, bytes);
    return;
  }
  memset(p, 0, lo - (uintptr_t)p);
  madvise((void *)lo, hi - lo, MADV_DONTNEED);
  memset((void *)hi, 0, (uintptr_t)p + bytes - hi);
}

void zone__os_guard(void *p, size_t bytes) {
  if (p != NULL && bytes != 0)
    mprotect(p, bytes, PROT_NONE);
}

bool zone__os_space_limited(void) {
  struct rlimit lim;
  return getrlimit(RLIMIT_AS, &lim) != 0 || lim.rlim_cur != RLIM_INFINITY;
}

/* Transparent huge pages where the kernel gives them on request: one TLB entry
 * covers 2 MiB of bitmap instead of 4 KiB, which is what random frees in a
 * large extent pay for (bench/core_pairs at 1M blocks: about 25% less time). */
void zone__os_hugepage_hint(void *p, size_t bytes) {
  if (p != NULL && bytes != 0)
    madvise(p, bytes, MADV_HUGEPAGE);
}

void zone__os_populate(void *p, size_t bytes) {
#ifdef MADV_POPULATE_WRITE
  if (p == NULL || bytes == 0)
    return;
  size_t page = zone__os_page_size();
  uintptr_t lo = (uintptr_t)p / page * page, hi = ((uintptr_t)p + bytes + page - 1) / page * page;
  int saved = errno;  /* EINVAL before Linux 5.14: the writes fault the pages in instead */
  madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
  errno = saved;
#else
  (void)p;
  (void)bytes;
#endif
}
