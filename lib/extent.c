/*
 * extent.c - the placement structure of one extent: which granules are live,
 * where blocks end, and a summary tree that finds the lowest free run of n
 * granules in O(log n) time.
 *
 * Why a bitmap and a summary tree rather than an address-ordered tree of free
 * regions: the bookkeeping is bounded by the zone's size whatever the pattern
 * (2 bits per 16-byte granule plus about 9 bytes per 1 KiB of zone: 2.5% in
 * all), it never grows a node per block or per hole, and it needs no memory of
 * its own when a free splits a region. The cost is linear in the size of a
 * block when it is taken or given (a bit per granule, a word per 64), which is
 * a 1/1024 fraction of the bytes a program touches anyway.
 *
 * Two indexes sit over the bitmap words, split by request size.
 *
 * Small requests (up to 64 granules, 1 KiB: what malloc mostly sees) use the
 * reach index: a byte per word holding the longest free run that starts at
 * any of its granules (capped at 64, so a run starting in word w ends by word
 * w + 1), and above it levels of bytes that each hold the largest of 8 bytes
 * below. The lowest fit of n is in the lowest word whose byte is >= n; one
 * 8-byte load and a SIMD-within-a-register compare per level find it from the
 * root, so a zone of a million words is 7 loads deep. A change to a word
 * rewrites its byte and its predecessor's and climbs only while a maximum
 * changes: no laziness, no bounds to keep.
 *
 * Larger requests use a complete binary tree of summaries, as the Go runtime's
 * page allocator keeps over its page bitmap: each node records the free run at
 * its low end, the one at its high end and its longest run. The lowest fit
 * descends from the root: left child if its longest run fits, else a run
 * across the middle (left's high-end run plus right's low-end run), else the
 * right child. A run of more than 64 granules always crosses a word edge, so
 * the tree sees each word only through its edge runs: a block taken or given
 * inside a word (most small ones) leaves the tree alone. Its leaves are chunks
 * of 8 words, each summary joined from the chunk's 8 packed leaves (one cache
 * line): 3 levels fewer than a leaf per word, and those the largest, whose
 * nodes a random change would miss in cache; a search that reaches a chunk
 * walks its 8 words. Updates are lazy besides (a dirty list of chunks,
 * flushed before a search reads the tree).
 */
#include "zone_internal.h"
#include "bits.h"

#include <errno.h>
#include <string.h>
/* SSE2 on x86-64 (_mm_cvtsi64_si128 is 64-bit only); ZONE_PORTABLE builds the
 * plain-C fallbacks on any target (CI's ASan build runs the tests over them). */
#if defined(__SSE2__) && defined(__x86_64__) && !defined(ZONE_PORTABLE)
#define ZONE_SSE2 1
#include <emmintrin.h>
#endif

/* Bookkeeping mappings from this size up ask for huge pages (os.c). */
#define HUGE_BOOK_BYTES ((size_t)4 << 20)

/* ---- bit helpers ------------------------------------------------------------ */

static inline bool bit_test(const uint64_t *map, size_t i) {
  return (map[i / WORD_BITS] >> (i % WORD_BITS)) & 1;
}

/* Sets (value = true) or clears the bits [lo, hi) of map. */
static inline void bits_assign(uint64_t *map, size_t lo, size_t hi, bool value) {
  if (lo >= hi)
    return;
  size_t w0 = lo / WORD_BITS, w1 = (hi - 1) / WORD_BITS;
  unsigned b0 = lo % WORD_BITS, b1 = (unsigned)((hi - 1) % WORD_BITS) + 1;
  if (w0 == w1) {
    uint64_t m = bits_between(b0, b1);
    map[w0] = value ? map[w0] | m : map[w0] & ~m;
    return;
  }
  uint64_t first = bits_between(b0, WORD_BITS), last = bits_between(0, b1);
  map[w0] = value ? map[w0] | first : map[w0] & ~first;
  for (size_t w = w0 + 1; w < w1; w++)
    map[w] = value ? ALL_ONES : 0;
  map[w1] = value ? map[w1] | last : map[w1] & ~last;
}

/* Longest run of set bits in x. Iterates once per run. */
static unsigned longest_run(uint64_t x) {
  if (x == ALL_ONES)
    return WORD_BITS;
  unsigned best = 0;
  while (x != 0) {
    x >>= ctz64(x);
    unsigned run = ctz64(~x);  /* x != ALL_ONES here, so ~x != 0 */
    if (run > best)
      best = run;
    x = run == WORD_BITS ? 0 : x >> run;
  }
  return best;
}

/* ---- summaries -------------------------------------------------------------- */

static inline zone__summary_t summary_of_word(uint64_t used) {
  zone__summary_t s;
  if (used == 0) {
    s.start = s.end = s.max = WORD_BITS;
  } else {
    s.start = ctz64(used);
    s.end = clz64(used);
    s.max = longest_run(~used);
  }
  return s;
}

/* Leaf summaries are packed in a word each: values are at most 64. */
static inline uint32_t leaf_pack(zone__summary_t s) { return s.start | s.end << 8 | s.max << 16; }

/* A word as the tree sees it: its edge runs only (see zone_internal.h). */
static inline zone__summary_t leaf_edges(uint32_t v) {
  zone__summary_t s = {v & 0xff, (v >> 8) & 0xff, 0};
  s.max = s.start > s.end ? s.start : s.end;
  return s;
}

/* The packed fields the tree reads: start and end. */
#define LEAF_EDGES 0xffffu

#define CHUNK_WORDS ZONE_CHUNK_WORDS
#define CHUNK_BITS ZONE_CHUNK_BITS

/* Chunks (tree leaves in use) over nwords words. */
static inline size_t chunks_of(size_t nwords) { return (nwords + CHUNK_WORDS - 1) / CHUNK_WORDS; }

