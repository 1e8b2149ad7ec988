/*
 * inspect.c - looking inside a zone: stats, the ordered walk over blocks and
 * free regions, zdump, and zone_check, which verifies every invariant of the
 * bookkeeping (the zone's own here, each extent's in index.c). The walk and
 * zdump release the lock between items so that a visitor (or a FILE that
 * allocates) may call back into the zone. Reports go to stderr through
 * report.c: nothing here allocates.
 */
#include "internal.h"
#include "bits.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

/* ---- stats ------------------------------------------------------------------------ */

static void stats_locked(const zone_t *z, zone_stats_t *st) {
  memset(st, 0, sizeof *st);
  st->size = z->size;
  st->used = z->used_gran * ZONE_G;
  st->free = z->size - st->used;
  st->blocks = z->blocks;
  st->peak_used = z->peak_gran * ZONE_G;
  for (size_t k = 0; k < z->nextents; k++) {
    zone__extent_t *e = (zone__extent_t *)&z->extents[k];  /* the summary cache may catch up */
    size_t largest = zone__index_largest(&e->idx) * ZONE_G;
    if (largest > st->largest_free)
      st->largest_free = largest;
    st->free_blocks += zone__index_free_runs(&e->idx);
  }
}

void zone_stats(const zone_t *z, zone_stats_t *st) {
  if (st == NULL)
    return;
  if (z == NULL) {
    memset(st, 0, sizeof *st);
    return;
  }
  zone__lock(z);
  stats_locked(z, st);
  zone__unlock(z);
}

/* ---- walk ---------------------------------------------------------------------------- */

/* The item (block or maximal free region) at or after address `at`: false when
 * there is none. Lock held. An address inside a block (the zone changed under
 * a walk) moves on to the next block start or free granule. */
static bool item_at(const zone_t *z, uintptr_t at, uintptr_t *addr, size_t *bytes, bool *used) {
  for (size_t k = 0; k < z->nextents; k++) {
    const zone__extent_t *e = &z->extents[k];
    uintptr_t end = e->base + e->idx.ngran * ZONE_G;
    if (at >= end)
      continue;
    size_t g = at <= e->base ? 0 : (at - e->base + ZONE_G - 1) / ZONE_G;
    while (g < e->idx.ngran) {
      size_t nfree = zone__index_free_len(&e->idx, g, e->idx.ngran - g);
      if (nfree > 0) {
        *addr = e->base + g * ZONE_G;
        *bytes = nfree * ZONE_G;
        *used = false;
        return true;
      }
      if (zone__index_is_block(&e->idx, g)) {
        *addr = e->base + g * ZONE_G;
        *bytes = zone__index_block_len(&e->idx, g) * ZONE_G;
        *used = true;
        return true;
      }
      g = zone__index_end_after(&e->idx, g) + 1;  /* inside a block: skip to its end */
    }
  }
  return false;
}

int zone_walk(const zone_t *z, zone_visit_fn visit, void *arg) {
  if (z == NULL || visit == NULL)
    return EINVAL;
  uintptr_t at = 0;
  for (;;) {
    uintptr_t addr;
    size_t bytes;
    bool used;
    zone__lock(z);
    bool found = item_at(z, at, &addr, &bytes, &used);
    zone__unlock(z);
    if (!found)
      return 0;
    int r = visit((void *)addr, bytes, used, arg);
    if (r != 0)
      return r;
    at = addr + bytes;
  }
}

/* ---- dump ------------------------------------------------------------------------------ */

