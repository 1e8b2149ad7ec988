/*
 * test_introspect.c - looking inside a zone (contract 10, 11, 12): zone_owns,
 * zone_block_size, zone_size, zone_walk (order, coverage, stop value, a
 * visitor that frees), zone_stats (every field, peak_used as a high-water
 * mark), the zdump format parsed back, and zone_check: 0 on sound zones, and
 * (white-box: this suite links the core's objects) nonzero with a description
 * on stderr when the bookkeeping is deliberately broken.
 */
#include "support.h"
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A zone with some history: blocks of several sizes, some freed. */
static zone_t *busy_zone(size_t bytes, char **p, size_t n) {
  zone_t *z = create_zone(bytes);
  ck_assert_ptr_nonnull(z);
  for (size_t i = 0; i < n; i++) {
    p[i] = zalloc(z, (i * 29) % 200);
    ck_assert_ptr_nonnull(p[i]);
  }
  for (size_t i = 0; i < n; i += 3) {
    ck_assert_int_eq(zfree(z, p[i]), 0);
    p[i] = NULL;
  }
  return z;
}

START_TEST(owns_block_starts_only) {
  char *p[30];
  zone_t *z = busy_zone(1 << 14, p, 30);
  zone_t *other = create_zone(1 << 14);
  char *o = zalloc(other, 32);
  for (size_t i = 0; i < 30; i++) {
    if (p[i] == NULL)
      continue;
    ck_assert(zone_owns(z, p[i]));
    ck_assert(!zone_owns(other, p[i]));
    ck_assert(!zone_owns(z, p[i] + 1));
    if (zone_block_size(z, p[i]) > G)
      ck_assert(!zone_owns(z, p[i] + G));
  }
  ck_assert(!zone_owns(z, o));
  ck_assert(zone_owns(other, o));
  ck_assert(!zone_owns(z, NULL));
  ck_assert(!zone_owns(NULL, o));
  ck_assert_int_eq(zfree(other, o), 0);
  ck_assert(!zone_owns(other, o));
  destroy_zone(other);
  destroy_zone(z);
}
END_TEST

START_TEST(block_size_exact) {
  zone_t *z = create_zone(1 << 14);
  ck_assert_ptr_nonnull(z);
  for (size_t n = 0; n < 100; n++) {
    char *p = zalloc(z, n);
    size_t want = n == 0 ? G : (n + G - 1) / G * G;
    ck_assert_uint_eq(zone_block_size(z, p), want);
    ck_assert_uint_eq(zone_block_size(z, p + 1), 0);
    if (want > G)
      ck_assert_uint_eq(zone_block_size(z, p + G), 0);
  }
  ck_assert_uint_eq(zone_block_size(z, NULL), 0);
  ck_assert_uint_eq(zone_block_size(NULL, NULL), 0);
  destroy_zone(z);
}
END_TEST

START_TEST(zone_size_values) {
  zone_t *z = create_zone(5000);
  ck_assert_uint_eq(zone_size(z), 5008);
  zalloc(z, 5000);
  ck_assert_uint_eq(zone_size(z), 5008);  /* never changes without ZONE_GROW */
  ck_assert_uint_eq(zone_size(NULL), 0);
  destroy_zone(z);
}
END_TEST

/* ---- zone_walk -------------------------------------------------------------- */

typedef struct walk_log {
  zt_snapshot_t snap;
  size_t visits;
  size_t stop_after;
  int stop_value;
} walk_log_t;

static int logging_visit(void *ptr, size_t size, bool used, void *arg) {
  walk_log_t *log = arg;
  log->visits++;
  if (log->snap.count == log->snap.cap) {
    log->snap.cap = log->snap.cap ? log->snap.cap * 2 : 64;
    log->snap.regions = realloc(log->snap.regions, log->snap.cap * sizeof(zt_region_t));
    ck_assert_ptr_nonnull(log->snap.regions);
  }
  log->snap.regions[log->snap.count++] = (zt_region_t){(uintptr_t)ptr, size, used};
  return log->visits == log->stop_after ? log->stop_value : 0;
}

