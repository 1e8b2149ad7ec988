/*
 * test_threads.c - many threads on one zone (contract 14): zalloc, zcalloc,
 * zrealloc, zalloc_aligned and zfree racing, blocks freed by a thread other
 * than the one that allocated them, readers (walk, stats, check, zdump,
 * zone_owns) running alongside, and growth under contention. Every block
 * carries its owner's pattern, so two threads handed overlapping memory show
 * up as a corrupted pattern; at the end zone_check passes and the stats
 * balance to the blocks still live.
 */
#include "support.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { THREADS = 4, SLOTS = 48, MAILBOX = 64 };

/* A block's first 16 bytes say who wrote it and how long it is; the rest is
 * the pattern for that tag. */
typedef struct header {
  uint64_t tag;
  uint64_t len;
} header_t;

typedef struct shared {
  zone_t *z;
  size_t rounds;
  _Atomic(void *) mailbox[MAILBOX];  /* blocks handed to other threads to free */
  atomic_bool stop_readers;
  atomic_size_t failures;            /* ENOMEM, allowed in fixed zones */
} shared_t;

typedef struct worker {
  shared_t *sh;
  unsigned id;
  uint64_t seed;
  void *blk[SLOTS];
  size_t live_bytes;   /* rounded sizes of this thread's blocks at the end */
  size_t live_blocks;
  char err[200];
} worker_t;

static size_t rounded(size_t n) {
  return n == 0 ? G : (n + G - 1) / G * G;
}

static void stamp(void *p, size_t len, uint64_t tag) {
  header_t h = {tag, len};
  memcpy(p, &h, sizeof h);
  zt_fill((char *)p + sizeof h, len - sizeof h, tag);
}

static bool intact(const void *p) {
  header_t h;
  memcpy(&h, p, sizeof h);
  return h.len >= sizeof h && h.len < (1u << 20) &&
         zt_verify((const char *)p + sizeof h, h.len - sizeof h, h.tag);
}

static void note_failure(worker_t *w, const char *what, size_t round) {
  if (w->err[0] == '\0')
    snprintf(w->err, sizeof w->err, "thread %u round %zu (seed %llu): %s", w->id, round,
             (unsigned long long)w->seed, what);
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  shared_t *sh = w->sh;
  zt_rng_t rng;
  zt_rng_seed(&rng, w->seed);
  uint64_t serial = 0;
  for (size_t r = 0; r < sh->rounds && w->err[0] == '\0'; r++) {
    size_t i = zt_rng_below(&rng, SLOTS);
    size_t len = sizeof(header_t) + zt_rng_below(&rng, 900);
    uint64_t tag = ((uint64_t)w->id << 48) | ++serial;
    size_t op = zt_rng_below(&rng, 10);
    if (w->blk[i] != NULL && !intact(w->blk[i])) {
      note_failure(w, "a block's contents changed under its owner", r);
      break;
    }
    if (w->blk[i] == NULL) {
      void *p;
      if (op < 5)
        p = zalloc(sh->z, len);
      else if (op < 7)
        p = zcalloc(sh->z, 1, len);
      else
        p = zalloc_aligned(sh->z, (size_t)32 << zt_rng_below(&rng, 5), len);
      if (p == NULL) {
        if (errno != ENOMEM)
          note_failure(w, "allocation failed with an errno other than ENOMEM", r);
        atomic_fetch_add(&sh->failures, 1);
        continue;
      }
      if (op >= 5 && op < 7) {
        for (size_t k = 0; k < len; k++)
          if (((unsigned char *)p)[k] != 0) {
            note_failure(w, "zcalloc memory not zero", r);
            break;
          }
      }
      if (zone_block_size(sh->z, p) != rounded(len))
        note_failure(w, "zone_block_size disagrees with the request", r);
      stamp(p, len, tag);
      w->blk[i] = p;
    } else if (op < 4) {
      if (zfree(sh->z, w->blk[i]) != 0)
        note_failure(w, "zfree of a live block failed", r);
      w->blk[i] = NULL;
    } else if (op < 7) {
      header_t h;
      memcpy(&h, w->blk[i], sizeof h);
      void *q = zrealloc(sh->z, w->blk[i], len);
      if (q == NULL) {
        if (errno != ENOMEM)
          note_failure(w, "zrealloc failed with an errno other than ENOMEM", r);
        atomic_fetch_add(&sh->failures, 1);
        continue;
      }
      size_t keep = (h.len < len ? h.len : len) - sizeof h;
      if (!zt_verify((char *)q + sizeof h, keep, h.tag))
        note_failure(w, "zrealloc lost the block's contents", r);
      stamp(q, len, tag);
      w->blk[i] = q;
    } else {
      /* hand the block to whoever takes the mailbox slot next; free what
       * was there (another thread's block, most likely) */
      size_t m = zt_rng_below(&rng, MAILBOX);
      void *old = atomic_exchange(&sh->mailbox[m], w->blk[i]);
      w->blk[i] = NULL;
      if (old != NULL) {
        if (!intact(old))
          note_failure(w, "a block in the mailbox was corrupted", r);
        if (zfree(sh->z, old) != 0)
          note_failure(w, "cross-thread zfree failed", r);
      }
    }
  }
  for (size_t i = 0; i < SLOTS; i++)
    if (w->blk[i] != NULL) {
      if (!intact(w->blk[i]))
        note_failure(w, "a block was corrupted by the end", sh->rounds);
      header_t h;
      memcpy(&h, w->blk[i], sizeof h);
      w->live_bytes += rounded(h.len);
      w->live_blocks++;
    }
  return NULL;
}

