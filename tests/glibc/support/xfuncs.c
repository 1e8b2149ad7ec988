/*
 * xfuncs.c - the x* wrappers of support.h, xthread.h, xunistd.h and
 * xsignal.h, plus the small helpers of support.h. A wrapper whose call fails
 * prints "error: CALL: REASON", records the failure and exits 1, so a test can
 * use the result without checking it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <support/check.h>
#include <support/support.h>
#include <support/xsignal.h>
#include <support/xthread.h>
#include <support/xunistd.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static __attribute__((noreturn)) void die(const char *call, int err) {
  printf("error: %s: %s\n", call, strerror(err));
  support_record_failure();
  exit(1);
}

/* For calls that return an error number (pthread_*): 0 or the test ends. */
static void check_ret(const char *call, int ret) {
  if (ret != 0)
    die(call, ret);
}

/* ---- support.h --------------------------------------------------------------------- */

void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (p == NULL && n != 0)
    die("malloc", errno);
  return p;
}

void *xcalloc(size_t count, size_t n) {
  void *p = calloc(count, n);
  if (p == NULL && count != 0 && n != 0)
    die("calloc", errno);
  return p;
}

void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (q == NULL && n != 0)
    die("realloc", errno);
  return q;
}

char *xstrdup(const char *s) {
  char *d = strdup(s);
  if (d == NULL)
    die("strdup", errno);
  return d;
}

char *xasprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s;
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0)
    die("asprintf", errno);
  return s;
}

void write_message(const char *s) {
  int saved = errno;
  size_t len = strlen(s);
  while (len > 0) {
    ssize_t n = write(STDOUT_FILENO, s, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    s += n;
    len -= (size_t)n;
  }
  errno = saved;
}

void ignore_stderr(void) {
  int fd = open("/dev/null", O_WRONLY);
  if (fd < 0)
    die("open /dev/null", errno);
  xdup2(fd, STDERR_FILENO);
  xclose(fd);
}

/* The first bytes of the mapping hold its length; the block follows. */
#define SHARED_HEADER 64

void *support_shared_allocate(size_t n) {
  size_t total = n + SHARED_HEADER;
  void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    die("mmap (shared)", errno);
  *(size_t *)p = total;
  return (char *)p + SHARED_HEADER;
}

void support_shared_free(void *p) {
  if (p == NULL)
    return;
  char *base = (char *)p - SHARED_HEADER;
  xmunmap(base, *(size_t *)base);
}

/* ---- xthread.h --------------------------------------------------------------------- */

pthread_t xpthread_create(pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
  pthread_t t;
  check_ret("pthread_create", pthread_create(&t, attr, fn, arg));
  return t;
}

void *xpthread_join(pthread_t t) {
  void *result;
  check_ret("pthread_join", pthread_join(t, &result));
  return result;
}

void xpthread_detach(pthread_t t) { check_ret("pthread_detach", pthread_detach(t)); }
void xpthread_cancel(pthread_t t) { check_ret("pthread_cancel", pthread_cancel(t)); }
void xpthread_kill(pthread_t t, int sig) { check_ret("pthread_kill", pthread_kill(t, sig)); }

void xpthread_attr_init(pthread_attr_t *attr) {
  check_ret("pthread_attr_init", pthread_attr_init(attr));
}
void xpthread_attr_destroy(pthread_attr_t *attr) {
  check_ret("pthread_attr_destroy", pthread_attr_destroy(attr));
}
void xpthread_attr_setstacksize(pthread_attr_t *attr, size_t size) {
  check_ret("pthread_attr_setstacksize", pthread_attr_setstacksize(attr, size));
}

void xpthread_barrier_init(pthread_barrier_t *b, pthread_barrierattr_t *attr, unsigned count) {
  check_ret("pthread_barrier_init", pthread_barrier_init(b, attr, count));
}
void xpthread_barrier_destroy(pthread_barrier_t *b) {
  check_ret("pthread_barrier_destroy", pthread_barrier_destroy(b));
}
int xpthread_barrier_wait(pthread_barrier_t *b) {
  int ret = pthread_barrier_wait(b);
  if (ret == PTHREAD_BARRIER_SERIAL_THREAD)
    return 1;
  check_ret("pthread_barrier_wait", ret);
  return 0;
}
void xpthread_barrierattr_init(pthread_barrierattr_t *attr) {
  check_ret("pthread_barrierattr_init", pthread_barrierattr_init(attr));
}
void xpthread_barrierattr_setpshared(pthread_barrierattr_t *attr, int pshared) {
  check_ret("pthread_barrierattr_setpshared", pthread_barrierattr_setpshared(attr, pshared));
}
void xpthread_barrierattr_destroy(pthread_barrierattr_t *attr) {
  check_ret("pthread_barrierattr_destroy", pthread_barrierattr_destroy(attr));
}

void xpthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr) {
  check_ret("pthread_mutex_init", pthread_mutex_init(m, attr));
}
void xpthread_mutex_destroy(pthread_mutex_t *m) {
  check_ret("pthread_mutex_destroy", pthread_mutex_destroy(m));
}
void xpthread_mutex_lock(pthread_mutex_t *m) {
  check_ret("pthread_mutex_lock", pthread_mutex_lock(m));
}
void xpthread_mutex_unlock(pthread_mutex_t *m) {
  check_ret("pthread_mutex_unlock", pthread_mutex_unlock(m));
}

void xpthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) {
  check_ret("pthread_cond_wait", pthread_cond_wait(c, m));
}
void xpthread_cond_signal(pthread_cond_t *c) {
  check_ret("pthread_cond_signal", pthread_cond_signal(c));
}
void xpthread_cond_broadcast(pthread_cond_t *c) {
  check_ret("pthread_cond_broadcast", pthread_cond_broadcast(c));
}

/* ---- xunistd.h --------------------------------------------------------------------- */

pid_t xfork(void) {
  pid_t pid = fork();
  if (pid < 0)
    die("fork", errno);
  return pid;
}

pid_t xwaitpid(pid_t pid, int *status, int flags) {
  pid_t r;
  while ((r = waitpid(pid, status, flags)) < 0 && errno == EINTR)
    continue;
  if (r < 0)
    die("waitpid", errno);
  return r;
}

void xpipe(int fds[2]) {
  if (pipe(fds) != 0)
    die("pipe", errno);
}

void xdup2(int from, int to) {
  if (dup2(from, to) < 0)
    die("dup2", errno);
}

void xclose(int fd) {
  if (close(fd) != 0 && errno != EINTR)
    die("close", errno);
}

int xopen(const char *path, int flags, mode_t mode) {
  int fd = open(path, flags, mode);
  if (fd < 0) {
    printf("error: open %s: %s\n", path, strerror(errno));
    support_record_failure();
    exit(1);
  }
  return fd;
}

void xwrite(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      die("write", errno);
    if (w == 0)
      die("write", EIO);
    p += w;
    n -= (size_t)w;
  }
}

void xunlink(const char *path) {
  if (unlink(path) != 0)
    die("unlink", errno);
}

long xsysconf(int name) {
  errno = 0;
  long v = sysconf(name);
  if (v < 0)
    die("sysconf", errno != 0 ? errno : EINVAL);
  return v;
}

void *xmmap(void *addr, size_t n, int prot, int flags, int fd) {
  void *p = mmap(addr, n, prot, flags, fd, 0);
  if (p == MAP_FAILED)
    die("mmap", errno);
  return p;
}

void xmunmap(void *addr, size_t n) {
  if (munmap(addr, n) != 0)
    die("munmap", errno);
}

void xmprotect(void *addr, size_t n, int prot) {
  if (mprotect(addr, n, prot) != 0)
    die("mprotect", errno);
}

/* ---- xsignal.h --------------------------------------------------------------------- */

zone_sighandler_t xsignal(int sig, zone_sighandler_t handler) {
  zone_sighandler_t old = signal(sig, handler);
  if (old == SIG_ERR)
    die("signal", errno);
  return old;
}

void xsigaction(int sig, const struct sigaction *act, struct sigaction *old) {
  if (sigaction(sig, act, old) != 0)
    die("sigaction", errno);
}

void xraise(int sig) {
  if (raise(sig) != 0)
    die("raise", errno);
}

void xsigprocmask(int how, const sigset_t *set, sigset_t *old) {
  if (sigprocmask(how, set, old) != 0)
    die("sigprocmask", errno);
}
