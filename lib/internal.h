/*
 * internal.h - what the core's files share: the structs (types.h), the
 * assertions, and each file's prototypes, grouped by the file that defines
 * them, from the top layer down. Nothing here is installed or exported; the
 * shim and the tools see only zone.h and ext/zone_ext.h.
 *
 * The layers (a file calls only files below it):
 *
 *   zone.c      lifecycle and the malloc family over one zone, fork protocol
 *   inspect.c   stats, walk, dump, zone_check
 *     grow.c    reservation, mapping and growth of extents
 *     trim.c    page return: the returned-pages marks, zone__trim
 *     checker.c heap checkers: what memcheck and ASan are told
 *     remote.c  frees handed over by threads without the lock
 *       index.c   bitmaps of one extent: take, give, resize, fit, queries
 *         reach.c   the reach index: the lowest fit of a small size
 *         tree.c    the summary tree: the lowest fit of a large size
 *           os.c      memory from the OS
 *           report.c  messages to stderr, assertion failures, check failures
 *
 * static.c compiles them as one translation unit, so that the split costs
 * no call on the hot paths.
 */
#ifndef ZONE_INTERNAL_H
#define ZONE_INTERNAL_H

#include "types.h"
#include "ext/zone_ext.h"

/* ---- hot paths ------------------------------------------------------------- */

/* For the few helpers of zalloc and zfree whose calls cost more than their
 * bodies: GCC's -O2 heuristics leave them out of line. */
#define ZONE_INLINE static inline __attribute__((always_inline))
/* The same for a hot helper another file calls: inlined into its callers in
 * the single-translation-unit build (static.c), an ordinary call elsewhere. */
#define ZONE_INLINE_SHARED inline __attribute__((always_inline))
/* A value the compiler must take as it is from here on: it can't rebuild it
 * from what it was computed from, nor use what a test before said of it. */
#define ZONE_OPAQUE(v) __asm__("" : "+r"(v))

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

/* ---- zone.c: the zone and its public entry points -------------------------- */

/* The zone's lock, skipped for ZONE_UNLOCKED zones and while the process has
 * one thread (lock.h). Inline: every call pays it. The release needs no look
 * at the flags: a lock never taken reads 0, and zone__lock_drop leaves it. */
/* The two halves for the hot paths (zalloc, zfree), which keep the waits
 * out of line: zone__lock_fast is true when the lock is taken (or needs no
 * taking); else *expected is for zone__lock_contended. zone__unlock_fast is
 * true when a waiter must still be woken (zone__lock_wake). */
static inline bool zone__lock_fast(const zone_t *z, int *expected) {
  if (ZONE_SINGLE_THREADED() || (z->flags & ZONE_UNLOCKED))
    return true;
  return zone__lock_try(&((zone_t *)z)->lock, expected);
}
static inline bool zone__unlock_fast(const zone_t *z) {
  return zone__lock_drop(&((zone_t *)z)->lock);
}
/* The zone's `plain` flag, read by zalloc's and zfree's short paths with the
 * lock held. Other threads write it only to clear it (remote.c), so any read
 * is a valid relaxed load; GCC would load an atomic into a register and test
 * it there, so on x86-64 the read is one compare against memory (ThreadSanitizer
 * builds, which must see every access, and ZONE_PORTABLE keep the C load). */
static inline bool zone__plain(const zone_t *z) {
#if defined(__x86_64__) && !defined(ZONE_PORTABLE) && !defined(__SANITIZE_THREAD__)
  bool zero;
  __asm__("cmpb $0, %1" : "=@ccz"(zero) : "m"(*(const bool *)&z->plain));
  return !zero;
#else
  return atomic_load_explicit(&z->plain, memory_order_relaxed);
#endif
}

/* Applies the frees other threads handed over (remote.c), the lock held. */
void zone__remote_settle(zone_t *z);
bool zone__remote_pending(const zone_t *z);
/* The deferred free done (zone.c), the lock held. */
void zone__settle(zone_t *z);
/* The frees waiting, handed over or deferred, done, the lock held: what
 * every call that takes the lock does before anything else. */
static inline void zone__settle_waiting(zone_t *z) {
  if (__builtin_expect(zone__remote_pending(z), 0))
    zone__remote_settle(z);
  if (__builtin_expect(z->pending != NULL, 0))
    zone__settle(z);
}
static inline void zone__lock(const zone_t *z) {
  int expected;
  if (!zone__lock_fast(z, &expected))
    zone__lock_contended(&((zone_t *)z)->lock, expected);
  zone__settle_waiting((zone_t *)z);
}
static inline void zone__unlock(const zone_t *z) { zone__lock_release(&((zone_t *)z)->lock); }

