/*
 * arenas.c - the shim's arenas, driven through its own malloc family
 * (malloc.c included here with its exported names left out, so the test runs
 * under a sanitizer's runtime too, and can look at every arena). One case per
 * run, named by argv[1]:
 *   cross      waves of threads allocate, hand blocks to each other, free,
 *              reallocate and size each other's blocks, and exit; then every
 *              arena passes zone_check and holds no block, no thread is still
 *              attached, and the exited threads' arenas were reused
 *   placement  a fixed single-threaded sequence on the shim (with a second
 *              arena made beforehand, used by another thread) lands at the
 *              same offsets as on a plain zone made as the default zone is;
 *              prints the addresses (compared across ZONE_ARENAS by ctest)
 *   addresses  the same sequence on the shim alone, its addresses printed
 *   double_free, interior_free, realloc_freed, usable_size_freed
 *              a misuse by the main thread (arena 0) of a block of arena 1:
 *              prints the pointer, then makes the call (misuse_check judges)
 *   double_free_handed_over, interior_free_handed_over
 *              the same frees while arena 1's lock is held: handed over, and
 *              reported by arena 1's next call
 *   sizes      the default zone and another arena's start with 256 KiB, and
 *              grow in place for a block larger than that
 *   limit      with ZONE_ARENAS=2, more threads make no more arenas
 *   move       with ZONE_ARENAS=3, a thread that shares its arena and waits
 *              for its lock moves to another
 *   owners     the table that names the arena owning an address agrees with
 *              the scan over every arena's span: two arenas, one grown, and
 *              a third put outside the slots the table knows
 *   fall       a fall of 3 MiB in use gives memory back with two arenas and
 *              not with one: the 4 MiB budget is shared among the arenas
 * The helper thread's first call makes arena 1 (a thread but the main one
 * starts on an arena of its own while the limit allows).
 */
#define ZONE_SHIM_NO_EXPORTS
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../malloc.c"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define fail(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), exit(1))

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- a thread on arena 1 ------------------------------------------------------------- */

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int step;            /* 0 started, 1 moved, 2 asked to work, 3 done, 4 asked to exit */
  void *(*work)(void *);
  void *arg, *result;
} helper_t;

static helper_t helper = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, NULL, NULL};

static void helper_set(int step) {
  pthread_mutex_lock(&helper.mu);
  helper.step = step;
  pthread_cond_broadcast(&helper.cv);
  pthread_mutex_unlock(&helper.mu);
}

static void helper_wait(int step) {
  pthread_mutex_lock(&helper.mu);
  while (helper.step != step)
    pthread_cond_wait(&helper.cv, &helper.mu);
  pthread_mutex_unlock(&helper.mu);
}

/* Its first call makes arena 1 its own (main holds arena 0's lock then too,
 * so it would wait and move if it started on arena 0). */
static void *helper_main(void *arg) {
  (void)arg;
  void *p = shim_malloc(32);
  shim_free(p);
  helper_set(1);
  for (;;) {
    pthread_mutex_lock(&helper.mu);
    while (helper.step != 2 && helper.step != 4)
      pthread_cond_wait(&helper.cv, &helper.mu);
    int step = helper.step;
    pthread_mutex_unlock(&helper.mu);
    if (step == 4)
      return NULL;
    helper.result = helper.work(helper.arg);
    helper_set(3);
  }
}

static void *nothing(void *arg) { return arg; }

/* Starts the helper thread and makes it move to arena 1. */
static pthread_t helper_start(void) {
  zone_t *z0 = zone__shim_get();
  pthread_t t;
  /* A thread first: while the process has one, the lock is not taken at all. */
  if (pthread_create(&t, NULL, nothing, NULL) != 0)
    fail("pthread_create");
  pthread_join(t, NULL);
  zone__fork_lock(z0);
  if (pthread_create(&t, NULL, helper_main, NULL) != 0)
    fail("pthread_create");
  pause_ms(100);  /* long enough for it to be waiting */
  zone__fork_unlock(z0);
  helper_wait(1);
  if (atomic_load(&zone__shim_narenas) != 2)
    fail("the helper thread is on no arena of its own: %u arenas",
         atomic_load(&zone__shim_narenas));
  return t;
}

static void *helper_run(void *(*work)(void *), void *arg) {
  helper.work = work;
  helper.arg = arg;
  helper_set(2);
  helper_wait(3);
  return helper.result;
}

