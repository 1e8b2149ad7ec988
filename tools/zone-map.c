/*
 * zone-map.c - draws zdump output as an SVG heap map.
 *
 * This file owns the whole tool: reading dumps (one or many, from files or
 * stdin, other lines skipped so a program's mixed output can be piped in),
 * laying a zone's address space out in rows, and writing the SVG (a strip of
 * maps, or an animation with --animate), or a PNG through rsvg-convert or
 * ImageMagick when --png asks for one. --dump and --last choose which dumps of
 * the input are drawn. It depends on nothing but libc: a
 * picture of a zone must be possible where only the zone's dump is.
 *
 * Layout: every row stands for the same number of bytes (row_bytes, a power
 * of two shared by all the maps of one picture, so maps compare), and a
 * block's rectangle is exactly as wide as its share of a row; a block that
 * crosses a row's end continues at the start of the next row. Each extent of
 * a growable zone starts on a row of its own and the address gap between two
 * extents, which is not part of the zone, is collapsed into a marked band.
 * A map of more than --max-items items is a summary, whose size follows the
 * number of holes rather than of blocks: rows painted in the used colour,
 * free regions over them, each at least a pixel wide. The maps carry their numbers as data-* attributes so tests (and scripts)
 * can read them without scraping the text.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ZONE_MAP_VERSION
#define ZONE_MAP_VERSION "0"
#endif

#define GRANULE 16u            /* the zone's granule: no row is narrower */
#define MAX_GRANULE_PX 16u     /* a granule is drawn at most this wide */

/* Geometry, in SVG user units (pixels). */
#define MARGIN 12
#define LABEL_W 112            /* row address labels, left of the map */
#define ROW_H 16
#define ROW_GAP 3
#define GAP_H 20               /* the band standing for the space between extents */
#define TOP_H 62               /* title and legend */
#define MAP_HEAD_H 54          /* a map's label and its two stats lines */
#define MAP_SPACING 18
#define MIN_SVG_W 760
#define MAX_ROWS 20000         /* per map: beyond this the SVG is unusable anyway */

/* Colours: used blocks alternate two blues so neighbours stay apart; free
 * regions are sand, the largest free region orange. */
#define COLOUR_USED "#4c78a8"
#define COLOUR_USED_ALT "#7ba3d0"
#define COLOUR_FREE "#f5d78e"
#define COLOUR_LARGEST "#e8772e"
#define COLOUR_GAP "#9a9a9a"

/* ---- dumps -------------------------------------------------------------------- */

struct item {
  uint64_t addr;
  uint64_t size;
  bool used;
};

/* One zdump: its lines, what its header said, and what the lines add up to. */
struct dump {
  size_t number;       /* its place among the input's dumps, from 1 */
  char *source;        /* "file, line N" of the header */
  char *caption;       /* the other line just before the dump, or NULL */
  struct item *items;
  size_t nitems, cap;
  /* the header, as written (0 where a field was missing) */
  uint64_t h_size, h_used, h_largest, h_blocks, h_free_regions, h_peak, h_extents, h_pid;
  uint64_t h_arena;    /* arena= of the header (a shim with several arenas) */
  bool has_arena;
  bool has_peak;
  char prog[64];       /* prog= of the header (the shim's dumps), or "" */
  /* from the lines */
  uint64_t size, used, free, largest_free, blocks, free_regions;
  size_t extents;
  size_t largest;      /* index of the lowest largest free region, or SIZE_MAX */
  double fragmentation;
  bool summary;        /* too many items: rows in the used colour, free regions over them */
};

struct dumps {
  struct dump *v;
  size_t n, cap;
};

/* The dumps --dump or --last choose, numbered from 1 as in the input; all of
 * them when neither was given. */
struct selection {
  const char *spec;    /* --dump's argument, NULL without one */
  size_t first, last;  /* --dump N-M */
  bool to_end;         /* --dump N- */
  bool last_only;      /* --last */
};

struct options {
  const char *output;
  struct selection sel;
  const char *title;
  bool png;
  bool animate;
  bool titles;
  bool captions;
  unsigned frame_ms;
  size_t every;
  unsigned width;
  unsigned max_rows;
  uint64_t row_bytes;  /* 0: chosen from the dumps */
  size_t max_items;
};

static const char *progname = "zone-map";

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", progname);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* A bad command line: exit status 2, as for an unknown option. */
static void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", progname);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (%s --help shows the options)\n", progname);
  va_end(ap);
  exit(2);
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n);
  if (p == NULL)
    die("out of memory");
  return p;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xrealloc(NULL, n), s, n);
}

/* ---- reading ------------------------------------------------------------------- */

/* Parses a decimal or hex (0x) unsigned number spanning [s, end of token). */
static bool parse_u64(const char *s, int base, uint64_t *out, const char **end) {
  if (*s < '0' || *s > '9')
    return false;
  errno = 0;
  char *e;
  unsigned long long v = strtoull(s, &e, base);
  if (errno != 0 || e == s)
    return false;
  *out = v;
  *end = e;
  return true;
}

static bool is_header(const char *line) {
  return strncmp(line, "zone ", 5) == 0 && strstr(line, "size=") != NULL;
}

