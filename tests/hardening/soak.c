/*
 * soak.c - many threads hammering one allocator for a while. Each thread
 * makes random calls (allocate, zero-allocate, aligned, resize, free, and
 * hand blocks to other threads to free), keeps its blocks filled with a
 * pattern naming the block, and checks before every free or resize that the
 * block still holds it and still belongs to the allocator; a lost lock, a
 * block handed out twice or a bad move shows up as a foreign pattern. Other
 * threads meanwhile read the zone (stats, walk, zone_check).
 *
 *   soak zone    one zone (ZONE_GROW, starting small) through the zone API;
 *                at the end zone_check passes and the zone is empty
 *   soak fixed   the same on a fixed-size zone, where ENOMEM is normal
 *   soak malloc  the malloc family, meant for LD_PRELOAD=libzoneshim.so:
 *                at the end mallinfo2 shows every block given back
 *
 * Environment: ZONE_SOAK_SECONDS (default 5), ZONE_SOAK_THREADS (default 4).
 * Prints the number of calls made; exits nonzero on the first broken check.
 */
#include "zone.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 512          /* live blocks per thread */
#define MAX_THREADS 64
#define HANDOFF 64         /* blocks in flight between threads */

enum mode { MODE_ZONE, MODE_FIXED, MODE_MALLOC };

static enum mode mode;
static zone_t *zone;
static atomic_bool stop;
static atomic_ulong calls;
static _Atomic(uintptr_t) handoff[HANDOFF];  /* block addresses; size in the block's header */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "soak: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}

/* ---- the allocator under test --------------------------------------------------- */

static void *a_alloc(size_t n) { return mode == MODE_MALLOC ? malloc(n) : zalloc(zone, n); }
static void *a_calloc(size_t c, size_t n) {
  return mode == MODE_MALLOC ? calloc(c, n) : zcalloc(zone, c, n);
}
static void *a_realloc(void *p, size_t n) {
  return mode == MODE_MALLOC ? realloc(p, n) : zrealloc(zone, p, n);
}
static void *a_aligned(size_t align, size_t n) {
  if (mode != MODE_MALLOC)
    return zalloc_aligned(zone, align, n);
  void *p = NULL;
  return posix_memalign(&p, align, n) == 0 ? p : NULL;
}
static void a_free(void *p) {
  if (mode == MODE_MALLOC) {
    free(p);
    return;
  }
  int err = zfree(zone, p);
  if (err != 0)
    die("zfree(%p) of a live block returned %d", p, err);
}

/* ---- blocks ------------------------------------------------------------------------ */

/* Every block starts with a header naming it (its own address and size) and
 * continues with bytes derived from the address: a block that moved without
 * its contents, or that another thread wrote into, fails the check. */
typedef struct header {
  uintptr_t self;
  size_t size;
} header_t;

static uint8_t body_byte(uintptr_t tag, size_t i) { return (uint8_t)(tag * 31 + i * 7 + (i >> 8)); }

static void stamp(void *p, size_t size) {
  header_t h = {(uintptr_t)p, size};
  memcpy(p, &h, sizeof h);
  unsigned char *c = p;
  for (size_t i = sizeof h; i < size; i++)
    c[i] = body_byte((uintptr_t)p, i);
}

/* Checks the live block at p of `size` bytes: the first `bytes` of it still
 * hold what stamp() wrote when it lived at `tag` with `stamped` bytes, and
 * the allocator says it owns it, big enough. */
static void check_moved(const void *p, size_t size, uintptr_t tag, size_t stamped, size_t bytes) {
  header_t h;
  memcpy(&h, p, sizeof h);
  if (h.self != tag || h.size != stamped)
    die("block %p lost its header (%#lx %zu, not %#lx %zu)", p, (unsigned long)h.self, h.size,
        (unsigned long)tag, stamped);
  const unsigned char *c = p;
  for (size_t i = sizeof h; i < bytes; i++)
    if (c[i] != body_byte(tag, i))
      die("block %p changed at byte %zu", p, i);
  if (mode != MODE_MALLOC && !zone_owns(zone, p))
    die("zone_owns(%p) false for a live block", p);
  if (mode != MODE_MALLOC && zone_block_size(zone, p) < size)
    die("zone_block_size(%p) below the request %zu", p, size);
  if (mode == MODE_MALLOC && malloc_usable_size((void *)p) < size)
    die("malloc_usable_size(%p) below the request %zu", p, size);
}

