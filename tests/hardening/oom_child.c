/*
 * oom_child.c - malloc when the system says no. Caps its own address space
 * (RLIMIT_AS) a little above what it uses, then allocates until malloc
 * refuses, and checks that the refusal looks like glibc's: NULL with ENOMEM,
 * never a crash or an abort; calloc, realloc, posix_memalign and
 * aligned_alloc refuse the same way; realloc's refusal leaves the block
 * intact; after frees, allocation works again. Run under LD_PRELOAD=
 * libzoneshim.so (ctest zone.faults.shim_malloc_null) and, as a check on the
 * test itself, on glibc's malloc (zone.faults.glibc_malloc_null).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define CHUNK ((size_t)1 << 20)
#define HEADROOM ((size_t)192 << 20)
#define MAX_CHUNKS 4096

static void *chunk[MAX_CHUNKS];

static int fail(const char *what) {
  /* no stdio: it may need the malloc that just refused */
  ssize_t r = write(2, "oom_child: ", 11);
  r = write(2, what, strlen(what));
  r = write(2, "\n", 1);
  (void)r;
  return 1;
}

/* Bytes of address space in use now, from /proc/self/statm (pages). */
static size_t vm_size(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f != NULL) {
    if (fscanf(f, "%lu", &pages) != 1)
      pages = 0;
    fclose(f);
  }
  return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static void stamp(void *p, size_t i) {
  memset(p, (int)(i & 0xff), 64);
  memset((char *)p + CHUNK - 64, (int)(~i & 0xff), 64);
}

static int stamped(const void *p, size_t i) {
  const unsigned char *c = p;
  for (size_t k = 0; k < 64; k++)
    if (c[k] != (i & 0xff) || c[CHUNK - 64 + k] != (~i & 0xff))
      return 0;
  return 1;
}

int main(void) {
  void *warm = malloc(100);  /* let the allocator start before the cap */
  if (warm == NULL)
    return fail("malloc(100) failed before the cap");
  size_t cap = vm_size() + HEADROOM;
  struct rlimit rl = {cap, cap};
  if (setrlimit(RLIMIT_AS, &rl) != 0)
    return fail("setrlimit(RLIMIT_AS) failed");

  size_t n = 0;
  errno = 0;
  for (; n < MAX_CHUNKS; n++) {
    chunk[n] = malloc(CHUNK);
    if (chunk[n] == NULL)
      break;
    stamp(chunk[n], n);
  }
  if (n == MAX_CHUNKS)
    return fail("malloc never refused under RLIMIT_AS");
  if (errno != ENOMEM)
    return fail("malloc returned NULL without ENOMEM");
  if (n == 0)
    return fail("malloc refused the very first chunk: the cap is too tight to test anything");

  /* The others refuse alike, as long as the space is still taken. */
  errno = 0;
  if (calloc(CHUNK, 64) != NULL || errno != ENOMEM)
    return fail("calloc did not return NULL with ENOMEM");
  void *big = NULL;
  if (posix_memalign(&big, 4096, 64 * CHUNK) != ENOMEM || big != NULL)
    return fail("posix_memalign did not return ENOMEM");
  errno = 0;
  if (aligned_alloc(4096, 64 * CHUNK) != NULL || errno != ENOMEM)
    return fail("aligned_alloc did not return NULL with ENOMEM");
  errno = 0;
  if (realloc(chunk[0], 64 * CHUNK) != NULL || errno != ENOMEM)
    return fail("realloc did not return NULL with ENOMEM");
  for (size_t i = 0; i < n; i++)
    if (!stamped(chunk[i], i))
      return fail("a block changed while malloc was refusing");

  /* Give everything back: allocation works again. */
  for (size_t i = 0; i < n; i++)
    free(chunk[i]);
  void *again = malloc(CHUNK);
  if (again == NULL)
    return fail("malloc still refuses after every block was freed");
  stamp(again, 1);
  free(again);
  free(warm);
  char msg[96];
  int len = snprintf(msg, sizeof msg, "oom_child: %zu MiB before malloc refused\n", n);
  if (len > 0 && write(1, msg, (size_t)len) < 0)
    return 1;
  return 0;
}
