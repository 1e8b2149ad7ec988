/*
 * introspect.c - the calls programs use to look at or tune malloc, answered
 * from the shim's arenas rather than left to glibc (whose arenas hold nothing
 * under the shim): mallinfo2, mallinfo, malloc_stats, malloc_info, mallopt,
 * malloc_trim.
 *
 * Mapping of glibc's fields, summed over the arenas: arena = zone sizes,
 * ordblks = free regions, uordblks = bytes in live blocks, fordblks = free
 * bytes, keepcost = the largest free region of any arena; hblks and hblkhd
 * the blocks of a mapping of their own and their bytes (huge.c), as glibc's
 * mmapped chunks; the fastbin fields are 0 (a zone has none). malloc_stats
 * and malloc_info show each arena, as glibc's do, and the mapped blocks in
 * the totals. mallopt accepts every parameter glibc knows and acts on
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

/* One arena's numbers (zeros for one not made), and its extents. */
static void arena_snapshot(unsigned k, zone_stats_t *st, size_t *extents) {
  memset(st, 0, sizeof *st);
  *extents = 0;
  zone_t *z = k == 0 ? zone__shim_get() : atomic_load(&zone__shim_arenas[k].zone);
  if (z == NULL)
    return;
  zone__shim_enter();
  zone_stats(z, st);
  *extents = zone__extent_count(z);
  zone__shim_leave();
}

/* The arenas to show: at least arena 0 (made by the asking). */
static unsigned arena_count(void) {
  unsigned n = atomic_load(&zone__shim_narenas);
  return n == 0 ? 1 : n;
}

/* Every arena's numbers added up (largest_free: the largest). */
static void zone_snapshot(zone_stats_t *sum, size_t *extents) {
  memset(sum, 0, sizeof *sum);
  *extents = 0;
  unsigned n = arena_count();
  for (unsigned k = 0; k < n; k++) {
    zone_stats_t st;
    size_t e;
    arena_snapshot(k, &st, &e);
    sum->size += st.size;
    sum->used += st.used;
    sum->free += st.free;
    sum->blocks += st.blocks;
    sum->free_blocks += st.free_blocks;
    sum->peak_used += st.peak_used;
    if (st.largest_free > sum->largest_free)
      sum->largest_free = st.largest_free;
    *extents += e;
  }
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
  zone__shim_huge_stats_t huge;
  zone__shim_huge_stats(&huge);
  mi.hblks = huge.count;
  mi.hblkhd = huge.bytes;
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
  mi.hblks = clamp_int(m2.hblks);
  mi.hblkhd = clamp_int(m2.hblkhd);
  return mi;
}

/* write(2) of a whole buffer (a short write goes on where it stopped). */
static void write_all(const char *text, size_t len) {
  while (len > 0) {
    ssize_t w = write(STDERR_FILENO, text, len);
    if (w <= 0)
      return;
    text += w;
    len -= (size_t)w;
  }
}

/* glibc's layout (each arena, then the totals), with the zones' numbers;
 * written with write(2) so that it works inside a program's own malloc hooks
 * too. */
ZONE_SHIM_EXPORT void malloc_stats(void) {
  int saved = errno;
  /* write(2) is a cancellation point: a pending cancel must not stop the
   * report halfway (glibc disables cancellation here too). */
  int cancel_state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  char text[512];
  size_t system = 0, in_use = 0;
  unsigned n = arena_count();
  for (unsigned k = 0; k < n; k++) {
    zone_stats_t st;
    size_t extents;
    arena_snapshot(k, &st, &extents);
    system += st.size;
    in_use += st.used;
    int len = snprintf(text, sizeof text,
                       "Arena %u:\n"
                       "system bytes     = %10zu\n"
                       "in use bytes     = %10zu\n",
                       k, st.size, st.used);
    if (len > 0)
      write_all(text, (size_t)len < sizeof text ? (size_t)len : sizeof text - 1);
  }
  zone__shim_huge_stats_t huge;
  zone__shim_huge_stats(&huge);
  int len = snprintf(text, sizeof text,
                     "Total (incl. mmap):\n"
                     "system bytes     = %10zu\n"
                     "in use bytes     = %10zu\n"
                     "max mmap regions = %10d\n"
                     "max mmap bytes   = %10lu\n",
                     system + huge.bytes, in_use + huge.bytes, clamp_int(huge.peak_count),
                     (unsigned long)huge.peak_bytes);
  if (len > 0)
    write_all(text, (size_t)len < sizeof text ? (size_t)len : sizeof text - 1);
  pthread_setcancelstate(cancel_state, NULL);
  errno = saved;
}