/* Joins the summaries of two adjacent spans of `half` granules each. */
static inline zone__summary_t summary_join(zone__summary_t l, zone__summary_t r, uint32_t half) {
  zone__summary_t s;
  s.start = l.start == half ? half + r.start : l.start;
  s.end = r.end == half ? half + l.end : r.end;
  uint32_t across = l.end + r.start;
  s.max = l.max > r.max ? l.max : r.max;
  if (across > s.max)
    s.max = across;
  return s;
}

static inline bool summary_equal(zone__summary_t a, zone__summary_t b) {
  return a.start == b.start && a.end == b.end && a.max == b.max;
}

/* Chunk c's summary from its words' edge runs (leaf[] is padded with fully
 * used words to whole chunks): a run of free words adds up, a used granule
 * starts over. */
static inline zone__summary_t chunk_summary(const zone__extent_t *e, size_t c) {
  const uint32_t *leaf = &e->leaf[c * CHUNK_WORDS];
  zone__summary_t s = leaf_edges(leaf[0]);
  uint32_t width = WORD_BITS;
  for (size_t j = 1; j < CHUNK_WORDS; j++, width += WORD_BITS) {
    zone__summary_t r = leaf_edges(leaf[j]);
    uint32_t across = s.end + r.start;
    if (s.start == width)
      s.start += r.start;
    s.end = r.end == WORD_BITS ? s.end + WORD_BITS : r.end;
    if (r.max > s.max)
      s.max = r.max;
    if (across > s.max)
      s.max = across;
  }
  return s;
}

/* Walks chunk c's change up the tree (its leaves are already fresh):
 * recomputes its summary, then each ancestor from its two children, stopping
 * at the first node that comes out unchanged (everything above it then is
 * too, or is another dirty chunk's walk). */
static void path_update(zone__extent_t *e, size_t c) {
  size_t i = c + e->leaves;
  zone__summary_t cur = chunk_summary(e, c);
  uint32_t half = CHUNK_BITS;
  for (;;) {
    if (summary_equal(cur, e->tree[i]))
      return;
    e->tree[i] = cur;
    if (i == 1)
      return;
    zone__summary_t sib = e->tree[i ^ 1];
    cur = (i & 1) ? summary_join(sib, cur, half) : summary_join(cur, sib, half);
    i >>= 1;
    half *= 2;
  }
}

/* Brings the tree up to date with every chunk changed since the last flush. */
static void tree_flush(zone__extent_t *e) {
  for (size_t k = 0; k < e->ndirty; k++) {
    size_t c = e->dirty_list[k];
    e->dirty[c / WORD_BITS] &= ~((uint64_t)1 << (c % WORD_BITS));
    path_update(e, c);
  }
  e->ndirty = 0;
}

/* ---- the reach index -------------------------------------------------------------- */

#define FAN ZONE_REACH_FAN
#define BYTES_LOW 0x0101010101010101ull
#define BYTES_HIGH 0x8080808080808080ull
_Static_assert(FAN == sizeof(uint64_t), "a reach node is one 8-byte load");

/* The node (8 bytes) at p as a word whose least significant byte is p[0]. */
static inline uint64_t node_load(const uint8_t *p) {
  uint64_t x;
  memcpy(&x, p, sizeof x);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  x = __builtin_bswap64(x);
#endif
  return x;
}

/* Bit 8k+7 set where byte k of x is >= n. Bytes are at most 64 and n at most
 * 64, so no byte's subtraction borrows from the next. */
static inline uint64_t bytes_at_least(uint64_t x, size_t n) {
  return ((x | BYTES_HIGH) - n * BYTES_LOW) & BYTES_HIGH;
}

#ifndef ZONE_SSE2
/* Bytewise maximum of a and b (bytes at most 127). */
static inline uint64_t bytes_max(uint64_t a, uint64_t b) {
  uint64_t a_ge = (((a | BYTES_HIGH) - b) & BYTES_HIGH) >> 7;
  uint64_t pick = a_ge * 0xff;
  return (a & pick) | (b & ~pick);
}
#endif

/* The largest byte of a node: three byte-wise maxima of halves, with SSE2's
 * pmaxub where the target has it (every x86-64), else in a register. */
static inline unsigned node_max(uint64_t x) {
#ifdef ZONE_SSE2
  __m128i v = _mm_cvtsi64_si128((long long)x);
  v = _mm_max_epu8(v, _mm_srli_epi64(v, 32));
  v = _mm_max_epu8(v, _mm_srli_epi64(v, 16));
  v = _mm_max_epu8(v, _mm_srli_epi64(v, 8));
  return (unsigned)_mm_cvtsi128_si32(v) & 0xff;
#else
  x = bytes_max(x, x >> 32);
  x = bytes_max(x, x >> 16);
  x = bytes_max(x, x >> 8);
  return (unsigned)(x & 0xff);
#endif
}

static inline uint8_t *reach_level(const zone__extent_t *e, size_t k) {
  return e->reach + e->reach_at[k];
}

/* Word w's reach from the leaf summaries: the longest run inside it, or the
 * run at its top continued by the next word's bottom run, capped at 64. */
static inline unsigned reach_of(const zone__extent_t *e, size_t w) {
  uint32_t v = e->leaf[w];
  unsigned best = v >> 16, top = (v >> 8) & 0xff;
  if (top != 0 && w + 1 < e->nwords) {
    unsigned across = top + (e->leaf[w + 1] & 0xff);
    across = across < WORD_BITS ? across : WORD_BITS;
    best = across > best ? across : best;
  }
  return best;
}

/* Sets word w's reach byte to v and carries the change up: a larger byte
 * raises the maxima above it until one is as large already; a smaller one
 * that was its node's maximum has the node's maximum recomputed. */
static void reach_set(zone__extent_t *e, size_t w, unsigned v) {
  unsigned old = e->reach[w];
  if (old == v)
    return;
  e->reach[w] = (uint8_t)v;
  for (size_t k = 1, i = w; k < e->reach_levels; k++, i /= FAN) {
    uint8_t *up = reach_level(e, k) + i / FAN;
    unsigned cur = *up, next;
    if (v > old)
      next = v > cur ? v : cur;
    else if (old < cur)
      return;
    else
      next = node_max(node_load(reach_level(e, k - 1) + i / FAN * FAN));
    if (next == cur)
      return;
    *up = (uint8_t)next;
    old = cur;
    v = next;
  }
}

