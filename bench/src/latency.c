/*
 * latency.c - the time of each malloc and each free, one call at a time, on
 * small-block churn at a given live count; bench/latency.py runs it under
 * each allocator and reports the percentiles.
 *
 * The pattern: fill `--live` blocks (the warm-up, untimed), then `--steps`
 * steps, each freeing a random live block and allocating its replacement.
 * Sizes are mostly small: 90% uniform in 16..128 bytes, 10% in 129..1024.
 * Every block is written in full after its malloc, as a program initialises
 * what it allocates, and carries a tag checked before its free.
 *
 * Each call is bracketed by the timer alone: lfence+rdtsc before and
 * rdtscp+lfence after (x86-64; elsewhere, or with --timer clock,
 * clock_gettime(CLOCK_MONOTONIC)). The ticks go into arrays mapped and
 * faulted in before the timing starts, so recording costs a store and never
 * touches the allocator under test; nothing else inside the timed loop
 * allocates either (no stdio until the end). The TSC is converted to ns by
 * the ratio of TSC ticks to CLOCK_MONOTONIC ns over the whole timed phase.
 * The timer's own overhead, the median of 100k empty brackets taken before
 * the timing, is subtracted from every sample (a result below it reads 0).
 * Each step also takes one empty bracket between the free and the malloc:
 * the "timer" row, the same noise (interrupts, preemption, migration) with
 * no allocator in it, which is the floor the tails are to be read against.
 *
 * Output (stdout, after the timing): one `latency:` line on the run, one
 * `pct op=<malloc|free|timer> ...` line per series with the percentiles in
 * ns (p50 ... p99.999 and max), and the --slowest K calls of each of malloc
 * and free as `slow ...` lines with their step, their operation number (the
 * fill's mallocs count from 0, then free and malloc alternate) and size.
 * --dump-slow FILE writes every malloc and free at or above --dump-ns and
 * the --dump-pct percentile of its kind to FILE, one line each.
 *
 * The 10 ns the timer resolves on the EPYC machine the results come from is
 * the TSC's own step there (it advances 26 ticks at a time at 2.6 GHz), so a
 * call that fits inside the bracket's overhead reads 0.
 *
 * Built twice: `latency`, and `latency_trace` (-DLATENCY_TRACE) for the
 * diagnosis of a tail: it defines mmap, munmap, mprotect, madvise and mremap
 * itself (exported, so an allocator that calls them through libc's PLT calls
 * these; glibc's malloc calls its internal copies and is not seen), making
 * the system calls directly and counting them, and reads getrusage(THREAD)
 * around every call for page faults and context switches. That costs two
 * system calls per timed call outside the brackets; its numbers are for
 * attribution, not for the table.
 */
#include "bench_util.h"

#include <stdarg.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FULL_STEPS 2000000
#define QUICK_STEPS 20000
#define OVERHEAD_SAMPLES 100000
#define SLOWEST_MAX 1000

/* ---- the timer ------------------------------------------------------------------ */

static int use_tsc;

static inline uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
/* The first waits for what came before to finish, the second for the timed
 * call; the lfences keep later loads from starting early. */
static inline uint64_t t_begin(void) {
  if (!use_tsc)
    return mono_ns();
  uint32_t lo, hi;
  __asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
  return (uint64_t)hi << 32 | lo;
}
static inline uint64_t t_end(void) {
  if (!use_tsc)
    return mono_ns();
  uint32_t lo, hi;
  __asm__ volatile("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi)::"rcx", "memory");
  return (uint64_t)hi << 32 | lo;
}
#define HAVE_TSC 1
#else
static inline uint64_t t_begin(void) {
  uint64_t t = mono_ns();
  __asm__ volatile("" ::: "memory");
  return t;
}
static inline uint64_t t_end(void) {
  __asm__ volatile("" ::: "memory");
  return mono_ns();
}
#define HAVE_TSC 0
#endif

/* ---- tracing (latency_trace only) -------------------------------------------- */

enum { SYS_MMAP_I, SYS_MUNMAP_I, SYS_MPROTECT_I, SYS_MADVISE_I, SYS_MREMAP_I, SYS_KINDS };
static const char *const sys_names[SYS_KINDS] = {"mmap", "munmap", "mprotect", "madvise", "mremap"};
static unsigned long sys_calls[SYS_KINDS];

#ifdef LATENCY_TRACE
/* Direct system calls: no dlsym (which may allocate, inside the allocator). */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  sys_calls[SYS_MMAP_I]++;
  return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}