/* The walk covers the zone from its first byte to its last, in ascending
 * order, with no gap and no two free regions side by side (they are maximal),
 * and agrees with zone_owns and zone_block_size. */
START_TEST(walk_order_and_coverage) {
  char *p[60];
  zone_t *z = busy_zone(1 << 14, p, 60);
  walk_log_t log = {0};
  ck_assert_int_eq(zone_walk(z, logging_visit, &log), 0);
  ck_assert_uint_gt(log.snap.count, 0);
  uintptr_t at = log.snap.regions[0].addr;
  size_t total = 0, used = 0, blocks = 0;
  for (size_t i = 0; i < log.snap.count; i++) {
    zt_region_t *r = &log.snap.regions[i];
    ck_assert_msg(r->addr == at, "entry %zu at %#lx, want %#lx", i, (unsigned long)r->addr,
                  (unsigned long)at);
    ck_assert_uint_gt(r->size, 0);
    ck_assert_uint_eq(r->size % G, 0);
    if (i > 0)
      ck_assert_msg(r->used || log.snap.regions[i - 1].used, "two free regions side by side");
    if (r->used) {
      ck_assert(zone_owns(z, (void *)r->addr));
      ck_assert_uint_eq(zone_block_size(z, (void *)r->addr), r->size);
      used += r->size;
      blocks++;
    } else {
      ck_assert(!zone_owns(z, (void *)r->addr));
    }
    at += r->size;
    total += r->size;
  }
  ck_assert_uint_eq(total, zone_size(z));
  for (size_t i = 0; i < 60; i++)
    if (p[i] != NULL) {
      bool seen = false;
      for (size_t k = 0; k < log.snap.count; k++)
        seen |= log.snap.regions[k].used && log.snap.regions[k].addr == (uintptr_t)p[i];
      ck_assert_msg(seen, "block %zu not visited", i);
    }
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, used);
  ck_assert_uint_eq(st.blocks, blocks);
  zt_snapshot_free(&log.snap);
  destroy_zone(z);
}
END_TEST

/* A nonzero visitor return stops the walk at once and is returned. */
START_TEST(walk_stop_value) {
  char *p[20];
  zone_t *z = busy_zone(4096, p, 20);
  for (size_t stop = 1; stop <= 5; stop++) {
    walk_log_t log = {.stop_after = stop, .stop_value = (int)(40 + stop)};
    ck_assert_int_eq(zone_walk(z, logging_visit, &log), (int)(40 + stop));
    ck_assert_uint_eq(log.visits, stop);
    zt_snapshot_free(&log.snap);
  }
  walk_log_t neg = {.stop_after = 2, .stop_value = -3};
  ck_assert_int_eq(zone_walk(z, logging_visit, &neg), -3);
  zt_snapshot_free(&neg.snap);
  ck_assert_int_eq(zone_walk(z, NULL, NULL), EINVAL);
  destroy_zone(z);
}
END_TEST

/* An empty zone is one free region; a full one is its blocks only. */
START_TEST(walk_empty_and_full) {
  zone_t *z = create_zone(4096);
  walk_log_t log = {0};
  ck_assert_int_eq(zone_walk(z, logging_visit, &log), 0);
  ck_assert_uint_eq(log.snap.count, 1);
  ck_assert(!log.snap.regions[0].used);
  ck_assert_uint_eq(log.snap.regions[0].size, 4096);
  zt_snapshot_free(&log.snap);
  for (int i = 0; i < 4; i++)
    zalloc(z, 1024);
  walk_log_t full = {0};
  ck_assert_int_eq(zone_walk(z, logging_visit, &full), 0);
  ck_assert_uint_eq(full.snap.count, 4);
  for (int i = 0; i < 4; i++) {
    ck_assert(full.snap.regions[i].used);
    ck_assert_uint_eq(full.snap.regions[i].size, 1024);
  }
  zt_snapshot_free(&full.snap);
  destroy_zone(z);
}
END_TEST

typedef struct freeing_walk {
  zone_t *z;
  size_t freed;
  size_t visits;
} freeing_walk_t;

static int freeing_visit(void *ptr, size_t size, bool used, void *arg) {
  (void)size;
  freeing_walk_t *w = arg;
  w->visits++;
  if (used) {
    ck_assert_int_eq(zfree(w->z, ptr), 0);
    w->freed++;
  }
  return 0;
}

