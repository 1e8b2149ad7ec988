/*
 * fuzz_zone.c - the differential fuzz target. It decodes its input into a
 * program of calls on up to four zones (created with and without ZONE_GROW,
 * over mappings or over a caller's buffer) and checks every call against the
 * reference model of exact first fit in tests/model.h: the address a call
 * returns, its errno, zone_check, zone_stats, the ordered walk, zdump's text
 * and the bytes of every live block. The model covers one extent; this file
 * keeps one model per extent of a growable zone, asks them in address order
 * as the library does, and learns where a new extent landed from the walk.
 *
 * Besides the calls a program can make correctly, the input also makes the
 * calls a buggy program makes: frees of interior, freed, foreign, stack and
 * wild pointers, bad arguments, scribbles over free memory; and it can make
 * every mapping of the next call fail (zone__os_fail_after), which must give
 * NULL with ENOMEM and leave the zone as it was. A zone may defer the frees
 * of its live blocks (zone__defer_frees, the shim's ZONE_FREE_DEFER): its
 * allocations and frees then run on unchecked, so that they meet a free
 * still waiting, and the next other call checks everything (under ASan a
 * zone never defers: fuzz_zone_plain, built without it, reaches this).
 *
 * A finding aborts with a description of the call and what differed. The same
 * function runs under libFuzzer (clang) and under fuzz/replay.c, which feeds
 * it the files of a corpus (any compiler, ctest zone.fuzz.corpus).
 */
#include "zone.h"
#include "internal.h" /* zone__os_fail_after */
#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- limits ------------------------------------------------------------------ */

#define FZ_ZONES 4
#define FZ_EXTENTS 24
#define FZ_BLOCKS 256
#define FZ_FREED 8
#define FZ_MAX_OPS 4096
/* A growable zone stops growing past this (the model costs a byte a granule
 * and scans linearly); a request that would grow it further is skipped. */
#define FZ_GROW_CAP ((size_t)512 << 10)
/* Contents of every block are verified after each call while a zone holds
 * this little; above it, before each free, move, reset and destroy. */
#define FZ_VERIFY_ALL ((size_t)64 << 10)
/* The contract's largest extent (README: one extent holds at most 32 GiB). */
#define FZ_EXTENT_MAX ((size_t)1 << 35)

/* ---- state ------------------------------------------------------------------- */

typedef struct fz_block {
  unsigned char *p;
  size_t size;   /* rounded size, what zone_block_size must say */
  uint64_t id;   /* seeds the pattern its bytes hold */
} fz_block_t;

typedef struct fz_zone {
  zone_t *z;
  unsigned flags;
  bool defers;             /* its frees of live blocks go through zone__free_known, deferred */
  unsigned char *raw;      /* create_zone_in: the malloc'd buffer */
  unsigned char *buf;      /* the pointer given to create_zone_in */
  size_t buf_len;
  unsigned char *shadow;   /* what buf must hold byte for byte */
  size_t next;             /* extents (models), sorted by base */
  zone_model_t ext[FZ_EXTENTS];
  /* Per extent, a byte per granule: scribbled while free and not handed out
   * since. zcalloc may show such bytes (see op_alloc); all others are 0. */
  unsigned char *scribbled[FZ_EXTENTS];
  size_t peak;             /* high-water mark of used bytes, zone-wide */
  size_t nblk;
  fz_block_t blk[FZ_BLOCKS];
  size_t nfreed;
  uintptr_t freed[FZ_FREED];  /* recently freed addresses, for double frees */
} fz_zone_t;

static struct {
  fz_zone_t zones[FZ_ZONES];
  const uint8_t *in;
  size_t left;
  uint64_t next_id;
  unsigned op;           /* index of the call being checked, for reports */
  const char *what;      /* its name */
  bool fault;            /* every mapping of this call fails */
} fz;

/* ---- reporting --------------------------------------------------------------- */

static void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fz_fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "fuzz_zone: call %u (%s): ", fz.op, fz.what ? fz.what : "?");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}

/* FZ_TRACE=1 in the environment prints every call as it is made, which is
 * how a finding is turned into a readable reproducer. */
