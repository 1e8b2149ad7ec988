/*
 * shim.h - what the shim's files share. The shim maps the malloc family onto
 * zones of the core, its arenas (the default zone for the main thread, more
 * for other threads), and adds what a process-wide allocator needs around them: lazy
 * start-up, options from the environment, threads moving between arenas,
 * fork handling, misuse reports, memory return and exit reports. It holds no placement logic
 * and sees the core only through zone.h and zone_ext.h. This header holds the
 * types, macros and prototypes, grouped by the file that defines them; the
 * inline helpers of the hot path are in fast.h. The files, from the top layer
 * down (a file calls only files below it):
 *
 *   malloc.c, introspect.c   the exported entry points
 *   fork.c                   the atfork handlers and frozen zones
 *   report.c                 ZONE_STATS and ZONE_DUMP
 *   arena.c                  each thread's arena, moves, a block's owner
 *   trim.c                   automatic memory return
 *   misuse.c                 the report of a bad pointer
 *   huge.c                   blocks of a mapping of their own
 *   state.c                  the arenas (the default zone first), start-up
 *   options.c                every option: defaults, environment, mallopt
 */
#ifndef ZONE_SHIM_H
#define ZONE_SHIM_H

#include "zone.h"
#include "zone_ext.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Everything declared below is the shim's own (the exported malloc family
 * says so itself): hidden, so that its data is addressed directly, not
 * through the GOT. */
#pragma GCC visibility push(hidden)

#define ZONE_SHIM_EXPORT __attribute__((visibility("default")))
#define ZONE_SHIM_TLS __thread __attribute__((tls_model("initial-exec")))
#define zone__likely(x) __builtin_expect(!!(x), 1)
#define zone__unlikely(x) __builtin_expect(!!(x), 0)

/* ---- options.c: every option ------------------------------------------------ */

/* What a detected misuse does (ZONE_MISUSE). */
typedef enum { ZONE_MISUSE_ABORT, ZONE_MISUSE_WARN, ZONE_MISUSE_IGNORE } zone__misuse_t;

/* The options, read from the environment once at start-up (before any thread
 * but the first can exist); the fields another thread may read while they
 * change (mallopt) are atomic, and every read of them is relaxed: a value
 * seen a little late is fine, a torn one would not be. */
typedef struct zone__shim_options {
  _Atomic int misuse;               /* a zone__misuse_t */
  _Atomic bool stats;               /* ZONE_STATS: summary on stderr at exit */
  _Atomic unsigned long dump_every; /* ZONE_DUMP_EVERY: also dump every N allocations */
  _Atomic size_t trim_threshold;    /* smallest free region given back; 0: never
                                       automatically (ZONE_TRIM_THRESHOLD, mallopt) */
  size_t return_delay;              /* ZONE_RETURN_DELAY: operations a free page
                                       waits before the decay gives it back; 0: never */
  _Atomic size_t mmap_threshold;    /* ZONE_MMAP_THRESHOLD: requests this large get
                                       a mapping of their own (huge.c); 0: never */
  char dump_path[4096];             /* ZONE_DUMP: zdump at exit, appended; "" for none;
                                       written once, before it is first read */
  unsigned arenas;                  /* ZONE_ARENAS: most arenas, 1..ZONE_ARENAS_MAX;
                                       0: the default (zone__shim_arena_limit) */
  bool free_defer;                  /* ZONE_FREE_DEFER: the zones defer frees
                                       (zone__defer_frees) */
} zone__shim_options_t;

/* The most arenas ZONE_ARENAS may ask for. */
#define ZONE_ARENAS_MAX 256

extern zone__shim_options_t zone__shim_opt;

/* Reads the options from `environ` once it is set (it may not be yet at the
 * first allocation, which ld.so makes before libc's own start-up); later
 * calls do nothing. Not thread-safe: state.c calls it under its start-up lock. */
void zone__shim_read_options(void);
/* After start-up, outside every lock (it may allocate): leaves the mark that
 * keeps the children of a process that warned about an option from warning
 * again. */
