/*
 * state.c - the shim's process-wide state and its life: the default zone,
 * created on the first allocation (ld.so makes it before any constructor runs,
 * so it comes from static storage and mmap only); the options, read from
 * `environ` without allocating; the fork handlers; and what happens at exit
 * (ZONE_STATS, ZONE_DUMP). The zone is never torn down: destructors and late
 * threads keep calling free after ours has run.
 *
 * Fork. The prepare handler takes the zone's lock so the child inherits a
 * zone that no thread was changing, and the child reinitialises the lock. The
 * one case where that can't work is a fork from a signal handler that
 * interrupted this same thread inside the core: the lock is held by the very
 * thread that would wait for it. The thread-local depth counter says so; then
 * the prepare handler takes nothing, and the child, whose zone may be halfway
 * through a change, gets a fresh default zone and keeps the old one frozen:
 * its blocks stay readable and reallocatable, its frees are ignored.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/file.h>
#include <unistd.h>

#define INITIAL_ZONE_BYTES ((size_t)4 << 20)  /* first extent; growth doubles */
#define DEFAULT_TRIM_THRESHOLD ((size_t)128 << 10)
#define MAX_FROZEN 8
#define STATS_FD_MIN 100

zone__shim_options_t zone__shim_opt = {
  .misuse = ZONE_MISUSE_ABORT,
  .trim_threshold = DEFAULT_TRIM_THRESHOLD,
};
zone_t *_Atomic zone__shim_zone;
ZONE_SHIM_TLS unsigned zone__shim_depth;

static atomic_flag init_lock = ATOMIC_FLAG_INIT;
static _Atomic bool options_read;
static _Atomic bool atfork_registered;
static _Atomic unsigned long allocs_counted;
static int stats_fd = STDERR_FILENO;

static zone_t *frozen[MAX_FROZEN];  /* written only in a fork child, single-threaded */
static _Atomic size_t nfrozen;

/* ---- options ------------------------------------------------------------------------ */

extern char **environ;

/* The value of NAME in the environment, or NULL; no allocation, no getenv. */
static const char *env_value(const char *name) {
  char **env = environ;
  if (env == NULL)
    return NULL;
  size_t len = strlen(name);
  for (; *env != NULL; env++)
    if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
      return *env + len + 1;
  return NULL;
}

/* A decimal count; false for anything else (empty, signs, junk, overflow). */
static bool parse_count(const char *s, unsigned long *out) {
  unsigned long v = 0;
  if (s == NULL || *s == '\0')
    return false;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9' || v > (~0ul - 9) / 10)
      return false;
    v = v * 10 + (unsigned long)(*s - '0');
  }
  *out = v;
  return true;
}