/* Reads `key=value` fields of a header; unknown keys are skipped. */
static void parse_header(struct dump *d, const char *line) {
  static const struct {
    const char *key;
    size_t offset;
  } fields[] = {
      {"size", offsetof(struct dump, h_size)},
      {"used", offsetof(struct dump, h_used)},
      {"largest_free", offsetof(struct dump, h_largest)},
      {"blocks", offsetof(struct dump, h_blocks)},
      {"free_regions", offsetof(struct dump, h_free_regions)},
      {"peak_used", offsetof(struct dump, h_peak)},
      {"extents", offsetof(struct dump, h_extents)},
      {"pid", offsetof(struct dump, h_pid)},
      {"arena", offsetof(struct dump, h_arena)},
  };
  const char *p = line + 5;
  while (*p != '\0') {
    p += strspn(p, " \t");
    size_t klen = strcspn(p, "= \t\n");
    if (p[klen] == '=' && klen == 4 && strncmp(p, "prog", 4) == 0) {
      size_t vlen = strcspn(p + 5, " \t\n");
      snprintf(d->prog, sizeof d->prog, "%.*s", (int)vlen, p + 5);
    } else if (p[klen] == '=') {
      uint64_t v;
      const char *end;
      if (parse_u64(p + klen + 1, 10, &v, &end)) {
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
          if (strlen(fields[i].key) == klen && strncmp(p, fields[i].key, klen) == 0) {
            *(uint64_t *)((char *)d + fields[i].offset) = v;
            if (strcmp(fields[i].key, "peak_used") == 0)
              d->has_peak = true;
            if (strcmp(fields[i].key, "arena") == 0)
              d->has_arena = true;
          }
        }
      }
    }
    p += strcspn(p, " \t\n");
    p += strspn(p, " \t\n");
  }
}

static void add_item(struct dump *d, const struct item *it, const char *where) {
  if (d->nitems > 0) {
    struct item *prev = &d->items[d->nitems - 1];
    uint64_t prev_end = prev->addr + prev->size;
    if (it->addr < prev_end)
      die("%s: 0x%" PRIx64 " overlaps or comes before the line above it", where, it->addr);
    /* zdump's free regions are maximal; adjacent free lines (a hand-made
     * dump) are one region. */
    if (it->addr == prev_end && !it->used && !prev->used) {
      prev->size += it->size;
      return;
    }
  }
  if (d->nitems == d->cap) {
    d->cap = d->cap ? 2 * d->cap : 64;
    d->items = xrealloc(d->items, d->cap * sizeof *d->items);
  }
  d->items[d->nitems++] = *it;
}

/* An item line: "0x<address> <size> used|free [more fields]". */
static void parse_item(struct dump *d, const char *line, const char *where) {
  const char *p = line + strspn(line, " \t");
  struct item it = {0, 0, false};
  const char *end;
  if (!(p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) || !parse_u64(p + 2, 16, &it.addr, &end) ||
      (*end != ' ' && *end != '\t'))
    die("%s: bad address in \"%s\"", where, line);
  p = end + strspn(end, " \t");
  if (!parse_u64(p, 10, &it.size, &end) || (*end != ' ' && *end != '\t'))
    die("%s: bad size in \"%s\"", where, line);
  p = end + strspn(end, " \t");
  size_t wlen = strcspn(p, " \t\r\n");
  if (wlen == 4 && strncmp(p, "used", 4) == 0)
    it.used = true;
  else if (!(wlen == 4 && strncmp(p, "free", 4) == 0))
    die("%s: expected \"used\" or \"free\" in \"%s\"", where, line);
  if (it.size == 0)
    die("%s: a block or region of 0 bytes", where);
  if (it.addr + it.size < it.addr)
    die("%s: 0x%" PRIx64 " + %" PRIu64 " runs past the address space", where, it.addr, it.size);
  add_item(d, &it, where);
}

/* Leading characters a caption loses: "-- step 2" is captioned "step 2". */
#define CAPTION_JUNK "-#*>=: \t"

/* Reads every dump in `in`; lines that are neither a header nor a block or
 * region line are skipped, so a program's mixed output can be read. The last
 * such line before a dump is kept as its caption. */
static void read_dumps(FILE *in, const char *name, struct dumps *out) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  size_t lineno = 0;
  struct dump *cur = NULL;
  char *other = NULL;  /* the last line that was not part of a dump */
  while ((len = getline(&line, &cap, in)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    char where[512];
    snprintf(where, sizeof where, "%s:%zu", name, lineno);
    const char *p = line + strspn(line, " \t");
    if (is_header(p)) {
      if (out->n == out->cap) {
        out->cap = out->cap ? 2 * out->cap : 8;
        out->v = xrealloc(out->v, out->cap * sizeof *out->v);
      }
      cur = &out->v[out->n++];
      memset(cur, 0, sizeof *cur);
      cur->number = out->n;
      char source[560];
      snprintf(source, sizeof source, "%s, line %zu", name, lineno);
      cur->source = xstrdup(source);
      cur->caption = other;
      other = NULL;
      parse_header(cur, p);
    } else if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
      if (cur == NULL)
        die("%s: a block line before any \"zone\" header line", where);
      parse_item(cur, p, where);
      free(other);
      other = NULL;
    } else if (p[strspn(p, CAPTION_JUNK)] != '\0') {
      free(other);
      other = xstrdup(p + strspn(p, CAPTION_JUNK));
    }
  }
  free(other);
  if (ferror(in))
    die("%s: %s", name, strerror(errno));
  free(line);
}