static void check(const void *p, size_t size) { check_moved(p, size, (uintptr_t)p, size, size); }

/* ---- the workers ----------------------------------------------------------------------- */

typedef struct worker {
  pthread_t thread;
  unsigned id;
  uint64_t rng;
  void *blk[SLOTS];
  size_t len[SLOTS];
} worker_t;

static uint64_t next_rand(worker_t *w) {
  w->rng ^= w->rng << 13;
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  return w->rng;
}

/* Mostly small blocks, some large ones; never under a header. */
static size_t pick_size(worker_t *w) {
  uint64_t r = next_rand(w);
  switch (r % 16) {
  case 0:
    return sizeof(header_t) + (r >> 8) % 65536;
  case 1:
  case 2:
    return sizeof(header_t) + (r >> 8) % 4096;
  default:
    return sizeof(header_t) + (r >> 8) % 256;
  }
}

static void release(worker_t *w, size_t i) {
  check(w->blk[i], w->len[i]);
  /* Sometimes another thread frees it: put it in the handoff ring. */
  if (next_rand(w) % 4 == 0) {
    size_t at = next_rand(w) % HANDOFF;
    uintptr_t old = atomic_exchange(&handoff[at], (uintptr_t)w->blk[i]);
    if (old != 0) {
      header_t h;
      memcpy(&h, (void *)old, sizeof h);
      check((void *)old, h.size);
      a_free((void *)old);
    }
  } else {
    a_free(w->blk[i]);
  }
  w->blk[i] = NULL;
}

static void one_call(worker_t *w) {
  size_t i = next_rand(w) % SLOTS;
  uint64_t r = next_rand(w);
  if (w->blk[i] != NULL && r % 3 == 0) {
    release(w, i);
    return;
  }
  if (w->blk[i] != NULL && r % 3 == 1) {
    size_t n = pick_size(w);
    void *q = a_realloc(w->blk[i], n);
    if (q == NULL) {
      if (errno != ENOMEM || mode != MODE_FIXED)
        die("realloc(%p, %zu) failed, errno %d", w->blk[i], n, errno);
      check(w->blk[i], w->len[i]);  /* intact on failure */
      return;
    }
    size_t keep = n < w->len[i] ? n : w->len[i];  /* >= the header: sizes never go under it */
    check_moved(q, n, (uintptr_t)w->blk[i], w->len[i], keep);
    w->blk[i] = q;
    w->len[i] = n;
    stamp(q, n);
    return;
  }
  if (w->blk[i] != NULL)
    release(w, i);
  size_t n = pick_size(w);
  void *p;
  switch (r % 8) {
  case 0:
    p = a_calloc(1, n);
    if (p != NULL)
      for (size_t k = 0; k < n; k++)
        if (((unsigned char *)p)[k] != 0)
          die("calloc block %p not zero at byte %zu", p, k);
    break;
  case 1: {
    size_t align = (size_t)64 << (r >> 8) % 7;
    p = a_aligned(align, n);
    if (p != NULL && (uintptr_t)p % align != 0)
      die("aligned block %p not aligned to %zu", p, align);
    break;
  }
  default:
    p = a_alloc(n);
    break;
  }
  if (p == NULL) {
    if (errno != ENOMEM || mode != MODE_FIXED)
      die("allocation of %zu bytes failed, errno %d", n, errno);
    return;
  }
  w->blk[i] = p;
  w->len[i] = n;
  stamp(p, n);
}

static int count_visit(void *ptr, size_t size, bool used, void *arg) {
  (void)ptr;
  (void)size;
  (void)used;
  ++*(size_t *)arg;
  return 0;
}

/* Worker 0 also looks at the zone now and then while the others work. */
static void look(worker_t *w) {
  if (mode == MODE_MALLOC) {
    struct mallinfo2 mi = mallinfo2();
    if (mi.uordblks > mi.arena && mi.arena != 0)
      die("mallinfo2: %zu bytes in use of %zu", mi.uordblks, mi.arena);
    return;
  }
  zone_stats_t st;
  zone_stats(zone, &st);
  if (st.used > st.size || st.used + st.free != st.size || st.largest_free > st.free ||
      st.peak_used < st.used)
    die("zone_stats inconsistent: used %zu free %zu size %zu largest %zu peak %zu", st.used,
        st.free, st.size, st.largest_free, st.peak_used);
  if (next_rand(w) % 8 == 0) {
    size_t items = 0;
    if (zone_walk(zone, count_visit, &items) != 0 || items == 0)
      die("zone_walk failed (%zu items)", items);
  }
  if (next_rand(w) % 32 == 0 && zone_check(zone) != 0)
    die("zone_check failed while threads run");
}