int munmap(void *addr, size_t len) {
  sys_calls[SYS_MUNMAP_I]++;
  return (int)syscall(SYS_munmap, addr, len);
}
int mprotect(void *addr, size_t len, int prot) {
  sys_calls[SYS_MPROTECT_I]++;
  return (int)syscall(SYS_mprotect, addr, len, prot);
}
int madvise(void *addr, size_t len, int advice) {
  sys_calls[SYS_MADVISE_I]++;
  return (int)syscall(SYS_madvise, addr, len, advice);
}
void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  void *fixed = NULL;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    fixed = va_arg(ap, void *);
    va_end(ap);
  }
  sys_calls[SYS_MREMAP_I]++;
  return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, fixed);
}
#define TRACING 1
#else
#define TRACING 0
#endif

/* What one call did besides its work (latency_trace): a bit per kind of
 * system call, and the page faults and context switches it took. */
typedef struct trace {
  uint8_t sys;
  uint8_t minflt;  /* saturating */
  uint8_t majflt;
  uint8_t csw;     /* voluntary + involuntary */
} trace_t;

typedef struct snap {
  unsigned long sys[SYS_KINDS];
  long minflt, majflt, csw;
  uint64_t mono;  /* CLOCK_MONOTONIC, the clock perf record -k CLOCK_MONOTONIC stamps with */
} snap_t;

static inline void snap_take(snap_t *s) {
  memcpy(s->sys, sys_calls, sizeof s->sys);
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  s->minflt = ru.ru_minflt;
  s->majflt = ru.ru_majflt;
  s->csw = ru.ru_nvcsw + ru.ru_nivcsw;
  s->mono = mono_ns();
}

static inline uint8_t sat8(long v) { return v > 255 ? 255 : (uint8_t)v; }

static inline trace_t snap_diff(const snap_t *a, const snap_t *b) {
  trace_t t = {0, sat8(b->minflt - a->minflt), sat8(b->majflt - a->majflt), sat8(b->csw - a->csw)};
  for (int k = 0; k < SYS_KINDS; k++)
    if (b->sys[k] != a->sys[k])
      t.sys |= (uint8_t)(1u << k);
  return t;
}

static void trace_format(char *buf, size_t cap, trace_t t) {
  int n = snprintf(buf, cap, "minflt=%u majflt=%u csw=%u sys=", t.minflt, t.majflt, t.csw);
  if (t.sys == 0) {
    snprintf(buf + n, cap - (size_t)n, "-");
    return;
  }
  for (int k = 0; k < SYS_KINDS; k++)
    if (t.sys & (1u << k))
      n += snprintf(buf + n, cap - (size_t)n, "%s%s", (t.sys & ((1u << k) - 1)) ? "," : "", sys_names[k]);
}

/* ---- memory that is not the allocator's ------------------------------------------ */

static void *map_populated(size_t bytes) {
  void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
  bench_check(p != MAP_FAILED, "mmap of the recording arrays");
  return p;
}

/* ---- the pattern --------------------------------------------------------------------- */

static size_t size_draw(bench_rng_t *r) {
  return bench_below(r, 10) < 9 ? bench_between(r, 16, 128) : bench_between(r, 129, 1024);
}

typedef struct slot {
  unsigned char *p;
  uint32_t size;
} slot_t;

static uint64_t tag_of(size_t i, size_t size) { return (uint64_t)i * 0x9e3779b97f4a7c15ull ^ size; }

static void fill(slot_t *s, size_t i, unsigned char *p, size_t size) {
  bench_check(p != NULL, "malloc");
  s->p = p;
  s->size = (uint32_t)size;
  uint64_t t = tag_of(i, size);
  memset(p, (int)(i & 0xff), size);
  memcpy(p, &t, sizeof t);
}