/* Words [w0, w1] have fresh leaves: rewrites their reach bytes and the maxima
 * above them. A long range goes level by level, stopping at the first level
 * where nothing moved. */
static void reach_update(zone__extent_t *e, size_t w0, size_t w1) {
  if (w1 - w0 < 3) {
    for (size_t w = w0; w <= w1; w++)
      reach_set(e, w, reach_of(e, w));
    return;
  }
  uint8_t *r = e->reach;
  bool moved = false;
  for (size_t w = w0; w <= w1; w++) {
    uint8_t v = (uint8_t)reach_of(e, w);
    moved |= r[w] != v;
    r[w] = v;
  }
  for (size_t k = 1; moved && k < e->reach_levels; k++) {
    const uint8_t *below = reach_level(e, k - 1);
    uint8_t *up = reach_level(e, k);
    w0 /= FAN;
    w1 /= FAN;
    moved = false;
    for (size_t j = w0; j <= w1; j++) {
      uint8_t v = (uint8_t)node_max(node_load(below + j * FAN));
      moved |= up[j] != v;
      up[j] = v;
    }
  }
}

/* Builds every level from the leaves (init, reset). */
static void reach_build(zone__extent_t *e) {
  memset(e->reach, 0, e->reach_at[e->reach_levels - 1] + FAN);
  for (size_t w = 0; w < e->nwords; w++)
    e->reach[w] = (uint8_t)reach_of(e, w);
  for (size_t k = 1; k < e->reach_levels; k++)
    for (size_t j = 0; j < e->reach_len[k]; j++)
      reach_level(e, k)[j] = (uint8_t)node_max(node_load(reach_level(e, k - 1) + j * FAN));
}

/* The lowest word at or after w whose reach is >= n, or ZONE_NONE: climbs
 * while the rest of the node holds no such byte, then descends to the first. */
static size_t reach_next(const zone__extent_t *e, size_t w, size_t n) {
  size_t k = 0, i = w;
  uint64_t hit;
  for (;;) {
    if (i >= e->reach_len[k])
      return ZONE_NONE;
    size_t node = i / FAN;
    hit = bytes_at_least(node_load(reach_level(e, k) + node * FAN), n) &
          (ALL_ONES << (i % FAN * 8));
    if (hit != 0) {
      i = node * FAN + ctz64(hit) / 8;
      break;
    }
    if (k + 1 == e->reach_levels)
      return ZONE_NONE;
    i = node + 1;
    k++;
  }
  while (k-- > 0) {
    hit = bytes_at_least(node_load(reach_level(e, k) + i * FAN), n);
    zone_assert(hit != 0 && "a reach maximum without its byte below");
    i = i * FAN + ctz64(hit) / 8;
  }
  return i;
}

/* The lowest word whose reach is >= n, or ZONE_NONE: a descent from the
 * node under the root byte (the level below it has one node). */
static inline size_t reach_first(const zone__extent_t *e, size_t n) {
  size_t k = e->reach_levels > 1 ? e->reach_levels - 2 : 0, i = 0;
  for (;;) {
    uint64_t hit = bytes_at_least(node_load(reach_level(e, k) + i * FAN), n);
    if (hit == 0) {
      zone_assert(k + 2 >= e->reach_levels && "a reach maximum without its byte below");
      return ZONE_NONE;
    }
    i = i * FAN + ctz64(hit) / 8;
    if (k-- == 0)
      return i;
  }
}

/* The lowest bit b of word w, among those in `mask`, where n <= 64 free
 * granules start (they may run into word w + 1), or -1. Visits the word's
 * free runs in order: a word the reach index picked has a fit in it, and the
 * runs before it are few (a word holds at most 32). */
static inline int fit_in_word(const zone__extent_t *e, size_t w, size_t n, uint64_t mask) {
  uint64_t f = ~e->used[w] & mask;
  while (f != 0) {
    unsigned s = ctz64(f);
    uint64_t stop = ~(f >> s);  /* bit i: granule s + i is used or past the word */
    unsigned len = stop == 0 ? WORD_BITS : ctz64(stop);
    if (s + len == WORD_BITS) {
      if (w + 1 < e->nwords)
        len += e->leaf[w + 1] & 0xff;  /* the run goes on into the next word */
      return len >= n ? (int)s : -1;
    }
    if (len >= n)
      return (int)s;
    f &= ALL_ONES << (s + len);
  }
  return -1;
}

/* The lowest fit of n <= 64 granules at or after granule `from`. */
ZONE_INLINE size_t fit_small(const zone__extent_t *e, size_t n, size_t from) {
  size_t w;
  if (from == 0) {
    w = reach_first(e, n);
  } else {
    if (from >= e->ngran)
      return ZONE_NONE;
    w = from / WORD_BITS;
    int b = fit_in_word(e, w, n, ALL_ONES << (from % WORD_BITS));
    if (b >= 0)
      return w * WORD_BITS + (size_t)b;
    w = reach_next(e, w + 1, n);
  }
  if (w == ZONE_NONE)
    return ZONE_NONE;
  int b = fit_in_word(e, w, n, ALL_ONES);
  zone_assert(b >= 0 && "the reach index promised a fit in this word");
  return w * WORD_BITS + (size_t)b;
}

/* ---- keeping the indexes current --------------------------------------------------- */

/* Notes that word w's edge runs moved (its leaf is already fresh: the reach
 * index reads it): its chunk's tree leaf and the nodes above are redone
 * lazily, at the next search that needs the tree or when ZONE_DIRTY_MAX
 * chunks are waiting, so a chunk changed many times costs one walk, and walks
 * that share ancestors stop early. */
