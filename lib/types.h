/*
 * types.h - the core's structs, each with one owner file (named beside it);
 * other files read the fields documented here or call the owner's functions.
 * Nesting follows the layers: a zone (zone.c) holds extents (grow.c) and what
 * its heap checker is told (checker.c), an extent holds a placement index
 * (index.c) and its page-return marks (trim.c), and an index holds the reach
 * index (reach.c) and the summary tree (tree.c) over its bitmap words.
 */
#ifndef ZONE_TYPES_H
#define ZONE_TYPES_H

#include "zone.h"
#include "lock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- constants (one name each) ------------------------------------------- */

#define ZONE_G ((size_t)ZONE_GRANULE)      /* granule in bytes */
#define ZONE_G_SHIFT 4
_Static_assert(((size_t)1 << ZONE_G_SHIFT) == ZONE_G, "granule is 16 bytes on this ABI");

#define ZONE_WORD_BITS 64                  /* granules per bitmap word */
#define ZONE_CHUNK_WORDS 8                 /* words per summary-tree leaf (tree.c) */
#define ZONE_CHUNK_BITS ((size_t)ZONE_WORD_BITS * ZONE_CHUNK_WORDS)
#define ZONE_MAX_EXTENTS 64                /* growth at least doubles: plenty */
#define ZONE_DIRTY_MAX 64                  /* chunks changed before the tree catches up */
#define ZONE_DIRTY_SLICE 32                /* of them walked when the list is full (tree.c) */
#define ZONE_SMALL_MAX 64                  /* sizes (granules) of the one-word fast path */
#define ZONE_REACH_MAX 127                 /* sizes (granules) the reach index serves */
#define ZONE_REACH_FAN 16                  /* reach index: bytes per node, one SSE2 load */
#define ZONE_REACH_LEVELS 8                /* 16^7 words >= ZONE_EXTENT_MAX_GRANULES / 64 */
#define ZONE_NONE ((size_t)-1)             /* "no granule" */

/* Largest extent: summary counters are 32-bit granule counts. */
#define ZONE_EXTENT_MAX_GRANULES ((size_t)1 << 31)

/* ---- tree.c: the summary tree, for requests above ZONE_REACH_MAX ---------- */

/* Summary of the free runs of a power-of-two span of granules. */
typedef struct zone__summary {
  uint32_t start;  /* free granules at the low end of the span */
  uint32_t end;    /* free granules at the high end of the span */
  uint32_t max;    /* longest free run inside the span, 0 if that is at most
                      ZONE_REACH_MAX (the tree serves only larger sizes) */
} zone__summary_t;

/*
 * A complete binary tree over chunks of ZONE_CHUNK_WORDS words, numbered as
 * a heap: node i's children are 2i and 2i + 1, node 1 is the root and node
 * leaves + c summarises chunk c (chunks past the last count as fully used).
 * The inner nodes 1 .. leaves-1 are node[i]; the leaves are chunk[c], packed
 * in 32 bits (a chunk's runs are at most ZONE_CHUNK_BITS: 10 bits each), a
 * third of a node's bytes over the largest level. A node summarises the free
 * runs of its granules that touch a word edge (a word's leaf counts as
 * {start, end, max(start, end)}): every run longer than a word's interior is
 * one, and the tree only serves sizes above ZONE_REACH_MAX (so a max of at
 * most ZONE_REACH_MAX is kept as 0). Awake, the tree is exact except above
 * the chunks in dirty_list (dirty[c] == 1 for each), some of whose words'
 * edge runs changed: those reach it at the next search that reads it (tree
 * flush). Asleep, the tree is stale as a whole, every dirty byte is 1 and the
 * list is empty: the next reader rebuilds the tree from the leaves.
 */
typedef struct zone__tree {
  zone__summary_t *node;   /* the inner nodes, [1, leaves) */
  uint32_t *chunk;         /* the leaves, [0, leaves): packed summaries */
  size_t leaves;           /* a power of two >= the chunks */
  uint8_t *dirty;          /* a byte per chunk, 1 when its leaf and ancestors are
                              stale (a byte: one load to test on every mark) */
  uint32_t *dirty_list;    /* the same chunks, ZONE_DIRTY_MAX at most */
  size_t ndirty;
  size_t unread;           /* chunks walked up by flushes since a reader last
                              read the tree (the cost sleeping saves) */
  bool asleep;             /* the tree stale as a whole (no list kept) */
} zone__tree_t;