/* The visitor may zfree the block it is given: the walk goes on and every
 * block is freed exactly once. */
START_TEST(walk_visitor_may_free) {
  char *p[50];
  zone_t *z = busy_zone(1 << 14, p, 50);
  zone_stats_t st;
  zone_stats(z, &st);
  size_t blocks = st.blocks;
  freeing_walk_t w = {z, 0, 0};
  ck_assert_int_eq(zone_walk(z, freeing_visit, &w), 0);
  ck_assert_uint_eq(w.freed, blocks);
  zone_stats(z, &st);
  ck_assert_uint_eq(st.blocks, 0);
  ck_assert_uint_eq(st.used, 0);
  ck_assert_uint_eq(st.free_blocks, 1);
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* ---- zone_stats ------------------------------------------------------------------ */

/* Every field against values computed by hand, and against the walk. */
START_TEST(stats_fields) {
  alignas(16) static char buf[1024];
  zone_t *z = create_zone_in(buf, sizeof buf, 0);
  zone_stats_t st;
  zone_stats(z, &st);
  ck_assert_uint_eq(st.size, 1024);
  ck_assert_uint_eq(st.used, 0);
  ck_assert_uint_eq(st.free, 1024);
  ck_assert_uint_eq(st.largest_free, 1024);
  ck_assert_uint_eq(st.blocks, 0);
  ck_assert_uint_eq(st.free_blocks, 1);
  ck_assert_uint_eq(st.peak_used, 0);
  char *a = zalloc(z, 100);  /* [0,112) */
  char *b = zalloc(z, 200);  /* [112,320) */
  char *c = zalloc(z, 10);   /* [320,336) */
  ck_assert_int_eq(zfree(z, b), 0);
  zone_stats(z, &st);
  ck_assert_uint_eq(st.size, 1024);
  ck_assert_uint_eq(st.used, 128);
  ck_assert_uint_eq(st.free, 896);
  ck_assert_uint_eq(st.largest_free, 1024 - 336);
  ck_assert_uint_eq(st.blocks, 2);
  ck_assert_uint_eq(st.free_blocks, 2);
  ck_assert_uint_eq(st.peak_used, 336);
  /* the largest free region is the middle one once the tail is taken */
  char *d = zalloc(z, 1024 - 336);
  zone_stats(z, &st);
  ck_assert_uint_eq(st.largest_free, 208);
  ck_assert_uint_eq(st.free_blocks, 1);
  ck_assert_uint_eq(st.used, 1024 - 208);
  ck_assert_uint_eq(st.peak_used, 1024 - 208);
  ck_assert_int_eq(zfree(z, a), 0);
  ck_assert_int_eq(zfree(z, c), 0);
  ck_assert_int_eq(zfree(z, d), 0);
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 0);
  ck_assert_uint_eq(st.blocks, 0);
  ck_assert_uint_eq(st.free_blocks, 1);
  ck_assert_uint_eq(st.largest_free, 1024);
  ck_assert_uint_eq(st.peak_used, 1024 - 208);  /* a high-water mark stays */
  destroy_zone(z);
}
END_TEST

/* peak_used is the maximum of used over time: it moves with growth in place,
 * never down, and reflects rounded sizes. */
START_TEST(stats_peak_used) {
  zone_t *z = create_zone(1 << 14);
  zone_stats_t st;
  char *p = zalloc(z, 1000);  /* 1008 */
  ck_assert_int_eq(zfree(z, p), 0);
  char *q = zalloc(z, 100);   /* 112 */
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 112);
  ck_assert_uint_eq(st.peak_used, 1008);
  ck_assert_ptr_eq(zrealloc(z, q, 2000), q);  /* in place: 2000 */
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 2000);
  ck_assert_uint_eq(st.peak_used, 2000);
  ck_assert_ptr_eq(zrealloc(z, q, 16), q);
  zone_stats(z, &st);
  ck_assert_uint_eq(st.used, 16);
  ck_assert_uint_eq(st.peak_used, 2000);
  destroy_zone(z);
}
END_TEST