static void tree_dirty(zone__extent_t *e, size_t w) {
  size_t c = w / CHUNK_WORDS;
  uint64_t bit = (uint64_t)1 << (c % WORD_BITS);
  if (e->dirty[c / WORD_BITS] & bit)
    return;
  if (e->ndirty == ZONE_DIRTY_MAX)
    tree_flush(e);
  e->dirty[c / WORD_BITS] |= bit;
  e->dirty_list[e->ndirty++] = (uint32_t)c;
}

static void words_rebuild(zone__extent_t *e, size_t w0, size_t w1);

/* Refreshes word w's leaf; returns the fields that moved (packed). */
ZONE_INLINE uint32_t word_changed(zone__extent_t *e, size_t w) {
  uint32_t v = leaf_pack(summary_of_word(e->used[w]));
  uint32_t moved = v ^ e->leaf[w];
  e->leaf[w] = v;
  if (moved & LEAF_EDGES)
    tree_dirty(e, w);
  return moved;
}

/* Words [w0, w1] changed: a few are noted dirty; a long range (a big block)
 * is brought up to date at once, level by level. A word's reach byte reads
 * its own leaf and the next word's start: only those moving rewrite it. */
ZONE_INLINE void words_changed(zone__extent_t *e, size_t w0, size_t w1) {
  if (w1 - w0 < 2) {
    uint32_t moved0 = word_changed(e, w0), moved1 = 0;
    if (w1 != w0) {
      moved1 = word_changed(e, w1);
      if (moved1 != 0)
        reach_set(e, w1, reach_of(e, w1));
    }
    if (moved0 != 0 || (moved1 & 0xff) != 0)
      reach_set(e, w0, reach_of(e, w0));
    if (w0 > 0 && (moved0 & 0xff) != 0)
      reach_set(e, w0 - 1, reach_of(e, w0 - 1));
    return;
  }
  words_rebuild(e, w0, w1);
}

/* The long range of words_changed. */
static void words_rebuild(zone__extent_t *e, size_t w0, size_t w1) {
  for (size_t w = w0; w <= w1; w++)
    e->leaf[w] = leaf_pack(summary_of_word(e->used[w]));
  size_t c0 = w0 / CHUNK_WORDS, c1 = w1 / CHUNK_WORDS;
  for (size_t c = c0; c <= c1; c++)
    e->tree[c + e->leaves] = chunk_summary(e, c);
  uint32_t half = CHUNK_BITS;
  size_t lo = (c0 + e->leaves) >> 1, hi = (c1 + e->leaves) >> 1;
  while (lo >= 1) {
    bool changed = false;
    for (size_t i = lo; i <= hi; i++) {
      zone__summary_t s = summary_join(e->tree[2 * i], e->tree[2 * i + 1], half);
      if (!summary_equal(s, e->tree[i])) {
        e->tree[i] = s;
        changed = true;
      }
    }
    if (!changed)
      break;
    lo >>= 1;
    hi >>= 1;
    half *= 2;
  }
  reach_update(e, w0 > 0 ? w0 - 1 : 0, w1);
}

static void tree_build(zone__extent_t *e) {
  for (size_t w = 0; w < e->nwords; w++)
    e->leaf[w] = leaf_pack(summary_of_word(e->used[w]));
  for (size_t c = 0; c < e->leaves; c++)  /* past the last chunk: fully used */
    e->tree[c + e->leaves] = c * CHUNK_WORDS < e->nwords ? chunk_summary(e, c) : (zone__summary_t){0, 0, 0};
  uint32_t half = CHUNK_BITS;
  for (size_t level_lo = e->leaves >> 1; level_lo >= 1; level_lo >>= 1, half *= 2)
    for (size_t i = level_lo; i < 2 * level_lo; i++)
      e->tree[i] = summary_join(e->tree[2 * i], e->tree[2 * i + 1], half);
}

/* ---- lifecycle ---------------------------------------------------------------- */

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

/* Pad bits past ngran in the last word count as used forever. */
static void mark_pad(zone__extent_t *e) {
  unsigned tail = (unsigned)(e->ngran % WORD_BITS);
  if (tail != 0)
    e->used[e->nwords - 1] |= bits_between(tail, WORD_BITS);
}

int zone__extent_init(zone__extent_t *e, uintptr_t base, size_t ngran) {
  memset(e, 0, sizeof *e);
  if (ngran == 0 || ngran > ZONE_EXTENT_MAX_GRANULES)
    return ENOMEM;
  size_t nwords = (ngran + WORD_BITS - 1) / WORD_BITS;
  size_t nchunks = chunks_of(nwords);
  size_t leaves = 1;
  while (leaves < nchunks)
    leaves *= 2;
  size_t tree_nodes = 2 * leaves;  /* [1, leaves) inner nodes, then a leaf per chunk */

  /* One mapping holds every array, each starting on an 8-byte boundary. */
  size_t off_used = 0;
  size_t off_end = off_used + nwords * sizeof(uint64_t);
  size_t off_tree = off_end + nwords * sizeof(uint64_t);
  size_t off_leaf = round_up(off_tree + tree_nodes * sizeof(zone__summary_t), 8);
  size_t off_cross = round_up(off_leaf + nchunks * CHUNK_WORDS * sizeof(uint32_t), 8);
  size_t off_dirty = round_up(off_cross + nchunks * sizeof(uint32_t), 8);
  size_t off_list = off_dirty + (nchunks + WORD_BITS - 1) / WORD_BITS * sizeof(uint64_t);
  size_t off_reach = round_up(off_list + ZONE_DIRTY_MAX * sizeof(uint32_t), 8);
  size_t reach_bytes = 0, level_len = nwords;
  for (size_t k = 0;; k++, level_len = (level_len + FAN - 1) / FAN) {
    zone_assert(k < ZONE_REACH_LEVELS && "ZONE_EXTENT_MAX_GRANULES needs more reach levels");
    e->reach_at[k] = reach_bytes;
    e->reach_len[k] = level_len;
    reach_bytes += round_up(level_len, FAN);
    if (level_len == 1) {
      e->reach_levels = k + 1;
      break;
    }
  }
  size_t len = round_up(off_reach + reach_bytes, zone__os_page_size());
  char *book = zone__os_map(len);
  if (book == NULL)
    return ENOMEM;
  if (len >= HUGE_BOOK_BYTES)  /* mostly written by tree_build and reach_build anyway */
    zone__os_hugepage_hint(book, len);

  e->base = base;
  e->ngran = ngran;
  e->nwords = nwords;
  e->leaves = leaves;
  e->used = (uint64_t *)(book + off_used);
  e->end = (uint64_t *)(book + off_end);
  e->tree = (zone__summary_t *)(book + off_tree);
  e->leaf = (uint32_t *)(book + off_leaf);
  e->cross = (uint32_t *)(book + off_cross);
  e->dirty = (uint64_t *)(book + off_dirty);
  e->dirty_list = (uint32_t *)(book + off_list);
  e->reach = (uint8_t *)(book + off_reach);
  e->reach_top = e->reach + e->reach_at[e->reach_levels - 1];
  e->book = book;
  e->book_len = len;
  mark_pad(e);
  tree_build(e);
  reach_build(e);
  e->free_runs = 1;
  return 0;
}

