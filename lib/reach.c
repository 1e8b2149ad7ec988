/*
 * reach.c - the reach index: where the lowest fit of a small or middling
 * request (up to ZONE_REACH_MAX granules, 2032 bytes: what malloc mostly
 * sees) starts.
 *
 * A byte per bitmap word holds the longest free run that starts at any of its
 * granules (capped at 127, so a run starting in word w ends by word w + 2), and
 * above it levels of bytes that each hold the largest of 16 bytes below. The
 * lowest fit of n is in the lowest word whose byte is >= n; one 16-byte load
 * and an SSE2 compare per level find it from the root (two 8-byte loads and
 * SIMD within a register with ZONE_PORTABLE), so a zone of a million words is
 * 5 loads deep. A change to a word rewrites its byte and its predecessor's
 * (and the one before that when the predecessor is wholly free) and climbs
 * only while a maximum changes: no laziness, no bounds to keep. It reads the
 * index's bitmap and leaves (index.c) and owns nothing else.
 */
#include "internal.h"
#include "bits.h"

#include <string.h>

#define FAN ZONE_REACH_FAN
_Static_assert(FAN == 16, "a reach node is one 16-byte SSE2 register");

#ifdef ZONE_SSE2
/* What a node's bytes are compared with: n - 1 in every byte (bytes and n
 * are at most 127, so the signed compare is exact), spread over 4 bytes by a
 * multiply and over 16 by a shuffle (one instruction fewer than
 * _mm_set1_epi8's unpacks). */
typedef __m128i reach_key_t;
static inline reach_key_t key_of(size_t n) {
  return _mm_shuffle_epi32(_mm_cvtsi32_si128((int)((uint32_t)(n - 1) * 0x01010101u)), 0);
}

/* Bit j set where byte j of the node at p is >= n. */
static inline unsigned node_hits(const uint8_t *p, reach_key_t key) {
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
  return (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(v, key));
}

/* The largest byte of the node at p: four pmaxub of halves. */
static inline unsigned node_max(const uint8_t *p) {
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
  v = _mm_max_epu8(v, _mm_srli_si128(v, 8));
  v = _mm_max_epu8(v, _mm_srli_si128(v, 4));
  v = _mm_max_epu8(v, _mm_srli_si128(v, 2));
  v = _mm_max_epu8(v, _mm_srli_si128(v, 1));
  return (unsigned)_mm_cvtsi128_si32(v) & 0xff;
}
#else
/* The same in two 8-byte registers (SIMD within a register). */
#define BYTES_LOW 0x0101010101010101ull
#define BYTES_HIGH 0x8080808080808080ull
typedef uint64_t reach_key_t;
static inline reach_key_t key_of(size_t n) { return n * BYTES_LOW; }

/* Half h of the node at p as a word whose least significant byte is p[8h]. */
static inline uint64_t half_load(const uint8_t *p, size_t h) {
  uint64_t x;
  memcpy(&x, p + h * 8, sizeof x);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  x = __builtin_bswap64(x);
#endif
  return x;
}

/* Bit k of the result set where byte k of x is >= n: the subtraction sets
 * bit 8k+7 (bytes and n are at most 127, so no byte borrows from the next),
 * the multiplication gathers those bits into the top byte. */
static inline unsigned half_hits(uint64_t x, reach_key_t key) {
  uint64_t high = ((x | BYTES_HIGH) - key) & BYTES_HIGH;
  return (unsigned)(((high >> 7) * 0x0102040810204080ull) >> 56);
}

static inline unsigned node_hits(const uint8_t *p, reach_key_t key) {
  return half_hits(half_load(p, 0), key) | half_hits(half_load(p, 1), key) << 8;
}

/* Bytewise maximum of a and b (bytes at most 127). */
static inline uint64_t bytes_max(uint64_t a, uint64_t b) {
  uint64_t a_ge = (((a | BYTES_HIGH) - b) & BYTES_HIGH) >> 7;
  uint64_t pick = a_ge * 0xff;
  return (a & pick) | (b & ~pick);
}

