/*
 * report.c - what the shim tells about the default zone: the ZONE_STATS
 * summary at exit and the ZONE_DUMP dumps (at exit, and every ZONE_DUMP_EVERY
 * allocations).
 */
#include "fast.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

static _Atomic unsigned long allocs_counted;

/* Appends a zdump of the default zone to ZONE_DUMP. The file is locked for the
 * dump so that processes sharing it (a shell and its children) don't mix lines. */
static void dump_now(zone_t *z) {
  int saved = errno;
  int fd = open(zone__shim_opt.dump_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    flock(fd, LOCK_EX);
    char tag[160];
    (void)snprintf(tag, sizeof tag, "pid=%ld prog=%.100s", (long)getpid(), program_invocation_short_name);
    zone__shim_enter();
    zone__dump_fd(z, fd, tag);
    zone__shim_leave();
    flock(fd, LOCK_UN);
    close(fd);
  }
  errno = saved;
}

void zone__shim_count_alloc(void) {
  unsigned long n = atomic_fetch_add_explicit(&allocs_counted, 1, memory_order_relaxed) + 1;
  unsigned long every = zone__shim_dump_every();
  if (every != 0 && n % every == 0) {
    zone_t *z = atomic_load(&zone__shim_zone);
    if (z != NULL)
      dump_now(z);
  }
}

static void print_stats(zone_t *z) {
  zone_stats_t st;
  zone__shim_enter();
  zone_stats(z, &st);
  zone__shim_leave();
  /* Fragmentation: the share of free bytes outside the largest free region. */
  size_t frag = st.free == 0 ? 0 : (size_t)((double)(st.free - st.largest_free) * 1000.0 / (double)st.free);
  char line[512];
  int n = snprintf(line, sizeof line,
                   "zone stats: pid=%ld prog=%s size=%zu used=%zu peak_used=%zu blocks=%zu "
                   "free=%zu free_regions=%zu largest_free=%zu fragmentation=%zu.%zu%% "
                   "returned=%zu\n",
                   (long)getpid(), program_invocation_short_name, st.size, st.used, st.peak_used,
                   st.blocks, st.free, st.free_blocks, st.largest_free, frag / 10, frag % 10,
                   zone__shim_returned_bytes());
  if (n > 0)
    (void)!write(zone__shim_stats_fd(), line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

__attribute__((destructor)) static void shim_exit(void) {
  zone_t *z = atomic_load(&zone__shim_zone);
  if (z == NULL)
    return;
  int saved = errno;
  if (atomic_load(&zone__shim_opt.stats))
    print_stats(z);
  if (zone__shim_opt.dump_path[0] != '\0')
    dump_now(z);
  errno = saved;
}
