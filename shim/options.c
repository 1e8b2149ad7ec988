/*
 * options.c - every option of the shim in one place: the defaults, the
 * environment (ZONE_MISUSE, ZONE_STATS, ZONE_DUMP, ZONE_DUMP_EVERY,
 * ZONE_TRIM_THRESHOLD, read from `environ` without allocating) and mallopt.
 * Fields that change while other threads run are atomic (shim.h).
 */
#include "shim.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#define DEFAULT_TRIM_THRESHOLD ((size_t)128 << 10)
#define STATS_FD_MIN 100

zone__shim_options_t zone__shim_opt = {
  .misuse = ZONE_MISUSE_ABORT,
  .trim_threshold = DEFAULT_TRIM_THRESHOLD,
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

static void option_warning(const char *name, const char *value) {
  char line[256];
  int n = snprintf(line, sizeof line, "zone: ignoring %s=%.120s (see the README)\n", name, value);
  if (n > 0)
    (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void zone__shim_read_options(void) {
  if (options_read || environ == NULL)
    return;
  const char *v;
  if ((v = env_value("ZONE_MISUSE")) != NULL) {
    if (strcmp(v, "abort") == 0)
      atomic_store(&zone__shim_opt.misuse, ZONE_MISUSE_ABORT);
    else if (strcmp(v, "warn") == 0)
      atomic_store(&zone__shim_opt.misuse, ZONE_MISUSE_WARN);
    else if (strcmp(v, "ignore") == 0)
      atomic_store(&zone__shim_opt.misuse, ZONE_MISUSE_IGNORE);
    else
      option_warning("ZONE_MISUSE", v);
  }
  bool stats = false;
  if ((v = env_value("ZONE_STATS")) != NULL)
    stats = *v != '\0' && strcmp(v, "0") != 0;
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
  if ((v = env_value("ZONE_DUMP")) != NULL && *v != '\0' && !secure) {
    size_t len = strlen(v);
    if (len < sizeof zone__shim_opt.dump_path)
      memcpy(zone__shim_opt.dump_path, v, len + 1);
    else
      option_warning("ZONE_DUMP", v);
  }
  unsigned long n;
  if ((v = env_value("ZONE_DUMP_EVERY")) != NULL) {
    if (parse_count(v, &n))
      atomic_store(&zone__shim_opt.dump_every, zone__shim_opt.dump_path[0] != '\0' ? n : 0);
    else
      option_warning("ZONE_DUMP_EVERY", v);
  }
  if ((v = env_value("ZONE_TRIM_THRESHOLD")) != NULL) {
    if (parse_count(v, &n))
      atomic_store(&zone__shim_opt.trim_threshold, n);
    else
      option_warning("ZONE_TRIM_THRESHOLD", v);
  }
  options_read = true;
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