static inline unsigned node_max(const uint8_t *p) {
  uint64_t x = bytes_max(half_load(p, 0), half_load(p, 1));
  x = bytes_max(x, x >> 32);
  x = bytes_max(x, x >> 16);
  x = bytes_max(x, x >> 8);
  return (unsigned)(x & 0xff);
}
#endif

static inline uint8_t *reach_level(const zone__reach_t *r, size_t k) { return r->level[k]; }

/* Word w's reach from the leaf summaries: the longest run inside it, or the
 * run at its top continued by the free granules from the next word's bottom
 * on, capped at ZONE_REACH_MAX; v is its leaf (the next words' are read only
 * when the top run is free). */
ZONE_INLINE_SHARED unsigned zone__reach_of_leaf(const zone__index_t *ix, size_t w, uint32_t v) {
  if (zone__leaf_end(v) != 0 && w + 1 < ix->nwords)
    return zone__reach_from(v, zone__reach_cont(ix, w + 1, ix->leaf[w + 1]));
  return zone__leaf_max(v);
}

ZONE_INLINE_SHARED unsigned zone__reach_of(const zone__index_t *ix, size_t w) {
  return zone__reach_of_leaf(ix, w, ix->leaf[w]);
}

/* Level k's byte i (k >= 1) rose to v: raises the maxima above it until one
 * is as large already. */
static inline void reach_raise(zone__reach_t *r, size_t k, size_t i, unsigned v) {
  for (k++; k < r->levels; k++) {
    i /= FAN;
    uint8_t *up = reach_level(r, k) + i;
    if (*up >= v)
      return;
    *up = (uint8_t)v;
  }
}

/* Word w's byte fell below `old`, the byte over it (level 1's w / FAN):
 * recomputes that maximum, and the one above it while each was `old` and
 * fell. */
ZONE_INLINE void reach_lower(zone__reach_t *r, size_t w, unsigned old) {
  size_t k = 1, i = w;
  for (;;) {
    unsigned next = node_max(reach_level(r, k - 1) + (i & ~(size_t)(FAN - 1)));
    if (next == old)  /* another byte of the node holds it */
      return;
    i /= FAN;
    reach_level(r, k)[i] = (uint8_t)next;
    if (++k == r->levels || reach_level(r, k)[i / FAN] != old)
      return;
  }
}

/* Sets word w's reach byte to v, which is no less than the old (rise) or
 * no more, and carries the change up: a larger byte raises the maxima above
 * it until one is as large already; a smaller one that was its node's
 * maximum has the node's maximum recomputed, and so on up while each was
 * its node's maximum and fell (so each equalled `old`). Most changes stop
 * at the byte above the word's (there is always one: the index has two
 * levels at least), so that one is tested here. A caller that knows the
 * direction (a give or a take that left the word's edge runs as they were)
 * passes it as a constant: only that half is compiled in. */
ZONE_INLINE_SHARED void zone__reach_move(zone__index_t *ix, size_t w, unsigned v, bool rise) {
  zone__reach_t *r = &ix->reach;
  unsigned old = r->bytes[w];
  zone_assert(rise ? v >= old : v <= old);
  if (old == v)
    return;
  r->bytes[w] = (uint8_t)v;
  uint8_t *up = reach_level(r, 1) + w / FAN;
  unsigned cur = *up;
  if (rise) {
    if (v > cur) {
      *up = (uint8_t)v;
      reach_raise(r, 1, w / FAN, v);
    }
  } else if (cur == old) {
    reach_lower(r, w, old);
  }
}

ZONE_INLINE_SHARED void zone__reach_set(zone__index_t *ix, size_t w, unsigned v) {
  zone__reach_move(ix, w, v, v > ix->reach.bytes[w]);
}

/* Bytes [z0, z1) of a level, each over wholly used words only, set to zero
 * at once when they are many (zone__os_zero gives their pages back): whether
 * it did, the caller then skipping them. */
static inline bool bytes_zeroed(uint8_t *level, size_t z0, size_t z1) {
  if (z1 <= z0 || z1 - z0 < ZONE_ZERO_DISCARD_BYTES)
    return false;
  zone__os_zero(&level[z0], z1 - z0);
  return true;
}

