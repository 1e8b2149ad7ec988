/*
 * report.c - the lowest layer: messages on stderr for broken invariants and
 * failed assertions, written with write(2) from a stack buffer (nothing here
 * allocates, so the malloc shim can report from inside malloc), and the names
 * of zone_check's failures.
 */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void zone__write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    buf += n;
    len -= (size_t)n;
  }
}

void zone__report(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  /* clang-analyzer 14 loses va_start when it follows a variadic caller in
   * the same file (zone__check_fail below) and calls ap uninitialised. */
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);  // NOLINT(clang-analyzer-valist.Uninitialized)
  va_end(ap);
  if (n < 0)
    return;
  size_t len = (size_t)n < sizeof buf - 1 ? (size_t)n : sizeof buf - 2;
  buf[len++] = '\n';
  int saved = errno;
  zone__write_all(STDERR_FILENO, buf, len);
  errno = saved;
}

void zone__assert_fail(const char *expr, const char *file, int line) {
  zone__report("zone: assertion failed: %s (%s:%d)", expr, file, line);
  abort();
}

static const char *const check_messages[] = {
  [ZONE_CHECK_PAD_FREE] = "pad granules marked free",
  [ZONE_CHECK_END_ON_FREE] = "block end on a free granule",
  [ZONE_CHECK_RUN_WITHOUT_END] = "used run without a block end",
  [ZONE_CHECK_CROSS_END] = "chunk-crossing block end misrecorded",
  [ZONE_CHECK_BLOCK_LENGTH] = "block length lookup disagrees",
  [ZONE_CHECK_TREE_STALE] = "summary tree is stale",
  [ZONE_CHECK_LEAF_STALE] = "word leaf is stale",
  [ZONE_CHECK_DIRTY_LEFT] = "dirty chunks left after a flush",
  [ZONE_CHECK_EXTENT_COUNT] = "bad extent count",
  [ZONE_CHECK_EXTENT_SHAPE] = "extent misaligned or empty",
  [ZONE_CHECK_EXTENT_ORDER] = "extents overlap or are out of order",
  [ZONE_CHECK_ACCOUNTING] = "accounting disagrees with the bitmaps",
  [ZONE_CHECK_REACH_STALE] = "reach index is stale",
};

int zone__check_fail(zone__check_failure_t f, const char *fmt, ...) {
  char details[384];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(details, sizeof details, fmt, ap);  // NOLINT(clang-analyzer-valist.Uninitialized)
  va_end(ap);
  zone__report("zone_check: %s: %s", check_messages[f], n < 0 ? "" : details);
  return (int)f;
}
