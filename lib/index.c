/*
 * index.c - the placement index of one extent: which granules are live, where
 * blocks end, and the two search indexes kept over them (reach.c for small
 * requests, tree.c for large ones). It takes and gives granules, answers the
 * lowest fit, and checks its own invariants (types.h).
 *
 * Why a bitmap rather than an address-ordered tree of free regions: the
 * bookkeeping is bounded by the zone's size whatever the pattern (2 bits per
 * 16-byte granule plus about 9 bytes per 1 KiB of zone: 2.5% in all), it
 * never grows a node per block or per hole, and it needs no memory of its own
 * when a free splits a region. The cost is linear in the size of a block when
 * it is taken or given (a bit per granule, a word per 64), which is a 1/1024
 * fraction of the bytes a program touches anyway.
 *
 * Each word has a packed leaf (its bottom run, top run and longest run) that
 * both indexes read; a change to a word refreshes its leaf here and tells the
 * index whose view moved: the reach bytes at once, the tree lazily.
 */
#include "internal.h"
#include "bits.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

/* Bookkeeping from this size up asks for huge pages (os.c). */
#define HUGE_BOOK_BYTES ((size_t)4 << 20)

/* ---- bit helpers ------------------------------------------------------------ */
/* Sets (value = true) or clears the bits [lo, hi) of map. */
ZONE_INLINE void bits_assign(uint64_t *map, size_t lo, size_t hi, bool value) {
  if (lo >= hi)
    return;
  size_t w0 = lo / ZONE_WORD_BITS, w1 = (hi - 1) / ZONE_WORD_BITS;
  unsigned b0 = lo % ZONE_WORD_BITS, b1 = (unsigned)((hi - 1) % ZONE_WORD_BITS) + 1;
  if (w0 == w1) {
    uint64_t m = bits_between(b0, b1);
    map[w0] = value ? map[w0] | m : map[w0] & ~m;
    return;
  }
  uint64_t first = bits_between(b0, ZONE_WORD_BITS), last = bits_between(0, b1);
  map[w0] = value ? map[w0] | first : map[w0] & ~first;
  if (!value && (w1 - w0 - 1) * sizeof *map >= ZONE_ZERO_DISCARD_BYTES)
    zone__os_zero(&map[w0 + 1], (w1 - w0 - 1) * sizeof *map);  /* a big block freed */
  else
    for (size_t w = w0 + 1; w < w1; w++)
      map[w] = value ? ALL_ONES : 0;
  map[w1] = value ? map[w1] | last : map[w1] & ~last;
}

/* Longest run of set bits in x. Iterates once per run. */
static unsigned longest_run(uint64_t x) {
  if (x == ALL_ONES)
    return ZONE_WORD_BITS;
  unsigned best = 0;
  while (x != 0) {
    x >>= ctz64(x);
    unsigned run = ctz64(~x);  /* x != ALL_ONES here, so ~x != 0 */
    if (run > best)
      best = run;
    x = run == ZONE_WORD_BITS ? 0 : x >> run;
  }
  return best;
}

/* Word w's leaf from its bits. */
static inline uint32_t leaf_of_word(uint64_t used) {
  if (used == 0)
    return zone__leaf_pack(ZONE_WORD_BITS, ZONE_WORD_BITS, ZONE_WORD_BITS);
  return zone__leaf_pack(ctz64(used), clz64(used), longest_run(~used));
}

/* The same for a word a take has just written, which has a used granule:
 * no wholly free case, and no free run of 64 to stop the scan's shift. */
static inline uint32_t leaf_of_taken(uint64_t used) {
  zone_assert(used != 0);
  unsigned best = 0;
  for (uint64_t x = ~used; x != 0;) {
    x >>= ctz64(x);
    unsigned run = ctz64(~x);  /* below 64: used has a set bit, so x a clear one */
    if (run > best)
      best = run;
    x >>= run;
  }
  return zone__leaf_pack(ctz64(used), clz64(used), best);
}

/* ---- keeping the indexes current --------------------------------------------------- */

/* Sets word w's leaf to v; returns the fields that moved (packed). A move
 * of its edge runs is noted for the tree. */
ZONE_INLINE uint32_t word_set(zone__index_t *ix, size_t w, uint32_t v) {
  uint32_t moved = v ^ ix->leaf[w];
  ix->leaf[w] = v;
  if (moved & ZONE_LEAF_EDGES)
    zone__tree_dirty(ix, w);
  return moved;
}

/* Refreshes word w's leaf (*fresh) from its bits: word_set. */
ZONE_INLINE uint32_t word_changed(zone__index_t *ix, size_t w, uint32_t *fresh) {
  *fresh = leaf_of_word(ix->used[w]);
  return word_set(ix, w, *fresh);
}

/* The leaf of a word whose bits are now u after a take cut its free run of
 * `cut` granules at one edge (its top or bottom run), from its leaf before:
 * the longest run is rescanned only when the cut run was as long. */
static inline uint32_t leaf_cut(uint32_t leaf, uint64_t u, unsigned cut) {
  if (zone__leaf_max(leaf) > cut)
    return zone__leaf_pack(ctz64(u), clz64(u), zone__leaf_max(leaf));
  return leaf_of_word(u);
}

/* Word w's leaf after a give freed granules at its top (top) or its bottom,
 * from the leaf before: those granules and the free ones next to them make
 * its top (bottom) run, the new longest or no longer than the old. */
static inline uint32_t leaf_given(uint32_t old, uint64_t used, bool top) {
  if (used == 0)
    return zone__leaf_pack(ZONE_WORD_BITS, ZONE_WORD_BITS, ZONE_WORD_BITS);
  unsigned start = ctz64(used), end = clz64(used), run = top ? end : start;
  return zone__leaf_pack(start, end, run > zone__leaf_max(old) ? run : zone__leaf_max(old));
}

/* Word w's bottom run moved, the free granules from it on now `cont`
 * (zone__reach_cont): the bytes whose top runs may go on into it, w - 1's,
 * and w - 2's when w - 1 is wholly free. */
ZONE_INLINE void reach_below(zone__index_t *ix, size_t w, unsigned cont, bool given) {
  if (w == 0)
    return;
  uint32_t below = ix->leaf[w - 1];
  zone__reach_move(ix, w - 1, zone__reach_from(below, cont), given);
  if (__builtin_expect(zone__leaf_start(below) == ZONE_WORD_BITS, 0) && w >= 2)
    zone__reach_move(ix, w - 2, zone__reach_from(ix->leaf[w - 2], ZONE_WORD_BITS + cont), given);
}

/* After a long range from word w0 on, whose bytes from w0 - 1 up were
 * refreshed: w0 - 2's, which reads w0's bottom run through a wholly free
 * w0 - 1. */
static inline void reach_two_below(zone__index_t *ix, size_t w0) {
  if (w0 >= 2 && ix->used[w0 - 1] == 0)
    zone__reach_set(ix, w0 - 2, zone__reach_of(ix, w0 - 2));
}

/* The long range of words_changed: leaves and reach bytes at once, the tree
 * too when the range spans chunks (one chunk is marked dirty, as a small
 * change is: its walk waits for the next flush, and a chunk changed again
 * before then costs no second walk). The words between w0 and w1 are
 * wholly inside the change, so wholly used (taken) or wholly free (given):
 * their leaves are constants. Of the two edge words, a take scans them, a
 * give reads their new runs off the bitmap (the change is at w0's top and
 * w1's bottom). */