/* Level 0's bytes [a, b) from the leaves; whether any moved. */
static inline bool words_refresh(zone__index_t *ix, size_t a, size_t b) {
  zone__reach_t *r = &ix->reach;
  bool moved = false;
  for (size_t w = a; w < b; w++) {
    uint8_t v = (uint8_t)zone__reach_of(ix, w);
    moved |= r->bytes[w] != v;
    r->bytes[w] = v;
  }
  return moved;
}

/* Bytes [a, b) of a level from the level below; whether any moved. */
static inline bool maxima_refresh(const uint8_t *below, uint8_t *up, size_t a, size_t b) {
  bool moved = false;
  for (size_t j = a; j < b; j++) {
    uint8_t v = (uint8_t)node_max(below + j * FAN);
    moved |= up[j] != v;
    up[j] = v;
  }
  return moved;
}

/* Words [w0, w1] have fresh leaves: rewrites their reach bytes and the maxima
 * above them. A long range goes level by level, stopping at the first level
 * where nothing moved. The words strictly between w0 + 1 and w1 (w0 is the
 * word below a block's first, w1 its last) were wholly inside the block
 * taken or given: their bytes are `inner` (0, or ZONE_REACH_MAX for free
 * words followed by another free one) with no leaf read, and moved from the
 * other of the two; the last of them reads w1's leaf when given. */
void zone__reach_update(zone__index_t *ix, size_t w0, size_t w1, unsigned inner) {
  if (w1 - w0 < 3) {
    for (size_t w = w0; w <= w1; w++)
      zone__reach_set(ix, w, zone__reach_of(ix, w));
    return;
  }
  zone__reach_t *r = &ix->reach;
  bool moved = true;  /* an inner word at least */
  for (size_t w = w0; w <= w0 + 1; w++)
    r->bytes[w] = (uint8_t)zone__reach_of(ix, w);
  for (size_t w = w0 + 2; w < w1; w++)
    r->bytes[w] = (uint8_t)inner;
  if (inner != 0)
    r->bytes[w1 - 1] = (uint8_t)zone__reach_of(ix, w1 - 1);
  r->bytes[w1] = (uint8_t)zone__reach_of(ix, w1);
  for (size_t k = 1; moved && k < r->levels; k++) {
    const uint8_t *below = reach_level(r, k - 1);
    uint8_t *up = reach_level(r, k);
    w0 /= FAN;
    w1 /= FAN;
    moved = maxima_refresh(below, up, w0, w1 + 1);
  }
}

void zone__reach_update_used(zone__index_t *ix, size_t w0, size_t w1, size_t u0, size_t u1) {
  zone__reach_t *r = &ix->reach;
  size_t z0 = u0, z1 = u1;  /* the bytes of the level at hand over used words only */
  /* Of each level's bytes [w0, w1], [w0, stop) and [resume, w1] are
   * computed, the bytes between zeroed. */
  bool zeroed = bytes_zeroed(r->bytes, z0, z1);
  size_t stop = zeroed ? z0 : w1 + 1, resume = zeroed ? z1 : w1 + 1;
  bool moved = words_refresh(ix, w0, stop);
  moved = words_refresh(ix, resume, w1 + 1) || moved || zeroed;  /* both refreshed */
  for (size_t k = 1; moved && k < r->levels; k++) {
    const uint8_t *below = reach_level(r, k - 1);
    uint8_t *up = reach_level(r, k);
    w0 /= FAN;
    w1 /= FAN;
    z0 = (z0 + FAN - 1) / FAN;
    z1 = z1 / FAN;
    zeroed = bytes_zeroed(up, z0, z1);
    stop = zeroed ? z0 : w1 + 1;
    resume = zeroed ? z1 : w1 + 1;
    moved = maxima_refresh(below, up, w0, stop);
    moved = maxima_refresh(below, up, resume, w1 + 1) || moved || zeroed;
  }
}

