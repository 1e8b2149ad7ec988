/*
 * test_nomalloc.c - the library never calls malloc (contract 15), checked at
 * run time: this program defines the malloc family itself (forwarding to
 * glibc's __libc_* entry points), so every call from libzone.so - direct, or
 * through a libc function that allocates - lands here and is counted while a
 * zone call runs. zone.package.no_malloc checks the imports statically; this
 * catches the indirect calls too. Not run under valgrind, which replaces
 * malloc itself.
 */
#include "support.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static atomic_bool armed;
static atomic_size_t calls;

static void count(void) {
  if (atomic_load_explicit(&armed, memory_order_relaxed))
    atomic_fetch_add(&calls, 1);
}

void *malloc(size_t n) {
  count();
  return __libc_malloc(n);
}
void *calloc(size_t c, size_t n) {
  count();
  return __libc_calloc(c, n);
}
void *realloc(void *p, size_t n) {
  count();
  return __libc_realloc(p, n);
}
void free(void *p) {
  if (p != NULL)
    count();
  __libc_free(p);
}
void *aligned_alloc(size_t a, size_t n) {
  count();
  return __libc_memalign(a, n);
}
int posix_memalign(void **out, size_t a, size_t n) {
  count();
  void *p = __libc_memalign(a, n);
  if (p == NULL)
    return 12; /* ENOMEM */
  *out = p;
  return 0;
}

static int visit_free_all(void *ptr, size_t size, bool used, void *arg) {
  (void)size;
  if (used)
    zfree(arg, ptr);
  return 0;
}

/* Everything the API does, with the counter armed. */
static size_t exercise(void) {
  static char out_buf[1 << 16];
  FILE *out = tmpfile();
  ck_assert_ptr_nonnull(out);
  /* stdio's own buffer comes from us, not from malloc inside zdump */
  ck_assert_int_eq(setvbuf(out, out_buf, _IOFBF, sizeof out_buf), 0);
  _Alignas(16) static char buf[8192];

  atomic_store(&calls, 0);
  atomic_store(&armed, true);
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  zone_t *in = create_zone_in(buf, sizeof buf, ZONE_UNLOCKED);
  void *p[64];
  for (int i = 0; i < 64; i++)
    p[i] = zalloc(z, (size_t)i * 40);  /* grows */
  for (int i = 0; i < 64; i += 2)
    p[i] = zrealloc(z, p[i], (size_t)i * 90 + 1);
  void *a = zalloc_aligned(z, 4096, 100);
  void *c = zcalloc(in, 10, 10);
  zfree(z, a);
  zfree(in, c);
  zfree(z, (char *)p[1] + 1);  /* a bad pointer */
  zone_stats_t st;
  zone_stats(z, &st);
  (void)zone_size(z);
  (void)zone_owns(z, p[3]);
  (void)zone_block_size(z, p[3]);
  (void)zone_check(z);
  zdump(z, out);
  zone_walk(z, visit_free_all, z);
  zone_reset(z);
  zone_reset(in);
  destroy_zone(z);
  destroy_zone(in);
  (void)create_zone(0);  /* failure paths */
  (void)create_zone((size_t)-1);
  atomic_store(&armed, false);

  fclose(out);
  return atomic_load(&calls);
}

START_TEST(api_never_mallocs) {
  size_t n = exercise();
  ck_assert_msg(n == 0, "libzone made %zu malloc-family calls", n);
}
END_TEST

/* The interposition works: a malloc from this program is counted, so a zero
 * above means something. */
START_TEST(counter_sees_malloc) {
  atomic_store(&calls, 0);
  atomic_store(&armed, true);
  void *volatile p = malloc(100);
  free(p);
  atomic_store(&armed, false);
  ck_assert_uint_eq(atomic_load(&calls), 2);
}
END_TEST

int main(void) {
  Suite *s = suite_create("nomalloc");
  ZT_CASE(s, api_never_mallocs);
  ZT_CASE(s, counter_sees_malloc);
  return zt_main(s);
}