void zone__shim_options_settle(void);
/* The descriptor the exit report goes to (a copy of stderr when ZONE_STATS is
 * on: GNU tools close stderr before our report). */
int zone__shim_stats_fd(void);
/* mallopt: 1 for success as glibc; every parameter it knows is accepted, only
 * M_TRIM_THRESHOLD changes anything. */
int zone__shim_mallopt(int param, int value);


/* ---- huge.c: blocks of a mapping of their own ------------------------------------ */

/* The smallest ZONE_MMAP_THRESHOLD taken (other than 0). The hot paths send
 * every request this large to their slow ways, which compare it with the
 * threshold; below it they need not look. */
#define ZONE_SHIM_HUGE_MIN ((size_t)1 << 20)
#define ZONE_SHIM_HUGE_DEFAULT ((size_t)32 << 20)

/* Whether a request of `bytes` gets a mapping of its own. */
bool zone__shim_huge_wanted(size_t bytes);
/* A block of `bytes` (whole pages, zero-filled) on a mapping of its own,
 * starting at a multiple of align (a power of two; the page at least), and
 * recorded; NULL when the size wants none (zone__shim_huge_wanted) or it
 * can't be mapped or recorded: the arenas serve it then. */
void *zone__shim_huge_alloc(size_t bytes, size_t align);
/* The bytes of the block of its own mapping that starts at p, else 0. */
size_t zone__shim_huge_size(const void *p);
/* Frees the block of its own mapping that starts at p; false when p starts
 * none (then nothing changed). */
bool zone__shim_huge_free(void *p);
/* realloc of the block of its own mapping at p to `bytes` (moved with its
 * pages, never copied unless the kernel refuses): the block, or NULL with
 * errno ENOMEM and p intact (EINVAL when p starts no such block). */
void *zone__shim_huge_resize(void *p, size_t bytes);
/* The blocks of their own mapping now and at most: how many, their bytes. */
typedef struct zone__shim_huge_stats {
  size_t count, bytes, peak_count, peak_bytes;
} zone__shim_huge_stats_t;
void zone__shim_huge_stats(zone__shim_huge_stats_t *out);

/* ---- state.c: the arenas -------------------------------------------------- */

/* trim.c's state for one arena's automatic memory return (see trim.c). */
typedef struct zone__shim_trim {
  atomic_flag busy;        /* a thread is looking at the arena's usage; the rest
                              are read and written only while it is set */
  size_t high_water;       /* used bytes, highest seen since the last return */
  size_t keep;             /* free bytes an automatic return leaves resident */
  size_t quiet_ticks;      /* looks since returned memory last came back */
  size_t reused_seen;      /* zone__trim_reused at the last automatic return */
  size_t decay_ticks;      /* looks since the last decay look */
  size_t delay;            /* looks from one decay look to the next */
  size_t given_pages;      /* pages the decay gave back, decaying by 1/8 a look */
  size_t refaults;         /* faults not explained by growth, the same */
  size_t faults_seen;      /* the process's minor faults at the last decay look */
  size_t handed_seen;      /* the arena's handed-out pages then */
} zone__shim_trim_t;

/* An arena: a zone of the core with its own lock, and the threads that
 * allocate from it. Arena 0 is the default zone, made on the first
 * allocation; arena k > 0 is made for a thread other than the main one, at
 * its first call or when it waited for a shared arena's lock (arena.c), while
 * there are fewer than the limit. A made arena is
 * never unmade (its blocks may live on after every thread that used it). A
 * line each, so that one arena's counters don't share a line with another's. */
typedef struct zone__shim_arena {
  zone_t *_Atomic zone;    /* NULL until made */
  _Atomic unsigned attached;  /* threads that moved here and have not left (arena.c) */
  unsigned index;          /* its place in zone__shim_arenas */
  zone__shim_trim_t trim;  /* trim.c's */
} __attribute__((aligned(64))) zone__shim_arena_t;