/* Builds every level from the leaves (init, reset). */
void zone__reach_build(zone__index_t *ix) {
  zone__reach_t *r = &ix->reach;
  for (size_t k = 0; k < r->levels; k++)
    memset(reach_level(r, k), 0, round_up(r->len[k], FAN));
  for (size_t w = 0; w < ix->nwords; w++)
    r->bytes[w] = (uint8_t)zone__reach_of(ix, w);
  for (size_t k = 1; k < r->levels; k++)
    for (size_t j = 0; j < r->len[k]; j++)
      reach_level(r, k)[j] = (uint8_t)node_max(reach_level(r, k - 1) + j * FAN);
}

/* Recomputes words [from, nwords) and the nodes above them; words
 * [free_from, nwords - 1) are wholly free, so their reach is ZONE_REACH_MAX
 * whatever follows but for the last of them (the next word is free too). A
 * level's bytes past its old length (and a new level's) were never written:
 * zero, as its padding must be. */
void zone__reach_grow(zone__index_t *ix, size_t from, size_t free_from) {
  zone__reach_t *r = &ix->reach;
  size_t last = ix->nwords - 1, tail = last > 0 ? last - 1 : 0;
  if (free_from < from)
    free_from = from;
  if (free_from > tail)
    free_from = tail;
  for (size_t w = from; w < free_from; w++)
    r->bytes[w] = (uint8_t)zone__reach_of(ix, w);
  memset(r->bytes + free_from, ZONE_REACH_MAX, tail - free_from);
  for (size_t w = tail > from ? tail : from; w <= last; w++)
    r->bytes[w] = (uint8_t)zone__reach_of(ix, w);
  for (size_t k = 1, lo = from / FAN; k < r->levels; k++, lo /= FAN)
    for (size_t j = lo; j < r->len[k]; j++)
      reach_level(r, k)[j] = (uint8_t)node_max(reach_level(r, k - 1) + j * FAN);
}

/* The lowest word at or after w whose reach is >= n, or ZONE_NONE: climbs
 * while the rest of the node holds no such byte, then descends to the first. */
static size_t reach_next(const zone__reach_t *r, size_t w, size_t n) {
  reach_key_t key = key_of(n);
  size_t k = 0, i = w;
  for (;;) {
    if (i >= r->len[k])
      return ZONE_NONE;
    size_t node = i / FAN;
    unsigned hit = node_hits(reach_level(r, k) + node * FAN, key) & (~0u << (i % FAN));
    if (hit != 0) {
      i = node * FAN + ctz32(hit);
      break;
    }
    if (k + 1 == r->levels)
      return ZONE_NONE;
    i = node + 1;
    k++;
  }
  while (k-- > 0) {
    unsigned hit = node_hits(reach_level(r, k) + i * FAN, key);
    zone_assert(hit != 0 && "a reach maximum without its byte below");
    i = i * FAN + ctz32(hit);
  }
  return i;
}

/* One step of a descent: the first byte >= n in node i of level k, as an
 * index into level k - 1's nodes (or the word, at level 0). */
static inline size_t reach_step(const zone__reach_t *r, size_t k, size_t i, reach_key_t key) {
  unsigned hit = node_hits(reach_level(r, k) + i * FAN, key);
  zone_assert(hit != 0 && "a reach maximum without its byte below");
  return i * FAN + ctz_index(hit);  /* one instruction per level fewer than ctz32 */
}

/* The lowest word whose reach is >= n, when the root byte is (so there is
 * one): a descent from the node under the root byte (the level below it has
 * one node). Unrolled, entered at the level it starts from and falling
 * through a step per level: no loop counter or level pointer from an index
 * for zones up to 64 MiB (a descent from level 3), a loop above that. */
static inline size_t reach_first(const zone__reach_t *r, size_t n) {
  reach_key_t key = key_of(n);
  size_t i = 0;
  /* every node on the way holds a byte >= n: the index is exact */
  switch (r->descent) {
  default:
    for (size_t k = r->descent; k > 3; k--)
      i = reach_step(r, k, i, key);
    /* fall through */
  case 3: i = reach_step(r, 3, i, key); /* fall through */
  case 2: i = reach_step(r, 2, i, key); /* fall through */
  case 1: i = reach_step(r, 1, i, key); /* fall through */
  case 0: i = reach_step(r, 0, i, key);
  }
  return i;
}

