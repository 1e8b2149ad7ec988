/*
 * zone_internal.h - what the core's files share with each other and with the
 * shim and the white-box tests. Nothing here is installed or exported.
 * Grouped by the file that defines it.
 */
#ifndef ZONE_INTERNAL_H
#define ZONE_INTERNAL_H

#include "zone.h"
#include "lock.h"

#include <stdint.h>

/* ---- constants ------------------------------------------------------------ */

#define ZONE_G ((size_t)ZONE_GRANULE)      /* granule in bytes */
#define ZONE_G_SHIFT 4
_Static_assert(((size_t)1 << ZONE_G_SHIFT) == ZONE_G, "granule is 16 bytes on this ABI");

#define ZONE_WORD_BITS 64                  /* granules per bitmap word */
#define ZONE_CHUNK_WORDS 8                 /* words per chunk (see extent.c) */
#define ZONE_CHUNK_BITS ((size_t)ZONE_WORD_BITS * ZONE_CHUNK_WORDS)
#define ZONE_MAX_EXTENTS 64                /* growth at least doubles: plenty */
#define ZONE_DIRTY_MAX 32                  /* chunks changed before the tree catches up */
#define ZONE_SMALL_MAX 64                  /* sizes (granules) the reach index serves */
#define ZONE_REACH_FAN 8                   /* reach index: bytes per node, one load */
#define ZONE_REACH_LEVELS 10               /* 8^9 words > ZONE_EXTENT_MAX_GRANULES / 64 */
#define ZONE_NONE ((size_t)-1)             /* "no granule" */

/* Largest extent: summary counters are 32-bit granule counts. */
#define ZONE_EXTENT_MAX_GRANULES ((size_t)1 << 31)

/* ---- extent.c: one mapping of the zone and its placement structure ------- */

/* Summary of the free runs of a power-of-two span of granules. */
typedef struct zone__summary {
  uint32_t start;  /* free granules at the low end of the span */
  uint32_t end;    /* free granules at the high end of the span */
  uint32_t max;    /* longest free run inside the span */
} zone__summary_t;

/*
 * An extent is one contiguous range of granules [base, base + ngran * G).
 * Layout invariants (checked by zone__extent_check):
 *  - used[] has a 1 bit for each granule inside a live block, and for the pad
 *    bits past ngran in the last word; end[] has a 1 bit on the last granule of
 *    each live block, so block boundaries need nothing inside the zone.
 *  - a live block starts at granule g iff used(g) and (g == 0 or !used(g-1) or
 *    end(g-1)); it ends at the first end bit at or after g.
 *  - cross[c] holds the last granule of the block that starts in chunk c and
 *    ends in a later chunk, if there is one (else it is stale and unread).
 *  - leaf[w] is word w's own summary, packed (past nwords, up to a whole
 *    chunk: 0, fully used), always exact.
 *  - tree[] is a complete binary tree over chunks of ZONE_CHUNK_WORDS words:
 *    tree[leaves + c] summarises chunk c (chunks past the last count as fully
 *    used), tree[1 .. leaves-1] are the inner nodes. A node summarises the
 *    free runs of its granules that touch a word edge (a word's leaf counts as
 *    {start, end, max(start, end)}): every run longer than a word's interior
 *    is one, and the tree only serves sizes above ZONE_SMALL_MAX. tree[] is
 *    exact except above the chunks in dirty_list, some of whose words' edge
 *    runs changed: those reach it at the next search that reads it
 *    (tree_flush).
 *  - reach index, level 0: reach[w] = the longest free run from any granule
 *    of word w onwards, capped at 64 (leaf max, or the word's top run plus
 *    word w+1's bottom run); level k byte j = the largest of level k-1's bytes
 *    [8j, 8j + 8). Each level has reach_len[k] bytes at reach_at[k], padded
 *    with zero bytes to a multiple of 8; the top level is one byte, the
 *    extent's longest run up to 64 (reach_top points at it). Always exact.
 */
