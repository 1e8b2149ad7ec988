/*
 * test_remote.c - frees handed over without the lock (remote.c): a handed-over
 * free is applied by the next call that takes the zone's lock, before it
 * places anything, in the order handed over; a pointer that is no live block
 * then is refused exactly as zfree refuses it, and the hook hears of it; a full
 * ring, an unlocked zone or a heap checker refuse the hand-over (EAGAIN);
 * zone__free_or_hand_over frees at once when the lock is free and hands over
 * only while another thread holds it; threads handing each other's frees over
 * leave every zone exact, deferred frees among them; a fork child applies
 * what was handed over.
 * White-box: links the core's objects for zone__remote_* and reads the zone.
 */
#include "support.h"
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What the refused hook heard, in order. */
static void *refused_seen[8];
static _Atomic size_t refused_count;

static void note_refused(void *p) {
  size_t k = atomic_fetch_add(&refused_count, 1);
  if (k < sizeof refused_seen / sizeof refused_seen[0])
    refused_seen[k] = p;
}

/* Every case starts here: the hook set, nothing heard. */
static void reset_refused(void) {
  zone__refused_late = note_refused;
  atomic_store(&refused_count, 0);
  memset(refused_seen, 0, sizeof refused_seen);
}

/* Under a heap checker (memcheck runs these too) no free is handed over:
 * each must be told to the checker at its call. True when z is such a zone,
 * after checking that p's hand-over is refused and freeing p. */
static bool checked_refuses(zone_t *z, void *p) {
  if (z->check.kind == ZONE_CHECKER_NONE)
    return false;
  ck_assert_int_eq(zone__remote_push(z, p), EAGAIN);
  ck_assert(!zone__remote_pending(z));
  ck_assert_int_eq(zfree(z, p), 0);
  return true;
}

/* A zone of 64 KiB with blocks *p and *q of 64 bytes, p the lowest; NULL
 * (the zone gone, after checked_refuses) under a heap checker. */
static zone_t *zone_of_two(char **p, char **q) {
  zone_t *z = create_zone(64 << 10);
  ck_assert_ptr_nonnull(z);
  *p = zalloc(z, 64);
  *q = zalloc(z, 64);
  ck_assert_ptr_nonnull(*q);
  if (checked_refuses(z, *p)) {
    destroy_zone(z);
    return NULL;
  }
  return z;
}

static size_t live_blocks(const zone_t *z) {
  zone_stats_t st;
  zone_stats(z, &st);
  return st.blocks;
}

/* A thread, started and joined, so that the process counts as threaded and
 * the zone's lock is really taken (lock.h skips it while one thread runs). */
static void *nothing(void *arg) { return arg; }
static void make_threaded(void) {
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, nothing, NULL), 0);
  pthread_join(t, NULL);
}

