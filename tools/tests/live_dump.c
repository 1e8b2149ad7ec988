/*
 * live_dump.c - makes zdump output from a real zone for the zone-map tests:
 * a growable zone that fragments, grows (in place: still one extent), and is
 * dumped after each phase (several dumps in one file, as ZONE_DUMP_EVERY
 * writes them). The pattern is fixed so the test is repeatable; the
 * addresses are whatever mmap gives.
 *
 * Usage: live_dump FILE
 */
#include <zone.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: live_dump FILE\n");
    return 2;
  }
  FILE *out = fopen(argv[1], "w");
  if (out == NULL) {
    perror(argv[1]);
    return 1;
  }
  zone_t *z = create_zone_flags(16384, ZONE_GROW);
  if (z == NULL) {
    perror("create_zone_flags");
    fclose(out);
    return 1;
  }

  /* Phase 1: 200 blocks of 16..256 bytes from a fixed sequence. */
  enum { N = 200 };
  void *blocks[N];
  unsigned seed = 12345;
  for (int i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    blocks[i] = zalloc(z, 16 + (seed >> 16) % 241);
    if (blocks[i] == NULL) {
      perror("zalloc");
      return 1;
    }
  }
  zdump(z, out);

  /* Phase 2: every third block freed: holes of many sizes. */
  for (int i = 0; i < N; i += 3) {
    zfree(z, blocks[i]);
    blocks[i] = NULL;
  }
  zdump(z, out);

  /* Phase 3: requests too big for any hole make the zone grow. */
  void *big1 = zalloc(z, 40000);
  void *big2 = zalloc(z, 100000);
  if (big1 == NULL || big2 == NULL) {
    perror("zalloc (growth)");
    return 1;
  }
  zdump(z, out);

  /* Phase 4: small requests fill the lowest holes again (first fit). */
  for (int i = 0; i < 30; i++)
    zalloc(z, 24);
  zdump(z, out);

  int rc = zone_check(z) == 0 ? 0 : 1;
  destroy_zone(z);
  if (fclose(out) != 0) {
    perror(argv[1]);
    return 1;
  }
  return rc;
}
