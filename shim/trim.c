/*
 * trim.c - giving memory back to the OS: malloc_trim, the automatic return
 * of large free regions after a program frees a lot, and the decay that
 * returns the free pages of smaller regions once they have stayed free.
 *
 * What is given back: the whole pages inside a free region of at least the
 * trim threshold (128 KiB, ZONE_TRIM_THRESHOLD or mallopt(M_TRIM_THRESHOLD)),
 * with madvise(MADV_DONTNEED), so they read as zero and cost no resident
 * memory until they are used again. The core remembers the pages it gave
 * back, so a return costs a walk over the large free regions plus the pages
 * used since the last one, whatever was returned before.
 *
 * When: every OPS_PER_TICK allocations and frees on a thread (counted in the
 * thread's marks, shim.h, as its call leaves the core), a look at the
 * usage of the thread's arena (each arena keeps its own state below, so the
 * arenas' swings don't blur each other). When the bytes in use have fallen
 * below their high-water mark since the last return by the budget
 * (BUDGET_FACTOR thresholds, 4 MiB by default) divided among the arenas made
 * (at least one threshold), the large free regions go back (zone__trim, which
 * walks them under the zone's lock). That margin is the hysteresis that keeps
 * a program which frees and allocates the same sizes over and over from
 * faulting pages in and out: its usage never falls that far. Divided, it
 * bounds the slack of the whole process rather than of each arena: with
 * threads on nine arenas, a whole budget each let bench/src/mstress.c keep
 * 73 MB resident where one arena needs 48 MB (8 threads, --scale 0.3).
 *
 * A program whose usage swings by more than the budget, round after round
 * (bench/src/frag.c), would still have every round's free pages returned and
 * faulted back in by the next: page faults, not allocation, would be its
 * cost. So a return keeps some free pages: the lowest `keep` bytes of those
 * it would give back, which first fit hands out first when the usage rises
 * again (zone__trim_keep). How much to keep is learned: the core counts the
 * returned pages that blocks are taken over again (zone__trim_reused), and
 * whatever came back between two returns (at least one threshold) is added
 * to `keep`, up to KEEP_FACTOR thresholds (8 MiB by default, two budgets).
 * Pages kept that the next rise reaches would have been faulted back in
 * anyway, so what a larger bound costs is the pages a rise stops short of:
 * on bench/src/mstress.c, whose threads write 10-40 MiB afresh each round,
 * one budget let every round fault most of its pages back (97k faults at 2
 * threads; 28k with 8 MiB, peak RSS 46.8 -> 48.8 MB, 49.4 at 16 MiB), and
 * frag's faults fell 55k -> 48k with its peak unchanged. `keep` halves
 * after QUIET_TICKS looks (a million calls on one thread) with nothing
 * coming back, and the free memory it held goes back then, so a program
 * that has stopped swinging still returns it. A program starts with
 * nothing kept: one that frees most of its memory once gets it back within
 * a few calls.
 *
 * The decay: a page can hold no block and still be resident, in a free
 * region far shorter than the threshold, because a block once written there
 * was freed. Under first fit such pages pile up: a later block that covers
 * one with the untouched middle of its bytes keeps it resident for nothing
 * (bench/src/mixed.c: 1.9x glibc's peak RSS without the decay). So the core
 * marks the 8 KiB chunks in which a free left a bitmap word wholly free, and
 * every ZONE_RETURN_DELAY operations (1024 by default; counted in looks of
 * OPS_PER_TICK) a look gives back the whole free pages of the chunks marked
 * before the previous look and not freed into since (zone__trim_freed): a
 * page goes back once it has stayed free from one look to the next with no
 * free into its chunk in between, and one taken again in between stays. A
 * look costs the chunks freed into, not the zone's free regions.
 * What it must not do is give back pages that the program writes again at
 * once (bench/src/frag.c, churn_large: nearly every page given back faults
 * in again, a system call and a page fault for nothing). The faults tell:
 * the process's minor faults between two looks, less what the arena's
 * growth in bytes ever handed out explains (first touches), are the pages
 * given back that came back. While those come to more than half of the pages
 * given back (both decaying by 1/8 a look), the delay between looks doubles,
 * up to DECAY_BACKOFF_MAX times the option (16M operations by default, a
 * few seconds of a busy thread; jemalloc's decay takes 10 s); otherwise it
 * halves back. With a shorter bound, a program that leaves its pages free
 * for longer than it between rounds of work would fault them all in every
 * round. On mixed the returned pages mostly lie
 * under blocks' untouched middles and fault rarely (about 1 in 18), so the
 * delay stays at the option.
 */