static bool fz_tracing;
static void fz_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fz_trace(const char *fmt, ...) {
  if (!fz_tracing)
    return;
  va_list ap;
  fprintf(stderr, "[%u] ", fz.op);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

#define FZ_EXPECT(cond, ...) \
  do {                       \
    if (!(cond))             \
      fz_fail(__VA_ARGS__);  \
  } while (0)

/* ---- input ------------------------------------------------------------------- */

static uint8_t take8(void) {
  if (fz.left == 0)
    return 0;
  fz.left--;
  return *fz.in++;
}

static uint16_t take16(void) {
  uint16_t lo = take8();  /* two statements: the order of the bytes is fixed */
  return (uint16_t)(lo | take8() << 8);
}

/* ---- block contents ------------------------------------------------------------ */

/* Word j of the block with this id: a hash, so a block moved, overlapped or
 * swapped with another shows up as a mismatch. */
static uint64_t pattern(uint64_t id, size_t j) {
  uint64_t x = id * 0x9e3779b97f4a7c15u + j;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 29;
  return x;
}

/* Writes into zone memory go through here so a caller buffer's shadow
 * follows. Free memory is written too (scribbles): if the library ever
 * poisons it for ASan, that is the misuse being tested, not a finding. */
__attribute__((no_sanitize("address"))) static void zone_write(fz_zone_t *zn, unsigned char *p,
                                                               uint8_t byte, size_t len) {
  for (size_t i = 0; i < len; i++)
    p[i] = byte;
  if (zn->buf != NULL && p >= zn->buf && p + len <= zn->buf + zn->buf_len)
    memset(zn->shadow + (p - zn->buf), byte, len);
}

/* Fills the block's words from word `from` on with its pattern. */
static void fill_block(fz_zone_t *zn, const fz_block_t *b, size_t from) {
  for (size_t j = from; j < b->size / 8; j++) {
    uint64_t w = pattern(b->id, j);
    memcpy(b->p + j * 8, &w, 8);
    if (zn->buf != NULL)
      memcpy(zn->shadow + (b->p - zn->buf) + j * 8, &w, 8);
  }
}

/* Checks the first `bytes` of the block against its pattern. */
static void verify_block(const fz_block_t *b, size_t bytes, const char *when) {
  for (size_t j = 0; j < bytes / 8; j++) {
    uint64_t w;
    memcpy(&w, b->p + j * 8, 8);
    FZ_EXPECT(w == pattern(b->id, j),
              "%s: block %p (%zu bytes, id %" PRIu64 ") changed at byte %zu", when, (void *)b->p,
              b->size, b->id, j * 8);
  }
}

static void verify_all_blocks(const fz_zone_t *zn, const char *when) {
  for (size_t i = 0; i < zn->nblk; i++)
    verify_block(&zn->blk[i], zn->blk[i].size, when);
}

/* ---- the multi-extent model ----------------------------------------------------
 * One model (tests/model.h) per extent, in address order; these add them up. */

static size_t fz_size(const fz_zone_t *zn) {
  size_t s = 0;
  for (size_t k = 0; k < zn->next; k++)
    s += zn->ext[k].ngran * MODEL_G;
  return s;
}

static size_t fz_used(const fz_zone_t *zn) {
  size_t s = 0;
  for (size_t k = 0; k < zn->next; k++)
    s += zn->ext[k].used_gran * MODEL_G;
  return s;
}

/* What zone_stats must say: the extents' figures added up, the largest free
 * region of any, and the zone-wide high-water mark (the fuzzer's own). */
static void fz_stats(const fz_zone_t *zn, zone_stats_t *st) {
  memset(st, 0, sizeof *st);
  for (size_t k = 0; k < zn->next; k++) {
    zone_stats_t e;
    model_stats(&zn->ext[k], &e);
    st->size += e.size;
    st->used += e.used;
    st->blocks += e.blocks;
    st->free_blocks += e.free_blocks;
    if (e.largest_free > st->largest_free)
      st->largest_free = e.largest_free;
  }
  st->free = st->size - st->used;
  st->peak_used = zn->peak;
}

/* Whether address a lies in one of the extents. */
static bool in_extents(const fz_zone_t *zn, uintptr_t a) {
  for (size_t k = 0; k < zn->next; k++)
    if (a >= zn->ext[k].base && a < model_end(&zn->ext[k]))
      return true;
  return false;
}

/* Extent and granule of the live block starting at p in the model, or -1. */
static int fz_block_at(const fz_zone_t *zn, const void *p, size_t *off) {
  for (size_t k = 0; k < zn->next; k++)
    if ((*off = model_block_at(&zn->ext[k], p)) != MODEL_NONE)
      return (int)k;
  return -1;
}

/* Granules for a request as the contract rounds it; 0 when it can never fit
 * any extent (larger than the largest extent there can be). */
static size_t granules(size_t bytes) {
  return bytes > FZ_EXTENT_MAX ? 0 : model_granules(bytes);
}

/* ---- checking a whole zone ----------------------------------------------------- */

static void check_stats(const fz_zone_t *zn, const zone_stats_t *got) {
  zone_stats_t want;
  char why[160];
  fz_stats(zn, &want);
  FZ_EXPECT(model_compare_stats(got, &want, why, sizeof why) == 0, "%s", why);
}

/* The caller's buffer holds exactly what the fuzzer wrote into it. */
#define ZN(zn) ((int)((zn) - fz.zones))

/* The first byte of the caller's buffer that differs from the shadow (its
 * value in *got), or buf_len. Read past ASan: the library poisons the bytes
 * no block holds (lib/checker.c), and reading them here is no finding. */
__attribute__((no_sanitize("address"))) static size_t buffer_changed_at(const fz_zone_t *zn,
                                                                        unsigned char *got) {
  for (size_t i = 0; i < zn->buf_len; i++)
    if (zn->buf[i] != zn->shadow[i]) {
      *got = zn->buf[i];
      return i;
    }
  return zn->buf_len;
}

static void check_buffer(const fz_zone_t *zn, const char *what) {
  unsigned char got = 0;
  size_t i = buffer_changed_at(zn, &got);
  FZ_EXPECT(i == zn->buf_len, "%s: byte %zu of %zu (%p) is %#x, not %#x", what, i, zn->buf_len,
            (void *)(zn->buf + i), got, zn->shadow[i]);
}

/* zone_check, the walk, stats, zone_size and the caller buffer's bytes. */
static void check_zone(fz_zone_t *zn) {
  FZ_EXPECT(zone_check(zn->z) == 0, "zone_check fails (description above)");
  char why[256];
  FZ_EXPECT(model_compare_walk(zn->ext, zn->next, zn->z, why, sizeof why) == 0, "%s", why);
  zone_stats_t st;
  zone_stats(zn->z, &st);
  check_stats(zn, &st);
  FZ_EXPECT(zone_size(zn->z) == st.size, "zone_size %zu, stats say %zu", zone_size(zn->z), st.size);
  if (zn->buf != NULL)
    check_buffer(zn, "the caller's buffer changed outside the blocks handed out");
  if (fz_used(zn) <= FZ_VERIFY_ALL)
    verify_all_blocks(zn, "after the call");
}

/* ---- block table ---------------------------------------------------------------- */

static fz_block_t *table_find(fz_zone_t *zn, const void *p) {
  for (size_t i = 0; i < zn->nblk; i++)
    if (zn->blk[i].p == p)
      return &zn->blk[i];
  return NULL;
}

static void table_remove(fz_zone_t *zn, fz_block_t *b) {
  zn->freed[zn->nfreed++ % FZ_FREED] = (uintptr_t)b->p;
  *b = zn->blk[--zn->nblk];
}

static void note_peak(fz_zone_t *zn) {
  size_t used = fz_used(zn);
  if (used > zn->peak)
    zn->peak = used;
}

/* Records a block the library handed out at p and checks what it says of it. */
static fz_block_t *table_add(fz_zone_t *zn, void *p, size_t size) {
  FZ_EXPECT((uintptr_t)p % ZONE_GRANULE == 0, "block %p is not on a granule", p);
  FZ_EXPECT(zone_block_size(zn->z, p) == size, "zone_block_size(%p) is %zu, not %zu", p,
            zone_block_size(zn->z, p), size);
  FZ_EXPECT(zone_owns(zn->z, p), "zone_owns(%p) is false for a new block", p);
  fz_block_t *b = &zn->blk[zn->nblk++];
  b->p = p;
  b->size = size;
  b->id = fz.next_id++;
  return b;
}

/* ---- growth ------------------------------------------------------------------------ */

typedef struct grow_find {
  const fz_zone_t *zn;
  uintptr_t lo, hi;  /* the items outside every known extent */
} grow_find_t;

static int grow_find_visit(void *ptr, size_t size, bool used, void *arg) {
  (void)used;
  grow_find_t *s = arg;
  uintptr_t a = (uintptr_t)ptr;
  if (in_extents(s->zn, a))
    return 0;
  if (s->lo == 0)
    s->lo = a;
  s->hi = a + size;
  return 0;
}

/* Whether an item of the walk holds address `at`. */
typedef struct grow_cover {
  uintptr_t at;
  bool held;
} grow_cover_t;

static int grow_cover_visit(void *ptr, size_t size, bool used, void *arg) {
  (void)used;
  grow_cover_t *c = arg;
  if ((uintptr_t)ptr <= c->at && c->at - (uintptr_t)ptr < size)
    c->held = true;
  return c->held;
}

/* The zone grew by delta bytes during this call: finds from the walk where
 * (right after a known extent, which grew in place, or a new extent) and
 * updates the models. Returns the index of the extent that grew or was added,
 * and sets *added when a new one shifted those after it up the array. */
static size_t learn_extent(fz_zone_t *zn, size_t delta, bool *added) {
  FZ_EXPECT(delta % MODEL_G == 0, "the zone grew by %zu bytes, not whole granules", delta);
  *added = false;
  for (size_t k = 0; k < zn->next; k++) {
    zone_model_t *m = &zn->ext[k];
    grow_cover_t c = {model_end(m), false};
    zone_walk(zn->z, grow_cover_visit, &c);
    if (!c.held)
      continue;
    uintptr_t end = c.at + delta;  /* the extent must now end exactly there */
    grow_cover_t last = {end - MODEL_G, false}, past = {end, false};
    zone_walk(zn->z, grow_cover_visit, &last);
    zone_walk(zn->z, grow_cover_visit, &past);
    FZ_EXPECT(last.held && !past.held,
              "the extent at %p grew in place by %zu bytes but the walk %s %p", (void *)m->base,
              delta, last.held ? "goes on at" : "stops before", (void *)(last.held ? end : end - 1));
    size_t old = m->ngran;
    FZ_EXPECT(model_extend(m, delta) == 0, "model_extend: out of memory");
    unsigned char *sc = realloc(zn->scribbled[k], m->ngran);
    FZ_EXPECT(sc != NULL, "out of memory");
    memset(sc + old, 0, m->ngran - old);
    zn->scribbled[k] = sc;
    return k;
  }
  FZ_EXPECT(zn->next < FZ_EXTENTS, "more than %d extents", FZ_EXTENTS);
  *added = true;
  grow_find_t s = {zn, 0, 0};
  zone_walk(zn->z, grow_find_visit, &s);
  FZ_EXPECT(s.lo != 0 && s.hi - s.lo == delta,
            "the zone grew by %zu bytes but the walk shows %zu new bytes at %p", delta,
            (size_t)(s.hi - s.lo), (void *)s.lo);
  size_t at = zn->next;
  while (at > 0 && zn->ext[at - 1].base > s.lo) {
    zn->ext[at] = zn->ext[at - 1];
    zn->scribbled[at] = zn->scribbled[at - 1];
    at--;
  }
  FZ_EXPECT(model_init(&zn->ext[at], s.lo, delta) == 0, "model_init: out of memory");
  zn->scribbled[at] = calloc(delta / MODEL_G, 1);
  FZ_EXPECT(zn->scribbled[at] != NULL, "out of memory");
  zn->next++;
  return at;
}

/* ---- allocation --------------------------------------------------------------------- */

enum alloc_kind { ALLOC_PLAIN, ALLOC_ZEROED, ALLOC_ALIGNED, ALLOC_REALLOC_NULL };

static void *call_alloc(zone_t *z, enum alloc_kind kind, size_t bytes, size_t count,
                        size_t align) {
  switch (kind) {
  case ALLOC_ZEROED:
    return zcalloc(z, count, bytes);
  case ALLOC_ALIGNED:
    return zalloc_aligned(z, align, bytes);
  case ALLOC_REALLOC_NULL:
    return zrealloc(z, NULL, bytes);
  default:
    return zalloc(z, bytes);
  }
}

/* Whether a request nothing in the zone can hold must make the zone grow:
 * ZONE_GROW, mappings working, and a size one extent can hold. The zone
 * must grow only then, and place the block by first fit in the new extent. */
static bool expect_growth(const fz_zone_t *zn, size_t bytes) {
  return (zn->flags & ZONE_GROW) && !fz.fault && granules(bytes) != 0;
}

/* Growth the fuzzer does not let happen: past FZ_GROW_CAP in all. */
static bool growth_too_big(const fz_zone_t *zn, size_t bytes) {
  return bytes > FZ_GROW_CAP || fz_size(zn) >= FZ_GROW_CAP;
}

/* The zone's size; in a zone that defers its frees, read without the lock
 * (zone_size would do the waiting free first, and the allocation after it
 * would never meet one). */
static size_t size_quiet(fz_zone_t *zn) { return zn->defers ? zn->z->size : zone_size(zn->z); }

static void op_alloc(fz_zone_t *zn, enum alloc_kind kind, size_t bytes, size_t count,
                     size_t align) {
  size_t total = bytes;
  bool overflow = false;
  if (kind == ALLOC_ZEROED) {
    overflow = bytes != 0 && count > SIZE_MAX / bytes;
    total = overflow ? SIZE_MAX : count * bytes;
  }
  size_t malign = kind == ALLOC_ALIGNED ? align : 1;
  bool bad_align = kind == ALLOC_ALIGNED && (align == 0 || (align & (align - 1)) != 0);
  size_t n = overflow ? 0 : granules(total);

  /* The model's answer: the lowest fit over the extents in address order. */
  int err = bad_align ? EINVAL : ENOMEM;
  int k = -1;
  size_t off = MODEL_NONE;
  for (size_t e = 0; !bad_align && n != 0 && e < zn->next; e++) {
    int merr;
    off = model_alloc_aligned(&zn->ext[e], malign, total, &merr);
    if (off != MODEL_NONE) {
      k = (int)e;
      break;
    }
  }
  bool grow = k < 0 && !bad_align && n != 0 && expect_growth(zn, total);
  if (grow && growth_too_big(zn, total))
    return;  /* skipped: the model would get slow */

  size_t size_before = size_quiet(zn);
  errno = 0;
  void *p = call_alloc(zn->z, kind, bytes, count, align);
  int got_err = errno;
  size_t size_after = size_quiet(zn);
  fz_trace("z%d %s(bytes %zu, count %zu, align %zu) = %p errno %d, zone %zu -> %zu bytes",
           ZN(zn), fz.what, bytes, count, align, p, got_err, size_before, size_after);

  if (k < 0 && !grow) {
    FZ_EXPECT(p == NULL, "returned %p (%zu bytes), the model says nothing fits (errno %d)", p,
              total, err);
    FZ_EXPECT(got_err == err, "errno %d, expected %d", got_err, err);
    FZ_EXPECT(size_after == size_before, "the zone grew from %zu to %zu on a failed call",
              size_before, size_after);
    return;
  }
  if (grow) {
    FZ_EXPECT(p != NULL, "NULL (errno %d) where the zone can grow for %zu bytes", got_err, total);
    FZ_EXPECT(size_after > size_before, "a block at %p outside the model, and no growth", p);
    bool added;
    size_t e = learn_extent(zn, size_after - size_before, &added);
    int merr;
    off = model_alloc_aligned(&zn->ext[e], malign, total, &merr);
    FZ_EXPECT(off != MODEL_NONE, "the grown extent at %p (%zu bytes more) can't hold %zu bytes",
              (void *)zn->ext[e].base, size_after - size_before, total);
    k = (int)e;
  } else {
    FZ_EXPECT(size_after == size_before, "the zone grew from %zu to %zu though a region fits",
              size_before, size_after);
  }
  void *want = model_addr(&zn->ext[k], off);
  FZ_EXPECT(p == want, "returned %p (errno %d), first fit is %p for %zu bytes (align %zu)", p,
            got_err, want, total, malign);
  note_peak(zn);
  fz_block_t *b = table_add(zn, p, n * MODEL_G);
  /* zcalloc's zeroes: every byte, whatever the program scribbled over free
   * memory before (the core clears it, or gives fresh pages back to the
   * kernel); scrib[] says where a failure met a scribble. */
  unsigned char *scrib = zn->scribbled[k] + off;
  if (kind == ALLOC_ZEROED)
    for (size_t i = 0; i < b->size; i++)
      FZ_EXPECT(b->p[i] == 0, "zcalloc block %p not zero at byte %zu (%#x)%s", p, i, b->p[i],
                scrib[i / MODEL_G] ? ", where the program scribbled" : "");
  memset(scrib, 0, n);  /* handed out: zcalloc must zero these from now on */
  fill_block(zn, b, 0);
}

/* ---- pointers, good and bad ---------------------------------------------------------- */

static int stack_probe;

/* A pointer chosen by the input: a live block, an interior or misaligned
 * address of one, a freed one, another zone's, the stack, the heap, the zone's
 * end, a free region, small and huge numbers, or NULL. */
static void *pick_pointer(fz_zone_t *zn, void *heap) {
  uint8_t how = take8();
  uint8_t pick = take8();
  fz_block_t *b = zn->nblk ? &zn->blk[pick % zn->nblk] : NULL;
  switch (how % 12) {
  case 0:
    return NULL;
  case 1:
    return zn->nfreed ? (void *)zn->freed[pick % (zn->nfreed < FZ_FREED ? zn->nfreed : FZ_FREED)]
                      : NULL;
  case 2:
    return b ? b->p + MODEL_G * (1 + take8() % (b->size / MODEL_G)) : NULL;
  case 3:
    return b ? b->p + 1 + take8() % (MODEL_G - 1) : NULL;
  case 4:
    for (size_t i = 1; i < FZ_ZONES; i++) {
      fz_zone_t *o = &fz.zones[(size_t)(zn - fz.zones + (ptrdiff_t)i) % FZ_ZONES];
      if (o->z != NULL && o->nblk)
        return o->blk[pick % o->nblk].p;
    }
    return &stack_probe;
  case 5: {
    volatile unsigned char local[32];
    local[0] = pick;
    return (void *)((uintptr_t)local & ~(uintptr_t)15);
  }
  case 6:
    return heap;
  case 7: {
    const zone_model_t *m = &zn->ext[pick % zn->next];
    return (void *)(model_end(m) + MODEL_G * (take8() % 4));
  }
  case 8: {
    const zone_model_t *m = &zn->ext[pick % zn->next];
    size_t len;
    bool used;
    size_t target = take8(), seen = 0;
    for (size_t g = 0; model_next(m, g, &len, &used); g += len)
      if (!used && seen++ == target % 4)
        return (void *)(m->base + g * MODEL_G);
    return (void *)m->base;
  }
  case 9:
    return (void *)(uintptr_t)(16u << (pick % 20));
  case 10:
    return (void *)(UINTPTR_MAX - 15 - (uintptr_t)pick * 16);
  default:
    return b ? b->p : NULL;
  }
}

/* zfree of any pointer: 0 and the block gone when the model has a block
 * there, else EINVAL and nothing changed. */
static void op_free_ptr(fz_zone_t *zn, void *p) {
  size_t off;
  int k = fz_block_at(zn, p, &off);
  fz_block_t *b = k >= 0 ? table_find(zn, p) : NULL;
  if (b != NULL)
    verify_block(b, b->size, "before zfree");
  int rc;
  bool deferred = zn->defers && b != NULL;
  if (deferred) {
    /* The shim's deferrable free, for a live block only: a bad pointer's
     * refusal would come later, through zone__refused_late (tests/test_defer.c). */
    rc = zone__free_known(p, zn->z) == NULL ? 0 : EINVAL;
    fz_trace("z%d zone__free_known(%p) = %d (deferred)", ZN(zn), p, rc);
  } else {
    rc = zfree(zn->z, p);
    fz_trace("z%d zfree(%p) = %d", ZN(zn), p, rc);
  }
  if (p == NULL) {
    FZ_EXPECT(rc == 0, "zfree(NULL) returned %d", rc);
    return;
  }
  if (k < 0) {
    FZ_EXPECT(rc == EINVAL, "zfree(%p) of no live block returned %d, not EINVAL", p, rc);
    return;
  }
  FZ_EXPECT(b != NULL, "the model has a block at %p the fuzzer never saw", p);
  FZ_EXPECT(rc == 0, "zfree(%p) of a live block returned %d", p, rc);
  FZ_EXPECT(model_free(&zn->ext[k], off) == 0, "the model refuses to free %p", p);
  table_remove(zn, b);
  if (deferred)
    return;  /* asked later, by check_zone: asking now would do the free */
  FZ_EXPECT(!zone_owns(zn->z, p) && zone_block_size(zn->z, p) == 0,
            "%p still looks live after zfree", p);
}

/* What zone_owns and zone_block_size say of any pointer. */
static void op_query_ptr(fz_zone_t *zn, void *p) {
  size_t off;
  int k = fz_block_at(zn, p, &off);
  size_t want = k >= 0 ? model_block_size(&zn->ext[k], off) : 0;
  FZ_EXPECT(zone_block_size(zn->z, p) == want, "zone_block_size(%p) is %zu, the model says %zu",
            p, zone_block_size(zn->z, p), want);
  FZ_EXPECT(zone_owns(zn->z, p) == (k >= 0), "zone_owns(%p) is %d", p, zone_owns(zn->z, p));
}

/* zrealloc of any pointer, following the contract across extents: in place
 * when it shrinks or the granules after it are free, else the lowest fit
 * counting its own space as free, growing the zone as a last resort. */
static void op_realloc(fz_zone_t *zn, void *p, size_t bytes) {
  if (p == NULL) {
    op_alloc(zn, ALLOC_REALLOC_NULL, bytes, 1, 0);
    return;
  }
  size_t off;
  int k = fz_block_at(zn, p, &off);
  if (k < 0) {
    size_t before = zone_size(zn->z);
    errno = 0;
    void *q = zrealloc(zn->z, p, bytes);
    fz_trace("z%d zrealloc(%p, %zu) = %p errno %d", ZN(zn), p, bytes, q, errno);
    FZ_EXPECT(q == NULL && errno == EINVAL, "zrealloc(%p, %zu) of no live block: %p errno %d",
              p, bytes, q, errno);
    FZ_EXPECT(zone_size(zn->z) == before, "a refused zrealloc grew the zone");
    return;
  }
  fz_block_t *b = table_find(zn, p);
  FZ_EXPECT(b != NULL, "the model has a block at %p the fuzzer never saw", p);
  verify_block(b, b->size, "before zrealloc");
  if (bytes == 0) {
    void *q = zrealloc(zn->z, p, 0);
    fz_trace("z%d zrealloc(%p, 0) = %p", ZN(zn), p, q);
    FZ_EXPECT(q == NULL, "zrealloc(%p, 0) returned %p", p, q);
    FZ_EXPECT(model_free(&zn->ext[k], off) == 0, "the model refuses to free %p", p);
    table_remove(zn, b);
    FZ_EXPECT(!zone_owns(zn->z, p), "%p still live after zrealloc(p, 0)", p);
    return;
  }
  size_t old = b->size;
  size_t n = granules(bytes);
  zone_model_t *m = &zn->ext[k];
  int merr;
  int to = -1;     /* extent of the model's answer */
  size_t dest = MODEL_NONE;
  bool grow = false;
  if (model_realloc_stays(m, off, bytes)) {
    dest = model_realloc(m, off, bytes, &merr);
    FZ_EXPECT(dest == off, "the model did not resize %p in place", p);
    to = k;
  } else if (n != 0) {
    for (int e = 0; e < k && to < 0; e++)
      if ((dest = model_alloc(&zn->ext[e], bytes, &merr)) != MODEL_NONE)
        to = e;
    if (to < 0 && (dest = model_realloc(m, off, bytes, &merr)) != MODEL_NONE)
      to = k;  /* moved inside its own extent, counting its space as free */
    for (int e = k + 1; to < 0 && e < (int)zn->next; e++)
      if ((dest = model_alloc(&zn->ext[e], bytes, &merr)) != MODEL_NONE)
        to = e;
    if (to < 0 && expect_growth(zn, bytes)) {
      if (growth_too_big(zn, bytes))
        return;  /* skipped: the model would get slow */
      grow = true;
    }
  }
  size_t before = zone_size(zn->z);
  errno = 0;
  unsigned char *q = zrealloc(zn->z, p, bytes);
  int got_err = errno;
  size_t after = zone_size(zn->z);
  fz_trace("z%d zrealloc(%p [%zu bytes], %zu) = %p errno %d, zone %zu -> %zu bytes", ZN(zn), p,
           old, bytes, (void *)q, got_err, before, after);
  if (to < 0 && !grow) {
    FZ_EXPECT(q == NULL && got_err == ENOMEM,
              "zrealloc(%p, %zu): %p errno %d where nothing fits (ENOMEM)", p, bytes, (void *)q,
              got_err);
    FZ_EXPECT(after == before, "a failed zrealloc grew the zone");
    FZ_EXPECT(zone_block_size(zn->z, p) == old, "a failed zrealloc changed the block");
    return;
  }
  if (grow) {
    FZ_EXPECT(q != NULL, "zrealloc(%p, %zu) NULL (errno %d) where the zone can grow", p, bytes,
              got_err);
    FZ_EXPECT(after > before, "zrealloc moved %p to %p outside the model, and no growth", p,
              (void *)q);
    bool added;
    size_t e = learn_extent(zn, after - before, &added);
    if (added && (int)e <= k)
      k++;  /* the old block's extent moved up the array */
    if ((int)e == k) {  /* its own extent grew: first fit with its space free */
      FZ_EXPECT(model_free(&zn->ext[k], off) == 0, "the model refuses to free %p", p);
      dest = model_alloc(&zn->ext[k], bytes, &merr);
    } else
      dest = model_alloc(&zn->ext[e], bytes, &merr);
    FZ_EXPECT(dest != MODEL_NONE, "the grown extent can't hold %zu bytes", bytes);
    to = (int)e;
  } else {
    FZ_EXPECT(after == before, "zrealloc grew the zone from %zu to %zu though a region fits",
              before, after);
  }
  if (to != k)  /* moved to another extent: its old place is free */
    FZ_EXPECT(model_free(&zn->ext[k], off) == 0, "the model refuses to free %p", p);
  void *want = model_addr(&zn->ext[to], dest);
  FZ_EXPECT((void *)q == want, "zrealloc(%p %zu -> %zu bytes) returned %p (errno %d), expected %p",
            p, old, bytes, (void *)q, got_err, want);
  note_peak(zn);
  size_t keep = old < n * MODEL_G ? old : n * MODEL_G;
  b->p = q;
  b->size = n * MODEL_G;
  memset(zn->scribbled[to] + dest, 0, n);  /* handed out */
  FZ_EXPECT(zone_block_size(zn->z, q) == b->size, "zone_block_size(%p) is %zu after zrealloc, not %zu",
            (void *)q, zone_block_size(zn->z, q), b->size);
  verify_block(b, keep, "after zrealloc");
  fill_block(zn, b, 0);  /* the kept words too: a caller buffer's shadow follows the move */
}

/* ---- the other calls ------------------------------------------------------------------ */

/* A size from the input: mostly small, sometimes the zone's own figures
 * give or take a granule, sometimes sizes that must fail or overflow. */
static size_t pick_size(const fz_zone_t *zn) {
  uint8_t c = take8();
  zone_stats_t st = {0};
  if (c % 8 == 5 || c % 8 == 6)
    fz_stats(zn, &st);  /* a scan of every granule: only when needed */
  static const long deltas[] = {-16, -1, 0, 1, 16};
  long d = deltas[take8() % 5];
  switch (c % 8) {
  case 3:
    return (size_t)take8() * 16 + c / 8;
  case 4:
    return take16();
  case 5:
    return (long)st.largest_free + d < 0 ? 0 : (size_t)((long)st.largest_free + d);
  case 6:
    return (size_t)((long)st.size + d);
  case 7: {
    static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 15, SIZE_MAX / 2 + 1, FZ_EXTENT_MAX + 1,
                                  (size_t)PTRDIFF_MAX};
    return huge[take8() % 5];
  }
  default:
    return take8();
  }
}

