/*
 * model.c - the reference model of exact first fit described in model.h: a
 * byte per granule and linear scans, slow on purpose so that every rule is a
 * few obvious lines. Also the two helpers that compare a real zone against it.
 */
#include "model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- granule arithmetic ------------------------------------------------- */

/* Computed without rounding bytes up first, so SIZE_MAX does not wrap to a
 * small n. */
size_t model_granules(size_t bytes) {
  size_t n = bytes / MODEL_G + (bytes % MODEL_G != 0);
  return n == 0 ? 1 : n;
}

/* Granules for a request, or MODEL_NONE when it can never fit in m. */
static size_t granules_for(const zone_model_t *m, size_t bytes) {
  size_t n = model_granules(bytes);
  return n > m->ngran ? MODEL_NONE : n;
}

size_t model_whole_granules(const void *mem, size_t bytes, uintptr_t *base) {
  uintptr_t lo = ((uintptr_t)mem + MODEL_G - 1) & ~(uintptr_t)(MODEL_G - 1);
  uintptr_t hi = ((uintptr_t)mem + bytes) & ~(uintptr_t)(MODEL_G - 1);
  *base = lo;
  return hi > lo ? (hi - lo) / MODEL_G : 0;
}

static bool run_is_free(const zone_model_t *m, size_t g, size_t n) {
  if (g > m->ngran || n > m->ngran - g)
    return false;
  for (size_t i = g; i < g + n; i++)
    if (m->map[i] != MODEL_FREE)
      return false;
  return true;
}

static size_t block_len(const zone_model_t *m, size_t g) {
  size_t n = 1;
  while (g + n < m->ngran && m->map[g + n] == MODEL_INSIDE)
    n++;
  return n;
}

static bool is_block(const zone_model_t *m, size_t off) {
  return off < m->ngran && m->map[off] == MODEL_START;
}

/* Whether the block of old granules at off can become n granules where it is:
 * a shrink (or the same size), or the granules right after it are free. */
static bool stays(const zone_model_t *m, size_t off, size_t old, size_t n) {
  return n <= old || run_is_free(m, off + old, n - old);
}

static void mark_block(zone_model_t *m, size_t g, size_t n) {
  m->map[g] = MODEL_START;
  memset(m->map + g + 1, MODEL_INSIDE, n - 1);
  m->used_gran += n;
  m->blocks++;
  if (m->used_gran > m->peak_gran)
    m->peak_gran = m->used_gran;
}

static void clear_block(zone_model_t *m, size_t g, size_t n) {
  memset(m->map + g, MODEL_FREE, n);
  m->used_gran -= n;
  m->blocks--;
}

/* The lowest granule where n free granules begin and whose address is a
 * multiple of align (1 for any), or MODEL_NONE. Scans maximal free runs in
 * address order and, in each, tries the granules from its start upwards; a
 * granule in a run can only fit if the run reaches n granules past it, so
 * nothing lower can be missed. */
static size_t lowest_fit(const zone_model_t *m, size_t n, size_t align) {
  size_t g = 0;
  while (g < m->ngran) {
    if (m->map[g] != MODEL_FREE) {
      g++;
      continue;
    }
    size_t end = g;
    while (end < m->ngran && m->map[end] == MODEL_FREE)
      end++;
    for (size_t c = g; c + n <= end; c++)
      if ((m->base + c * MODEL_G) % align == 0)
        return c;
    g = end;
  }
  return MODEL_NONE;
}

static size_t fail(int *err, int code) {
  *err = code;
  return MODEL_NONE;
}

/* ---- lifecycle ------------------------------------------------------------ */

int model_init(zone_model_t *m, uintptr_t base, size_t bytes) {
  memset(m, 0, sizeof *m);
  m->base = base;
  m->ngran = bytes / MODEL_G;
  m->map = calloc(m->ngran ? m->ngran : 1, 1);
  return m->map ? 0 : ENOMEM;
}

void model_fini(zone_model_t *m) {
  free(m->map);
  memset(m, 0, sizeof *m);
}

int model_extend(zone_model_t *m, size_t bytes) {
  size_t ngran = m->ngran + bytes / MODEL_G;
  unsigned char *map = realloc(m->map, ngran ? ngran : 1);
  if (map == NULL)
    return ENOMEM;
  memset(map + m->ngran, MODEL_FREE, ngran - m->ngran);
  m->map = map;
  m->ngran = ngran;
  return 0;
}