/* ---- inspect.c: stats, walk, dump, invariants ------------------------------- */

/* zone_check with the lock already held. */
int zone__check_locked(zone_t *z);

/* ---- grow.c: mapping and growth ---------------------------------------------- */

/* Maps an extent of ngran granules (from the zone's reservation for a
 * ZONE_GROW zone) followed by a guard page: 0 or ENOMEM. */
int zone__extent_map(zone_t *z, zone__extent_t *out, size_t ngran);
/* Unmaps a mapped extent with its bookkeeping and page marks. */
void zone__extent_unmap(zone__extent_t *e);
/* Inserts a prepared extent keeping the array sorted by base address. */
zone__extent_t *zone__extent_insert(zone_t *z, const zone__extent_t *e);
/* Grows a ZONE_GROW zone by room for `need` granules; the extent that has
 * them, or NULL when the zone can't grow. */
zone__extent_t *zone__grow(zone_t *z, size_t need);
/* Gives back what is left of the zone's address-space reservation. */
void zone__reserve_release(zone_t *z);
/* Extents from this size up get room to grow in their bookkeeping (grow.c). */
#define ZONE_BOOK_ROOM_FROM ((size_t)32 << 20)
/* Test hook: extents from `bytes` up get room (ZONE_BOOK_ROOM_FROM restores). */
void zone__book_room_from(size_t bytes);

/* ---- trim.c: pages given back -------------------------------------------------- */

/* A new extent's marks: none (zone__extent_insert). */
void zone__returned_init(zone__extent_t *e);

/* Granules [g, g + n) of e are about to be used: their pages are no longer
 * known to be given back. On the hot path (inlined in the single-TU build). */
void zone__pages_taken(zone__extent_t *e, size_t g, size_t n);

/* ---- checker.c: heap checkers (memcheck, AddressSanitizer) ------------------- */

/* The checker a process runs under: found once (zone__checker_detect), kept
 * in each zone's check.kind. */
enum { ZONE_CHECKER_NONE = 0, ZONE_CHECKER_MEMCHECK = 1, ZONE_CHECKER_ASAN = 2 };

/* Whether z runs under a checker: the one test the hot paths pay natively,
 * before they call the zone__checker_* hooks below. */
static inline bool zone__checked(const zone_t *z) {
  return __builtin_expect(z->check.kind != ZONE_CHECKER_NONE, 0);
}

/* The checker this process runs under, looked up once. */
unsigned zone__checker_detect(void);
/* Bytes a mapping that holds a zone's record or blocks keeps before them:
 * one page under memcheck (so that no pointer to the end of the mapping below
 * points at a block), else 0. */
size_t zone__checker_lead(unsigned kind);
/* The zone's record: len zeroed bytes (check.kind still to be set), or NULL;
 * and its release, table included. Under memcheck the record is a block of
 * its own (a zone never destroyed is reported lost) whose words the leak
 * scan skips; under ASan it comes from the program's (ASan's) calloc. */
zone_t *zone__checker_record_new(unsigned kind, size_t len);
void zone__checker_record_free(zone_t *z);
/* [p, p + bytes) now belongs to z but holds no block (a new or grown
 * extent, its slack and guard; a caller's buffer): off limits. Any kind. */
void zone__checker_fresh(const zone_t *z, void *p, size_t bytes);
/* The hooks of the block calls, each with the lock held and only when
 * zone__checked(z). alloc returns the size the checker knows the block by
 * (bytes, or rounded when the table has no room); for a zeroed block the
 * whole of it stays writable until zeroed (after the zeroing, unlocked)
 * closes the padding again. */
size_t zone__checker_alloc(zone_t *z, void *p, size_t bytes, size_t rounded, bool zeroed);
void zone__checker_zeroed(const zone_t *z, void *p, size_t known, size_t rounded);
void zone__checker_free(zone_t *z, void *p, size_t rounded);
/* A resize in place, to `bytes` asked for. */
void zone__checker_resize(zone_t *z, void *p, size_t old_rounded, size_t new_rounded, size_t bytes);
/* A move: copies what the program may have written of `from` (its request,
 * at most `bytes`) to `to` and tells the checker; zrealloc's memmove. */
void zone__checker_move(zone_t *z, void *to, size_t to_rounded, void *from, size_t from_rounded,
                        size_t bytes);