static void check(const slot_t *s, size_t i) {
  uint64_t t;
  memcpy(&t, s->p, sizeof t);
  bench_check(t == tag_of(i, s->size) && s->p[s->size - 1] == (unsigned char)(i & 0xff),
              "a live block was overwritten");
}

/* ---- statistics ------------------------------------------------------------------------ */

/* LSD radix sort of n 32-bit values, scratch of n values. */
static void radix_sort(uint32_t *a, uint32_t *scratch, size_t n) {
  for (unsigned shift = 0; shift < 32; shift += 8) {
    size_t count[257] = {0};
    for (size_t i = 0; i < n; i++)
      count[((a[i] >> shift) & 0xff) + 1]++;
    for (int b = 0; b < 256; b++)
      count[b + 1] += count[b];
    for (size_t i = 0; i < n; i++)
      scratch[count[(a[i] >> shift) & 0xff]++] = a[i];
    memcpy(a, scratch, n * sizeof *a);
  }
}

static const double pcts[] = {50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999};
#define NPCTS (sizeof pcts / sizeof pcts[0])

/* Nearest rank: the smallest value with at least p% of the samples at or below it. */
static uint32_t rank_value(const uint32_t *sorted, size_t n, double p) {
  size_t k = (size_t)((p / 100.0) * (double)n + 0.999999);
  if (k < 1)
    k = 1;
  if (k > n)
    k = n;
  return sorted[k - 1];
}

typedef struct slow {
  uint32_t ticks;
  uint32_t step;
} slow_t;

/* The k largest samples of a[0..n), largest first (insertion into a short list). */
static size_t slowest_of(const uint32_t *a, size_t n, slow_t *out, size_t k) {
  size_t have = 0;
  for (size_t i = 0; i < n; i++) {
    if (have == k && a[i] <= out[k - 1].ticks)
      continue;
    size_t j = have < k ? have++ : k - 1;
    while (j > 0 && out[j - 1].ticks < a[i]) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = (slow_t){a[i], (uint32_t)i};
  }
  return have;
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [--quick] [--live N] [--steps N] [--seed S] [--slowest K] [--timer tsc|clock]\n"
          "          [--dump-slow FILE [--dump-ns NS] [--dump-pct P]]\n",
          prog);
  exit(2);
}

static size_t parse_size(const char *prog, const char *s) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (*s == '\0' || *end != '\0')
    usage(prog);
  return (size_t)v;
}

static uint32_t sat32(uint64_t v) { return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; }