START_TEST(handed_free_applies_before_next_placement) {
  char *p, *q;
  zone_t *z = zone_of_two(&p, &q);
  if (z == NULL)
    return;
  ck_assert_int_eq(zone__remote_push(z, p), 0);
  ck_assert(zone__remote_pending(z));
  ck_assert(!atomic_load(&z->plain));  /* the short paths now take the long way */
  ck_assert_uint_eq(z->blocks, 2);     /* nothing applied yet */
  ck_assert_ptr_eq(zalloc(z, 64), p);  /* the lowest fit is p's block, freed first */
  ck_assert(!zone__remote_pending(z));
  ck_assert(atomic_load(&z->plain));
  ck_assert_uint_eq(live_blocks(z), 2);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

START_TEST(handed_frees_apply_in_order_and_misuse_is_refused) {
  reset_refused();
  char *p, *q;
  zone_t *z = zone_of_two(&p, &q);
  if (z == NULL)
    return;
  ck_assert_int_eq(zone__remote_push(z, p), 0);
  ck_assert_int_eq(zone__remote_push(z, p), 0);       /* a double free */
  ck_assert_int_eq(zone__remote_push(z, q + 16), 0);  /* inside a block */
  ck_assert_int_eq(zone__remote_push(z, q), 0);
  ck_assert_uint_eq(live_blocks(z), 0);  /* zone_stats took the lock: all applied */
  ck_assert_uint_eq(atomic_load(&refused_count), 2);
  ck_assert_ptr_eq(refused_seen[0], p);
  ck_assert_ptr_eq(refused_seen[1], q + 16);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

START_TEST(full_ring_refuses_hand_over) {
  enum { MANY = 1100 };
  zone_t *z = create_zone(64 << 10);
  static void *blk[MANY];
  for (size_t i = 0; i < MANY; i++)
    ck_assert_ptr_nonnull(blk[i] = zalloc(z, 16));
  if (checked_refuses(z, blk[0])) {
    destroy_zone(z);
    return;
  }
  size_t pushed = 0;
  while (pushed < MANY && zone__remote_push(z, blk[pushed]) == 0)
    pushed++;
  ck_assert_uint_gt(pushed, 0);
  ck_assert_uint_lt(pushed, MANY);  /* the ring is bounded */
  ck_assert_int_eq(zone__remote_push(z, blk[pushed]), EAGAIN);
  ck_assert_uint_eq(live_blocks(z), MANY - pushed);
  ck_assert_int_eq(zone__remote_push(z, blk[pushed]), 0);  /* room again */
  ck_assert_uint_eq(live_blocks(z), MANY - pushed - 1);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

START_TEST(unlocked_zone_refuses_hand_over) {
  zone_t *z = create_zone_flags(64 << 10, ZONE_UNLOCKED);
  void *p = zalloc(z, 64);
  zt_snapshot_t before;
  zt_snapshot_take(z, &before);
  ck_assert_int_eq(zone__remote_push(z, p), EAGAIN);
  ck_assert(!zone__remote_pending(z));
  zt_assert_unchanged(z, &before, "a refused hand-over");
  zt_snapshot_free(&before);
  ck_assert_int_eq(zfree(z, p), 0);
  destroy_zone(z);
}
END_TEST

START_TEST(free_or_hand_over_frees_at_once_when_lock_free) {
  make_threaded();
  reset_refused();
  zone_t *z = create_zone(64 << 10);
  char *p = zalloc(z, 64), *q = zalloc(z, 64);
  ck_assert_int_eq(zone__free_or_hand_over(z, p), 0);
  ck_assert_uint_eq(z->blocks, 1);  /* freed by the call itself */
  ck_assert(!zone__remote_pending(z));
  zt_snapshot_t before;
  zt_snapshot_take(z, &before);
  ck_assert_int_eq(zone__free_or_hand_over(z, p), EINVAL);  /* double */
  ck_assert_int_eq(zone__free_or_hand_over(z, q + 16), EINVAL);
  zt_assert_unchanged(z, &before, "a refused free");
  zt_snapshot_free(&before);
  ck_assert_uint_eq(atomic_load(&refused_count), 0);  /* said by the return value */
  ck_assert_int_eq(zone__free_or_hand_over(z, q), 0);
  ck_assert_uint_eq(live_blocks(z), 0);
  destroy_zone(z);
}
END_TEST

typedef struct handing {
  zone_t *z;
  void *p;
  atomic_int done;
  int rc;
} handing_t;

static void *hand_over_main(void *arg) {
  handing_t *h = arg;
  h->rc = zone__free_or_hand_over(h->z, h->p);
  atomic_store(&h->done, 1);
  return NULL;
}

START_TEST(free_or_hand_over_does_not_wait_for_a_held_lock) {
  make_threaded();
  zone_t *z = create_zone(64 << 10);
  void *p = zalloc(z, 64);
  ck_assert_ptr_nonnull(zalloc(z, 64));
  if (checked_refuses(z, p)) {  /* a checked zone's free waits for its lock */
    destroy_zone(z);
    return;
  }
  handing_t h = {.z = z, .p = p};
  zone__lock(z);  /* as a thread inside a call on z */
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, hand_over_main, &h), 0);
  for (int ms = 0; ms < 10000 && !atomic_load(&h.done); ms++)
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  bool returned = atomic_load(&h.done);
  ck_assert_uint_eq(z->blocks, 2);  /* not applied while the lock is held */
  zone__unlock(z);
  pthread_join(t, NULL);
  ck_assert_msg(returned, "the free waited for the lock");
  ck_assert_int_eq(h.rc, 0);
  ck_assert(zone__remote_pending(z));
  ck_assert_ptr_eq(zalloc(z, 64), p);  /* applied first by the next call */
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* Threads, each with a zone of its own, hand their blocks to the next thread,
 * which frees them with zone__free_or_hand_over while their owner keeps
 * allocating and freeing its own: every zone stays exact. */
enum { THREADS = 4, KEEP = 64, MAIL = 32 };

typedef struct ring_worker {
  zone_t *z;
  _Atomic(void *) mail[MAIL];  /* blocks handed to this thread to free */
  struct ring_worker *next;
  size_t rounds;
  uint64_t seed;
  unsigned id;
  bool defer;  /* the owner's frees through zone__free_known, its zone deferring them */
  atomic_int ok;
} ring_worker_t;

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* The owner's free of its own block: zfree, or the deferrable free. */
static bool own_free(ring_worker_t *w, void *p) {
  return w->defer ? zone__free_known(p, w->z) == NULL : zfree(w->z, p) == 0;
}

static void *ring_main(void *arg) {
  ring_worker_t *w = arg;
  void *own[KEEP] = {0};
  int ok = 1;
  for (size_t r = 0; r < w->rounds; r++) {
    size_t k = rng(&w->seed) % KEEP;
    if (own[k] != NULL) {
      if (((unsigned char *)own[k])[0] != (unsigned char)w->id)
        ok = 0;
      ok &= own_free(w, own[k]);
    }
    own[k] = zalloc(w->z, 16 + rng(&w->seed) % 300);
    if (own[k] != NULL)
      memset(own[k], (int)w->id, 16);
    /* Hand one to the next thread; free what was handed here. */
    void *give = zalloc(w->z, 16 + rng(&w->seed) % 200);
    if (give != NULL) {
      memset(give, (int)w->id, 16);
      void *expected = NULL;
      size_t slot = rng(&w->seed) % MAIL;
      if (!atomic_compare_exchange_strong(&w->next->mail[slot], &expected, give))
        ok &= own_free(w, give);
    }
    for (size_t m = 0; m < MAIL; m++) {
      void *got = atomic_exchange(&w->mail[m], NULL);
      if (got != NULL) {
        /* the owner is the previous thread: its id is in the block */
        unsigned owner = ((unsigned char *)got)[0];
        ring_worker_t *o = w;
        while (o->id != owner)
          o = o->next;
        ok &= zone__free_or_hand_over(o->z, got) == 0;
      }
    }
  }
  for (size_t k = 0; k < KEEP; k++)
    if (own[k] != NULL)
      ok &= own_free(w, own[k]);
  atomic_store(&w->ok, ok);
  return NULL;
}

/* THREADS workers in a ring, their zones deferring their owners' frees or
 * not: every handed-over and deferred free applied at the end, each zone
 * exact, nothing refused. */
static void ring_run(bool defer) {
  reset_refused();
  static ring_worker_t w[THREADS];
  pthread_t t[THREADS];
  for (unsigned i = 0; i < THREADS; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].z = create_zone_flags(1 << 20, ZONE_GROW);
    ck_assert_ptr_nonnull(w[i].z);
    w[i].next = &w[(i + 1) % THREADS];
    w[i].rounds = zt_scaled(20000);
    w[i].seed = 88172645463325252ull + i;
    w[i].id = i + 1;
    w[i].defer = defer;
    if (defer) {
      zone__defer_frees(w[i].z, true, 0);
      ck_assert(w[i].z->defers || w[i].z->check.kind != ZONE_CHECKER_NONE);
    }
  }
  for (unsigned i = 0; i < THREADS; i++)
    ck_assert_int_eq(pthread_create(&t[i], NULL, ring_main, &w[i]), 0);
  for (unsigned i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  /* What is still in the mailboxes, freed the same way. */
  for (unsigned i = 0; i < THREADS; i++)
    for (size_t m = 0; m < MAIL; m++) {
      void *got = atomic_exchange(&w[i].mail[m], NULL);
      if (got != NULL) {
        unsigned owner = ((unsigned char *)got)[0];
        ck_assert_int_eq(zone__free_or_hand_over(w[owner - 1].z, got), 0);
      }
    }
  for (unsigned i = 0; i < THREADS; i++) {
    ck_assert_msg(atomic_load(&w[i].ok), "thread %u saw a refused call or a bad block", i);
    ck_assert_uint_eq(live_blocks(w[i].z), 0);  /* every handed-over and deferred free applied */
    ck_assert_ptr_null(w[i].z->pending);
    zt_assert_check(w[i].z);
    destroy_zone(w[i].z);
  }
  ck_assert_uint_eq(atomic_load(&refused_count), 0);
}

START_TEST(threads_hand_over_each_others_frees) { ring_run(false); }
END_TEST

/* The same with every zone deferring its owner's frees (the shim's
 * ZONE_FREE_DEFER in a large arena): a deferred free and the frees handed
 * over meet in the same zone, applied in whichever order the lock allows. */
START_TEST(threads_hand_over_to_deferring_zones) { ring_run(true); }
END_TEST

START_TEST(fork_child_applies_handed_frees) {
  char *p, *q;
  zone_t *z = zone_of_two(&p, &q);
  if (z == NULL)
    return;
  ck_assert_int_eq(zone__remote_push(z, p), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    zone__fork_child(z);
    int bad = zone__remote_pending(z) || !atomic_load(&z->plain) || z->blocks != 1 ||
              zone_check(z) != 0;
    _exit(bad);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
  ck_assert_uint_eq(live_blocks(z), 1);  /* and the parent's next call applies its own */
  destroy_zone(z);
}
END_TEST

int main(void) {
  Suite *s = suite_create("remote");
  ZT_CASE(s, handed_free_applies_before_next_placement);
  ZT_CASE(s, handed_frees_apply_in_order_and_misuse_is_refused);
  ZT_CASE(s, full_ring_refuses_hand_over);
  ZT_CASE(s, unlocked_zone_refuses_hand_over);
  ZT_CASE(s, free_or_hand_over_frees_at_once_when_lock_free);
  ZT_CASE(s, free_or_hand_over_does_not_wait_for_a_held_lock);
  ZT_CASE(s, threads_hand_over_each_others_frees);
  ZT_CASE(s, threads_hand_over_to_deferring_zones);
  ZT_CASE(s, fork_child_applies_handed_frees);
  return zt_main(s);
}