static void helper_stop(pthread_t t) {
  helper_set(4);
  pthread_join(t, NULL);
}

static void *do_malloc(void *arg) { return shim_malloc((size_t)(uintptr_t)arg); }
static void *do_free(void *arg) {
  shim_free(arg);
  return NULL;
}

/* Whether p is a live block of arena k. */
static bool owned_by(unsigned k, void *p) {
  return zone_owns(atomic_load(&zone__shim_arenas[k].zone), p);
}

/* ---- cross ---------------------------------------------------------------------------- */

#define WAVES 6
#define THREADS 4
#define ROUNDS 4000
#define POOL 512

static struct {
  pthread_mutex_t mu;
  unsigned char *block[POOL];
  size_t size[POOL];
  size_t count;
} pool = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, 0};

static _Atomic int failures;

/* The first `upto` bytes of a block filled for `size` bytes. */
static void check_prefix(const unsigned char *p, size_t size, size_t upto) {
  for (size_t i = 0; i < upto; i += 61)
    if (p[i] != (unsigned char)(size + i))
      atomic_fetch_add(&failures, 1);
}

static void check_block(const unsigned char *p, size_t size) { check_prefix(p, size, size); }

static void fill_block(unsigned char *p, size_t size) {
  for (size_t i = 0; i < size; i += 61)
    p[i] = (unsigned char)(size + i);
}

static void *cross_thread(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
  for (int round = 0; round < ROUNDS; round++) {
    seed = seed * 1103515245u + 12345u;
    size_t size = (seed >> 24) % 16 == 0 ? (size_t)40000 + (seed >> 8) % 40000 : 1 + (seed >> 12) % 700;
    unsigned char *p = shim_malloc(size);
    if (p == NULL) {
      atomic_fetch_add(&failures, 1);
      return NULL;
    }
    fill_block(p, size);
    pthread_mutex_lock(&pool.mu);
    unsigned char *q = NULL;
    size_t qsize = 0;
    if (pool.count == POOL) {  /* take another thread's block, most likely */
      size_t i = (seed >> 4) % POOL;
      q = pool.block[i];
      qsize = pool.size[i];
      pool.block[i] = p;
      pool.size[i] = size;
    } else {
      pool.block[pool.count] = p;
      pool.size[pool.count++] = size;
    }
    pthread_mutex_unlock(&pool.mu);
    if (q == NULL)
      continue;
    check_block(q, qsize);
    if (shim_usable_size(q) < qsize)
      atomic_fetch_add(&failures, 1);
    switch ((seed >> 16) % 4) {
    case 0: {  /* a realloc of a block some arena owns, from this thread */
      size_t nsize = 1 + (seed >> 3) % 3000;
      unsigned char *r = shim_realloc(q, nsize);
      if (r == NULL) {
        atomic_fetch_add(&failures, 1);
        break;
      }
      check_prefix(r, qsize, qsize < nsize ? qsize : nsize);
      shim_free(r);
      break;
    }
    default:
      shim_free(q);
    }
  }
  return NULL;
}

static void case_cross(void) {
  pthread_t h = helper_start();  /* at least two arenas, whatever the timing */
  for (int wave = 0; wave < WAVES; wave++) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
      if (pthread_create(&t[i], NULL, cross_thread, (void *)(uintptr_t)(wave * THREADS + i + 1)) != 0)
        fail("pthread_create");
    for (int i = 0; i < THREADS; i++)
      pthread_join(t[i], NULL);
    /* The main thread frees what is left: mostly other arenas' blocks. */
    for (size_t i = 0; i < pool.count; i++) {
      check_block(pool.block[i], pool.size[i]);
      shim_free(pool.block[i]);
    }
    pool.count = 0;
  }
  helper_stop(h);
  unsigned n = atomic_load(&zone__shim_narenas);
  unsigned attached = 0;
  for (unsigned k = 0; k < n; k++) {
    zone_t *z = atomic_load(&zone__shim_arenas[k].zone);
    zone_stats_t st;
    zone_stats(z, &st);
    if (zone_check(z) != 0)
      fail("arena %u fails zone_check", k);
    if (st.blocks != 0)
      fail("arena %u still holds %zu blocks", k, st.blocks);
    attached += atomic_load(&zone__shim_arenas[k].attached);
  }
  if (attached != 1)  /* the main thread, on arena 0 */
    fail("%u threads attached after every thread but main exited", attached);
  /* Each wave's threads reuse the arenas the last wave's left. */
  if (n > 2 + THREADS)
    fail("%u arenas for %d threads at a time: exited threads' arenas were not reused", n, THREADS);
  if (atomic_load(&failures) != 0)
    fail("%d blocks lost their contents or a call failed", atomic_load(&failures));
  printf("cross: %u arenas, every one checked\n", n);
}