static void destroy(fz_zone_t *zn) {
  fz_trace("z%d destroy_zone", ZN(zn));
  verify_all_blocks(zn, "before destroy_zone");
  destroy_zone(zn->z);
  if (zn->buf != NULL) {
    check_buffer(zn, "destroy_zone did not give the caller's buffer back untouched");
    free(zn->raw);
    free(zn->shadow);
  }
  for (size_t k = 0; k < zn->next; k++) {
    model_fini(&zn->ext[k]);
    free(zn->scribbled[k]);
  }
  memset(zn, 0, sizeof *zn);
}

static void op_create(fz_zone_t *zn) {
  uint8_t mode = take8();
  size_t bytes = (mode & 0x10) ? 1 + (size_t)take8() : 1 + (size_t)take16();
  unsigned flags = ((mode & 4) ? ZONE_GROW : 0) | ((mode & 8) ? ZONE_UNLOCKED : 0);
  uintptr_t base = 0;
  size_t ngran;
  errno = 0;
  if (mode % 3 == 2) {
    /* Over a buffer of ours: misaligned start, bytes outside whole granules. */
    size_t mis = take8() % MODEL_G;
    flags &= ZONE_UNLOCKED;
    zn->raw = malloc(bytes + MODEL_G);
    zn->shadow = malloc(bytes);
    FZ_EXPECT(zn->raw && zn->shadow, "out of memory");
    zn->buf = zn->raw + mis;
    zn->buf_len = bytes;
    memset(zn->buf, take8(), bytes);
    memcpy(zn->shadow, zn->buf, bytes);
    ngran = model_whole_granules(zn->buf, bytes, &base);
    zn->z = create_zone_in(zn->buf, bytes, flags);
    if (ngran != 0 && !fz.fault)
      FZ_EXPECT(zn->z != NULL, "create_zone_in(%p, %zu) failed, errno %d", (void *)zn->buf,
                bytes, errno);
    if (ngran == 0) {
      FZ_EXPECT(zn->z == NULL && errno == EINVAL,
                "create_zone_in(%p, %zu) without a whole granule: %p errno %d",
                (void *)zn->buf, bytes, (void *)zn->z, errno);
    } else if (fz.fault) {
      FZ_EXPECT(zn->z == NULL && errno == ENOMEM,
                "create_zone_in with every mapping failing: %p errno %d", (void *)zn->z, errno);
    }
    if (zn->z == NULL) {
      FZ_EXPECT(memcmp(zn->buf, zn->shadow, bytes) == 0, "a failed create_zone_in wrote to the buffer");
      free(zn->raw);
      free(zn->shadow);
      memset(zn, 0, sizeof *zn);
      return;
    }
  } else {
    ngran = model_granules(bytes);
    zn->z = mode % 3 == 0 ? create_zone(bytes) : create_zone_flags(bytes, flags);
    if (mode % 3 == 0)
      flags = 0;
    if (fz.fault) {
      FZ_EXPECT(zn->z == NULL && errno == ENOMEM,
                "create_zone with every mapping failing: %p errno %d", (void *)zn->z, errno);
      fz_trace("z%d create (mode %u, %zu bytes, flags %#x) fails: ENOMEM", ZN(zn), mode % 3u,
               bytes, flags);
      return;
    }
    FZ_EXPECT(zn->z != NULL, "create_zone(%zu, %#x) failed, errno %d", bytes, flags, errno);
  }
  zn->flags = flags;
  uintptr_t got = model_zone_base(zn->z);
  if (base != 0)
    FZ_EXPECT(got == base, "create_zone_in: first granule %p, expected %p", (void *)got,
              (void *)base);
  FZ_EXPECT(got != 0 && got % MODEL_G == 0, "zone base %p", (void *)got);
  FZ_EXPECT(model_init(&zn->ext[0], got, ngran * MODEL_G) == 0, "model_init: out of memory");
  zn->scribbled[0] = calloc(ngran, 1);
  FZ_EXPECT(zn->scribbled[0] != NULL, "out of memory");
  zn->next = 1;
  if (mode & 0x20) {
    /* The frees of its live blocks deferred, as the shim's ZONE_FREE_DEFER
     * does in a large zone: every other call must see them done. */
    zone__defer_frees(zn->z, true, 0);
    zn->defers = true;
  }
  fz_trace("z%d create (mode %u, %zu bytes, flags %#x, buffer %p%s) = %p: granules %zu at %p",
           ZN(zn), mode % 3u, bytes, flags, (void *)zn->buf, zn->defers ? ", frees deferred" : "",
           (void *)zn->z, ngran, (void *)got);
}