/* zone_block_size was asked: the whole rounded block becomes usable. */
void zone__checker_usable(zone_t *z, const void *p, size_t rounded);
/* zone_reset, before the index forgets the blocks: every block gone, every
 * extent off limits. */
void zone__checker_reset(zone_t *z);
/* destroy_zone, before the extents go: every block gone, a caller's buffer
 * given back as it was, mapped extents forgotten. Any kind. */
void zone__checker_destroy(zone_t *z);

/* ---- remote.c: frees handed over without the lock ---------------------------- */

/* zone__remote_push: zone_ext.h. */
/* Up to max handed-over frees into out[], the lock held, in push order;
 * returns how many (0: none ready). With skip_unwritten (a fork child), past
 * slots whose pusher never finished. */
size_t zone__remote_take(zone_t *z, void **out, size_t max, bool skip_unwritten);
/* Unmaps the ring (destroy_zone). */
void zone__remote_free(zone_t *z);
/* Sets `plain` from the zone's state (one extent, no checker, frees not
 * deferred, nothing handed over waiting), the lock held. */
void zone__plain_set(zone_t *z);

/* ---- index.c: the placement index of one extent ---------------------------- */

/* Maps the bookkeeping for ngran free granules, laid out with room for
 * `room` granules (address space only; less, down to ngran, when that much
 * can't be had). Returns 0 or ENOMEM. */
int zone__index_init(zone__index_t *ix, size_t ngran, size_t room);
void zone__index_fini(zone__index_t *ix);
/* Grows the index to ngran granules, the new ones free: 0, or ENOMEM with
 * the index unchanged. Within the book's room, in place: only what is new
 * is written. Past it, the bookkeeping moves to a new book with room for
 * `room` granules; the old is unmapped only after the new is in place. A
 * fork child frozen at any instruction of it reads either (the sizes are
 * published last). */
int zone__index_extend(zone__index_t *ix, size_t ngran, size_t room);
/* Marks every granule free again (zone_reset). Only the bitmap words below
 * granule `touched` can have a bit set (the extent's fresh mark: no block
 * ever reached past it), so only they are written. */
void zone__index_clear(zone__index_t *ix, size_t touched);
/* Lowest granule where n free granules start at or after `from`, or ZONE_NONE. */
size_t zone__index_fit(zone__index_t *ix, size_t n, size_t from);
/* Lowest granule g where n free granules start and base + g*G is a multiple
 * of align (a power of two > G), or ZONE_NONE. */
size_t zone__index_fit_aligned(zone__index_t *ix, uintptr_t base, size_t n, size_t align);
/* Turns free granules [g, g+n) into one live block / frees the block at g of n. */
void zone__index_take(zone__index_t *ix, size_t g, size_t n);
void zone__index_give(zone__index_t *ix, size_t g, size_t n);
/* The fast paths: the lowest fit of n granules taken at once (its granule, or
 * ZONE_NONE); the live block starting at g < ngran freed (its length in
 * granules, or 0 when none starts there, and nothing changes). */
size_t zone__index_alloc(zone__index_t *ix, size_t n);
size_t zone__index_release(zone__index_t *ix, size_t g);
/* Resizes the live block at g from old_n to new_n granules in place (a grow
 * needs the granules after it free). */
void zone__index_resize(zone__index_t *ix, size_t g, size_t old_n, size_t new_n);
/* The first granule in [g, limit) where a live block starts, or ZONE_NONE
 * (an extent's fresh mark as the limit: no block starts past it, and the
 * bitmap there is not read). */
size_t zone__index_next_block(const zone__index_t *ix, size_t g, size_t limit);
/* The first block end at or after the used granule g. */
size_t zone__index_end_after(const zone__index_t *ix, size_t g);
/* Whether a live block starts at g; its length in granules (g must start one). */
bool zone__index_is_block(const zone__index_t *ix, size_t g);
size_t zone__index_block_len(const zone__index_t *ix, size_t g);
/* The length of the live block starting at g, or 0 when none starts there
 * (g < ngran): the two above in one call. */
size_t zone__index_block_at(const zone__index_t *ix, size_t g);
/* Free granules starting at g (0 if g is used), counting at most `limit`. */
size_t zone__index_free_len(const zone__index_t *ix, size_t g, size_t limit);
/* The whole free run starting at g, in granules (0 if g is used), found
 * over the tree in O(log n) (it is flushed first). */