/* ---- placement ------------------------------------------------------------------------- */

#define STEPS 20000
#define LIVE 400

typedef void *(*alloc_fn)(void *ctx, size_t bytes);
typedef void *(*realloc_fn)(void *ctx, void *p, size_t bytes);
typedef void (*free_fn)(void *ctx, void *p);

static void *shim_alloc_c(void *ctx, size_t bytes) { return (void)ctx, shim_malloc(bytes); }
static void *shim_realloc_c(void *ctx, void *p, size_t bytes) { return (void)ctx, shim_realloc(p, bytes); }
static void shim_free_c(void *ctx, void *p) { (void)ctx, shim_free(p); }
static void *zone_alloc_c(void *ctx, size_t bytes) { return zalloc(ctx, bytes); }
static void *zone_realloc_c(void *ctx, void *p, size_t bytes) { return zrealloc(ctx, p, bytes); }
static void zone_free_c(void *ctx, void *p) { (void)zfree(ctx, p); }

/* The addresses of a fixed sequence of calls, in out[]. */
static void sequence(void *ctx, alloc_fn a, realloc_fn r, free_fn f, uintptr_t *out) {
  void *live[LIVE] = {0};
  unsigned seed = 12345;
  for (int s = 0; s < STEPS; s++) {
    seed = seed * 1103515245u + 12345u;
    size_t i = (seed >> 8) % LIVE;
    size_t size = (seed >> 20) % 32 == 0 ? (size_t)64 << 10 : 1 + (seed >> 14) % 1500;
    if (live[i] == NULL) {
      live[i] = a(ctx, size);
    } else if ((seed >> 5) % 3 == 0) {
      live[i] = r(ctx, live[i], size);
    } else {
      f(ctx, live[i]);
      live[i] = NULL;
    }
    out[s] = (uintptr_t)live[i];
  }
  for (size_t i = 0; i < LIVE; i++)
    if (live[i] != NULL)
      f(ctx, live[i]);
}

static uintptr_t seq_shim[STEPS], seq_zone[STEPS];

static void print_sequence(const uintptr_t *seq) {
  for (int s = 0; s < STEPS; s++)
    printf("%lx\n", (unsigned long)seq[s]);
}

static void case_placement(void) {
  pthread_t h = helper_start();
  void *other = helper_run(do_malloc, (void *)(uintptr_t)4000);  /* a block in arena 1 */
  if (!owned_by(1, other))
    fail("the helper's block is not arena 1's");
  sequence(NULL, shim_alloc_c, shim_realloc_c, shim_free_c, seq_shim);
  zone_t *plain = zone__shim_zone_new();  /* made as every arena's zone is */
  sequence(plain, zone_alloc_c, zone_realloc_c, zone_free_c, seq_zone);
  uintptr_t lo0, hi0, lo1, hi1;
  zone__span(zone__shim_get(), &lo0, &hi0);
  zone__span(plain, &lo1, &hi1);
  for (int s = 0; s < STEPS; s++) {
    if ((seq_shim[s] == 0) != (seq_zone[s] == 0) ||
        (seq_shim[s] != 0 && seq_shim[s] - lo0 != seq_zone[s] - lo1))
      fail("step %d: the shim placed at offset %#lx, a plain zone at %#lx", s,
           (unsigned long)(seq_shim[s] - lo0), (unsigned long)(seq_zone[s] - lo1));
  }
  helper_run(do_free, other);
  helper_stop(h);
  destroy_zone(plain);
  print_sequence(seq_shim);
}

static void case_addresses(void) {
  sequence(NULL, shim_alloc_c, shim_realloc_c, shim_free_c, seq_shim);
  print_sequence(seq_shim);
}

/* ---- misuse of another arena's block ---------------------------------------------------- */

static void *announce(void *p) {
  printf("%p\n", p);
  fflush(stdout);
  return p;
}

