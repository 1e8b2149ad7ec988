/*
 * model.h - a reference model of libzone's placement rules, for differential
 * tests (tests/test_model.c) and fuzz targets (fuzz/).
 *
 * The model knows nothing about trees or bitmaps: it keeps one byte per
 * granule (free, start of a block, inside a block) and answers every request by
 * scanning from granule 0 upwards, so each rule of the contract reads off the
 * code directly:
 *   - zalloc: the lowest granule where n = ceil(bytes / G) free granules begin
 *     (0 bytes get one granule); nothing fits: ENOMEM.
 *   - zalloc_aligned(A, bytes): A not a power of two: EINVAL; A <= G: as
 *     zalloc; else the lowest granule g with (base + g*G) % A == 0 where n free
 *     granules begin. `base` is the zone's real first address, so alignment is
 *     absolute, exactly as the library must compute it.
 *   - zrealloc(off, bytes): MODEL_NONE acts as alloc; bytes 0 frees and returns
 *     MODEL_NONE with err 0; a shrink (or same size) stays; a grow stays when
 *     the granules right after the block are free and enough; otherwise the
 *     block is treated as already freed and placed by first fit (so it may land
 *     lower, overlapping its old place or the free region before it); if even
 *     that fails: ENOMEM and the block unchanged. Not a block: EINVAL.
 *   - zfree(off): 0 for MODEL_NONE (NULL), EINVAL unless a block starts there.
 *   - zcalloc(count, size): count * size overflow: ENOMEM; else as zalloc.
 *   - reset: everything free; peak_used survives (it is a high-water mark
 *     over the zone's life).
 * The model covers one fixed extent (no ZONE_GROW): create_zone(N) with N a
 * multiple of G, or create_zone_in over a buffer (base = its first whole
 * granule, bytes = the whole granules).
 *
 * API (all offsets are granule indexes from base; sizes are bytes):
 *   model_init(m, base, bytes)         -> 0 or ENOMEM (model's own malloc)
 *   model_fini(m), model_reset(m)
 *   model_alloc(m, bytes, &err)        -> offset or MODEL_NONE with err
 *   model_alloc_aligned(m, A, bytes, &err)
 *   model_calloc(m, count, size, &err)
 *   model_realloc(m, off, bytes, &err) -> new offset, or MODEL_NONE (err 0 when
 *                                         it freed for bytes 0)
 *   model_free(m, off)                 -> 0 or EINVAL
 *   model_block_size(m, off)           -> bytes of the block at off, else 0
 *   model_next(m, g, &len, &used)      -> walk: the region or block starting
 *                                         at granule g (g = 0 first, then g +
 *                                         len), false past the end
 *   model_realloc_stays(m, off, bytes) -> whether model_realloc keeps the
 *                                         block at off: a shrink, or free
 *                                         granules right after it (false for
 *                                         bytes 0 or no block at off)
 *   model_stats(m, &stats)             -> what zone_stats must report
 *   model_addr(m, off), model_off(m, p) -> address <-> offset
 *   model_block_at(m, p)               -> offset of the block starting at p,
 *                                         else MODEL_NONE
 *   model_end(m)                       -> the address past the last granule
 * Granule arithmetic, the contract's rounding:
 *   model_granules(bytes)              -> granules a request takes (0 -> 1)
 *   model_whole_granules(mem, bytes, &base) -> the whole granules inside a
 *                                         buffer (what create_zone_in manages)
 * A zone of several extents is a sequence of models in address order, one
 * per extent (zone_walk visits them in that order):
 *   model_walk_next(ext, n, &cursor, &addr, &bytes, &used)
 *                                      -> the sequence's next region or block
 * And helpers that look at a real zone (they include zone.h):
 *   model_zone_base(z)                 -> the zone's first address, learned
 *                                         from zone_walk (0 on failure)
 *   model_compare(m, z, why, cap)      -> 0 when zone_walk's layout and
 *                                         zone_stats equal the model's; else
 *                                         nonzero with the first difference
 *                                         written into why. It is
 *                                         model_compare_walk(m, 1, ...) then
 *                                         model_compare_stats.
 *   model_compare_walk(ext, n, z, why, cap)  -> the same for the layout of a
 *                                         sequence of models
 *   model_compare_stats(got, want, why, cap) -> the same for two zone_stats
 * A model is plain data, one per zone, not thread-safe, and uses malloc for
 * its granule map (it is test code, never linked into the library).
 */