static void words_rebuild(zone__index_t *ix, size_t w0, size_t w1, bool taken) {
  if (taken) {
    ix->leaf[w0] = leaf_of_word(ix->used[w0]);
    ix->leaf[w1] = leaf_of_word(ix->used[w1]);
  } else {
    ix->leaf[w0] = leaf_given(ix->leaf[w0], ix->used[w0], true);
    ix->leaf[w1] = leaf_given(ix->leaf[w1], ix->used[w1], false);
  }
  if (taken && (w1 - w0 - 1) * sizeof *ix->leaf >= ZONE_ZERO_DISCARD_BYTES) {
    /* A big block taken: the words between are wholly used, their leaves,
     * the tree's summaries and the reach bytes over them zero, which a long
     * range gives back rather than writes (zone__os_zero). */
    zone__os_zero(&ix->leaf[w0 + 1], (w1 - w0 - 1) * sizeof *ix->leaf);
    zone__tree_rebuild_used(ix, w0, w1, w0 + 1, w1);
    zone__reach_update_used(ix, w0 > 0 ? w0 - 1 : 0, w1, w0 + 1, w1);
    reach_two_below(ix, w0);
    return;
  }
  const uint32_t inner = taken ? 0 : zone__leaf_pack(ZONE_WORD_BITS, ZONE_WORD_BITS, ZONE_WORD_BITS);
  for (size_t w = w0 + 1; w < w1; w++)
    ix->leaf[w] = inner;
  if (w0 / ZONE_CHUNK_WORDS == w1 / ZONE_CHUNK_WORDS)
    zone__tree_dirty(ix, w0);  /* one chunk: one walk at the next flush, as small changes */
  else
    zone__tree_rebuild(ix, w0, w1, taken);
  zone__reach_update(ix, w0 > 0 ? w0 - 1 : 0, w1, taken ? 0 : ZONE_REACH_MAX);
  reach_two_below(ix, w0);
}

/* Words w0 and w1 (w1 == w0 or w0 + 1) have fresh leaves leaf0 and leaf1,
 * moved as given: the reach bytes that read them. A word's byte reads its
 * own leaf and the next word's start: only those moving rewrite it, from the
 * leaves at hand (not read back). Granules given (`given`) only raise
 * reach bytes, granules taken only lower them: zone__reach_move compiles in
 * that half only. */
ZONE_INLINE void reach_moved(zone__index_t *ix, size_t w0, size_t w1, uint32_t moved0, uint32_t moved1,
                             uint32_t leaf0, uint32_t leaf1, bool given) {
  if (w1 != w0 && moved1 != 0)
    zone__reach_move(ix, w1, zone__reach_of_leaf(ix, w1, leaf1), given);
  if (moved0 != 0 || zone__leaf_start(moved1) != 0)
    zone__reach_move(ix, w0,
                     w1 != w0 ? zone__reach_from(leaf0, zone__reach_cont(ix, w1, leaf1))
                              : zone__reach_of_leaf(ix, w0, leaf0),
                     given);
  if (zone__leaf_start(moved0) != 0)
    reach_below(ix, w0, zone__reach_cont(ix, w0, leaf0), given);
}

/* The leaf of a word whose bits are now u after a give of the bits m (one
 * run), from its leaf before, without a scan: the freed bits join the free
 * granules around them into one run, the new longest or no longer than the
 * old. */
static inline uint32_t leaf_after_give(uint32_t leaf, uint64_t u, uint64_t m) {
  if (u == 0)
    return zone__leaf_pack(ZONE_WORD_BITS, ZONE_WORD_BITS, ZONE_WORD_BITS);
  uint64_t low = (m & (0 - m)) - 1;  /* the bits below m */
  uint64_t below = u & low, above = u & ~(m | low);
  unsigned s = below != 0 ? ZONE_WORD_BITS - clz64(below) : 0;
  unsigned e = above != 0 ? ctz64(above) : ZONE_WORD_BITS;
  unsigned max = zone__leaf_max(leaf);
  return zone__leaf_pack(ctz64(u), clz64(u), e - s > max ? e - s : max);
}

/* Frees the bits m (one run) of word w and refreshes its leaf (*fresh)
 * (leaf_after_give). Returns the leaf fields that moved, a move of its edge
 * runs noted for the tree. */
ZONE_INLINE uint32_t word_give(zone__index_t *ix, size_t w, uint64_t m, uint32_t *fresh) {
  uint64_t u = ix->used[w] & ~m;
  ix->used[w] = u;
  uint32_t leaf = ix->leaf[w], v = leaf_after_give(leaf, u, m);
  uint32_t moved = v ^ leaf;
  ix->leaf[w] = v;
  *fresh = v;
  if (moved & ZONE_LEAF_EDGES)
    zone__tree_dirty(ix, w);
  return moved;
}

/* Words [w0, w1] changed, the granules between their first and last all
 * taken (`taken`) or all given: a few are noted dirty; a long range (a big
 * block) is brought up to date at once, level by level. A word's reach byte
 * reads its own leaf and the next word's start: only those moving rewrite it. */
ZONE_INLINE void words_changed(zone__index_t *ix, size_t w0, size_t w1, bool taken) {
  if (w1 - w0 < 2) {
    uint32_t leaf0, leaf1 = 0;
    uint32_t moved0 = word_changed(ix, w0, &leaf0), moved1 = w1 != w0 ? word_changed(ix, w1, &leaf1) : 0;
    reach_moved(ix, w0, w1, moved0, moved1, leaf0, leaf1, !taken);
    return;
  }
  words_rebuild(ix, w0, w1, taken);
}

/* Pad bits past ngran in the last word count as used forever. */
static uint64_t pad_bits(const zone__index_t *ix) {
  unsigned tail = (unsigned)(ix->ngran % ZONE_WORD_BITS);
  return tail != 0 ? bits_between(tail, ZONE_WORD_BITS) : 0;
}
static void mark_pad(zone__index_t *ix) {
  uint64_t pad = pad_bits(ix);
  if (pad != 0)
    ix->used[ix->nwords - 1] |= pad;
}

/* Every leaf, then both indexes, for an empty index (init, reset): the
 * bitmap is zero but for the last word's pad bits (mark_pad), so every leaf
 * is known without reading it. A read of a page never written makes it
 * resident (on some kernels as a page of its own, where others map a shared
 * zero page): reading the bitmap here made all of it resident at once. */
static void index_build(zone__index_t *ix) {
  uint32_t free_leaf = leaf_of_word(0);
  for (size_t w = 0; w + 1 < ix->nwords; w++)
    ix->leaf[w] = free_leaf;
  ix->leaf[ix->nwords - 1] = leaf_of_word(pad_bits(ix));
  zone__tree_build(ix);
  zone__reach_build(ix);
}

/* ---- the book ---------------------------------------------------------------- */

/*
 * Every array of an index lives in one reservation of address space, the
 * book, laid out for cap_words words, more than the index has when it may
 * grow (zone__index_init's room): each array at the offset it would have at
 * that size, and only the part in use committed. Growth within the room
 * commits the pages the new words need and writes only what is new: the
 * new words' used and end bits are zero already (fresh pages), their leaves
 * take the wholly-free constant, and the reach bytes and tree nodes above
 * them are computed. No array moves and the bitmaps, leaves and reach bytes
 * are not copied; the summary tree's inner nodes, 1/680 of the zone's
 * bytes, shift level by level within their room when the leaves double
 * (tree.c), so that the root stays node 1 for every search. Past the room,
 * the index moves to a new book with room again (a copy of the words in
 * use, as rare as the room makes it). The committed pages are only those in
 * use: the room costs address space and, each array's part in use ending in
 * a page of its own, a few pages (about 8 KiB). A book with no room (grow.c
 * gives none to small extents, to zones that never grow, or under an
 * RLIMIT_AS) is the arrays packed for the size, mapped read/write whole.
 */

/* Arrays of this size and up start on a boundary of it, in a book that starts
 * on one: transparent huge pages can back them whole. */
#define BOOK_HUGE_PAGE ((size_t)2 << 20)

/* Bitmap words for n bits: the used and end bits of n granules, the freed
 * and waiting marks of n chunks. */
static size_t words_of(size_t n) { return (n + ZONE_WORD_BITS - 1) / ZONE_WORD_BITS; }

/* Words of trim.c's returned[] for nwords bitmap words: a bit per page. */
static size_t returned_words(size_t nwords) {
  size_t per_page = zone__os_page_size() / ZONE_G;
  return words_of((nwords * ZONE_WORD_BITS + per_page - 1) / per_page);
}

/* Tree leaves over nchunks chunks: a power of two. */
static size_t leaves_for(size_t nchunks) {
  size_t leaves = 1;
  while (leaves < nchunks)
    leaves *= 2;
  return leaves;
}

/* An array of `bytes` appended to a layout that ends at *at: its offset
 * (8-byte aligned, or on a huge page for a large array). */
static size_t book_place(size_t *at, size_t bytes) {
  size_t off = round_up(*at, bytes >= BOOK_HUGE_PAGE ? BOOK_HUGE_PAGE : 8);
  *at = off + bytes;
  return off;
}

