/*
 * tree.c - the summary tree: where the lowest fit of a large request (above
 * ZONE_REACH_MAX granules) starts, in O(log n) time.
 *
 * A complete binary tree of summaries, as the Go runtime's page allocator
 * keeps over its page bitmap: each node records the free run at its low end,
 * the one at its high end and its longest run. The lowest fit descends from
 * the root: left child if its longest run fits, else a run across the middle
 * (left's high-end run plus right's low-end run), else the right child. A run
 * of more than 64 granules always crosses a word edge, so the tree sees each
 * word only through its edge runs: a block taken or given inside a word (most
 * small ones) leaves the tree alone. Its leaves are chunks of 8 words, each
 * summary joined from the chunk's 8 packed leaves (one cache line): 3 levels
 * fewer than a leaf per word, and those the largest, whose nodes a random
 * change would miss in cache; a search that reaches a chunk walks its 8
 * words. Updates are lazy besides (a dirty list of chunks, flushed before a
 * search reads the tree), and a tree nobody reads goes to sleep: a program
 * that makes no large request (a server's small blocks) stops paying for it
 * until one comes (then the tree is rebuilt whole). It reads the index's
 * bitmap and leaves (index.c) and owns zone__tree_t.
 */
#include "internal.h"
#include "bits.h"

#include <string.h>

/* ---- summaries -------------------------------------------------------------- */

/* A word as the tree sees it: its edge runs only. */
static inline zone__summary_t leaf_edges(uint32_t leaf) {
  zone__summary_t s = {zone__leaf_start(leaf), zone__leaf_end(leaf), 0};
  s.max = s.start > s.end ? s.start : s.end;
  return s;
}

/* A longest run the tree can serve, or 0: the tree answers only sizes above
 * ZONE_REACH_MAX, so a max of 127 or less is kept as 0, and a change among
 * such runs leaves the summary as it was (the walk up stops there). */
static inline uint32_t max_clip(uint32_t max) { return max > ZONE_REACH_MAX ? max : 0; }

/* Joins the summaries of two adjacent spans of `half` granules each. */
static inline zone__summary_t summary_join(zone__summary_t l, zone__summary_t r, uint32_t half) {
  zone__summary_t s;
  s.start = l.start == half ? half + r.start : l.start;
  s.end = r.end == half ? half + l.end : r.end;
  uint32_t across = max_clip(l.end + r.start);
  s.max = l.max > r.max ? l.max : r.max;
  if (across > s.max)
    s.max = across;
  return s;
}

/* A span with no free granule: padding nodes and leaves are this (zero). */
static const zone__summary_t summary_used = {0, 0, 0};

static inline bool summary_equal(zone__summary_t a, zone__summary_t b) {
  return ((a.start ^ b.start) | (a.end ^ b.end) | (a.max ^ b.max)) == 0;
}

/* A leaf's summary in 32 bits: start, end and max, 10 bits each. */
#define CHUNK_FIELD 10
_Static_assert(ZONE_CHUNK_BITS < (1u << CHUNK_FIELD), "a chunk's runs fit a packed field");
static inline uint32_t chunk_pack(zone__summary_t s) {
  return s.start | s.end << CHUNK_FIELD | s.max << 2 * CHUNK_FIELD;
}
#define CHUNK_EDGES ((1u << 2 * CHUNK_FIELD) - 1)  /* start and end */
static inline zone__summary_t chunk_unpack(uint32_t v) {
  const uint32_t field = (1u << CHUNK_FIELD) - 1;
  return (zone__summary_t){v & field, (v >> CHUNK_FIELD) & field, v >> 2 * CHUNK_FIELD};
}

/* Nodes of the level of n ([n, 2n): leaves / n chunks each) that lie over
 * one of the nchunks chunks at least: its real prefix. The rest of a level
 * lies over padding chunks only. A reader passes at most one node past the
 * prefix (a real node's sibling or right child, the next node of a walk),
 * which is kept zero (fully used); the nodes after it are read by nobody and
 * never written, or given back when a growth leaves old nodes there, so the
 * padding's pages hold no memory. The same for the leaves: chunk[] past the
 * last chunk is never written. */
size_t zone__tree_level_real(size_t n, size_t leaves, size_t nchunks) {
  size_t span = leaves / n;
  return (nchunks + span - 1) / span;
}

/* Node i of the tree (types.h): an inner node, or the leaf of chunk
 * i - leaves. */
static inline zone__summary_t tree_node(const zone__tree_t *t, size_t i) {
  return i < t->leaves ? t->node[i] : chunk_unpack(t->chunk[i - t->leaves]);
}

/* Inner node i's children joined (spanning `half` granules each); `low`:
 * they are leaves (i is on the level above them), a test a caller makes once
 * per level. */