/* Adds up the lines: the stats, the extents, the largest free region. */
static void summarise(struct dump *d) {
  d->largest = SIZE_MAX;
  for (size_t i = 0; i < d->nitems; i++) {
    const struct item *it = &d->items[i];
    d->size += it->size;
    if (it->used) {
      d->used += it->size;
      d->blocks++;
    } else {
      d->free += it->size;
      d->free_regions++;
      if (it->size > d->largest_free) {
        d->largest_free = it->size;
        d->largest = i;
      }
    }
    if (i == 0 || it->addr != d->items[i - 1].addr + d->items[i - 1].size)
      d->extents++;
  }
  d->fragmentation = d->free == 0 ? 0.0 : 1.0 - (double)d->largest_free / (double)d->free;
  if (d->h_size != 0 && (d->h_size != d->size || d->h_used != d->used))
    fprintf(stderr,
            "%s: %s: the header says size=%" PRIu64 " used=%" PRIu64 ", the lines add up to "
            "size=%" PRIu64 " used=%" PRIu64 " (did the zone change during the dump?)\n",
            progname, d->source, d->h_size, d->h_used, d->size, d->used);
}

/* ---- layout --------------------------------------------------------------------- */

/* Rows a dump takes at row_bytes per row: each extent starts a row. */
static uint64_t rows_for(const struct dump *d, uint64_t row_bytes) {
  uint64_t rows = 0, ext_start = 0;
  for (size_t i = 0; i < d->nitems; i++) {
    const struct item *it = &d->items[i];
    bool starts = i == 0 || it->addr != d->items[i - 1].addr + d->items[i - 1].size;
    if (starts)
      ext_start = it->addr;
    bool ends = i + 1 == d->nitems || d->items[i + 1].addr != it->addr + it->size;
    if (ends)
      rows += (it->addr + it->size - ext_start + row_bytes - 1) / row_bytes;
  }
  return rows;
}

static uint64_t largest_extent(const struct dump *d) {
  uint64_t best = 0, ext_start = 0;
  for (size_t i = 0; i < d->nitems; i++) {
    const struct item *it = &d->items[i];
    if (i == 0 || it->addr != d->items[i - 1].addr + d->items[i - 1].size)
      ext_start = it->addr;
    if (it->addr + it->size - ext_start > best)
      best = it->addr + it->size - ext_start;
  }
  return best;
}

/* The smallest power-of-two row (no narrower than a granule at its widest)
 * that fits every map in max_rows rows, or that holds the largest extent in
 * one row when there are more extents than rows. */
static uint64_t choose_row_bytes(const struct dumps *ds, unsigned width, unsigned max_rows) {
  uint64_t min_row = (uint64_t)GRANULE * width / MAX_GRANULE_PX;
  uint64_t row = GRANULE;
  while (row < min_row)
    row *= 2;
  uint64_t widest = 0;
  for (size_t k = 0; k < ds->n; k++)
    if (largest_extent(&ds->v[k]) > widest)
      widest = largest_extent(&ds->v[k]);
  for (;;) {
    uint64_t rows = 0;
    for (size_t k = 0; k < ds->n; k++)
      if (rows_for(&ds->v[k], row) > rows)
        rows = rows_for(&ds->v[k], row);
    if (rows <= max_rows || row >= widest || row > UINT64_MAX / 2)
      return row;
    row *= 2;
  }
}

static int map_height(const struct dump *d, uint64_t row_bytes) {
  uint64_t rows = rows_for(d, row_bytes);
  int gaps = d->extents > 1 ? (int)d->extents - 1 : 0;
  return MAP_HEAD_H + (int)rows * (ROW_H + ROW_GAP) + gaps * GAP_H;
}

/* ---- SVG output ------------------------------------------------------------------ */

/* A number with at most 3 decimals and no trailing zeros. */
static const char *num(char buf[32], double v) {
  snprintf(buf, 32, "%.3f", v);
  char *dot = strchr(buf, '.');
  if (dot != NULL) {
    char *e = buf + strlen(buf) - 1;
    while (*e == '0')
      *e-- = '\0';
    if (e == dot)
      *e = '\0';
  }
  if (strcmp(buf, "-0") == 0)
    strcpy(buf, "0");
  return buf;
}

static const char *human(char buf[32], uint64_t bytes) {
  static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) {
    snprintf(buf, 32, "%" PRIu64 " B", bytes);
    return buf;
  }
  double v = (double)bytes / 1024;
  int u = 0;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    u++;
  }
  snprintf(buf, 32, "%.1f %s", v, unit[u]);
  return buf;
}

static void put_escaped(FILE *out, const char *s) {
  for (; *s != '\0'; s++) {
    switch (*s) {
    case '&': fputs("&amp;", out); break;
    case '<': fputs("&lt;", out); break;
    case '>': fputs("&gt;", out); break;
    case '"': fputs("&quot;", out); break;
    default: fputc(*s, out);
    }
  }
}

/* Approximate width of monospace text at 11px, to place the legend items. */
#define CHAR_W 6.7

/* A legend entry at x: a swatch (two colours when fill2 is set) and its
 * text. Returns the x of the next entry. */