/* The extent's bookkeeping rebuilt for ngran granules (more than now): a new
 * mapping with the old bits copied, the new granules free, the indexes built
 * afresh; the fields zone.c keeps (memory, trim marks) carry over. 0, or
 * ENOMEM with the extent unchanged. */
int zone__extent_extend(zone__extent_t *e, size_t ngran) {
  zone__extent_t ne;
  zone_assert(ngran > e->ngran);
  if (zone__extent_init(&ne, e->base, ngran) != 0)
    return ENOMEM;
  memcpy(ne.used, e->used, e->nwords * sizeof(uint64_t));
  memcpy(ne.end, e->end, e->nwords * sizeof(uint64_t));
  memcpy(ne.cross, e->cross, chunks_of(e->nwords) * sizeof(uint32_t));
  unsigned tail = (unsigned)(e->ngran % WORD_BITS);
  if (tail != 0)  /* the old pad granules are real, free ones now */
    ne.used[e->nwords - 1] &= bits_between(0, tail);
  mark_pad(&ne);
  tree_build(&ne);
  reach_build(&ne);
  /* The new granules extend the last free run, or start one after a block. */
  ne.free_runs = e->free_runs + bit_test(e->used, e->ngran - 1);
  ne.map = e->map;
  ne.map_len = e->map_len;
  ne.fresh = e->fresh;
  ne.returned = e->returned;
  ne.returned_len = e->returned_len;
  ne.returned_reused = e->returned_reused;
  ne.page_shift = e->page_shift;
  /* The old bookkeeping goes only once the new is in place: a fork from a
   * signal handler that interrupted this leaves the child a zone it reads
   * (the shim's frozen zone, state.c), whose blocks, all in the old range,
   * read the same through either mapping, even halfway through the copy. */
  zone__extent_t old = *e;
  *e = ne;
  zone__extent_fini(&old);
  return 0;
}

void zone__extent_fini(zone__extent_t *e) {
  zone__os_unmap(e->book, e->book_len);
  e->book = NULL;
}

void zone__extent_clear(zone__extent_t *e) {
  for (size_t k = 0; k < e->ndirty; k++)
    e->dirty[e->dirty_list[k] / WORD_BITS] = 0;
  e->ndirty = 0;
  memset(e->used, 0, e->nwords * sizeof(uint64_t));
  memset(e->end, 0, e->nwords * sizeof(uint64_t));
  mark_pad(e);
  tree_build(e);
  reach_build(e);
  e->free_runs = 1;
}

/* ---- search ------------------------------------------------------------------- */

/* The lowest start of n > 64 free granules in chunk c at or after granule
 * `from`, counting `carry` free granules that end where the chunk begins, or
 * ZONE_NONE (then *carry is the free run at the chunk's end). Such a run
 * always crosses a word edge, so each word counts by its edge runs: the free
 * granules at its bottom continue the run, those at its top begin the next. */
static size_t chunk_fit(const zone__extent_t *e, size_t c, size_t n, size_t from, size_t *carry) {
  zone_assert(n > WORD_BITS);
  size_t run = *carry;
  size_t w_end = (c + 1) * CHUNK_WORDS < e->nwords ? (c + 1) * CHUNK_WORDS : e->nwords;
  for (size_t w = c * CHUNK_WORDS; w < w_end; w++) {
    uint64_t avail = ~e->used[w];
    size_t lo = w * WORD_BITS;
    if (from > lo)
      avail = from - lo >= WORD_BITS ? 0 : avail & (ALL_ONES << (from - lo));
    unsigned bottom = avail == ALL_ONES ? WORD_BITS : ctz64(~avail);
    if (run + bottom >= n)
      return lo - run;
    run = avail == ALL_ONES ? run + WORD_BITS : (avail >> 63 ? clz64(~avail) : 0);
  }
  *carry = w_end == (c + 1) * CHUNK_WORDS ? run : 0;  /* past nwords: used */
  return ZONE_NONE;
}

/* The lowest fit of n > 64 granules anywhere: the root-to-leaf descent. */
static size_t fit_lowest(const zone__extent_t *e, size_t n) {
  if (n > e->ngran || e->tree[1].max < n)
    return ZONE_NONE;
  size_t i = 1, lo = 0, span = e->leaves * CHUNK_BITS;
  while (i < e->leaves) {
    size_t half = span / 2;
    zone__summary_t l = e->tree[2 * i];
    if (l.max >= n) {
      i = 2 * i;
      span = half;
      continue;
    }
    zone__summary_t r = e->tree[2 * i + 1];
    if ((size_t)l.end + r.start >= n)
      return lo + half - l.end;
    i = 2 * i + 1;
    lo += half;
    span = half;
  }
  size_t carry = 0;
  size_t g = chunk_fit(e, i - e->leaves, n, 0, &carry);
  zone_assert(g != ZONE_NONE && "summary promised a fit in this chunk");
  return g;
}