/* ---- reach.c: the reach index, for requests up to ZONE_REACH_MAX ---------- */

/*
 * Level 0: byte w = the longest free run from any granule of word w onwards,
 * capped at ZONE_REACH_MAX (the word's leaf max, or its top run plus the free
 * granules from word w+1's bottom on: its bottom run, and word w+2's too when
 * w+1 is wholly free); level k byte j = the largest of level k-1's bytes [16j, 16j + 16).
 * Level k has len[k] bytes at bytes + at[k], padded with zero bytes to a
 * multiple of 16 (a node, one SSE2 load); the top level is one byte, the
 * extent's longest run up to ZONE_REACH_MAX (top points at it). Always exact.
 */
typedef struct zone__reach {
  uint8_t *bytes;          /* every level */
  uint8_t *level[ZONE_REACH_LEVELS];  /* level k: bytes + at[k] */
  size_t at[ZONE_REACH_LEVELS];   /* offset of level k in bytes[], laid out for
                                     the capacity of the index's book */
  size_t len[ZONE_REACH_LEVELS];  /* bytes in level k (before padding) */
  size_t cap_levels;       /* levels at the capacity (at[] is set for these) */
  size_t levels;           /* levels, two at least; the last is the one-byte root */
  size_t descent;          /* where a search from the root starts: the
                              level under the root */
  const uint8_t *top;      /* the root byte: where a small search looks first */
} zone__reach_t;

/* ---- index.c: the placement index of one extent --------------------------- */

/*
 * Granules [0, ngran) of one extent, in bitmap words of 64. Invariants
 * (checked by zone__index_check):
 *  - used[] has a 1 bit for each granule inside a live block, and for the pad
 *    bits past ngran in the last word; end[] has a 1 bit on the last granule of
 *    each live block, so block boundaries need nothing inside the zone.
 *  - a live block starts at granule g iff used(g) and (g == 0 or !used(g-1) or
 *    end(g-1)); it ends at the first end bit at or after g.
 *  - cross[c] holds the last granule of the block that starts in chunk c and
 *    ends in a later chunk, if there is one (else it is stale and unread).
 *  - leaf[w] is word w's own summary, packed (zone__leaf_* in internal.h; past
 *    nwords, up to a whole chunk: 0, fully used), always exact. Both the reach
 *    index and the tree read it.
 * Every array lives in one reservation of address space, book, each at an
 * offset laid out for cap_words words (room to grow in place: index.c) and
 * committed for the words in use.
 */
typedef struct zone__index {
  size_t ngran;            /* granules managed */
  size_t nwords;           /* bitmap words: ceil(ngran / 64) */
  uint64_t *used;
  uint64_t *end;
  uint32_t *cross;
  uint32_t *leaf;
  zone__reach_t reach;
  zone__tree_t tree;
  uint64_t *freed;         /* a bit per chunk in which a give left a word
                              wholly free since trim.c last looked (it reads
                              and clears them: zone__trim_freed) */
  uint64_t *waiting;       /* trim.c's: the chunks that were freed[] at its
                              last look, whose free pages go back at the next */
  uint64_t *returned;      /* trim.c's: a bit per page given back (the
                              extent's zone__returned_t counts them) */
  size_t freed_lo;         /* freed[] words [freed_lo, freed_hi) may have a */
  size_t freed_hi;         /* bit set; both 0 when none has */
  size_t waiting_lo;       /* the same for waiting[] */
  size_t waiting_hi;
  void *book;              /* the reservation that holds every array */
  size_t book_len;         /* its bytes (address space) */
  size_t book_used;        /* bytes of its pages in use for ngran (the tree's padding not): the bookkeeping */
  size_t cap_words;        /* words the arrays have room for */
  bool book_whole;         /* mapped read/write whole (no room): nothing to commit */
  bool book_huge;          /* huge pages asked for (book_hint) */
} zone__index_t;

/* ---- trim.c: pages an extent gave back ------------------------------------ */

/* The pages that a trim gave back and no block has been taken over since:
 * they hold no memory and read as zero. Their bits are the index's
 * returned[] (in its book: no mapping of their own). */
typedef struct zone__returned {
  size_t reused;           /* marks cleared by a take so far: pages given back
                              that a program used again */
  size_t marked;           /* pages marked now */
  size_t clear_below;      /* no page is marked below this granule (a lower
                              bound; SIZE_MAX while none is): a take below it
                              need not look at the bits (zalloc's short
                              path tests this) */
  unsigned page_shift;     /* granules per page, log2 */
} zone__returned_t;

