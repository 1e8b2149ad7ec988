/*
 * checker.c - what a heap checker is told about a zone's memory, so that
 * valgrind's memcheck and AddressSanitizer see zone blocks as they see
 * malloc's: to the byte the program asked for, with the padding after a
 * block, free space, freed blocks and the bytes past the zone's end off
 * limits; and, under memcheck, a block or a whole zone that nothing of the
 * program points to any more reported as lost.
 *
 * The checker is looked up once (zone__checker_detect) and kept in each zone
 * (check.kind). Natively it is ZONE_CHECKER_NONE: the hot paths of zone.c pay
 * one test of that field and call in here only under a checker.
 *  - memcheck (valgrind, built with ZONE_VALGRIND): client requests (track.h).
 *  - AddressSanitizer (the program was built with -fsanitize=address; libzone
 *    need not be): ASan's public poisoning calls, reached through weak
 *    references, so that libzone needs no ASan to build or to run.
 *
 * A checker is told a block's requested size, which the core does not keep;
 * a resize in place, a move and zone_block_size need it back. Under a checker
 * only, a table keyed by address keeps it for every live block whose request
 * was not a whole number of granules (a block not in the table is its
 * rounded size). It lives in a mapping of its own, its words complemented so
 * that memcheck's leak scan never reads a block's address there.
 *
 * Leaks (memcheck): the scan takes every word of the process's writable
 * mappings that memcheck thinks defined as a possible pointer, so three
 * things would keep a lost block "still reachable": the zone's own record,
 * which holds each extent's base (the address of its first block), is
 * registered as a range the scan skips (at exit, where memcheck would warn
 * of such a range still in force, the base words are marked undefined
 * instead, which the scan skips too); a pointer to the end of the mapping
 * just below an extent (ld.so keeps some) would be one to the extent's first
 * block, so under memcheck each mapping keeps a page of its own before its
 * first byte (zone__checker_lead); and the record itself is registered as a
 * block, so a zone never destroyed is reported lost, at create_zone.
 * What remains: a block reachable only through a lost zone block counts as
 * reachable (block contents are scanned like any other mapped memory), and
 * so does the first block of a create_zone_in buffer while the program keeps
 * a pointer to the buffer.
 *
 * ASan has no public call to register a block with LeakSanitizer, so it
 * reports no lost zone block; a zone never destroyed it does report: under
 * ASan the zone's record comes from the program's calloc, which is ASan's
 * (the only memory libzone ever takes from a malloc: LD_PRELOAD's shim can't
 * run under ASan, whose runtime owns malloc).
 */
#include "internal.h"
#include "track.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* ---- which checker -------------------------------------------------------------- */

/* AddressSanitizer's public interface (<sanitizer/asan_interface.h>), weak:
 * NULL unless the process runs with ASan's runtime. */
extern void __asan_poison_memory_region(void const volatile *addr, size_t size)  // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
    __attribute__((weak));
extern void __asan_unpoison_memory_region(void const volatile *addr, size_t size)  // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
    __attribute__((weak));

/* ASan's calloc and free (the program's), for the zone's record. */
static void *_Atomic record_calloc;
static void *_Atomic record_free;

static unsigned find_checker(void) {
  if (__asan_poison_memory_region != NULL && __asan_unpoison_memory_region != NULL) {
    void *c = dlsym(RTLD_DEFAULT, "calloc"), *f = dlsym(RTLD_DEFAULT, "free");
    if (c != NULL && f != NULL) {
      atomic_store(&record_calloc, c);
      atomic_store(&record_free, f);
    }
    return ZONE_CHECKER_ASAN;
  }
  char probe = 0;
  if (zone__track_is_memcheck(&probe))
    return ZONE_CHECKER_MEMCHECK;
  return ZONE_CHECKER_NONE;
}

unsigned zone__checker_detect(void) {
  static _Atomic unsigned found;  /* the checker + 1, 0 until looked up */
  unsigned k = atomic_load_explicit(&found, memory_order_acquire);
  if (k == 0) {  /* threads racing here all find the same */
    k = find_checker() + 1;
    atomic_store_explicit(&found, k, memory_order_release);
  }
  return k - 1;
}

size_t zone__checker_lead(unsigned kind) {
  return kind == ZONE_CHECKER_MEMCHECK ? zone__os_page_size() : 0;
}

/* ---- what the checker is told of a range ------------------------------------------ */

/* [p, p + bytes) may not be touched. */
static void off_limits(unsigned kind, void *p, size_t bytes) {
  if (bytes == 0)
    return;
  if (kind == ZONE_CHECKER_MEMCHECK)
    zone__track_noaccess(p, bytes);
  else if (kind == ZONE_CHECKER_ASAN)
    __asan_poison_memory_region(p, bytes);
}

