/*
 * zone.h - libzone, a zone (region) allocator with exact first fit.
 *
 * A zone manages a range of bytes and hands out blocks from it by exact first
 * fit: a request is carved from the start of the lowest-addressed free region
 * that can hold it. All bookkeeping lives outside the zone's bytes, so a zone
 * of N bytes serves N bytes, misuse is detected exactly, and writes into the
 * zone's memory can never corrupt the allocator.
 *
 * Granule: every block starts at a multiple of ZONE_GRANULE
 * (alignof(max_align_t), 16 on x86-64) and its size is the request rounded up
 * to a multiple of ZONE_GRANULE; a request of 0 bytes gets one granule.
 *
 * Errors: allocation calls return NULL and set errno; zfree returns an errno
 * value; queries return 0 or false. No call aborts or prints on bad input
 * (zone_check describes a broken invariant on stderr, which is its job).
 *
 * Threads: every call may be made concurrently on the same zone unless the
 * zone was created with ZONE_UNLOCKED.
 *
 * Heap checkers: under valgrind's memcheck, or in a program built with
 * -fsanitize=address (libzone need not be), a block is checked like a
 * malloc'd one: only the bytes asked for may be used until zone_block_size
 * is asked, freed blocks and free space are off limits, and memcheck reports
 * lost blocks and zones never destroyed (ASan: zones never destroyed).
 */
#ifndef ZONE_H
#define ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define ZONE_API
#elif defined(__GNUC__)
#define ZONE_API __attribute__((visibility("default")))
#else
#define ZONE_API
#endif

#define ZONE_VERSION_MAJOR 0
#define ZONE_VERSION_MINOR 1
#define ZONE_VERSION_PATCH 0

/* The allocation unit: block addresses and sizes are multiples of it. */
#ifdef __cplusplus
#define ZONE_GRANULE (alignof(max_align_t))
#else
#define ZONE_GRANULE (_Alignof(max_align_t))
#endif

/* An opaque zone. Created by create_zone*, released by destroy_zone. */
typedef struct zone zone_t;

/* Creation flags.
 * ZONE_GROW: map more memory when nothing fits instead of failing; the zone
 *   reserves address space (not memory) and grows upward into it in place (one
 *   contiguous extent) where the kernel allows, else by another extent; either
 *   way first fit fills the oldest memory first.
 * ZONE_UNLOCKED: the caller promises one thread at a time; no locking. */
enum { ZONE_GROW = 1u << 0, ZONE_UNLOCKED = 1u << 1 };

/* A snapshot of a zone's accounting, filled by zone_stats. */
typedef struct zone_stats {
  size_t size;          /* bytes the zone manages (zone_size) */
  size_t used;          /* bytes in live blocks (block sizes, rounded) */
  size_t free;          /* size - used */
  size_t largest_free;  /* largest single free region */
  size_t blocks;        /* live blocks */
  size_t free_blocks;   /* free regions (maximal runs) */
  size_t peak_used;     /* high-water mark of used */
} zone_stats_t;

/* Visitor for zone_walk: ptr and size of a live block (used = true) or a free
 * region (used = false). A nonzero return stops the walk and is returned. */
typedef int (*zone_visit_fn)(void *ptr, size_t size, bool used, void *arg);

/* ---- lifecycle --------------------------------------------------------- */

/* A zone managing `bytes` rounded up to ZONE_GRANULE, memory from the OS.
 * NULL with errno EINVAL for 0 bytes, ENOMEM when the memory can't be had. */
ZONE_API zone_t *create_zone(size_t bytes);

/* As create_zone, with ZONE_GROW and/or ZONE_UNLOCKED.
 * NULL with EINVAL for 0 bytes or unknown flags, ENOMEM as above. */
ZONE_API zone_t *create_zone_flags(size_t bytes, unsigned flags);

/* A zone over a caller-owned buffer: it hands out the whole granules inside
 * [memory, memory + bytes), keeps its bookkeeping elsewhere and never grows.
 * NULL with EINVAL for NULL memory, no whole granule, ZONE_GROW or unknown
 * flags; ENOMEM when the bookkeeping can't be had. destroy_zone gives the
 * buffer back untouched. */
ZONE_API zone_t *create_zone_in(void *memory, size_t bytes, unsigned flags);