static inline zone__summary_t children_join(const zone__tree_t *t, size_t i, uint32_t half, bool low) {
  if (low)
    return summary_join(chunk_unpack(t->chunk[2 * i - t->leaves]), chunk_unpack(t->chunk[2 * i + 1 - t->leaves]),
                        half);
  return summary_join(t->node[2 * i], t->node[2 * i + 1], half);
}

/* Chunk c's summary from its words' edge runs (leaf[] is padded with fully
 * used words to whole chunks): a run of free words adds up, a used granule
 * starts over. Word by word: the portable path, and the check's reference. */
static zone__summary_t chunk_summary_loop(const zone__index_t *ix, size_t c) {
  const uint32_t *leaf = &ix->leaf[c * ZONE_CHUNK_WORDS];
  zone__summary_t s = leaf_edges(leaf[0]);
  uint32_t width = ZONE_WORD_BITS;
  for (size_t j = 1; j < ZONE_CHUNK_WORDS; j++, width += ZONE_WORD_BITS) {
    zone__summary_t r = leaf_edges(leaf[j]);
    uint32_t across = s.end + r.start;
    if (s.start == width)
      s.start += r.start;
    s.end = r.end == ZONE_WORD_BITS ? s.end + ZONE_WORD_BITS : r.end;
    if (r.max > s.max)
      s.max = r.max;
    if (across > s.max)
      s.max = across;
  }
  s.max = max_clip(s.max);
  return s;
}

/* The same, with SSE2 where the target has it. */
static inline zone__summary_t chunk_summary(const zone__index_t *ix, size_t c) {
#ifdef ZONE_SSE2
  const uint32_t *leaf = &ix->leaf[c * ZONE_CHUNK_WORDS];
  /* One pass over the 8 leaves in 16-bit lanes. R[j], the free run that
   * ends at the top of word j, is word j's top run, plus R[j-1] when word j
   * is wholly free (its top run is then 64): a segmented prefix sum, in
   * three doubling steps. Every run that touches a word edge is some R[j]
   * plus word j+1's bottom run, or the first word's bottom run. */
  __m128i lo = _mm_loadu_si128((const __m128i *)leaf), hi = _mm_loadu_si128((const __m128i *)(leaf + 4));
  const __m128i byte = _mm_set1_epi32(0xff);
  __m128i start = _mm_packs_epi32(_mm_and_si128(lo, byte), _mm_and_si128(hi, byte));
  __m128i run = _mm_packs_epi32(_mm_and_si128(_mm_srli_epi32(lo, 8), byte), _mm_and_si128(_mm_srli_epi32(hi, 8), byte));
  __m128i whole = _mm_cmpeq_epi16(start, _mm_set1_epi16(ZONE_WORD_BITS));  /* wholly free words */
  unsigned free_words = (unsigned)_mm_movemask_epi8(_mm_packs_epi16(whole, _mm_setzero_si128()));
  __m128i carry = whole;  /* lane j: words j-d+1 .. j all free */
  run = _mm_add_epi16(run, _mm_and_si128(carry, _mm_slli_si128(run, 2)));
  carry = _mm_and_si128(carry, _mm_slli_si128(carry, 2));
  run = _mm_add_epi16(run, _mm_and_si128(carry, _mm_slli_si128(run, 4)));
  carry = _mm_and_si128(carry, _mm_slli_si128(carry, 4));
  run = _mm_add_epi16(run, _mm_and_si128(carry, _mm_slli_si128(run, 8)));
  __m128i across = _mm_max_epi16(_mm_add_epi16(run, _mm_srli_si128(start, 2)), start);
  across = _mm_max_epi16(across, _mm_shuffle_epi32(across, _MM_SHUFFLE(1, 0, 3, 2)));
  across = _mm_max_epi16(across, _mm_shuffle_epi32(across, _MM_SHUFFLE(2, 3, 0, 1)));
  across = _mm_max_epi16(across, _mm_srli_epi32(across, 16));
  unsigned lead = (unsigned)__builtin_ctz(~free_words);  /* wholly free words at the bottom */
  zone__summary_t s = {lead == ZONE_CHUNK_WORDS ? (uint32_t)ZONE_CHUNK_BITS
                                                : lead * ZONE_WORD_BITS + zone__leaf_start(leaf[lead]),
                       (uint32_t)_mm_extract_epi16(run, 7), max_clip((uint32_t)_mm_cvtsi128_si32(across) & 0xffff)};
  return s;
#else
  return chunk_summary_loop(ix, c);
#endif
}

/* ---- keeping the tree current ------------------------------------------------ */

