/*
 * first_fit.c - exact first fit, watched through zdump.
 *
 * A 256-byte zone (sixteen 16-byte granules) gets four blocks, loses two of
 * them, and serves two more requests: each goes to the lowest-addressed hole
 * that holds it, not to the hole that fits best nor to the end of the zone.
 * Then a freed block merges with the free space next to it, and bad frees
 * are turned away.
 * The zone is dumped after every step; offsets are printed from the zone's
 * start because the addresses themselves change from run to run.
 *
 * The program checks what it shows and exits 1 if first fit ever misbehaves,
 * so it doubles as a smoke test (ctest runs it).
 */
#include <zone.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static char *base;  /* the zone's first byte: the lowest block of an empty zone */

static long offset(const void *p) { return (long)((const char *)p - base); }

static void step(const zone_t *z, const char *what) {
  printf("\n-- %s\n", what);
  zdump(z, stdout);
}

static void expect(bool ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "first_fit: unexpected: %s\n", what);
    exit(1);
  }
}

int main(void) {
  zone_t *z = create_zone(256);
  if (z == NULL) {
    perror("create_zone");
    return 1;
  }
  step(z, "a new zone of 256 bytes: one free region, no headers inside it");

  /* Requests are rounded up to the 16-byte granule: 40 bytes take 48. */
  char *a = zalloc(z, 40);
  base = a;  /* first fit puts the first block at the zone's start */
  char *b = zalloc(z, 16);
  char *c = zalloc(z, 64);
  char *d = zalloc(z, 32);
  expect(a && b && c && d, "an allocation failed");
  printf("\na = zalloc(40) at +%ld (%zu bytes), b = zalloc(16) at +%ld, "
         "c = zalloc(64) at +%ld, d = zalloc(32) at +%ld\n",
         offset(a), zone_block_size(z, a), offset(b), offset(c), offset(d));
  expect(offset(b) == 48 && offset(c) == 64 && offset(d) == 128, "blocks not packed");
  step(z, "four blocks packed from the bottom, 96 bytes left at the top");

  zfree(z, a);
  zfree(z, c);
  step(z, "a and c freed: holes of 48 bytes at +0 and 64 bytes at +64");

  /* 60 bytes round to 64: the hole at +0 is too small, the one at +64 fits
   * exactly, and it is lower than the 96 free bytes at the top. */
  char *e = zalloc(z, 60);
  expect(e != NULL, "zalloc(60) failed");
  printf("\ne = zalloc(60) lands at +%ld: the 48-byte hole is too small, "
         "c's old 64-byte hole is the lowest that fits\n", offset(e));
  expect(e == c, "e did not reuse c's hole");
  step(z, "the lowest fitting hole was reused");

  /* 20 bytes round to 32: the lowest hole (a's, 48 bytes) holds them, and
   * the 16 bytes left over stay a free region of their own. */
  char *f = zalloc(z, 20);
  expect(f != NULL, "zalloc(20) failed");
  printf("\nf = zalloc(20) lands at +%ld, the start of a's old hole; "
         "16 bytes of it stay free\n", offset(f));
  expect(f == a, "f did not take the lowest hole");
  step(z, "first fit again: the lowest address wins");

  /* Freeing d merges it with the free top: adjacent free regions are always
   * one region. */
  zfree(z, d);
  step(z, "d freed: it merges with the 96 free bytes above it into one region");

  /* Misuse is detected exactly, from the bookkeeping outside the zone, and
   * leaves the zone as it was. */
  int twice = zfree(z, d);
  int interior = zfree(z, e + 16);
  printf("\nzfree(d) again = %s, zfree(e + 16) = %s: neither is a live block's start, "
         "the zone is unchanged\n",
         twice == EINVAL ? "EINVAL" : "?", interior == EINVAL ? "EINVAL" : "?");
  expect(twice == EINVAL && interior == EINVAL, "a bad free was accepted");
  expect(zone_check(z) == 0, "zone_check failed");

  zone_stats_t st;
  zone_stats(z, &st);
  printf("\nused %zu of %zu bytes in %zu blocks, %zu free regions, largest %zu bytes\n",
         st.used, st.size, st.blocks, st.free_blocks, st.largest_free);
  expect(st.used == 112 && st.blocks == 3 && st.free_blocks == 2 && st.largest_free == 128,
         "stats");

  zone_reset(z);
  step(z, "zone_reset: every block freed at once, the zone kept");
  destroy_zone(z);
  return 0;
}