void model_reset(zone_model_t *m) {
  memset(m->map, MODEL_FREE, m->ngran);
  m->used_gran = 0;
  m->blocks = 0;
}

/* ---- allocation ----------------------------------------------------------- */

size_t model_alloc(zone_model_t *m, size_t bytes, int *err) {
  return model_alloc_aligned(m, 1, bytes, err);
}

size_t model_alloc_aligned(zone_model_t *m, size_t align, size_t bytes, int *err) {
  if (align == 0 || (align & (align - 1)) != 0)
    return fail(err, EINVAL);
  size_t n = granules_for(m, bytes);
  if (n == MODEL_NONE)
    return fail(err, ENOMEM);
  size_t g = lowest_fit(m, n, align);
  if (g == MODEL_NONE)
    return fail(err, ENOMEM);
  mark_block(m, g, n);
  *err = 0;
  return g;
}

size_t model_calloc(zone_model_t *m, size_t count, size_t size, int *err) {
  if (size != 0 && count > SIZE_MAX / size)
    return fail(err, ENOMEM);
  return model_alloc(m, count * size, err);
}

size_t model_realloc(zone_model_t *m, size_t off, size_t bytes, int *err) {
  if (off == MODEL_NONE)
    return model_alloc(m, bytes, err);
  if (!is_block(m, off))
    return fail(err, EINVAL);
  if (bytes == 0) {
    clear_block(m, off, block_len(m, off));
    return fail(err, 0);
  }
  size_t old = block_len(m, off);
  size_t n = granules_for(m, bytes);
  if (n == MODEL_NONE)
    return fail(err, ENOMEM);
  *err = 0;
  if (stays(m, off, old, n)) {
    clear_block(m, off, old);
    mark_block(m, off, n);
    return off;
  }
  /* As if already freed: its own granules count for the search. */
  clear_block(m, off, old);
  size_t g = lowest_fit(m, n, 1);
  if (g == MODEL_NONE) {
    mark_block(m, off, old);
    return fail(err, ENOMEM);
  }
  mark_block(m, g, n);
  return g;
}

int model_free(zone_model_t *m, size_t off) {
  if (off == MODEL_NONE)
    return 0;
  if (!is_block(m, off))
    return EINVAL;
  clear_block(m, off, block_len(m, off));
  return 0;
}

bool model_realloc_stays(const zone_model_t *m, size_t off, size_t bytes) {
  if (!is_block(m, off) || bytes == 0)
    return false;
  size_t n = granules_for(m, bytes);
  return n != MODEL_NONE && stays(m, off, block_len(m, off), n);
}

/* ---- queries -------------------------------------------------------------- */

size_t model_block_size(const zone_model_t *m, size_t off) {
  return is_block(m, off) ? block_len(m, off) * MODEL_G : 0;
}

bool model_next(const zone_model_t *m, size_t g, size_t *len, bool *used) {
  if (g >= m->ngran)
    return false;
  if (m->map[g] == MODEL_FREE) {
    size_t n = 1;
    while (g + n < m->ngran && m->map[g + n] == MODEL_FREE)
      n++;
    *len = n;
    *used = false;
  } else {
    *len = block_len(m, g);
    *used = true;
  }
  return true;
}

void model_stats(const zone_model_t *m, zone_stats_t *st) {
  memset(st, 0, sizeof *st);
  st->size = m->ngran * MODEL_G;
  st->used = m->used_gran * MODEL_G;
  st->free = st->size - st->used;
  st->blocks = m->blocks;
  st->peak_used = m->peak_gran * MODEL_G;
  size_t len;
  bool used;
  for (size_t g = 0; model_next(m, g, &len, &used); g += len) {
    if (used)
      continue;
    st->free_blocks++;
    if (len * MODEL_G > st->largest_free)
      st->largest_free = len * MODEL_G;
  }
}

bool model_walk_next(const zone_model_t *ext, size_t n, model_cursor_t *c, uintptr_t *addr,
                     size_t *bytes, bool *used) {
  for (; c->k < n; c->k++, c->g = 0) {
    size_t len;
    if (model_next(&ext[c->k], c->g, &len, used)) {
      *addr = ext[c->k].base + c->g * MODEL_G;
      *bytes = len * MODEL_G;
      c->g += len;
      return true;
    }
  }
  return false;
}

