/*
 * edge.c - the malloc family's edge cases, one Check test per behaviour, as
 * glibc documents and its own test suite checks them (malloc(0), alignment,
 * overflow, too-large requests, realloc's corner cases, the aligned calls,
 * errno, introspection, memory return). ctest runs every case twice: on the
 * shim (zone.shim.<case>) and on glibc (zone.shim_glibc.<case>), so a case
 * that glibc fails is a wrong test, not a shim bug. What only the shim
 * promises lives in edge_shim.c.
 */
#define ZONE_SHIM_TEST_CHECK
#include "shim_test.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>

static const size_t huge_sizes[] = {
  SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, (size_t)PTRDIFF_MAX + 1,
  (size_t)PTRDIFF_MAX + 4096,
};
#define N_HUGE (sizeof huge_sizes / sizeof huge_sizes[0])

static bool aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* ---- malloc --------------------------------------------------------------------- */

START_TEST(malloc_zero) {
  void *p[64];
  for (int i = 0; i < 64; i++) {
    p[i] = malloc(0);
    ck_assert_ptr_nonnull(p[i]);
    ck_assert(aligned(p[i], 16));
    for (int j = 0; j < i; j++)
      ck_assert_ptr_ne(p[i], p[j]);
  }
  for (int i = 0; i < 64; i++)
    free(p[i]);
}
END_TEST

START_TEST(malloc_alignment) {
  /* Every block starts on 16 bytes whatever its size (tst-mallocalign1). */
  void *keep[300];
  size_t n = 0;
  for (size_t size = 0; size < 4200; size += 7) {
    void *p = malloc(size);
    ck_assert_ptr_nonnull(p);
    ck_assert_msg(aligned(p, 16), "malloc(%zu) = %p", size, p);
    memset(p, 0x5a, size);
    if (n < 300)
      keep[n++] = p;
    else
      free(p);
  }
  for (size_t size = 1; size <= ((size_t)1 << 24); size <<= 1) {
    void *p = malloc(size + 3);
    ck_assert(aligned(p, 16));
    free(p);
  }
  for (size_t i = 0; i < n; i++)
    free(keep[i]);
}
END_TEST

START_TEST(malloc_too_large) {
  for (size_t i = 0; i < N_HUGE; i++) {
    errno = 0;
    ck_assert_ptr_null(malloc(huge_sizes[i]));
    ck_assert_int_eq(errno, ENOMEM);
  }
  errno = 0;
  ck_assert_ptr_null(malloc((size_t)PTRDIFF_MAX));
  ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

/* ---- calloc --------------------------------------------------------------------- */

START_TEST(calloc_overflow) {
  const size_t pairs[][2] = {
    {SIZE_MAX, 2}, {2, SIZE_MAX}, {SIZE_MAX / 2 + 1, 2}, {(size_t)1 << 32, (size_t)1 << 32},
    {SIZE_MAX, SIZE_MAX}, {(size_t)PTRDIFF_MAX / 2 + 1, 2}, {(size_t)PTRDIFF_MAX, 1},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    errno = 0;
    ck_assert_ptr_null(calloc(pairs[i][0], pairs[i][1]));
    ck_assert_int_eq(errno, ENOMEM);
  }
}
END_TEST

START_TEST(calloc_zero_sizes) {
  void *a = calloc(0, 16), *b = calloc(16, 0), *c = calloc(0, 0);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_ptr_nonnull(c);
  ck_assert(a != b && b != c && a != c);
  free(a);
  free(b);
  free(c);
}
END_TEST

START_TEST(calloc_zeroed_after_reuse) {
  /* Dirty memory comes back zeroed: fill, free, calloc the same sizes. */
  enum { N = 500 };
  void *p[N];
  size_t sizes[N];
  unsigned seed = 7;
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < N; i++) {
      sizes[i] = (size_t)(rand_r(&seed) % 3000) + (i % 50 == 0 ? 200000 : 0);
      p[i] = malloc(sizes[i]);
      ck_assert_ptr_nonnull(p[i]);
      memset(p[i], 0xa5, sizes[i]);
    }
    for (int i = 0; i < N; i++)
      free(p[i]);
    for (int i = 0; i < N; i++) {
      unsigned char *q = calloc(1, sizes[i]);
      ck_assert_ptr_nonnull(q);
      size_t k = 0;  /* one assertion per block: Check's are slow in a loop */
      while (k < sizes[i] && q[k] == 0)
        k++;
      ck_assert_msg(k == sizes[i], "calloc(%zu) byte %zu is %#x", sizes[i], k, q[k]);
      p[i] = q;
    }
    for (int i = 0; i < N; i++)
      free(p[i]);
  }
}
END_TEST