int main(int argc, char **argv) {
  size_t live = 1000, steps = FULL_STEPS, slowest = 20;
  uint64_t seed = 42;
  const char *dump_path = NULL;
  double dump_ns = 0, dump_pct = 0;
  use_tsc = HAVE_TSC;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--quick") == 0)
      steps = QUICK_STEPS;
    else if (strcmp(a, "--live") == 0 && i + 1 < argc)
      live = parse_size(argv[0], argv[++i]);
    else if (strcmp(a, "--steps") == 0 && i + 1 < argc)
      steps = parse_size(argv[0], argv[++i]);
    else if (strcmp(a, "--seed") == 0 && i + 1 < argc)
      seed = parse_size(argv[0], argv[++i]);
    else if (strcmp(a, "--slowest") == 0 && i + 1 < argc)
      slowest = parse_size(argv[0], argv[++i]);
    else if (strcmp(a, "--timer") == 0 && i + 1 < argc) {
      a = argv[++i];
      if (strcmp(a, "clock") == 0)
        use_tsc = 0;
      else if (strcmp(a, "tsc") != 0 || !HAVE_TSC)
        usage(argv[0]);
    } else if (strcmp(a, "--dump-slow") == 0 && i + 1 < argc)
      dump_path = argv[++i];
    else if (strcmp(a, "--dump-ns") == 0 && i + 1 < argc)
      dump_ns = strtod(argv[++i], NULL);
    else if (strcmp(a, "--dump-pct") == 0 && i + 1 < argc)
      dump_pct = strtod(argv[++i], NULL);
    else
      usage(argv[0]);
  }
  if (live < 1 || steps < 1 || steps > UINT32_MAX || slowest > SLOWEST_MAX)
    usage(argv[0]);

  /* Everything the timing writes, mapped and faulted in now. */
  slot_t *set = map_populated(live * sizeof *set);
  uint32_t *rec[3];  /* malloc, free, timer */
  for (int k = 0; k < 3; k++)
    rec[k] = map_populated(steps * sizeof(uint32_t));
  uint32_t *scratch = map_populated(steps * sizeof(uint32_t));
  uint16_t *sizes[2];  /* the size asked for, the size freed */
  for (int k = 0; k < 2; k++)
    sizes[k] = map_populated(steps * sizeof(uint16_t));
  trace_t *tr[2] = {NULL, NULL};
  uint64_t *start[2] = {NULL, NULL};  /* when each call began, CLOCK_MONOTONIC ns */
  if (TRACING)
    for (int k = 0; k < 2; k++) {
      tr[k] = map_populated(steps * sizeof(trace_t));
      start[k] = map_populated(steps * sizeof(uint64_t));
    }

  /* The timer's own cost: the median of empty brackets. */
  for (size_t i = 0; i < OVERHEAD_SAMPLES && i < steps; i++) {
    uint64_t t0 = t_begin();
    uint64_t t1 = t_end();
    scratch[i] = sat32(t1 - t0);
  }
  size_t on = OVERHEAD_SAMPLES < steps ? OVERHEAD_SAMPLES : steps;
  radix_sort(scratch, rec[2], on);
  uint64_t overhead = scratch[on / 2];

  bench_rng_t rng = {seed};
  double w0 = bench_now();
  for (size_t i = 0; i < live; i++) {
    size_t n = size_draw(&rng);
    fill(&set[i], i, malloc(n), n);
  }
  double w1 = bench_now();

  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  uint64_t mono0 = mono_ns(), tick0 = t_begin();
  snap_t sa, sb;
  for (size_t s = 0; s < steps; s++) {
    size_t i = bench_below(&rng, live);
    slot_t *v = &set[i];
    check(v, i);
    void *old = v->p;
    sizes[1][s] = (uint16_t)v->size;
    if (TRACING)
      snap_take(&sa);
    uint64_t f0 = t_begin();
    free(old);
    uint64_t f1 = t_end();
    if (TRACING) {
      snap_take(&sb);
      tr[1][s] = snap_diff(&sa, &sb);
      start[1][s] = sa.mono;
    }
    uint64_t e0 = t_begin();
    uint64_t e1 = t_end();
    size_t n = size_draw(&rng);
    sizes[0][s] = (uint16_t)n;
    if (TRACING)
      snap_take(&sa);
    uint64_t m0 = t_begin();
    void *p = malloc(n);
    uint64_t m1 = t_end();
    if (TRACING) {
      snap_take(&sb);
      tr[0][s] = snap_diff(&sa, &sb);
      start[0][s] = sa.mono;
    }
    rec[0][s] = sat32(m1 - m0);
    rec[1][s] = sat32(f1 - f0);
    rec[2][s] = sat32(e1 - e0);
    fill(v, i, p, n);
  }
  uint64_t tick1 = t_end(), mono1 = mono_ns();
  getrusage(RUSAGE_SELF, &ru1);

  for (size_t i = 0; i < live; i++) {
    check(&set[i], i);
    free(set[i].p);
  }

  /* ticks per ns: the TSC against CLOCK_MONOTONIC over the timed phase */
  double per_ns = use_tsc ? (double)(tick1 - tick0) / (double)(mono1 - mono0) : 1.0;
  for (int k = 0; k < 3; k++)
    for (size_t s = 0; s < steps; s++)
      rec[k][s] = rec[k][s] > overhead ? rec[k][s] - (uint32_t)overhead : 0;

  printf("latency: live=%zu steps=%zu timer=%s ticks_per_ns=%.4f overhead_ns=%.1f warmup_s=%.3f "
         "timed_s=%.3f minflt=%ld majflt=%ld nvcsw=%ld nivcsw=%ld trace=%d\n",
         live, steps, use_tsc ? "tsc" : "clock", per_ns, (double)overhead / per_ns, w1 - w0,
         (double)(mono1 - mono0) * 1e-9, ru1.ru_minflt - ru0.ru_minflt, ru1.ru_majflt - ru0.ru_majflt,
         ru1.ru_nvcsw - ru0.ru_nvcsw, ru1.ru_nivcsw - ru0.ru_nivcsw, TRACING);

  if (TRACING) {
    /* How many timed calls made each kind of system call, took a fault, were switched out. */
    size_t with[SYS_KINDS] = {0}, faulted = 0, switched = 0;
    for (int k = 0; k < 2; k++)
      for (size_t s = 0; s < steps; s++) {
        for (int j = 0; j < SYS_KINDS; j++)
          with[j] += (tr[k][s].sys >> j) & 1;
        faulted += tr[k][s].minflt + tr[k][s].majflt > 0;
        switched += tr[k][s].csw > 0;
      }
    printf("trace: calls=%zu", 2 * steps);
    for (int j = 0; j < SYS_KINDS; j++)
      printf(" %s=%zu", sys_names[j], with[j]);
    printf(" faulted=%zu switched=%zu\n", faulted, switched);
  }
  static const char *const op_names[3] = {"malloc", "free", "timer"};
  static slow_t slow[SLOWEST_MAX];
  FILE *dump = NULL;
  if (dump_path != NULL) {
    dump = fopen(dump_path, "w");
    bench_check(dump != NULL, "--dump-slow: can't write the file");
    fprintf(dump, "# op step opno ns size%s\n",
            TRACING ? " minflt majflt csw sysmask start_monotonic_ns" : "");
  }
  char extra[128];
  uint32_t *sorted = map_populated(steps * sizeof(uint32_t));
  for (int k = 0; k < 3; k++) {
    double sum = 0;
    size_t over10us = 0;  /* calls of 10 us or more: interrupts, preemption, growth */
    for (size_t s = 0; s < steps; s++) {
      sum += rec[k][s];
      over10us += (double)rec[k][s] >= 10000.0 * per_ns;
    }
    memcpy(sorted, rec[k], steps * sizeof *sorted);
    radix_sort(sorted, scratch, steps);
    printf("pct op=%s live=%zu n=%zu mean=%.1f over10us=%zu", op_names[k], live, steps,
           sum / (double)steps / per_ns, over10us);
    for (size_t j = 0; j < NPCTS; j++)
      printf(" p%g=%.1f", pcts[j], (double)rank_value(sorted, steps, pcts[j]) / per_ns);
    printf(" max=%.1f\n", (double)sorted[steps - 1] / per_ns);
    if (k == 2)
      break;
    size_t nslow = slowest_of(rec[k], steps, slow, slowest);
    for (size_t j = 0; j < nslow; j++) {
      size_t s = slow[j].step;
      extra[0] = '\0';
      if (TRACING)
        trace_format(extra, sizeof extra, tr[k][s]);
      printf("slow op=%s rank=%zu step=%zu opno=%zu ns=%.0f size=%u %s\n", op_names[k], j + 1, s,
             live + 2 * s + (k == 0), (double)slow[j].ticks / per_ns, sizes[k][s], extra);
    }
    if (dump == NULL)
      continue;
    /* every call at or above --dump-ns and the --dump-pct percentile */
    uint32_t floor = dump_pct > 0 ? rank_value(sorted, steps, dump_pct) : 0;
    for (size_t s = 0; s < steps; s++) {
      double ns = (double)rec[k][s] / per_ns;
      if (ns < dump_ns || rec[k][s] < floor)
        continue;
      extra[0] = '\0';
      if (TRACING) {
        trace_t t = tr[k][s];
        /* CLOCK_MONOTONIC just before the call, to line it up with a perf trace (read
         * directly: the TSC converted at the run's mean rate drifts from it by microseconds) */
        snprintf(extra, sizeof extra, " %u %u %u %u %llu", t.minflt, t.majflt, t.csw, t.sys,
                 (unsigned long long)start[k][s]);
      }
      fprintf(dump, "%s %zu %zu %.0f %u%s\n", op_names[k], s, live + 2 * s + (k == 0), ns,
              sizes[k][s], extra);
    }
  }
  if (dump != NULL)
    fclose(dump);
  return 0;
}