/* Node i was rewritten with its edge runs as they were: every node above
 * keeps its edge runs too (a node's start, end and the run across its middle
 * read only its children's), so only the maxima move, each the largest of
 * its children's and the run across, up to the first that comes out the
 * same. Every inner node is the join of its children as stored (a walk or a
 * rebuild ends only where that holds), pending chunks or not. */
static inline bool max_step(zone__tree_t *t, size_t i, zone__summary_t l, zone__summary_t r) {
  uint32_t max = l.max > r.max ? l.max : r.max, across = max_clip(l.end + r.start);
  if (across > max)
    max = across;
  if (t->node[i >> 1].max == max)
    return false;
  t->node[i >> 1].max = max;
  return true;
}
static void max_climb(zone__tree_t *t, size_t i) {
  if (i >= t->leaves) {  /* from a leaf: its pair is packed */
    size_t c = (i & ~(size_t)1) - t->leaves;
    if (i == 1 || !max_step(t, i, chunk_unpack(t->chunk[c]), chunk_unpack(t->chunk[c + 1])))
      return;
    i >>= 1;
  }
  for (; i > 1; i >>= 1)
    if (!max_step(t, i, t->node[i & ~(size_t)1], t->node[i | 1]))
      return;
}

/* Stores s as inner node i's summary: true when a climb from i ends here
 * (s is what the node held, or its edge runs stayed and max_climb has
 * carried the maxima up). */
static inline bool node_store(zone__tree_t *t, size_t i, zone__summary_t s) {
  zone__summary_t old = t->node[i];
  if (summary_equal(s, old))
    return true;
  t->node[i] = s;
  if (((s.start ^ old.start) | (s.end ^ old.end)) == 0) {
    max_climb(t, i);
    return true;
  }
  return false;
}

/* Walks chunk c's change up the tree (its leaves are already fresh):
 * recomputes its summary, then each ancestor from its two children, stopping
 * at the first node that comes out unchanged (everything above it then is
 * too, or is another dirty chunk's walk); from the first node whose edge
 * runs stayed, only maxima (max_climb). */
static void path_update(zone__index_t *ix, size_t c) {
  zone__tree_t *t = &ix->tree;
  zone__summary_t cur = chunk_summary(ix, c);
  uint32_t packed = chunk_pack(cur), old = t->chunk[c];
  if (packed == old)
    return;
  t->chunk[c] = packed;
  size_t i = c + t->leaves;
  if (((packed ^ old) & CHUNK_EDGES) == 0) {
    max_climb(t, i);
    return;
  }
  uint32_t half = ZONE_CHUNK_BITS;
  while (i > 1) {
    zone__summary_t sib = tree_node(t, i ^ 1);
    cur = (i & 1) ? summary_join(sib, cur, half) : summary_join(cur, sib, half);
    i >>= 1;
    half *= 2;
    if (node_store(t, i, cur))
      return;
  }
}

/* Walks the listed chunks' changes up the tree from entry `from` on (the
 * last listed) and drops them from the list. */
static void dirty_walk(zone__index_t *ix, size_t from) {
  zone__tree_t *t = &ix->tree;
  for (size_t k = from; k < t->ndirty; k++) {
    size_t c = t->dirty_list[k];
    t->dirty[c] = 0;
    path_update(ix, c);
  }
  t->ndirty = from;
}

/* Every chunk marked stale and the list forgotten: the tree waits for
 * zone__tree_flush to rebuild it whole. While it sleeps, zone__tree_dirty
 * stops at its first test (every byte is 1). */
static void tree_sleep(zone__index_t *ix) {
  zone__tree_t *t = &ix->tree;
  memset(t->dirty, 1, zone__chunks_of(ix->nwords));
  t->ndirty = 0;
  t->asleep = true;
}

/* The tree sleeps once leaves / SLEEP_SHARE chunks were walked unread. */
#define SLEEP_SHARE 8

/* The dirty list is full: its last ZONE_DIRTY_SLICE chunks are walked up
 * the tree, which makes room for as many, unless the walks since a reader
 * last read it (these included) have come to an eighth of the tree's
 * leaves. Then the tree sleeps: a tree nobody reads costs nothing more from
 * here, and one that is read costs at most a rebuild (a chunk's summary per
 * leaf, in order, and a join per node) per such stretch of walks (each a
 * summary and a join per level, scattered): the rule of renting skis until
 * the rent would have bought them. The share was measured
 * (bench/results/PROFILE.md, threads): an eighth beat a whole tree's worth
 * on churn_large and frag; sleeping at the first full list would give up
 * the bound. A slice rather than the whole list bounds the call that
 * overflows it (a walk is a few cache misses in a large zone: at a million
 * blocks, the whole list's 64 took 2.1 us, the median call, a slice of 32
 * takes 1.0), and the chunks left listed still take a busy spot's repeat
 * changes for free. */
