/*
 * support.h - helpers of glibc's test support used by its malloc tests: the
 * allocating x* wrappers (each fails the test with exit 1 instead of
 * returning NULL), output that is safe in a signal handler, and memory shared
 * with forked processes.
 */
#ifndef ZONE_GLIBC_SUPPORT_SUPPORT_H
#define ZONE_GLIBC_SUPPORT_SUPPORT_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

void *xmalloc(size_t n) __attribute__((malloc, alloc_size(1)));
void *xcalloc(size_t count, size_t n) __attribute__((malloc, alloc_size(1, 2)));
void *xrealloc(void *p, size_t n) __attribute__((alloc_size(2)));
char *xstrdup(const char *s) __attribute__((malloc));
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), malloc));

/* Writes s to stdout with write(2): usable in a signal handler. */
void write_message(const char *s);
/* Points stderr (fd 2) at /dev/null, for tests that expect noise there. */
void ignore_stderr(void);

/* n zeroed bytes mapped MAP_SHARED, so that processes forked after the call
 * see each other's writes; exits 1 if the mapping fails. */
void *support_shared_allocate(size_t n);
void support_shared_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