static void op_reset(fz_zone_t *zn) {
  fz_trace("z%d zone_reset", ZN(zn));
  verify_all_blocks(zn, "before zone_reset");
  zone_reset(zn->z);
  for (size_t k = 0; k < zn->next; k++)
    model_reset(&zn->ext[k]);
  while (zn->nblk)
    table_remove(zn, &zn->blk[zn->nblk - 1]);
}

/* Overwrites part of a free region (freed or never used) with junk. */
static void op_scribble(fz_zone_t *zn) {
  uint8_t pick = take8(), byte = take8();
  size_t len = take16();
  const zone_model_t *m = &zn->ext[pick % zn->next];
  size_t n, seen = 0;
  bool used;
  size_t target = take8();
  if (zn->buf != NULL && pick & 0x80) {
    /* the bytes before and after the whole granules of a caller's buffer */
    zone_write(zn, zn->buf, byte, (size_t)((unsigned char *)m->base - zn->buf));
    unsigned char *end = (unsigned char *)model_end(m);
    zone_write(zn, end, byte, (size_t)(zn->buf + zn->buf_len - end));
  }
  for (size_t g = 0; model_next(m, g, &n, &used); g += n) {
    if (used || seen++ != target % 8)
      continue;
    size_t skip = (size_t)take8() * MODEL_G % (n * MODEL_G);
    if (len > n * MODEL_G - skip)
      len = n * MODEL_G - skip;
    zone_write(zn, (unsigned char *)(m->base + g * MODEL_G + skip), byte, len);
    if (len > 0)
      memset(zn->scribbled[pick % zn->next] + g + skip / MODEL_G, 1,
             (skip + len - 1) / MODEL_G - skip / MODEL_G + 1);
    fz_trace("z%d scribble %#x over %zu bytes at %p", ZN(zn), byte, len,
             (void *)(m->base + g * MODEL_G + skip));
    return;
  }
}