/* The start in word w of its top run of `top` free granules (those it has
 * in a caller's mask) when that run, with the free granules after it, holds
 * n, else ZONE_NONE. For n <= 64 (not `wide`) the next word's bottom run is
 * all that can count; above, the word after it too (zone__reach_cont). */
static inline size_t top_run_fit(const zone__index_t *ix, size_t w, unsigned top, size_t n, bool wide) {
  if (top == 0 || w + 1 >= ix->nwords)
    return ZONE_NONE;
  uint32_t next = ix->leaf[w + 1];
  if (top + (wide ? zone__reach_cont(ix, w + 1, next) : zone__leaf_start(next)) < n)
    return ZONE_NONE;
  return ZONE_WORD_BITS - top;
}

/* The lowest bit b of word w, among those in `mask`, where n <= 64 free
 * granules start (they may run into word w + 1), or ZONE_NONE. The free
 * bits are eroded to those with n - 1 free bits above them inside the
 * word: with 2^k <= n < 2^(k+1), shifts by 2^(k-1), ..., 2, 1 leave the
 * bits that start 2^k free granules (each step ANDs in the bits an offset
 * above, and the offsets' sums cover [0, 2^k)), and one more by n - 2^k
 * extends that to n. The lowest bit left starts the lowest fit inside the
 * word, and it is the answer: the only run that may go on into the next
 * word is the top one, above every other. Only when none fits inside does
 * the top run get its next word's bottom run added. */
static inline size_t fit_in_word(const zone__index_t *ix, size_t w, size_t n, uint64_t mask) {
  uint64_t f = ~ix->used[w] & mask, m = f;
  unsigned k = 63 - clz64(n);
  switch (k) {
  case 6: m &= m >> 32; /* fall through */
  case 5: m &= m >> 16; /* fall through */
  case 4: m &= m >> 8; /* fall through */
  case 3: m &= m >> 4; /* fall through */
  case 2: m &= m >> 2; /* fall through */
  case 1: m &= m >> 1; /* fall through */
  default: break;
  }
  m &= m >> (n - ((size_t)1 << k));
  if (m != 0)
    return ctz_index(m);
  return top_run_fit(ix, w, clz64(~f), n, false);  /* f is not all free: m would be */
}

/* The lowest start in word w, among the granules in `mask`, of n > 64
 * free granules, or ZONE_NONE: such a run goes on past the word's top, so
 * only the top run (of the granules in mask) can start it. */
static inline size_t fit_across(const zone__index_t *ix, size_t w, size_t n, uint64_t mask) {
  uint64_t f = ~ix->used[w] & mask;
  return top_run_fit(ix, w, f == ALL_ONES ? ZONE_WORD_BITS : clz64(~f), n, true);
}

static inline size_t fit_at(const zone__index_t *ix, size_t w, size_t n, uint64_t mask) {
  return n <= ZONE_SMALL_MAX ? fit_in_word(ix, w, n, mask) : fit_across(ix, w, n, mask);
}

/* The lowest fit of n <= 64 granules when zone__reach_may_fit says there
 * is one: the allocation fast path, with no "none" to test. Its word, and
 * in *bit the granule in that word: the take needs both, and rebuilt from
 * the granule they would cost a shift and a mask again. */
ZONE_INLINE_SHARED size_t zone__reach_first_fit_word(const zone__index_t *ix, size_t n, size_t *bit) {
  size_t w = reach_first(&ix->reach, n);
  size_t b = fit_in_word(ix, w, n, ALL_ONES);
  zone_assert(b != ZONE_NONE && "the reach index promised a fit in this word");
  *bit = b;
  return w;
}

static inline size_t reach_first_fit(const zone__index_t *ix, size_t n) {
  size_t w = reach_first(&ix->reach, n);
  size_t b = fit_at(ix, w, n, ALL_ONES);
  zone_assert(b != ZONE_NONE && "the reach index promised a fit in this word");
  return w * ZONE_WORD_BITS + b;
}