START_TEST(calloc_zeroed_after_realloc) {
  /* A block grown in place by realloc, written, freed: calloc over the same
   * bytes still reads zero (an allocator that knows untouched memory is zero
   * must count realloc's growth as touched). Half the rounds start from a
   * block on a 1 MiB boundary, which lands in untouched memory. */
  unsigned seed = 11;
  for (int round = 0; round < 2000; round++) {
    size_t small = (size_t)(rand_r(&seed) % 64) + 1, big = (size_t)(rand_r(&seed) % 8192) + 64;
    char *p = round % 2 ? malloc(small) : aligned_alloc((size_t)1 << 20, small);
    ck_assert_ptr_nonnull(p);
    char *q = realloc(p, big);
    ck_assert_ptr_nonnull(q);
    memset(q, 0x6d, big);
    free(q);
    unsigned char *r = calloc(1, big);
    ck_assert_ptr_nonnull(r);
    size_t k = 0;
    while (k < big && r[k] == 0)
      k++;
    ck_assert_msg(k == big, "round %d: calloc(%zu) byte %zu is %#x", round, big, k, r[k]);
    if (round % 3 != 0)
      free(r);  /* keep some, so that the next rounds move up */
  }
}
END_TEST

/* ---- realloc ---------------------------------------------------------------------- */

START_TEST(realloc_null_zero_is_live) {
  /* grep says "memory exhausted" when realloc(NULL, 0) returns NULL. */
  void *p = realloc(NULL, 0);
  ck_assert_ptr_nonnull(p);
  ck_assert(aligned(p, 16));
  free(p);
}
END_TEST

START_TEST(realloc_zero_frees) {
  void *p = malloc(100);
  ck_assert_ptr_nonnull(p);
  errno = 0;
  ck_assert_ptr_null(realloc(p, 0));
  /* p is gone: a fresh block of its size may reuse it, and nothing leaks. */
  void *q = malloc(100);
  ck_assert_ptr_nonnull(q);
  free(q);
}
END_TEST

START_TEST(realloc_keeps_contents) {
  unsigned char *p = NULL;
  size_t have = 0;
  const size_t steps[] = {1, 17, 100, 4000, 70000, 3, 1 << 20, 5000, 15, 300000, 64};
  for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
    size_t want = steps[s];
    unsigned char *q = realloc(p, want);
    ck_assert_ptr_nonnull(q);
    ck_assert(aligned(q, 16));
    size_t keep = have < want ? have : want;
    size_t k = 0;
    while (k < keep && q[k] == (unsigned char)(k * 7 + 1))
      k++;
    ck_assert_msg(k == keep, "byte %zu lost resizing to %zu", k, want);
    for (k = 0; k < want; k++)
      q[k] = (unsigned char)(k * 7 + 1);
    p = q;
    have = want;
  }
  free(p);
}
END_TEST

START_TEST(realloc_failure_keeps_block) {
  char *p = malloc(64);
  ck_assert_ptr_nonnull(p);
  memset(p, 'z', 64);
  for (size_t i = 0; i < N_HUGE; i++) {
    errno = 0;
    ck_assert_ptr_null(realloc(p, huge_sizes[i]));
    ck_assert_int_eq(errno, ENOMEM);
  }
  errno = 0;
  ck_assert_ptr_null(realloc(p, (size_t)PTRDIFF_MAX));
  ck_assert_int_eq(errno, ENOMEM);
  for (int k = 0; k < 64; k++)
    ck_assert_int_eq(p[k], 'z');
  p = realloc(p, 128);  /* still a live block */
  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(p[63], 'z');
  free(p);
}
END_TEST