typedef struct reader {
  shared_t *sh;
  size_t passes;
  char err[160];
} reader_t;

typedef struct walk_sum {
  uintptr_t last_end;
  bool ordered;
} walk_sum_t;

static int ordered_visit(void *ptr, size_t size, bool used, void *arg) {
  (void)used;
  walk_sum_t *s = arg;
  /* the zone may change between visits, but each visit is one consistent
   * item and addresses keep going up */
  if ((uintptr_t)ptr < s->last_end || size == 0 || size % G != 0)
    s->ordered = false;
  s->last_end = (uintptr_t)ptr + size;
  return 0;
}

static void *reader_main(void *arg) {
  reader_t *rd = arg;
  FILE *sink = fopen("/dev/null", "w");
  while (!atomic_load(&rd->sh->stop_readers)) {
    zone_stats_t st;
    zone_stats(rd->sh->z, &st);
    if (st.used + st.free != st.size || st.used > st.peak_used || st.largest_free > st.free)
      snprintf(rd->err, sizeof rd->err, "inconsistent stats: size %zu used %zu free %zu",
               st.size, st.used, st.free);
    walk_sum_t s = {0, true};
    zone_walk(rd->sh->z, ordered_visit, &s);
    if (!s.ordered)
      snprintf(rd->err, sizeof rd->err, "walk out of order or with a bad size");
    if (zone_check(rd->sh->z) != 0)
      snprintf(rd->err, sizeof rd->err, "zone_check failed while threads ran");
    if (sink != NULL && rd->passes % 8 == 0)
      zdump(rd->sh->z, sink);
    void *m = atomic_load(&rd->sh->mailbox[rd->passes % MAILBOX]);
    (void)zone_owns(rd->sh->z, m);
    rd->passes++;
  }
  if (sink != NULL)
    fclose(sink);
  return NULL;
}

