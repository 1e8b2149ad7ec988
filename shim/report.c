/*
 * report.c - what the shim tells about its arenas: the ZONE_STATS summary at
 * exit and the ZONE_DUMP dumps (at exit, and every ZONE_DUMP_EVERY
 * allocations). A process with one arena reports as a single zone; with
 * more, the summary line holds the totals and a line per arena follows
 * (arena=N), and each dump is one zdump per arena, tagged arena=N.
 */
#include "fast.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static _Atomic unsigned long allocs_counted;

/* Appends a zdump of every arena to ZONE_DUMP. The file is locked for the
 * dumps so that processes sharing it (a shell and its children) don't mix
 * lines. */
static void dump_now(void) {
  int saved = errno;
  int fd = open(zone__shim_opt.dump_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    flock(fd, LOCK_EX);
    unsigned n = atomic_load(&zone__shim_narenas);
    for (unsigned k = 0; k < n; k++) {
      char tag[192];
      if (n == 1)
        (void)snprintf(tag, sizeof tag, "pid=%ld prog=%.100s", (long)getpid(),
                       program_invocation_short_name);
      else
        (void)snprintf(tag, sizeof tag, "pid=%ld prog=%.100s arena=%u", (long)getpid(),
                       program_invocation_short_name, k);
      zone__shim_enter();
      zone__dump_fd(atomic_load(&zone__shim_arenas[k].zone), fd, tag);
      zone__shim_leave();
    }
    flock(fd, LOCK_UN);
    close(fd);
  }
  errno = saved;
}

void zone__shim_count_alloc(void) {
  unsigned long n = atomic_fetch_add_explicit(&allocs_counted, 1, memory_order_relaxed) + 1;
  unsigned long every = zone__shim_dump_every();
  if (every != 0 && n % every == 0 && atomic_load(&zone__shim_narenas) != 0)
    dump_now();
}

/* Adds one arena's numbers into a total: largest_free is the largest of
 * them, peak_used the sum of the arenas' peaks (a bound on the process's). */
static void stats_add(zone_stats_t *sum, const zone_stats_t *st) {
  sum->size += st->size;
  sum->used += st->used;
  sum->free += st->free;
  sum->blocks += st->blocks;
  sum->free_blocks += st->free_blocks;
  sum->peak_used += st->peak_used;
  if (st->largest_free > sum->largest_free)
    sum->largest_free = st->largest_free;
}

static void print_line(const char *which, const zone_stats_t *st, bool returned) {
  /* Fragmentation: the share of free bytes outside the largest free region. */
  size_t frag = st->free == 0 ? 0 : (size_t)((double)(st->free - st->largest_free) * 1000.0 / (double)st->free);
  zone__shim_huge_stats_t huge;
  zone__shim_huge_stats(&huge);
  char line[512];
  int n = snprintf(line, sizeof line,
                   "zone stats: pid=%ld prog=%s%s size=%zu used=%zu peak_used=%zu blocks=%zu "
                   "free=%zu free_regions=%zu largest_free=%zu fragmentation=%zu.%zu%%",
                   (long)getpid(), program_invocation_short_name, which, st->size, st->used,
                   st->peak_used, st->blocks, st->free, st->free_blocks, st->largest_free,
                   frag / 10, frag % 10);
  if (n > 0 && (size_t)n < sizeof line)
    n += returned ? snprintf(line + n, sizeof line - (size_t)n,
                             " returned=%zu decayed=%zu mapped=%zu peak_mapped=%zu\n",
                             zone__shim_returned_bytes(), zone__shim_decayed_bytes(),
                             huge.bytes, huge.peak_bytes)
                  : snprintf(line + n, sizeof line - (size_t)n, "\n");
  if (n > 0)
    (void)!write(zone__shim_stats_fd(), line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* The totals, then (with more than one arena) each arena. */
static void print_stats(void) {
  unsigned n = atomic_load(&zone__shim_narenas);
  zone_stats_t st[ZONE_ARENAS_MAX], sum;
  memset(&sum, 0, sizeof sum);
  for (unsigned k = 0; k < n; k++) {
    zone__shim_enter();
    zone_stats(atomic_load(&zone__shim_arenas[k].zone), &st[k]);
    zone__shim_leave();
    stats_add(&sum, &st[k]);
  }
  char which[32] = "";
  if (n > 1)
    (void)snprintf(which, sizeof which, " arenas=%u", n);
  print_line(which, &sum, true);
  for (unsigned k = 0; n > 1 && k < n; k++) {
    (void)snprintf(which, sizeof which, " arena=%u", k);
    print_line(which, &st[k], false);
  }
}

__attribute__((destructor)) static void shim_exit(void) {
  unsigned n = atomic_load(&zone__shim_narenas);
  if (n == 0)
    return;
  int saved = errno;
  /* With ZONE_FREE_DEFER, a free may still wait: done now (any call that
   * takes the lock does it), so that a bad pointer's is said before exit. */
  for (unsigned k = 0; zone__shim_opt.free_defer && k < n; k++) {
    zone_t *z = atomic_load(&zone__shim_arenas[k].zone);
    if (z != NULL) {
      zone__shim_enter();
      (void)zone__used_bytes(z);
      zone__shim_leave();
    }
  }
  if (atomic_load(&zone__shim_opt.stats))
    print_stats();
  if (zone__shim_opt.dump_path[0] != '\0')
    dump_now();
  errno = saved;
}