/* Lays ix's arrays out for cap_words words in a book at address 0 (the
 * pointers are offsets until book_attach): the book's bytes. */
static size_t book_layout(zone__index_t *ix, size_t cap_words) {
  size_t cap_chunks = zone__chunks_of(cap_words), cap_leaves = leaves_for(cap_chunks), at = 0;
  ix->cap_words = cap_words;
  ix->used = (uint64_t *)book_place(&at, cap_words * sizeof(uint64_t));
  ix->end = (uint64_t *)book_place(&at, cap_words * sizeof(uint64_t));
  ix->leaf = (uint32_t *)book_place(&at, cap_chunks * ZONE_CHUNK_WORDS * sizeof(uint32_t));
  ix->cross = (uint32_t *)book_place(&at, cap_chunks * sizeof(uint32_t));
  /* the list (fixed) first: the freed and waiting marks and the dirty bytes
   * in use then share its page */
  ix->tree.dirty_list = (uint32_t *)book_place(&at, ZONE_DIRTY_MAX * sizeof(uint32_t));
  ix->freed = (uint64_t *)book_place(&at, words_of(cap_chunks) * sizeof(uint64_t));
  ix->waiting = (uint64_t *)book_place(&at, words_of(cap_chunks) * sizeof(uint64_t));
  ix->tree.dirty = (uint8_t *)book_place(&at, cap_chunks);
  ix->returned = (uint64_t *)book_place(&at, returned_words(cap_words) * sizeof(uint64_t));
  /* [1, leaves) inner nodes, and a leaf per chunk packed in 32 bits: room
   * for the capacity's */
  ix->tree.node = (zone__summary_t *)book_place(&at, cap_leaves * sizeof(zone__summary_t));
  ix->tree.chunk = (uint32_t *)book_place(&at, cap_leaves * sizeof(uint32_t));
  ix->reach.bytes = (uint8_t *)book_place(&at, zone__reach_layout(&ix->reach, cap_words));
  return round_up(at, zone__os_page_size());
}

/* Turns the offsets of book_layout into pointers into book. */
static void book_attach(zone__index_t *ix, char *book) {
  ix->used = (uint64_t *)(book + (uintptr_t)ix->used);
  ix->end = (uint64_t *)(book + (uintptr_t)ix->end);
  ix->leaf = (uint32_t *)(book + (uintptr_t)ix->leaf);
  ix->cross = (uint32_t *)(book + (uintptr_t)ix->cross);
  ix->tree.dirty = (uint8_t *)(book + (uintptr_t)ix->tree.dirty);
  ix->tree.dirty_list = (uint32_t *)(book + (uintptr_t)ix->tree.dirty_list);
  ix->tree.node = (zone__summary_t *)(book + (uintptr_t)ix->tree.node);
  ix->tree.chunk = (uint32_t *)(book + (uintptr_t)ix->tree.chunk);
  zone__reach_attach(&ix->reach, (uint8_t *)book + (uintptr_t)ix->reach.bytes);
  ix->freed = (uint64_t *)(book + (uintptr_t)ix->freed);
  ix->waiting = (uint64_t *)(book + (uintptr_t)ix->waiting);
  ix->returned = (uint64_t *)(book + (uintptr_t)ix->returned);
  ix->book = book;
}

/* Address space for a book of len bytes, on a huge page boundary when it
 * is that large (and the 2 MiB more that takes can be had), or NULL. */
static char *book_reserve(size_t len) {
  if (len < BOOK_HUGE_PAGE)
    return zone__os_reserve(NULL, len);
  char *r = len <= SIZE_MAX - BOOK_HUGE_PAGE ? zone__os_reserve(NULL, len + BOOK_HUGE_PAGE) : NULL;
  if (r == NULL)
    return zone__os_reserve(NULL, len);
  char *book = (char *)round_up((uintptr_t)r, BOOK_HUGE_PAGE);
  zone__os_unmap(r, (size_t)(book - r));
  zone__os_unmap(book + len, (size_t)(r + BOOK_HUGE_PAGE - book));
  return book;
}

/* A range of the book's bytes, [lo, hi). */
typedef struct book_range {
  size_t lo, hi;
} book_range_t;

/* The book's ranges: nine arrays, the tree's two, the reach levels; with
 * the tree's inner levels one by one instead of its node array, one range
 * more per level (fewer than the bits of a leaf count). */
#define BOOK_RANGES (11 + ZONE_REACH_LEVELS)
#define BOOK_RANGES_FINE (BOOK_RANGES + 8 * sizeof(size_t))

/* The bytes of the book an index of nwords words uses, as ranges in the
 * order of their offsets: each array's part in use, the tree's nodes, each
 * reach level's bytes (an empty range for a level it does not have). The
 * same book gives the same ranges in the same places for any nwords
 * (book_commit pairs them). With `fine`, the tree's nodes and leaves are
 * their real prefixes alone, a range per inner level (tree.c: the padding
 * over chunks past the last is never written, and holds no memory): what
 * book_used counts. Returns their count. */
static size_t book_ranges(const zone__index_t *ix, size_t nwords, book_range_t *out, bool fine) {
  const char *book = ix->book;
  size_t nchunks = zone__chunks_of(nwords), leaves = nwords != 0 ? leaves_for(nchunks) : 0, n = 0;
#define BOOK_RANGE(p, bytes) \
  (out[n].lo = (size_t)((const char *)(p) - book), out[n].hi = out[n].lo + (bytes), n++)
  BOOK_RANGE(ix->used, nwords * sizeof(uint64_t));
  BOOK_RANGE(ix->end, nwords * sizeof(uint64_t));
  BOOK_RANGE(ix->leaf, nchunks * ZONE_CHUNK_WORDS * sizeof(uint32_t));
  BOOK_RANGE(ix->cross, nchunks * sizeof(uint32_t));
  BOOK_RANGE(ix->tree.dirty_list, nwords != 0 ? ZONE_DIRTY_MAX * sizeof(uint32_t) : 0);
  BOOK_RANGE(ix->freed, nwords != 0 ? words_of(nchunks) * sizeof(uint64_t) : 0);
  BOOK_RANGE(ix->waiting, nwords != 0 ? words_of(nchunks) * sizeof(uint64_t) : 0);
  BOOK_RANGE(ix->tree.dirty, nchunks);
  BOOK_RANGE(ix->returned, nwords != 0 ? returned_words(nwords) * sizeof(uint64_t) : 0);
  if (fine) {
    for (size_t k = 1; k < leaves; k *= 2)
      BOOK_RANGE(ix->tree.node + k, zone__tree_level_real(k, leaves, nchunks) * sizeof(zone__summary_t));
    BOOK_RANGE(ix->tree.chunk, nchunks * sizeof(uint32_t));
  } else {
    BOOK_RANGE(ix->tree.node, leaves * sizeof(zone__summary_t));
    BOOK_RANGE(ix->tree.chunk, leaves * sizeof(uint32_t));
  }
  for (size_t k = 0; k < ix->reach.cap_levels; k++)
    BOOK_RANGE(ix->reach.level[k], zone__reach_bytes(nwords, k));
#undef BOOK_RANGE
  zone_assert(n <= (fine ? BOOK_RANGES_FINE : BOOK_RANGES));
  return n;
}

/* Makes the pages that an index of nwords words uses and one of old_words
 * did not read/write, each run of them at once: 0, or ENOMEM (what was
 * committed stays so: untouched, it holds no memory). */
static int book_commit(const zone__index_t *ix, size_t old_words, size_t nwords) {
  book_range_t was[BOOK_RANGES], now[BOOK_RANGES];
  size_t n = book_ranges(ix, old_words, was, false), page = zone__os_page_size();
  book_ranges(ix, nwords, now, false);
  size_t run_lo = 0, run_hi = 0;
  for (size_t i = 0; i <= n; i++) {
    size_t lo = 0, hi = 0;
    if (i < n && now[i].hi > now[i].lo) {
      lo = was[i].hi > was[i].lo ? round_up(was[i].hi, page) : now[i].lo / page * page;
      hi = round_up(now[i].hi, page);
    }
    if (hi <= lo && i < n)
      continue;
    if (i < n && lo <= run_hi && run_hi > run_lo) {  /* joins the run */
      run_hi = hi > run_hi ? hi : run_hi;
      continue;
    }
    if (run_hi > run_lo && zone__os_commit((char *)ix->book + run_lo, run_hi - run_lo) != 0)
      return ENOMEM;
    run_lo = lo;
    run_hi = hi;
  }
  return 0;
}