static int legend_entry(FILE *out, int x, int y, const char *fill, const char *fill2,
                        const char *text) {
  if (fill2 != NULL)
    fprintf(out,
            "<rect class=\"swatch\" x=\"%d\" y=\"%d\" width=\"7\" height=\"12\" fill=\"%s\"/>"
            "<rect class=\"swatch\" x=\"%d\" y=\"%d\" width=\"7\" height=\"12\" fill=\"%s\"/>",
            x, y, fill, x + 7, y, fill2);
  else if (fill != NULL)
    fprintf(out, "<rect class=\"swatch\" x=\"%d\" y=\"%d\" width=\"14\" height=\"12\" fill=\"%s\"/>",
            x, y, fill);
  else
    fprintf(out,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\" "
            "stroke-dasharray=\"4 3\"/>",
            x, y + 6, x + 14, y + 6, COLOUR_GAP);
  fprintf(out, "<text x=\"%d\" y=\"%d\">%s</text>\n", x + 19, y + 10, text);
  return x + 19 + (int)(CHAR_W * (double)strlen(text)) + 22;
}

static void write_top(FILE *out, const struct options *o, const struct dumps *ds, uint64_t row_bytes,
                      int svg_w) {
  char b1[32], b2[32];
  fputs("<g class=\"top\">\n", out);
  fprintf(out, "<text class=\"title\" x=\"%d\" y=\"%d\">", MARGIN, 22);
  if (o->title != NULL)
    put_escaped(out, o->title);
  else if (ds->n == 1)
    fputs("zone heap map", out);
  else
    fprintf(out, "zone heap map, %zu dumps%s", ds->n, o->animate ? " (animated)" : "");
  fputs("</text>\n<g class=\"legend\">\n", out);
  int y = 36, x = MARGIN;
  /* Summaries paint used space in one colour; detailed maps alternate two. */
  bool detailed = false;
  for (size_t k = 0; k < ds->n; k++)
    detailed |= !ds->v[k].summary;
  if (detailed)
    x = legend_entry(out, x, y, COLOUR_USED, COLOUR_USED_ALT, "used blocks (neighbours alternate)");
  else
    x = legend_entry(out, x, y, COLOUR_USED, NULL, "used blocks");
  x = legend_entry(out, x, y, COLOUR_FREE, NULL, "free region");
  x = legend_entry(out, x, y, COLOUR_LARGEST, NULL, "largest free region");
  legend_entry(out, x, y, NULL, NULL, "gap between extents");
  fputs("</g>\n", out);
  fprintf(out, "<text class=\"scale\" x=\"%d\" y=\"%d\" text-anchor=\"end\">1 row = %s, ",
          svg_w - MARGIN, 22, human(b1, row_bytes));
  if (row_bytes >= o->width)
    fprintf(out, "1 px = %s byte%s</text>\n", num(b2, (double)row_bytes / o->width),
            row_bytes == o->width ? "" : "s");
  else
    fprintf(out, "1 byte = %s px</text>\n", num(b2, (double)o->width / (double)row_bytes));
  fputs("</g>\n", out);
}

static void write_rect(FILE *out, const struct options *o, const struct dump *d, size_t idx,
                       double x, int y, double w, const char *fill) {
  const struct item *it = &d->items[idx];
  char bx[32], bw[32];
  const char *cls = !it->used ? (idx == d->largest ? "free largest" : "free") : "used";
  fprintf(out, "<rect class=\"%s\" x=\"%s\" y=\"%d\" width=\"%s\" height=\"%d\" fill=\"%s\"", cls,
          num(bx, x), y, num(bw, w), ROW_H, fill);
  if (!o->titles) {
    fputs("/>\n", out);
    return;
  }
  fprintf(out, "><title>0x%" PRIx64 " %" PRIu64 " bytes %s", it->addr, it->size,
          it->used ? "used" : "free");
  fputs("</title></rect>\n", out);
}

/* One map, opened as a <g> the caller closes: its label, stats, rows and a
 * rectangle per item and row it touches. frame_visibility: -1 outside an
 * animation, else whether the map shows when animation isn't supported. */