/* ASan: [p, p + bytes) may be touched (memcheck's equivalents differ by what
 * the bytes hold, and are made where they are needed). */
static void asan_usable(void *p, size_t bytes) {
  if (bytes != 0)
    __asan_unpoison_memory_region(p, bytes);
}

void zone__checker_fresh(const zone_t *z, void *p, size_t bytes) {
  off_limits(z->check.kind, p, bytes);
}

/* ---- the requested sizes ----------------------------------------------------------- */

#define ZONE_REQ_ZEROED ((size_t)1 << (sizeof(size_t) * 8 - 1))  /* zcalloc's block */
#define REQ_MIN_BITS 8   /* 256 slots (4 KiB) to start with */

static inline uintptr_t req_key(const void *p) { return ~(uintptr_t)p; }

static inline size_t req_home(uintptr_t key, unsigned bits) {
  return (size_t)(((uint64_t)key * 0x9e3779b97f4a7c15u) >> (64 - bits));
}

/* The slot holding p, or NULL. */
static zone__req_slot_t *req_find(const zone__checker_t *c, const void *p) {
  if (c->slots == NULL)
    return NULL;
  size_t mask = ((size_t)1 << c->bits) - 1;
  uintptr_t key = req_key(p);
  for (size_t i = req_home(key, c->bits);; i = (i + 1) & mask) {
    if (c->slots[i].key == key)
      return &c->slots[i];
    if (c->slots[i].key == 0)
      return NULL;
  }
}

/* Places a slot known to be absent (there is room). */
static void req_place(zone__req_slot_t *slots, unsigned bits, zone__req_slot_t s) {
  size_t mask = ((size_t)1 << bits) - 1, i = req_home(s.key, bits);
  while (slots[i].key != 0)
    i = (i + 1) & mask;
  slots[i] = s;
}

static void req_unmap(zone__checker_t *c) {
  if (c->slots != NULL)
    zone__os_unmap(c->slots, sizeof *c->slots << c->bits);
  c->slots = NULL;
  c->bits = 0;
  c->count = 0;
}

/* Room for one more slot (at most 3/4 full): false when it can't be had. */
static bool req_room(zone__checker_t *c) {
  if (c->slots != NULL && (c->count + 1) * 4 <= ((size_t)3 << c->bits))
    return true;
  unsigned bits = c->slots == NULL ? REQ_MIN_BITS : c->bits + 1;
  zone__req_slot_t *slots = zone__os_map_quiet(sizeof *slots << bits);
  if (slots == NULL)
    return false;
  for (size_t i = 0; c->slots != NULL && i < (size_t)1 << c->bits; i++)
    if (c->slots[i].key != 0)
      req_place(slots, bits, c->slots[i]);
  size_t count = c->count;
  req_unmap(c);
  c->slots = slots;
  c->bits = bits;
  c->count = count;
  return true;
}

/* Forgets p (backward-shift deletion: no tombstones). */
static void req_forget(zone__checker_t *c, const void *p) {
  zone__req_slot_t *s = req_find(c, p);
  if (s == NULL)
    return;
  size_t mask = ((size_t)1 << c->bits) - 1, hole = (size_t)(s - c->slots);
  for (size_t j = (hole + 1) & mask; c->slots[j].key != 0; j = (j + 1) & mask) {
    size_t home = req_home(c->slots[j].key, c->bits);
    /* Slot j may move into the hole unless its home lies cyclically in (hole, j]. */
    bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!stays) {
      c->slots[hole] = c->slots[j];
      hole = j;
    }
  }
  c->slots[hole].key = 0;
  c->count--;
}

/* The size the checker knows the block at p by (its request, or `rounded`
 * when the table has none), and whether zcalloc zeroed it. */
static size_t req_size(const zone__checker_t *c, const void *p, size_t rounded, bool *zeroed) {
  const zone__req_slot_t *s = req_find(c, p);
  size_t v = s != NULL ? ~s->size : rounded;
  if (zeroed != NULL)
    *zeroed = (v & ZONE_REQ_ZEROED) != 0;
  return v & ~ZONE_REQ_ZEROED;
}

/* Records that the block at p (rounded bytes) was asked for as `bytes`;
 * returns the size the checker is to know it by: bytes, or rounded when the
 * table has no room for it. */
static size_t req_remember(zone__checker_t *c, const void *p, size_t bytes, size_t rounded,
                           bool zeroed) {
  if (bytes == rounded) {
    req_forget(c, p);
    return rounded;
  }
  size_t v = bytes | (zeroed ? ZONE_REQ_ZEROED : 0);
  zone__req_slot_t *s = req_find(c, p);
  if (s != NULL) {
    s->size = ~v;
    return bytes;
  }
  if (!req_room(c))
    return rounded;
  req_place(c->slots, c->bits, (zone__req_slot_t){req_key(p), ~v});
  c->count++;
  return bytes;
}