typedef struct zone__extent {
  uintptr_t base;          /* address of granule 0 */
  size_t ngran;            /* granules managed */
  size_t nwords;           /* bitmap words: ceil(ngran / 64) */
  size_t leaves;           /* tree leaves: a power of two >= the chunks */
  uint64_t *used;
  uint64_t *end;
  uint32_t *cross;
  zone__summary_t *tree;
  uint32_t *leaf;          /* packed summary of each word (see extent.c) */
  uint64_t *dirty;         /* chunks whose tree leaf and ancestors are stale */
  uint32_t *dirty_list;    /* the same chunks, ZONE_DIRTY_MAX at most */
  size_t ndirty;
  uint8_t *reach;          /* every level of the reach index */
  size_t reach_at[ZONE_REACH_LEVELS];   /* offset of level k in reach[] */
  size_t reach_len[ZONE_REACH_LEVELS];  /* bytes in level k (before padding) */
  size_t reach_levels;     /* levels; the last is the one-byte root */
  const uint8_t *reach_top;  /* the root byte: where take_lowest looks first */
  void *book;              /* the mapping that holds the arrays above */
  size_t book_len;
  void *map;               /* the zone memory mapping, NULL if caller-owned */
  size_t map_len;
  size_t free_runs;        /* maximal free runs inside this extent */
  size_t fresh;            /* granules from here on were never handed out:
                              zero in a mapping (ngran for caller memory) */
  uint64_t *returned;      /* a bit per page that zone__trim gave back and no
                              block has been taken over since (zone.c); NULL
                              until the extent's first trim */
  size_t returned_len;     /* bytes mapped for returned[] */
  size_t returned_reused;  /* marks cleared by a take so far: pages given back
                              that a program used again */
  unsigned page_shift;     /* granules per page, log2 (set with returned[]) */
} zone__extent_t;

/* Maps bookkeeping for an extent of ngran granules at base; memory itself is
 * the caller's business. Returns 0 or ENOMEM. */
int zone__extent_init(zone__extent_t *e, uintptr_t base, size_t ngran);
void zone__extent_fini(zone__extent_t *e);
/* Grows the extent to ngran granules, the new ones free (its memory is the
 * caller's business): 0, or ENOMEM with the extent unchanged. */
int zone__extent_extend(zone__extent_t *e, size_t ngran);
/* Marks every granule free again (zone_reset). */
void zone__extent_clear(zone__extent_t *e);
/* Lowest granule where n free granules start at or after `from`, or ZONE_NONE. */
size_t zone__extent_fit(zone__extent_t *e, size_t n, size_t from);
/* Lowest granule g where n free granules start and base + g*G is a multiple
 * of align (a power of two > G), or ZONE_NONE. */
size_t zone__extent_fit_aligned(zone__extent_t *e, size_t n, size_t align);
/* Turns free granules [g, g+n) into one live block / frees the block at g of n. */
void zone__extent_take(zone__extent_t *e, size_t g, size_t n);
void zone__extent_give(zone__extent_t *e, size_t g, size_t n);
/* The fast paths: the lowest fit of n granules taken at once (its granule, or
 * ZONE_NONE); the live block starting at g freed (its length in granules, or
 * 0 when none starts there, and nothing changes). */
size_t zone__extent_alloc(zone__extent_t *e, size_t n);
size_t zone__extent_release(zone__extent_t *e, size_t g);
/* False when no run of n <= ZONE_SMALL_MAX free granules exists (the reach
 * index's root byte), so that a full extent costs its caller one compare: a
 * zone grown to many extents passes over its full ones at that price. */
static inline bool zone__extent_may_fit_small(const zone__extent_t *e, size_t n) {
  return *e->reach_top >= n;
}
/* Resizes the live block at g from old_n to new_n granules in place (a grow
 * needs the granules after it free). */
void zone__extent_resize(zone__extent_t *e, size_t g, size_t old_n, size_t new_n);
/* The first granule at or after g where a live block starts, or ZONE_NONE. */
size_t zone__extent_next_block(const zone__extent_t *e, size_t g);
/* The first block end at or after the used granule g. */
size_t zone__extent_end_after(const zone__extent_t *e, size_t g);
/* Whether a live block starts at g; its length in granules (g must start one). */
bool zone__extent_is_block(const zone__extent_t *e, size_t g);
size_t zone__extent_block_len(const zone__extent_t *e, size_t g);
/* Free granules starting at g (0 if g is used), counting at most `limit`. */
size_t zone__extent_free_len(const zone__extent_t *e, size_t g, size_t limit);
/* Longest free run in the extent. */
size_t zone__extent_largest(zone__extent_t *e);
/* 0 or a nonzero code after describing the first broken invariant. */
int zone__extent_check(zone__extent_t *e, size_t *used_gran, size_t *blocks);

/* ---- zone.c: the zone and its public entry points -------------------------- */

struct zone {
  zone__lock_t lock;
  unsigned flags;
  bool caller_memory;      /* create_zone_in: extents[0] is the caller's */
  size_t nextents;
  zone__extent_t extents[ZONE_MAX_EXTENTS];  /* sorted by base address */
  size_t size;             /* bytes managed, all extents */
  size_t used;             /* bytes in live blocks */
  size_t blocks;           /* live blocks */
  size_t peak_used;
  size_t self_len;         /* bytes mapped for this struct */
  char *reserve;           /* ZONE_GROW: reserved address space [reserve, */
  char *reserve_end;       /* reserve_end) where the next extent goes */
  size_t reserve_len;      /* the size of the last reservation */
};