/* zone_stats agrees with the walk after a long random history. */
START_TEST(stats_match_walk) {
  zone_t *z = create_zone(1 << 16);
  zt_rng_t rng;
  uint64_t seed = zt_seed();
  zt_rng_seed(&rng, seed);
  enum { N = 128 };
  char *p[N] = {0};
  size_t rounds = zt_scaled(3000);
  for (size_t r = 0; r < rounds; r++) {
    size_t i = zt_rng_below(&rng, N);
    if (p[i]) {
      ck_assert_int_eq(zfree(z, p[i]), 0);
      p[i] = NULL;
    } else {
      p[i] = zalloc(z, zt_rng_below(&rng, 700));
    }
    if (r % 50 != 0)
      continue;
    zt_snapshot_t s;
    zt_snapshot_take(z, &s);
    size_t used = 0, blocks = 0, fr = 0, largest = 0;
    for (size_t k = 0; k < s.count; k++) {
      if (s.regions[k].used) {
        used += s.regions[k].size;
        blocks++;
      } else {
        fr++;
        if (s.regions[k].size > largest)
          largest = s.regions[k].size;
      }
    }
    ck_assert_msg(s.stats.used == used && s.stats.blocks == blocks && s.stats.free_blocks == fr &&
                      s.stats.largest_free == largest && s.stats.free == s.stats.size - used &&
                      s.stats.peak_used >= used,
                  "seed %llu round %zu: stats disagree with the walk", (unsigned long long)seed,
                  r);
    zt_snapshot_free(&s);
  }
  zt_assert_check(z);
  destroy_zone(z);
}
END_TEST

/* ---- zdump ----------------------------------------------------------------------- */

/* Parses a zdump back and compares it with zone_stats and zone_walk: the
 * header's fields and one "0x<addr> <size> used|free" line per walk entry. */
static void assert_dump_matches(const zone_t *z) {
  FILE *f = tmpfile();
  ck_assert_ptr_nonnull(f);
  zdump(z, f);
  rewind(f);
  zt_snapshot_t s;
  zt_snapshot_take(z, &s);
  char line[512];
  ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
  ck_assert_msg(strncmp(line, "zone", 4) == 0, "header: %s", line);
  zone_stats_t h;
  size_t extents;
  int n = sscanf(line,
                 "zone size=%zu used=%zu free=%zu largest_free=%zu blocks=%zu "
                 "free_regions=%zu peak_used=%zu extents=%zu",
                 &h.size, &h.used, &h.free, &h.largest_free, &h.blocks, &h.free_blocks,
                 &h.peak_used, &extents);
  ck_assert_msg(n == 8, "header does not parse: %s", line);
  ck_assert_uint_eq(h.size, s.stats.size);
  ck_assert_uint_eq(h.used, s.stats.used);
  ck_assert_uint_eq(h.free, s.stats.free);
  ck_assert_uint_eq(h.largest_free, s.stats.largest_free);
  ck_assert_uint_eq(h.blocks, s.stats.blocks);
  ck_assert_uint_eq(h.free_blocks, s.stats.free_blocks);
  ck_assert_uint_eq(h.peak_used, s.stats.peak_used);
  ck_assert_uint_ge(extents, 1);
  size_t i = 0;
  uintptr_t prev = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    ck_assert_msg(strncmp(line, "0x", 2) == 0, "line %zu: %s", i, line);
    uintptr_t addr;
    size_t size;
    char kind[8];
    ck_assert_msg(sscanf(line, "%" SCNxPTR " %zu %7s", &addr, &size, kind) == 3, "line: %s",
                  line);
    ck_assert_msg(strcmp(kind, "used") == 0 || strcmp(kind, "free") == 0, "kind: %s", kind);
    ck_assert_uint_lt(i, s.count);
    ck_assert_uint_gt(addr, prev);
    ck_assert_uint_eq(addr, s.regions[i].addr);
    ck_assert_uint_eq(size, s.regions[i].size);
    ck_assert_int_eq(strcmp(kind, "used") == 0, s.regions[i].used);
    prev = addr;
    i++;
  }
  ck_assert_uint_eq(i, s.count);
  zt_snapshot_free(&s);
  fclose(f);
}

