/*
 * bits.h - word-level bit helpers shared by the core's bitmaps: the granule
 * bitmaps of index.c, reach.c and tree.c, and the returned-pages bitmap of
 * trim.c.
 */
#ifndef ZONE_BITS_H
#define ZONE_BITS_H

#include "types.h"

#include <stdint.h>

/* SSE2 on x86-64 (_mm_cvtsi64_si128 is 64-bit only) for the reach index's
 * node maxima and the tree's chunk summaries; ZONE_PORTABLE builds the plain-C
 * fallbacks on any target (CI's ASan build runs the tests over them). */
#if defined(__SSE2__) && defined(__x86_64__) && !defined(ZONE_PORTABLE)
#define ZONE_SSE2 1
#include <emmintrin.h>
#endif

#define ALL_ONES (~(uint64_t)0)

static inline unsigned ctz32(uint32_t x) { return (unsigned)__builtin_ctz(x); }
static inline unsigned ctz64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
static inline unsigned clz64(uint64_t x) { return (unsigned)__builtin_clzll(x); }

/* ctz64 of x != 0 as a word-sized index: GCC takes __builtin_ctzll for an
 * int, which costs one more instruction to widen where the count indexes
 * or adds to a size_t; x86-64's tzcnt on the 64-bit register leaves
 * nothing to widen. */
static inline size_t ctz_index(uint64_t x) {
#if defined(__x86_64__) && !defined(ZONE_PORTABLE)
  size_t n;
  __asm__("tzcnt %1, %0" : "=r"(n) : "r"(x) : "cc");
  return n;
#else
  return ctz64(x);
#endif
}

/* Mask of bits [lo, hi) within a word, 0 <= lo < hi <= 64. */
static inline uint64_t bits_between(unsigned lo, unsigned hi) {
  uint64_t upper = hi == ZONE_WORD_BITS ? ALL_ONES : (((uint64_t)1 << hi) - 1);
  return upper & (ALL_ONES << lo);
}

/* x rounded up to a multiple of `to`. */
static inline size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

static inline bool bit_test(const uint64_t *map, size_t i) {
  return (map[i / ZONE_WORD_BITS] >> (i % ZONE_WORD_BITS)) & 1;
}

#endif /* ZONE_BITS_H */
