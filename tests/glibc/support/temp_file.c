/*
 * temp_file.c - temporary files removed at exit. Each entry remembers the
 * process that added it, and only that process removes it: a forked child
 * that calls exit() leaves the parent's files alone.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <support/support.h>
#include <support/temp_file.h>
#include <support/test-driver.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct temp_entry {
  struct temp_entry *next;
  pid_t owner;
  char path[];
};

static struct temp_entry *entries;

static void remove_entries(void) {
  pid_t self = getpid();
  for (struct temp_entry *e = entries; e != NULL; e = e->next)
    if (e->owner == self)
      unlink(e->path);
}

void add_temp_file(const char *path) {
  if (entries == NULL)
    atexit(remove_entries);
  size_t len = strlen(path) + 1;
  struct temp_entry *e = xmalloc(sizeof *e + len);
  memcpy(e->path, path, len);
  e->owner = getpid();
  e->next = entries;
  entries = e;
}

int create_temp_file(const char *base, char **filename) {
  const char *dir = getenv("TMPDIR");
  if (dir == NULL || *dir == '\0')
    dir = "/tmp";
  char *path = xasprintf("%s/%sXXXXXX", dir, base);
  int fd = mkstemp(path);
  if (fd < 0) {
    printf("error: cannot create a temporary file %s: %m\n", path);
    free(path);
    return -1;
  }
  add_temp_file(path);
  if (filename != NULL)
    *filename = path;
  else
    free(path);
  return fd;
}
