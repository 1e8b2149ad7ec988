/*
 * bits.h - word-level bit helpers shared by the core's bitmaps: the granule
 * bitmaps of extent.c and the returned-pages bitmap of zone.c.
 */
#ifndef ZONE_BITS_H
#define ZONE_BITS_H

#include <stdint.h>

#define WORD_BITS 64
#define ALL_ONES (~(uint64_t)0)

static inline unsigned ctz64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
static inline unsigned clz64(uint64_t x) { return (unsigned)__builtin_clzll(x); }

/* Mask of bits [lo, hi) within a word, 0 <= lo < hi <= 64. */
static inline uint64_t bits_between(unsigned lo, unsigned hi) {
  uint64_t upper = hi == WORD_BITS ? ALL_ONES : (((uint64_t)1 << hi) - 1);
  return upper & (ALL_ONES << lo);
}

#endif /* ZONE_BITS_H */
