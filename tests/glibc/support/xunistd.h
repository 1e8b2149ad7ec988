/*
 * xunistd.h - process, file and mapping calls that fail the test (exit 1,
 * with the call and errno named) instead of returning -1.
 */
#ifndef ZONE_GLIBC_SUPPORT_XUNISTD_H
#define ZONE_GLIBC_SUPPORT_XUNISTD_H

#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

pid_t xfork(void);
/* waitpid, retried on EINTR. */
pid_t xwaitpid(pid_t pid, int *status, int flags);
void xpipe(int fds[2]);
void xdup2(int from, int to);
void xclose(int fd);
int xopen(const char *path, int flags, mode_t mode);
/* Writes all n bytes, retrying short writes and EINTR. */
void xwrite(int fd, const void *buf, size_t n);
void xunlink(const char *path);
long xsysconf(int name);
/* mmap at offset 0. */
void *xmmap(void *addr, size_t n, int prot, int flags, int fd);
void xmunmap(void *addr, size_t n);
void xmprotect(void *addr, size_t n, int prot);

#ifdef __cplusplus
}
#endif

#endif