/* ---- grow.c: one contiguous range of the zone ------------------------------ */

/* Granules [base, base + idx.ngran * G). A mapped extent is followed by a
 * guard page, and under memcheck preceded by one (checker.c's lead: map is
 * then a page below base); map is NULL for caller-owned memory. */
typedef struct zone__extent {
  uintptr_t base;          /* address of granule 0 */
  zone__index_t idx;       /* where blocks are (index.c) */
  size_t fresh;            /* granules from here on were never handed out:
                              zero in a mapping (ngran for caller memory) */
  zone__returned_t returned;  /* pages given back (trim.c) */
  void *map;               /* the zone memory mapping, NULL if caller-owned */
  size_t map_len;
} zone__extent_t;

/* ---- checker.c: what a heap checker (memcheck, ASan) is told -------------- */

/* One slot of the table of requested sizes. Both words are kept
 * complemented: memcheck's leak scan reads every word of the table's mapping,
 * and a block's address kept as it is would make the block look reachable. */
typedef struct zone__req_slot {
  uintptr_t key;           /* ~address of the block; 0: an empty slot */
  size_t size;             /* ~(requested bytes, | ZONE_REQ_ZEROED for zcalloc) */
} zone__req_slot_t;

/* Which checker the zone runs under, and (only under one) the bytes asked for
 * of every live block whose request was not a whole number of granules: the
 * checker is told that size, and a resize, a move or zone_block_size needs it
 * back. Open addressing with linear probing over `slots`; mapped on first use. */
typedef struct zone__checker {
  unsigned kind;           /* ZONE_CHECKER_*; ZONE_CHECKER_NONE natively: the
                              one flag the hot paths test */
  unsigned bits;           /* log2 of the slot count, while slots is mapped */
  zone__req_slot_t *slots;
  size_t count;            /* slots in use */
  uintptr_t next;          /* memcheck: ~(the next live zone), 0 for none */
} zone__checker_t;

/* ---- remote.c: frees handed over without the lock ------------------------- */

typedef struct zone__remote zone__remote_t;

/* ---- zone.c: the zone ---------------------------------------------------- */

struct zone {
  zone__lock_t lock;
  unsigned flags;
  zone__checker_t check;   /* heap checkers (checker.c) */
  bool caller_memory;      /* create_zone_in: extents[0] is the caller's */
  _Atomic bool plain;      /* nextents == 1, check.kind == ZONE_CHECKER_NONE,
                              no frees handed over waiting and none deferred:
                              zalloc's and zfree's short paths apply (zone.c;
                              kept by zone__plain_set, cleared by
                              zone__remote_push) */
  bool defers;             /* the shim's frees are deferred (zone__defer_frees) */
  size_t defer_min;        /* granules the first extent needs for that */
  void *pending;           /* the deferred free not done yet, or NULL (only
                              while defers, nextents == 1 and no checker) */
  size_t nextents;
  size_t used_gran;        /* granules in live blocks (zone_stats' used in
                              granules: no scaling on the hot paths) */
  size_t peak_gran;        /* the most used_gran has been (used_gran and
                              blocks apart: a free's two updates stay two
                              plain ones, not a vector's) */
  size_t blocks;           /* live blocks */
  size_t size;             /* bytes managed, all extents */
  size_t self_len;         /* bytes mapped for this struct (checker.c maps it) */
  char *reserve;           /* ZONE_GROW: reserved address space [reserve, */
  char *reserve_end;       /* reserve_end) where the next extent goes (grow.c) */
  size_t reserve_len;      /* the size of the last reservation */
  _Atomic uintptr_t span_lo;  /* ~lo and ~hi of [lo, hi), where every extent */
  _Atomic uintptr_t span_hi;  /* the zone has had lies (grow.c; only grows; 0, 0:
                                 none); read without the lock (zone__span) */
  zone__remote_t *_Atomic remote;  /* frees handed over by other threads
                                      (remote.c); NULL until the first */
  /* Last, so that a zone of one extent keeps everything it touches in the
     struct's first page: the array spans several pages, most never used. */
  zone__extent_t extents[ZONE_MAX_EXTENTS];  /* sorted by base address */
};

#endif /* ZONE_TYPES_H */