/* Every arena; [0, zone__shim_narenas) are made. A new arena's zone is stored
 * before the count that publishes it (release; readers load the count with
 * acquire). */
extern zone__shim_arena_t zone__shim_arenas[ZONE_ARENAS_MAX];
extern _Atomic unsigned zone__shim_narenas;

/* What a thread's calls keep, in one thread-local, so that a call finds it
 * with one look-up of the thread's block:
 *  - mine: its arena; NULL before its first call (zone__shim_arena_first)
 *    and after its end.
 *  - zone: mine's zone, or NULL while mine is NULL or its zone is not made
 *    yet: the hot paths' one load (fast.h), any other value being theirs to
 *    find the slow way.
 *  - marks: the calls into the core running on this thread (bits 0-15,
 *    ZONE_MARK_DEPTH each), nonzero while it may hold a zone's lock (or the
 *    arena table's), when a fork from a signal handler must not wait for
 *    that lock (see fork.c); and above them (ZONE_MARK_OP each) the
 *    operations left before the next look at its arena's usage (trim.c),
 *    which turn marks negative when they run out. One word, so that the
 *    call that leaves the core counts its operation in the same instruction.
 *  - ops_left: trim.c's count of the operations left when marks' own is
 *    kept at 0 (ZONE_DUMP_EVERY: every allocation is counted, see trim.c). */
typedef struct zone__shim_thread {
  zone__shim_arena_t *mine;
  zone_t *zone;
  int marks;
  unsigned ops_left;
} zone__shim_thread_t;
#define ZONE_MARK_DEPTH 1
#define ZONE_MARK_DEPTH_MASK 0xffffu
#define ZONE_MARK_OP 0x10000

extern ZONE_SHIM_TLS zone__shim_thread_t zone__shim_self;

/* Makes `a` (or NULL) this thread's arena, its zone cached when made. */
void zone__shim_set_mine(zone__shim_arena_t *a);

/* Creates the default zone (and reads the options) on first use. NULL with
 * errno ENOMEM if the zone can't be mapped. The hot path is zone__shim_get
 * (fast.h). */
zone_t *zone__shim_zone_slow(void);

/* The first extent of the default zone, and of every other arena's zone;
 * each grows in place by at least its size when nothing fits, so a zone
 * that starts small places every block where a larger one would. Both start
 * small: what a zone costs resident before it holds much is its bookkeeping
 * and record, about 72 KB at 4 MiB and 32 KB at 256 KiB, which on small
 * programs is a tenth of their memory and more (bench/results/arena-size.md;
 * the default zone at 256 KiB: 32 KB less anonymous memory in every
 * process). */
#define ZONE_SHIM_DEFAULT_ZONE_BYTES ((size_t)256 << 10)
#define ZONE_SHIM_ARENA_ZONE_BYTES ((size_t)256 << 10)

/* A new zone made as the default zone is (for a fork child's fresh start). */
zone_t *zone__shim_zone_new(void);

/* The most arenas: ZONE_ARENAS, else 8 for each online core (as glibc on
 * 64-bit), at most ZONE_ARENAS_MAX. */
unsigned zone__shim_arena_limit(void);

/* The arena table's lock: held to make an arena, and by fork's prepare
 * handler so that none is half made when the process forks. Spins (making an
 * arena is a mapping or two); the caller marks itself inside the core. */
void zone__shim_table_lock(void);
void zone__shim_table_unlock(void);
/* With the table lock held: makes the next arena; NULL at the limit or when
 * its zone can't be mapped. */
zone__shim_arena_t *zone__shim_arena_make(void);

/* Around fork (fork.c's prepare handler, the parent's): the table lock, then
 * every made arena's lock in index order; released in the reverse order. */
void zone__shim_arenas_lock(void);
void zone__shim_arenas_unlock(void);
/* In a fork child: the table lock as new; when fresh, every arena but a new
 * default zone is forgotten (fork.c froze them), else every made arena's lock
 * is made new. Attachments are the forking thread's only. */