size_t zone__index_free_run(zone__index_t *ix, size_t g);
/* Maximal free runs, counted over the bitmap (O(words)). */
size_t zone__index_free_runs(const zone__index_t *ix);
/* Longest free run. */
size_t zone__index_largest(zone__index_t *ix);
/* 0, or the first broken invariant (described on stderr); base names the
 * extent in the description. */
int zone__index_check(zone__index_t *ix, uintptr_t base, size_t *used_gran, size_t *blocks);

/* A word's leaf, packed in 32 bits: the free granules at its bottom (bits
 * 0-7), at its top (8-15) and its longest free run (16-23), each at most 64. */
static inline uint32_t zone__leaf_pack(unsigned start, unsigned end, unsigned max) {
  return start | end << 8 | max << 16;
}
static inline unsigned zone__leaf_start(uint32_t leaf) { return leaf & 0xff; }
static inline unsigned zone__leaf_end(uint32_t leaf) { return (leaf >> 8) & 0xff; }
static inline unsigned zone__leaf_max(uint32_t leaf) { return leaf >> 16; }
/* The fields the tree reads: start and end (a change elsewhere leaves it be). */
#define ZONE_LEAF_EDGES 0xffffu

/* Chunks (tree leaves in use) over nwords words. */
static inline size_t zone__chunks_of(size_t nwords) {
  return (nwords + ZONE_CHUNK_WORDS - 1) / ZONE_CHUNK_WORDS;
}

/* ---- reach.c: the reach index ------------------------------------------------- */

/* Lays out the levels for an index of up to cap_words words; returns the
 * bytes they need. */
size_t zone__reach_layout(zone__reach_t *r, size_t cap_words);
/* Points r at its bytes (laid out by zone__reach_layout). */
void zone__reach_attach(zone__reach_t *r, uint8_t *bytes);
/* Sizes the levels in use for nwords words (attached first). */
void zone__reach_size(zone__reach_t *r, size_t nwords);
/* The bytes (padding included) level k of an index of nwords words uses,
 * from its level's start: 0 when it has no such level (or no words). */
size_t zone__reach_bytes(size_t nwords, size_t k);
/* A move to a new book: ix's levels, sized as from's, get from's bytes. */
void zone__reach_copy(zone__index_t *ix, const zone__index_t *from);
/* Word w's reach from the leaves; the same with its leaf v at hand. */
unsigned zone__reach_of(const zone__index_t *ix, size_t w);
unsigned zone__reach_of_leaf(const zone__index_t *ix, size_t w, uint32_t v);
/* The reach of a word whose leaf is v when the free granules from the next
 * word's bottom on are next_start (zone__reach_cont; 0 past the last word):
 * its longest run, or its top run continued into the next words, capped at
 * ZONE_REACH_MAX. */
static inline unsigned zone__reach_from(uint32_t v, unsigned next_start) {
  unsigned best = zone__leaf_max(v), top = zone__leaf_end(v);
  if (top == 0)
    return best;
  unsigned across = top + next_start;
  if (across > ZONE_REACH_MAX)
    across = ZONE_REACH_MAX;
  return across > best ? across : best;
}
/* The free granules from word w's bottom on, w's leaf being v: its bottom
 * run, and the next word's bottom run too when w is wholly free. A top run
 * below w goes on by that much, exactly up to ZONE_REACH_MAX (two words'
 * worth), which is all a reach byte counts. */
_Static_assert(ZONE_REACH_MAX < 2 * ZONE_WORD_BITS, "a reach byte reads two words beyond its own");
static inline unsigned zone__reach_cont(const zone__index_t *ix, size_t w, uint32_t v) {
  unsigned s = zone__leaf_start(v);
  if (__builtin_expect(s == ZONE_WORD_BITS, 0) && w + 1 < ix->nwords)
    s += zone__leaf_start(ix->leaf[w + 1]);
  return s;
}
/* Sets word w's reach byte to v, carrying the change up. */
void zone__reach_set(zone__index_t *ix, size_t w, unsigned v);
/* The same when v is known to be no less than the old byte (rise) or no
 * more: a constant `rise` compiles in only that half. */
void zone__reach_move(zone__index_t *ix, size_t w, unsigned v, bool rise);
/* Words [w0, w1] have fresh leaves: their bytes and the maxima above; the
 * words from w0 + 2 to w1 - 1 are wholly used (inner 0) or wholly free
 * (inner ZONE_REACH_MAX: each but the last runs on into another free word),
 * taken or given whole by the change. */