typedef struct walk_free {
  fz_zone_t *zn;
  size_t every, seen, visited;
} walk_free_t;

/* Frees every `every`-th live block from inside zone_walk's visitor. */
static int walk_free_visit(void *ptr, size_t size, bool used, void *arg) {
  walk_free_t *s = arg;
  if (!used)
    return 0;
  s->visited++;
  fz_block_t *b = table_find(s->zn, ptr);
  FZ_EXPECT(b != NULL && b->size == size, "the walk visits a block %p %zu the fuzzer never saw",
            ptr, size);
  if (s->seen++ % s->every == 0)
    op_free_ptr(s->zn, ptr);
  return 0;
}

static void op_walk_free(fz_zone_t *zn) {
  walk_free_t s = {zn, 1 + take8() % 4, 0, 0};
  fz_trace("z%d zone_walk freeing every %zu-th block", ZN(zn), s.every);
  size_t before = zn->nblk;
  int rc = zone_walk(zn->z, walk_free_visit, &s);
  FZ_EXPECT(rc == 0, "zone_walk returned %d", rc);
  FZ_EXPECT(s.visited == before, "the walk visited %zu of %zu blocks", s.visited, before);
}

/* zdump's text against the model: the header's figures, then every item. */
static void op_dump(fz_zone_t *zn) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  FZ_EXPECT(f != NULL, "open_memstream failed");
  zdump(zn->z, f);
  fclose(f);
  zone_stats_t st;
  size_t extents;
  FZ_EXPECT(sscanf(text,
                   "zone size=%zu used=%zu free=%zu largest_free=%zu blocks=%zu "
                   "free_regions=%zu peak_used=%zu extents=%zu",
                   &st.size, &st.used, &st.free, &st.largest_free, &st.blocks, &st.free_blocks,
                   &st.peak_used, &extents) == 8,
            "zdump header: %.120s", text);
  check_stats(zn, &st);
  FZ_EXPECT(extents == zn->next, "zdump says %zu extents, the model has %zu", extents, zn->next);
  model_cursor_t c = {0, 0};
  char *line = strchr(text, '\n');
  while (line != NULL && line[1] != '\0') {
    line++;
    uintptr_t addr, maddr;
    size_t size, mlen;
    char state[8];
    bool mused;
    FZ_EXPECT(sscanf(line, "0x%" SCNxPTR " %zu %7s", &addr, &size, state) == 3,
              "zdump line: %.80s", line);
    FZ_EXPECT(model_walk_next(zn->ext, zn->next, &c, &maddr, &mlen, &mused),
              "zdump has an extra line %.80s", line);
    FZ_EXPECT(addr == maddr && size == mlen && strcmp(state, mused ? "used" : "free") == 0,
              "zdump line %.80s, the model has %p %zu %s", line, (void *)maddr, mlen,
              mused ? "used" : "free");
    line = strchr(line, '\n');
  }
  uintptr_t maddr;
  size_t mlen;
  bool mused;
  FZ_EXPECT(!model_walk_next(zn->ext, zn->next, &c, &maddr, &mlen, &mused),
            "zdump misses the item %p", (void *)maddr);
  free(text);
}