#include "fast.h"

#include <stdint.h>
#include <sys/resource.h>

#define OPS_PER_TICK 64
#define BUDGET_FACTOR 32
#define KEEP_FACTOR 64 /* thresholds: the most a return keeps, 8 MiB by default */
#define QUIET_TICKS 16384
#define DECAY_BACKOFF_MAX 16384


static _Atomic size_t returned_total, decayed_total;

static size_t times_saturated(size_t a, size_t b) {
  size_t r;
  return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

/* The core's walk over free regions (which keeps errno), counted for
 * ZONE_STATS, the call marked as inside the core. */
size_t zone__shim_give_back(zone_t *z, size_t min_region, size_t keep_bytes) {
  zone__shim_enter();
  size_t released = zone__trim_keep(z, min_region, keep_bytes);
  zone__shim_leave();
  atomic_fetch_add_explicit(&returned_total, released, memory_order_relaxed);
  return released;
}

/* Bytes of returned memory that came back since the last automatic return. */
static size_t came_back(zone_t *z, zone__shim_trim_t *t) {
  zone__shim_enter();
  size_t reused = zone__trim_reused(z);
  zone__shim_leave();
  size_t since = reused - t->reused_seen;
  t->reused_seen = reused;
  return since;
}

/* Minor page faults of the process so far. */
static size_t faults_so_far(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? (size_t)ru.ru_minflt : 0;
}

/* The decay's look, and what it learns from the faults since the last (the
 * header above): the delay to the next look, in looks of the usage, at
 * least delay_ticks. */
static void decay_look(zone_t *z, zone__shim_trim_t *t, size_t delay_ticks) {
  zone__shim_enter();
  size_t handed;
  size_t released = zone__trim_freed(z, &handed);
  zone__shim_leave();
  atomic_fetch_add_explicit(&returned_total, released, memory_order_relaxed);
  atomic_fetch_add_explicit(&decayed_total, released, memory_order_relaxed);
  size_t page = zone__os_page_size(), faults = faults_so_far();
  size_t first = handed / page - t->handed_seen;
  size_t since = faults > t->faults_seen ? faults - t->faults_seen : 0;  /* 0 in a fork child */
  size_t refaults = since > first ? since - first : 0;
  t->handed_seen = handed / page;
  t->faults_seen = faults;
  if (t->given_pages > 0) {
    t->refaults += refaults;
    size_t most = times_saturated(delay_ticks, DECAY_BACKOFF_MAX);
    if (t->refaults > t->given_pages / 2)
      t->delay = t->delay < most / 2 ? t->delay * 2 : most;
    else
      t->delay = t->delay / 2 > delay_ticks ? t->delay / 2 : delay_ticks;
  }
  t->given_pages = t->given_pages - t->given_pages / 8 + released / page;
  t->refaults -= t->refaults / 8;
}

/* Counts the arena's looks towards the next decay look. */
static void decay_tick(zone_t *z, zone__shim_trim_t *t) {
  size_t ops = zone__shim_return_delay();
  if (ops == 0)
    return;
  size_t delay_ticks = (ops + OPS_PER_TICK - 1) / OPS_PER_TICK;
  if (t->delay < delay_ticks)
    t->delay = delay_ticks;  /* the first look */
  if (++t->decay_ticks < t->delay)
    return;
  t->decay_ticks = 0;
  decay_look(z, t, delay_ticks);
}

/* A look at the arena's usage: OPS_PER_TICK operations on the thread until
 * the next. */
static void usage_tick(zone__shim_arena_t *a) {
  size_t threshold = zone__shim_trim_threshold();
  zone__shim_trim_t *t = &a->trim;
  if (threshold == 0 || atomic_flag_test_and_set_explicit(&t->busy, memory_order_acquire))
    return;  /* off, or another thread is looking */
  zone_t *z = atomic_load_explicit(&a->zone, memory_order_acquire);
  decay_tick(z, t);
  if (++t->quiet_ticks >= QUIET_TICKS && t->keep != 0) {
    /* the swinging stopped: what was kept goes back */
    t->keep = t->keep / 2 < threshold ? 0 : t->keep / 2;
    t->quiet_ticks = 0;
    zone__shim_give_back(z, threshold, t->keep);
  }
  /* The bytes in use only: zone_stats would also bring the summary tree up
   * to date for largest_free, the costliest part of a look. */
  zone__shim_enter();
  size_t used = zone__used_bytes(z);
  zone__shim_leave();
  /* The fall that triggers a return is the budget shared among the arenas;
   * what a return keeps (learned from the pages that came back) may reach
   * KEEP_FACTOR thresholds in each arena, whatever their number: a smaller
   * cap cost mstress its time in returns and faults for the pages its next
   * round wrote again. */
  unsigned arenas = atomic_load_explicit(&zone__shim_narenas, memory_order_relaxed);
  size_t budget = times_saturated(threshold, BUDGET_FACTOR);
  size_t fall = arenas > 1 ? budget / arenas : budget;
  if (fall < threshold)
    fall = threshold;
  size_t most_kept = times_saturated(threshold, KEEP_FACTOR);
  if (used >= t->high_water) {
    t->high_water = used;
  } else if (t->high_water - used >= fall) {
    size_t since = came_back(z, t);
    if (since >= threshold) {
      t->keep = t->keep < most_kept && since < most_kept - t->keep ? t->keep + since : most_kept;
      t->quiet_ticks = 0;
    }
    zone__shim_give_back(z, threshold, t->keep);
    t->high_water = used;
  }
  atomic_flag_clear_explicit(&t->busy, memory_order_release);
}

/* The count in the thread's marks set to `ops`, its calls into the core
 * kept. */
static void marks_countdown(unsigned ops) {
  unsigned depth = (unsigned)zone__shim_self.marks & ZONE_MARK_DEPTH_MASK;
  zone__shim_self.marks = (int)(depth + ops * (unsigned)ZONE_MARK_OP);
}

/* Without ZONE_DUMP_EVERY the count lives in the marks, and an operation is
 * due when it runs out; with it, the marks' count stays 0, so that every
 * operation is due (and an allocation can be counted), and ops_left keeps
 * the count instead. */
void zone__shim_countdown(unsigned ops) {
  if (zone__shim_dump_every() != 0) {
    zone__shim_self.ops_left = ops;
    marks_countdown(0);
  } else {
    marks_countdown(ops);
  }
}

void zone__shim_op_due(zone__shim_arena_t *a, bool alloc) {
  unsigned long every = zone__shim_dump_every();
  bool look = true;
  if (every != 0) {
    marks_countdown(0);
    look = zone__shim_self.ops_left-- == 0;
    if (look)
      zone__shim_self.ops_left = OPS_PER_TICK;
  } else {
    marks_countdown(OPS_PER_TICK);
  }
  if (look)
    usage_tick(a);
  if (alloc && every != 0)
    zone__shim_count_alloc();
}

size_t zone__shim_returned_bytes(void) { return atomic_load(&returned_total); }
size_t zone__shim_decayed_bytes(void) { return atomic_load(&decayed_total); }

void zone__shim_trim_fork_child(void) {
  unsigned n = atomic_load(&zone__shim_narenas);
  for (unsigned k = 0; k < n; k++)
    atomic_flag_clear(&zone__shim_arenas[k].trim.busy);
  zone__shim_countdown(OPS_PER_TICK);
}