/* The bytes of the pages an index of nwords words uses (book_used). */
static size_t book_committed(const zone__index_t *ix, size_t nwords) {
  book_range_t r[BOOK_RANGES_FINE];
  size_t n = book_ranges(ix, nwords, r, true), page = zone__os_page_size(), total = 0, end = 0;
  for (size_t i = 0; i < n; i++) {
    if (r[i].hi == r[i].lo)
      continue;
    size_t lo = r[i].lo / page * page, hi = round_up(r[i].hi, page);
    if (lo < end)
      lo = end;
    if (hi > lo)
      total += hi - lo;
    if (hi > end)
      end = hi;
  }
  return total;
}

/* ---- lifecycle ---------------------------------------------------------------- */

/* Sets what depends on the size, ngran granules, in the book's layout: the
 * tree's leaves and root, the reach levels in use. */
static void index_size(zone__index_t *ix, size_t ngran) {
  ix->ngran = ngran;
  ix->nwords = words_of(ngran);
  ix->tree.leaves = leaves_for(zone__chunks_of(ix->nwords));
  zone__reach_size(&ix->reach, ix->nwords);
}

/* Huge pages asked for once the bookkeeping comes to HUGE_BOOK_BYTES (the
 * arrays that large start on huge page boundaries): over the whole book when
 * it has no room; in a book with room, over what an index of `words` words
 * uses, and only once those words are in use. A growth's new words are first
 * touched by the calls after it, and the first touch of a huge-page range
 * that holds no page yet takes a whole huge page, for which the kernel may
 * compact memory first: milliseconds in some later malloc or free (seen at
 * 1M live blocks, bench/latency). So a growth hints the words the size
 * before it had, which first fit has filled by then; the kernel's khugepaged
 * merges their pages in the background. */
static void book_hint(zone__index_t *ix, size_t words) {
  if (ix->book_used < HUGE_BOOK_BYTES)
    return;
  if (ix->book_whole) {
    if (!ix->book_huge)
      zone__os_hugepage_hint(ix->book, ix->book_len);
    ix->book_huge = true;
    return;
  }
  book_range_t r[BOOK_RANGES];
  size_t n = book_ranges(ix, words, r, false), page = zone__os_page_size();
  for (size_t i = 0; i < n; i++)
    if (r[i].hi > r[i].lo) {
      size_t lo = r[i].lo / page * page;
      zone__os_hugepage_hint((char *)ix->book + lo, round_up(r[i].hi, page) - lo);
    }
  ix->book_huge = true;
}

/* A book for `room` granules: with room to grow, reserved (committed as
 * needed); with none, mapped read/write whole at once, as all of it is
 * about to be used (*whole). NULL when refused. */
static char *book_map(zone__index_t *ix, size_t ngran, size_t room, size_t *len, bool *whole) {
  *len = book_layout(ix, words_of(room));
  *whole = words_of(room) == words_of(ngran);
  return *whole ? zone__os_map(*len) : book_reserve(*len);
}

/* Maps a book with room for `room` granules (for `least` when that much
 * address space can't be had: an RLIMIT_AS) and commits it for ngran, every
 * array zero (nothing built yet). Returns 0 or ENOMEM. */
static int index_map(zone__index_t *ix, size_t ngran, size_t least, size_t room) {
  memset(ix, 0, sizeof *ix);
  if (ngran == 0 || ngran > ZONE_EXTENT_MAX_GRANULES || least > ZONE_EXTENT_MAX_GRANULES)
    return ENOMEM;
  if (least < ngran)
    least = ngran;
  if (room > ZONE_EXTENT_MAX_GRANULES)
    room = ZONE_EXTENT_MAX_GRANULES;
  if (room < least)
    room = least;
  size_t len;
  bool whole;
  char *book = book_map(ix, least, room, &len, &whole);
  if (book == NULL && room > least)
    book = book_map(ix, least, least, &len, &whole);
  if (book == NULL)
    return ENOMEM;
  book_attach(ix, book);
  ix->book_len = len;
  ix->book_whole = whole;
  index_size(ix, ngran);
  if (!whole && book_commit(ix, 0, ix->nwords) != 0) {
    zone__os_unmap(book, len);
    return ENOMEM;
  }
  ix->book_used = book_committed(ix, ix->nwords);
  book_hint(ix, ix->nwords);
  return 0;
}

int zone__index_init(zone__index_t *ix, size_t ngran, size_t room) {
  if (index_map(ix, ngran, ngran, room) != 0)
    return ENOMEM;
  mark_pad(ix);
  index_build(ix);
  return 0;
}

/* Makes nx, the same index grown (in its book or in a new one), ix: every
 * field but the sizes first, then the sizes. A fork child frozen at any
 * instruction of it (the shim forks from signal handlers, this thread's or
 * another's, and reads the frozen zone's blocks: zone__lookup_unlocked)
 * reads through pointers that hold at least the words its sizes cover,
 * whichever it sees: the fences keep the stores in this order for the
 * compiler and for other processors. */
static void index_publish(zone__index_t *ix, const zone__index_t *nx) {
  zone__index_t fields = *nx;
  fields.ngran = ix->ngran;
  fields.nwords = ix->nwords;
  *ix = fields;
  atomic_thread_fence(memory_order_release);
  ix->nwords = nx->nwords;
  atomic_thread_fence(memory_order_release);
  ix->ngran = nx->ngran;
}

/* The parts of the book that a growth from old_words to nwords writes
 * whole, made resident in one call each (zone__os_populate) rather than a
 * page fault per page: the new words' leaves and each reach level's new
 * bytes. The bitmaps and the chunks' marks of the new words stay untouched
 * (zero reads as free; first fit writes them as it reaches them), and so do
 * the tree's new nodes, which a sleeping tree does not write until a search
 * wakes it. */
static void book_populate(const zone__index_t *ix, size_t old_words, size_t nwords) {
  size_t nchunks = zone__chunks_of(nwords);
  zone__os_populate(&ix->leaf[old_words], (nchunks * ZONE_CHUNK_WORDS - old_words) * sizeof(uint32_t));
  for (size_t k = 0; k < ix->reach.cap_levels; k++) {
    size_t was = zone__reach_bytes(old_words, k), now = zone__reach_bytes(nwords, k);
    if (now > was)
      zone__os_populate(ix->reach.level[k] + was, now - was);
  }
}

/* Growth to ngran granules within the book's room: the pages the new size
 * needs committed (the one step that can fail, before any write), then
 * what changed computed: the old last word (its pad granules are real, free
 * ones now), the new words (wholly free but the last: the constant leaf),
 * and the reach bytes and tree nodes above them. Nothing the old size
 * wrote moves or is copied; written in a copy of ix, published at the end. */
static int index_grow(zone__index_t *ix, size_t ngran) {
  size_t old_words = ix->nwords, old_chunks = zone__chunks_of(old_words), old_leaves = ix->tree.leaves;
  zone_assert(ngran > ix->ngran && words_of(ngran) <= ix->cap_words);
  if (!ix->book_whole) {
    if (book_commit(ix, old_words, words_of(ngran)) != 0)
      return ENOMEM;
    book_populate(ix, old_words, words_of(ngran));
  }
  zone__index_t nx = *ix;
  index_size(&nx, ngran);
  size_t w0 = old_words - 1;
  unsigned tail = (unsigned)(ix->ngran % ZONE_WORD_BITS);
  if (tail != 0)  /* the old pad granules are real, free ones now */
    nx.used[w0] &= bits_between(0, tail);
  mark_pad(&nx);
  /* Leaves from the old last word on; the new words but the last are free. */
  const uint32_t free_leaf = zone__leaf_pack(ZONE_WORD_BITS, ZONE_WORD_BITS, ZONE_WORD_BITS);
  nx.leaf[w0] = leaf_of_word(nx.used[w0]);
  for (size_t w = old_words; w + 1 < nx.nwords; w++)
    nx.leaf[w] = free_leaf;
  nx.leaf[nx.nwords - 1] = leaf_of_word(nx.used[nx.nwords - 1]);
  /* The word before the old last one reads the old last one's start, and
   * the one before that does too through a wholly free word. */
  size_t from = w0 > 0 ? w0 - 1 : 0;
  zone__tree_grow(&nx, old_leaves, old_chunks, from, old_words);
  zone__reach_grow(&nx, w0 > 1 ? w0 - 2 : 0, old_words);
  nx.book_used = book_committed(&nx, nx.nwords);
  book_hint(&nx, old_words);
  index_publish(ix, &nx);
  return 0;
}