void zone__reach_update(zone__index_t *ix, size_t w0, size_t w1, unsigned inner);
/* The same when the words [u0, u1) among them (u0 < u1) are wholly used (a
 * big block taken): the bytes over them alone are zero, and are zeroed
 * without reading a leaf (zone__os_zero: a long range's pages go back). */
void zone__reach_update_used(zone__index_t *ix, size_t w0, size_t w1, size_t u0, size_t u1);
/* Builds every level from the leaves (init, reset). */
void zone__reach_build(zone__index_t *ix);
/* Growth in place: ix sized for its new words, whose leaves are written:
 * the bytes of words [from, nwords) and the maxima above them; words
 * [free_from, nwords - 1) are wholly free (no leaf read). */
void zone__reach_grow(zone__index_t *ix, size_t from, size_t free_from);
/* The lowest fit of n <= ZONE_REACH_MAX granules at or after `from`. */
size_t zone__reach_fit(const zone__index_t *ix, size_t n, size_t from);
/* The same from granule 0 for n <= ZONE_SMALL_MAX when
 * zone__reach_may_fit(ix, n), never ZONE_NONE: its word (returned) and the
 * granule in that word (*bit). */
size_t zone__reach_first_fit_word(const zone__index_t *ix, size_t n, size_t *bit);
/* The longest free run, capped at ZONE_REACH_MAX granules (the root). */
size_t zone__reach_largest(const zone__index_t *ix);
/* 0 or ZONE_CHECK_REACH_STALE after describing the wrong byte. */
int zone__reach_check(const zone__index_t *ix, uintptr_t base);
/* False when no run of n <= ZONE_REACH_MAX free granules exists (the root
 * byte), so that a full extent costs its caller one compare. */
static inline bool zone__reach_may_fit(const zone__index_t *ix, size_t n) {
  return *ix->reach.top >= n;
}

/* ---- tree.c: the summary tree --------------------------------------------------- */

/* Nodes of the level of n nodes ([n, 2n)) of a tree of `leaves` leaves that
 * lie over one of its nchunks chunks at least: the rest of the level is
 * padding, never written (zero: fully used). */
size_t zone__tree_level_real(size_t n, size_t leaves, size_t nchunks);

/* Notes that word w's edge runs moved (its leaf is already fresh). */
void zone__tree_dirty(zone__index_t *ix, size_t w);
/* Brings the tree up to date with every chunk changed since the last flush,
 * or rebuilds a sleeping tree whole: every reader of the tree calls it first. */
void zone__tree_flush(zone__index_t *ix);
/* Forgets every pending change and wakes a sleeping tree (the whole tree is
 * about to be rebuilt). */
void zone__tree_forget(zone__index_t *ix);
/* Builds every node from the leaves (init, reset, a sleeping tree's wake). */
void zone__tree_build(zone__index_t *ix);
/* Growth in place: ix sized for its new words (old_leaves and old_chunks
 * before), whose leaves are written: the old nodes moved where the new
 * tree has them, the chunks from word `from`'s on and every node above them
 * (words [free_from, nwords - 1) are wholly free); a sleeping tree has the
 * new chunks marked stale instead. */
void zone__tree_grow(zone__index_t *ix, size_t old_leaves, size_t old_chunks, size_t from, size_t free_from);
/* A move to a new book: ix's tree, sized as from's, gets its nodes and its
 * pending changes. */
void zone__tree_copy(zone__index_t *ix, const zone__index_t *from);
/* Words [w0, w1] have fresh leaves: their chunks and the nodes above, now
 * (nothing while the tree sleeps); the words between them were wholly taken
 * (`taken`) or given, so a chunk of them only is wholly used or free. */
void zone__tree_rebuild(zone__index_t *ix, size_t w0, size_t w1, bool taken);
/* The same when the words [u0, u1) among them are wholly used (as
 * zone__reach_update_used): the nodes over them alone are zero summaries. */
void zone__tree_rebuild_used(zone__index_t *ix, size_t w0, size_t w1, size_t u0, size_t u1);
/* The lowest fit of n > ZONE_REACH_MAX granules at or after `from`. */
size_t zone__tree_fit(zone__index_t *ix, size_t n, size_t from);
/* The first used granule at or after the free granule g, or ngran. */
size_t zone__tree_run_end(zone__index_t *ix, size_t g);
/* The longest free run that touches a word edge. */
size_t zone__tree_largest(zone__index_t *ix);
/* 0 or a ZONE_CHECK_* failure after describing it. */
int zone__tree_check(zone__index_t *ix, uintptr_t base);

/* ---- os.c: memory from the operating system ---------------------------------- */

