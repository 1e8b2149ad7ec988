/*
 * options.c - every option of the shim in one place: the defaults, the
 * environment (ZONE_MISUSE, ZONE_STATS, ZONE_DUMP, ZONE_DUMP_EVERY,
 * ZONE_TRIM_THRESHOLD, ZONE_ARENAS, read from `environ` without allocating)
 * and mallopt.
 * Fields that change while other threads run are atomic (shim.h).
 */
#include "shim.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#define DEFAULT_TRIM_THRESHOLD ((size_t)128 << 10)
#define DEFAULT_RETURN_DELAY 1024
#define STATS_FD_MIN 100

zone__shim_options_t zone__shim_opt = {
  .misuse = ZONE_MISUSE_ABORT,
  .trim_threshold = DEFAULT_TRIM_THRESHOLD,
  .return_delay = DEFAULT_RETURN_DELAY,
  .mmap_threshold = ZONE_SHIM_HUGE_DEFAULT,
};

static bool options_read;
static int stats_fd = STDERR_FILENO;

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

/*
 * One rule for every variable: a value that its kind does not accept is
 * ignored (the default stays) with one warning that names the variable, the
 * value, the values it takes and where they are documented. The warning is
 * printed once per process tree: the first process that warns leaves
 * ZONE_WARNED=1 in its environment (zone__shim_options_settle), which its
 * children inherit, so `bash -c 'ls; ls'` warns once, not three times.
 */
typedef enum { KIND_FLAG, KIND_COUNT, KIND_ARENAS, KIND_MISUSE, KIND_PATH, KIND_MMAP } option_kind_t;

typedef struct option_spec {
  const char *name;
  option_kind_t kind;
  const char *valid;  /* the values it takes, for the warning */
} option_spec_t;

enum {
  OPT_MISUSE, OPT_STATS, OPT_DUMP, OPT_DUMP_EVERY, OPT_TRIM_THRESHOLD, OPT_REPORT_PID, OPT_ARENAS,
  OPT_FREE_DEFER, OPT_RETURN_DELAY, OPT_MMAP_THRESHOLD, OPT_COUNT_
};

static const option_spec_t specs[OPT_COUNT_] = {
  [OPT_MISUSE] = {"ZONE_MISUSE", KIND_MISUSE, "abort, warn or ignore"},
  [OPT_STATS] = {"ZONE_STATS", KIND_FLAG, "0 or 1"},
  [OPT_DUMP] = {"ZONE_DUMP", KIND_PATH, "the path of a file it can create or append to"},
  [OPT_DUMP_EVERY] = {"ZONE_DUMP_EVERY", KIND_COUNT, "a count of allocations (0: at exit only)"},
  [OPT_TRIM_THRESHOLD] = {"ZONE_TRIM_THRESHOLD", KIND_COUNT, "a count of bytes (0: never)"},
  [OPT_REPORT_PID] = {"ZONE_REPORT_PID", KIND_COUNT, "a process id"},
  [OPT_ARENAS] = {"ZONE_ARENAS", KIND_ARENAS, "a count of arenas from 1 to 256"},
  [OPT_FREE_DEFER] = {"ZONE_FREE_DEFER", KIND_FLAG, "0 or 1"},
  [OPT_RETURN_DELAY] = {"ZONE_RETURN_DELAY", KIND_COUNT, "a count of operations (0: never)"},
  [OPT_MMAP_THRESHOLD] = {"ZONE_MMAP_THRESHOLD", KIND_MMAP,
                          "a count of bytes from 1048576 on (0: never)"},
};

_Static_assert(ZONE_SHIM_HUGE_MIN == 1048576, "ZONE_MMAP_THRESHOLD's warning names its least value");

_Static_assert(ZONE_ARENAS_MAX == 256, "ZONE_ARENAS's warning names the range");

static bool warned_here;