START_TEST(reallocarray_overflow) {
  int *p = reallocarray(NULL, 10, sizeof(int));
  ck_assert_ptr_nonnull(p);
  for (int i = 0; i < 10; i++)
    p[i] = i;
  errno = 0;
  ck_assert_ptr_null(reallocarray(p, SIZE_MAX / 2, sizeof(int)));
  ck_assert_int_eq(errno, ENOMEM);
  errno = 0;
  ck_assert_ptr_null(reallocarray(p, (size_t)PTRDIFF_MAX / 2 + 1, 2));
  ck_assert_int_eq(errno, ENOMEM);
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(p[i], i);
  p = reallocarray(p, 1000, sizeof(int));
  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(p[9], 9);
  free(p);
}
END_TEST

/* ---- aligned allocation -------------------------------------------------------------- */

START_TEST(memalign_powers_of_two) {
  for (size_t a = 1; a <= ((size_t)1 << 21); a <<= 1) {
    for (size_t size = 0; size < 3 * a + 40; size += a / 2 + 13) {
      void *p = memalign(a, size);
      ck_assert_ptr_nonnull(p);
      ck_assert_msg(aligned(p, a), "memalign(%zu, %zu) = %p", a, size, p);
      ck_assert_uint_ge(malloc_usable_size(p), size);
      memset(p, 1, size);
      free(p);
      if (size >= 4 * 4096)
        break;
    }
    void *q = aligned_alloc(a, 4 * a);
    ck_assert_ptr_nonnull(q);
    ck_assert(aligned(q, a));
    free(q);
  }
}
END_TEST

START_TEST(memalign_bad_alignment) {
  errno = 0;
  ck_assert_ptr_null(memalign(SIZE_MAX / 2 + 2, 16));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(memalign(SIZE_MAX, 16));
  ck_assert_int_eq(errno, EINVAL);
  /* glibc 2.36 rounds an alignment that is no power of two up to the next one;
   * later versions refuse it in aligned_alloc. Either way no misaligned block. */
  for (size_t a = 3; a < 5000; a += 97) {
    errno = 0;
    void *p = aligned_alloc(a, 64);
    if (p == NULL) {
      ck_assert_int_eq(errno, EINVAL);
      continue;
    }
    size_t next = 1;
    while (next < a)
      next <<= 1;
    ck_assert_msg(aligned(p, next), "aligned_alloc(%zu) = %p", a, p);
    free(p);
  }
}
END_TEST

START_TEST(memalign_too_large) {
  for (size_t i = 0; i < N_HUGE; i++) {
    errno = 0;
    ck_assert_ptr_null(memalign(64, huge_sizes[i]));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(aligned_alloc(4096, huge_sizes[i]));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(valloc(huge_sizes[i]));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(pvalloc(huge_sizes[i]));
    ck_assert_int_eq(errno, ENOMEM);
  }
}
END_TEST

START_TEST(posix_memalign_einval) {
  const size_t bad[] = {0, 1, 2, 3, 4, 6, 12, 24, 48, 4097, SIZE_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    void *out = (void *)0x1234;
    errno = 4321;
    ck_assert_int_eq(posix_memalign(&out, bad[i], 32), EINVAL);
    ck_assert_int_eq(errno, 4321);           /* errno untouched */
    ck_assert_ptr_eq(out, (void *)0x1234);  /* output untouched */
  }
}
END_TEST

START_TEST(posix_memalign_enomem) {
  /* glibc 2.36 sets errno here (POSIX says nothing about it); the shim keeps
   * it, which edge_shim.c checks. */
  for (size_t i = 0; i < N_HUGE; i++) {
    void *out = (void *)0x1234;
    ck_assert_int_eq(posix_memalign(&out, 256, huge_sizes[i]), ENOMEM);
    ck_assert_ptr_eq(out, (void *)0x1234);
  }
}
END_TEST