static void case_misuse(const char *c) {
  pthread_t h = helper_start();
  char *p = helper_run(do_malloc, (void *)(uintptr_t)100);
  if (!owned_by(1, p))
    fail("the helper's block is not arena 1's");
  if (strstr(c, "_handed_over") != NULL) {
    /* Arena 1's lock held (as by a thread inside a call there): the frees
     * are handed over, and arena 1's next call applies them and finds the
     * misuse. */
    void *q = helper_run(do_malloc, (void *)(uintptr_t)100);
    zone_t *z1 = atomic_load(&zone__shim_arenas[1].zone);
    zone__fork_lock(z1);
    if (strcmp(c, "double_free_handed_over") == 0) {
      shim_free(p);
      shim_free(announce(p));
    } else {
      shim_free(announce(p + 16));
    }
    zone__fork_unlock(z1);
    if (!owned_by(1, q))  /* a call on arena 1: the misuse is reported here */
      fail("arena 1's block is gone");
  } else if (strcmp(c, "interior_free") == 0) {
    shim_free(announce(p + 16));
  } else {
    helper_run(do_free, p);
    if (strcmp(c, "double_free") == 0)
      shim_free(announce(p));
    else if (strcmp(c, "realloc_freed") == 0)
      (void)shim_realloc(announce(p), 200);
    else if (strcmp(c, "usable_size_freed") == 0)
      (void)shim_usable_size(announce(p));
  }
  puts("survived");
  helper_stop(h);
}

/* ---- sizes ---------------------------------------------------------------------------- */

/* The regions zone_walk visits, in address order: [lo, hi), and how many
 * times one did not start where the one before ended (another extent). */
typedef struct {
  char *lo, *hi;
  size_t gaps;
} span_t;

static int span_visit(void *ptr, size_t size, bool used, void *arg) {
  (void)used;
  span_t *s = arg;
  if (s->lo == NULL)
    s->lo = ptr;
  else if ((char *)ptr != s->hi)
    s->gaps++;
  s->hi = (char *)ptr + size;
  return 0;
}

static void case_sizes(void) {
  shim_free(shim_malloc(16));  /* main: arena 0 */
  zone_t *z0 = atomic_load(&zone__shim_arenas[0].zone);
  size_t size0 = zone_size(z0);
  if (size0 != ZONE_SHIM_DEFAULT_ZONE_BYTES || size0 != (size_t)256 << 10)
    fail("the default zone starts with %zu bytes, not %zu (256 KiB)", size0, ZONE_SHIM_DEFAULT_ZONE_BYTES);
  /* More than it holds: the default zone grows in place, one extent, and
   * the block starts in the free run at the old zone's end that the new
   * memory joins, where a zone that large from the start puts it. */
  char *big0 = shim_malloc((size_t)1 << 20);
  span_t span = {NULL, NULL, 0};
  zone_walk(z0, span_visit, &span);
  if (big0 == NULL || span.gaps != 0 || big0 < span.lo || big0 >= span.lo + size0 ||
      (size_t)(span.hi - span.lo) != zone_size(z0) || zone_size(z0) < size0 + ((size_t)1 << 20) ||
      zone_check(z0) != 0)
    fail("the default zone's growth: a block of 1 MiB at offset %td, %zu gaps, %zu bytes", big0 - span.lo,
         span.gaps, zone_size(z0));
  shim_free(big0);
  size0 = zone_size(z0);
  pthread_t h = helper_start();  /* arena 1 */
  zone_t *z1 = atomic_load(&zone__shim_arenas[1].zone);
  size_t size1 = zone_size(z1);
  if (size1 != ZONE_SHIM_ARENA_ZONE_BYTES)
    fail("arena 1 starts with %zu bytes, not %zu", size1, ZONE_SHIM_ARENA_ZONE_BYTES);
  /* More than it holds: arena 1 grows for it, as the default zone would. */
  void *big = helper_run(do_malloc, (void *)(uintptr_t)(1u << 20));
  if (big == NULL || !owned_by(1, big))
    fail("arena 1 did not grow for a block of 1 MiB");
  size_t grown = zone_size(z1);
  if (grown < ZONE_SHIM_ARENA_ZONE_BYTES + (1u << 20))
    fail("arena 1 holds a block of 1 MiB in %zu bytes", grown);
  if (zone_check(z1) != 0 || zone_size(z0) != size0)
    fail("after arena 1's growth: zone_check %d, default zone %zu bytes", zone_check(z1),
         zone_size(z0));
  helper_run(do_free, big);
  helper_stop(h);
  printf("sizes: arena 0 %zu, arena 1 %zu, then %zu\n", size0, size1, grown);
}