/* nx, mapped for ix's size in a book with more room, gets ix's words. */
static void index_copy(zone__index_t *nx, const zone__index_t *ix) {
  size_t nchunks = zone__chunks_of(ix->nwords);
  memcpy(nx->used, ix->used, ix->nwords * sizeof(uint64_t));
  memcpy(nx->end, ix->end, ix->nwords * sizeof(uint64_t));
  memcpy(nx->leaf, ix->leaf, nchunks * ZONE_CHUNK_WORDS * sizeof(uint32_t));
  memcpy(nx->cross, ix->cross, nchunks * sizeof(uint32_t));
  memcpy(nx->freed, ix->freed, words_of(nchunks) * sizeof(uint64_t));
  memcpy(nx->waiting, ix->waiting, words_of(nchunks) * sizeof(uint64_t));
  memcpy(nx->returned, ix->returned, returned_words(ix->nwords) * sizeof(uint64_t));
  nx->freed_lo = ix->freed_lo;
  nx->freed_hi = ix->freed_hi;
  nx->waiting_lo = ix->waiting_lo;
  nx->waiting_hi = ix->waiting_hi;
  zone__tree_copy(nx, ix);
  zone__reach_copy(nx, ix);
}

/* Within the room, index_grow. Past it, a move: a new book with room for
 * `room` granules (for ngran alone when that much address space can't be
 * had), ix's words copied into it, the growth made there, the new book
 * published and the old one unmapped after. */
int zone__index_extend(zone__index_t *ix, size_t ngran, size_t room) {
  if (words_of(ngran) <= ix->cap_words)
    return index_grow(ix, ngran);
  zone__index_t nx;
  if (index_map(&nx, ix->ngran, ngran, room) != 0)
    return ENOMEM;
  index_copy(&nx, ix);
  if (index_grow(&nx, ngran) != 0) {
    zone__index_fini(&nx);
    return ENOMEM;
  }
  zone__index_t old = *ix;
  index_publish(ix, &nx);
  zone__index_fini(&old);
  return 0;
}

void zone__index_fini(zone__index_t *ix) {
  zone__os_unmap(ix->book, ix->book_len);
  ix->book = NULL;
}

void zone__index_clear(zone__index_t *ix, size_t touched) {
  size_t words = words_of(touched < ix->ngran ? touched : ix->ngran);
  zone__tree_forget(ix);
  memset(ix->used, 0, words * sizeof(uint64_t));
  memset(ix->end, 0, words * sizeof(uint64_t));
  mark_pad(ix);  /* again, where the last word was cleared */
  index_build(ix);
}

/* ---- search ------------------------------------------------------------------- */

/* Small and middling requests ask the reach index; larger ones the tree. A
 * search from a granule (aligned fits, trim) is the same with a start. */
size_t zone__index_fit(zone__index_t *ix, size_t n, size_t from) {
  if (n <= ZONE_REACH_MAX)
    return zone__reach_fit(ix, n, from);
  return zone__tree_fit(ix, n, from);
}