START_TEST(zdump_format) {
  zone_t *z = create_zone(4096);
  assert_dump_matches(z);
  char *p[40];
  for (int i = 0; i < 40; i++)
    p[i] = zalloc(z, (size_t)i * 3);
  for (int i = 0; i < 40; i += 4)
    zfree(z, p[i]);
  assert_dump_matches(z);
  zone_reset(z);
  assert_dump_matches(z);
  zalloc(z, 4096);
  assert_dump_matches(z);
  destroy_zone(z);
  alignas(16) static char buf[777];
  zone_t *in = create_zone_in(buf + 3, 700, 0);
  zalloc(in, 100);
  assert_dump_matches(in);
  destroy_zone(in);
  /* zdump with a NULL stream does nothing (and does not crash) */
  zone_t *q = create_zone(64);
  zdump(q, NULL);
  destroy_zone(q);
}
END_TEST

/* ---- zone_check ------------------------------------------------------------------ */

START_TEST(check_passes_on_sound_zones) {
  zone_t *z = create_zone(1 << 14);
  zt_assert_check(z);
  char *p[100];
  for (int i = 0; i < 100; i++) {
    p[i] = zalloc(z, (size_t)i * 7);
    zt_assert_check(z);
  }
  for (int i = 0; i < 100; i += 2) {
    zfree(z, p[i]);
    zt_assert_check(z);
  }
  for (int i = 1; i < 100; i += 2) {
    p[i] = zrealloc(z, p[i], (size_t)i * 11);
    zt_assert_check(z);
  }
  zone_reset(z);
  zt_assert_check(z);
  destroy_zone(z);
  ck_assert_int_ne(zone_check(NULL), 0);
}
END_TEST

/* Runs zone_check with stderr captured; returns its result and whether it
 * wrote a description. */
static int check_captured(const zone_t *z, bool *said) {
  fflush(stderr);
  FILE *cap = tmpfile();
  ck_assert_ptr_nonnull(cap);
  int saved = dup(STDERR_FILENO);
  ck_assert_int_ge(saved, 0);
  ck_assert_int_ge(dup2(fileno(cap), STDERR_FILENO), 0);
  int rc = zone_check(z);
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  fseek(cap, 0, SEEK_END);
  *said = ftell(cap) > 0;
  fclose(cap);
  return rc;
}

/* Breaking the bookkeeping on purpose (white-box) makes zone_check return
 * nonzero and describe it on stderr; repairing it makes it pass again. */
START_TEST(check_detects_broken_accounting) {
  zone_t *z = create_zone(4096);
  char *p = zalloc(z, 100);
  (void)p;
  bool said;
  ck_assert_int_eq(check_captured(z, &said), 0);
  ck_assert(!said);

  size_t used = z->used_gran;
  z->used_gran += 1;  /* one granule, G bytes */
  ck_assert_int_ne(check_captured(z, &said), 0);
  ck_assert(said);
  z->used_gran = used;

  size_t blocks = z->blocks;
  z->blocks++;
  ck_assert_int_ne(check_captured(z, &said), 0);
  ck_assert(said);
  z->blocks = blocks;

  ck_assert_int_eq(check_captured(z, &said), 0);
  destroy_zone(z);
}
END_TEST

/* A granule's bits flipped in the extent's bitmaps, one at a time. */
START_TEST(check_detects_broken_bitmap) {
  zone_t *z = create_zone(1 << 14);
  char *a = zalloc(z, 64);
  char *b = zalloc(z, 64);
  (void)a;
  (void)b;
  zone__index_t *e = &z->extents[0].idx;
  bool said;
  /* a used bit in free space: a block nobody allocated */
  uint64_t saved = e->used[0];
  e->used[0] |= (uint64_t)1 << 20;
  ck_assert_int_ne(check_captured(z, &said), 0);
  ck_assert(said);
  e->used[0] = saved;
  ck_assert_int_eq(check_captured(z, &said), 0);
  /* a free bit in the middle of a block */
  e->used[0] &= ~((uint64_t)1 << 2);
  ck_assert_int_ne(check_captured(z, &said), 0);
  ck_assert(said);
  e->used[0] = saved;
  /* an end bit moved */
  uint64_t saved_end = e->end[0];
  e->end[0] ^= (uint64_t)1 << 1;
  ck_assert_int_ne(check_captured(z, &said), 0);
  ck_assert(said);
  e->end[0] = saved_end;
  ck_assert_int_eq(check_captured(z, &said), 0);
  destroy_zone(z);
}
END_TEST