/*
 * The lowest fit of n granules starting at or after `from`, scanning the tree
 * left to right. `carry` is the free run ending just before node i (counting
 * only granules >= from). Nodes wholly before `from` are skipped; a node whose
 * summary can't hold the fit is passed over in O(1), so one descent does the
 * work: O(log) nodes in all.
 */
static size_t fit_scan(const zone__extent_t *e, size_t i, size_t lo, size_t span, size_t from,
                       size_t n, size_t *carry) {
  if (lo + span <= from)
    return ZONE_NONE;
  if (lo >= from) {
    zone__summary_t s = e->tree[i];
    if (*carry + s.start >= n)
      return lo - *carry;
    if (s.max < n) {
      *carry = s.start == span ? *carry + span : s.end;
      return ZONE_NONE;
    }
  }
  if (i >= e->leaves)
    return chunk_fit(e, i - e->leaves, n, from, carry);
  size_t half = span / 2;
  size_t r = fit_scan(e, 2 * i, lo, half, from, n, carry);
  if (r != ZONE_NONE)
    return r;
  return fit_scan(e, 2 * i + 1, lo + half, half, from, n, carry);
}

/*
 * Small requests ask the reach index; larger ones the tree, brought up to date
 * first. A search from a granule (aligned fits, trim) is the same with a start.
 */
size_t zone__extent_fit(zone__extent_t *e, size_t n, size_t from) {
  if (n <= ZONE_SMALL_MAX)
    return fit_small(e, n, from);
  tree_flush(e);
  if (from == 0)
    return fit_lowest(e, n);
  if (from >= e->ngran || n > e->ngran - from)
    return ZONE_NONE;
  size_t carry = 0;
  size_t g = fit_scan(e, 1, 0, e->leaves * CHUNK_BITS, from, n, &carry);
  return g != ZONE_NONE && g + n <= e->ngran ? g : ZONE_NONE;
}

/* The first used granule in [g, limit), or limit. */
static size_t first_used(const zone__extent_t *e, size_t g, size_t limit) {
  while (g < limit) {
    size_t w = g / WORD_BITS;
    uint64_t u = e->used[w] & (ALL_ONES << (g % WORD_BITS));
    if (u != 0) {
      size_t hit = w * WORD_BITS + ctz64(u);
      return hit < limit ? hit : limit;
    }
    g = (w + 1) * WORD_BITS;
  }
  return limit;
}

/*
 * The lowest aligned fit: take the lowest fit at or after `from`, move up to
 * the first aligned granule in it; if a used granule u blocks that, no aligned
 * start up to u can work either, so continue from u + 1. Each round passes a
 * used granule, so the loop ends; the answer is exact because every skipped
 * start was shown not to fit.
 */
size_t zone__extent_fit_aligned(zone__extent_t *e, size_t n, size_t align) {
  size_t k = align / ZONE_G;  /* alignment in granules, a power of two >= 2 */
  size_t phase = ((align - e->base % align) % align) / ZONE_G;  /* aligned g: g % k == phase */
  size_t from = 0;
  for (;;) {
    size_t s = zone__extent_fit(e, n, from);
    if (s == ZONE_NONE)
      return ZONE_NONE;
    size_t a = s + ((phase - s % k) & (k - 1));
    if (a > e->ngran || n > e->ngran - a)
      return ZONE_NONE;
    size_t u = first_used(e, a, a + n);
    if (u == a + n)
      return a;
    from = u + 1;
  }
}

/* ---- taking and giving granules --------------------------------------------------- */

static inline bool granule_free(const zone__extent_t *e, size_t g) {
  return g < e->ngran && !bit_test(e->used, g);
}

static inline size_t chunk_of(size_t g) { return g / ZONE_CHUNK_BITS; }

/* Records the end of a block starting at g whose last granule is `last`. */
static void mark_end(zone__extent_t *e, size_t g, size_t last) {
  e->end[last / WORD_BITS] |= (uint64_t)1 << (last % WORD_BITS);
  if (chunk_of(last) != chunk_of(g))
    e->cross[chunk_of(g)] = (uint32_t)last;
}

static void clear_end(zone__extent_t *e, size_t last) {
  e->end[last / WORD_BITS] &= ~((uint64_t)1 << (last % WORD_BITS));
}

static inline bool block_starts(const zone__extent_t *e, size_t g) {
  if (g >= e->ngran || !bit_test(e->used, g))
    return false;
  return g == 0 || !bit_test(e->used, g - 1) || bit_test(e->end, g - 1);
}

/* The block's end is the first end bit at or after g; it is searched within
 * g's chunk (8 words), and a block running past its chunk has it in cross[]. */
static inline size_t block_len(const zone__extent_t *e, size_t g) {
  size_t w = g / WORD_BITS;
  size_t stop = (w / ZONE_CHUNK_WORDS + 1) * ZONE_CHUNK_WORDS;
  if (stop > e->nwords)
    stop = e->nwords;
  uint64_t m = e->end[w] & (ALL_ONES << (g % WORD_BITS));
  while (m == 0) {
    if (++w == stop)
      return (size_t)e->cross[chunk_of(g)] - g + 1;
    m = e->end[w];
  }
  return w * WORD_BITS + ctz64(m) - g + 1;
}

/* Granules [g, g + n) of at most two words (n <= 64) turn used (take) or
 * free: run_take and run_give with each mask made once and the neighbours read
 * from the words at hand (pad bits past ngran read as used). */
