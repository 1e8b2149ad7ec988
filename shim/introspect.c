/*
 * introspect.c - the calls programs use to look at or tune malloc, answered
 * from the default zone rather than left to glibc (whose arenas hold nothing
 * under the shim): mallinfo2, mallinfo, malloc_stats, malloc_info, mallopt.
 *
 * Mapping of glibc's fields: arena = zone size, ordblks = free regions,
 * uordblks = bytes in live blocks, fordblks = free bytes, keepcost = largest
 * free region; the fields about fastbins and mmapped chunks are 0 (the zone
 * has neither). mallopt accepts every parameter glibc knows and acts on
 * M_TRIM_THRESHOLD (the smallest free region given back to the OS; options.c).
 */
#include "fast.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void zone_snapshot(zone_stats_t *st, size_t *extents) {
  memset(st, 0, sizeof *st);
  *extents = 0;
  zone_t *z = zone__shim_get();
  if (z == NULL)
    return;
  zone__shim_enter();
  zone_stats(z, st);
  *extents = zone__extent_count(z);
  zone__shim_leave();
}

static struct mallinfo2 info2(void) {
  zone_stats_t st;
  size_t extents;
  zone_snapshot(&st, &extents);
  struct mallinfo2 mi;
  memset(&mi, 0, sizeof mi);
  mi.arena = st.size;
  mi.ordblks = st.free_blocks;
  mi.uordblks = st.used;
  mi.fordblks = st.free;
  mi.keepcost = st.largest_free;
  return mi;
}

static int clamp_int(size_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

/* The old int-sized form: values that don't fit read as INT_MAX. */
static struct mallinfo info1(void) {
  struct mallinfo2 m2 = info2();
  struct mallinfo mi;
  memset(&mi, 0, sizeof mi);
  mi.arena = clamp_int(m2.arena);
  mi.ordblks = clamp_int(m2.ordblks);
  mi.uordblks = clamp_int(m2.uordblks);
  mi.fordblks = clamp_int(m2.fordblks);
  mi.keepcost = clamp_int(m2.keepcost);
  return mi;
}

/* glibc's layout (an arena, then the totals), with the zone's numbers; written
 * with write(2) so that it works inside a program's own malloc hooks too. */
ZONE_SHIM_EXPORT void malloc_stats(void) {
  zone_stats_t st;
  size_t extents;
  zone_snapshot(&st, &extents);
  char text[512];
  int n = snprintf(text, sizeof text,
                   "Arena 0:\n"
                   "system bytes     = %10zu\n"
                   "in use bytes     = %10zu\n"
                   "Total (incl. mmap):\n"
                   "system bytes     = %10zu\n"
                   "in use bytes     = %10zu\n"
                   "max mmap regions = %10d\n"
                   "max mmap bytes   = %10d\n",
                   st.size, st.used, st.size, st.used, 0, 0);
  int saved = errno;
  /* write(2) is a cancellation point: a pending cancel must not stop the
   * report halfway (glibc disables cancellation here too). */
  int cancel_state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  if (n > 0)
    (void)!write(STDERR_FILENO, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
  pthread_setcancelstate(cancel_state, NULL);
  errno = saved;
}

/* An XML document in glibc's spirit: one <heap> for the zone. options must be
 * 0; otherwise the return is EINVAL, as glibc's code has it (its manual page
 * says -1 and errno). */
ZONE_SHIM_EXPORT int malloc_info(int options, FILE *out) {
  if (options != 0)
    return EINVAL;
  zone_stats_t st;
  size_t extents;
  zone_snapshot(&st, &extents);
  int written = fprintf(out,
          "<malloc version=\"zone-1\">\n"
          "<heap nr=\"0\">\n"
          "<sizes>\n</sizes>\n"
          "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
          "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
          "<system type=\"current\" size=\"%zu\"/>\n"
          "<system type=\"max\" size=\"%zu\"/>\n"
          "<aspace type=\"total\" size=\"%zu\"/>\n"
          "<aspace type=\"mprotect\" size=\"%zu\"/>\n"
          "<zone used=\"%zu\" peak_used=\"%zu\" blocks=\"%zu\" largest_free=\"%zu\" "
          "extents=\"%zu\"/>\n"
          "</heap>\n"
          "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
          "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
          "<total type=\"mmap\" count=\"0\" size=\"0\"/>\n"
          "<system type=\"current\" size=\"%zu\"/>\n"
          "<system type=\"max\" size=\"%zu\"/>\n"
          "<aspace type=\"total\" size=\"%zu\"/>\n"
          "<aspace type=\"mprotect\" size=\"%zu\"/>\n"
          "</malloc>\n",
          st.free_blocks, st.free, st.size, st.size, st.size, st.size, st.used, st.peak_used,
          st.blocks, st.largest_free, extents, st.free_blocks, st.free, st.size, st.size, st.size,
          st.size);
  return written < 0 ? -1 : 0;  /* the stream's error, as glibc's manual says */
}

/* Gives back every whole free page; 1 if any memory went back, as glibc says.
 * glibc keeps `pad` bytes at the top of its heap; a zone has no top, and the
 * pad is ignored. */
ZONE_SHIM_EXPORT int malloc_trim(size_t pad) {
  (void)pad;
  zone_t *z = zone__shim_get();
  if (z == NULL)
    return 0;
  return zone__shim_give_back(z, 0, 0) != 0;
}

ZONE_SHIM_EXPORT struct mallinfo2 mallinfo2(void) { return info2(); }
ZONE_SHIM_EXPORT struct mallinfo mallinfo(void) { return info1(); }
ZONE_SHIM_EXPORT int mallopt(int param, int value) { return zone__shim_mallopt(param, value); }
ZONE_SHIM_EXPORT struct mallinfo __libc_mallinfo(void);
ZONE_SHIM_EXPORT int __libc_mallopt(int param, int value);
struct mallinfo __libc_mallinfo(void) { return info1(); }
int __libc_mallopt(int param, int value) { return zone__shim_mallopt(param, value); }