/* Bad arguments everywhere: EINVAL, no effect, no crash. */
static void op_bad_args(fz_zone_t *zn) {
  zone_stats_t st;
  errno = 0;
  FZ_EXPECT(zalloc(NULL, 16) == NULL && errno == EINVAL, "zalloc(NULL zone)");
  errno = 0;
  FZ_EXPECT(zcalloc(NULL, 1, 16) == NULL && errno == EINVAL, "zcalloc(NULL zone)");
  errno = 0;
  FZ_EXPECT(zrealloc(NULL, NULL, 16) == NULL && errno == EINVAL, "zrealloc(NULL zone)");
  errno = 0;
  FZ_EXPECT(zalloc_aligned(NULL, 64, 16) == NULL && errno == EINVAL, "zalloc_aligned(NULL zone)");
  FZ_EXPECT(zfree(NULL, &stack_probe) == EINVAL, "zfree(NULL zone)");
  FZ_EXPECT(zone_size(NULL) == 0 && !zone_owns(NULL, &stack_probe) &&
                zone_block_size(NULL, &stack_probe) == 0,
            "queries on a NULL zone");
  memset(&st, 0xff, sizeof st);
  zone_stats(NULL, &st);
  FZ_EXPECT(st.size == 0 && st.used == 0 && st.blocks == 0, "zone_stats(NULL) does not zero");
  FZ_EXPECT(zone_walk(NULL, grow_cover_visit, NULL) == EINVAL, "zone_walk(NULL zone)");
  FZ_EXPECT(zone_walk(zn->z, NULL, NULL) == EINVAL, "zone_walk(NULL visitor)");
  FZ_EXPECT(zone_check(NULL) == EINVAL, "zone_check(NULL)");
  zdump(NULL, stderr);
  zdump(zn->z, NULL);
  zone_reset(NULL);
  destroy_zone(NULL);
  errno = 0;
  FZ_EXPECT(create_zone(0) == NULL && errno == EINVAL, "create_zone(0)");
  errno = 0;
  FZ_EXPECT(create_zone_flags(64, 1u << 7) == NULL && errno == EINVAL, "unknown flags");
  errno = 0;
  FZ_EXPECT(create_zone_in(NULL, 64, 0) == NULL && errno == EINVAL, "create_zone_in(NULL)");
  unsigned char buf[64];
  errno = 0;
  FZ_EXPECT(create_zone_in(buf, sizeof buf, ZONE_GROW) == NULL && errno == EINVAL,
            "create_zone_in with ZONE_GROW");
  size_t align = take8();
  if (align != 0 && (align & (align - 1)) == 0)
    align += 3;  /* not a power of two */
  size_t bytes = take8();
  op_alloc(zn, ALLOC_ALIGNED, bytes, 1, align);
}

