/*
 * book_share.c - the bookkeeping of an empty zone as a share of its size,
 * for sizes at a power of two of chunks (8 KiB each) and one chunk past one,
 * where the summary tree's leaves are padded to twice the chunks, fixed and
 * ZONE_GROW (whose bookkeeping has room to grow in place):
 *
 *   zone_mib=<size> flags=<fixed|grow> book_bytes=<bytes> book_pct=<share>
 *       resident_kb=<anonymous memory the creation made resident>
 *
 * book_bytes is what the core counts (zone__bookkeeping_bytes: the zone's
 * record in whole pages and the pages of its books in use); resident_kb is
 * the process's RssAnon before and after create_zone. --quick stops at
 * 64 MiB; the default at 1 GiB.
 */
#include "bench_util.h"
#include "internal.h"

#define MIB ((size_t)1 << 20)

/* The process's anonymous resident memory, KiB (0 when it can't be read). */
static long rss_anon_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL)
    return 0;
  char line[256];
  long kb = 0;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "RssAnon:", 8) == 0)
      kb = atol(line + 8);
  fclose(f);
  return kb;
}

static void one(size_t bytes, unsigned flags) {
  long before = rss_anon_kb();
  zone_t *z = create_zone_flags(bytes, flags);
  bench_check(z != NULL, "create_zone_flags");
  long after = rss_anon_kb();
  size_t book = zone__bookkeeping_bytes(z);
  printf("zone_mib=%.3f flags=%s book_bytes=%zu book_pct=%.3f resident_kb=%ld\n", (double)bytes / (double)MIB,
         flags & ZONE_GROW ? "grow" : "fixed", book, 100.0 * (double)book / (double)zone_size(z), after - before);
  destroy_zone(z);
}

int main(int argc, char **argv) {
  size_t most = 1024 * MIB;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      most = 64 * MIB;
    } else {
      fprintf(stderr, "%s: unknown option %s (valid: --quick)\n", argv[0], argv[i]);
      return 2;
    }
  }
  const size_t chunk = (size_t)ZONE_CHUNK_BITS * ZONE_G;
  for (size_t bytes = 4 * MIB; bytes <= most; bytes *= 2)
    for (unsigned flags = 0; flags <= ZONE_GROW; flags += ZONE_GROW) {
      one(bytes, flags);
      one(bytes + chunk, flags);
    }
  return 0;
}