/* The summary tree disagreeing with the bitmap. */
/* The reach index (small-size search) is verified byte for byte: a wrong byte
 * at the bottom or at the root is a broken invariant. */
START_TEST(check_detects_broken_reach) {
  zone_t *z = create_zone(1 << 16);
  zalloc(z, 100);
  zone__index_t *e = &z->extents[0].idx;
  ck_assert_uint_gt(e->reach.levels, 1);
  bool said;
  ck_assert_int_eq(check_captured(z, &said), 0);
  uint8_t *bottom = e->reach.bytes + e->reach.at[0];
  uint8_t saved = bottom[0];
  bottom[0] ^= 1;
  ck_assert_int_ne(check_captured(z, &said), 0);
  ck_assert(said);
  bottom[0] = saved;
  uint8_t *root = e->reach.bytes + e->reach.at[e->reach.levels - 1];
  ck_assert_uint_eq(e->reach.len[e->reach.levels - 1], 1);  /* the root is one byte */
  ck_assert_ptr_eq(e->reach.top, root);
  saved = root[0];
  root[0] ^= 2;
  ck_assert_int_ne(check_captured(z, &said), 0);
  ck_assert(said);
  root[0] = saved;
  ck_assert_int_eq(check_captured(z, &said), 0);
  destroy_zone(z);
}
END_TEST

START_TEST(check_detects_broken_summary) {
  zone_t *z = create_zone(1 << 16);  /* 4096 granules: 64 words, a real tree */
  zalloc(z, 100);
  zone__index_t *e = &z->extents[0].idx;
  ck_assert_uint_gt(e->tree.leaves, 1);
  bool said;
  /* The tree may be brought up to date lazily, from the words changed since
   * it last was: a first check leaves it current, so that what follows is a
   * real disagreement and not a pending update. */
  ck_assert_int_eq(check_captured(z, &said), 0);
  uint32_t saved_leaf = e->leaf[0];
  e->leaf[0] ^= 1u << 16;
  ck_assert_int_ne(check_captured(z, &said), 0);
  ck_assert(said);
  e->leaf[0] = saved_leaf;
  zone__summary_t saved = e->tree.node[1];
  e->tree.node[1].max ^= 1;
  ck_assert_int_ne(check_captured(z, &said), 0);
  ck_assert(said);
  e->tree.node[1] = saved;
  e->tree.node[1].start += 1;
  ck_assert_int_ne(check_captured(z, &said), 0);
  ck_assert(said);
  e->tree.node[1] = saved;
  ck_assert_int_eq(check_captured(z, &said), 0);
  destroy_zone(z);
}
END_TEST

/* The summary tree (large requests) sleeps while nobody reads it: small
 * churn over every chunk of a big zone, with no large request, puts it to
 * sleep; frees made meanwhile (one word at a time, and one block of four
 * words, which rebuilds a range at once when the tree is awake) must all be
 * seen by the first large request, which wakes it and gets the exact lowest
 * fit, and the checker finds the tree exact again. */
#define WORD_BYTES (64 * ZONE_G)   /* one bitmap word of granules */

/* At ZONE_DEBUG 3 the core checks itself after every change, and the check
 * reads the tree (wakes it): there it never sleeps. */
#if ZONE_DEBUG >= 3
#define assert_asleep(t, want) ck_assert(!(t)->asleep)
#else
#define assert_asleep(t, want) ck_assert((t)->asleep == (want))
#endif
#define TREE_WORDS 4096            /* 512 chunks: the tree has 512 leaves */

/* A zone of TREE_WORDS one-word blocks, block 2000 four words long (so
 * 4093 blocks); p[i] is the block that starts at word i (NULL inside the long
 * one). */