static void *work(void *arg) {
  worker_t *w = arg;
  unsigned long n = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    for (int k = 0; k < 64; k++)
      one_call(w);
    n += 64;
    if (w->id == 0)
      look(w);
  }
  for (size_t i = 0; i < SLOTS; i++)
    if (w->blk[i] != NULL) {
      check(w->blk[i], w->len[i]);
      a_free(w->blk[i]);
    }
  atomic_fetch_add(&calls, n);
  return NULL;
}

/* ---- main -------------------------------------------------------------------------------- */

static long env_long(const char *name, long dflt, long lo, long hi) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0')
    return dflt;
  char *end;
  long x = strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi) {
    fprintf(stderr, "soak: %s must be a number from %ld to %ld\n", name, lo, hi);
    exit(2);
  }
  return x;
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "zone") && strcmp(argv[1], "fixed") && strcmp(argv[1], "malloc"))) {
    fprintf(stderr, "usage: soak zone|fixed|malloc  (env ZONE_SOAK_SECONDS, ZONE_SOAK_THREADS)\n");
    return 2;
  }
  mode = !strcmp(argv[1], "zone") ? MODE_ZONE : !strcmp(argv[1], "fixed") ? MODE_FIXED : MODE_MALLOC;
  long seconds = env_long("ZONE_SOAK_SECONDS", 5, 1, 30L * 24 * 3600);
  long nthreads = env_long("ZONE_SOAK_THREADS", 4, 1, MAX_THREADS);

  size_t baseline = 0;
  if (mode == MODE_ZONE)
    zone = create_zone_flags(64 << 10, ZONE_GROW);
  else if (mode == MODE_FIXED)
    zone = create_zone(8 << 20);
  else
    baseline = mallinfo2().uordblks;
  if (mode != MODE_MALLOC && zone == NULL) {
    perror("soak: create_zone");
    return 1;
  }

  static worker_t workers[MAX_THREADS];
  for (long t = 0; t < nthreads; t++) {
    workers[t].id = (unsigned)t;
    workers[t].rng = 0x9e3779b97f4a7c15u * (uint64_t)(t + 1) ^ (uint64_t)time(NULL);
    if (pthread_create(&workers[t].thread, NULL, work, &workers[t]) != 0) {
      perror("soak: pthread_create");
      return 1;
    }
  }
  struct timespec nap = {seconds, 0};
  while (nanosleep(&nap, &nap) != 0 && errno == EINTR)
    ;
  atomic_store(&stop, true);
  for (long t = 0; t < nthreads; t++)
    pthread_join(workers[t].thread, NULL);
  for (size_t i = 0; i < HANDOFF; i++) {
    uintptr_t p = atomic_exchange(&handoff[i], 0);
    if (p != 0) {
      header_t h;
      memcpy(&h, (void *)p, sizeof h);
      check((void *)p, h.size);
      a_free((void *)p);
    }
  }

  if (mode == MODE_MALLOC) {
    struct mallinfo2 mi = mallinfo2();
    /* Every block went back; a little slack for what libc itself keeps. */
    if (mi.uordblks > baseline + (64 << 10))
      die("mallinfo2 shows %zu bytes still in use (%zu at the start)", mi.uordblks, baseline);
  } else {
    if (zone_check(zone) != 0)
      die("zone_check failed at the end");
    zone_stats_t st;
    zone_stats(zone, &st);
    if (st.used != 0 || st.blocks != 0 || st.free_blocks == 0)
      die("zone not empty at the end: %zu bytes in %zu blocks", st.used, st.blocks);
    printf("soak: zone of %zu bytes, peak %zu bytes used\n", st.size, st.peak_used);
    destroy_zone(zone);
  }
  printf("soak %s: %ld threads, %ld s, %lu calls\n", argv[1], nthreads, seconds,
         (unsigned long)atomic_load(&calls));
  return 0;
}