/* ---- the program ----------------------------------------------------------------------- */

enum {
  OP_CREATE, OP_ALLOC, OP_CALLOC, OP_REALLOC, OP_ALIGNED, OP_FREE, OP_BAD_PTR, OP_RESET,
  OP_SCRIBBLE, OP_DESTROY, OP_WALK_FREE, OP_DUMP, OP_FAULT, OP_BAD_ARGS, OP_TRIM
};

/* Opcode (low 6 bits of the op byte) to call, weighted towards allocation
 * and frees; the top two bits choose the zone. */
static const uint8_t op_table[64] = {
  OP_CREATE, OP_CREATE,
  OP_ALLOC, OP_ALLOC, OP_ALLOC, OP_ALLOC, OP_ALLOC, OP_ALLOC, OP_ALLOC, OP_ALLOC,
  OP_ALLOC, OP_ALLOC, OP_ALLOC, OP_ALLOC, OP_ALLOC, OP_ALLOC, OP_ALLOC, OP_ALLOC,
  OP_CALLOC, OP_CALLOC, OP_CALLOC, OP_CALLOC,
  OP_REALLOC, OP_REALLOC, OP_REALLOC, OP_REALLOC, OP_REALLOC, OP_REALLOC, OP_REALLOC, OP_REALLOC,
  OP_ALIGNED, OP_ALIGNED, OP_ALIGNED, OP_ALIGNED, OP_ALIGNED,
  OP_FREE, OP_FREE, OP_FREE, OP_FREE, OP_FREE, OP_FREE, OP_FREE, OP_FREE, OP_FREE, OP_FREE,
  OP_FREE, OP_FREE,
  OP_BAD_PTR, OP_BAD_PTR, OP_BAD_PTR, OP_BAD_PTR,
  OP_RESET,
  OP_SCRIBBLE, OP_SCRIBBLE, OP_SCRIBBLE,
  OP_DESTROY,
  OP_WALK_FREE,
  OP_DUMP,
  OP_FAULT, OP_FAULT,
  OP_BAD_ARGS,
  OP_TRIM, OP_ALLOC, OP_REALLOC,
};
_Static_assert(sizeof op_table == 64, "one entry per opcode");

