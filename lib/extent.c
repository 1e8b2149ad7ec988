/*
 * extent.c - the placement structure of one extent: which granules are live,
 * where blocks end, and a summary tree that finds the lowest free run of n
 * granules in O(log n) time.
 *
 * Why a bitmap and a summary tree rather than an address-ordered tree of free
 * regions: the bookkeeping is bounded by the zone's size whatever the pattern
 * (2 bits per 16-byte granule plus at most 24 bytes per 1 KiB of zone, under
 * 4%), it never grows a node per block or per hole, and it needs no memory of
 * its own when a free splits a region. The cost is linear in the size of a
 * block when it is taken or given (a bit per granule, a word per 64), which is
 * a 1/1024 fraction of the bytes a program touches anyway.
 *
 * The tree is a complete binary tree over the bitmap words, as the Go runtime's
 * page allocator keeps summaries over its page bitmap: each node records the
 * free run at its low end, the one at its high end and its longest run. The
 * lowest fit descends from the root: left child if its longest run fits, else a
 * run across the middle (left's high-end run plus right's low-end run), else
 * the right child. Leaves (single words) are not stored; their summaries come
 * from the word with two bit scans.
 */
#include "zone_internal.h"

#include <errno.h>
#include <string.h>

#define WORD_BITS 64
#define ALL_ONES (~(uint64_t)0)

/* ---- bit helpers ------------------------------------------------------------ */

static inline unsigned ctz64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
static inline unsigned clz64(uint64_t x) { return (unsigned)__builtin_clzll(x); }

/* Mask of bits [lo, hi) within a word, 0 <= lo < hi <= 64. */
static inline uint64_t bits_between(unsigned lo, unsigned hi) {
  uint64_t upper = hi == WORD_BITS ? ALL_ONES : (((uint64_t)1 << hi) - 1);
  return upper & (ALL_ONES << lo);
}

static inline bool bit_test(const uint64_t *map, size_t i) {
  return (map[i / WORD_BITS] >> (i % WORD_BITS)) & 1;
}