/* The zdump header line into buf; returns its length. */
static size_t format_header(char *buf, size_t cap, const zone_stats_t *st, size_t extents) {
  int n = snprintf(buf, cap,
                   "zone size=%zu used=%zu free=%zu largest_free=%zu blocks=%zu "
                   "free_regions=%zu peak_used=%zu extents=%zu\n",
                   st->size, st->used, st->free, st->largest_free, st->blocks, st->free_blocks,
                   st->peak_used, extents);
  return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* One zdump line (buf of at least 96 bytes); returns its length. */
static size_t format_line(char *buf, size_t cap, uintptr_t addr, size_t size, bool used) {
  int n = snprintf(buf, cap, "0x%" PRIxPTR " %zu %s\n", addr, size, used ? "used" : "free");
  return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static size_t header_of(const zone_t *z, char *buf, size_t cap) {
  zone_stats_t st;
  zone__lock(z);
  stats_locked(z, &st);
  size_t extents = z->nextents;
  zone__unlock(z);
  return format_header(buf, cap, &st, extents);
}

struct dump_target {
  FILE *out;
  int fd;
};

static int dump_line(void *ptr, size_t size, bool used, void *arg) {
  const struct dump_target *t = arg;
  char line[96];
  size_t len = format_line(line, sizeof line, (uintptr_t)ptr, size, used);
  if (t->out != NULL)
    (void)fwrite(line, 1, len, t->out);  /* zdump reports nothing: a short write shows in the file */
  else
    zone__write_all(t->fd, line, len);
  return 0;
}

void zdump(const zone_t *z, FILE *out) {
  if (z == NULL || out == NULL)
    return;
  char header[256];
  size_t len = header_of(z, header, sizeof header);
  (void)fwrite(header, 1, len, out);
  struct dump_target t = {out, -1};
  zone_walk(z, dump_line, &t);
  (void)fflush(out);
}

/* The shim's dump: write(2) never allocates, so the lock is held throughout
 * and the lines agree with their header even while other threads allocate. */
int zone__dump_fd(const zone_t *z, int fd, const char *tag) {
  if (z == NULL || fd < 0)
    return EINVAL;
  char line[512];
  zone_stats_t st;
  zone__lock(z);
  stats_locked(z, &st);
  size_t len = format_header(line, sizeof line / 2, &st, z->nextents);
  if (tag != NULL && len > 0) {  /* " tag" before the newline */
    int n = snprintf(line + len - 1, sizeof line - len, " %s\n", tag);
    if (n > 0)
      len += (size_t)n < sizeof line - len ? (size_t)n - 1 : sizeof line - len - 1;
  }
  zone__write_all(fd, line, len);
  uintptr_t at = 0, addr;
  size_t bytes;
  bool used;
  while (item_at(z, at, &addr, &bytes, &used)) {
    zone__write_all(fd, line, format_line(line, sizeof line, addr, bytes, used));
    at = addr + bytes;
  }
  zone__unlock(z);
  return 0;
}

/* ---- invariants ---------------------------------------------------------------------- */

int zone__check_locked(zone_t *z) {
  size_t size = 0, used = 0, blocks = 0;
  if (z->nextents == 0 || z->nextents > ZONE_MAX_EXTENTS)
    return zone__check_fail(ZONE_CHECK_EXTENT_COUNT, "%zu extents", z->nextents);
  for (size_t k = 0; k < z->nextents; k++) {
    zone__extent_t *e = &z->extents[k];
    if (e->base % ZONE_G != 0 || e->idx.ngran == 0)
      return zone__check_fail(ZONE_CHECK_EXTENT_SHAPE, "extent %zu", k);
    const zone__extent_t *prev = &z->extents[k - (k > 0)];
    if (k > 0 && prev->base + prev->idx.ngran * ZONE_G > e->base)
      return zone__check_fail(ZONE_CHECK_EXTENT_ORDER, "extents %zu and %zu", k - 1, k);
    size_t u, b;
    int err = zone__index_check(&e->idx, e->base, &u, &b);
    if (err != 0)
      return err;
    size += e->idx.ngran * ZONE_G;
    used += u * ZONE_G;
    blocks += b;
  }
  size_t said = z->used_gran * ZONE_G;
  if (size != z->size || used != said || blocks != z->blocks || z->peak_gran < z->used_gran)
    return zone__check_fail(ZONE_CHECK_ACCOUNTING,
                            "the zone says size %zu used %zu blocks %zu, the bitmaps "
                            "%zu, %zu, %zu (peak %zu)",
                            z->size, said, z->blocks, size, used, blocks, z->peak_gran * ZONE_G);
  return 0;
}

int zone_check(const zone_t *z) {
  if (z == NULL)
    return EINVAL;
  zone__lock(z);
  int err = zone__check_locked((zone_t *)z);
  zone__unlock(z);
  return err;
}

size_t zone__used_bytes(const zone_t *z) {
  zone__lock(z);
  size_t used = z->used_gran * ZONE_G;
  zone__unlock(z);
  return used;
}

size_t zone__extent_count(const zone_t *z) {
  zone__lock(z);
  size_t n = z->nextents;
  zone__unlock(z);
  return n;
}

size_t zone__bookkeeping_bytes(const zone_t *z) {
  size_t page = zone__os_page_size();
  zone__lock(z);
  /* the record's pages up to its last extent in use: the rest of its array
   * is never written (extents are only added, at the end) */
  size_t book = round_up(offsetof(zone_t, extents) + z->nextents * sizeof(zone__extent_t), page);
  for (size_t i = 0; i < z->nextents; i++)
    book += z->extents[i].idx.book_used;
  zone__unlock(z);
  return book;
}