/* ---- the zones alive under memcheck ----------------------------------------------------- */

/* ~(the first live zone's record), each linking to the next by check.next,
 * complemented so that no word of the list looks like a pointer to a record
 * (a zone never destroyed is a lost block). Memcheck only: natively empty. */
static uintptr_t live_zones;
static zone__lock_t live_lock;

static void live_add(zone_t *z) {
  zone__lock_acquire(&live_lock);
  z->check.next = live_zones;
  live_zones = ~(uintptr_t)z;
  zone__lock_release(&live_lock);
}

static void live_remove(const zone_t *z) {
  zone__lock_acquire(&live_lock);
  for (uintptr_t *link = &live_zones; *link != 0; link = &((zone_t *)~*link)->check.next)
    if ((zone_t *)~*link == z) {
      *link = z->check.next;
      break;
    }
  zone__lock_release(&live_lock);
}

/* After the program's own destructors and atexit handlers (priority 101 runs
 * after the default ones), before memcheck's leak check at exit: the record
 * of each zone still alive is scanned again, so that memcheck does not warn of
 * skipped ranges left in force, and only the words that point to each
 * extent's first block are hidden from the scan, by making them undefined. A
 * zone call after this point would be reported as using undefined values. */
__attribute__((destructor(101))) static void zone__checker_at_exit(void) {
  if (live_zones == 0)
    return;
  zone__lock_acquire(&live_lock);
  for (uintptr_t at = live_zones; at != 0; at = ((zone_t *)~at)->check.next) {
    zone_t *z = (zone_t *)~at;
    zone__track_heed(z, sizeof *z);
    for (size_t k = 0; k < z->nextents; k++)
      zone__track_undefined(&z->extents[k].base, sizeof z->extents[k].base);
  }
  zone__lock_release(&live_lock);
}

/* ---- the zone's record ----------------------------------------------------------------- */

zone_t *zone__checker_record_new(unsigned kind, size_t len) {
  void *c = atomic_load(&record_calloc);
  if (kind == ZONE_CHECKER_ASAN && c != NULL) {
    if (zone__os_refused())
      return NULL;
    return ((void *(*)(size_t, size_t))c)(1, len);
  }
  size_t lead = zone__checker_lead(kind);
  char *mem = zone__os_map(lead + len);
  if (mem == NULL)
    return NULL;
  zone_t *z = (zone_t *)(mem + lead);
  if (kind == ZONE_CHECKER_MEMCHECK) {
    zone__os_guard(mem, lead);
    zone__track_alloc(z, sizeof *z, true);
    zone__track_ignore(z, sizeof *z);
    live_add(z);
  }
  return z;
}

void zone__checker_record_free(zone_t *z) {
  unsigned kind = z->check.kind;
  size_t len = z->self_len;
  req_unmap(&z->check);
  void *f = atomic_load(&record_free);
  if (kind == ZONE_CHECKER_ASAN && f != NULL) {
    ((void (*)(void *))f)(z);
    return;
  }
  size_t lead = zone__checker_lead(kind);
  if (kind == ZONE_CHECKER_MEMCHECK) {
    live_remove(z);
    zone__track_heed(z, sizeof *z);
    zone__track_free(z);
  }
  zone__os_unmap((char *)z - lead, lead + len);
}

/* ---- blocks ----------------------------------------------------------------------------- */

size_t zone__checker_alloc(zone_t *z, void *p, size_t bytes, size_t rounded, bool zeroed) {
  size_t size = req_remember(&z->check, p, bytes, rounded, zeroed);
  char *pad = (char *)p + size;
  if (z->check.kind == ZONE_CHECKER_MEMCHECK) {
    zone__track_alloc(p, size, zeroed);
    if (zeroed)
      zone__track_undefined(pad, rounded - size);  /* zero_block writes it too */
    else
      zone__track_noaccess(pad, rounded - size);
  } else {
    asan_usable(p, zeroed ? rounded : size);
    if (!zeroed)
      off_limits(ZONE_CHECKER_ASAN, pad, rounded - size);
  }
  return size;
}

void zone__checker_zeroed(const zone_t *z, void *p, size_t known, size_t rounded) {
  off_limits(z->check.kind, (char *)p + known, rounded - known);
}

void zone__checker_free(zone_t *z, void *p, size_t rounded) {
  req_forget(&z->check, p);
  if (z->check.kind == ZONE_CHECKER_MEMCHECK)
    zone__track_free(p);
  off_limits(z->check.kind, p, rounded);
}