/* Releases the zone and all its memory, live blocks included (a buffer given
 * to create_zone_in goes back to its owner). NULL is a no-op. */
ZONE_API void destroy_zone(zone_t *zone);

/* Frees every block at once and keeps the zone. NULL is a no-op. */
ZONE_API void zone_reset(zone_t *zone);

/* Gives the memory under the zone's free pages back to the OS: every whole
 * page inside a free region, but for the lowest `keep` bytes of them, which
 * stay resident (first fit hands out the lowest free memory first, so they
 * are the pages the next allocations use). Blocks, sizes and placement do not
 * change; a page given back costs no memory until a block is placed over it,
 * and what it held is lost. Returns the bytes given back by this call: a page
 * given back earlier and not used since is not counted again, nor kept. A
 * zone over a caller's buffer (create_zone_in) gives nothing back: 0.
 * 0 with errno EINVAL for a NULL zone; errno is otherwise left alone. */
ZONE_API size_t zone_trim(zone_t *zone, size_t keep);

/* ---- allocation -------------------------------------------------------- */

/* A block of at least `bytes` (rounded up to ZONE_GRANULE, 0 gets one granule)
 * at the lowest address where it fits. NULL with ENOMEM when nothing fits and
 * the zone can't grow, EINVAL for a NULL zone. */
ZONE_API void *zalloc(zone_t *zone, size_t bytes);

/* As zalloc for count * size bytes, zeroed. NULL with ENOMEM on overflow. */
ZONE_API void *zcalloc(zone_t *zone, size_t count, size_t size);

/* Resizes a block, keeping its contents up to the smaller size. NULL ptr acts
 * as zalloc; bytes = 0 frees ptr and returns NULL. Shrinks stay in place,
 * grows stay in place when the next region is free and large enough, else the
 * block moves to the first fit counting its own space as free. On failure:
 * NULL with ENOMEM (EINVAL for a ptr that is not a live block), ptr intact. */
ZONE_API void *zrealloc(zone_t *zone, void *ptr, size_t bytes);

/* A block of `bytes` starting at the lowest `alignment`-aligned address where
 * it fits; the padding before it stays free. alignment must be a power of two
 * (else NULL, EINVAL); alignment <= ZONE_GRANULE is plain zalloc. */
ZONE_API void *zalloc_aligned(zone_t *zone, size_t alignment, size_t bytes);

/* Frees the block starting at ptr. Returns 0 (also for NULL ptr), or EINVAL
 * when ptr is not the start of a live block of this zone (double free,
 * interior, foreign or wild pointer) or zone is NULL; the zone is unchanged. */
ZONE_API int zfree(zone_t *zone, void *ptr);

/* ---- queries ----------------------------------------------------------- */

/* The usable size of the live block starting at ptr: its request rounded up
 * to ZONE_GRANULE, all of which the program may use (as malloc_usable_size
 * for malloc); 0 for anything else. Under memcheck or ASan the bytes past the
 * request become usable by this call. */
ZONE_API size_t zone_block_size(const zone_t *zone, const void *ptr);

/* Bytes the zone manages (grows with ZONE_GROW); 0 for NULL. */
ZONE_API size_t zone_size(const zone_t *zone);

/* Whether ptr is the start of a live block of this zone. */
ZONE_API bool zone_owns(const zone_t *zone, const void *ptr);

/* Fills *stats (zeroes it for a NULL zone). */
ZONE_API void zone_stats(const zone_t *zone, zone_stats_t *stats);

/* Visits every live block and free region in ascending address order. The
 * zone is locked only between visits, so the visitor may call into the zone
 * (for example zfree the block it is given). Returns the visitor's first
 * nonzero return value, else 0; EINVAL for a NULL zone or visitor. */
ZONE_API int zone_walk(const zone_t *zone, zone_visit_fn visit, void *arg);

/* Prints a header line starting with "zone", then one line per live block and
 * free region in address order: "0x<address> <size> used|free". */
ZONE_API void zdump(const zone_t *zone, FILE *out);

/* Verifies every internal invariant: 0 when sound, else nonzero with a
 * description on stderr. Nonzero (EINVAL) for a NULL zone. */
ZONE_API int zone_check(const zone_t *zone);

#ifdef __cplusplus
}
#endif

#endif /* ZONE_H */
