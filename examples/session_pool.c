/*
 * session_pool.c - a fixed-size object pool on a zone, with a leak report at
 * shutdown made by zone_walk.
 *
 * A chat server keeps its sessions in a pool of exactly POOL_CAPACITY slots:
 * a zone of POOL_CAPACITY * sizeof(struct session) bytes. Because the zone
 * keeps its bookkeeping outside its bytes, that zone holds exactly that many
 * sessions, no more and no fewer, and a full pool says so with NULL/ENOMEM.
 *
 * At shutdown every session should have been closed. zone_walk visits the
 * blocks still live, and since every block in this zone is a session, the
 * report can say which user's session leaked, not just where and how big.
 */
#include <zone.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define POOL_CAPACITY 8

struct session {
  unsigned id;
  char user[24];
  unsigned long opened_at;  /* a logical clock: the event number */
  unsigned messages;
};
/* Every slot is a whole number of granules, so the pool has no slack. */
_Static_assert(sizeof(struct session) % ZONE_GRANULE == 0, "session is not granule-sized");

static zone_t *pool;
static unsigned next_id = 1;

static struct session *session_open(const char *user, unsigned long now) {
  struct session *s = zalloc(pool, sizeof *s);
  if (s == NULL)
    return NULL;  /* errno is ENOMEM: the pool is full */
  s->id = next_id++;
  snprintf(s->user, sizeof s->user, "%s", user);
  s->opened_at = now;
  s->messages = 0;
  return s;
}

static void session_close(struct session *s) {
  /* zfree says EINVAL for anything that is not a live session: a session
   * closed twice is caught here instead of corrupting the pool. */
  if (zfree(pool, s) != 0)
    fprintf(stderr, "session_close: %p is not an open session\n", (void *)s);
}

struct leak_report {
  size_t leaks;
  size_t bytes;
};

/* zone_walk visitor: every live block of the pool is a session nobody closed. */
static int report_leak(void *ptr, size_t size, bool used, void *arg) {
  struct leak_report *report = arg;
  if (!used)
    return 0;  /* free slots are fine */
  const struct session *s = ptr;
  printf("leak: session %u of %s, opened at event %lu, %u messages, %zu bytes at %p\n",
         s->id, s->user, s->opened_at, s->messages, size, ptr);
  report->leaks++;
  report->bytes += size;
  return 0;
}

int main(void) {
  pool = create_zone(POOL_CAPACITY * sizeof(struct session));
  if (pool == NULL) {
    perror("create_zone");
    return 1;
  }
  printf("pool of %d sessions: %zu bytes, %zu per session\n", POOL_CAPACITY, zone_size(pool),
         sizeof(struct session));

  static const char *const users[] = {"alice", "bob", "carol", "dave", "erin",
                                      "frank", "grace", "heidi", "ivan"};
  struct session *open[9] = {0};
  unsigned long now = 0;

  /* Nine users try to log in to an eight-slot pool: the ninth is refused. */
  for (int i = 0; i < 9; i++) {
    open[i] = session_open(users[i], ++now);
    if (open[i] == NULL)
      printf("%s refused: pool full (%s)\n", users[i], strerror(errno));
  }
  uintptr_t first_slot = (uintptr_t)open[0];  /* the pool's lowest slot */
  if (open[8] != NULL || open[7] == NULL) {
    fprintf(stderr, "session_pool: the pool did not hold exactly %d sessions\n", POOL_CAPACITY);
    return 1;
  }

  /* Traffic; then most users log out. carol and grace's sessions are never
   * closed: the bug the leak report should find. */
  for (int i = 0; i < 8; i++)
    open[i]->messages = (unsigned)(3 * i + 1);
  for (int i = 0; i < 8; i++) {
    if (i == 2 || i == 6)
      continue;
    session_close(open[i]);
    now++;
  }
  session_close(open[0]);  /* a double close: reported, the pool unharmed */

  /* The freed slots are reused lowest first: ivan gets alice's old slot. */
  struct session *late = session_open("ivan", ++now);
  printf("ivan logs in late and gets slot %zu\n",
         (size_t)((uintptr_t)late - first_slot) / sizeof *late);
  session_close(late);

  struct leak_report report = {0, 0};
  zone_walk(pool, report_leak, &report);
  printf("%zu sessions leaked, %zu bytes\n", report.leaks, report.bytes);

  /* Shutdown: destroy_zone releases the leaked sessions along with the pool. */
  destroy_zone(pool);
  return report.leaks == 2 && (uintptr_t)late == first_slot ? 0 : 1;
}