static void write_map(FILE *out, const struct options *o, const struct dump *d, size_t index,
                      size_t inputs, uint64_t row_bytes, int y0, int frame_visibility) {
  char b[6][32];
  const int x0 = MARGIN + LABEL_W;
  const double px = (double)o->width / (double)row_bytes;  /* pixels per byte */

  fprintf(out,
          "<g class=\"map\" id=\"map%zu\" transform=\"translate(0,%d)\" data-index=\"%zu\" "
          "data-size=\"%" PRIu64 "\" data-used=\"%" PRIu64 "\" data-free=\"%" PRIu64 "\" "
          "data-largest-free=\"%" PRIu64 "\" data-fragmentation=\"%.6f\" "
          "data-blocks=\"%" PRIu64 "\" data-free-regions=\"%" PRIu64 "\" data-extents=\"%zu\" "
          "data-row-bytes=\"%" PRIu64 "\" data-row-px=\"%u\" data-x0=\"%d\" data-summary=\"%d\" "
          "data-dump=\"%zu\" data-arena=\"%lld\"",
          index + 1, y0, index + 1, d->size, d->used, d->free, d->largest_free, d->fragmentation,
          d->blocks, d->free_regions, d->extents, row_bytes, o->width, x0, d->summary ? 1 : 0,
          d->number, d->has_arena ? (long long)d->h_arena : -1LL);
  if (frame_visibility >= 0)
    fprintf(out, " visibility=\"%s\"", frame_visibility ? "visible" : "hidden");
  fputs(">\n", out);

  /* Label and stats. */
  fprintf(out, "<text class=\"label\" x=\"%d\" y=\"14\">", MARGIN);
  /* Numbered as in the input: the number --dump takes. */
  if (inputs > 1)
    fprintf(out, "dump %zu of %zu: ", d->number, inputs);
  put_escaped(out, o->captions && d->caption != NULL ? d->caption : d->source);
  if (d->prog[0] != '\0') {  /* which process wrote it */
    fputs(" \xc2\xb7 ", out);
    put_escaped(out, d->prog);
    fprintf(out, " (pid %" PRIu64 ")", d->h_pid);
  }
  if (d->has_arena)  /* which of the process's arenas */
    fprintf(out, " \xc2\xb7 arena %" PRIu64, d->h_arena);
  fputs("</text>\n", out);
  double pct = d->size ? 100.0 * (double)d->used / (double)d->size : 0.0;
  fprintf(out,
          "<text class=\"stats\" x=\"%d\" y=\"31\">size %s \xc2\xb7 used %s (%.1f%%) \xc2\xb7 "
          "free %s \xc2\xb7 largest free region %s</text>\n",
          MARGIN, human(b[0], d->size), human(b[1], d->used), pct, human(b[2], d->free),
          human(b[3], d->largest_free));
  fprintf(out,
          "<text class=\"stats\" x=\"%d\" y=\"46\">fragmentation %.3f \xc2\xb7 %" PRIu64
          " block%s \xc2\xb7 %" PRIu64 " free region%s \xc2\xb7 %zu extent%s",
          MARGIN, d->fragmentation, d->blocks, d->blocks == 1 ? "" : "s", d->free_regions,
          d->free_regions == 1 ? "" : "s", d->extents, d->extents == 1 ? "" : "s");
  if (d->has_peak)
    fprintf(out, " \xc2\xb7 peak used %s", human(b[4], d->h_peak));
  if (d->summary)
    fputs(" \xc2\xb7 summary: blocks not told apart, holes at least 1 px", out);
  fputs("</text>\n", out);

  /* Rows and rectangles, extent by extent. */
  int y = MAP_HEAD_H;
  size_t i = 0, used_index = 0;
  while (i < d->nitems) {
    /* The extent: items [i, j) are contiguous. */
    size_t j = i + 1;
    while (j < d->nitems && d->items[j].addr == d->items[j - 1].addr + d->items[j - 1].size)
      j++;
    uint64_t base = d->items[i].addr;
    uint64_t bytes = d->items[j - 1].addr + d->items[j - 1].size - base;
    uint64_t rows = (bytes + row_bytes - 1) / row_bytes;

    fprintf(out, "<g class=\"extent\" data-base=\"0x%" PRIx64 "\" data-bytes=\"%" PRIu64 "\">\n",
            base, bytes);
    for (uint64_t r = 0; r < rows; r++) {
      uint64_t in_row = bytes - r * row_bytes < row_bytes ? bytes - r * row_bytes : row_bytes;
      int ry = y + (int)r * (ROW_H + ROW_GAP);
      fprintf(out,
              "<text class=\"addr\" x=\"%d\" y=\"%d\" text-anchor=\"end\">0x%" PRIx64 "</text>"
              "<rect class=\"row\" x=\"%d\" y=\"%d\" width=\"%s\" height=\"%d\"/>\n",
              x0 - 6, ry + ROW_H - 4, base + r * row_bytes, x0, ry, num(b[0], (double)in_row * px),
              ROW_H);
      /* A summary paints the row in the used colour; the holes go over it. */
      if (d->summary)
        fprintf(out,
                "<rect class=\"used summary\" x=\"%d\" y=\"%d\" width=\"%s\" height=\"%d\" "
                "fill=\"%s\"/>\n",
                x0, ry, num(b[0], (double)in_row * px), ROW_H, COLOUR_USED);
    }
    for (size_t k = i; k < j; k++) {
      const struct item *it = &d->items[k];
      if (d->summary && it->used)
        continue;
      const char *fill = !it->used        ? (k == d->largest ? COLOUR_LARGEST : COLOUR_FREE)
                         : used_index % 2 ? COLOUR_USED_ALT
                                          : COLOUR_USED;
      /* A block that crosses a row's end goes on at the start of the next. */
      uint64_t off = it->addr - base, left = it->size;
      while (left > 0) {
        uint64_t row = off / row_bytes, col = off % row_bytes;
        uint64_t take = row_bytes - col < left ? row_bytes - col : left;
        double w = (double)take * px;
        if (d->summary && w < 1.0)
          w = 1.0;  /* a hole narrower than a pixel would vanish */
        write_rect(out, o, d, k, x0 + (double)col * px, y + (int)row * (ROW_H + ROW_GAP), w, fill);
        off += take;
        left -= take;
      }
      if (it->used)
        used_index++;
    }
    fputs("</g>\n", out);
    y += (int)rows * (ROW_H + ROW_GAP);

    if (j < d->nitems) {  /* the space up to the next extent is not the zone's */
      uint64_t next = d->items[j].addr, end = base + bytes;
      int my = y + GAP_H / 2 - ROW_GAP / 2;
      fprintf(out,
              "<g class=\"gap\" data-bytes=\"%" PRIu64 "\"><line x1=\"%d\" y1=\"%d\" x2=\"%u\" "
              "y2=\"%d\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>"
              "<text class=\"addr\" x=\"%d\" y=\"%d\" text-anchor=\"end\">gap %s</text></g>\n",
              next - end, x0, my, x0 + o->width, my, COLOUR_GAP, x0 - 6, my + 4,
              human(b[0], next - end));
      y += GAP_H;
    }
    i = j;
  }
}