/* Anonymous zero-filled read/write pages, or NULL with errno ENOMEM. */
void *zone__os_map(size_t bytes);
/* The same, never refused by the test hook: for the heap checkers' own
 * bookkeeping (checker.c), which exists only under a checker, so that a run
 * under one fails the same mappings as a native run. NULL on failure. */
void *zone__os_map_quiet(size_t bytes);
/* Test hook: whether the allocation about to be made is refused; counts as a
 * mapping (checker.c's record from ASan's malloc stands for one). */
bool zone__os_refused(void);
void zone__os_unmap(void *p, size_t bytes);
/* Address space only: inaccessible pages that cost no memory, placed at hint
 * when it is free (else where the kernel likes), or NULL. Never fails by the
 * test hook: a zone works without a reservation. */
void *zone__os_reserve(void *hint, size_t bytes);
/* Address space only, exactly at `at` (never over an existing mapping): 0,
 * or ENOMEM when the range is taken or can't be had. */
int zone__os_reserve_at(void *at, size_t bytes);
/* Makes reserved pages read/write (zero-filled); 0 or ENOMEM (the test hook
 * counts this as a mapping). */
int zone__os_commit(void *p, size_t bytes);
/* Makes pages inaccessible (a guard after an extent). */
void zone__os_guard(void *p, size_t bytes);
/* Whether the process's address space is limited (a finite RLIMIT_AS). */
bool zone__os_space_limited(void);
/* Gives pages back to the OS; they read as zero afterwards. */
void zone__os_discard(void *p, size_t bytes);
/* Sets bytes [p, p + bytes) of a private anonymous mapping (the bookkeeping)
 * to zero. A long range (ZONE_ZERO_DISCARD_BYTES of whole pages or more) has
 * its whole pages given back instead of written: they read as zero and hold
 * no memory until written again, where a memset would make every page of it
 * resident (a block of gigabytes taken or freed: bench/results/PROFILE.md). */
void zone__os_zero(void *p, size_t bytes);
#define ZONE_ZERO_DISCARD_BYTES ((size_t)256 << 10)
/* Asks for transparent huge pages over a mapping (a hint; may do nothing). */
void zone__os_hugepage_hint(void *p, size_t bytes);
/* Makes the pages over [p, p + bytes) resident and writable in one system
 * call (MADV_POPULATE_WRITE), for memory about to be written whole: one
 * call instead of a page fault per page. Does nothing where the kernel has
 * no such call (the writes fault the pages in then), and keeps errno. */
void zone__os_populate(void *p, size_t bytes);
/* Test hook: the n-th mapping from now on fails with ENOMEM (0 turns it off);
 * every mapping after that fails too when `sticky`. */
void zone__os_fail_after(long n, bool sticky);

/* ---- report.c: messages ----------------------------------------------------------- */

/* Writes all of buf to fd with write(2), retrying on EINTR. */
void zone__write_all(int fd, const char *buf, size_t len);
/* Describes a broken invariant on stderr, with write(2) only. */
void zone__report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What zone_check found broken (its nonzero return values). */
typedef enum zone__check_failure {
  ZONE_CHECK_PAD_FREE = 1,        /* pad granules past the end marked free */
  ZONE_CHECK_END_ON_FREE,         /* a block end bit on a free granule */
  ZONE_CHECK_RUN_WITHOUT_END,     /* a used run with no block end */
  ZONE_CHECK_CROSS_END,           /* a chunk-crossing block's end misrecorded */
  ZONE_CHECK_BLOCK_LENGTH,        /* the length lookup disagrees with the bits */
  ZONE_CHECK_TREE_STALE,          /* a summary tree node disagrees */
  ZONE_CHECK_LEAF_STALE,          /* a word's leaf disagrees with its bits */
  ZONE_CHECK_DIRTY_LEFT,          /* dirty chunks left after a flush */
  ZONE_CHECK_EXTENT_COUNT,        /* no extents, or too many */
  ZONE_CHECK_EXTENT_SHAPE,        /* an extent misaligned or empty */
  ZONE_CHECK_EXTENT_ORDER,        /* extents overlapping or out of order */
  ZONE_CHECK_ACCOUNTING,          /* size, used or blocks disagree with the bits */
  ZONE_CHECK_REACH_STALE,         /* a reach index byte disagrees */
} zone__check_failure_t;
/* Describes failure f on stderr ("zone_check: <what>: <details>") and
 * returns f. */
int zone__check_fail(zone__check_failure_t f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* ZONE_INTERNAL_H */