START_TEST(posix_memalign_works) {
  for (size_t a = sizeof(void *); a <= ((size_t)1 << 16); a <<= 1) {
    void *out = NULL;
    errno = 4321;
    ck_assert_int_eq(posix_memalign(&out, a, 3 * a + 1), 0);
    ck_assert_int_eq(errno, 4321);
    ck_assert_ptr_nonnull(out);
    ck_assert(aligned(out, a));
    free(out);
  }
  void *zero = NULL;
  ck_assert_int_eq(posix_memalign(&zero, 64, 0), 0);
  free(zero);
}
END_TEST

START_TEST(valloc_page_aligned) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 100000, 1 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void *p = valloc(sizes[i]);
    ck_assert_ptr_nonnull(p);
    ck_assert(aligned(p, page));
    ck_assert_uint_ge(malloc_usable_size(p), sizes[i]);
    memset(p, 3, sizes[i]);
    free(p);
  }
}
END_TEST

START_TEST(pvalloc_whole_pages) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t sizes[] = {1, 10, 4095, 4096, 4097, 3 * 4096 + 5, 100000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void *p = pvalloc(sizes[i]);
    ck_assert_ptr_nonnull(p);
    ck_assert(aligned(p, page));
    size_t rounded = (sizes[i] + page - 1) / page * page;
    ck_assert_uint_ge(malloc_usable_size(p), rounded);
    memset(p, 4, rounded);  /* the whole rounded size is ours */
    free(p);                /* jemalloc's free(pvalloc(10)) crash */
  }
  void *z = pvalloc(0);
  ck_assert_ptr_nonnull(z);
  ck_assert(aligned(z, page));
  free(z);
}
END_TEST

/* ---- free and sizes --------------------------------------------------------------------- */

START_TEST(free_keeps_errno) {
  /* tst-free-errno: free never changes errno, big blocks included. */
  const size_t sizes[] = {1, 100, 5000, 200000, (size_t)64 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    char *p = malloc(sizes[i]);
    ck_assert_ptr_nonnull(p);
    memset(p, 1, sizes[i]);
    errno = 1789;
    free(p);
    ck_assert_int_eq(errno, 1789);
  }
  errno = 1790;
  free(NULL);
  ck_assert_int_eq(errno, 1790);
  /* Many large frees in a row, so that memory return has to run. */
  void *q[80];
  for (int i = 0; i < 80; i++) {
    q[i] = malloc((size_t)1 << 20);
    memset(q[i], 2, (size_t)1 << 20);
  }
  for (int i = 0; i < 80; i++) {
    errno = 1791;
    free(q[i]);
    ck_assert_int_eq(errno, 1791);
  }
}
END_TEST

START_TEST(usable_size) {
  ck_assert_uint_eq(malloc_usable_size(NULL), 0);
  for (size_t n = 0; n < 5000; n += 11) {
    char *p = malloc(n);
    size_t u = malloc_usable_size(p);
    ck_assert_uint_ge(u, n);
    memset(p, 9, u);  /* the usable size is really usable */
    free(p);
  }
}
END_TEST

/* ---- introspection -------------------------------------------------------------------- */

START_TEST(introspection_calls) {
  void *p = malloc(1000);
  struct mallinfo2 mi = mallinfo2();
  ck_assert_uint_ge(mi.uordblks + mi.hblkhd, 1000);
  ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, 256 << 10), 1);
  ck_assert_int_eq(mallopt(M_MXFAST, 100000), 0);

  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  ck_assert_int_eq(malloc_info(0, mem), 0);
  fclose(mem);
  ck_assert_ptr_nonnull(strstr(text, "<malloc version="));
  ck_assert_ptr_nonnull(strstr(text, "</malloc>"));
  free(text);
  ck_assert_int_eq(malloc_info(1, stdout), EINVAL);  /* glibc's code, not its manual */

  /* malloc_stats writes to stderr: catch it in a pipe. */
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  int saved = dup(STDERR_FILENO);
  dup2(fds[1], STDERR_FILENO);
  malloc_stats();
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fds[1]);
  char buf[4096];
  ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  ck_assert_int_gt(n, 0);
  buf[n] = '\0';
  ck_assert_ptr_nonnull(strstr(buf, "system bytes"));
  ck_assert_ptr_nonnull(strstr(buf, "in use bytes"));
  free(p);
}
END_TEST