/* An XML document in glibc's spirit: one <heap> for each arena, then the
 * totals. options must be 0; otherwise the return is EINVAL, as glibc's code
 * has it (its manual page says -1 and errno). */
ZONE_SHIM_EXPORT int malloc_info(int options, FILE *out) {
  if (options != 0)
    return EINVAL;
  int bad = fprintf(out, "<malloc version=\"zone-1\">\n") < 0;
  unsigned n = arena_count();
  for (unsigned k = 0; k < n; k++) {
    zone_stats_t st;
    size_t extents;
    arena_snapshot(k, &st, &extents);
    bad |= fprintf(out,
                   "<heap nr=\"%u\">\n"
                   "<sizes>\n</sizes>\n"
                   "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
                   "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
                   "<system type=\"current\" size=\"%zu\"/>\n"
                   "<system type=\"max\" size=\"%zu\"/>\n"
                   "<aspace type=\"total\" size=\"%zu\"/>\n"
                   "<aspace type=\"mprotect\" size=\"%zu\"/>\n"
                   "<zone used=\"%zu\" peak_used=\"%zu\" blocks=\"%zu\" largest_free=\"%zu\" "
                   "extents=\"%zu\"/>\n"
                   "</heap>\n",
                   k, st.free_blocks, st.free, st.size, st.size, st.size, st.size, st.used,
                   st.peak_used, st.blocks, st.largest_free, extents) < 0;
  }
  zone_stats_t st;
  size_t extents;
  zone_snapshot(&st, &extents);
  zone__shim_huge_stats_t huge;
  zone__shim_huge_stats(&huge);
  bad |= fprintf(out,
                 "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
                 "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
                 "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
                 "<system type=\"current\" size=\"%zu\"/>\n"
                 "<system type=\"max\" size=\"%zu\"/>\n"
                 "<aspace type=\"total\" size=\"%zu\"/>\n"
                 "<aspace type=\"mprotect\" size=\"%zu\"/>\n"
                 "</malloc>\n",
                 st.free_blocks, st.free, huge.count, huge.bytes, st.size, st.size, st.size,
                 st.size) < 0;
  return bad ? -1 : 0;  /* the stream's error, as glibc's manual says */
}

/* Gives back every whole free page of every arena; 1 if any memory went
 * back, as glibc says. glibc keeps `pad` bytes at the top of its heap; a zone
 * has no top, and the pad is ignored. */
ZONE_SHIM_EXPORT int malloc_trim(size_t pad) {
  (void)pad;
  if (zone__shim_get() == NULL)
    return 0;
  size_t released = 0;
  unsigned n = atomic_load(&zone__shim_narenas);
  for (unsigned k = 0; k < n; k++)
    released += zone__shim_give_back(atomic_load(&zone__shim_arenas[k].zone), 0, 0);
  return released != 0;
}

ZONE_SHIM_EXPORT struct mallinfo2 mallinfo2(void) { return info2(); }
ZONE_SHIM_EXPORT struct mallinfo mallinfo(void) { return info1(); }
ZONE_SHIM_EXPORT int mallopt(int param, int value) { return zone__shim_mallopt(param, value); }
ZONE_SHIM_EXPORT struct mallinfo __libc_mallinfo(void);
ZONE_SHIM_EXPORT int __libc_mallopt(int param, int value);
struct mallinfo __libc_mallinfo(void) { return info1(); }
int __libc_mallopt(int param, int value) { return zone__shim_mallopt(param, value); }