static void write_animation(FILE *out, size_t index, size_t count, unsigned frame_ms) {
  if (count < 2)
    return;
  double t0 = (double)index / (double)count, t1 = (double)(index + 1) / (double)count;
  char a[32], b[32];
  fprintf(out, "<animate attributeName=\"visibility\" calcMode=\"discrete\" dur=\"%llums\" "
               "repeatCount=\"indefinite\" ",
          (unsigned long long)frame_ms * count);
  if (index == 0)
    fprintf(out, "values=\"visible;hidden\" keyTimes=\"0;%s\"/>\n", num(a, t1));
  else if (index + 1 == count)
    fprintf(out, "values=\"hidden;visible\" keyTimes=\"0;%s\"/>\n", num(a, t0));
  else
    fprintf(out, "values=\"hidden;visible;hidden\" keyTimes=\"0;%s;%s\"/>\n", num(a, t0),
            num(b, t1));
}

/* inputs: how many dumps the input held, of which ds are drawn. */
static void write_svg(FILE *out, const struct options *o, const struct dumps *ds, size_t inputs) {
  uint64_t row_bytes = o->row_bytes ? o->row_bytes : choose_row_bytes(ds, o->width, o->max_rows);
  for (size_t k = 0; k < ds->n; k++) {
    uint64_t rows = rows_for(&ds->v[k], row_bytes);
    if (rows > MAX_ROWS)
      die("%s: %" PRIu64 " rows of %" PRIu64 " bytes is too tall a picture; a larger --row-bytes "
          "draws it", ds->v[k].source, rows, row_bytes);
  }
  int svg_w = MARGIN + LABEL_W + (int)o->width + MARGIN;
  if (svg_w < MIN_SVG_W)
    svg_w = MIN_SVG_W;
  int body_h = 0;
  for (size_t k = 0; k < ds->n; k++) {
    int h = map_height(&ds->v[k], row_bytes);
    if (o->animate)
      body_h = h > body_h ? h : body_h;
    else
      body_h += h + (k ? MAP_SPACING : 0);
  }
  int svg_h = TOP_H + body_h + MARGIN;

  fprintf(out,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
          "viewBox=\"0 0 %d %d\" data-maps=\"%zu\" data-animated=\"%d\">\n",
          svg_w, svg_h, svg_w, svg_h, ds->n, o->animate ? 1 : 0);
  fputs("<style>text{font-family:DejaVu Sans Mono,Menlo,Consolas,monospace;font-size:11px;"
        "fill:#222}.title{font-size:15px;font-weight:bold}.label{font-weight:bold}"
        ".addr{font-size:10px;fill:#666}.row{fill:none;stroke:#bbb;stroke-width:0.5}"
        "</style>\n",
        out);
  fprintf(out, "<rect class=\"background\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", svg_w,
          svg_h);
  write_top(out, o, ds, row_bytes, svg_w);

  int y = TOP_H;
  for (size_t k = 0; k < ds->n; k++) {
    const struct dump *d = &ds->v[k];
    int visibility = o->animate && ds->n > 1 ? k + 1 == ds->n : -1;
    write_map(out, o, d, k, inputs, row_bytes, y, visibility);
    if (o->animate)
      write_animation(out, k, ds->n, o->frame_ms);
    fputs("</g>\n", out);
    if (!o->animate)
      y += map_height(d, row_bytes) + MAP_SPACING;
  }
  fputs("</svg>\n", out);
}

/* ---- PNG through an external converter --------------------------------------------- */

static bool on_path(const char *name) {
  const char *path = getenv("PATH");
  if (path == NULL)
    return false;
  while (*path != '\0') {
    size_t len = strcspn(path, ":");
    char full[4096];
    if (len > 0 && len + strlen(name) + 2 < sizeof full) {
      snprintf(full, sizeof full, "%.*s/%s", (int)len, path, name);
      if (access(full, X_OK) == 0)
        return true;
    }
    path += len + (path[len] == ':');
  }
  return false;
}

/* Converts the SVG file to PNG at `output` (NULL: stdout). Returns false
 * after saying why on stderr. */
static bool convert_png(const char *svg, const char *output) {
  char in_arg[4200], out_arg[4200];
  char *argv[8];
  int n = 0;
  if (on_path("rsvg-convert")) {
    argv[n++] = "rsvg-convert";
    argv[n++] = "--format=png";
    if (output != NULL) {
      argv[n++] = "-o";
      argv[n++] = (char *)output;
    }
    argv[n++] = (char *)svg;
  } else if (on_path("magick") || on_path("convert")) {
    argv[n++] = on_path("magick") ? "magick" : "convert";
    snprintf(in_arg, sizeof in_arg, "svg:%s", svg);
    snprintf(out_arg, sizeof out_arg, "png:%s", output != NULL ? output : "-");
    argv[n++] = in_arg;
    argv[n++] = out_arg;
  } else {
    fprintf(stderr, "%s: --png needs rsvg-convert (Debian: librsvg2-bin) or ImageMagick's "
                    "convert on PATH; without --png the map is written as SVG\n", progname);
    return false;
  }
  argv[n] = NULL;
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "%s: fork: %s\n", progname, strerror(errno));
    return false;
  }
  if (pid == 0) {
    execvp(argv[0], argv);
    fprintf(stderr, "%s: %s: %s\n", progname, argv[0], strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "%s: waitpid: %s\n", progname, strerror(errno));
      return false;
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "%s: %s could not convert the map to PNG\n", progname, argv[0]);
    return false;
  }
  return true;
}

