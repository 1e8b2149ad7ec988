/*
 * grow_steps.c - the time of each growth of a zone: a ZONE_GROW zone made
 * as the malloc shim makes its arenas (4 MiB) is filled with blocks of
 * latency.c's small-block mix (90% 16..128 bytes, 10% 129..1024), each
 * written in full, until it has grown to --to bytes; every zalloc is timed,
 * and each one that grew the zone is printed with its time:
 *
 *   grow from=<MiB> to=<MiB> us=<microseconds> blocks=<live blocks>
 *        minflt=<page faults in the call> nivcsw=<times it was preempted>
 *
 * followed by the slowest zalloc that did not grow it. --start sets the first
 * size. Growth is what makes the slowest malloc of a large heap (bench/
 * latency.py at 1M live blocks): this times it alone, call by call, with the
 * core linked in directly (no shim, no other allocator).
 */
#include "bench_util.h"
#include "zone.h"

#include <sys/resource.h>

#define MIB ((size_t)1 << 20)

static size_t size_draw(bench_rng_t *r) {
  return bench_below(r, 10) < 9 ? bench_between(r, 16, 128) : bench_between(r, 129, 1024);
}

static size_t parse_mib(const char *prog, const char *s) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end != '\0' || v == 0) {
    fprintf(stderr, "%s: not a size in MiB: %s\n", prog, s);
    exit(2);
  }
  return (size_t)v * MIB;
}

int main(int argc, char **argv) {
  size_t start = 4 * MIB, to = 512 * MIB;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
      to = parse_mib(argv[0], argv[++i]);
    else if (strcmp(argv[i], "--start") == 0 && i + 1 < argc)
      start = parse_mib(argv[0], argv[++i]);
    else if (strcmp(argv[i], "--quick") == 0)
      to = 64 * MIB;
    else {
      fprintf(stderr, "usage: %s [--start MiB] [--to MiB] [--quick]\n", argv[0]);
      return 2;
    }
  }
  zone_t *z = create_zone_flags(start, ZONE_GROW);
  bench_check(z != NULL, "create_zone_flags");
  bench_rng_t rng = {42};
  size_t blocks = 0;
  double slowest = 0;
  size_t slowest_at = 0, slowest_size = 0;
  for (;;) {
    size_t before = zone_size(z);
    if (before >= to)
      break;
    size_t n = size_draw(&rng);
    struct rusage r0, r1;
    getrusage(RUSAGE_THREAD, &r0);
    double t0 = bench_now();
    unsigned char *p = zalloc(z, n);
    double t1 = bench_now();
    getrusage(RUSAGE_THREAD, &r1);
    bench_check(p != NULL, "zalloc");
    memset(p, 0x5a, n);
    blocks++;
    size_t after = zone_size(z);
    double us = (t1 - t0) * 1e6;
    if (after != before)
      printf("grow from=%zu to=%zu us=%.1f blocks=%zu minflt=%ld nivcsw=%ld\n", before / MIB, after / MIB, us, blocks,
             r1.ru_minflt - r0.ru_minflt, r1.ru_nivcsw - r0.ru_nivcsw);
    else if (us > slowest) {
      slowest = us;
      slowest_at = blocks;
      slowest_size = after;
    }
  }
  printf("slowest other zalloc: us=%.1f blocks=%zu size=%zu\n", slowest, slowest_at, slowest_size / MIB);
  destroy_zone(z);
  return 0;
}