/* ---- limit ---------------------------------------------------------------------------- */

static void case_limit(void) {
  pthread_t h = helper_start();  /* arena 1 */
  zone_t *z0 = zone__shim_get();
  pthread_t t[THREADS];
  zone__fork_lock(z0);  /* every new thread waits for arena 0 and moves */
  for (int i = 0; i < THREADS; i++)
    if (pthread_create(&t[i], NULL, cross_thread, (void *)(uintptr_t)(i + 1)) != 0)
      fail("pthread_create");
  pause_ms(100);
  zone__fork_unlock(z0);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  helper_stop(h);
  if (atomic_load(&zone__shim_narenas) != 2)
    fail("ZONE_ARENAS=2, yet %u arenas", atomic_load(&zone__shim_narenas));
  for (size_t i = 0; i < pool.count; i++)
    shim_free(pool.block[i]);
  for (unsigned k = 0; k < 2; k++)
    if (zone_check(atomic_load(&zone__shim_arenas[k].zone)) != 0)
      fail("arena %u fails zone_check", k);
  puts("limit: 2 arenas");
}

/* ---- move ----------------------------------------------------------------------------- */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int step;  /* 1: on its arena (before set), 2: go, 3: allocated */
  unsigned before, after;
} mover = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

static void mover_set(int step) {
  pthread_mutex_lock(&mover.mu);
  mover.step = step;
  pthread_cond_broadcast(&mover.cv);
  pthread_mutex_unlock(&mover.mu);
}

static void mover_wait(int step) {
  pthread_mutex_lock(&mover.mu);
  while (mover.step != step)
    pthread_cond_wait(&mover.cv, &mover.mu);
  pthread_mutex_unlock(&mover.mu);
}

static void *mover_main(void *arg) {
  (void)arg;
  shim_free(shim_malloc(16));
  mover.before = zone__shim_arena()->index;
  mover_set(1);
  mover_wait(2);
  shim_free(shim_malloc(16));  /* waits for the lock main holds */
  mover.after = zone__shim_arena()->index;
  mover_set(3);
  return NULL;
}

static void *own_arena(void *arg) {
  shim_free(shim_malloc(16));
  helper_set(1);  /* reuse of the helper's handshake: on its arena */
  pthread_mutex_lock(&helper.mu);
  while (helper.step != 4)
    pthread_cond_wait(&helper.cv, &helper.mu);
  pthread_mutex_unlock(&helper.mu);
  return arg;
}

static void case_move(void) {
  shim_free(shim_malloc(16));  /* main: arena 0 */
  pthread_t h = helper_start();  /* arena 1 */
  pthread_t a;
  helper_set(0);
  if (pthread_create(&a, NULL, own_arena, NULL) != 0)  /* arena 2, the last */
    fail("pthread_create");
  helper_wait(1);
  if (atomic_load(&zone__shim_narenas) != 3)
    fail("ZONE_ARENAS=3 and three threads, yet %u arenas", atomic_load(&zone__shim_narenas));
  pthread_t m;  /* shares one of the three */
  if (pthread_create(&m, NULL, mover_main, NULL) != 0)
    fail("pthread_create");
  mover_wait(1);
  zone_t *shared = atomic_load(&zone__shim_arenas[mover.before].zone);
  zone__fork_lock(shared);
  mover_set(2);
  pause_ms(100);  /* long enough for it to be waiting */
  zone__fork_unlock(shared);
  mover_wait(3);
  pthread_join(m, NULL);
  helper_set(4);
  pthread_join(a, NULL);
  pthread_join(h, NULL);
  if (mover.after == mover.before)
    fail("a thread sharing arena %u waited for its lock and stayed", mover.before);
  printf("move: arena %u -> %u\n", mover.before, mover.after);
}

/* ---- owners --------------------------------------------------------------------------- */

#include <sys/mman.h>

/* What the scan over every arena's span says: the one arena (not skip)
 * whose span holds p, NULL for none or several. */