void zone__shim_state_fork_child(bool fresh, zone_t *fresh_default);

/* ---- misuse.c: reporting a bad pointer --------------------------------------- */

/* Reports `call`(p) on a pointer that is no live block, as ZONE_MISUSE says:
 * abort() after the message (the default), or the message only, or nothing. */
void zone__shim_misuse(const char *call, const void *p) __attribute__((cold));
/* `call`(p) of a pointer no arena owns, for free: a block of a mapping of
 * its own is freed (huge.c), a block of a frozen zone (left by a fork,
 * fork.c) stays where it is; anything else is misuse. */
void zone__shim_foreign(const void *p, const char *call) __attribute__((cold));
/* A free made after its call (handed over to another arena, or deferred)
 * that its zone refused when it was done (zone__refused_late): as
 * zone__shim_foreign for free. */
void zone__shim_refused_late(void *p) __attribute__((cold));

/* ---- trim.c: memory back to the OS ------------------------------------------- */

/* An operation (an allocation when `alloc`) on arena a found the count in
 * this thread's marks spent: every OPS_PER_TICK + 1 operations on a thread,
 * a look at the arena's usage, which gives the large free regions back when
 * it fell far enough below its high-water mark; with ZONE_DUMP_EVERY, every
 * operation, and an allocation is counted for it (report.c). Never with a
 * lock held. */
void zone__shim_op_due(zone__shim_arena_t *a, bool alloc) __attribute__((cold));

/* Sets the operations left before the next look (the fork child starts
 * afresh; ZONE_DUMP_EVERY, once read, turns every operation into a due one
 * and keeps the count apart). */
void zone__shim_countdown(unsigned ops);

/* Bytes given back so far, all arenas (for ZONE_STATS). */
size_t zone__shim_returned_bytes(void);
/* The part of those the decay gave back (pages freed a while ago). */
size_t zone__shim_decayed_bytes(void);

/* Resets the memory-return state in a fork child. */
void zone__shim_trim_fork_child(void);

/* Gives free memory back now (malloc_trim): the bytes released. */
size_t zone__shim_give_back(zone_t *z, size_t min_region, size_t keep_bytes);

/* ---- arena.c: threads and arenas, a block's owner ---------------------------- */

/* A thread's arena at its first call: arena 0 for the only or the main
 * thread, else a free or new arena as a move picks one (attached there). */
zone__shim_arena_t *zone__shim_arena_first(void) __attribute__((cold));

/* After a call on this thread's arena that waited for its lock
 * (zone__lock_waits nonzero): moves the thread to another arena, if the
 * limit allows more than one, and clears the count. */
void zone__shim_contended(void) __attribute__((cold));

/* The made arenas other than `skip` whose span holds p, one per call: start
 * with *cursor 0; NULL when there are no more. A block's owner is among them
 * (the zone's own calls then say which exactly). */
zone_t *zone__shim_holder(const void *p, unsigned *cursor, const zone_t *skip);
/* The one arena (not skip) whose span holds p; NULL when none or several do. */
zone_t *zone__shim_sole_holder(const void *p, const zone_t *skip);
/* In a fork child: the owner table (arena.c) is built again at its next use. */
void zone__shim_owners_fork_child(void);

/* ---- report.c: ZONE_STATS and ZONE_DUMP -------------------------------------- */

/* Counts an allocation for ZONE_DUMP_EVERY (only called when it is set). */
void zone__shim_count_alloc(void);

/* ---- fork.c: fork ------------------------------------------------------------- */

/* The zone created by a fork child whose parent was inside the allocator owns
 * new blocks; the parent's zone is kept, frozen, so that blocks made before the
 * fork stay readable. Whether p lies in a frozen zone; if so *usable gets the
 * bytes from p that can be read (its block, or up to its extent's end). */
bool zone__shim_frozen_lookup(const void *p, size_t *usable);

#pragma GCC visibility pop

#endif /* ZONE_SHIM_H */