void *model_addr(const zone_model_t *m, size_t off) {
  return off == MODEL_NONE ? NULL : (void *)(m->base + off * MODEL_G);
}

size_t model_off(const zone_model_t *m, const void *p) {
  uintptr_t a = (uintptr_t)p;
  if (p == NULL || a < m->base || (a - m->base) % MODEL_G != 0)
    return MODEL_NONE;
  size_t off = (a - m->base) / MODEL_G;
  return off < m->ngran ? off : MODEL_NONE;
}

size_t model_block_at(const zone_model_t *m, const void *p) {
  size_t off = model_off(m, p);
  return off != MODEL_NONE && is_block(m, off) ? off : MODEL_NONE;
}

uintptr_t model_end(const zone_model_t *m) {
  return m->base + m->ngran * MODEL_G;
}

/* ---- comparing a real zone ------------------------------------------------ */

static int first_visit(void *ptr, size_t size, bool used, void *arg) {
  (void)size;
  (void)used;
  *(uintptr_t *)arg = (uintptr_t)ptr;
  return 1;
}

uintptr_t model_zone_base(const zone_t *z) {
  uintptr_t base = 0;
  return zone_walk(z, first_visit, &base) == 1 ? base : 0;
}

/* Writes the first difference into why (when there is room); returns 1. */
static int say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(char *why, size_t cap, const char *fmt, ...) {
  if (cap == 0)
    return 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return 1;
}

typedef struct compare_state {
  const zone_model_t *ext;
  size_t n;
  model_cursor_t c;      /* the models' next item */
  char *why;
  size_t cap;
  int bad;
} compare_state_t;

static int compare_visit(void *ptr, size_t size, bool used, void *arg) {
  compare_state_t *s = arg;
  uintptr_t want;
  size_t len;
  bool mused;
  if (!model_walk_next(s->ext, s->n, &s->c, &want, &len, &mused)) {
    s->bad = say(s->why, s->cap, "zone_walk visits %p size %zu %s past the model's end", ptr,
                 size, used ? "used" : "free");
    return 1;
  }
  if ((uintptr_t)ptr != want || size != len || used != mused) {
    s->bad = say(s->why, s->cap,
                 "zone_walk visits %p size %zu %s where the model has %p size %zu %s (extent "
                 "%zu, granule %zu)",
                 ptr, size, used ? "used" : "free", (void *)want, len, mused ? "used" : "free",
                 s->c.k, s->c.g - len / MODEL_G);
    return 1;
  }
  return 0;
}

int model_compare_walk(const zone_model_t *ext, size_t n, const zone_t *z, char *why, size_t cap) {
  compare_state_t s = {ext, n, {0, 0}, why, cap, 0};
  if (cap)
    why[0] = '\0';
  int rc = zone_walk(z, compare_visit, &s);
  if (s.bad)
    return 1;
  if (rc != 0)
    return say(why, cap, "zone_walk returned %d", rc);
  uintptr_t addr;
  size_t len;
  bool used;
  if (model_walk_next(ext, n, &s.c, &addr, &len, &used))
    return say(why, cap, "zone_walk ended before the model's %p size %zu %s", (void *)addr, len,
               used ? "used" : "free");
  return 0;
}

int model_compare_stats(const zone_stats_t *got, const zone_stats_t *want, char *why,
                        size_t cap) {
  if (cap)
    why[0] = '\0';
#define COMPARE_FIELD(f)                                                                  \
  if (got->f != want->f)                                                                  \
    return say(why, cap, "zone_stats." #f " is %zu, the model says %zu", got->f, want->f);
  COMPARE_FIELD(size)
  COMPARE_FIELD(used)
  COMPARE_FIELD(free)
  COMPARE_FIELD(largest_free)
  COMPARE_FIELD(blocks)
  COMPARE_FIELD(free_blocks)
  COMPARE_FIELD(peak_used)
#undef COMPARE_FIELD
  return 0;
}

int model_compare(const zone_model_t *m, const zone_t *z, char *why, size_t cap) {
  if (model_compare_walk(m, 1, z, why, cap))
    return 1;
  zone_stats_t got, want;
  model_stats(m, &want);
  zone_stats(z, &got);
  return model_compare_stats(&got, &want, why, cap);
}