static zone_t *holder_by_scan(const void *p, const zone_t *skip) {
  unsigned cursor = 0;
  zone_t *z = zone__shim_holder(p, &cursor, skip);
  return z != NULL && zone__shim_holder(p, &cursor, skip) == NULL ? z : NULL;
}

#define SLOT_BASE ((uintptr_t)1 << 45)
#define SLOT_BYTES ((uintptr_t)64 << 30)
#define SLOTS 256

/* zone__shim_sole_holder, which answers from its table of slots while every
 * arena's span lies in a slot of its own, against the scan: for addresses at
 * and around every arena's span and blocks, with every arena skipped in turn.
 * Returns how many of the addresses lay in the slots. */
static unsigned owners_agree(const char *when, void *const *blocks, size_t nblocks) {
  uintptr_t probe[256];
  size_t np = 0;
  unsigned n = atomic_load(&zone__shim_narenas), in_slots = 0;
  for (unsigned k = 0; k < n; k++) {
    uintptr_t lo, hi;
    zone__span(atomic_load(&zone__shim_arenas[k].zone), &lo, &hi);
    uintptr_t slot = lo >= SLOT_BASE ? SLOT_BASE + (lo - SLOT_BASE) / SLOT_BYTES * SLOT_BYTES : lo;
    uintptr_t at[] = {lo - 1, lo, lo + 16, lo + (hi - lo) / 2, hi - 16, hi - 1, hi, hi + 4096,
                      slot, slot + SLOT_BYTES - 1, slot + SLOT_BYTES};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
      probe[np++] = at[i];
  }
  for (size_t i = 0; i < nblocks; i++)
    probe[np++] = (uintptr_t)blocks[i];
  for (size_t i = 0; i < np; i++) {
    in_slots += probe[i] >= SLOT_BASE && probe[i] - SLOT_BASE < SLOTS * SLOT_BYTES;
    for (unsigned k = 0; k <= n; k++) {
      const zone_t *skip = k < n ? atomic_load(&zone__shim_arenas[k].zone) : NULL;
      zone_t *got = zone__shim_sole_holder((void *)probe[i], skip);
      zone_t *want = holder_by_scan((void *)probe[i], skip);
      if (got != want)
        fail("%s: the owner of %#lx (arena %u skipped) is %p, the scan says %p", when,
             (unsigned long)probe[i], k, (void *)got, (void *)want);
    }
  }
  return in_slots;
}

/* The owner table agrees with the scan: with two arenas, after one's span
 * grows, and with a third arena put outside the slots (each slot's first
 * page taken beforehand), where the table can't answer. */