ZONE_INLINE void small_flip(zone__extent_t *e, size_t g, size_t n, bool take) {
  size_t last = g + n - 1, w0 = g / WORD_BITS, w1 = last / WORD_BITS;
  unsigned b0 = g % WORD_BITS, b1 = last % WORD_BITS;
  uint64_t *u = e->used;
  uint64_t m0 = ALL_ONES << b0, m1 = ALL_ONES >> (WORD_BITS - 1 - b1);
  if (w0 == w1)
    m0 &= m1;
  bool left = b0 != 0 ? !((u[w0] >> (b0 - 1)) & 1) : w0 > 0 && !(u[w0 - 1] >> 63);
  bool right = b1 != WORD_BITS - 1 ? !((u[w1] >> (b1 + 1)) & 1) : w1 + 1 < e->nwords && !(u[w1 + 1] & 1);
  if (take) {
    e->free_runs = e->free_runs + left + right - 1;
    u[w0] |= m0;
    if (w1 != w0)
      u[w1] |= m1;
    mark_end(e, g, last);
  } else {
    e->free_runs = e->free_runs + 1 - left - right;
    u[w0] &= ~m0;
    if (w1 != w0)
      u[w1] &= ~m1;
    clear_end(e, last);
  }
  words_changed(e, w0, w1);
}

ZONE_INLINE void run_take(zone__extent_t *e, size_t g, size_t n) {
  zone_assert(n > 0 && g + n <= e->ngran);
  zone_assert(first_used(e, g, g + n) == g + n && "taking granules that are not free");
  if (n <= WORD_BITS) {
    small_flip(e, g, n, true);
    return;
  }
  bool left = g > 0 && granule_free(e, g - 1), right = granule_free(e, g + n);
  e->free_runs = e->free_runs + left + right - 1;
  bits_assign(e->used, g, g + n, true);
  mark_end(e, g, g + n - 1);
  words_changed(e, g / WORD_BITS, (g + n - 1) / WORD_BITS);
}

ZONE_INLINE void run_give(zone__extent_t *e, size_t g, size_t n) {
  zone_assert(zone__extent_is_block(e, g) && zone__extent_block_len(e, g) == n);
  if (n <= WORD_BITS) {
    small_flip(e, g, n, false);
    return;
  }
  bool left = g > 0 && granule_free(e, g - 1), right = granule_free(e, g + n);
  e->free_runs = e->free_runs + 1 - left - right;
  bits_assign(e->used, g, g + n, false);
  clear_end(e, g + n - 1);
  words_changed(e, g / WORD_BITS, (g + n - 1) / WORD_BITS);
}

void zone__extent_take(zone__extent_t *e, size_t g, size_t n) { run_take(e, g, n); }
void zone__extent_give(zone__extent_t *e, size_t g, size_t n) { run_give(e, g, n); }

/* The allocation fast path, fit and take in one call. */
size_t zone__extent_alloc(zone__extent_t *e, size_t n) {
  size_t g = n <= ZONE_SMALL_MAX ? fit_small(e, n, 0) : zone__extent_fit(e, n, 0);
  if (g != ZONE_NONE)
    run_take(e, g, n);
  return g;
}

/* The free fast path: the block check, its length and the give in one call.
 * The word's leaf and reach byte are fetched first: in a large zone the free
 * misses cache on them as on the bitmap, and fetched up front their misses
 * overlap the bitmap's instead of following it (core_pairs, 1M blocks: about
 * 10% less time per pair; the end bitmap, in the same spot, gained nothing). */
size_t zone__extent_release(zone__extent_t *e, size_t g) {
  __builtin_prefetch(&e->leaf[g / WORD_BITS], 1);
  __builtin_prefetch(&e->reach[g / WORD_BITS], 1);
  if (!block_starts(e, g))
    return 0;
  size_t n = block_len(e, g);
  run_give(e, g, n);
  return n;
}

void zone__extent_resize(zone__extent_t *e, size_t g, size_t old_n, size_t new_n) {
  zone_assert(zone__extent_is_block(e, g) && zone__extent_block_len(e, g) == old_n);
  if (new_n == old_n)
    return;
  clear_end(e, g + old_n - 1);
  if (new_n < old_n) {
    /* The tail becomes a free run, joining a free run after it if any. */
    e->free_runs = e->free_runs + 1 - granule_free(e, g + old_n);
    bits_assign(e->used, g + new_n, g + old_n, false);
  } else {
    zone_assert(first_used(e, g + old_n, g + new_n) == g + new_n && "growing over used granules");
    e->free_runs = e->free_runs - 1 + granule_free(e, g + new_n);
    bits_assign(e->used, g + old_n, g + new_n, true);
  }
  mark_end(e, g, g + new_n - 1);
  size_t lo = (new_n < old_n ? g + new_n : g + old_n) - 1;
  size_t hi = (new_n < old_n ? g + old_n : g + new_n) - 1;
  words_changed(e, lo / WORD_BITS, hi / WORD_BITS);
}

/* ---- queries -------------------------------------------------------------------- */

bool zone__extent_is_block(const zone__extent_t *e, size_t g) { return block_starts(e, g); }
size_t zone__extent_block_len(const zone__extent_t *e, size_t g) { return block_len(e, g); }

size_t zone__extent_end_after(const zone__extent_t *e, size_t g) {
  for (size_t w = g / WORD_BITS; w < e->nwords; w++) {
    uint64_t m = e->end[w];
    if (w == g / WORD_BITS)
      m &= ALL_ONES << (g % WORD_BITS);
    if (m != 0)
      return w * WORD_BITS + ctz64(m);
  }
  return e->ngran - 1;
}

size_t zone__extent_free_len(const zone__extent_t *e, size_t g, size_t limit) {
  if (g >= e->ngran)
    return 0;
  size_t stop = g + limit < e->ngran ? g + limit : e->ngran;
  return first_used(e, g, stop) - g;
}

/* Runs longer than 64 granules cross a word edge and the tree has them; the
 * reach root has every shorter one. */
size_t zone__extent_largest(zone__extent_t *e) {
  tree_flush(e);
  size_t edge = e->tree[1].max;
  size_t small = node_max(node_load(reach_level(e, e->reach_levels - 1)));
  return edge > small ? edge : small;
}