static __attribute__((noinline)) void dirty_full(zone__index_t *ix) {
  zone__tree_t *t = &ix->tree;
  t->unread += ZONE_DIRTY_SLICE;
  if (t->unread * SLEEP_SHARE < t->leaves)
    dirty_walk(ix, t->ndirty - ZONE_DIRTY_SLICE);
  else
    tree_sleep(ix);
}

/* Every node exact again, and the counting of walks started over (a reader
 * is about to read the tree). */
void zone__tree_flush(zone__index_t *ix) {
  zone__tree_t *t = &ix->tree;
  t->unread = 0;
  if (t->asleep)
    zone__tree_build(ix);  /* wakes it */
  else
    dirty_walk(ix, 0);
}

/* The chunk's tree leaf and the nodes above are redone lazily, at the next
 * search that needs the tree or when ZONE_DIRTY_MAX chunks are waiting, so a
 * chunk changed many times costs one walk, and walks that share ancestors
 * stop early. A sleeping tree has every chunk marked already. */
ZONE_INLINE_SHARED void zone__tree_dirty(zone__index_t *ix, size_t w) {
  zone__tree_t *t = &ix->tree;
  size_t c = w / ZONE_CHUNK_WORDS;
  if (t->dirty[c])
    return;
  if (t->ndirty == ZONE_DIRTY_MAX) {
    dirty_full(ix);
    if (t->asleep)
      return;
  }
  t->dirty[c] = 1;
  t->dirty_list[t->ndirty++] = (uint32_t)c;
}

void zone__tree_forget(zone__index_t *ix) {
  zone__tree_t *t = &ix->tree;
  if (t->asleep) {
    memset(t->dirty, 0, zone__chunks_of(ix->nwords));
    t->asleep = false;
  }
  for (size_t k = 0; k < t->ndirty; k++)
    t->dirty[t->dirty_list[k]] = 0;
  t->ndirty = 0;
  t->unread = 0;
}

/* The node one past the real prefix of the level of n, which a reader may
 * read (the right child or sibling of the last real node, the next node of a
 * walk), set to zero, as padding is, where it is not: a store only then, so
 * that a page no real node shares stays untouched. */
static void past_cleared(zone__tree_t *t, size_t n, size_t nchunks) {
  size_t past = n + zone__tree_level_real(n, t->leaves, nchunks);
  if (past < 2 * n && !summary_equal(t->node[past], summary_used))
    t->node[past] = summary_used;
}

/* Also wakes a sleeping tree: its chunks are no longer stale. Only the
 * real prefix of each level is written, and the node past it cleared: the
 * rest of the padding is read by nobody. */
void zone__tree_build(zone__index_t *ix) {
  zone__tree_t *t = &ix->tree;
  zone__tree_forget(ix);
  size_t nchunks = zone__chunks_of(ix->nwords);
  for (size_t c = 0; c < nchunks; c++)
    t->chunk[c] = chunk_pack(chunk_summary(ix, c));
  uint32_t half = ZONE_CHUNK_BITS;
  for (size_t n = t->leaves >> 1; n >= 1; n >>= 1, half *= 2) {
    for (size_t i = n, end = n + zone__tree_level_real(n, t->leaves, nchunks); i < end; i++)
      t->node[i] = children_join(t, i, half, 2 * n == t->leaves);
    past_cleared(t, n, nchunks);
  }
}

/* After a growth from old_leaves leaves over old_chunks chunks, the level of
 * n: the nodes that the new layout has as padding and the old one had in its
 * real prefix (the level of n nodes lies where the old level of n nodes lay;
 * when the leaves double, its real prefix shrinks by up to half) are read by
 * nobody now but the first (past_cleared's); the pages wholly among them are
 * given back (no write: a page the old tree never wrote stays untouched), so
 * that the level's padding holds no memory of its own. */
static void stale_given_back(zone__tree_t *t, size_t n, size_t old_leaves, size_t old_chunks, size_t nchunks) {
  if (n >= old_leaves)
    return;  /* past the old nodes: never written */
  size_t now = n + zone__tree_level_real(n, t->leaves, nchunks);
  size_t was = n + zone__tree_level_real(n, old_leaves, old_chunks);
  if (was <= now + 1)
    return;
  size_t page = zone__os_page_size();
  uintptr_t lo = round_up((uintptr_t)&t->node[now + 1], page);  /* past the page of the real nodes */
  uintptr_t hi = round_up((uintptr_t)&t->node[was], page), end = (uintptr_t)&t->node[2 * n] / page * page;
  if (hi > end)
    hi = end;  /* the level's own pages only */
  if (hi > lo)
    zone__os_discard((void *)lo, hi - lo);
}