/* ---- command line ------------------------------------------------------------------ */

static void usage(FILE *to) {
  fprintf(to,
          "usage: %s [options] [FILE...]\n"
          "Draws zdump output (FILE, or stdin when none or \"-\") as an SVG heap map.\n"
          "Several dumps in sequence become a strip of maps, or an animation.\n\n"
          "  -o, --output FILE   write to FILE instead of stdout\n"
          "      --png           write PNG (needs rsvg-convert or ImageMagick); not to\n"
          "                      a terminal: use -o FILE or a pipe\n"
          "      --animate       one map at a time, in a loop (SVG only)\n"
          "      --frame-ms N    milliseconds per map when animated (default 600)\n"
          "      --dump N        draw only the N-th dump of the input (from 1); N-M\n"
          "                      draws dumps N to M, N- dumps N to the last\n"
          "      --last          draw only the last dump\n"
          "      --every K       draw every K-th dump (of those chosen), and the last\n"
          "      --width PX      width of a row in pixels (default 1024)\n"
          "      --rows N        aim for at most N rows per map (default 32)\n"
          "      --row-bytes N   bytes per row, instead of choosing\n"
          "      --max-items N   draw a map of more than N blocks and regions as a\n"
          "                      summary: holes over painted rows (default 4000; 0: never)\n"
          "      --no-titles     no tooltips on the rectangles (smaller files)\n"
          "      --captions      label each map with the line of other text just\n"
          "                      before its dump (a program's name for the step)\n"
          "      --title TEXT    the picture's title\n"
          "  -h, --help          this text\n"
          "      --version       the version\n",
          progname);
}

static unsigned long long number_arg(const char *opt, const char *s, unsigned long long min) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || s[0] == '-')
    die_usage("%s wants a number of at least %llu, not \"%s\"", opt, min, s);
  return v;
}

/* One dump number of a --dump selection: decimal, from 1. Returns the
 * character after it, or NULL. */
static const char *selection_number(const char *s, size_t *out) {
  if (*s < '0' || *s > '9')
    return NULL;
  size_t v = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (SIZE_MAX - 9) / 10)
      return NULL;
    v = v * 10 + (size_t)(*s - '0');
  }
  *out = v;
  return s;
}

/* --dump N, N-M or N-: the syntax, and that it names dumps from 1 up. */
static void parse_selection(const char *spec, struct selection *sel) {
  const char *p = selection_number(spec, &sel->first);
  bool ok = p != NULL;
  if (ok && *p == '\0') {
    sel->last = sel->first;
  } else if (ok && *p == '-' && p[1] == '\0') {
    sel->to_end = true;
  } else if (ok && *p == '-') {
    p = selection_number(p + 1, &sel->last);
    ok = p != NULL && *p == '\0';
  } else {
    ok = false;
  }
  if (!ok)
    die_usage("--dump wants N, N-M or N- (dumps are numbered from 1), not \"%s\"", spec);
  if (sel->first == 0 || (!sel->to_end && sel->last == 0))
    die_usage("--dump %s: dumps are numbered from 1", spec);
  if (!sel->to_end && sel->last < sel->first)
    die_usage("--dump %s runs backwards: N-M wants N <= M", spec);
  sel->spec = spec;
}

/* Narrows the input's dumps to the selection, or says which numbers exist. */
static void apply_selection(const struct selection *sel, struct dumps *all) {
  size_t first = 1, last = all->n;
  if (sel->last_only) {
    first = all->n;
  } else if (sel->spec != NULL) {
    first = sel->first;
    last = sel->to_end ? all->n : sel->last;
    if (first > all->n || last > all->n) {
      if (all->n == 1)
        fprintf(stderr, "%s: --dump %s is out of range: the input holds 1 dump, number 1\n",
                progname, sel->spec);
      else
        fprintf(stderr,
                "%s: --dump %s is out of range: the input holds %zu dumps, numbered 1 to %zu\n",
                progname, sel->spec, all->n, all->n);
      exit(2);
    }
  }
  /* The dumps left out are freed; the rest move to the front. */
  for (size_t k = 0; k < all->n; k++) {
    if (k + 1 < first || k + 1 > last) {
      free(all->v[k].items);
      free(all->v[k].source);
      free(all->v[k].caption);
    }
  }
  memmove(all->v, all->v + (first - 1), (last - first + 1) * sizeof *all->v);
  all->n = last - first + 1;
}