#ifndef ZONE_TEST_MODEL_H
#define ZONE_TEST_MODEL_H

#include "zone.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_G ((size_t)ZONE_GRANULE)
#define MODEL_NONE ((size_t)-1)

/* Granule states in zone_model_t.map. */
enum { MODEL_FREE = 0, MODEL_START = 1, MODEL_INSIDE = 2 };

typedef struct zone_model {
  uintptr_t base;        /* address of granule 0 */
  size_t ngran;          /* granules managed */
  unsigned char *map;    /* ngran bytes: MODEL_FREE / MODEL_START / MODEL_INSIDE */
  size_t used_gran;      /* granules in live blocks */
  size_t blocks;         /* live blocks */
  size_t peak_gran;      /* high-water mark of used_gran */
} zone_model_t;

int model_init(zone_model_t *m, uintptr_t base, size_t bytes);
void model_fini(zone_model_t *m);
void model_reset(zone_model_t *m);
/* Appends `bytes` of free granules at the end (a zone that grew in place). */
int model_extend(zone_model_t *m, size_t bytes);

size_t model_alloc(zone_model_t *m, size_t bytes, int *err);
size_t model_alloc_aligned(zone_model_t *m, size_t align, size_t bytes, int *err);
size_t model_calloc(zone_model_t *m, size_t count, size_t size, int *err);
size_t model_realloc(zone_model_t *m, size_t off, size_t bytes, int *err);
int model_free(zone_model_t *m, size_t off);

bool model_realloc_stays(const zone_model_t *m, size_t off, size_t bytes);

size_t model_block_size(const zone_model_t *m, size_t off);
bool model_next(const zone_model_t *m, size_t g, size_t *len, bool *used);
void model_stats(const zone_model_t *m, zone_stats_t *stats);

void *model_addr(const zone_model_t *m, size_t off);
/* The granule offset of p, or MODEL_NONE when p is NULL, outside or not on a
 * granule boundary. */
size_t model_off(const zone_model_t *m, const void *p);
size_t model_block_at(const zone_model_t *m, const void *p);
uintptr_t model_end(const zone_model_t *m);

/* ceil(bytes / MODEL_G), at least 1, without overflow (SIZE_MAX included). */
size_t model_granules(size_t bytes);
/* The whole granules inside [mem, mem + bytes): their count (0 when none),
 * and the first one's address in *base. */
size_t model_whole_granules(const void *mem, size_t bytes, uintptr_t *base);

/* Where a walk over a sequence of models stands: model k, granule g. */
typedef struct model_cursor {
  size_t k, g;
} model_cursor_t;
/* From cursor c (start at {0, 0}) the next region or block of ext[0..n): its
 * address, size in bytes and state; advances c. False past the last. */
bool model_walk_next(const zone_model_t *ext, size_t n, model_cursor_t *c, uintptr_t *addr,
                     size_t *bytes, bool *used);

uintptr_t model_zone_base(const zone_t *z);
int model_compare(const zone_model_t *m, const zone_t *z, char *why, size_t cap);
int model_compare_walk(const zone_model_t *ext, size_t n, const zone_t *z, char *why, size_t cap);
int model_compare_stats(const zone_stats_t *got, const zone_stats_t *want, char *why,
                        size_t cap);

#endif /* ZONE_TEST_MODEL_H */