static void option_warning(const option_spec_t *spec, const char *value, const char *why) {
  static const char marker[] = "ZONE_WARNED";
  if (warned_here || env_value(marker) != NULL)
    return;
  warned_here = true;
  char line[512];
  int n = snprintf(line, sizeof line, "zone: ignoring %s=%.160s: %sit takes %s (see libzoneshim(7))\n",
                   spec->name, value, why, spec->valid);
  if (n > 0)
    (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Whether value is one the spec's kind takes; *count gets a count's value. */
static bool option_parse(const option_spec_t *spec, const char *v, unsigned long *count) {
  switch (spec->kind) {
  case KIND_FLAG:
    *count = v[0] == '1';
    return (v[0] == '0' || v[0] == '1') && v[1] == '\0';
  case KIND_COUNT:
    return parse_count(v, count);
  case KIND_ARENAS:
    return parse_count(v, count) && *count >= 1 && *count <= ZONE_ARENAS_MAX;
  case KIND_MMAP:
    return parse_count(v, count) && (*count == 0 || *count >= ZONE_SHIM_HUGE_MIN);
  case KIND_MISUSE:
    *count = strcmp(v, "abort") == 0 ? ZONE_MISUSE_ABORT
             : strcmp(v, "warn") == 0 ? ZONE_MISUSE_WARN
                                      : ZONE_MISUSE_IGNORE;
    return strcmp(v, "abort") == 0 || strcmp(v, "warn") == 0 || strcmp(v, "ignore") == 0;
  case KIND_PATH:
    return strlen(v) < sizeof zone__shim_opt.dump_path;
  }
  return false;
}

/* The value of option k when set and valid (warning otherwise), else NULL. */
static const char *option_value(int k, unsigned long *count) {
  const char *v = env_value(specs[k].name);
  if (v == NULL || *v == '\0')  /* set to nothing: as if unset */
    return NULL;
  if (!option_parse(&specs[k], v, count)) {
    option_warning(&specs[k], v, "");
    return NULL;
  }
  return v;
}

/* Whether the dump file can be written: opened for append (and created) now,
 * so that a bad path is said at start-up rather than silently at exit. */
static bool dump_path_writable(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return false;
  close(fd);
  return true;
}

void zone__shim_read_options(void) {
  if (options_read || environ == NULL)
    return;
  unsigned long n = 0;
  if (option_value(OPT_MISUSE, &n) != NULL)
    atomic_store(&zone__shim_opt.misuse, (int)n);
  /* Reports (ZONE_STATS, ZONE_DUMP) come from one process only when
   * ZONE_REPORT_PID names it (zone-run names the program it runs). */
  bool reports = true;
  if (option_value(OPT_REPORT_PID, &n) != NULL)
    reports = (unsigned long)getpid() == n;
  bool stats = option_value(OPT_STATS, &n) != NULL && n == 1 && reports;
  if (stats) {
    /* GNU tools close stderr at exit, before our report: keep a copy, out of
     * the way of the descriptors programs expect to get. */
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, STATS_FD_MIN);
    if (fd >= 0)
      stats_fd = fd;
  }
  atomic_store(&zone__shim_opt.stats, stats);
  /* A set-user-ID program must not write files where its caller says. */
  bool secure = getauxval(AT_SECURE) != 0;
  const char *v = option_value(OPT_DUMP, &n);
  if (v != NULL && reports && !secure) {
    if (dump_path_writable(v))
      memcpy(zone__shim_opt.dump_path, v, strlen(v) + 1);
    else
      option_warning(&specs[OPT_DUMP], v, "can't open it for writing; ");
  }
  if (option_value(OPT_DUMP_EVERY, &n) != NULL && zone__shim_opt.dump_path[0] != '\0' && n != 0) {
    /* From now on every operation is due (trim.c): the count this thread
     * has left moves out of its marks. */
    unsigned left = (unsigned)zone__shim_self.marks / ZONE_MARK_OP;
    atomic_store(&zone__shim_opt.dump_every, n);
    zone__shim_countdown(left);
  }
  if (option_value(OPT_TRIM_THRESHOLD, &n) != NULL)
    atomic_store(&zone__shim_opt.trim_threshold, n);
  if (option_value(OPT_RETURN_DELAY, &n) != NULL)
    zone__shim_opt.return_delay = n;
  if (option_value(OPT_MMAP_THRESHOLD, &n) != NULL)
    atomic_store(&zone__shim_opt.mmap_threshold, n);
  if (option_value(OPT_ARENAS, &n) != NULL)
    zone__shim_opt.arenas = (unsigned)n;
  zone__shim_opt.free_defer = option_value(OPT_FREE_DEFER, &n) != NULL && n == 1;
  options_read = true;
}

void zone__shim_options_settle(void) {
  if (warned_here)
    (void)setenv("ZONE_WARNED", "1", 0);
}

int zone__shim_stats_fd(void) { return stats_fd; }

/* M_MXFAST keeps glibc's range check; a negative M_TRIM_THRESHOLD means never
 * give memory back automatically. */
int zone__shim_mallopt(int param, int value) {
  switch (param) {
  case M_MXFAST:
    return value >= 0 && (size_t)value <= 80 * sizeof(size_t) / 4;
  case M_TRIM_THRESHOLD:
    atomic_store_explicit(&zone__shim_opt.trim_threshold, value < 0 ? 0 : (size_t)value,
                          memory_order_relaxed);
    return 1;
  default:
    return 1;
  }
}