/* The extent holding address p (any byte of it), or NULL. Lock held. */
zone__extent_t *zone__find_extent(const zone_t *z, uintptr_t p);
/* The zone's lock, skipped for ZONE_UNLOCKED zones. Inline: every call pays it. */
static inline void zone__lock(const zone_t *z) {
  if (!(z->flags & ZONE_UNLOCKED))
    zone__lock_acquire(&((zone_t *)z)->lock);
}
static inline void zone__unlock(const zone_t *z) {
  if (!(z->flags & ZONE_UNLOCKED))
    zone__lock_release(&((zone_t *)z)->lock);
}
/* Gives the whole pages inside free runs of at least min_bytes back to the
 * OS (they read as zero when next used); returns the bytes released. Pages
 * given back by an earlier call and not taken since are skipped: they are
 * still given back, and not counted again. */
size_t zone__trim(zone_t *z, size_t min_bytes);
/* As zone__trim, but the lowest keep_bytes of the pages it would give back
 * stay: first fit takes the lowest free memory first, so they are the pages
 * a program that grows again uses first. */
size_t zone__trim_keep(zone_t *z, size_t min_bytes, size_t keep_bytes);
/* Bytes given back by zone__trim that blocks were taken over again since, all
 * along: how much of what was returned came back (to tell a program whose
 * usage swings from one that shrank for good). */
size_t zone__trim_reused(zone_t *z);
/* In a fork child: the lock as new, whatever state the parent left it in. */
void zone__lock_reinit(zone_t *z);

/* ---- check.c: walk, stats, dump, invariants --------------------------------- */

/* zone_check with the lock already held. */
int zone__check_locked(zone_t *z);
/* Writes the zdump text to a file descriptor with no stdio and no malloc. */
int zone__dump_fd(const zone_t *z, int fd);
/* Formats one zdump line into buf (at least 96 bytes); returns its length. */
size_t zone__format_line(char *buf, size_t cap, uintptr_t addr, size_t size, bool used);
/* Formats the zdump header line; returns its length. */
size_t zone__format_header(char *buf, size_t cap, const zone_stats_t *st, size_t extents);
/* Describes a broken invariant on stderr, with write(2) only. */
void zone__report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- os.c: memory from the operating system ---------------------------------- */

/* Anonymous zero-filled read/write pages, or NULL with errno ENOMEM. */
void *zone__os_map(size_t bytes);
void zone__os_unmap(void *p, size_t bytes);
/* Address space only: inaccessible pages that cost no memory, placed at hint
 * when it is free (else where the kernel likes), or NULL. Never fails by the
 * test hook: a zone works without a reservation. */
void *zone__os_reserve(void *hint, size_t bytes);
/* Makes reserved pages read/write (zero-filled); 0 or ENOMEM (the test hook
 * counts this as a mapping). */
int zone__os_commit(void *p, size_t bytes);
/* Makes pages inaccessible (a guard after an extent). */
void zone__os_guard(void *p, size_t bytes);
/* Gives pages back to the OS; they read as zero afterwards. */
void zone__os_discard(void *p, size_t bytes);
size_t zone__os_page_size(void);
/* Asks for transparent huge pages over a mapping (a hint; may do nothing). */
void zone__os_hugepage_hint(void *p, size_t bytes);
/* Test hook: the n-th mapping from now on fails with ENOMEM (0 turns it off);
 * every mapping after that fails too when `sticky`. */
void zone__os_fail_after(long n, bool sticky);

/* ---- hot paths ------------------------------------------------------------- */

/* For the few helpers of zalloc and zfree whose calls cost more than their
 * bodies: GCC's -O2 heuristics leave them out of line. */
#define ZONE_INLINE static inline __attribute__((always_inline))

/* ---- assertions ----------------------------------------------------------- */

#ifndef ZONE_DEBUG
#define ZONE_DEBUG 0
#endif
void zone__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define zone__assert_at(level, expr) \
  ((ZONE_DEBUG >= (level) && !(expr)) ? zone__assert_fail(#expr, __FILE__, __LINE__) : (void)0)
#define zone_assert_api(expr) zone__assert_at(1, expr)
#define zone_assert(expr) zone__assert_at(2, expr)
/* Full validation after every change, at ZONE_DEBUG 3 (mimalloc's expensive asserts). */
#define zone_assert_expensive(z) zone__assert_at(3, zone__check_locked(z) == 0)

#endif /* ZONE_INTERNAL_H */
