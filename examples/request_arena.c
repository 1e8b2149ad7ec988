/*
 * request_arena.c - a per-request arena: everything one request needs comes
 * from a zone, and zone_reset drops it all when the request is done.
 *
 * The server loop below parses HTTP-ish requests (a request line, headers, a
 * body) into structures allocated in the arena: copies of the strings, a
 * header list, a response buffer. Nothing is freed one by one; the next
 * request starts with zone_reset, which costs the same whether the last
 * request made three allocations or three hundred.
 *
 * The arena lives in a static buffer given to create_zone_in (no mmap, no
 * malloc: the way an embedded server or a worker thread with a fixed budget
 * would do it) and is ZONE_UNLOCKED because one thread owns it. A request
 * that needs more than the arena holds fails cleanly with 413 instead of
 * taking memory from somewhere else.
 */
#include <zone.h>

#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct header {
  const char *name;
  const char *value;
  struct header *next;
};

struct request {
  const char *method;
  const char *path;
  struct header *headers;  /* in the order received */
  size_t nheaders;
  const char *body;
};

/* A copy of [s, s + n) as a string in the arena, or NULL when it is full. */
static char *arena_strndup(zone_t *arena, const char *s, size_t n) {
  char *copy = zalloc(arena, n + 1);
  if (copy != NULL) {
    memcpy(copy, s, n);
    copy[n] = '\0';
  }
  return copy;
}

/* The next line of *text (without its "\r\n" or "\n"), advancing *text. */
static char *next_line(zone_t *arena, const char **text) {
  const char *s = *text;
  size_t n = strcspn(s, "\r\n");
  *text = s + n + (s[n] == '\r' && s[n + 1] == '\n' ? 2 : s[n] != '\0');
  return arena_strndup(arena, s, n);
}

/* Parses raw into *req, every byte of it in the arena. Returns 0, ENOMEM when
 * the arena is too small for the request, or EINVAL when it is malformed. */
static int parse_request(zone_t *arena, const char *raw, struct request *req) {
  memset(req, 0, sizeof *req);
  char *line = next_line(arena, &raw);
  if (line == NULL)
    return ENOMEM;
  char *sp = strchr(line, ' ');
  if (sp == NULL)
    return EINVAL;
  *sp = '\0';
  req->method = line;
  req->path = sp + 1;
  char *version = strchr(sp + 1, ' ');
  if (version != NULL)
    *version = '\0';

  struct header **tail = &req->headers;
  for (;;) {
    line = next_line(arena, &raw);
    if (line == NULL)
      return ENOMEM;
    if (line[0] == '\0')
      break;  /* blank line: the body follows */
    char *colon = strchr(line, ':');
    if (colon == NULL)
      return EINVAL;
    struct header *h = zalloc(arena, sizeof *h);
    if (h == NULL)
      return ENOMEM;
    *colon = '\0';
    h->name = line;
    h->value = colon + 1 + strspn(colon + 1, " ");
    h->next = NULL;
    *tail = h;
    tail = &h->next;
    req->nheaders++;
  }
  req->body = arena_strndup(arena, raw, strlen(raw));
  return req->body != NULL ? 0 : ENOMEM;
}

/* The response line for a parsed request, built in the arena. */
static const char *respond(zone_t *arena, const struct request *req) {
  size_t cap = strlen(req->path) + 64;
  char *out = zalloc(arena, cap);
  if (out == NULL)
    return "HTTP/1.1 500 Internal Server Error";
  int status = strcmp(req->method, "GET") == 0 || strcmp(req->method, "POST") == 0 ? 200 : 405;
  snprintf(out, cap, "HTTP/1.1 %d %s (%s)", status, status == 200 ? "OK" : "Method Not Allowed",
           req->path);
  return out;
}

static const char *const requests[] = {
    "GET /index.html HTTP/1.1\r\nHost: example.org\r\nAccept: text/html\r\n\r\n",
    "POST /api/items HTTP/1.1\r\nHost: example.org\r\nContent-Type: application/json\r\n"
    "Content-Length: 27\r\n\r\n{\"name\":\"lamp\",\"price\":42}",
    "DELETE /api/items/7 HTTP/1.1\r\nHost: example.org\r\n\r\n",
    "GET /search?q=first+fit HTTP/1.1\r\nHost: example.org\r\nUser-Agent: curl/8.0\r\n"
    "Accept: */*\r\nCookie: session=0123456789abcdef\r\n\r\n",
    "garbage\r\n\r\n",
    NULL, /* replaced by an oversized request in main */
};

int main(void) {
  /* The arena's memory: 1 KiB, aligned for any object. */
  static alignas(max_align_t) unsigned char arena_memory[1024];
  zone_t *arena = create_zone_in(arena_memory, sizeof arena_memory, ZONE_UNLOCKED);
  if (arena == NULL) {
    perror("create_zone_in");
    return 1;
  }

  /* A request with a header too large for the arena: it must fail with 413
   * and leave the next request unaffected. */
  static char oversized[1400];
  int n = snprintf(oversized, sizeof oversized, "GET /big HTTP/1.1\r\nX-Padding: ");
  memset(oversized + n, 'x', sizeof oversized - (size_t)n - 5);
  memcpy(oversized + sizeof oversized - 5, "\r\n\r\n", 5);

  const size_t nrequests = sizeof requests / sizeof requests[0];
  size_t served = 0, rejected = 0, peak = 0;
  for (int round = 0; round < 100; round++) {  /* a long-running server, in short */
    for (size_t i = 0; i < nrequests; i++) {
      const char *raw = requests[i] != NULL ? requests[i] : oversized;

      /* One call frees everything the previous request allocated. */
      zone_reset(arena);

      struct request req;
      int err = parse_request(arena, raw, &req);
      const char *reply = err == ENOMEM   ? "HTTP/1.1 413 Content Too Large"
                          : err == EINVAL ? "HTTP/1.1 400 Bad Request"
                                          : respond(arena, &req);
      zone_stats_t st;
      zone_stats(arena, &st);
      if (st.used > peak)
        peak = st.used;
      if (err == 0)
        served++;
      else
        rejected++;
      if (round == 0)
        printf("%-22.22s -> %-48s headers=%zu, arena: %zu bytes in %zu blocks\n",
               err == 0 ? req.path : "(rejected)", reply, err == 0 ? req.nheaders : 0,
               st.used, st.blocks);
    }
  }

  zone_reset(arena);
  zone_stats_t st;
  zone_stats(arena, &st);
  printf("\n%zu requests served and %zu rejected from one %zu-byte arena; "
         "peak use %zu bytes, %zu blocks live after the last reset\n",
         served, rejected, zone_size(arena), peak, st.blocks);
  /* The zone's own peak agrees with what the loop saw. */
  int ok = st.blocks == 0 && st.used == 0 && st.peak_used == peak && served == 400 &&
           rejected == 200;
  destroy_zone(arena);  /* arena_memory is ours again, untouched */
  return ok ? 0 : 1;
}