/* Sets (value = true) or clears the bits [lo, hi) of map. */
static void bits_assign(uint64_t *map, size_t lo, size_t hi, bool value) {
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

/* Lowest bit b such that bits [b, b + n) of x are all set, or -1 (n <= 64). */
static int word_fit(uint64_t x, unsigned n) {
  if (n == WORD_BITS)
    return x == ALL_ONES ? 0 : -1;
  /* After each step bit b of t says bits [b, b + k) of x are all set. */
  uint64_t t = x;
  unsigned k = 1;
  while (k < n && t != 0) {
    unsigned s = k < n - k ? k : n - k;
    t &= t >> s;
    k += s;
  }
  return t != 0 ? (int)ctz64(t) : -1;
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
static inline zone__summary_t leaf_unpack(uint32_t v) {
  zone__summary_t s = {v & 0xff, (v >> 8) & 0xff, v >> 16};
  return s;
}

/* Node i's summary: internal nodes from tree[], leaves (words) from leaf[]. */
static inline zone__summary_t summary_at(const zone__extent_t *e, size_t i) {
  if (i >= e->leaves)
    return leaf_unpack(e->leaf[i - e->leaves]);
  return e->tree[i];
}

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

/* Walks word w's change up the tree (its leaf is already fresh): recomputes
 * each ancestor from its two children, stopping at the first node that comes
 * out unchanged (everything above it then is too, or is another dirty word's
 * walk). */
static void path_update(zone__extent_t *e, size_t w) {
  size_t i = w + e->leaves;
  if (i == 1)
    return;
  zone__summary_t cur = leaf_unpack(e->leaf[w]), sib = leaf_unpack(e->leaf[(i ^ 1) - e->leaves]);
  uint32_t half = WORD_BITS;
  for (;;) {
    cur = (i & 1) ? summary_join(sib, cur, half) : summary_join(cur, sib, half);
    i >>= 1;
    if (summary_equal(cur, e->tree[i]))
      return;
    e->tree[i] = cur;
    if (i == 1)
      return;
    sib = e->tree[i ^ 1];
    half *= 2;
  }
}

/* Brings the tree up to date with every word changed since the last flush. */
static void tree_flush(zone__extent_t *e) {
  for (size_t k = 0; k < e->ndirty; k++) {
    size_t w = e->dirty_list[k];
    e->dirty[w / WORD_BITS] &= ~((uint64_t)1 << (w % WORD_BITS));
    path_update(e, w);
  }
  e->ndirty = 0;
}

/* Notes that word w changed: its leaf summary is refreshed at once (the
 * window search reads it), the nodes above it lazily, at the next search that
 * needs the tree or when ZONE_DIRTY_MAX words are waiting, so a word changed
 * and changed back costs one leaf, and walks that share ancestors stop early. */
static void word_changed(zone__extent_t *e, size_t w) {
  uint32_t v = leaf_pack(summary_of_word(e->used[w]));
  if (v == e->leaf[w])
    return;
  e->leaf[w] = v;
  uint64_t bit = (uint64_t)1 << (w % WORD_BITS);
  if (e->dirty[w / WORD_BITS] & bit)
    return;
  if (e->ndirty == ZONE_DIRTY_MAX)
    tree_flush(e);
  e->dirty[w / WORD_BITS] |= bit;
  e->dirty_list[e->ndirty++] = (uint32_t)w;
}

/* Words [w0, w1] changed: a few are noted dirty; a long range (a big block)
 * is brought up to date at once, level by level. */
static void words_changed(zone__extent_t *e, size_t w0, size_t w1) {
  if (w1 - w0 < 2) {
    word_changed(e, w0);
    if (w1 != w0)
      word_changed(e, w1);
    return;
  }
  for (size_t w = w0; w <= w1; w++)
    e->leaf[w] = leaf_pack(summary_of_word(e->used[w]));
  uint32_t half = WORD_BITS;
  size_t lo = (w0 + e->leaves) >> 1, hi = (w1 + e->leaves) >> 1;
  while (lo >= 1) {
    bool changed = false;
    for (size_t i = lo; i <= hi; i++) {
      zone__summary_t s = summary_join(summary_at(e, 2 * i), summary_at(e, 2 * i + 1), half);
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
}

static void tree_build(zone__extent_t *e) {
  for (size_t w = 0; w < e->nwords; w++)
    e->leaf[w] = leaf_pack(summary_of_word(e->used[w]));
  uint32_t half = WORD_BITS;
  for (size_t level_lo = e->leaves >> 1; level_lo >= 1; level_lo >>= 1, half *= 2)
    for (size_t i = level_lo; i < 2 * level_lo; i++)
      e->tree[i] = summary_join(summary_at(e, 2 * i), summary_at(e, 2 * i + 1), half);
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
  size_t leaves = 1;
  while (leaves < nwords)
    leaves *= 2;
  size_t nchunks = (nwords + ZONE_CHUNK_WORDS - 1) / ZONE_CHUNK_WORDS;
  size_t tree_nodes = leaves < 2 ? 2 : leaves;

  /* One mapping holds every array, each starting on an 8-byte boundary. */
  size_t off_used = 0;
  size_t off_end = off_used + nwords * sizeof(uint64_t);
  size_t off_tree = off_end + nwords * sizeof(uint64_t);
  size_t off_leaf = round_up(off_tree + tree_nodes * sizeof(zone__summary_t), 8);
  size_t off_cross = round_up(off_leaf + leaves * sizeof(uint32_t), 8);
  size_t off_dirty = round_up(off_cross + nchunks * sizeof(uint32_t), 8);
  size_t off_list = off_dirty + (nwords + WORD_BITS - 1) / WORD_BITS * sizeof(uint64_t);
  size_t off_low = round_up(off_list + ZONE_DIRTY_MAX * sizeof(uint32_t), 8);
  size_t len = round_up(off_low + (ZONE_SMALL_MAX + 1) * sizeof(uint32_t), zone__os_page_size());
  char *book = zone__os_map(len);
  if (book == NULL)
    return ENOMEM;

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
  e->low = (uint32_t *)(book + off_low);
  e->book = book;
  e->book_len = len;
  mark_pad(e);
  tree_build(e);
  e->free_runs = 1;
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
  memset(e->low, 0, (ZONE_SMALL_MAX + 1) * sizeof(uint32_t));
  e->nring = 0;
  memset(e->used, 0, e->nwords * sizeof(uint64_t));
  memset(e->end, 0, e->nwords * sizeof(uint64_t));
  mark_pad(e);
  tree_build(e);
  e->free_runs = 1;
}

/* ---- search ------------------------------------------------------------------- */

/* The lowest fit of n granules anywhere: the root-to-leaf descent. */
static size_t fit_lowest(const zone__extent_t *e, size_t n) {
  if (n > e->ngran || summary_at(e, 1).max < n)
    return ZONE_NONE;
  size_t i = 1, lo = 0, span = e->leaves * WORD_BITS;
  while (i < e->leaves) {
    size_t half = span / 2;
    zone__summary_t l = summary_at(e, 2 * i);
    if (l.max >= n) {
      i = 2 * i;
      span = half;
      continue;
    }
    zone__summary_t r = summary_at(e, 2 * i + 1);
    if ((size_t)l.end + r.start >= n)
      return lo + half - l.end;
    i = 2 * i + 1;
    lo += half;
    span = half;
  }
  size_t w = i - e->leaves;
  int b = word_fit(~e->used[w], (unsigned)n);
  zone_assert(b >= 0 && "summary promised a fit in this word");
  return w * WORD_BITS + (size_t)b;
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
    zone__summary_t s = summary_at(e, i);
    if (*carry + s.start >= n)
      return lo - *carry;
    if (s.max < n) {
      *carry = s.start == span ? *carry + span : s.end;
      return ZONE_NONE;
    }
  }
  if (i >= e->leaves) {
    size_t w = i - e->leaves;
    uint64_t avail = w < e->nwords ? ~e->used[w] : 0;
    if (from > lo)
      avail &= ALL_ONES << (from - lo);
    if (n <= WORD_BITS) {
      int b = word_fit(avail, (unsigned)n);
      if (b >= 0)
        return lo + (size_t)b;
    }
    *carry = avail == ALL_ONES ? *carry + WORD_BITS : (avail >> 63 ? clz64(~avail) : 0);
    return ZONE_NONE;
  }
  size_t half = span / 2;
  size_t r = fit_scan(e, 2 * i, lo, half, from, n, carry);
  if (r != ZONE_NONE)
    return r;
  return fit_scan(e, 2 * i + 1, lo + half, half, from, n, carry);
}

/* Folds the pending lowerings into low[]: each says "sizes up to top may now
 * fit from start", so low[m] drops to the least start among the entries with
 * top >= m, found in one pass from the largest size down. */
static void bounds_fold(zone__extent_t *e) {
  uint32_t least[ZONE_SMALL_MAX + 1];
  memset(least, 0xff, sizeof least);
  for (size_t k = 0; k < e->nring; k++)
    if (e->ring[k].start < least[e->ring[k].top])
      least[e->ring[k].top] = e->ring[k].start;
  uint32_t r = UINT32_MAX;
  for (size_t m = ZONE_SMALL_MAX; m >= 1; m--) {
    if (least[m] < r)
      r = least[m];
    if (e->low[m] > r)
      e->low[m] = r;
  }
  e->nring = 0;
}

/* No fit of n <= ZONE_SMALL_MAX granules starts below the returned granule. */
static size_t bound_of(const zone__extent_t *e, size_t n) {
  size_t b = e->low[n];
  for (size_t k = 0; k < e->nring; k++)
    if (e->ring[k].top >= n && e->ring[k].start < b)
      b = e->ring[k].start;
  return b;
}

/*
 * The lowest fit of n <= 64 granules starting in the ZONE_WINDOW_WORDS words
 * from granule s0, or ZONE_NONE. Works on the bitmap alone (always exact), two
 * words at a time so that a run may cross into the next word.
 */
static size_t fit_window(const zone__extent_t *e, size_t n, size_t s0) {
  size_t w = s0 / WORD_BITS;
  size_t stop = w + ZONE_WINDOW_WORDS < e->nwords ? w + ZONE_WINDOW_WORDS : e->nwords;
  uint64_t mask = ALL_ONES << (s0 % WORD_BITS);
  for (; w < stop; w++, mask = ALL_ONES) {
    /* Leaves are always fresh: skip a word where no run of n can start. */
    zone__summary_t here = leaf_unpack(e->leaf[w]);
    if (here.max < n && here.end + (w + 1 < e->nwords ? leaf_unpack(e->leaf[w + 1]).start : 0) < n)
      continue;
    uint64_t t = ~e->used[w] & mask;
    if (t == 0)
      continue;
    uint64_t hi = w + 1 < e->nwords ? ~e->used[w + 1] : 0;
    /* bit b of t: granules [b, b + k) of the 128-bit (hi:t) are free */
    for (unsigned k = 1; k < n && t != 0;) {
      unsigned step = k < n - k ? k : (unsigned)n - k;
      t &= (t >> step) | (hi << (WORD_BITS - step));
      hi &= hi >> step;
      k += step;
    }
    if (t != 0)
      return w * WORD_BITS + ctz64(t);
  }
  return ZONE_NONE;
}

/*
 * Small requests first scan a few words from their lower bound low[n]: no fit
 * starts below it, so the first fit found there is the lowest, and the tree is
 * neither read nor brought up to date. Otherwise the tree answers.
 */
size_t zone__extent_fit(zone__extent_t *e, size_t n, size_t from) {
  if (from == 0 && n <= ZONE_SMALL_MAX) {
    size_t s0 = bound_of(e, n);
    if (s0 >= e->ngran)
      return ZONE_NONE;
    size_t g = fit_window(e, n, s0);
    if (g == ZONE_NONE) {
      tree_flush(e);
      g = fit_lowest(e, n);
    }
    e->low[n] = (uint32_t)(g == ZONE_NONE ? e->ngran : g);
    return g;
  }
  tree_flush(e);
  if (from == 0)
    return fit_lowest(e, n);
  if (from >= e->ngran || n > e->ngran - from)
    return ZONE_NONE;
  size_t carry = 0;
  size_t g = fit_scan(e, 1, 0, e->leaves * WORD_BITS, from, n, &carry);
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

/* Free granules right before g, counting at most `cap`. */
static size_t free_before(const zone__extent_t *e, size_t g, size_t cap) {
  size_t count = 0;
  while (g > 0 && count < cap) {
    size_t w = (g - 1) / WORD_BITS;
    unsigned top = (unsigned)((g - 1) % WORD_BITS);  /* granule g-1's bit */
    uint64_t f = ~e->used[w] << (WORD_BITS - 1 - top);
    unsigned run = f == ALL_ONES ? WORD_BITS : clz64(~f);
    if (run > top + 1)
      run = top + 1;
    count += run;
    if (run < top + 1)
      break;
    g -= run;
  }
  return count < cap ? count : cap;
}

/* Granules [g, g + n) just became free: a fit of m granules may now start at
 * the start of the free run they joined, so the bounds of the sizes it can
 * serve must drop there. The lowering is queued (bound_of reads the queue) and
 * folded into low[] ZONE_RING_MAX at a time. A run of ZONE_SMALL_MAX or more
 * free granules already before g served every small size from its start, and
 * the bounds are below that already. */
static void bounds_lower(zone__extent_t *e, size_t g, size_t n) {
  size_t left = free_before(e, g, ZONE_SMALL_MAX);
  if (left == ZONE_SMALL_MAX)
    return;
  size_t run = left + n;
  if (run < ZONE_SMALL_MAX)
    run += zone__extent_free_len(e, g + n, ZONE_SMALL_MAX - run);
  size_t top = run < ZONE_SMALL_MAX ? run : ZONE_SMALL_MAX;
  if (e->nring == ZONE_RING_MAX)
    bounds_fold(e);
  e->ring[e->nring].start = (uint32_t)(g - left);
  e->ring[e->nring].top = (uint32_t)top;
  e->nring++;
}

void zone__extent_take(zone__extent_t *e, size_t g, size_t n) {
  zone_assert(n > 0 && g + n <= e->ngran);
  zone_assert(first_used(e, g, g + n) == g + n && "taking granules that are not free");
  bool left = g > 0 && granule_free(e, g - 1), right = granule_free(e, g + n);
  e->free_runs = e->free_runs + left + right - 1;
  bits_assign(e->used, g, g + n, true);
  mark_end(e, g, g + n - 1);
  words_changed(e, g / WORD_BITS, (g + n - 1) / WORD_BITS);
}

void zone__extent_give(zone__extent_t *e, size_t g, size_t n) {
  zone_assert(zone__extent_is_block(e, g) && zone__extent_block_len(e, g) == n);
  bool left = g > 0 && granule_free(e, g - 1), right = granule_free(e, g + n);
  e->free_runs = e->free_runs + 1 - left - right;
  bits_assign(e->used, g, g + n, false);
  clear_end(e, g + n - 1);
  bounds_lower(e, g, n);
  words_changed(e, g / WORD_BITS, (g + n - 1) / WORD_BITS);
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
    bounds_lower(e, g + new_n, old_n - new_n);
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

bool zone__extent_is_block(const zone__extent_t *e, size_t g) {
  if (g >= e->ngran || !bit_test(e->used, g))
    return false;
  return g == 0 || !bit_test(e->used, g - 1) || bit_test(e->end, g - 1);
}

/* The block's end is the first end bit at or after g; it is searched within
 * g's chunk (8 words), and a block running past its chunk has it in cross[]. */
size_t zone__extent_block_len(const zone__extent_t *e, size_t g) {
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

size_t zone__extent_largest(zone__extent_t *e) {
  tree_flush(e);
  return summary_at(e, 1).max;
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
  for (size_t w = 0; w < (e->nwords + WORD_BITS - 1) / WORD_BITS; w++) {
    if (e->dirty[w] != 0) {
      zone__report("zone_check: extent %p: dirty words left after a flush", (void *)e->base);
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
  for (size_t w = 0; w < e->leaves; w++) {
    uint32_t v = w < e->nwords ? leaf_pack(summary_of_word(e->used[w])) : 0;
    if (e->leaf[w] != v) {
      zone__report("zone_check: extent %p word %zu: leaf summary is stale", (void *)e->base, w);
      return 8;
    }
  }
  uint32_t half = WORD_BITS;
  for (size_t level_lo = e->leaves >> 1; level_lo >= 1; level_lo >>= 1, half *= 2) {
    for (size_t i = level_lo; i < 2 * level_lo; i++) {
      zone__summary_t s = summary_join(summary_at(e, 2 * i), summary_at(e, 2 * i + 1), half);
      if (!summary_equal(s, e->tree[i])) {
        zone__report("zone_check: extent %p summary node %zu is stale", (void *)e->base, i);
        return 7;
      }
    }
  }
  for (size_t n = 1; n <= ZONE_SMALL_MAX; n++) {
    size_t lowest = fit_lowest(e, n);
    if (lowest != ZONE_NONE && lowest < bound_of(e, n)) {
      zone__report("zone_check: extent %p: a fit of %zu granules at %zu is below its bound %zu",
                   (void *)e->base, n, lowest, bound_of(e, n));
      return 14;
    }
  }
  *used_gran = nused;
  *blocks = nblocks;
  return 0;
}