static void option_warning(const char *name, const char *value) {
  char line[256];
  int n = snprintf(line, sizeof line, "zone: ignoring %s=%.120s (see the README)\n", name, value);
  if (n > 0)
    (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Reads the options once, as soon as `environ` is set (it may not be yet at
 * the first allocation, which ld.so makes before libc's own start-up). */
static void read_options(void) {
  if (atomic_load(&options_read) || environ == NULL)
    return;
  zone__shim_options_t o = zone__shim_opt;
  const char *v;
  if ((v = env_value("ZONE_MISUSE")) != NULL) {
    if (strcmp(v, "abort") == 0)
      o.misuse = ZONE_MISUSE_ABORT;
    else if (strcmp(v, "warn") == 0)
      o.misuse = ZONE_MISUSE_WARN;
    else if (strcmp(v, "ignore") == 0)
      o.misuse = ZONE_MISUSE_IGNORE;
    else
      option_warning("ZONE_MISUSE", v);
  }
  if ((v = env_value("ZONE_STATS")) != NULL)
    o.stats = *v != '\0' && strcmp(v, "0") != 0;
  if (o.stats) {
    /* GNU tools close stderr at exit, before our report: keep a copy, out of
     * the way of the descriptors programs expect to get. */
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, STATS_FD_MIN);
    if (fd >= 0)
      stats_fd = fd;
  }
  /* A set-user-ID program must not write files where its caller says. */
  bool secure = getauxval(AT_SECURE) != 0;
  if ((v = env_value("ZONE_DUMP")) != NULL && *v != '\0' && !secure) {
    size_t len = strlen(v);
    if (len < sizeof o.dump_path)
      memcpy(o.dump_path, v, len + 1);
    else
      option_warning("ZONE_DUMP", v);
  }
  unsigned long n;
  if ((v = env_value("ZONE_DUMP_EVERY")) != NULL) {
    if (parse_count(v, &n))
      o.dump_every = o.dump_path[0] != '\0' ? n : 0;
    else
      option_warning("ZONE_DUMP_EVERY", v);
  }
  if ((v = env_value("ZONE_TRIM_THRESHOLD")) != NULL) {
    if (parse_count(v, &n))
      o.trim_threshold = n;
    else
      option_warning("ZONE_TRIM_THRESHOLD", v);
  }
  zone__shim_opt = o;
  atomic_store(&options_read, true);
}

/* ---- fork ------------------------------------------------------------------------------ */

/* Forks in progress on this thread, and which of them took the zone's lock
 * (bit k for the fork at nesting level k). They nest when a signal handler
 * forks while this thread is inside fork() itself, between its prepare and
 * parent handlers: the outer prepare holds the lock and marks the thread as
 * inside the core, so the inner prepare takes nothing, like a fork that
 * interrupted malloc. All handlers of one fork run on the forking thread. */
static ZONE_SHIM_TLS unsigned fork_level;
static ZONE_SHIM_TLS unsigned fork_took;

static void fork_prepare(void) {
  unsigned level = fork_level++;
  zone_t *z = atomic_load(&zone__shim_zone);
  if (z == NULL || zone__shim_depth != 0 || level >= 32)
    return;  /* inside the core on this thread: waiting for the lock could deadlock */
  zone__shim_enter();
  zone__lock(z);
  fork_took |= 1u << level;
}

/* Whether the fork now finishing (the innermost) took the lock; pops it. */
static bool fork_finish(void) {
  unsigned level = --fork_level;
  if (level >= 32 || !(fork_took & (1u << level)))
    return false;
  fork_took &= ~(1u << level);
  return true;
}

static void fork_parent(void) {
  if (fork_finish()) {
    zone__unlock(atomic_load(&zone__shim_zone));
    zone__shim_leave();
  }
}

static void fork_child(void) {
  bool took = fork_finish();
  zone_t *z = atomic_load(&zone__shim_zone);
  zone__shim_trim_fork_child();
  atomic_flag_clear(&init_lock);
  if (z == NULL)
    return;
  zone__lock_reinit(z);
  if (took) {
    zone__shim_leave();
    return;
  }
  /* The zone may be halfway through a change: freeze it, start a new one. */
  size_t k = atomic_load(&nfrozen);
  if (k == MAX_FROZEN)
    return;  /* nested beyond reason: keep the old zone and hope */
  zone_t *fresh = create_zone_flags(INITIAL_ZONE_BYTES, ZONE_GROW);
  if (fresh == NULL)
    return;
  frozen[k] = z;
  atomic_store(&nfrozen, k + 1);
  atomic_store(&zone__shim_zone, fresh);
}

bool zone__shim_frozen_lookup(const void *p, size_t *usable) {
  size_t k = atomic_load(&nfrozen);
  for (size_t i = 0; i < k; i++) {
    zone_t *z = frozen[i];
    zone__extent_t *e = zone__find_extent(z, (uintptr_t)p);
    if (e == NULL)
      continue;
    /* Nothing else ever changes this zone, so reading it unlocked is safe
     * except while the interrupted call finishes; the block's own size is
     * then a guess, so it is bounded by the extent. */
    size_t g = ((uintptr_t)p - e->base) / ZONE_G;
    size_t to_end = e->ngran * ZONE_G - ((uintptr_t)p - e->base);
    size_t bytes = zone__extent_is_block(e, g) ? zone__extent_block_len(e, g) * ZONE_G : to_end;
    *usable = bytes < to_end ? bytes : to_end;
    return true;
  }
  return false;
}

/* pthread_atfork may allocate; by now the zone exists, so that recursion is a
 * plain allocation. Registered once, by the first thread to get here. */
static void register_atfork(void) {
  bool expected = false;
  if (atomic_load(&atfork_registered) ||
      !atomic_compare_exchange_strong(&atfork_registered, &expected, true))
    return;
  if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
    atomic_store(&atfork_registered, false);
}

/* ---- start-up ---------------------------------------------------------------------------- */

zone_t *zone__shim_zone_slow(void) {
  while (atomic_flag_test_and_set_explicit(&init_lock, memory_order_acquire))
    sched_yield();
  zone_t *z = atomic_load(&zone__shim_zone);
  if (z == NULL) {
    read_options();
    z = create_zone_flags(INITIAL_ZONE_BYTES, ZONE_GROW);
    atomic_store_explicit(&zone__shim_zone, z, memory_order_release);
  }
  atomic_flag_clear_explicit(&init_lock, memory_order_release);
  if (z == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  register_atfork();
  return z;
}

/* Runs after libc's own start-up: reads the options if the first allocation
 * came too early to see the environment, and makes sure of the fork handlers. */
__attribute__((constructor)) static void shim_start(void) {
  while (atomic_flag_test_and_set_explicit(&init_lock, memory_order_acquire))
    sched_yield();
  read_options();
  atomic_flag_clear_explicit(&init_lock, memory_order_release);
  if (zone__shim_get() != NULL)
    register_atfork();
}

/* ---- dumps and the exit report --------------------------------------------------------- */

/* Appends a zdump of the default zone to ZONE_DUMP. The file is locked for the
 * dump so that processes sharing it (a shell and its children) don't mix lines. */
static void dump_now(zone_t *z) {
  int saved = errno;
  int fd = open(zone__shim_opt.dump_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    flock(fd, LOCK_EX);
    zone__shim_enter();
    zone__dump_fd(z, fd);
    zone__shim_leave();
    flock(fd, LOCK_UN);
    close(fd);
  }
  errno = saved;
}

void zone__shim_count_alloc(void) {
  unsigned long n = atomic_fetch_add_explicit(&allocs_counted, 1, memory_order_relaxed) + 1;
  if (n % zone__shim_opt.dump_every == 0) {
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
    (void)!write(stats_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

__attribute__((destructor)) static void shim_exit(void) {
  zone_t *z = atomic_load(&zone__shim_zone);
  if (z == NULL)
    return;
  int saved = errno;
  if (zone__shim_opt.stats)
    print_stats(z);
  if (zone__shim_opt.dump_path[0] != '\0')
    dump_now(z);
  errno = saved;
}