/* Growth in place: ix is sized for its new words (its leaves count too),
 * whose leaves are written; the words from `from` on changed, and those from
 * free_from to the last but one are wholly free. When the leaves doubled (or
 * more), the old tree becomes the leftmost subtree of the new one: each of
 * its inner levels moves to where those nodes now are, the deepest first (a
 * copy of each level's real prefix, 12 bytes per 8 KiB of zone, within the
 * book's room: the root stays node 1, so no search pays for the growth), and
 * the whole pages of old nodes left in a level's padding are given back
 * (stale_given_back). The leaves stay where they are (chunk[] is indexed by
 * chunk). Then the chunks from from's on are computed and every node above
 * them, a node over wholly free chunks only as the constant it is, without a
 * join, and each level's node past its real prefix is cleared before the
 * level above reads it. Every real node stays the join of its children as
 * stored, so chunks still on the dirty list are walked at the next flush as
 * ever. A sleeping tree moves nothing (but gives back the same pages): the
 * new chunks are marked stale too, and its wake rebuilds it whole. */
void zone__tree_grow(zone__index_t *ix, size_t old_leaves, size_t old_chunks, size_t from, size_t free_from) {
  zone__tree_t *t = &ix->tree;
  size_t nchunks = zone__chunks_of(ix->nwords), leaves = t->leaves;
  if (t->asleep) {
    memset(t->dirty + old_chunks, 1, nchunks - old_chunks);
    for (size_t n = leaves >> 1; n >= 1; n >>= 1)  /* the wake writes the rest */
      stale_given_back(t, n, old_leaves, old_chunks, nchunks);
    return;
  }
  zone__summary_t *node = t->node;
  if (leaves > old_leaves) {
    unsigned s = (unsigned)(ctz64(leaves) - ctz64(old_leaves));
    for (size_t n = old_leaves >> 1; n >= 1; n >>= 1)  /* the inner level of n nodes, [n, 2n) */
      memmove(&node[n << s], &node[n], zone__tree_level_real(n, old_leaves, old_chunks) * sizeof *node);
  }
  size_t c0 = from / ZONE_CHUNK_WORDS, c1 = nchunks - 1;
  /* [f0, f1): the chunks of wholly free words only */
  size_t f0 = (free_from + ZONE_CHUNK_WORDS - 1) / ZONE_CHUNK_WORDS, f1 = (ix->nwords - 1) / ZONE_CHUNK_WORDS;
  if (f0 < c0)
    f0 = c0;
  if (f1 < f0)
    f1 = f0;
  for (size_t c = c0; c <= c1; c++)
    t->chunk[c] = chunk_pack(c >= f0 && c < f1
                                 ? (zone__summary_t){ZONE_CHUNK_BITS, ZONE_CHUNK_BITS, ZONE_CHUNK_BITS}
                                 : chunk_summary(ix, c));
  uint32_t half = ZONE_CHUNK_BITS;
  for (size_t n = leaves >> 1, lo = (c0 + leaves) >> 1, hi = (c1 + leaves) >> 1, shift = 1; n >= 1;
       n >>= 1, lo >>= 1, hi >>= 1, half *= 2, shift++) {
    const zone__summary_t whole = {2 * half, 2 * half, 2 * half};
    for (size_t i = lo; i <= hi; i++) {
      size_t first = (i << shift) - leaves;  /* the node's first chunk */
      bool free = first >= f0 && first + ((size_t)1 << shift) <= f1;
      node[i] = free ? whole : children_join(t, i, half, 2 * n == leaves);
    }
    past_cleared(t, n, nchunks);  /* before the level above reads it */
    stale_given_back(t, n, old_leaves, old_chunks, nchunks);
  }
}

/* A move to a new book (index.c): ix, laid out for more room and sized as
 * `from` is, gets its nodes and its dirty state. */
void zone__tree_copy(zone__index_t *ix, const zone__index_t *from) {
  zone__tree_t *t = &ix->tree;
  const zone__tree_t *f = &from->tree;
  zone_assert(t->leaves == f->leaves);
  size_t nchunks = zone__chunks_of(from->nwords);
  for (size_t n = t->leaves >> 1; n >= 1; n >>= 1)  /* the new book's padding is zero already */
    memcpy(&t->node[n], &f->node[n], zone__tree_level_real(n, t->leaves, nchunks) * sizeof *t->node);
  memcpy(t->chunk, f->chunk, nchunks * sizeof *t->chunk);
  memcpy(t->dirty, f->dirty, zone__chunks_of(from->nwords));
  memcpy(t->dirty_list, f->dirty_list, f->ndirty * sizeof *f->dirty_list);
  t->ndirty = f->ndirty;
  t->unread = f->unread;
  t->asleep = f->asleep;
}

