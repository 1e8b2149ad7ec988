/*
 * misuse.c - what happens when a program hands the allocator a pointer that is
 * no live block: a double free, an interior, stack, wild or already freed
 * pointer. The core says so exactly (zfree's EINVAL, zone_block_size's 0);
 * this file turns that into one line on stderr naming the call and the
 * pointer, then abort(), as glibc does for the cases it catches. (A block of
 * a mapping of its own, which no arena owns, is freed here: huge.c.) ZONE_MISUSE
 * can make it warn and carry on (the call is ignored) or stay silent.
 *
 * The line is formatted by hand and written with write(2): we are the
 * allocator, so nothing here may allocate, and stdio might.
 */
#include "fast.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Appends s to buf at *len, within cap. */
static void put_str(char *buf, size_t cap, size_t *len, const char *s) {
  while (*s != '\0' && *len < cap)
    buf[(*len)++] = *s++;
}

static void put_hex(char *buf, size_t cap, size_t *len, uintptr_t v) {
  char digits[2 * sizeof v + 1];
  size_t n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0);
  put_str(buf, cap, len, "0x");
  while (n > 0 && *len < cap)
    buf[(*len)++] = digits[--n];
}

void zone__shim_foreign(const void *p, const char *call) {
  size_t usable;
  if (!zone__shim_huge_free((void *)p) && !zone__shim_frozen_lookup(p, &usable))
    zone__shim_misuse(call, p);
}

void zone__shim_refused_late(void *p) { zone__shim_foreign(p, "free"); }

void zone__shim_misuse(const char *call, const void *p) {
  zone__misuse_t mode = zone__shim_misuse_mode();
  if (mode == ZONE_MISUSE_IGNORE)
    return;
  char line[160];
  size_t len = 0;
  put_str(line, sizeof line - 1, &len, "zone: ");
  put_str(line, sizeof line - 1, &len, call);
  put_str(line, sizeof line - 1, &len, "(): invalid pointer ");
  put_hex(line, sizeof line - 1, &len, (uintptr_t)p);
  line[len++] = '\n';
  int saved = errno;
  for (size_t done = 0; done < len;) {
    ssize_t n = write(STDERR_FILENO, line + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    done += (size_t)n;
  }
  errno = saved;
  if (mode == ZONE_MISUSE_ABORT)
    abort();
}
