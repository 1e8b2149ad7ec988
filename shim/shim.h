/*
 * shim.h - what the shim's files share. The shim maps the malloc family onto
 * one default zone of the core and adds what a process-wide allocator needs
 * around it: lazy start-up, options from the environment, fork handling,
 * misuse reports, memory return and exit reports. It holds no placement logic
 * and sees the core only through zone.h and zone_ext.h. This header holds the
 * types, macros and prototypes, grouped by the file that defines them; the
 * inline helpers of the hot path are in fast.h. The files, from the top layer
 * down (a file calls only files below it):
 *
 *   malloc.c, introspect.c   the exported entry points
 *   fork.c                   the atfork handlers and frozen zones
 *   report.c                 ZONE_STATS and ZONE_DUMP
 *   trim.c                   automatic memory return
 *   misuse.c                 the report of a bad pointer
 *   state.c                  the default zone and its start-up
 *   options.c                every option: defaults, environment, mallopt
 */
#ifndef ZONE_SHIM_H
#define ZONE_SHIM_H

#include "zone.h"
#include "zone_ext.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

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
  char dump_path[4096];             /* ZONE_DUMP: zdump at exit, appended; "" for none;
                                       written once, before it is first read */
} zone__shim_options_t;

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


/* ---- state.c: the default zone ---------------------------------------------- */

/* The default zone, NULL until the first allocation creates it. */
extern zone_t *_Atomic zone__shim_zone;

/* Calls into the core currently running on this thread. Nonzero while the
 * thread may hold the zone's lock: a fork from a signal handler then must not
 * wait for that lock (see fork.c). */
extern ZONE_SHIM_TLS unsigned zone__shim_depth;

/* Creates the default zone (and reads the options) on first use. NULL with
 * errno ENOMEM if the zone can't be mapped. The hot path is zone__shim_get
 * (fast.h). */
zone_t *zone__shim_zone_slow(void);


/* A new zone as the default zone is made (for a fork child's fresh start). */
zone_t *zone__shim_zone_new(void);
/* In a fork child: the start-up lock as new. */
void zone__shim_state_fork_child(void);


/* ---- misuse.c: reporting a bad pointer --------------------------------------- */

/* Reports `call`(p) on a pointer that is no live block, as ZONE_MISUSE says:
 * abort() after the message (the default), or the message only, or nothing. */
void zone__shim_misuse(const char *call, const void *p) __attribute__((cold));

/* ---- trim.c: memory back to the OS ------------------------------------------- */

/* Operations left on this thread before the next look at the zone's usage. */
extern ZONE_SHIM_TLS unsigned zone__shim_ops_left;

/* Looks at the zone's usage; when it fell far enough below its high-water
 * mark, gives the large free regions back. Called every few hundred
 * operations per thread, never with the lock held. */
void zone__shim_usage_tick(zone_t *z);

/* Bytes given back so far (for ZONE_STATS). */
size_t zone__shim_returned_bytes(void);

/* Resets the memory-return state in a fork child. */
void zone__shim_trim_fork_child(void);

/* Gives free memory back now (malloc_trim): the bytes released. */
size_t zone__shim_give_back(zone_t *z, size_t min_region, size_t keep_bytes);

/* ---- report.c: ZONE_STATS and ZONE_DUMP -------------------------------------- */

/* Counts an allocation for ZONE_DUMP_EVERY (only called when it is set). */
void zone__shim_count_alloc(void);

/* ---- fork.c: fork ------------------------------------------------------------- */

/* The zone created by a fork child whose parent was inside the allocator owns
 * new blocks; the parent's zone is kept, frozen, so that blocks made before the
 * fork stay readable. Whether p lies in a frozen zone; if so *usable gets the
 * bytes from p that can be read (its block, or up to its extent's end). */
bool zone__shim_frozen_lookup(const void *p, size_t *usable);

#endif /* ZONE_SHIM_H */