size_t zone__extent_next_block(const zone__extent_t *e, size_t g) {
  /* A granule starts a block when it is used and its predecessor is free or
   * ends a block; scan words for the first such bit at or after g. */
  while (g < e->ngran) {
    size_t w = g / WORD_BITS;
    uint64_t u = e->used[w];
    uint64_t prev_u = (u << 1) | (w > 0 ? e->used[w - 1] >> 63 : 0);
    uint64_t prev_e = (e->end[w] << 1) | (w > 0 ? e->end[w - 1] >> 63 : 0);
    uint64_t starts = u & (~prev_u | prev_e) & (ALL_ONES << (g % WORD_BITS));
    if (w == e->nwords - 1 && e->ngran % WORD_BITS != 0)
      starts &= bits_between(0, (unsigned)(e->ngran % WORD_BITS));
    if (starts != 0)
      return w * WORD_BITS + ctz64(starts);
    g = (w + 1) * WORD_BITS;
  }
  return ZONE_NONE;
}

/* ---- invariants ---------------------------------------------------------------- */

int zone__extent_check(zone__extent_t *e, size_t *used_gran, size_t *blocks) {
  size_t nused = 0, nblocks = 0, runs = 0;
  tree_flush(e);
  size_t nchunks = chunks_of(e->nwords);
  for (size_t w = 0; w < (nchunks + WORD_BITS - 1) / WORD_BITS; w++) {
    if (e->dirty[w] != 0) {
      zone__report("zone_check: extent %p: dirty chunks left after a flush", (void *)e->base);
      return 9;
    }
  }
  unsigned tail = (unsigned)(e->ngran % WORD_BITS);
  for (size_t w = 0; w < e->nwords; w++) {
    uint64_t real = (w == e->nwords - 1 && tail != 0) ? bits_between(0, tail) : ALL_ONES;
    uint64_t u = e->used[w], en = e->end[w];
    if ((u | real) != ALL_ONES) {
      zone__report("zone_check: extent %p word %zu: pad granules marked free", (void *)e->base, w);
      return 1;
    }
    if (en & ~(u & real)) {
      zone__report("zone_check: extent %p word %zu: block end on a free granule", (void *)e->base, w);
      return 2;
    }
    u &= real;
    /* u is masked to real granules, so the last real granule has no used successor. */
    uint64_t next_u = (u >> 1) | (w + 1 < e->nwords ? (e->used[w + 1] & 1) << 63 : 0);
    uint64_t run_last = u & ~next_u;
    if (run_last & ~en) {
      zone__report("zone_check: extent %p granule %zu: used run without a block end", (void *)e->base,
                   w * WORD_BITS + ctz64(run_last & ~en));
      return 3;
    }
    uint64_t prev_u = (u << 1) | (w > 0 ? e->used[w - 1] >> 63 : 0);
    uint64_t prev_e = (en << 1) | (w > 0 ? e->end[w - 1] >> 63 : 0);
    uint64_t starts = u & (~prev_u | prev_e);
    uint64_t f = ~u & real;
    uint64_t prev_f = (f << 1) | (w > 0 ? (~e->used[w - 1] >> 63) & 1 : 0);
    runs += (size_t)__builtin_popcountll(f & ~prev_f);
    nused += (size_t)__builtin_popcountll(u);
    nblocks += (size_t)__builtin_popcountll(starts);
    for (uint64_t s = starts; s != 0; s &= s - 1) {
      size_t g = w * WORD_BITS + ctz64(s);
      size_t last = g;
      while (!bit_test(e->end, last))
        last++;
      if (chunk_of(last) != chunk_of(g) && e->cross[chunk_of(g)] != last) {
        zone__report("zone_check: extent %p block at granule %zu: chunk crossing end %u, not %zu",
                     (void *)e->base, g, e->cross[chunk_of(g)], last);
        return 4;
      }
      if (zone__extent_block_len(e, g) != last - g + 1) {
        zone__report("zone_check: extent %p block at granule %zu: length lookup disagrees",
                     (void *)e->base, g);
        return 5;
      }
    }
  }
  if (runs != e->free_runs) {
    zone__report("zone_check: extent %p: %zu free runs counted, %zu recorded", (void *)e->base, runs,
                 e->free_runs);
    return 6;
  }
  for (size_t w = 0; w < nchunks * CHUNK_WORDS; w++) {
    uint32_t v = w < e->nwords ? leaf_pack(summary_of_word(e->used[w])) : 0;
    if (e->leaf[w] != v) {
      zone__report("zone_check: extent %p word %zu: leaf summary is stale", (void *)e->base, w);
      return 8;
    }
  }
  for (size_t c = 0; c < e->leaves; c++) {
    zone__summary_t s = c < nchunks ? chunk_summary(e, c) : (zone__summary_t){0, 0, 0};
    if (!summary_equal(s, e->tree[c + e->leaves])) {
      zone__report("zone_check: extent %p chunk %zu: summary is stale", (void *)e->base, c);
      return 7;
    }
  }
  uint32_t half = CHUNK_BITS;
  for (size_t level_lo = e->leaves >> 1; level_lo >= 1; level_lo >>= 1, half *= 2) {
    for (size_t i = level_lo; i < 2 * level_lo; i++) {
      zone__summary_t s = summary_join(e->tree[2 * i], e->tree[2 * i + 1], half);
      if (!summary_equal(s, e->tree[i])) {
        zone__report("zone_check: extent %p summary node %zu is stale", (void *)e->base, i);
        return 7;
      }
    }
  }
  for (size_t k = 0; k < e->reach_levels; k++) {
    const uint8_t *r = reach_level(e, k);
    for (size_t j = 0; j < round_up(e->reach_len[k], FAN); j++) {
      unsigned want = j >= e->reach_len[k] ? 0
                      : k == 0            ? reach_of(e, j)
                                          : node_max(node_load(reach_level(e, k - 1) + j * FAN));
      if (r[j] != want) {
        zone__report("zone_check: extent %p: reach index level %zu byte %zu is %u, not %u",
                     (void *)e->base, k, j, r[j], want);
        return 14;
      }
    }
  }
  *used_gran = nused;
  *blocks = nblocks;
  return 0;
}