/* Elements [z0, z1) of an array of `size`-byte summaries (inner nodes or
 * leaves), each over wholly used chunks only, set to zero at once when they
 * are many (zone__os_zero gives their pages back): whether it did, the caller
 * then skipping them. */
static inline bool summaries_zeroed(void *array, size_t size, size_t z0, size_t z1) {
  if (z1 <= z0 || (z1 - z0) * size < ZONE_ZERO_DISCARD_BYTES)
    return false;
  zone__os_zero((char *)array + z0 * size, (z1 - z0) * size);
  return true;
}

/* The same for nodes [z0, z1) of one level: the leaves (`low`), or inner
 * nodes. */
static inline bool nodes_zeroed(zone__tree_t *t, size_t z0, size_t z1, bool low) {
  if (z1 <= z0)
    return false;
  if (low)
    return summaries_zeroed(t->chunk, sizeof *t->chunk, z0 - t->leaves, z1 - t->leaves);
  return summaries_zeroed(t->node, sizeof *t->node, z0, z1);
}

/* Inner nodes [a, b) of one level from their children (spanning `half`
 * granules each); whether any changed. */
ZONE_INLINE bool joins_refresh(zone__tree_t *t, size_t a, size_t b, uint32_t half) {
  bool changed = false, low = 2 * a >= t->leaves;
  for (size_t i = a; i < b; i++) {
    zone__summary_t s = children_join(t, i, half, low);
    if (!summary_equal(s, t->node[i])) {
      t->node[i] = s;
      changed = true;
    }
  }
  return changed;
}

/* Inner node i's path up to the root, from its children, while a node
 * changes; from the first whose edge runs stayed, only maxima (max_climb). */
ZONE_INLINE void path_refresh(zone__tree_t *t, size_t i, uint32_t half) {
  for (; i >= 1; i >>= 1, half *= 2)
    if (node_store(t, i, summary_join(tree_node(t, 2 * i), tree_node(t, 2 * i + 1), half)))
      return;
}

/* Level by level over the range, stopping at the first level where nothing
 * moved (a big block taken or given: cheaper at once than chunk by chunk);
 * from the level where the range is one node, up its path as a flush goes.
 * A sleeping tree is left asleep: its wake rebuilds these nodes too. */
void zone__tree_rebuild(zone__index_t *ix, size_t w0, size_t w1, bool taken) {
  zone__tree_t *t = &ix->tree;
  if (t->asleep)
    return;
  size_t c0 = w0 / ZONE_CHUNK_WORDS, c1 = w1 / ZONE_CHUNK_WORDS;
  /* The chunks between the first and last are wholly inside the change. */
  const uint32_t all = taken ? 0 : (uint32_t)ZONE_CHUNK_BITS;
  const uint32_t inner = chunk_pack((zone__summary_t){all, all, all});
  t->chunk[c0] = chunk_pack(chunk_summary(ix, c0));
  for (size_t c = c0 + 1; c < c1; c++)
    t->chunk[c] = inner;
  t->chunk[c1] = chunk_pack(chunk_summary(ix, c1));
  uint32_t half = ZONE_CHUNK_BITS;
  size_t lo = (c0 + t->leaves) >> 1, hi = (c1 + t->leaves) >> 1;
  for (; lo < hi; lo >>= 1, hi >>= 1, half *= 2)
    if (!joins_refresh(t, lo, hi + 1, half))
      return;
  path_refresh(t, lo, half);
}

void zone__tree_rebuild_used(zone__index_t *ix, size_t w0, size_t w1, size_t u0, size_t u1) {
  zone__tree_t *t = &ix->tree;
  if (t->asleep)
    return;
  size_t c0 = w0 / ZONE_CHUNK_WORDS, c1 = w1 / ZONE_CHUNK_WORDS;
  /* [z0, z1): the nodes of the level at hand over wholly used chunks only.
   * Of each level's nodes, [lo, stop) and [resume, hi] are computed, the
   * nodes between zeroed. */
  size_t z0 = (u0 + ZONE_CHUNK_WORDS - 1) / ZONE_CHUNK_WORDS + t->leaves;
  size_t z1 = u1 / ZONE_CHUNK_WORDS + t->leaves;
  bool zeroed = nodes_zeroed(t, z0, z1, true);
  size_t stop = zeroed ? z0 - t->leaves : c1 + 1, resume = zeroed ? z1 - t->leaves : c1 + 1;
  for (size_t c = c0; c < stop; c++)
    t->chunk[c] = chunk_pack(chunk_summary(ix, c));
  for (size_t c = resume; c <= c1; c++)
    t->chunk[c] = chunk_pack(chunk_summary(ix, c));
  uint32_t half = ZONE_CHUNK_BITS;
  size_t lo = (c0 + t->leaves) >> 1, hi = (c1 + t->leaves) >> 1;
  for (; lo < hi; lo >>= 1, hi >>= 1, half *= 2) {
    z0 = (z0 + 1) / 2;
    z1 = z1 / 2;
    zeroed = nodes_zeroed(t, z0, z1, false);
    stop = zeroed ? z0 : hi + 1;
    resume = zeroed ? z1 : hi + 1;
    bool changed = joins_refresh(t, lo, stop, half);
    changed = joins_refresh(t, resume, hi + 1, half) || changed || zeroed;  /* both refreshed */
    if (!changed)
      return;
  }
  path_refresh(t, lo, half);
}