static void case_owners(void) {
  void *blocks[4];
  blocks[0] = shim_malloc(100);  /* main: arena 0 */
  pthread_t h = helper_start();  /* arena 1 */
  blocks[1] = helper_run(do_malloc, (void *)(uintptr_t)100);
  uintptr_t lo0, hi0;
  zone__span(atomic_load(&zone__shim_arenas[0].zone), &lo0, &hi0);
  bool slotted = lo0 >= SLOT_BASE && lo0 - SLOT_BASE < SLOTS * SLOT_BYTES;
  if (owners_agree("two arenas", blocks, 2) == 0 && slotted)
    fail("no address probed lies in the slots: the table was not asked");
  if (!slotted)  /* a sanitizer's runtime may hold that range */
    printf("owners: the zones lie outside the slots: only the scan answers\n");
  blocks[2] = helper_run(do_malloc, (void *)(uintptr_t)(1u << 20));  /* arena 1 grows */
  blocks[3] = (char *)blocks[2] + (1u << 20) - 1;
  owners_agree("arena 1 grown", blocks, 4);
  static void *taken[SLOTS];  /* each slot's first page, where that range is ours */
  for (unsigned s = 0; s < SLOTS && slotted; s++) {
    void *want = (void *)(SLOT_BASE + s * SLOT_BYTES);
    void *m = mmap(want, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    taken[s] = m == want ? m : NULL;
    if (m != MAP_FAILED && m != want)
      munmap(m, 4096);  /* a kernel that took the address as a hint */
  }
  helper_set(0);
  pthread_t a;
  if (pthread_create(&a, NULL, own_arena, NULL) != 0)  /* arena 2 */
    fail("pthread_create");
  helper_wait(1);
  uintptr_t lo, hi;
  zone__span(atomic_load(&zone__shim_arenas[2].zone), &lo, &hi);
  bool outside = lo < SLOT_BASE || lo - SLOT_BASE >= SLOTS * SLOT_BYTES;
  owners_agree("an arena outside the slots", blocks, 4);
  helper_set(4);
  pthread_join(a, NULL);
  pthread_join(h, NULL);
  for (unsigned s = 0; s < SLOTS; s++)
    if (taken[s] != NULL)
      munmap(taken[s], 4096);
  shim_free(blocks[0]);
  shim_free(blocks[1]);  /* arena 1's, from main */
  shim_free(blocks[2]);
  if (owned_by(0, blocks[0]) || owned_by(1, blocks[1]) || owned_by(1, blocks[2]))
    fail("a block freed by main is still live");
  for (unsigned k = 0; k < 3; k++)
    if (zone_check(atomic_load(&zone__shim_arenas[k].zone)) != 0)
      fail("arena %u fails zone_check", k);
  printf("owners: the table and the scan agree; arena 2 %s the slots\n",
         outside ? "outside" : "inside (the kernel kept its hint)");
}

/* ---- fall ----------------------------------------------------------------------------- */

#define FALL_BLOCKS 12
#define FALL_BLOCK ((size_t)256 << 10)  /* 12 x 256 KiB: a fall of 3 MiB */

/* Writes 3 MiB of blocks, makes calls enough for looks at the arena's usage
 * while they are live, frees them and makes as many again: what the fall made the shim give back, in bytes. */
static void *fall_and_look(void *arg) {
  (void)arg;
  void *b[FALL_BLOCKS];
  for (int i = 0; i < FALL_BLOCKS; i++) {
    b[i] = shim_malloc(FALL_BLOCK);
    if (b[i] == NULL)
      fail("malloc(%zu) failed", FALL_BLOCK);
    memset(b[i], 1, FALL_BLOCK);
  }
  for (int i = 0; i < 256; i++)  /* looks that see the high-water mark */
    shim_free(shim_malloc(16));
  size_t before = zone__shim_returned_bytes();
  for (int i = 0; i < FALL_BLOCKS; i++)
    shim_free(b[i]);
  for (int i = 0; i < 256; i++)
    shim_free(shim_malloc(16));
  return (void *)(uintptr_t)(zone__shim_returned_bytes() - before);
}

/* The fall that makes an arena give its free memory back is the process's
 * budget (32 trim thresholds, 4 MiB) shared among its arenas: with one arena
 * a fall of 3 MiB keeps its pages, with two each arena gives back after a
 * fall of 2 MiB. */
static void case_fall(void) {
  size_t one = (size_t)(uintptr_t)fall_and_look(NULL);
  if (one != 0)
    fail("one arena gave back %zu bytes after a fall of 3 MiB, under its 4 MiB budget", one);
  pthread_t h = helper_start();  /* arena 1 */
  size_t two = (size_t)(uintptr_t)helper_run(fall_and_look, NULL);
  helper_stop(h);
  if (two < (size_t)2 << 20)
    fail("with two arenas a fall of 3 MiB on arena 1 gave back %zu bytes, not the 2 MiB and "
         "more of its free blocks", two);
  printf("fall: one arena gave back 0 bytes, arena 1 of two %zu\n", two);
}

int main(int argc, char **argv) {
  if (argc != 2)
    fail("usage: arenas CASE");
  const char *c = argv[1];
  if (strcmp(c, "cross") == 0)
    case_cross();
  else if (strcmp(c, "placement") == 0)
    case_placement();
  else if (strcmp(c, "addresses") == 0)
    case_addresses();
  else if (strcmp(c, "limit") == 0)
    case_limit();
  else if (strcmp(c, "sizes") == 0)
    case_sizes();
  else if (strcmp(c, "move") == 0)
    case_move();
  else if (strcmp(c, "fall") == 0)
    case_fall();
  else if (strcmp(c, "owners") == 0)
    case_owners();
  else if (strcmp(c, "double_free") == 0 || strcmp(c, "interior_free") == 0 ||
           strcmp(c, "double_free_handed_over") == 0 ||
           strcmp(c, "interior_free_handed_over") == 0 ||
           strcmp(c, "realloc_freed") == 0 || strcmp(c, "usable_size_freed") == 0)
    case_misuse(c);
  else
    fail("unknown case %s", c);
  return 0;
}