static zone_t *word_blocks_zone(char **p) {
  zone_t *z = create_zone(TREE_WORDS * WORD_BYTES);
  ck_assert_ptr_nonnull(z);
  char *base = NULL;
  for (size_t i = 0; i < TREE_WORDS; i++) {
    p[i] = NULL;
    if (i > 2000 && i < 2004)
      continue;
    p[i] = zalloc(z, i == 2000 ? 4 * WORD_BYTES : WORD_BYTES);
    ck_assert_ptr_nonnull(p[i]);
    if (i == 0)
      base = p[0];
    ck_assert_ptr_eq(p[i], base + i * WORD_BYTES);
  }
  ck_assert_ptr_null(zalloc(z, 1));  /* full */
  return z;
}

/* Each one-word block freed and taken again, word by word, twice over:
 * every chunk's edge runs move (reach index only: no large request), 1024
 * chunk walks in all if nothing reads the tree meanwhile. */
static void churn_words(zone_t *z, char **p, bool read_often) {
  for (size_t k = 0; k < 2 * TREE_WORDS; k++) {
    size_t i = k % TREE_WORDS;
    if (p[i] == NULL || zone_block_size(z, p[i]) != WORD_BYTES)
      continue;
    char *was = p[i];
    ck_assert_int_eq(zfree(z, p[i]), 0);
    p[i] = zalloc(z, WORD_BYTES);
    ck_assert_ptr_eq(p[i], was);  /* the lowest fit is the hole just made */
    if (read_often && i % 32 == 0) {
      zone_stats_t st;
      zone_stats(z, &st);  /* reads the tree (largest_free) */
      ck_assert_uint_eq(st.largest_free, 0);
    }
  }
}

START_TEST(tree_sleeps_until_read) {
  static char *p[TREE_WORDS];
  zone_t *z = word_blocks_zone(p);
  zone__tree_t *t = &z->extents[0].idx.tree;
  ck_assert_uint_eq(t->leaves, TREE_WORDS / ZONE_CHUNK_WORDS);
  churn_words(z, p, false);
  assert_asleep(t, true);  /* 512 chunks walked, nothing read: asleep */
  ck_assert_uint_eq(t->ndirty, 0);
  /* Holes while it sleeps: 2 words at word 100, 3 at word 3000, and the
   * 4-word block at word 2000 (a range change). */
  char *hole2 = p[100], *hole3 = p[3000], *big = p[2000];
  for (size_t i = 100; i < 102; i++)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  for (size_t i = 3000; i < 3003; i++)
    ck_assert_int_eq(zfree(z, p[i]), 0);
  ck_assert_int_eq(zfree(z, big), 0);
  assert_asleep(t, true);
  /* 3 words: the 2-word hole is too short, the freed 4-word block comes first. */
  ck_assert_ptr_eq(zalloc(z, 3 * WORD_BYTES), big);
  assert_asleep(t, false);  /* woken by the search, every node exact */
  bool said;
  ck_assert_int_eq(check_captured(z, &said), 0);
  ck_assert_ptr_eq(zalloc(z, 2 * WORD_BYTES), hole2);
  ck_assert_ptr_eq(zalloc(z, 3 * WORD_BYTES), hole3);
  ck_assert_ptr_eq(zalloc(z, WORD_BYTES), big + 3 * WORD_BYTES);
  ck_assert_ptr_null(zalloc(z, 1));
  ck_assert_int_eq(check_captured(z, &said), 0);
  /* The one-word blocks back in those words, lowest first. */
  ck_assert_int_eq(zfree(z, hole2), 0);
  ck_assert_int_eq(zfree(z, hole3), 0);
  ck_assert_int_eq(zfree(z, big), 0);
  ck_assert_int_eq(zfree(z, big + 3 * WORD_BYTES), 0);
  static const size_t back[] = {100, 101, 2000, 2001, 2002, 2003, 3000, 3001, 3002};
  for (size_t k = 0; k < sizeof back / sizeof back[0]; k++) {
    p[back[k]] = zalloc(z, WORD_BYTES);
    ck_assert_ptr_eq(p[back[k]], p[0] + back[k] * WORD_BYTES);
  }
  /* Asleep again, the checker wakes it and finds it exact. */
  churn_words(z, p, false);
  assert_asleep(t, true);
  ck_assert_int_eq(check_captured(z, &said), 0);
  assert_asleep(t, false);
  /* Asleep, then reset: the rebuild from an empty bitmap wakes it. */
  churn_words(z, p, false);
  assert_asleep(t, true);
  zone_reset(z);
  assert_asleep(t, false);
  ck_assert_int_eq(check_captured(z, &said), 0);
  ck_assert_ptr_nonnull(zalloc(z, TREE_WORDS * WORD_BYTES));  /* the whole zone */
  destroy_zone(z);
}
END_TEST