/* ---- search ------------------------------------------------------------------- */

/* The lowest start of n > 64 free granules in chunk c at or after granule
 * `from`, counting `carry` free granules that end where the chunk begins, or
 * ZONE_NONE (then *carry is the free run at the chunk's end). Such a run
 * always crosses a word edge, so each word counts by its edge runs: the free
 * granules at its bottom continue the run, those at its top begin the next. */
static size_t chunk_fit(const zone__index_t *ix, size_t c, size_t n, size_t from, size_t *carry) {
  zone_assert(n > ZONE_WORD_BITS);
  size_t run = *carry;
  size_t w_end = (c + 1) * ZONE_CHUNK_WORDS < ix->nwords ? (c + 1) * ZONE_CHUNK_WORDS : ix->nwords;
  for (size_t w = c * ZONE_CHUNK_WORDS; w < w_end; w++) {
    uint64_t avail = ~ix->used[w];
    size_t lo = w * ZONE_WORD_BITS;
    if (from > lo)
      avail = from - lo >= ZONE_WORD_BITS ? 0 : avail & (ALL_ONES << (from - lo));
    unsigned bottom = avail == ALL_ONES ? ZONE_WORD_BITS : ctz64(~avail);
    if (run + bottom >= n)
      return lo - run;
    run = avail == ALL_ONES ? run + ZONE_WORD_BITS : (avail >> 63 ? clz64(~avail) : 0);
  }
  *carry = w_end == (c + 1) * ZONE_CHUNK_WORDS ? run : 0;  /* past nwords: used */
  return ZONE_NONE;
}

/* chunk_fit from the chunk's start with nothing carried in, from the leaves:
 * the descent reaches the chunk only when a fit starts in it (leaves past
 * nwords read as used). */
static size_t chunk_fit_first(const zone__index_t *ix, size_t c, size_t n) {
  const uint32_t *leaf = &ix->leaf[c * ZONE_CHUNK_WORDS];
  size_t run = 0;
  for (size_t j = 0; j < ZONE_CHUNK_WORDS; j++) {
    unsigned bottom = zone__leaf_start(leaf[j]);
    if (run + bottom >= n)
      return (c * ZONE_CHUNK_WORDS + j) * ZONE_WORD_BITS - run;
    run = bottom == ZONE_WORD_BITS ? run + ZONE_WORD_BITS : zone__leaf_end(leaf[j]);
  }
  return ZONE_NONE;
}