/* The lowest fit of n <= ZONE_REACH_MAX granules at or after granule `from`. */
ZONE_INLINE_SHARED size_t zone__reach_fit(const zone__index_t *ix, size_t n, size_t from) {
  zone_assert(n <= ZONE_REACH_MAX);
  if (from == 0)
    return zone__reach_may_fit(ix, n) ? reach_first_fit(ix, n) : ZONE_NONE;
  if (from >= ix->ngran)
    return ZONE_NONE;
  size_t w = from / ZONE_WORD_BITS;
  size_t b = fit_at(ix, w, n, ALL_ONES << (from % ZONE_WORD_BITS));
  if (b != ZONE_NONE)
    return w * ZONE_WORD_BITS + b;
  w = reach_next(&ix->reach, w + 1, n);
  if (w == ZONE_NONE)
    return ZONE_NONE;
  b = fit_at(ix, w, n, ALL_ONES);
  zone_assert(b != ZONE_NONE && "the reach index promised a fit in this word");
  return w * ZONE_WORD_BITS + b;
}

/* ---- layout, the root, the check ------------------------------------------------ */

/* Level k's bytes over nwords words, and the levels: until one of one byte
 * (the root), two at least. */
static inline size_t level_len(size_t nwords, size_t k) {
  size_t len = nwords;
  while (k-- > 0)
    len = (len + FAN - 1) / FAN;
  return len;
}

static size_t levels_of(size_t nwords) {
  size_t k = 1;
  while (level_len(nwords, k) > 1)
    k++;
  return k + 1;
}

size_t zone__reach_layout(zone__reach_t *r, size_t cap_words) {
  size_t bytes = 0;
  r->cap_levels = levels_of(cap_words);
  zone_assert(r->cap_levels <= ZONE_REACH_LEVELS && "ZONE_EXTENT_MAX_GRANULES needs more reach levels");
  for (size_t k = 0; k < r->cap_levels; k++) {
    r->at[k] = bytes;
    bytes += round_up(level_len(cap_words, k), FAN);
  }
  return bytes;
}

void zone__reach_attach(zone__reach_t *r, uint8_t *bytes) {
  r->bytes = bytes;
  for (size_t k = 0; k < r->cap_levels; k++)
    r->level[k] = bytes + r->at[k];
}

void zone__reach_size(zone__reach_t *r, size_t nwords) {
  r->levels = levels_of(nwords);
  r->descent = r->levels - 2;
  for (size_t k = 0; k < r->levels; k++)
    r->len[k] = level_len(nwords, k);
  r->top = r->level[r->levels - 1];
}

size_t zone__reach_bytes(size_t nwords, size_t k) {
  return nwords != 0 && k < levels_of(nwords) ? round_up(level_len(nwords, k), FAN) : 0;
}

void zone__reach_copy(zone__index_t *ix, const zone__index_t *from) {
  const zone__reach_t *f = &from->reach;
  for (size_t k = 0; k < f->levels; k++)
    memcpy(reach_level(&ix->reach, k), reach_level(f, k), round_up(f->len[k], FAN));
}

size_t zone__reach_largest(const zone__index_t *ix) {
  return node_max(reach_level(&ix->reach, ix->reach.levels - 1));
}

int zone__reach_check(const zone__index_t *ix, uintptr_t base) {
  const zone__reach_t *r = &ix->reach;
  for (size_t k = 0; k < r->levels; k++) {
    const uint8_t *level = reach_level(r, k);
    for (size_t j = 0; j < round_up(r->len[k], FAN); j++) {
      unsigned want = j >= r->len[k] ? 0
                      : k == 0       ? zone__reach_of(ix, j)
                                     : node_max(reach_level(r, k - 1) + j * FAN);
      if (level[j] != want)
        return zone__check_fail(ZONE_CHECK_REACH_STALE, "extent %p level %zu byte %zu is %u, not %u",
                                (void *)base, k, j, level[j], want);
    }
  }
  return 0;
}
