/*
 * test_grow.c - growth (contract 13): a ZONE_GROW zone maps more memory when
 * nothing fits (zone_size grows, first fit still orders by address across all
 * of it), a zone without the flag never grows, and when the system refuses
 * memory the call gives NULL/ENOMEM and the zone stays as it was; the zone's
 * span holds every extent, and zone__free_held frees only inside it. White-box:
 * links the core's objects for the zone__os_fail_after hook, which makes the
 * n-th next OS mapping fail.
 */
#include "support.h"
#include "internal.h"

#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static void no_failures(void) {
  zone__os_fail_after(0, false);
}

/* The lowest address where n bytes are free, from the walk: where first fit
 * must put a request of n bytes when nothing needs to grow. */
static uintptr_t lowest_fit(const zone_t *z, size_t n) {
  zt_snapshot_t s;
  zt_snapshot_take(z, &s);
  uintptr_t want = 0;
  for (size_t i = 0; i < s.count && want == 0; i++)
    if (!s.regions[i].used && s.regions[i].size >= n)
      want = s.regions[i].addr;
  zt_snapshot_free(&s);
  return want;
}

static size_t walk_total(const zone_t *z) {
  zt_snapshot_t s;
  zt_snapshot_take(z, &s);
  size_t total = 0;
  for (size_t i = 0; i < s.count; i++)
    total += s.regions[i].size;
  zt_snapshot_free(&s);
  return total;
}

START_TEST(grows_when_full) {
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  void *all = zalloc(z, 4096);
  ck_assert_ptr_nonnull(all);
  ck_assert_uint_eq(zone_size(z), 4096);
  char *more = zalloc(z, 100);
  ck_assert_ptr_nonnull(more);
  ck_assert_uint_gt(zone_size(z), 4096);
  ck_assert(zone_owns(z, more));
  ck_assert_uint_eq(zone_block_size(z, more), 112);
  memset(more, 1, 100);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.size, zone_size(z));
  ck_assert_uint_eq(st.used, 4096 + 112);
  ck_assert_uint_eq(st.blocks, 2);
  ck_assert_uint_eq(walk_total(z), zone_size(z));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A request larger than the whole zone grows it by enough. */
