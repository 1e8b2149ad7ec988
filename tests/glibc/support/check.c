/*
 * check.c - the failure record behind check.h and the messages of failed
 * checks. The record is one counter in an anonymous MAP_SHARED page that the
 * driver maps before it forks the test, so every process of the test (the
 * test process and whatever it forks) adds to the same counter, and the
 * driver, which waits for the test, reads the total.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <support/check.h>
#include <support/support.h>
#include <support/test-driver.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct failure_record {
  unsigned long count;  /* updated with atomic adds: 64 bits never wrap here */
};

static struct failure_record *record;

void support_failure_init(void) {
  if (record != NULL)
    return;
  void *p = mmap(NULL, sizeof *record, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED) {
    write_message("error: cannot map the shared failure record\n");
    _exit(1);
  }
  record = p;
}

void support_record_failure(void) {
  support_failure_init();  /* a no-op under the driver, which mapped it */
  __atomic_add_fetch(&record->count, 1, __ATOMIC_SEQ_CST);
}

unsigned support_failure_count(void) {
  if (record == NULL)
    return 0;
  unsigned long n = __atomic_load_n(&record->count, __ATOMIC_SEQ_CST);
  return n > ~0u ? ~0u : (unsigned)n;
}

int support_record_failure_is_failed(void) { return support_failure_count() != 0; }

void support_record_failure_barrier(void) {
  if (support_record_failure_is_failed()) {
    puts("error: stopping after the failures above");
    exit(1);
  }
}

/* "error: FILE:LINE: " and the message, with errno as the caller had it for %m. */
static void vreport(const char *file, int line, int saved_errno, const char *fmt, va_list ap) {
  printf("error: %s:%d: ", file, line);
  errno = saved_errno;
  vprintf(fmt, ap);
  size_t len = strlen(fmt);
  if (len == 0 || fmt[len - 1] != '\n')
    putchar('\n');
  fflush(stdout);
}

void support_fail_at(const char *file, int line, int status, const char *fmt, ...) {
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  vreport(file, line, saved, fmt, ap);
  va_end(ap);
  support_record_failure();
  if (status != 0)
    exit(status);
  errno = saved;
}

void support_verify_failed(const char *file, int line, const char *expr, int status) {
  int saved = errno;
  printf("error: %s:%d: check failed: %s\n", file, line, expr);
  fflush(stdout);
  support_record_failure();
  if (status != 0)
    exit(status);
  errno = saved;
}

static void print_value(int negative, uintmax_t v) {
  if (negative)
    printf("%jd", (intmax_t)v);
  else
    printf("%ju (0x%jx)", v, v);
}

void support_compare_failed(const char *file, int line, const char *lexpr, int lneg,
                            uintmax_t lval, const char *rexpr, int rneg, uintmax_t rval) {
  int saved = errno;
  printf("error: %s:%d: %s != %s\n  left:  ", file, line, lexpr, rexpr);
  print_value(lneg, lval);
  printf("\n  right: ");
  print_value(rneg, rval);
  putchar('\n');
  fflush(stdout);
  support_record_failure();
  errno = saved;
}

void support_unsupported_at(const char *file, int line, const char *fmt, ...) {
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  printf("unsupported: %s:%d: ", file, line);
  errno = saved;
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
  exit(EXIT_UNSUPPORTED);
}