/* A tree that is read as often as every 32 changes never sleeps: the walks
 * between reads never add up to a rebuild's worth. */
START_TEST(tree_read_often_stays_awake) {
  static char *p[TREE_WORDS];
  zone_t *z = word_blocks_zone(p);
  zone__tree_t *t = &z->extents[0].idx.tree;
  churn_words(z, p, true);
  churn_words(z, p, true);
  assert_asleep(t, false);
  bool said;
  ck_assert_int_eq(check_captured(z, &said), 0);
  destroy_zone(z);
}
END_TEST

/* A dirty list that overflows walks a slice of it, not the whole list: the
 * chunk that overflowed it is listed after the chunks left, and the tree
 * read then is exact. */
START_TEST(full_list_walks_a_slice) {
  static char *p[TREE_WORDS];
  zone_t *z = word_blocks_zone(p);
  zone__tree_t *t = &z->extents[0].idx.tree;
  zone_stats_t st;
  zone_stats(z, &st);  /* reads the tree: awake, nothing listed */
  ck_assert_uint_eq(t->ndirty, 0);
  /* One word per chunk freed and taken again: each chunk listed once. */
  for (size_t c = 0; c <= ZONE_DIRTY_MAX; c++) {
    size_t i = c * ZONE_CHUNK_WORDS;
    char *was = p[i];
    ck_assert_int_eq(zfree(z, was), 0);
    p[i] = zalloc(z, WORD_BYTES);
    ck_assert_ptr_eq(p[i], was);
    ck_assert_uint_eq(t->ndirty, c < ZONE_DIRTY_MAX ? c + 1 : ZONE_DIRTY_MAX - ZONE_DIRTY_SLICE + 1);
  }
  assert_asleep(t, false);
  ck_assert_uint_eq(t->dirty_list[ZONE_DIRTY_MAX - ZONE_DIRTY_SLICE], ZONE_DIRTY_MAX);
  for (size_t k = 0; k < ZONE_DIRTY_MAX - ZONE_DIRTY_SLICE; k++)
    ck_assert_uint_eq(t->dirty_list[k], k);  /* the first listed stay listed */
  bool said;
  ck_assert_int_eq(check_captured(z, &said), 0);  /* flushes, then finds it exact */
  ck_assert_uint_eq(t->ndirty, 0);
  destroy_zone(z);
}
END_TEST

int main(void) {
  Suite *s = suite_create("introspect");
  ZT_CASE(s, owns_block_starts_only);
  ZT_CASE(s, block_size_exact);
  ZT_CASE(s, zone_size_values);
  ZT_CASE(s, walk_order_and_coverage);
  ZT_CASE(s, walk_stop_value);
  ZT_CASE(s, walk_empty_and_full);
  ZT_CASE(s, walk_visitor_may_free);
  ZT_CASE(s, stats_fields);
  ZT_CASE(s, stats_peak_used);
  ZT_CASE(s, stats_match_walk);
  ZT_CASE(s, zdump_format);
  ZT_CASE(s, check_passes_on_sound_zones);
  ZT_CASE(s, check_detects_broken_accounting);
  ZT_CASE(s, check_detects_broken_bitmap);
  ZT_CASE(s, check_detects_broken_summary);
  ZT_CASE(s, check_detects_broken_reach);
  ZT_CASE(s, tree_sleeps_until_read);
  ZT_CASE(s, tree_read_often_stays_awake);
  ZT_CASE(s, full_list_walks_a_slice);
  return zt_main(s);
}