/* Runs the workers (and a reader) on z; checks and empties the zone. */
static void run_threads(zone_t *z, size_t rounds, bool with_reader) {
  static shared_t sh;
  memset(&sh, 0, sizeof sh);
  sh.z = z;
  sh.rounds = rounds;
  uint64_t seed = zt_seed();
  worker_t w[THREADS];
  pthread_t t[THREADS], rt;
  reader_t rd = {&sh, 0, ""};
  memset(w, 0, sizeof w);
  if (with_reader)
    ck_assert_int_eq(pthread_create(&rt, NULL, reader_main, &rd), 0);
  for (unsigned i = 0; i < THREADS; i++) {
    w[i].sh = &sh;
    w[i].id = i + 1;
    w[i].seed = seed + i;
    ck_assert_int_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
  }
  for (unsigned i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  atomic_store(&sh.stop_readers, true);
  if (with_reader)
    pthread_join(rt, NULL);
  for (unsigned i = 0; i < THREADS; i++)
    ck_assert_msg(w[i].err[0] == '\0', "%s", w[i].err);
  ck_assert_msg(rd.err[0] == '\0', "reader: %s", rd.err);
  zt_assert_check(z);

  /* stats balance: everything live is in some thread's slots or a mailbox */
  size_t bytes = 0, blocks = 0;
  for (unsigned i = 0; i < THREADS; i++) {
    bytes += w[i].live_bytes;
    blocks += w[i].live_blocks;
  }
  for (size_t m = 0; m < MAILBOX; m++) {
    void *p = atomic_load(&sh.mailbox[m]);
    if (p != NULL) {
      ck_assert(intact(p));
      header_t h;
      memcpy(&h, p, sizeof h);
      bytes += rounded(h.len);
      blocks++;
    }
  }
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, bytes);
  ck_assert_uint_eq(st.blocks, blocks);
  ck_assert_uint_eq(st.free, st.size - bytes);

  /* free it all, mailbox blocks from this (yet another) thread */
  for (unsigned i = 0; i < THREADS; i++)
    for (size_t k = 0; k < SLOTS; k++)
      if (w[i].blk[k] != NULL)
        ck_assert_int_eq(zfree(z, w[i].blk[k]), 0);
  for (size_t m = 0; m < MAILBOX; m++) {
    void *p = atomic_load(&sh.mailbox[m]);
    if (p != NULL)
      ck_assert_int_eq(zfree(z, p), 0);
  }
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 0);
  ck_assert_uint_eq(st.blocks, 0);
  zt_assert_check(z);
}

START_TEST(shared_fixed_zone) {
  zone_t *z = create_zone(8 << 20);
  ck_assert_ptr_nonnull(z);
  run_threads(z, zt_scaled(40000), false);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.free_blocks, 1);
  destroy_zone(z);
}
END_TEST

/* A zone small enough that threads run it out of memory: ENOMEM must be
 * clean under contention too. */
START_TEST(shared_tight_zone) {
  zone_t *z = create_zone(64 << 10);
  ck_assert_ptr_nonnull(z);
  run_threads(z, zt_scaled(40000), false);
  destroy_zone(z);
}
END_TEST

/* Growth under contention: a tiny ZONE_GROW zone. */
START_TEST(shared_growing_zone) {
  zone_t *z = create_zone_flags(4096, ZONE_GROW);
  ck_assert_ptr_nonnull(z);
  run_threads(z, zt_scaled(20000), false);
  ck_assert_uint_gt(zone_size(z), 4096);
  destroy_zone(z);
}
END_TEST

/* Readers (stats, walk, check, zdump, zone_owns) alongside the writers. */
START_TEST(readers_alongside) {
  zone_t *z = create_zone(4 << 20);
  ck_assert_ptr_nonnull(z);
  run_threads(z, zt_scaled(20000), true);
  destroy_zone(z);
}
END_TEST

/* Threads each with their own zones, created and destroyed concurrently. */
static void *own_zones_main(void *arg) {
  size_t rounds = *(size_t *)arg;
  for (size_t r = 0; r < rounds; r++) {
    zone_t *z = create_zone_flags(4096, (r % 2) ? ZONE_UNLOCKED : ZONE_GROW);
    if (z == NULL)
      return (void *)1;
    for (int i = 0; i < 20; i++)
      if (zalloc(z, 100) == NULL && !(r % 2))
        return (void *)2;
    if (zone_check(z) != 0)
      return (void *)3;
    destroy_zone(z);
  }
  return NULL;
}

START_TEST(zones_per_thread) {
  size_t rounds = zt_scaled(500);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    ck_assert_int_eq(pthread_create(&t[i], NULL, own_zones_main, &rounds), 0);
  for (int i = 0; i < THREADS; i++) {
    void *rc;
    pthread_join(t[i], &rc);
    ck_assert_ptr_null(rc);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("threads");
  ZT_CASE(s, shared_fixed_zone);
  ZT_CASE(s, shared_tight_zone);
  ZT_CASE(s, shared_growing_zone);
  ZT_CASE(s, readers_alongside);
  ZT_CASE(s, zones_per_thread);
  return zt_main(s);
}