/* The first used granule in [g, limit), or limit. */
static size_t first_used(const zone__index_t *ix, size_t g, size_t limit) {
  while (g < limit) {
    size_t w = g / ZONE_WORD_BITS;
    uint64_t u = ix->used[w] & (ALL_ONES << (g % ZONE_WORD_BITS));
    if (u != 0) {
      size_t hit = w * ZONE_WORD_BITS + ctz64(u);
      return hit < limit ? hit : limit;
    }
    g = (w + 1) * ZONE_WORD_BITS;
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
size_t zone__index_fit_aligned(zone__index_t *ix, uintptr_t base, size_t n, size_t align) {
  size_t k = align / ZONE_G;  /* alignment in granules, a power of two >= 2 */
  size_t phase = ((align - base % align) % align) / ZONE_G;  /* aligned g: g % k == phase */
  size_t from = 0;
  for (;;) {
    size_t s = zone__index_fit(ix, n, from);
    if (s == ZONE_NONE)
      return ZONE_NONE;
    size_t a = s + ((phase - s % k) & (k - 1));
    if (a > ix->ngran || n > ix->ngran - a)
      return ZONE_NONE;
    size_t u = first_used(ix, a, a + n);
    if (u == a + n)
      return a;
    from = u + 1;
  }
}

/* ---- taking and giving granules --------------------------------------------------- */

static inline size_t chunk_of(size_t g) { return g / ZONE_CHUNK_BITS; }

/* Records the end of a block starting at g whose last granule is `last`. */
static void mark_end(zone__index_t *ix, size_t g, size_t last) {
  ix->end[last / ZONE_WORD_BITS] |= (uint64_t)1 << (last % ZONE_WORD_BITS);
  if (chunk_of(last) != chunk_of(g))
    ix->cross[chunk_of(g)] = (uint32_t)last;
}

static void clear_end(zone__index_t *ix, size_t last) {
  ix->end[last / ZONE_WORD_BITS] &= ~((uint64_t)1 << (last % ZONE_WORD_BITS));
}

static inline bool block_starts(const zone__index_t *ix, size_t g) {
  if (g >= ix->ngran || !bit_test(ix->used, g))
    return false;
  return g == 0 || !bit_test(ix->used, g - 1) || bit_test(ix->end, g - 1);
}

/* The block's end is the first end bit at or after g; it is searched within
 * g's chunk (8 words), and a block running past its chunk has it in cross[]. */
static inline size_t block_len(const zone__index_t *ix, size_t g) {
  size_t w = g / ZONE_WORD_BITS;
  uint64_t m = ix->end[w] & (ALL_ONES << (g % ZONE_WORD_BITS));
  if (m == 0) {  /* not in its first word: most blocks are */
    size_t stop = (w / ZONE_CHUNK_WORDS + 1) * ZONE_CHUNK_WORDS;
    if (stop > ix->nwords)
      stop = ix->nwords;
    do {
      if (++w == stop)
        return (size_t)ix->cross[chunk_of(g)] - g + 1;
      m = ix->end[w];
    } while (m == 0);
  }
  return w * ZONE_WORD_BITS + ctz64(m) - g + 1;
}

/* Granules [g, g + n) of at most two words (n <= 64) turn used (take) or
 * free: run_take and run_give with each mask made once. A give refreshes the
 * leaves without a scan (word_give in one word, leaf_given for the two edge
 * runs of two); a take rescans a word's runs when it cut its longest. */
ZONE_INLINE void small_flip(zone__index_t *ix, size_t g, size_t n, bool take) {
  size_t last = g + n - 1, w0 = g / ZONE_WORD_BITS, w1 = last / ZONE_WORD_BITS;
  unsigned b0 = g % ZONE_WORD_BITS, b1 = last % ZONE_WORD_BITS;
  uint64_t *u = ix->used;
  uint64_t m0 = ALL_ONES << b0, m1 = ALL_ONES >> (ZONE_WORD_BITS - 1 - b1);
  if (w0 == w1)
    m0 &= m1;
  if (take) {
    u[w0] |= m0;
    if (w1 == w0) {
      mark_end(ix, g, last);
      words_changed(ix, w0, w1, true);
      return;
    }
    /* Two words: the run cut is w0's top run and w1's bottom run. */
    u[w1] |= m1;
    mark_end(ix, g, last);
    uint32_t old0 = ix->leaf[w0], old1 = ix->leaf[w1];
    uint32_t leaf0 = leaf_cut(old0, u[w0], zone__leaf_end(old0)), leaf1 = leaf_cut(old1, u[w1], zone__leaf_start(old1));
    uint32_t moved0 = word_set(ix, w0, leaf0), moved1 = word_set(ix, w1, leaf1);
    reach_moved(ix, w0, w1, moved0, moved1, leaf0, leaf1, false);
  } else {
    clear_end(ix, last);
    if (w1 == w0) {
      uint32_t leaf0;
      uint32_t moved0 = word_give(ix, w0, m0, &leaf0);
      reach_moved(ix, w0, w0, moved0, 0, leaf0, 0, true);
      return;
    }
    /* Two words: the freed granules join w0's top run and w1's bottom run
     * (leaf_given, no look below or above them). */
    u[w0] &= ~m0;
    u[w1] &= ~m1;
    uint32_t leaf0 = leaf_given(ix->leaf[w0], u[w0], true), leaf1 = leaf_given(ix->leaf[w1], u[w1], false);
    uint32_t moved0 = word_set(ix, w0, leaf0), moved1 = word_set(ix, w1, leaf1);
    reach_moved(ix, w0, w1, moved0, moved1, leaf0, leaf1, true);
  }
}

/* Words [w0, w1] were given: when one of them may be wholly free now (the
 * words between the two edges are), the chunks they lie in are marked for
 * trim.c's next look (freed[]), which gives back the pages in them found
 * free. Called by the gives' rarer paths only: a one-word give that leaves
 * used granules on both sides of the freed ones can't free a word. */
static __attribute__((noinline)) void freed_mark(zone__index_t *ix, size_t w0, size_t w1) {
  size_t c0 = w0 / ZONE_CHUNK_WORDS, c1 = w1 / ZONE_CHUNK_WORDS;
  if (c0 == c1 && (ix->freed[c0 / ZONE_WORD_BITS] >> (c0 % ZONE_WORD_BITS)) & 1)
    return;  /* marked since the last look already: most are */
  bits_assign(ix->freed, c0, c1 + 1, true);
  size_t lo = c0 / ZONE_WORD_BITS, hi = c1 / ZONE_WORD_BITS + 1;
  if (ix->freed_hi == 0 || lo < ix->freed_lo)
    ix->freed_lo = lo;
  if (hi > ix->freed_hi)
    ix->freed_hi = hi;
}

ZONE_INLINE void words_given(zone__index_t *ix, size_t w0, size_t w1) {
  if (w1 - w0 >= 2 || ix->used[w0] == 0 || ix->used[w1] == 0)
    freed_mark(ix, w0, w1);
}

ZONE_INLINE void run_take(zone__index_t *ix, size_t g, size_t n) {
  zone_assert(n > 0 && g + n <= ix->ngran);
  zone_assert(first_used(ix, g, g + n) == g + n && "taking granules that are not free");
  if (n <= ZONE_WORD_BITS) {
    small_flip(ix, g, n, true);
    return;
  }
  bits_assign(ix->used, g, g + n, true);
  mark_end(ix, g, g + n - 1);
  words_changed(ix, g / ZONE_WORD_BITS, (g + n - 1) / ZONE_WORD_BITS, true);
}

ZONE_INLINE void run_give(zone__index_t *ix, size_t g, size_t n) {
  zone_assert(zone__index_is_block(ix, g) && zone__index_block_len(ix, g) == n);
  if (n <= ZONE_WORD_BITS) {
    small_flip(ix, g, n, false);
  } else {
    bits_assign(ix->used, g, g + n, false);
    clear_end(ix, g + n - 1);
    words_changed(ix, g / ZONE_WORD_BITS, (g + n - 1) / ZONE_WORD_BITS, false);
  }
  words_given(ix, g / ZONE_WORD_BITS, (g + n - 1) / ZONE_WORD_BITS);
}

void zone__index_take(zone__index_t *ix, size_t g, size_t n) { run_take(ix, g, n); }
void zone__index_give(zone__index_t *ix, size_t g, size_t n) { run_give(ix, g, n); }

/* A take or give of a block over words w and w + 1 (one granule of each at
 * least) moves w's top run and w + 1's bottom run, always: the tree is told
 * of w's chunk, and of w + 1's only when that is another. */
ZONE_INLINE void two_words_dirty(zone__index_t *ix, size_t w) {
  zone__tree_dirty(ix, w);
  if ((w + 1) % ZONE_CHUNK_WORDS == 0)
    zone__tree_dirty(ix, w + 1);
}

/* reach_moved for the same: both words' leaves moved, so both bytes are
 * rewritten without a test; w - 1's byte only when w's bottom run moved
 * (moved0: w's fields that moved). */
ZONE_INLINE void two_words_reach(zone__index_t *ix, size_t w, uint32_t leaf0, uint32_t leaf1, uint32_t moved0,
                                 bool given) {
  zone__reach_move(ix, w + 1, zone__reach_of_leaf(ix, w + 1, leaf1), given);
  zone__reach_move(ix, w, zone__reach_from(leaf0, zone__reach_cont(ix, w + 1, leaf1)), given);
  if (zone__leaf_start(moved0) != 0)
    reach_below(ix, w, zone__reach_cont(ix, w, leaf0), given);
}

/* The fast paths' rare cases, out of line and each reached by a tail call
 * that hands it the rest of the operation and its return value: the one-word
 * paths then make no call of their own and save no registers. A request
 * above ZONE_SMALL_MAX (the reach index's search up to ZONE_REACH_MAX, the
 * tree's above, and a multi-word take); a take of two words; a release of a
 * block that does not end in its first word. */
static __attribute__((noinline)) size_t large_alloc(zone__index_t *ix, size_t n) {
  size_t g = n <= ZONE_REACH_MAX ? zone__reach_fit(ix, n, 0) : zone__tree_fit(ix, n, 0);
  if (g != ZONE_NONE)
    run_take(ix, g, n);
  return g;
}

/* The lowest fit of n granules at bit b of word w, running into word w + 1.
 * Being the lowest, it starts w's top free run and takes all of it: w keeps
 * its bottom run (w is not wholly free, else the fit would lie inside it)
 * and its top run is gone; w + 1's bottom run is cut from below, so its
 * top run stays unless the word was wholly free. Either word's longest run
 * is rescanned only when the run cut was that long. */
static __attribute__((noinline)) size_t two_word_take(zone__index_t *ix, size_t w, size_t b, size_t n) {
  size_t g = w * ZONE_WORD_BITS + b, last = g + n - 1;
  unsigned c = (unsigned)(b + n - ZONE_WORD_BITS);  /* granules taken in w + 1: 1 to 63 */
  zone_assert(first_used(ix, g, g + n) == g + n && "taking granules that are not free");
  uint64_t u0 = ix->used[w] | ALL_ONES << b, u1 = ix->used[w + 1] | ALL_ONES >> (ZONE_WORD_BITS - c);
  ix->used[w] = u0;
  ix->used[w + 1] = u1;
  mark_end(ix, g, last);
  uint32_t old0 = ix->leaf[w], old1 = ix->leaf[w + 1];
  zone_assert(zone__leaf_end(old0) == ZONE_WORD_BITS - b && zone__leaf_start(old0) < ZONE_WORD_BITS);
  unsigned max0 = zone__leaf_max(old0), max1 = zone__leaf_max(old1), start1 = zone__leaf_start(old1);
  uint32_t leaf0 = max0 > ZONE_WORD_BITS - b ? zone__leaf_pack(zone__leaf_start(old0), 0, max0) : leaf_of_taken(u0);
  uint32_t leaf1 = max1 > start1 ? zone__leaf_pack(0, zone__leaf_end(old1), max1) : leaf_of_taken(u1);
  ix->leaf[w] = leaf0;
  ix->leaf[w + 1] = leaf1;
  two_words_dirty(ix, w);
  two_words_reach(ix, w, leaf0, leaf1, leaf0 ^ old0, false);
  return g;
}

/* A block that does not end in its first word w: when it ends in w + 1
 * (most such blocks), its length is read off that word's lowest end bit
 * and the two words are given at once, the freed granules joining w's top
 * run and w + 1's bottom run (leaf_given); longer blocks go by block_len
 * and run_give. */
static __attribute__((noinline)) size_t long_release(zone__index_t *ix, size_t g) {
  size_t w = g / ZONE_WORD_BITS, b = g % ZONE_WORD_BITS;
  uint64_t e1 = ix->end[w + 1];  /* w + 1 exists: the block goes on past w */
  if (e1 == 0) {
    size_t n = block_len(ix, g);
    run_give(ix, g, n);
    return n;
  }
  size_t n = ZONE_WORD_BITS - b + ctz_index(e1) + 1;
  zone_assert(block_len(ix, g) == n);
  uint64_t last = e1 & (0 - e1);
  ix->end[w + 1] = e1 ^ last;
  uint64_t u0 = ix->used[w] & ~(ALL_ONES << b), u1 = ix->used[w + 1] & ~(last | (last - 1));
  ix->used[w] = u0;
  ix->used[w + 1] = u1;
  uint32_t old0 = ix->leaf[w];
  uint32_t leaf0 = leaf_given(old0, u0, true), leaf1 = leaf_given(ix->leaf[w + 1], u1, false);
  ix->leaf[w] = leaf0;
  ix->leaf[w + 1] = leaf1;
  two_words_dirty(ix, w);
  two_words_reach(ix, w, leaf0, leaf1, leaf0 ^ old0, true);
  if (u0 == 0 || u1 == 0)
    freed_mark(ix, w, w + 1);
  return n;
}

/* A one-word give's (`given`) or take's word w whose edge runs moved (its
 * leaf now v, the fields `moved`): the tree's mark and the reach bytes of w
 * and w - 1. Returns ret, for the tail call. One out-of-line copy per
 * direction (edges_given, edges_taken): each compiles in one half of
 * zone__reach_move and keeps fewer registers. */
ZONE_INLINE size_t edges_moved(zone__index_t *ix, size_t w, uint32_t v, uint32_t moved, bool given, size_t ret) {
  zone__tree_dirty(ix, w);
  reach_moved(ix, w, w, moved, 0, v, 0, given);
  return ret;
}
static __attribute__((noinline)) size_t edges_given(zone__index_t *ix, size_t w, uint32_t v, uint32_t moved,
                                                    size_t ret) {
  words_given(ix, w, w);
  return edges_moved(ix, w, v, moved, true, ret);
}
static __attribute__((noinline)) size_t edges_taken(zone__index_t *ix, size_t w, uint32_t v, uint32_t moved,
                                                    size_t ret) {
  return edges_moved(ix, w, v, moved, false, ret);
}

/* take_moved's byte when the next word is wholly free (its top run goes on
 * into the word after): out of line, so that the fast path keeps fewer
 * registers. */
static __attribute__((noinline)) size_t longest_taken_wide(zone__index_t *ix, size_t w, uint32_t v, size_t ret) {
  zone__reach_move(ix, w, zone__reach_of_leaf(ix, w, v), false);
  return ret;
}

/* Word w's leaf (at lp, the next word's after it) goes from old to v in a
 * one-word take: stored; with its edge runs as they were, only its own reach
 * byte may move (down: its longest run did) and the tree is not told; else
 * edges_moved. Returns ret. (The one-word give is release_block's.) */
ZONE_INLINE size_t take_moved(zone__index_t *ix, size_t w, uint32_t *lp, uint32_t v, uint32_t old, size_t ret) {
  *lp = v;
  uint32_t moved = v ^ old;
  if (__builtin_expect(moved & ZONE_LEAF_EDGES, 0))
    return edges_taken(ix, w, v, moved, ret);
  if (moved != 0) {
    unsigned next = zone__leaf_end(v) != 0 && w + 1 < ix->nwords ? zone__leaf_start(lp[1]) : 0;
    if (__builtin_expect(next == ZONE_WORD_BITS, 0))
      return longest_taken_wide(ix, w, v, ret);
    zone__reach_move(ix, w, zone__reach_from(v, next), false);
  }
  return ret;
}

/* The allocation fast path, fit and take in one call, for n <= ZONE_SMALL_MAX
 * when the reach root says a run of n exists; the rest goes out of line. */
size_t zone__index_alloc(zone__index_t *ix, size_t n) {
  if (__builtin_expect(n > ZONE_SMALL_MAX, 0))
    return large_alloc(ix, n);
  /* What the test says of n, hidden from the compiler: knowing n <= 64, it
   * keeps two registers more over the fit and take (callgrind: 5
   * instructions per call). */
  ZONE_OPAQUE(n);
  if (__builtin_expect(!zone__reach_may_fit(ix, n), 0))
    return ZONE_NONE;
  size_t b;
  size_t w = zone__reach_first_fit_word(ix, n, &b);
  if (__builtin_expect(b + n > ZONE_WORD_BITS, 0))
    return two_word_take(ix, w, b, n);
  size_t g = w * ZONE_WORD_BITS + b;
  /* Inside one word (so one chunk: no cross[] entry): its mask at once. */
  zone_assert(first_used(ix, g, g + n) == g + n && "taking granules that are not free");
  uint64_t u = ix->used[w] | (ALL_ONES >> (ZONE_WORD_BITS - n)) << b;
  ix->used[w] = u;
  ix->end[w] |= (uint64_t)1 << (b + n - 1);
  uint32_t *lp = &ix->leaf[w];
  return take_moved(ix, w, lp, leaf_of_taken(u), *lp, g);
}

/* The release of a block known to start at g (u and e its word's used and
 * end bits): the give, at once when the block ends in its first word. */
ZONE_INLINE size_t release_block(zone__index_t *ix, size_t g, uint64_t u, uint64_t e) {
  size_t w = g / ZONE_WORD_BITS;
  unsigned b = g % ZONE_WORD_BITS;
  uint64_t m = e & (ALL_ONES << b);
  if (__builtin_expect(m == 0, 0))
    return long_release(ix, g);
  /* The block ends in its first word, at m's lowest bit: its bits are
   * those up to that one from b, the give's mask made at once. */
  uint64_t last = m & (0 - m), mask = (m ^ (m - 1)) & (ALL_ONES << b);
  size_t n = ctz64(m) - b + 1;
  zone_assert(block_len(ix, g) == n);
  ix->end[w] = e ^ last;
  u &= ~mask;
  ix->used[w] = u;
  uint32_t *lp = &ix->leaf[w], old = *lp;
  /* With used granules left both below and above the freed ones, the word's
   * edge runs stay as they were, and the tree is not told: only the longest
   * run may grow, to the freed granules with the free ones around them. Its
   * top run and the next word's bottom run as they were, so is the reach
   * byte's run across them: the new byte is the old one or the new longest
   * run, whichever is more (no read of the next word). With none below (or
   * above), the freed granules join the word's bottom (top) run: its edges
   * moved, the leaf is made from them (leaf_given) and edges_given does the
   * rest. */
  uint64_t below = u & ~(ALL_ONES << b), above = u & (0 - (last << 1));
  if (__builtin_expect(below == 0 || above == 0, 0)) {
    uint32_t v = leaf_given(old, u, above == 0);
    zone_assert((v ^ old) & ZONE_LEAF_EDGES);
    *lp = v;
    return edges_given(ix, w, v, v ^ old, n);
  }
  unsigned run = ctz64(above) - (ZONE_WORD_BITS - clz64(below));
  if (run <= zone__leaf_max(old))
    return n;
  *lp = (old & ZONE_LEAF_EDGES) | run << 16;
  unsigned byte = ix->reach.bytes[w];
  zone__reach_move(ix, w, run > byte ? run : byte, true);
  return n;
}

/* A release at a word's first granule (g > 0), out of line: the block
 * starts there only when the word below ends in a free granule or a
 * block's end. */
static __attribute__((noinline)) size_t release_word_start(zone__index_t *ix, size_t g, uint64_t u, uint64_t e) {
  size_t w = g / ZONE_WORD_BITS;
  if ((ix->used[w - 1] & ~ix->end[w - 1]) >> 63)
    return 0;
  return release_block(ix, g, u, e);
}

/* The free fast path: the block check, its length and the give in one call.
 * The word's leaf and reach byte are fetched first: in a large zone the free
 * misses cache on them as on the bitmap, and fetched up front their misses
 * overlap the bitmap's instead of following it (core_pairs, 1M blocks: about
 * 10% less time per pair; the end bitmap, in the same spot, gained nothing). */
size_t zone__index_release(zone__index_t *ix, size_t g) {
  size_t w = g / ZONE_WORD_BITS;
  unsigned b = g % ZONE_WORD_BITS;
  __builtin_prefetch(&ix->leaf[w], 1);
  __builtin_prefetch(&ix->reach.bytes[w], 1);
  /* A block starts at g iff g is used and g - 1 is not a used granule
   * short of its block's end: one test on the word's bits, then on the word
   * below only when g is its first granule (out of line). */
  uint64_t u = ix->used[w], e = ix->end[w];
  uint64_t starts = u & ~((u & ~e) << 1);
  if (!((starts >> b) & 1))
    return 0;
  if (__builtin_expect(b == 0 && w > 0, 0))
    return release_word_start(ix, g, u, e);
  return release_block(ix, g, u, e);
}

void zone__index_resize(zone__index_t *ix, size_t g, size_t old_n, size_t new_n) {
  zone_assert(zone__index_is_block(ix, g) && zone__index_block_len(ix, g) == old_n);
  if (new_n == old_n)
    return;
  clear_end(ix, g + old_n - 1);
  if (new_n < old_n) {
    bits_assign(ix->used, g + new_n, g + old_n, false);
  } else {
    zone_assert(first_used(ix, g + old_n, g + new_n) == g + new_n && "growing over used granules");
    bits_assign(ix->used, g + old_n, g + new_n, true);
  }
  mark_end(ix, g, g + new_n - 1);
  size_t lo = (new_n < old_n ? g + new_n : g + old_n) - 1;
  size_t hi = (new_n < old_n ? g + old_n : g + new_n) - 1;
  words_changed(ix, lo / ZONE_WORD_BITS, hi / ZONE_WORD_BITS, new_n > old_n);
  if (new_n < old_n)
    words_given(ix, lo / ZONE_WORD_BITS, hi / ZONE_WORD_BITS);
}

/* ---- queries -------------------------------------------------------------------- */

bool zone__index_is_block(const zone__index_t *ix, size_t g) { return block_starts(ix, g); }
size_t zone__index_block_len(const zone__index_t *ix, size_t g) { return block_len(ix, g); }
size_t zone__index_block_at(const zone__index_t *ix, size_t g) {
  return block_starts(ix, g) ? block_len(ix, g) : 0;
}

size_t zone__index_end_after(const zone__index_t *ix, size_t g) {
  for (size_t w = g / ZONE_WORD_BITS; w < ix->nwords; w++) {
    uint64_t m = ix->end[w];
    if (w == g / ZONE_WORD_BITS)
      m &= ALL_ONES << (g % ZONE_WORD_BITS);
    if (m != 0)
      return w * ZONE_WORD_BITS + ctz64(m);
  }
  return ix->ngran - 1;
}

size_t zone__index_free_len(const zone__index_t *ix, size_t g, size_t limit) {
  if (g >= ix->ngran)
    return 0;
  size_t stop = g + limit < ix->ngran ? g + limit : ix->ngran;
  return first_used(ix, g, stop) - g;
}

size_t zone__index_free_run(zone__index_t *ix, size_t g) {
  if (g >= ix->ngran || bit_test(ix->used, g))
    return 0;
  return zone__tree_run_end(ix, g) - g;
}

/* A free run starts at each free granule whose predecessor is used (or that
 * is granule 0): one popcount per word. Counted when asked (zone_stats), not
 * kept, so that a take or a give need not look at its neighbours. */
size_t zone__index_free_runs(const zone__index_t *ix) {
  size_t runs = 0;
  uint64_t carry = 1;  /* granule -1 counts as used */
  for (size_t w = 0; w < ix->nwords; w++) {
    uint64_t u = ix->used[w];
    runs += (size_t)__builtin_popcountll(~u & ((u << 1) | carry));
    carry = u >> 63;
  }
  return runs;
}

/* Runs longer than ZONE_REACH_MAX granules cross a word edge and the tree
 * has them; the reach root has every run up to that length. */
size_t zone__index_largest(zone__index_t *ix) {
  size_t edge = zone__tree_largest(ix), small = zone__reach_largest(ix);
  return edge > small ? edge : small;
}

size_t zone__index_next_block(const zone__index_t *ix, size_t g, size_t limit) {
  /* A granule starts a block when it is used and its predecessor is free or
   * ends a block; scan words for the first such bit at or after g. */
  if (limit > ix->ngran)
    limit = ix->ngran;
  while (g < limit) {
    size_t w = g / ZONE_WORD_BITS;
    uint64_t u = ix->used[w];
    uint64_t prev_u = (u << 1) | (w > 0 ? ix->used[w - 1] >> 63 : 0);
    uint64_t prev_e = (ix->end[w] << 1) | (w > 0 ? ix->end[w - 1] >> 63 : 0);
    uint64_t starts = u & (~prev_u | prev_e) & (ALL_ONES << (g % ZONE_WORD_BITS));
    if (w == ix->nwords - 1 && ix->ngran % ZONE_WORD_BITS != 0)
      starts &= bits_between(0, (unsigned)(ix->ngran % ZONE_WORD_BITS));
    if (starts != 0) {
      size_t at = w * ZONE_WORD_BITS + ctz64(starts);
      return at < limit ? at : ZONE_NONE;
    }
    g = (w + 1) * ZONE_WORD_BITS;
  }
  return ZONE_NONE;
}

/* ---- invariants ---------------------------------------------------------------- */

int zone__index_check(zone__index_t *ix, uintptr_t base, size_t *used_gran, size_t *blocks) {
  size_t nused = 0, nblocks = 0;
  int err = zone__tree_check(ix, base);  /* flushes the tree first */
  if (err != 0)
    return err;
  unsigned tail = (unsigned)(ix->ngran % ZONE_WORD_BITS);
  for (size_t w = 0; w < ix->nwords; w++) {
    uint64_t real = (w == ix->nwords - 1 && tail != 0) ? bits_between(0, tail) : ALL_ONES;
    uint64_t u = ix->used[w], en = ix->end[w];
    if ((u | real) != ALL_ONES)
      return zone__check_fail(ZONE_CHECK_PAD_FREE, "extent %p word %zu", (void *)base, w);
    if (en & ~(u & real))
      return zone__check_fail(ZONE_CHECK_END_ON_FREE, "extent %p word %zu", (void *)base, w);
    u &= real;
    /* u is masked to real granules, so the last real granule has no used successor. */
    uint64_t next_u = (u >> 1) | (w + 1 < ix->nwords ? (ix->used[w + 1] & 1) << 63 : 0);
    uint64_t run_last = u & ~next_u;
    if (run_last & ~en)
      return zone__check_fail(ZONE_CHECK_RUN_WITHOUT_END, "extent %p granule %zu", (void *)base,
                              w * ZONE_WORD_BITS + ctz64(run_last & ~en));
    uint64_t prev_u = (u << 1) | (w > 0 ? ix->used[w - 1] >> 63 : 0);
    uint64_t prev_e = (en << 1) | (w > 0 ? ix->end[w - 1] >> 63 : 0);
    uint64_t starts = u & (~prev_u | prev_e);
    nused += (size_t)__builtin_popcountll(u);
    nblocks += (size_t)__builtin_popcountll(starts);
    for (uint64_t s = starts; s != 0; s &= s - 1) {
      size_t g = w * ZONE_WORD_BITS + ctz64(s);
      size_t last = g;
      while (!bit_test(ix->end, last))
        last++;
      if (chunk_of(last) != chunk_of(g) && ix->cross[chunk_of(g)] != last)
        return zone__check_fail(ZONE_CHECK_CROSS_END, "extent %p block at granule %zu ends at %zu, not %u",
                                (void *)base, g, last, ix->cross[chunk_of(g)]);
      if (block_len(ix, g) != last - g + 1)
        return zone__check_fail(ZONE_CHECK_BLOCK_LENGTH, "extent %p block at granule %zu", (void *)base, g);
    }
  }
  for (size_t w = 0; w < zone__chunks_of(ix->nwords) * ZONE_CHUNK_WORDS; w++) {
    uint32_t v = w < ix->nwords ? leaf_of_word(ix->used[w]) : 0;
    if (ix->leaf[w] != v)
      return zone__check_fail(ZONE_CHECK_LEAF_STALE, "extent %p word %zu", (void *)base, w);
  }
  err = zone__reach_check(ix, base);
  if (err != 0)
    return err;
  *used_gran = nused;
  *blocks = nblocks;
  return 0;
}