START_TEST(libc_names_mix) {
  /* glibc still exports __libc_malloc and friends: their blocks and free's
   * must be interchangeable. */
  void *(*lmalloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_malloc");
  void (*lfree)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "__libc_free");
  void *(*lcalloc)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(RTLD_DEFAULT, "__libc_calloc");
  void *(*lrealloc)(void *, size_t) = (void *(*)(void *, size_t))dlsym(RTLD_DEFAULT, "__libc_realloc");
  void *(*lmemalign)(size_t, size_t) =
    (void *(*)(size_t, size_t))dlsym(RTLD_DEFAULT, "__libc_memalign");
  void *(*lpvalloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_pvalloc");
  ck_assert(lmalloc && lfree && lcalloc && lrealloc && lmemalign && lpvalloc);
  free(lmalloc(10));
  lfree(malloc(10));
  char *p = lcalloc(4, 4);
  p = realloc(p, 1000);
  p = lrealloc(p, 10);
  lfree(p);
  free(lmemalign(256, 10));
  free(lpvalloc(10));
  lfree(pvalloc(10));
}
END_TEST

/* ---- memory back to the system ------------------------------------------------------------ */

START_TEST(trim_returns_memory) {
  size_t big = (size_t)64 << 20;
  char *p = malloc(big);
  ck_assert_ptr_nonnull(p);
  touch(p, big, 1);
  size_t before = rss_bytes();
  free(p);
  malloc_trim(0);
  size_t after = rss_bytes();
  ck_assert_msg(before > after + ((size_t)48 << 20), "resident %zu -> %zu bytes", before, after);
}
END_TEST

START_TEST(free_returns_memory) {
  /* Many medium blocks freed: resident size falls without malloc_trim once
   * the allocator has had a few more calls to notice. */
  enum { N = 64 };
  size_t each = (size_t)1 << 20;
  void *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = malloc(each);
    ck_assert_ptr_nonnull(p[i]);
    touch(p[i], each, 7);
  }
  size_t before = rss_bytes();
  for (int i = 0; i < N; i++)
    free(p[i]);
  for (int i = 0; i < 200; i++)
    free(malloc(32));
  size_t after = rss_bytes();
  ck_assert_msg(before > after + ((size_t)40 << 20), "resident %zu -> %zu bytes", before, after);
}
END_TEST

START_TEST(repeated_sizes_dont_thrash) {
  /* Returning memory must not turn a steady alloc/free loop into page faults. */
  size_t each = (size_t)1 << 20, page = (size_t)sysconf(_SC_PAGESIZE);
  for (int i = 0; i < 10; i++)
    free(malloc(each));
  long before = minor_faults();
  enum { ROUNDS = 2000 };
  for (int i = 0; i < ROUNDS; i++) {
    char *p = malloc(each);
    touch(p, each, i);
    void *small = malloc(100);
    free(p);
    free(small);
  }
  long faults = minor_faults() - before;
  long pages_per_round = (long)(each / page);
  ck_assert_msg(faults < ROUNDS * pages_per_round / 20, "%ld page faults in %d rounds", faults, ROUNDS);
}
END_TEST

int main(void) {
  const TTest *tests[] = {
    malloc_zero, malloc_alignment, malloc_too_large, calloc_overflow, calloc_zero_sizes,
    calloc_zeroed_after_reuse, calloc_zeroed_after_realloc, realloc_null_zero_is_live, realloc_zero_frees,
    realloc_keeps_contents, realloc_failure_keeps_block, reallocarray_overflow,
    memalign_powers_of_two, memalign_bad_alignment, memalign_too_large, posix_memalign_einval,
    posix_memalign_enomem, posix_memalign_works, valloc_page_aligned, pvalloc_whole_pages,
    free_keeps_errno, usable_size, introspection_calls, libc_names_mix, trim_returns_memory,
    free_returns_memory, repeated_sizes_dont_thrash,
  };
  return shim_run_suite("shim_edge", tests, sizeof tests / sizeof tests[0]);
}
