/*
 * checker_errors.c - one memory error of each kind in a zone, chosen by
 * argv[1], for a heap checker to report: run.sh runs it under valgrind's
 * memcheck (built as usual) or built with -fsanitize=address (libzone.so
 * itself uninstrumented), and greps the checker's report for the exact words.
 * The "clean" and "usable" modes make no error: the checker must say nothing.
 *
 *   padding      a write one byte past a 100-byte block, into its padding
 *   past_end     a write one byte past the zone's last byte
 *   after_free   a read of a zfree'd block
 *   after_reset  a read of a block after zone_reset
 *   leak_base    a lost block at the zone's first byte (zone kept)
 *   leak_zone    a zone never destroyed, its pointer lost
 *   uninit       a branch on a byte never written
 *   usable       zone_block_size, then the whole rounded block written
 *   kept         a zone and a block still pointed to at exit, never freed
 *   clean        the calls used as they should be, everything freed
 */
#include <zone.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static zone_t *volatile kept;  /* a zone the program still points to at exit */
static char *volatile kept_block;
static volatile unsigned char sink;

/* Forgets what the calls below left on the stack, where a copy of a lost
 * pointer could make it look reachable. */
static __attribute__((noinline)) void clobber_stack(void) {
  volatile char junk[8192];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = 0;
}

static __attribute__((noinline)) void lose_block(zone_t *z, size_t n) {
  void *volatile p = zalloc(z, n);
  if (p == NULL)
    exit(2);
  p = NULL;
}

static __attribute__((noinline)) void lose_zone(void) {
  zone_t *volatile z = create_zone(4096);
  if (z == NULL)
    exit(2);
  z = NULL;
}

static int clean(void) {
  zone_t *z = create_zone_flags(1 << 12, ZONE_GROW);
  char *a = zalloc(z, 100), *b = zcalloc(z, 3, 7), *c = zalloc_aligned(z, 256, 40);
  if (a == NULL || b == NULL || c == NULL)
    return 2;
  memset(a, 1, 100);
  memset(c, 3, 40);
  for (int i = 0; i < 21; i++)
    sink = (unsigned char)(sink + (b[i] == 0));
  a = zrealloc(z, a, 90);   /* in place, smaller */
  a = zrealloc(z, a, 110);  /* in place, into its own padding and beyond */
  memset(a + 90, 2, 20);
  a = zrealloc(z, a, 5000); /* moves (the zone grows) */
  if (a == NULL || a[0] != 1 || a[89] != 1 || a[109] != 2)
    return 3;
  memset(a, 4, 5000);
  zfree(z, c);
  zfree(z, b);
  zfree(z, a);
  char *d = zalloc(z, 33);
  memset(d, 5, 33);
  zone_reset(z);
  d = zcalloc(z, 1, 33);
  sink = (unsigned char)(sink + d[32]);
  destroy_zone(z);
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  setvbuf(stdout, NULL, _IONBF, 0);
  if (strcmp(mode, "clean") == 0)
    return clean();
  zone_t *z = create_zone(strcmp(mode, "past_end") == 0 ? 100 : 1 << 16);
  if (z == NULL)
    return 2;
  if (strcmp(mode, "padding") == 0) {
    char *p = zalloc(z, 100);  /* 112 bytes in the zone */
    p[100] = 2;
  } else if (strcmp(mode, "past_end") == 0) {
    char *p = zalloc(z, zone_size(z));  /* the whole zone: 112 bytes */
    p[zone_size(z)] = 2;
  } else if (strcmp(mode, "after_free") == 0) {
    char *p = zalloc(z, 64);
    memset(p, 1, 64);
    zfree(z, p);
    sink = p[8];
  } else if (strcmp(mode, "after_reset") == 0) {
    char *p = zalloc(z, 64);
    memset(p, 1, 64);
    zone_reset(z);
    sink = p[8];
  } else if (strcmp(mode, "leak_base") == 0) {
    kept = z;  /* the zone stays reachable: only its first block is lost */
    lose_block(z, 100);
    clobber_stack();
    return 0;
  } else if (strcmp(mode, "leak_zone") == 0) {
    lose_zone();
    clobber_stack();
  } else if (strcmp(mode, "uninit") == 0) {
    char *p = zalloc(z, 16);
    if (p[3] == 7)
      puts("seven");
  } else if (strcmp(mode, "kept") == 0) {
    kept = z;  /* alive at exit, as a program's long-lived zone may be */
    kept_block = zalloc(z, 100);
    return 0;
  } else if (strcmp(mode, "usable") == 0) {
    char *p = zalloc(z, 100);
    size_t n = zone_block_size(z, p);
    memset(p, 6, n);
    sink = p[n - 1];
  } else {
    fprintf(stderr, "checker_errors: unknown mode '%s'\n", mode);
    return 2;
  }
  destroy_zone(z);
  return 0;
}