START_TEST(grows_for_large_request) {
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  char *p = zalloc(z, 1 << 20);
  ck_assert_ptr_nonnull(p);
  ck_assert_uint_ge(zone_size(z), 4096 + (1 << 20));
  memset(p, 2, 1 << 20);
  char *q = zrealloc(z, p, 3 << 20);
  ck_assert_ptr_nonnull(q);
  ck_assert_uint_eq(zone_block_size(z, q), 3 << 20);
  for (size_t i = 0; i < (1 << 20); i += 4096)
    ck_assert_uint_eq((unsigned char)q[i], 2);
  char *r = zalloc_aligned(z, 1 << 16, 1 << 20);
  ck_assert_ptr_nonnull(r);
  ck_assert_uint_eq((uintptr_t)r % (1 << 16), 0);
  ck_assert_uint_eq(walk_total(z), zone_size(z));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Many growths from small blocks: every block stays owned and the whole
 * structure checks out. */
START_TEST(grows_many_times) {
  zone_t *z = create_zone_flags(1024, ZONE_GROW);
  enum { N = 4000 };
  static char *p[N];
  size_t used = 0;
  size_t n = zt_scaled(N);
  for (size_t i = 0; i < n; i++) {
    p[i] = zalloc(z, 200);
    ck_assert_ptr_nonnull(p[i]);
    used += 208;
  }
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, used);
  ck_assert_uint_ge(st.size, used);
  for (size_t i = 0; i < n; i++)
    ck_assert(zone_owns(z, p[i]));
  for (size_t i = 0; i < n; i += 2)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  ck_assert_uint_eq(walk_total(z), zone_size(z));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* With free space in several extents, first fit picks the lowest address of
 * the whole zone, wherever the OS placed the extents. */
START_TEST(first_fit_across_extents) {
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  char *a[16];
  for (int i = 0; i < 16; i++)
    a[i] = zalloc(z, 256);  /* fills the first extent */
  char *b[16];
  for (int i = 0; i < 16; i++)
    b[i] = zalloc(z, 256);  /* in the memory a growth added */
  ck_assert_uint_gt(zone_size(z), 4096);
  /* free holes of 256 in both extents */
  for (int i = 3; i < 16; i += 4) {
    ck_assert_int_eq(zfree(z, a[i]), 0);
    ck_assert_int_eq(zfree(z, b[i]), 0);
  }
  for (int k = 0; k < 6; k++) {
    uintptr_t want = lowest_fit(z, 208);
    ck_assert_uint_ne(want, 0);
    char *p = zalloc(z, 200);
    ck_assert_msg((uintptr_t)p == want, "zalloc at %p, lowest fit is %#lx", (void *)p,
                  (unsigned long)want);
  }
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Each growth lands above the zone's old memory (its reserved address space),
 * so first fit keeps filling the oldest extents before the new ones, instead
 * of pulling live data into each new extent mmap would put below the old. */
START_TEST(grows_upward) {
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  uintptr_t highest = 0;
  size_t size = 0;
  for (int k = 0; k < 8; k++) {
    char *p = zalloc(z, 4096);  /* the first fills the zone; the rest each grow it */
    ck_assert_ptr_nonnull(p);
    ck_assert_msg((uintptr_t)p > highest, "growth %d at %p, below %#lx", k, (void *)p,
                  (unsigned long)highest);
    highest = (uintptr_t)p;
    zone_stats_t st;
    zone_stats(z, &st);
    while (st.largest_free >= 4096) {  /* fill what the growth left */
      ck_assert_ptr_nonnull(zalloc(z, 4096));
      zone_stats(z, &st);
    }
    ck_assert_uint_gt(zone_size(z), size);
    size = zone_size(z);
  }
  /* a hole in the first extent is found before anything above it */
  zt_snapshot_t s;
  zt_snapshot_take(z, &s);
  uintptr_t first = s.regions[0].addr;
  zt_snapshot_free(&s);
  ck_assert_int_eq(zfree(z, (void *)first), 0);
  ck_assert_ptr_eq(zalloc(z, 16), (void *)first);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Sets RLIMIT_AS to the address space in use now and `room` more; *old gets
 * the limit before. */
static void limit_address_space(size_t room, struct rlimit *old) {
  long vm_pages = 0;
  FILE *statm = fopen("/proc/self/statm", "r");
  ck_assert_ptr_nonnull(statm);
  ck_assert_int_eq(fscanf(statm, "%ld", &vm_pages), 1);
  fclose(statm);
  struct rlimit lim = {(rlim_t)vm_pages * (rlim_t)sysconf(_SC_PAGESIZE) + room, RLIM_INFINITY};
  ck_assert_int_eq(getrlimit(RLIMIT_AS, old), 0);
  lim.rlim_max = old->rlim_max;
  if (old->rlim_cur != RLIM_INFINITY && old->rlim_cur < lim.rlim_cur)
    lim.rlim_cur = old->rlim_cur;
  ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
}

/* Address space too short for a reservation (RLIMIT_AS): growth still works,
 * each extent mapped wherever mmap puts it, and first fit still orders by
 * address. Check runs each test in its own process, so the limit ends here. */
START_TEST(grows_without_reservation) {
  /* Under an address-space limit lowered after start-up, a growing zone
   * reserves no more than it can have and gets close to the limit: the
   * reservation is about as large again as the zone, and a growth that can't
   * double grows by the request alone. Not under valgrind: its shadow memory
   * comes out of the same limit, and a client run up to the limit leaves it
   * none (memcheck then aborts, "Valgrind's memory management: out of
   * memory"), sooner still with the page memcheck keeps before each extent. */
  if (zt_under_valgrind())
    return;
  size_t room = (size_t)64 << 20;
  struct rlimit old;
  limit_address_space(room, &old);
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  size_t total = 0;
  for (int k = 0; k < 6; k++) {
    void *p = zalloc(z, 32 << 10);
    ck_assert_ptr_nonnull(p);
    memset(p, k, 32 << 10);
    total += 32 << 10;
  }
  while (zalloc(z, 256 << 10) != NULL)
    total += 256 << 10;
  ck_assert_uint_ge(total, room / 2);  /* bookkeeping and copies take the rest */
  ck_assert_uint_ge(zone_size(z), total);
  uintptr_t want = lowest_fit(z, 16);
  ck_assert_ptr_eq(zalloc(z, 16), (void *)want);
  zt_assert_check(z);
  destroy_zone(z);
  setrlimit(RLIMIT_AS, &old);
}
END_TEST

/* Without ZONE_GROW the zone keeps its size, whatever is asked. */
START_TEST(never_grows_without_flag) {
  zone_t *z = create_zone(4096);
  ck_assert_ptr_nonnull(zalloc(z, 4000));
  errno = 0;
  ck_assert_ptr_null(zalloc(z, 100));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(zalloc(z, 1 << 20));
  ck_assert_int_eq(errno, ENOMEM);
  char *p = zalloc(z, 16);
  ck_assert_ptr_nonnull(p);
  errno = 0;
  ck_assert_ptr_null(zrealloc(z, p, 8192));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(zalloc_aligned(z, 8192, 16));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(zcalloc(z, 2, 4096));
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_uint_eq(zone_size(z), 4096);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.size, 4096);
  zt_assert_check(z);
  destroy_zone(z);
  /* an unlocked zone the same */
  z = create_zone_flags(4096, ZONE_UNLOCKED);
  ck_assert_ptr_nonnull(zalloc(z, 4096));
  ck_assert_ptr_null(zalloc(z, 1));
  ck_assert_uint_eq(zone_size(z), 4096);
  destroy_zone(z);
}
END_TEST

/* The system refuses every mapping: a growth fails with ENOMEM and the zone
 * is exactly as before; once memory is back, growth works. */
START_TEST(system_refuses_growth) {
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  char *p = zalloc(z, 4000);
  memset(p, 4, 4000);
  zt_snapshot_t before, after;
  zt_snapshot_take(z, &before);
  zone__os_fail_after(1, true);
  errno = 0;
  ck_assert_ptr_null(zalloc(z, 1000));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(zalloc_aligned(z, 4096, 1000));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(zcalloc(z, 1000, 2));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(zrealloc(z, p, 8000));
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_uint_eq(zone_block_size(z, p), 4000);
  for (int i = 0; i < 4000; i++)
    ck_assert_uint_eq((unsigned char)p[i], 4);
  zt_snapshot_take(z, &after);
  zt_snapshot_assert_equal(&before, &after, "after refused growth");
  zt_snapshot_free(&after);
  zt_assert_check(z);
  /* what still fits without growing is served */
  ck_assert_ptr_eq(zalloc(z, 96), (char *)zt_base(z) + 4000);
  ck_assert_uint_eq(zone_size(z), 4096);
  no_failures();
  char *q = zalloc(z, 1000);
  ck_assert_ptr_nonnull(q);
  ck_assert_uint_gt(zone_size(z), 4096);
  zt_assert_check(z);
  zt_snapshot_free(&before);
  destroy_zone(z);
}
END_TEST

/* One mapping fails somewhere inside a growth (the memory, or its
 * bookkeeping): whichever it is, the call fails cleanly or succeeds, the zone
 * stays consistent, and nothing leaks (the memcheck run). */
START_TEST(growth_fails_at_each_mapping) {
  for (long n = 1; n <= 6; n++) {
    zone_t *z = create_zone_flags(4096, ZONE_GROW);
    ck_assert_ptr_nonnull(z);
    zalloc(z, 4096);
    zt_snapshot_t before, after;
    zt_snapshot_take(z, &before);
    zone__os_fail_after(n, false);
    errno = 0;
    char *p = zalloc(z, 10000);
    no_failures();
    if (p == NULL) {
      ck_assert_int_eq(errno, ENOMEM);
      zt_snapshot_take(z, &after);
      zt_snapshot_assert_equal(&before, &after, "after a failed growth");
      zt_snapshot_free(&after);
    } else {
      ck_assert(zone_owns(z, p));
      memset(p, 1, 10000);
    }
    zt_assert_check(z);
    ck_assert_ptr_nonnull(zalloc(z, 20000));
    zt_assert_check(z);
    zt_snapshot_free(&before);
    destroy_zone(z);
  }
}
END_TEST

/* Growth in place: the zone's extent takes the new memory from its reserved
 * address space, so the zone stays one extent and a request can span the old
 * end: first fit puts it at the start of the free run the old end left. */
START_TEST(grows_in_place) {
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  ck_assert_ptr_nonnull(z->reserve);
  char *low = zalloc(z, 2048);
  ck_assert_ptr_nonnull(low);
  char *span = zalloc(z, 4096);  /* 2048 bytes free at the end: it grows */
  ck_assert_ptr_eq(span, low + 2048);
  ck_assert_uint_gt(zone_size(z), 4096);
  ck_assert_uint_eq(z->nextents, 1);
  memset(span, 5, 4096);
  for (int k = 0; k < 8; k++) {  /* each a size the zone can't hold yet */
    char *p = zalloc(z, zone_size(z));
    ck_assert_ptr_nonnull(p);
    memset(p, k, 4096);
  }
  ck_assert_uint_eq(z->nextents, 1);
  uintptr_t want = lowest_fit(z, 16);
  ck_assert_ptr_eq(zalloc(z, 16), (void *)want);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A growth in place adds the zone's size (it doubles) up to 32 MiB at a
 * time, and past that 32 MiB a step, which bounds the time of the call that
 * grows it; a request larger than the step gets what it needs. */
START_TEST(growth_step_is_bounded) {
  const size_t mib = (size_t)1 << 20;
  zone_t *z = create_zone_flags(16 * mib, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  ck_assert_ptr_nonnull(zalloc(z, 16 * mib));
  ck_assert_ptr_nonnull(zalloc(z, 64));
  ck_assert_uint_eq(zone_size(z), 32 * mib);  /* doubled */
  ck_assert_ptr_nonnull(zalloc(z, zone_size(z) - 16 * mib - 64));
  ck_assert_ptr_nonnull(zalloc(z, 64));
  ck_assert_uint_eq(zone_size(z), 64 * mib);  /* doubled: a step of 32 MiB */
  ck_assert_ptr_nonnull(zalloc(z, 32 * mib - 64));  /* full again */
  ck_assert_ptr_nonnull(zalloc(z, 64));
  ck_assert_uint_eq(zone_size(z), 96 * mib);  /* 32 MiB more, not 64 */
  ck_assert_ptr_nonnull(zalloc(z, 32 * mib - 64));
  void *big = zalloc(z, 48 * mib);            /* more than a step: what it needs */
  ck_assert_ptr_nonnull(big);
  ck_assert_uint_ge(zone_size(z), 144 * mib);
  ck_assert_uint_lt(zone_size(z), 160 * mib);
  ck_assert_uint_eq(z->nextents, 1);
  ck_assert_uint_eq(walk_total(z), zone_size(z));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Where the reservation can't be extended (another mapping right after
 * it), the growth is a new extent, and a new extent still doubles the zone:
 * 32 MiB steps there would use up ZONE_MAX_EXTENTS at about 2 GiB. */
START_TEST(new_extent_still_doubles) {
  const size_t mib = (size_t)1 << 20;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  zone_t *z = create_zone_flags(64 * mib, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  ck_assert_ptr_nonnull(z->reserve);
  void *blocker = mmap(z->reserve_end, page, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ck_assert_ptr_eq(blocker, z->reserve_end);
  ck_assert_ptr_nonnull(zalloc(z, 64 * mib));
  ck_assert_ptr_nonnull(zalloc(z, 64));  /* nothing fits, and the reservation is short */
  ck_assert_uint_eq(z->nextents, 2);
  ck_assert_uint_eq(zone_size(z), 128 * mib);  /* doubled, not 64 + 32 */
  ck_assert_uint_eq(walk_total(z), zone_size(z));
  zt_assert_check(z);
  destroy_zone(z);
  munmap(blocker, page);
}
END_TEST

/* A small zone's first reservation holds it up to 4 MiB: with another
 * mapping right after that reservation (the space above taken, as where the
 * slot hint is refused), a 256 KiB zone, the shim's first size, still doubles
 * in place to 4 MiB, one extent, each block where a 4 MiB zone puts it. */
START_TEST(small_zone_grows_in_place_to_4_mib) {
  const size_t kib = 1024;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  zone_t *z = create_zone_flags(256 * kib, ZONE_GROW), *big = create_zone_flags(4096 * kib, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  ck_assert_ptr_nonnull(big);
  void *blocker = mmap(z->reserve_end, page, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ck_assert_ptr_eq(blocker, z->reserve_end);
  char *base = (char *)zt_base(z), *big_base = (char *)zt_base(big);
  for (size_t n = 1; n <= 4; n++) {  /* 1.5 MiB in all: the zone grows to 2 MiB */
    char *p = zalloc(z, n * 128 * kib), *q = zalloc(big, n * 128 * kib);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p - base, q - big_base);
  }
  char *last = zalloc(z, 2048 * kib), *big_last = zalloc(big, 2048 * kib);  /* 4 MiB */
  ck_assert_ptr_nonnull(last);
  ck_assert_int_eq(last - base, big_last - big_base);
  ck_assert_uint_eq(z->nextents, 1);
  ck_assert_uint_eq(zone_size(z), 4096 * kib);
  zt_assert_check(z);
  destroy_zone(z);
  destroy_zone(big);
  munmap(blocker, page);
}
END_TEST

/* A zone whose size is not a whole number of pages grows in place too: the
 * bytes up to the page boundary join it, so the next block follows the last
 * one directly. */
START_TEST(grows_in_place_from_odd_size) {
  zone_t *z = create_zone_flags(1000, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  ck_assert_uint_eq(zone_size(z), 1008);
  char *a = zalloc(z, 1000);
  char *b = zalloc(z, 100);
  ck_assert_ptr_eq(b, a + 1008);
  ck_assert_uint_eq(z->nextents, 1);
  ck_assert_uint_gt(zone_size(z), 1008);
  ck_assert_uint_eq(walk_total(z), zone_size(z));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Pages given back before a growth stay marked after it, and a growth to
 * 40 times the zone (its index's book moved, the marks with it) covers the
 * new pages: a take clears the marks it covers, and the next trim gives back
 * exactly the pages not marked. */
START_TEST(trim_marks_survive_growth) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE), half = (size_t)1 << 19;
  zone_t *z = create_zone_flags(2 * half, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  char *a = zalloc(z, half);
  zt_fill(a, half, 9);
  ck_assert_uint_eq(zone__trim(z, 0), half);
  ck_assert_uint_eq(z->extents[0].returned.marked, half / page);
  size_t big = (size_t)40000 * page;
  char *b = zalloc(z, big);
  ck_assert_ptr_eq(b, a + half);  /* from the returned half on: in place */
  ck_assert_uint_eq(z->nextents, 1);
  const zone__index_t *ix = &z->extents[0].idx;
  ck_assert_uint_eq(z->extents[0].returned.marked, 0);  /* b covers them all */
  ck_assert((const char *)(ix->returned + (zone_size(z) / page + 63) / 64) <= (const char *)ix->book + ix->book_len);
  ck_assert_int_eq(zfree(z, b), 0);
  ck_assert_uint_eq(zone__trim(z, 0), zone_size(z) - half);
  ck_assert_uint_eq(zone__trim(z, 0), 0);
  ck_assert(zt_verify(a, half, 9));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Creation itself when the system refuses: NULL, ENOMEM, no leak. */
START_TEST(create_when_system_refuses) {
  bool succeeded = false;
  for (long n = 1; n <= 6 && !succeeded; n++) {
    zone__os_fail_after(n, false);
    errno = 0;
    zone_t *z = create_zone(1 << 16);
    no_failures();
    if (z == NULL) {
      ck_assert_int_eq(errno, ENOMEM);
      continue;
    }
    succeeded = true;
    ck_assert_uint_eq(zone_size(z), 1 << 16);
    zt_assert_check(z);
    destroy_zone(z);
  }
  ck_assert_msg(succeeded, "create_zone never succeeded with one mapping failing");
  zone__os_fail_after(1, true);
  errno = 0;
  ck_assert_ptr_null(create_zone(4096));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(create_zone_flags(4096, ZONE_GROW));
  ck_assert_int_eq(errno, ENOMEM);
  alignas(16) static char buf[4096];
  zt_fill(buf, sizeof buf, 8);
  errno = 0;
  ck_assert_ptr_null(create_zone_in(buf, sizeof buf, 0));
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert(zt_verify(buf, sizeof buf, 8));
  no_failures();
}
END_TEST

/* zone_reset on a grown zone frees everything; the zone stays usable and
 * first fit restarts at its lowest address. */
START_TEST(reset_grown_zone) {
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  for (int i = 0; i < 10; i++)
    ck_assert_ptr_nonnull(zalloc(z, 2000));
  ck_assert_uint_gt(zone_size(z), 4096);
  zone_reset(z);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 0);
  ck_assert_uint_eq(st.blocks, 0);
  ck_assert_uint_eq(st.size, zone_size(z));
  ck_assert_uint_eq(walk_total(z), zone_size(z));
  zt_assert_check(z);
  uintptr_t want = lowest_fit(z, 16);
  ck_assert_uint_eq((uintptr_t)zalloc(z, 16), want);
  destroy_zone(z);
}
END_TEST

/* zone__trim (the core's hook for giving free pages back) touches only whole
 * pages inside free regions: live blocks keep their bytes, the zone checks
 * out, zcalloc there still reads zero, and a caller's buffer is never
 * trimmed. */
START_TEST(trim_gives_back_free_pages_only) {
  zone_t *z = create_zone(1 << 20);
  enum { N = 16 };
  char *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = zalloc(z, (1 << 16) - 100);
    zt_fill(p[i], (1 << 16) - 100, (uint64_t)i);
  }
  for (int i = 0; i < N; i += 2)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  zt_snapshot_t before, after;
  zt_snapshot_take(z, &before);
  ck_assert_uint_gt(zone__trim(z, 0), 0);
  zt_snapshot_take(z, &after);
  zt_snapshot_assert_equal(&before, &after, "after zone__trim");
  for (int i = 1; i < N; i += 2)
    ck_assert_msg(zt_verify(p[i], (1 << 16) - 100, (uint64_t)i), "live block %d changed", i);
  zt_assert_check(z);
  unsigned char *q = zcalloc(z, 1, (1 << 16) - 100);
  ck_assert_ptr_eq(q, p[0]);
  for (size_t k = 0; k < (1 << 16) - 100; k++)
    ck_assert_msg(q[k] == 0, "byte %zu not zero after trim", k);
  zt_snapshot_free(&before);
  zt_snapshot_free(&after);
  destroy_zone(z);

  size_t len = 1 << 18;
  static char *buf;
  buf = aligned_alloc(4096, len);
  ck_assert_ptr_nonnull(buf);
  zt_fill(buf, len, 77);
  zone_t *in = create_zone_in(buf, len, 0);
  ck_assert_ptr_nonnull(in);
  ck_assert_uint_eq(zone__trim(in, 0), 0);
  destroy_zone(in);
  ck_assert(zt_verify(buf, len, 77));
  free(buf);
}
END_TEST

/* zone__free_held (the shim's free with several arenas): a pointer outside
 * the zone's span is handed back with nothing changed; inside it, the call
 * is zfree's, misuse (handed back too) included; a block in a later extent
 * is held too. */
START_TEST(free_held_only_inside_span) {
  zone_t *a = create_zone_flags(1 << 16, ZONE_GROW), *b = create_zone(1 << 16);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  char *pa = zalloc(a, 100), *pb = zalloc(b, 100);
  ck_assert_ptr_nonnull(pa);
  ck_assert_ptr_nonnull(pb);
  uintptr_t lo, hi;
  zone__span(a, &lo, &hi);
  ck_assert((uintptr_t)pa >= lo && (uintptr_t)pa < hi);
  ck_assert((uintptr_t)pb < lo || (uintptr_t)pb >= hi);
  zone_stats_t before, after;
  zone_stats(a, &before);
  ck_assert_ptr_eq(zone__free_held(pb, a), pb);  /* another zone's block */
  ck_assert_ptr_eq(zone__free_held(pa + ZONE_G, a), pa + ZONE_G);  /* no block starts there */
  zone_stats(a, &after);
  ck_assert_uint_eq(after.blocks, before.blocks);
  ck_assert_uint_eq(after.used, before.used);
  ck_assert_uint_gt(zone_block_size(b, pb), 0);
  ck_assert_ptr_null(zone__free_held(pa, a));
  ck_assert_uint_eq(zone_block_size(a, pa), 0);
  ck_assert_ptr_eq(zone__free_held(pa, a), pa);  /* a double free */
  ck_assert_ptr_null(zone__free_held(pb, b));
  char *big = zalloc(a, 1 << 17);  /* more than the first extent: growth */
  ck_assert_ptr_nonnull(big);
  ck_assert_ptr_null(zone__free_held(big, a));
  zt_assert_check(a);
  zt_assert_check(b);
  destroy_zone(a);
  destroy_zone(b);
}
END_TEST

/* zone__free_known on p, which starts no live block of z: p handed back,
 * the zone as it was. */
static void assert_handed_back(zone_t *z, void *p, const char *what) {
  zt_snapshot_t before;
  zt_snapshot_take(z, &before);
  ck_assert_msg(zone__free_known(p, z) == p, "zone__free_known(%s) did not hand it back", what);
  zt_assert_unchanged(z, &before, what);
  zt_snapshot_free(&before);
}

/* zone__alloc_sized and zone__free_known (the shim's hot paths) place and
 * free as zalloc and zfree do; a size no extent holds fails with ENOMEM, a
 * full zone too; a pointer that starts no live block is handed back (inside
 * the extent: the short path; outside: the other), in a grown zone too. */
/* zone__block_size_known answers as zone_block_size does, on its short path
 * (a plain zone, a pointer inside its first extent) and off it: pointers
 * outside, misaligned, interior, freed; a zone of several extents; a zone
 * whose frees are deferred, where a free still waiting reads as done. */
START_TEST(block_size_known_as_zone_block_size) {
  zone_t *z = create_zone(1 << 17);
  ck_assert_ptr_nonnull(z);
  char *base = (char *)zt_base(z);
  char *blocks[40];
  for (int i = 0; i < 40; i++) {
    blocks[i] = zalloc(z, 1 + (size_t)i * 97);
    ck_assert_ptr_nonnull(blocks[i]);
  }
  for (int i = 0; i < 40; i += 3)
    ck_assert_int_eq(zfree(z, blocks[i]), 0);
  int local;
  for (int i = 0; i < 40; i++) {
    char *b = blocks[i];
    const void *probes[] = {b, b + 1, b + ZONE_G, b - ZONE_G, base - ZONE_G, base + (1 << 17),
                            &local};
    for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++)
      ZT_REQUIRE(zone__block_size_known(probes[k], z) == zone_block_size(z, probes[k]),
                 "block %d, probe %zu: %zu against %zu", i, k, zone__block_size_known(probes[k], z),
                 zone_block_size(z, probes[k]));
    ck_assert_uint_eq(zone__block_size_known(b, z), i % 3 == 0 ? 0 : ((size_t)i * 97 + 16) / 16 * 16);
  }
  destroy_zone(z);

  zone_t *g = create_zone_flags(1 << 12, ZONE_GROW);
  ck_assert_ptr_nonnull(g);
  char *small = zalloc(g, 100), *big = zalloc(g, 1 << 14);
  ck_assert_ptr_nonnull(big);
  ck_assert_uint_eq(zone__block_size_known(small, g), 112);
  ck_assert_uint_eq(zone__block_size_known(big, g), zone_block_size(g, big));
  ck_assert_uint_eq(zone__block_size_known(big + ZONE_G, g), 0);
  destroy_zone(g);

  zone_t *d = create_zone((size_t)1 << 20);
  ck_assert_ptr_nonnull(d);
  zone__defer_frees(d, true, 0);
  char *a = zalloc(d, 64), *b = zalloc(d, 64);
  ck_assert_ptr_null(zone__free_known(a, d));  /* waits */
  ck_assert_uint_eq(zone__block_size_known(a, d), 0);
  ck_assert_uint_eq(zone__block_size_known(b, d), 64);
  zt_assert_check(d);
  destroy_zone(d);
}
END_TEST

START_TEST(alloc_sized_and_free_known) {
  zone_t *z = create_zone(1 << 12);
  ck_assert_ptr_nonnull(z);
  char *base = (char *)zt_base(z);
  char *p = zone__alloc_sized(1, z), *q = zone__alloc_sized(100, z);
  ck_assert_ptr_eq(p, base);
  ck_assert_ptr_eq(q, base + ZONE_G);
  ck_assert_uint_eq(zone_block_size(z, q), 112);
  errno = 0;
  ck_assert_ptr_null(zone__alloc_sized(ZONE_ALLOC_SIZED_MAX, z));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(zone__alloc_sized(1 << 12, z));  /* no room left for it */
  ck_assert_int_eq(errno, ENOMEM);
  int local;
  assert_handed_back(z, q + ZONE_G, "an interior granule");
  assert_handed_back(z, q + 1, "a misaligned pointer");
  assert_handed_back(z, base + 1024, "free space");
  assert_handed_back(z, &local, "a stack pointer");
  ck_assert_ptr_null(zone__free_known(p, z));
  ck_assert_uint_eq(zone_block_size(z, p), 0);
  assert_handed_back(z, p, "a freed block");
  ck_assert_ptr_eq(zone__alloc_sized(16, z), base);  /* first fit takes it again */
  zt_assert_check(z);
  destroy_zone(z);

  zone_t *g = create_zone_flags(1 << 12, ZONE_GROW);
  ck_assert_ptr_nonnull(g);
  char *big = zone__alloc_sized(1 << 13, g);  /* more than the first extent: growth */
  ck_assert_ptr_nonnull(big);
  assert_handed_back(g, big + ZONE_G, "an interior granule of a grown zone's block");
  ck_assert_ptr_null(zone__free_known(big, g));
  assert_handed_back(g, big, "a grown zone's freed block");
  zt_assert_check(g);
  destroy_zone(g);
}
END_TEST

/* ---- what the bookkeeping costs ------------------------------------------------ */

/* What zones' bookkeeping takes of their bytes, the marks of returned pages
 * included and the zone's record counted by its pages in use: zones of a
 * power of two of chunks from 4 MiB (512 chunks) to 64 MiB (8192) under
 * 2.45%, fixed or growing, and zones one chunk past a power of two of them
 * from 16 MiB, whose tree has twice the leaves (8193 chunks make 16384), at
 * most 2.5%: the padding holds no memory and is not counted (with the
 * padding written and counted, 64 MiB and one chunk took 2.57% fixed, 32 MiB
 * and one chunk 2.62%, 128 MiB and one chunk 2.54%; with the record counted
 * whole, its 36 KB of extents mostly never used, 4 MiB took 3.22%). */
START_TEST(bookkeeping_share_of_large_zones) {
  static const struct {
    size_t bytes;
    unsigned flags;
    double limit;
  } cases[] = {
      {(size_t)4 << 20, 0, 2.45},
      {(size_t)4 << 20, ZONE_GROW, 2.45},
      {(size_t)8 << 20, 0, 2.45},
      {(size_t)16 << 20, 0, 2.45},
      {((size_t)16 << 20) + ZONE_CHUNK_BITS * G, 0, 2.50},
      {(size_t)64 << 20, 0, 2.40},
      {((size_t)64 << 20) + ZONE_CHUNK_BITS * G, 0, 2.45},
      {((size_t)32 << 20) + ZONE_CHUNK_BITS * G, 0, 2.45},
      {((size_t)128 << 20) + ZONE_CHUNK_BITS * G, 0, 2.40},
      {(size_t)64 << 20, ZONE_GROW, 2.40},
      {((size_t)64 << 20) + ZONE_CHUNK_BITS * G, ZONE_GROW, 2.50},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    zone_t *z = create_zone_flags(cases[i].bytes, cases[i].flags);
    ck_assert_ptr_nonnull(z);
    double share = 100.0 * (double)zone__bookkeeping_bytes(z) / (double)zone_size(z);
    ck_assert_msg(share <= cases[i].limit, "zone of %zu bytes: bookkeeping %.3f%% of it, over %.2f%%",
                  zone_size(z), share, cases[i].limit);
    char *p = zalloc(z, 100);  /* the index works at that size: a block at each end */
    ck_assert_ptr_eq(p, (char *)zt_base(z));
    char *last = zalloc(z, zone_size(z) - 112);
    ck_assert_ptr_eq(last, p + 112);
    zt_assert_check(z);
    destroy_zone(z);
  }
}
END_TEST

/* No page of the tree's padding (each inner level past its real prefix and
 * the one node a reader may pass to, the leaves past the last chunk's and
 * the next) holds memory. */
static void tree_padding_untouched(const zone_t *z) {
  for (size_t k = 0; k < z->nextents; k++) {
    const zone__index_t *ix = &z->extents[k].idx;
    const zone__tree_t *t = &ix->tree;
    size_t nchunks = zone__chunks_of(ix->nwords);
    for (size_t n = 1; n < t->leaves; n *= 2) {
      size_t from = n + zone__tree_level_real(n, t->leaves, nchunks) + 1;
      if (from < 2 * n)
        ZT_REQUIRE(zt_resident_pages((uintptr_t)&t->node[from], (uintptr_t)&t->node[2 * n]) == 0,
                   "extent %zu: the padding of the tree's level of %zu nodes holds memory", k, n);
    }
    if (nchunks + 1 < t->leaves)
      ZT_REQUIRE(zt_resident_pages((uintptr_t)&t->chunk[nchunks + 1], (uintptr_t)&t->chunk[t->leaves]) == 0,
                 "extent %zu: the tree's padding leaves hold memory", k);
  }
}

/* Blocks of every size class taken and given all over a zone, large ones
 * through the tree's search. */
static void tree_exercised(zone_t *z, size_t live) {
  void **p = calloc(live, sizeof *p);
  ck_assert_ptr_nonnull(p);
  zt_rng_t rng;
  zt_rng_seed(&rng, 7);
  for (size_t step = 0; step < 8 * live; step++) {
    size_t i = zt_rng_below(&rng, live);
    size_t bytes = zt_rng_below(&rng, 8) == 0 ? 4096 + zt_rng_below(&rng, 65536) : 16 + zt_rng_below(&rng, 1000);
    zfree(z, p[i]);
    p[i] = zalloc(z, bytes);
  }
  for (size_t i = 0; i < live; i++)
    zfree(z, p[i]);
  free(p);
}

START_TEST(tree_padding_holds_no_memory) {
  /* fixed zones one chunk past a power of two of them, and a growing one
   * whose leaves double as it grows, awake and asleep (a search wakes it) */
  zone_t *fixed = create_zone(((size_t)64 << 20) + ZONE_CHUNK_BITS * G);
  ck_assert_ptr_nonnull(fixed);
  tree_padding_untouched(fixed);
  tree_exercised(fixed, 2000);
  tree_padding_untouched(fixed);
  zt_assert_check(fixed);
  destroy_zone(fixed);

  zone_t *z = create_zone_flags((size_t)40 << 20, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  size_t leaves = z->extents[0].idx.tree.leaves;
  tree_exercised(z, 2000);
  void *big[4];
  for (size_t i = 0; i < 4; i++)  /* 40 -> 80 MiB and more: the leaves double */
    ck_assert_ptr_nonnull(big[i] = zalloc(z, (size_t)12 << 20));
  ck_assert_uint_gt(z->extents[0].idx.tree.leaves, leaves);
  tree_padding_untouched(z);
  tree_exercised(z, 2000);
  for (size_t i = 0; i < 4; i++)
    zfree(z, big[i]);
  tree_padding_untouched(z);
  zt_assert_check(z);
  destroy_zone(z);

  /* filled with one-word blocks, nothing read from the tree: it sleeps when
   * the zone grows and its leaves double, and wakes at a large request */
  z = create_zone_flags((size_t)40 << 20, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  leaves = z->extents[0].idx.tree.leaves;
  bool slept_through = false;
  while (z->extents[0].idx.tree.leaves == leaves) {
    ck_assert_ptr_nonnull(zalloc(z, 64 * G));
    slept_through = z->extents[0].idx.tree.asleep;
  }
  ck_assert_msg(slept_through, "the tree was awake when the zone grew");
  tree_padding_untouched(z);
  ck_assert_ptr_nonnull(zalloc(z, (size_t)1 << 20));  /* the tree wakes */
  ck_assert(!z->extents[0].idx.tree.asleep);
  tree_padding_untouched(z);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* ---- growth in place within the bookkeeping's room, and past it ---------------- */

/* A live block of the tests below: where, its bytes, its pattern's tag. */
typedef struct grown_block {
  char *p;
  size_t n;
  uint64_t tag;
} grown_block_t;

/* The zone checks out and every live block holds its pattern. */
static void zone_intact(zone_t *z, const grown_block_t *b, size_t count) {
  zt_assert_check(z);
  for (size_t i = 0; i < count; i++)
    ZT_REQUIRE(zt_verify(b[i].p, b[i].n, b[i].tag), "block %zu at %p (%zu bytes) changed", i, (void *)b[i].p,
               b[i].n);
}

/* Writes a new block's pattern and keeps it as live block *count of b[max]. */
static void block_keep(grown_block_t *b, size_t *count, size_t max, char *p, size_t n, uint64_t tag) {
  ck_assert_uint_lt(*count, max);
  b[*count] = (grown_block_t){p, n, tag};
  zt_fill(p, n, tag);
  (*count)++;
}

/* At ZONE_DEBUG 3 the core checks itself after every change, and the check
 * reads the tree (wakes it): there it never sleeps, nor has changes pending. */
#if ZONE_DEBUG >= 3
#define assert_tree_asleep(t) ck_assert(!(t)->asleep)
#define assert_tree_pending(t) ck_assert_uint_eq((t)->ndirty, 0)
#else
#define assert_tree_asleep(t) ck_assert((t)->asleep)
#define assert_tree_pending(t) ck_assert_uint_gt((t)->ndirty, 0)
#endif

/* Blocks of mixed sizes (small ones for the reach index, large ones for the
 * tree), every third allocation followed by a random free, until the zone
 * has grown well past its bookkeeping's room (given here from the first
 * size on: zone__book_room_from). Each block goes where first fit puts it:
 * the lowest fit when there is one (no growth), else the lowest fit of the
 * grown zone (it spans the old end when the free run there is part of it).
 * A growth within the room leaves the bookkeeping where it was (nothing
 * copied), the one past it moves it to a book with room again; after each
 * the zone checks out and every block holds what was written. */
START_TEST(grows_within_room_and_past_it) {
  if (zone__os_space_limited())
    return;  /* no room under an RLIMIT_AS: grows_without_room_for_bookkeeping */
  zone__book_room_from(0);
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  zone__index_t *ix = &z->extents[0].idx;
  ck_assert_uint_ge(ix->cap_words, 64 * ix->nwords);  /* room */
  void *book = ix->book;
  size_t cap = ix->cap_words, in_place = 0, moves = 0;
  enum { MAX_BLOCKS = 8192 };
  static grown_block_t b[MAX_BLOCKS];
  size_t count = 0;
  zt_rng_t rng;
  zt_rng_seed(&rng, zt_seed());
  for (size_t k = 0; moves == 0 || zone_size(z) < ((size_t)2 << 20); k++) {
    size_t kind = zt_rng_below(&rng, 20);
    size_t n = kind < 16 ? 16 + zt_rng_below(&rng, 500) : kind < 19 ? 1025 + zt_rng_below(&rng, 3000)
                                                                     : 4097 + zt_rng_below(&rng, 16000);
    size_t rounded = (n + ZONE_G - 1) / ZONE_G * ZONE_G, before = zone_size(z);
    uintptr_t want = lowest_fit(z, rounded);
    char *p = zalloc(z, n);
    ck_assert_ptr_nonnull(p);
    if (want != 0) {
      ZT_REQUIRE((uintptr_t)p == want, "block %zu of %zu bytes at %p, the lowest fit is %#lx", k, n, (void *)p,
                 (unsigned long)want);
      ck_assert_uint_eq(zone_size(z), before);
    } else {
      ck_assert_uint_gt(zone_size(z), before);
      ck_assert_uint_eq(z->nextents, 1);
      if (ix->book == book) {
        ck_assert_uint_eq(ix->cap_words, cap);
        in_place++;
      } else {
        ck_assert_uint_gt(ix->cap_words, cap);
        ck_assert_uint_ge(ix->cap_words, 64 * ix->nwords - 64);
        book = ix->book;
        cap = ix->cap_words;
        moves++;
      }
      ck_assert_int_eq(zfree(z, p), 0);
      ck_assert_uint_eq(lowest_fit(z, rounded), (uintptr_t)p);
      ck_assert_ptr_eq(zalloc(z, n), p);
      zone_intact(z, b, count);
    }
    block_keep(b, &count, MAX_BLOCKS, p, n, k);
    if (k % 3 == 2) {
      size_t victim = zt_rng_below(&rng, count);
      ck_assert_int_eq(zfree(z, b[victim].p), 0);
      b[victim] = b[--count];
    }
  }
  /* 4 KiB + 64 KiB, + 68, then 272 KiB is past the room (64 times 4 KiB);
   * the move's room, 64 times 272 KiB, holds the rest */
  ck_assert_uint_ge(in_place, 4);
  ck_assert_uint_eq(moves, 1);
  zone_intact(z, b, count);
  destroy_zone(z);
  zone__book_room_from(ZONE_BOOK_ROOM_FROM);
}
END_TEST

/* Room comes with size: an extent below ZONE_BOOK_ROOM_FROM keeps its
 * bookkeeping packed for its size (each growth moves it), and the growth
 * that takes it to that size moves it to a book with room for 64 times as
 * much, where the next growth leaves it. Each block lands right after the
 * last, and what was written stays. */
START_TEST(room_from_a_size_on) {
  if (zone__os_space_limited())
    return;
  size_t quarter = ZONE_BOOK_ROOM_FROM / 4;
  zone_t *z = create_zone_flags(quarter, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  zone__index_t *ix = &z->extents[0].idx;
  ck_assert_uint_eq(ix->cap_words, ix->nwords);
  char *a = zalloc(z, quarter);
  ck_assert_ptr_nonnull(a);
  zt_fill(a, 4096, 1);
  char *b = zalloc(z, quarter);  /* a half: a move, no room yet */
  ck_assert_ptr_eq(b, a + quarter);
  ck_assert_uint_eq(zone_size(z), 2 * quarter);
  ck_assert_uint_eq(ix->cap_words, ix->nwords);
  zt_fill(b, 4096, 2);
  char *c = zalloc(z, 2 * quarter);  /* ZONE_BOOK_ROOM_FROM: a move to room */
  ck_assert_ptr_eq(c, b + quarter);
  ck_assert_uint_eq(z->nextents, 1);
  ck_assert_uint_eq(ix->cap_words, 64 * ix->nwords);
  void *book = ix->book;
  zt_fill(c, 4096, 3);
  char *d = zalloc(z, zone_size(z));  /* in place */
  ck_assert_ptr_eq(d, c + 2 * quarter);
  ck_assert_ptr_eq(ix->book, book);
  ck_assert_uint_eq(ix->cap_words, 64 * ZONE_BOOK_ROOM_FROM / ZONE_G / 64);
  ck_assert(zt_verify(a, 4096, 1) && zt_verify(b, 4096, 2) && zt_verify(c, 4096, 3));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A zone of `words` one-word blocks (64 granules each), full. */
static char *one_word_blocks(zone_t *z, size_t words) {
  char *base = NULL;
  for (size_t i = 0; i < words; i++) {
    char *p = zalloc(z, 64 * ZONE_G);
    ck_assert_ptr_nonnull(p);
    if (i == 0)
      base = p;
    ck_assert_ptr_eq(p, base + i * 64 * ZONE_G);
  }
  ck_assert_uint_eq(zone_size(z), words * 64 * ZONE_G);
  return base;
}

/* A growth while the summary tree sleeps (small blocks changed all over the
 * zone and no large request since): the new chunks are marked stale with the
 * old ones, and the request that wakes the tree finds the lowest fit over old
 * and new memory alike. */
START_TEST(grows_while_tree_sleeps) {
  size_t words = 1024, word = 64 * ZONE_G;  /* 1 MiB: 128 chunks */
  zone_t *z = create_zone_flags(words * word, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  char *base = one_word_blocks(z, words);
  zone__tree_t *t = &z->extents[0].idx.tree;
  /* a block of each of 80 chunks freed and taken again: more chunks walked
   * unread than the tree's leaves over 8 */
  for (size_t c = 0; c < 80; c++) {
    char *p = base + c * ZONE_CHUNK_WORDS * word;
    ck_assert_int_eq(zfree(z, p), 0);
    ck_assert_ptr_eq(zalloc(z, word), p);
  }
  assert_tree_asleep(t);
  /* holes while it sleeps: one word at word 100, three at word 500 */
  ck_assert_int_eq(zfree(z, base + 100 * word), 0);
  for (size_t w = 500; w < 503; w++)
    ck_assert_int_eq(zfree(z, base + w * word), 0);
  assert_tree_asleep(t);
  char *grown = zalloc(z, 5 * word);  /* nothing fits: growth, then the tree's search */
  ck_assert_ptr_eq(grown, base + words * word);
  ck_assert_uint_eq(z->nextents, 1);
  zt_fill(grown, 5 * word, 1);
  ck_assert_ptr_eq(zalloc(z, 2 * word + 16), base + 500 * word);  /* the tree again */
  ck_assert_ptr_eq(zalloc(z, word), base + 100 * word);
  ck_assert_ptr_eq(zalloc(z, word), grown + 5 * word);
  ck_assert(zt_verify(grown, 5 * word, 1));
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* A growth with changes still waiting for the tree (chunks on its dirty
 * list): they stay listed, and the next search walks them into a tree that
 * grew meanwhile. */
START_TEST(grows_with_changes_pending) {
  size_t words = 64, word = 64 * ZONE_G;  /* 64 KiB: 8 chunks */
  zone_t *z = create_zone_flags(words * word, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  char *base = one_word_blocks(z, words);
  zone__tree_t *t = &z->extents[0].idx.tree;
  ck_assert_ptr_eq(zalloc(z, 2 * word), base + words * word);  /* grows; the tree read */
  ck_assert_int_eq(zfree(z, base + words * word), 0);
  for (size_t w = 20; w < 22; w++)  /* a hole of two words in chunk 2 */
    ck_assert_int_eq(zfree(z, base + w * word), 0);
  ck_assert_int_eq(zfree(z, base + 3 * word), 0);  /* and one word in chunk 0 */
  assert_tree_pending(t);
  size_t size = zone_size(z);
  char *big = zalloc(z, size);  /* nothing fits: growth with the list pending */
  ck_assert_ptr_eq(big, base + words * word);  /* the free run at the old end on */
  ck_assert_uint_gt(zone_size(z), size);
  ck_assert_ptr_eq(zalloc(z, word + 16), base + 20 * word);  /* the tree, flushed */
  ck_assert_ptr_eq(zalloc(z, word), base + 3 * word);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Under an address-space limit (RLIMIT_AS) no extent's bookkeeping gets
 * room, whatever its size: each growth moves it, as small as the size. The
 * zone still grows in place while its reservation lasts, every block where
 * first fit puts it and intact, and it checks out. Not under valgrind (see
 * grows_without_reservation). */
START_TEST(grows_without_room_for_bookkeeping) {
  if (zt_under_valgrind())
    return;
  size_t bytes = ZONE_BOOK_ROOM_FROM;
  struct rlimit old;
  limit_address_space(bytes + ((size_t)8 << 20), &old);
  ck_assert(zone__os_space_limited());
  zone_t *z = create_zone_flags(bytes, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  zone__index_t *ix = &z->extents[0].idx;
  ck_assert_uint_eq(ix->cap_words, ix->nwords);  /* no room */
  enum { MAX_BLOCKS = 1024 };
  static grown_block_t b[MAX_BLOCKS];
  size_t count = 0, block = (size_t)256 << 10, growths = 0;
  for (;;) {
    size_t before = zone_size(z);
    uintptr_t want = lowest_fit(z, block);
    char *p = zalloc(z, block);
    if (p == NULL)
      break;
    if (want != 0) {
      ck_assert_ptr_eq(p, (void *)want);
    } else {
      ck_assert_uint_gt(zone_size(z), before);
      if (z->nextents == 1) {  /* in place: the book moved, with no room */
        ck_assert_ptr_eq(p, (char *)z->extents[0].base + before);
        ck_assert_uint_eq(ix->cap_words, ix->nwords);
      }
      growths++;
      zone_intact(z, b, count);
    }
    block_keep(b, &count, MAX_BLOCKS, p, block, count);
  }
  ck_assert_uint_ge(growths, 2);
  ck_assert_uint_ge(count * block, bytes + ((size_t)1 << 20));
  zone_intact(z, b, count);
  destroy_zone(z);
  setrlimit(RLIMIT_AS, &old);
}
END_TEST

/* The book's own fallback: asked for more room than the address space left
 * allows, an index is laid out for its size alone, and so is the book each
 * growth past it moves to; blocks taken before stay blocks, and the index
 * checks out. Not under valgrind (see grows_without_reservation). */
START_TEST(book_without_the_room_asked) {
  if (zt_under_valgrind())
    return;
  struct rlimit old;
  limit_address_space((size_t)16 << 20, &old);  /* the room asked needs 800 MiB */
  zone__index_t ix;
  size_t ngran = (size_t)1 << 16;
  ck_assert_int_eq(zone__index_init(&ix, ngran, ZONE_EXTENT_MAX_GRANULES), 0);
  ck_assert_uint_eq(ix.cap_words, ngran / 64);
  for (size_t g = 0; g < ngran; g += 1000)
    zone__index_take(&ix, g, 100);
  size_t used, blocks;
  ck_assert_int_eq(zone__index_check(&ix, 0x10000, &used, &blocks), 0);
  for (int k = 0; k < 3; k++) {
    ck_assert_int_eq(zone__index_extend(&ix, 2 * ix.ngran, ZONE_EXTENT_MAX_GRANULES), 0);
    ck_assert_uint_eq(ix.cap_words, ix.nwords);
    ck_assert_int_eq(zone__index_check(&ix, 0x10000, &used, &blocks), 0);
    ck_assert_uint_eq(blocks, (ngran + 999) / 1000);
    ck_assert_uint_eq(used, blocks * 100);
    for (size_t g = 0; g < ngran; g += 1000)
      ck_assert_uint_eq(zone__index_block_len(&ix, g), 100);
    /* the new granules are free: the run after the last block goes on */
    ck_assert_uint_eq(zone__index_fit(&ix, 1000, 0), (ngran - 1) / 1000 * 1000 + 100);
    ck_assert_uint_eq(zone__index_free_run(&ix, ngran), ix.ngran - ngran);
  }
  zone__index_fini(&ix);
  setrlimit(RLIMIT_AS, &old);
}
END_TEST

/* Whether the mapping that holds address a has asked for huge pages (its
 * VmFlags in /proc/self/smaps say "hg"); -1 when it can't be told. */
static int huge_hinted(const void *a) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (f == NULL)
    return -1;
  char line[512];
  bool inside = false;
  int hinted = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = (uintptr_t)a >= lo && (uintptr_t)a < hi;
    } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
      hinted = strstr(line, " hg") != NULL;
      break;
    }
  }
  fclose(f);
  return hinted;
}

/* A growth within the book's room asks for huge pages over the words the
 * zone had before it, not over the new ones: a first touch of an untouched
 * huge-page range can wait for the kernel to compact memory, and the new
 * words are first touched by the calls after the growth. */
START_TEST(growth_hints_huge_pages_behind_it) {
  if (zt_under_valgrind() || zone__os_space_limited())
    return;
  zone_t *z = create_zone_flags((size_t)256 << 20, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  char *big = zalloc(z, ((size_t)256 << 20) - 4096);  /* fills the zone */
  ck_assert_ptr_nonnull(big);
  zone__index_t *ix = &z->extents[0].idx;
  size_t old_words = ix->nwords;
  char *more = zalloc(z, (size_t)1 << 20);  /* grows it in place */
  ck_assert_ptr_nonnull(more);
  ck_assert_uint_eq(z->nextents, 1);
  ck_assert_uint_gt(ix->nwords, old_words);
  int old_hinted = huge_hinted(&ix->used[0]);
  if (old_hinted != 1)  /* no huge pages here (or no smaps): nothing to tell */
    return;
  ck_assert_int_eq(huge_hinted(&ix->used[ix->nwords - 1]), 0);
  ck_assert_int_eq(huge_hinted(&ix->end[ix->nwords - 1]), 0);
  ck_assert_int_eq(huge_hinted(&ix->used[old_words - 1]), 1);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

int main(void) {
  Suite *s = suite_create("grow");
  ZT_CASE(s, grows_when_full);
  ZT_CASE(s, grows_for_large_request);
  ZT_CASE(s, grows_many_times);
  ZT_CASE(s, first_fit_across_extents);
  ZT_CASE(s, grows_upward);
  ZT_CASE(s, grows_without_reservation);
  ZT_CASE(s, never_grows_without_flag);
  ZT_CASE(s, system_refuses_growth);
  ZT_CASE(s, growth_fails_at_each_mapping);
  ZT_CASE(s, grows_in_place);
  ZT_CASE(s, growth_step_is_bounded);
  ZT_CASE(s, new_extent_still_doubles);
  ZT_CASE(s, small_zone_grows_in_place_to_4_mib);
  ZT_CASE(s, grows_in_place_from_odd_size);
  ZT_CASE(s, trim_marks_survive_growth);
  ZT_CASE(s, create_when_system_refuses);
  ZT_CASE(s, reset_grown_zone);
  ZT_CASE(s, trim_gives_back_free_pages_only);
  ZT_CASE(s, free_held_only_inside_span);
  ZT_CASE(s, block_size_known_as_zone_block_size);
  ZT_CASE(s, alloc_sized_and_free_known);
  ZT_CASE(s, bookkeeping_share_of_large_zones);
  ZT_CASE(s, tree_padding_holds_no_memory);
  ZT_CASE(s, grows_within_room_and_past_it);
  ZT_CASE(s, room_from_a_size_on);
  ZT_CASE(s, grows_while_tree_sleeps);
  ZT_CASE(s, grows_with_changes_pending);
  ZT_CASE(s, grows_without_room_for_bookkeeping);
  ZT_CASE(s, book_without_the_room_asked);
  ZT_CASE(s, growth_hints_huge_pages_behind_it);
  return zt_main(s);
}