int main(int argc, char **argv) {
  struct options o = {.frame_ms = 600, .every = 1, .width = 1024, .max_rows = 32,
                      .max_items = 4000, .titles = true};
  const char **files = xrealloc(NULL, (size_t)argc * sizeof *files);
  size_t nfiles = 0;
  bool only_files = false;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = NULL;
#define WANTS_VALUE(name)                                                   \
  (strcmp(a, name) == 0 ? (i + 1 < argc ? (val = argv[++i], true)           \
                                        : (die_usage("%s wants a value", name), false)) \
                        : false)
    if (only_files || a[0] != '-' || strcmp(a, "-") == 0)
      files[nfiles++] = a;
    else if (strcmp(a, "--") == 0)
      only_files = true;
    else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      printf("zone-map %s\n", ZONE_MAP_VERSION);
      return 0;
    } else if (WANTS_VALUE("-o") || WANTS_VALUE("--output"))
      o.output = val;
    else if (strcmp(a, "--png") == 0)
      o.png = true;
    else if (strcmp(a, "--animate") == 0)
      o.animate = true;
    else if (strcmp(a, "--no-titles") == 0)
      o.titles = false;
    else if (strcmp(a, "--captions") == 0)
      o.captions = true;
    else if (WANTS_VALUE("--frame-ms"))
      o.frame_ms = (unsigned)number_arg("--frame-ms", val, 10);
    else if (WANTS_VALUE("--every"))
      o.every = (size_t)number_arg("--every", val, 1);
    else if (WANTS_VALUE("--width"))
      o.width = (unsigned)number_arg("--width", val, 64);
    else if (WANTS_VALUE("--rows"))
      o.max_rows = (unsigned)number_arg("--rows", val, 1);
    else if (WANTS_VALUE("--row-bytes"))
      o.row_bytes = number_arg("--row-bytes", val, 1);
    else if (WANTS_VALUE("--max-items"))
      o.max_items = (size_t)number_arg("--max-items", val, 0);
    else if (WANTS_VALUE("--title"))
      o.title = val;
    else if (WANTS_VALUE("--dump") || strcmp(a, "--last") == 0) {
      if (o.sel.spec != NULL || o.sel.last_only)
        die_usage("--dump and --last choose the dumps to draw: give one of them, once");
      if (val != NULL)
        parse_selection(val, &o.sel);
      else
        o.sel.last_only = true;
    }
    else {
      fprintf(stderr, "%s: unknown option %s\n", progname, a);
      usage(stderr);
      return 2;
    }
#undef WANTS_VALUE
  }
  if (o.width > 100000 || o.max_rows > 100000 || o.frame_ms > 3600000)
    die_usage("--width, --rows or --frame-ms is out of range");
  if (o.png && o.animate)
    die_usage("a PNG can't be animated: drop --animate for a strip of maps, or --png for SVG");
  /* Checked before the input is read, which may be a terminal too. */
  if (o.png && o.output == NULL && isatty(STDOUT_FILENO)) {
    fprintf(stderr, "%s: won't write a PNG to a terminal: use -o FILE or a pipe\n", progname);
    return 2;
  }

  struct dumps all = {0};
  if (nfiles == 0)
    files[nfiles++] = "-";
  for (size_t f = 0; f < nfiles; f++) {
    bool std_in = strcmp(files[f], "-") == 0;
    FILE *in = std_in ? stdin : fopen(files[f], "r");
    if (in == NULL)
      die("%s: %s", files[f], strerror(errno));
    read_dumps(in, std_in ? "stdin" : files[f], &all);
    if (!std_in)
      fclose(in);
  }
  if (all.n == 0)
    die("no zdump in the input (a dump starts with a line \"zone size=...\")");
  size_t inputs = all.n;
  apply_selection(&o.sel, &all);

  /* Of the chosen dumps, keep every K-th and the last. */
  struct dumps ds = {0};
  ds.v = xrealloc(NULL, all.n * sizeof *ds.v);
  for (size_t k = 0; k < all.n; k++)
    if (k % o.every == 0 || k + 1 == all.n)
      ds.v[ds.n++] = all.v[k];
  if (ds.n > 200)
    fprintf(stderr, "%s: drawing %zu maps; --every K draws fewer\n", progname, ds.n);
  for (size_t k = 0; k < ds.n; k++) {
    summarise(&ds.v[k]);
    ds.v[k].summary = o.max_items != 0 && ds.v[k].nitems > o.max_items;
  }

  /* The SVG goes straight to its destination, or to a temporary file the
   * converter reads. */
  char tmp[4096];
  FILE *out = stdout;
  if (o.png) {
    const char *dir = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/zone-map-XXXXXX", dir != NULL && *dir != '\0' ? dir : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0 || (out = fdopen(fd, "w")) == NULL)
      die("temporary file %s: %s", tmp, strerror(errno));
  } else if (o.output != NULL && (out = fopen(o.output, "w")) == NULL) {
    die("%s: %s", o.output, strerror(errno));
  }
  write_svg(out, &o, &ds, inputs);
  bool ok = fflush(out) == 0 && !ferror(out);
  if (!ok)
    fprintf(stderr, "%s: writing the map: %s\n", progname, strerror(errno));
  if (out != stdout)
    fclose(out);
  if (o.png) {
    ok = ok && convert_png(tmp, o.output);
    unlink(tmp);
  }

  for (size_t k = 0; k < all.n; k++) {
    free(all.v[k].items);
    free(all.v[k].source);
    free(all.v[k].caption);
  }
  free(all.v);
  free(ds.v);
  free(files);
  return ok ? 0 : 1;
}