static const char *const op_names[] = {
  "create", "zalloc", "zcalloc", "zrealloc", "zalloc_aligned", "zfree", "bad pointer",
  "zone_reset", "scribble", "destroy_zone", "walk and free", "zdump", "failing mappings",
  "bad arguments", "zone__trim"};

static void run_op(uint8_t opbyte) {
  if (fz.op == 0)
    fz_tracing = getenv("FZ_TRACE") != NULL;
  fz_zone_t *zn = &fz.zones[opbyte >> 6];
  unsigned op = op_table[opbyte & 63];
  if (zn->z == NULL && op != OP_FAULT)
    op = OP_CREATE;  /* every other call needs the zone */
  fz.what = op_names[op];
  switch (op) {
  case OP_CREATE:
    if (zn->z != NULL)
      destroy(zn);
    op_create(zn);
    if (zn->z == NULL)
      return;
    break;
  case OP_ALLOC:
    if (zn->nblk < FZ_BLOCKS)
      op_alloc(zn, ALLOC_PLAIN, pick_size(zn), 1, 0);
    break;
  case OP_CALLOC:
    if (zn->nblk < FZ_BLOCKS) {
      size_t count = take8() % 4 == 0 ? pick_size(zn) : 1 + (size_t)(take8() % 8);
      op_alloc(zn, ALLOC_ZEROED, pick_size(zn), count, 0);
    }
    break;
  case OP_REALLOC: {
    if (zn->nblk >= FZ_BLOCKS)
      break;
    uint8_t sel = take8();
    void *p = zn->nblk && sel ? zn->blk[sel % zn->nblk].p : NULL;
    op_realloc(zn, p, pick_size(zn));
    break;
  }
  case OP_ALIGNED:
    if (zn->nblk < FZ_BLOCKS) {
      size_t align = (size_t)1 << (take8() % 16);
      op_alloc(zn, ALLOC_ALIGNED, pick_size(zn), 1, align);
    }
    break;
  case OP_FREE:
    if (zn->nblk)
      op_free_ptr(zn, zn->blk[take8() % zn->nblk].p);
    break;
  case OP_BAD_PTR: {
    void *heap = malloc(32);
    void *p = pick_pointer(zn, heap);
    switch (take8() % 4) {
    case 0:
      op_free_ptr(zn, p);
      break;
    case 1:
      if (zn->nblk < FZ_BLOCKS)
        op_realloc(zn, p, pick_size(zn));
      break;
    case 2:
      op_realloc(zn, p, 0);
      break;
    default:
      op_query_ptr(zn, p);
      break;
    }
    free(heap);
    break;
  }
  case OP_RESET:
    op_reset(zn);
    break;
  case OP_SCRIBBLE:
    op_scribble(zn);
    break;
  case OP_DESTROY:
    destroy(zn);
    return;
  case OP_WALK_FREE:
    op_walk_free(zn);
    break;
  case OP_DUMP:
    op_dump(zn);
    break;
  case OP_FAULT:
    /* Every mapping of the next call fails: run it now (never nested, so
     * the recursion is one deep). */
    if (fz.fault)
      break;
    fz.fault = true;
    fz_trace("every mapping of the next call fails");
    zone__os_fail_after(1, true);
    fz.op++;
    run_op(take8());
    zone__os_fail_after(0, false);
    fz.fault = false;
    fz.what = op_names[OP_FAULT];
    break;  /* zn, checked below, may be another zone than the call's */
  case OP_BAD_ARGS:
    op_bad_args(zn);
    break;
  case OP_TRIM: {
    /* The shim's memory return: free pages go back to the OS (and read as
     * zero); nothing a program can see may change. An odd byte makes it the
     * decay's look (zone__trim_freed), an even one a trim of the free runs
     * of at least (byte / 2) KiB. */
    unsigned b = take8();
    size_t released, handed = 0, min = (size_t)(b / 2) * 1024;
    if (b & 1) {
      released = zone__trim_freed(zn->z, &handed);
      fz_trace("z%d zone__trim_freed released %zu bytes, %zu handed out", ZN(zn), released, handed);
      FZ_EXPECT(handed <= fz_size(zn), "zone__trim_freed: %zu bytes handed out of %zu", handed, fz_size(zn));
    } else {
      released = zone__trim(zn->z, min);
      fz_trace("z%d zone__trim(%zu) released %zu bytes", ZN(zn), min, released);
    }
    FZ_EXPECT(released <= fz_size(zn) - fz_used(zn), "zone__trim released %zu bytes of %zu free",
              released, fz_size(zn) - fz_used(zn));
    if (zn->buf != NULL)
      FZ_EXPECT(released == 0, "zone__trim released %zu bytes of a caller's buffer", released);
    verify_all_blocks(zn, "after zone__trim");
    break;
  }
  }
  /* In a zone that defers its frees, frees and allocations run on
   * unchecked, as the shim's do, so that a free waits while the calls after
   * it go by; any other call (and the teardown) checks the zone. */
  if (zn->z != NULL && !(zn->defers && (op == OP_FREE || op == OP_ALLOC)))
    check_zone(zn);
}

/* Only live blocks' frees are deferred here, so none may be refused when
 * it is done. */
static void fz_refused_late(void *p) { fz_fail("a deferred free of %p was refused when done", p); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  memset(&fz, 0, sizeof fz);
  zone__refused_late = fz_refused_late;
  fz.in = data;
  fz.left = size;
  while (fz.left > 0 && fz.op < FZ_MAX_OPS) {
    run_op(take8());
    fz.op++;
  }
  fz.what = "teardown";
  for (size_t i = 0; i < FZ_ZONES; i++)
    if (fz.zones[i].z != NULL) {
      check_zone(&fz.zones[i]);
      destroy(&fz.zones[i]);
    }
  return 0;
}