/* The lowest fit of n > 64 granules anywhere: the root-to-leaf descent. */
static size_t fit_lowest(const zone__index_t *ix, size_t n) {
  const zone__tree_t *t = &ix->tree;
  if (n > ix->ngran || tree_node(t, 1).max < n)
    return ZONE_NONE;
  size_t i = 1, lo = 0, span = t->leaves * ZONE_CHUNK_BITS;
  while (i < t->leaves) {
    size_t half = span / 2;
    zone__summary_t l = tree_node(t, 2 * i);
    if (l.max >= n) {
      i = 2 * i;
      span = half;
      continue;
    }
    zone__summary_t r = tree_node(t, 2 * i + 1);
    if ((size_t)l.end + r.start >= n)
      return lo + half - l.end;
    i = 2 * i + 1;
    lo += half;
    span = half;
  }
  size_t g = chunk_fit_first(ix, i - t->leaves, n);
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
static size_t fit_scan(const zone__index_t *ix, size_t i, size_t lo, size_t span, size_t from,
                       size_t n, size_t *carry) {
  if (lo + span <= from)
    return ZONE_NONE;
  if (lo >= from) {
    zone__summary_t s = tree_node(&ix->tree, i);
    if (*carry + s.start >= n)
      return lo - *carry;
    if (s.max < n) {
      *carry = s.start == span ? *carry + span : s.end;
      return ZONE_NONE;
    }
  }
  if (i >= ix->tree.leaves)
    return chunk_fit(ix, i - ix->tree.leaves, n, from, carry);
  size_t half = span / 2;
  size_t r = fit_scan(ix, 2 * i, lo, half, from, n, carry);
  if (r != ZONE_NONE)
    return r;
  return fit_scan(ix, 2 * i + 1, lo + half, half, from, n, carry);
}

/* The lowest fit of n granules at or after `from`, the tree brought up to
 * date first. */
size_t zone__tree_fit(zone__index_t *ix, size_t n, size_t from) {
  zone__tree_flush(ix);
  if (from == 0)
    return fit_lowest(ix, n);
  if (from >= ix->ngran || n > ix->ngran - from)
    return ZONE_NONE;
  size_t carry = 0;
  size_t g = fit_scan(ix, 1, 0, ix->tree.leaves * ZONE_CHUNK_BITS, from, n, &carry);
  return g != ZONE_NONE && g + n <= ix->ngran ? g : ZONE_NONE;
}

/* The first used granule at or after the free granule g (ngran when the
 * run reaches the end): the rest of g's chunk off the bitmap, then whole free
 * nodes passed over from the tree, the lowest one widened while it ends a
 * right child, until a node that is not wholly free, whose run from its low
 * end (its summary's start, exact) ends the run. O(log n) whatever its
 * length: a trim's walk over the free tail no longer reads it word by word. */
size_t zone__tree_run_end(zone__index_t *ix, size_t g) {
  zone__tree_flush(ix);
  size_t w = g / ZONE_WORD_BITS;
  size_t stop = (w / ZONE_CHUNK_WORDS + 1) * ZONE_CHUNK_WORDS;
  if (stop > ix->nwords)
    stop = ix->nwords;
  uint64_t u = ix->used[w] & (ALL_ONES << (g % ZONE_WORD_BITS));
  while (u == 0 && ++w < stop)
    u = ix->used[w];
  if (u != 0)
    return w * ZONE_WORD_BITS + ctz64(u);
  if (stop == ix->nwords)  /* the last word wholly free: ngran is a multiple of 64 */
    return ix->ngran;
  const zone__tree_t *t = &ix->tree;
  size_t i = stop / ZONE_CHUNK_WORDS + t->leaves, span = ZONE_CHUNK_BITS, at = stop * ZONE_WORD_BITS;
  while (tree_node(t, i).start == span) {
    at += span;
    for (; i & 1; i >>= 1)  /* a right child: its parent ends where it does */
      span *= 2;
    if (i == 0)
      return at < ix->ngran ? at : ix->ngran;
    i++;
  }
  at += tree_node(t, i).start;
  return at < ix->ngran ? at : ix->ngran;
}

size_t zone__tree_largest(zone__index_t *ix) {
  zone__tree_flush(ix);
  return tree_node(&ix->tree, 1).max;
}

/* ---- invariants ---------------------------------------------------------------- */

int zone__tree_check(zone__index_t *ix, uintptr_t base) {
  zone__tree_t *t = &ix->tree;
  zone__tree_flush(ix);
  size_t nchunks = zone__chunks_of(ix->nwords);
  for (size_t c = 0; c < nchunks; c++)
    if (t->dirty[c] != 0)
      return zone__check_fail(ZONE_CHECK_DIRTY_LEFT, "extent %p", (void *)base);
  /* Each level's real prefix and the node past it, which readers read (a
   * padding node, zero); the rest of the padding is read by nobody, and is
   * not read here either, so that it stays without memory. */
  for (size_t c = 0; c < t->leaves && c <= nchunks; c++) {
    zone__summary_t s = c < nchunks ? chunk_summary_loop(ix, c) : summary_used;
    if (!summary_equal(s, tree_node(t, c + t->leaves)))
      return zone__check_fail(ZONE_CHECK_TREE_STALE, "extent %p chunk %zu", (void *)base, c);
  }
  uint32_t half = ZONE_CHUNK_BITS;
  for (size_t level_lo = t->leaves >> 1; level_lo >= 1; level_lo >>= 1, half *= 2) {
    size_t past = level_lo + zone__tree_level_real(level_lo, t->leaves, nchunks);
    for (size_t i = level_lo; i < 2 * level_lo && i <= past; i++) {
      zone__summary_t s = i < past ? summary_join(tree_node(t, 2 * i), tree_node(t, 2 * i + 1), half) : summary_used;
      if (!summary_equal(s, t->node[i]))
        return zone__check_fail(ZONE_CHECK_TREE_STALE, "extent %p node %zu", (void *)base, i);
    }
  }
  return 0;
}
