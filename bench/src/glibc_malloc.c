/*
 * glibc_malloc.c - libbench_glibc.so, a preload that makes "glibc" mean
 * glibc's malloc even in programs linked against another allocator.
 * Debian's redis-server is linked with libjemalloc, so without this its
 * "glibc" column would be jemalloc. Each function forwards to glibc's
 * __libc_* entry point (exported for exactly this use); malloc_usable_size
 * has none, so it is looked up in libc.so.6 itself, where a dlsym of the
 * handle searches libc before anything the program linked.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define EXPORT __attribute__((visibility("default")))

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

EXPORT void *malloc(size_t n) { return __libc_malloc(n); }
EXPORT void free(void *p) { __libc_free(p); }
EXPORT void *calloc(size_t n, size_t size) { return __libc_calloc(n, size); }
EXPORT void *realloc(void *p, size_t n) { return __libc_realloc(p, n); }
EXPORT void *memalign(size_t align, size_t n) { return __libc_memalign(align, n); }
EXPORT void *valloc(size_t n) { return __libc_valloc(n); }
EXPORT void *pvalloc(size_t n) { return __libc_pvalloc(n); }

EXPORT void *aligned_alloc(size_t align, size_t n) { return __libc_memalign(align, n); }

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  if (align < sizeof(void *) || (align & (align - 1)) != 0)
    return EINVAL;
  void *p = __libc_memalign(align, n);
  if (p == NULL)
    return ENOMEM;
  *out = p;
  return 0;
}

EXPORT size_t malloc_usable_size(void *p) {
  static size_t (*libc_usable)(void *);
  if (libc_usable == NULL) {
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (libc != NULL)
      libc_usable = (size_t (*)(void *))(uintptr_t)dlsym(libc, "malloc_usable_size");
    if (libc_usable == NULL)
      return 0;
  }
  return libc_usable(p);
}