void zone__checker_resize(zone_t *z, void *p, size_t old_rounded, size_t new_rounded, size_t bytes) {
  size_t old = req_size(&z->check, p, old_rounded, NULL);
  size_t size = req_remember(&z->check, p, bytes, new_rounded, false);
  size_t span = old_rounded > new_rounded ? old_rounded : new_rounded;
  if (z->check.kind == ZONE_CHECKER_MEMCHECK)
    zone__track_resize(p, old, size);  /* memcheck ignores it unless old is exact */
  else
    asan_usable(p, size);
  off_limits(z->check.kind, (char *)p + size, span - size);
}

void zone__checker_move(zone_t *z, void *to, size_t to_rounded, void *from, size_t from_rounded,
                        size_t bytes) {
  size_t old = req_size(&z->check, from, from_rounded, NULL);
  size_t copy = old < bytes ? old : bytes;
  req_forget(&z->check, from);
  size_t size = req_remember(&z->check, to, bytes, to_rounded, false);
  char *t = to, *f = from;
  unsigned kind = z->check.kind;
  if (kind == ZONE_CHECKER_ASAN) {
    asan_usable(to, to_rounded);  /* the source stays usable where they overlap */
    memmove(to, from, copy);
    off_limits(kind, from, from_rounded);
    asan_usable(to, size);
    off_limits(kind, t + size, to_rounded - size);
    return;
  }
  bool overlap = t < f + from_rounded && f < t + to_rounded;
  if (!overlap) {
    zone__track_alloc(to, size, false);
    zone__track_noaccess(t + size, to_rounded - size);
    memmove(to, from, copy);  /* carries the V bits along */
    zone__track_free(from);
    zone__track_noaccess(from, from_rounded);
    return;
  }
  /* Overlapping: the old block's V bits would be lost where the new one is
   * marked over it, so they are saved first and restored after the copy. */
  char *vbits = zone__os_map_quiet(copy);
  if (vbits != NULL)
    zone__track_get_vbits(from, vbits, copy);
  zone__track_undefined(to, copy);
  memmove(to, from, copy);
  zone__track_free(from);
  zone__track_noaccess(from, from_rounded);
  zone__track_alloc(to, size, false);
  zone__track_noaccess(t + size, to_rounded - size);
  if (vbits != NULL) {
    zone__track_set_vbits(to, vbits, copy);
    zone__os_unmap(vbits, copy);
  } else {
    zone__track_defined(to, copy);
  }
}

void zone__checker_usable(zone_t *z, const void *p, size_t rounded) {
  bool zeroed;
  size_t size = req_size(&z->check, p, rounded, &zeroed);
  if (size == rounded)
    return;
  req_forget(&z->check, p);
  char *at = (char *)p;
  if (z->check.kind == ZONE_CHECKER_MEMCHECK) {
    zone__track_resize(at, size, rounded);  /* the tail is undefined, */
    if (zeroed)
      zone__track_defined(at + size, rounded - size);  /* unless zcalloc zeroed it */
  } else {
    asan_usable(at, rounded);
  }
}

/* ---- the whole zone --------------------------------------------------------------------- */

/* Memcheck: every live block of z is gone. */
static void forget_blocks(zone_t *z) {
  if (z->check.kind != ZONE_CHECKER_MEMCHECK)
    return;
  for (size_t k = 0; k < z->nextents; k++) {
    zone__extent_t *e = &z->extents[k];
    for (size_t g = zone__index_next_block(&e->idx, 0, e->fresh); g != ZONE_NONE;
         g = zone__index_next_block(&e->idx, g + zone__index_block_len(&e->idx, g), e->fresh))
      zone__track_free((void *)(e->base + g * ZONE_G));
  }
}

void zone__checker_reset(zone_t *z) {
  forget_blocks(z);
  req_unmap(&z->check);
  for (size_t k = 0; k < z->nextents; k++)
    off_limits(z->check.kind, (void *)z->extents[k].base, z->extents[k].idx.ngran * ZONE_G);
}

void zone__checker_destroy(zone_t *z) {
  if (z->check.kind == ZONE_CHECKER_NONE)
    return;
  forget_blocks(z);
  req_unmap(&z->check);
  for (size_t k = 0; k < z->nextents; k++) {
    zone__extent_t *e = &z->extents[k];
    if (e->map == NULL) {  /* the caller's buffer, back as it was */
      if (z->check.kind == ZONE_CHECKER_MEMCHECK)
        zone__track_defined((void *)e->base, e->idx.ngran * ZONE_G);
      else
        asan_usable((void *)e->base, e->idx.ngran * ZONE_G);
    } else if (z->check.kind == ZONE_CHECKER_ASAN) {
      /* unmapped next: no poison may outlive it (memory mapped there later
       * is not the zone's) */
      asan_usable(e->map, e->map_len);
    }
  }
}
