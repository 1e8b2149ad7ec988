/*
 * edge_shim.c - what only the shim promises, beyond glibc's contract: exact
 * block sizes (granules of 16 bytes), first-fit placement, introspection that
 * reports the zone, and an allocator that user overflows can't corrupt. Runs
 * on the shim only (zone.shim.<case>).
 */
#define ZONE_SHIM_TEST_CHECK
#include "shim_test.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t granules(size_t n) { return n == 0 ? 16 : (n + 15) / 16 * 16; }

/* C17 and glibc 2.38: aligned_alloc with an alignment that is not a power of
 * two fails with EINVAL; memalign keeps rounding it up. */
START_TEST(aligned_alloc_rejects_bad_alignment) {
  static const size_t bad[] = {0, 3, 24, 48, 65, 100, 4097, ((size_t)1 << 40) + 1};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    errno = 0;
    ck_assert_ptr_null(aligned_alloc(bad[k], 64));
    ck_assert_int_eq(errno, EINVAL);
  }
  void *p = aligned_alloc(64, 64);
  ck_assert_ptr_nonnull(p);
  ck_assert_uint_eq((uintptr_t)p % 64, 0);
  free(p);
  void *q = memalign(65, 64);
  ck_assert_ptr_nonnull(q);
  ck_assert_uint_eq((uintptr_t)q % 128, 0);
  free(q);
  void *r;
  ck_assert_int_eq(posix_memalign(&r, 65, 64), EINVAL);
}
END_TEST

/* malloc_stats from a thread with a cancel pending writes its whole report:
 * the write must not be where the cancel fires. */
static int stats_pipe[2];
static void *stats_when_cancelled(void *arg) {
  (void)arg;
  pthread_cancel(pthread_self());  /* deferred: pending until a cancellation point */
  int saved = dup(STDERR_FILENO);
  dup2(stats_pipe[1], STDERR_FILENO);
  malloc_stats();
  dup2(saved, STDERR_FILENO);
  close(saved);
  pthread_testcancel();
  return NULL;
}

START_TEST(malloc_stats_survives_cancel) {
  ck_assert_int_eq(pipe(stats_pipe), 0);
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, stats_when_cancelled, NULL), 0);
  void *ret;
  ck_assert_int_eq(pthread_join(t, &ret), 0);
  ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
  close(stats_pipe[1]);
  char buf[1024];
  ssize_t n = read(stats_pipe[0], buf, sizeof buf - 1);
  close(stats_pipe[0]);
  ck_assert_int_gt(n, 0);
  buf[n] = '\0';
  ck_assert_msg(strstr(buf, "max mmap bytes") != NULL, "malloc_stats output incomplete: %s", buf);
}
END_TEST

/* A process that lowers RLIMIT_AS after start-up keeps its own limits: threads
 * still start, and malloc gets close to the limit (run in a child). */
static void *idle_thread(void *arg) { return arg; }

START_TEST(address_space_limit_after_start) {
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    free(malloc(100));
    struct rlimit lim = {(rlim_t)200 << 20, (rlim_t)200 << 20};
    if (setrlimit(RLIMIT_AS, &lim) != 0)
      _exit(2);
    for (int k = 0; k < 4; k++) {
      pthread_t t;
      if (pthread_create(&t, NULL, idle_thread, NULL) != 0 || pthread_join(t, NULL) != 0)
        _exit(3);
    }
    size_t mib = 0;
    while (mib < 400 && malloc((size_t)1 << 20) != NULL)
      mib++;
    _exit(mib >= 150 && mib < 200 ? 0 : 4);  /* glibc reaches about 188 */
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(shim_is_active) {
  ck_assert_msg(shim_active(), "malloc does not come from libzoneshim.so");
}
END_TEST

START_TEST(usable_size_is_exact) {
  for (size_t n = 0; n < 3000; n++) {
    void *p = malloc(n);
    ck_assert_uint_eq(malloc_usable_size(p), granules(n));
    free(p);
  }
}
END_TEST

START_TEST(first_fit_reuses_lowest) {
  /* With nothing in between, a freed block is the lowest fit for its size. */
  for (size_t n = 16; n < ((size_t)1 << 20); n = n * 3 + 5) {
    void *p = malloc(n);
    free(p);
    void *q = malloc(n);
    ck_assert_ptr_eq(p, q);
    free(q);
  }
  /* A smaller request after a free goes no higher than the freed block. */
  void *a = malloc(4000), *b = malloc(4000);
  free(a);
  void *c = malloc(1000);
  ck_assert((uintptr_t)c <= (uintptr_t)a);
  free(b);
  free(c);
}
END_TEST

START_TEST(mallinfo_reports_the_zone) {
  struct mallinfo2 before = mallinfo2();
  ck_assert_uint_eq(before.arena, before.uordblks + before.fordblks);
  ck_assert_uint_ge(before.fordblks, before.keepcost);  /* keepcost: largest free region */
  void *p = malloc(1000);
  struct mallinfo2 during = mallinfo2();
  ck_assert_uint_eq(during.uordblks, before.uordblks + granules(1000));
  ck_assert_uint_eq(during.hblks, 0);
  free(p);
  struct mallinfo2 after = mallinfo2();
  ck_assert_uint_eq(after.uordblks, before.uordblks);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  struct mallinfo old = mallinfo();  /* the old form, still called by old programs */
#pragma GCC diagnostic pop
  ck_assert_int_eq(old.uordblks, (int)after.uordblks);
}
END_TEST

START_TEST(realloc_zero_really_frees) {
  void *p = malloc(5000);
  size_t used = mallinfo2().uordblks;
  ck_assert_ptr_null(realloc(p, 0));
  ck_assert_uint_eq(mallinfo2().uordblks, used - granules(5000));
}
END_TEST

START_TEST(realloc_in_place) {
  /* Shrinking never moves; growing into a free neighbour doesn't either. */
  char *p = malloc(4096);
  char *q = realloc(p, 100);
  ck_assert_ptr_eq(p, q);
  char *r = realloc(q, 4096);
  ck_assert_ptr_eq(q, r);
  free(r);
}
END_TEST

START_TEST(overflow_cannot_corrupt) {
  /* Scribble far past the end of a block, over its neighbours: the allocator
   * keeps its bookkeeping elsewhere, so every block stays exactly as it was. */
  enum { N = 200, RUN = 20 };
  char *p[N];
  for (int i = 0; i < N; i++)
    p[i] = malloc(48);
  /* A run of adjacent blocks of ours, so that the scribble hits only them. */
  int s = -1;
  for (int i = 0; i + RUN < N && s < 0; i++) {
    int k = 0;
    while (k < RUN && p[i + k + 1] == p[i + k] + 48)
      k++;
    if (k == RUN)
      s = i;
  }
  ck_assert_int_ge(s, 0);
  memset(p[s], 0xff, 48 * (RUN + 1));  /* the bug: RUN blocks' worth past the end */
  for (int i = 0; i < N; i++)
    ck_assert_uint_eq(malloc_usable_size(p[i]), 48);
  for (int i = N - 1; i >= 0; i--)
    free(p[i]);
  void *q = malloc(48);
  ck_assert_uint_eq(malloc_usable_size(q), 48);
  free(q);
}
END_TEST

START_TEST(trim_threshold_option) {
  /* mallopt(M_TRIM_THRESHOLD, -1) turns automatic return off: freed memory
   * stays resident until malloc_trim. */
  ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, -1), 1);
  enum { N = 32 };
  size_t each = (size_t)1 << 20;
  void *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = malloc(each);
    touch(p[i], each, 1);
  }
  size_t before = rss_bytes();
  for (int i = 0; i < N; i++)
    free(p[i]);
  for (int i = 0; i < 300; i++)
    free(malloc(16));
  size_t kept = rss_bytes();
  ck_assert_msg(kept + ((size_t)4 << 20) > before, "resident %zu -> %zu with return off", before, kept);
  ck_assert_int_eq(malloc_trim(0), 1);
  size_t after = rss_bytes();
  ck_assert_msg(kept > after + ((size_t)24 << 20), "malloc_trim: resident %zu -> %zu", kept, after);
}
END_TEST

START_TEST(malloc_trim_reports_new_returns) {
  /* malloc_trim says 1 only when memory actually went back: a second call
   * with nothing used in between finds every free page given back already.
   * Used again, the pages go back again. */
  ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, -1), 1);
  size_t big = (size_t)30 << 20;  /* below ZONE_MMAP_THRESHOLD: a zone's block */
  char *p = malloc(big);
  ck_assert_ptr_nonnull(p);
  touch(p, big, 1);
  free(p);
  ck_assert_int_eq(malloc_trim(0), 1);
  ck_assert_int_eq(malloc_trim(0), 0);
  p = malloc(big);
  ck_assert_ptr_nonnull(p);
  touch(p, big, 2);
  size_t before = rss_bytes();
  free(p);
  ck_assert_int_eq(malloc_trim(0), 1);
  size_t after = rss_bytes();
  ck_assert_msg(before > after + ((size_t)24 << 20), "malloc_trim: resident %zu -> %zu", before, after);
  ck_assert_int_eq(malloc_trim(0), 0);
}
END_TEST

/* Small calls, enough for the shim to look at the usage a few times (it
 * looks every 64 calls). */
static void small_calls(void) {
  for (int i = 0; i < 200; i++)
    free(malloc(32));
}

/* One round of a program whose usage swings: 6 MiB in 256 KiB blocks, more
 * than the 4 MiB fall that makes the shim give memory back, written, held
 * while the shim looks, freed, and low while it looks again. */
enum { SWING_BLOCKS = 24, WIDE_SWING_BLOCKS = 28 };
#define SWING_EACH ((size_t)256 << 10)
#define SWING_BYTES (SWING_BLOCKS * SWING_EACH)

static void swing_blocks(int round, int blocks) {
  void *p[WIDE_SWING_BLOCKS];
  for (int i = 0; i < blocks; i++) {
    p[i] = malloc(SWING_EACH);
    ck_assert_ptr_nonnull(p[i]);
    touch(p[i], SWING_EACH, round);
  }
  small_calls();
  for (int i = 0; i < blocks; i++)
    free(p[i]);
  small_calls();
}

static void swing_round(int round) { swing_blocks(round, SWING_BLOCKS); }

/* A swing of 7 MiB: more than the 4 MiB fall, less than the 8 MiB a return
 * may keep. */
static void wide_swing_round(int round) { swing_blocks(round, WIDE_SWING_BLOCKS); }

/* Runs `rounds` rounds of `round`: the page faults of those after the first
 * `learn`, in which the shim has learnt what the rounds do. */
enum { LEARN = 10, ROUNDS = 40 };
static long faults_after_learning(void (*round)(int), int learn, int rounds) {
  long faults = 0;
  for (int r = 0; r < rounds; r++) {
    if (r == learn)
      faults = minor_faults();
    round(r);
  }
  return minor_faults() - faults;
}

START_TEST(swinging_usage_faults_less) {
  /* The first rounds' frees go back to the system and fault back in; the
   * shim sees the pages it returned come back and from then on keeps as
   * much of the lowest free memory resident (up to 8 MiB): the later rounds
   * fault in at most what lies above. */
  long faults = faults_after_learning(swing_round, LEARN, ROUNDS);
  long per_round = (long)(SWING_BYTES / (size_t)sysconf(_SC_PAGESIZE));
  ck_assert_msg(faults < (ROUNDS - LEARN) * per_round / 2, "%ld page faults in %d rounds of %ld pages",
                faults, ROUNDS - LEARN, per_round);
}
END_TEST

START_TEST(wide_swing_is_kept_whole) {
  /* A swing the shim can keep whole: after the first rounds it faults in
   * almost nothing, where keeping only the 4 MiB fall would fault 3 of the
   * 7 MiB back in every round. */
  long faults = faults_after_learning(wide_swing_round, LEARN, ROUNDS);
  long per_round = (long)(WIDE_SWING_BLOCKS * SWING_EACH / (size_t)sysconf(_SC_PAGESIZE));
  ck_assert_msg(faults < (ROUNDS - LEARN) * per_round / 8, "%ld page faults in %d rounds of %ld pages",
                faults, ROUNDS - LEARN, per_round);
}
END_TEST

START_TEST(swing_over_memory_goes_back) {
  /* Once the swinging stops, what the shim keeps for it shrinks with time
   * (calls), and memory freed for good goes back without malloc_trim. */
  for (int r = 0; r < 10; r++)
    swing_round(r);
  void *p[SWING_BLOCKS];
  for (int i = 0; i < SWING_BLOCKS; i++) {
    p[i] = malloc(SWING_EACH);
    touch(p[i], SWING_EACH, 7);
  }
  small_calls();
  size_t before = rss_bytes(), after = before, want = SWING_BYTES - ((size_t)1 << 20);
  for (int i = 0; i < SWING_BLOCKS; i++)
    free(p[i]);
  for (long i = 0; i < 8000000 && before < after + want; i++) {
    free(malloc(32));
    if (i % 4096 == 0)
      after = rss_bytes();
  }
  ck_assert_msg(before >= after + want, "resident %zu -> %zu", before, after);
}
END_TEST

START_TEST(freed_pages_go_back_after_a_while) {
  /* 1.8 MiB of blocks written and freed: a fall in usage short of the one
   * that gives large regions back at once (4 MiB), so it is the decay that
   * returns their pages, once they have stayed free from one of its looks
   * to the next (ZONE_RETURN_DELAY calls apart, 1024 by default, or more
   * while pages given back fault in again). With ZONE_RETURN_DELAY=0 they
   * stay through 400,000 calls. */
  const char *delay = getenv("ZONE_RETURN_DELAY");
  bool off = delay != NULL && strcmp(delay, "0") == 0;
  enum { N = 600 };
  size_t each = 3000;
  static void *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = malloc(each);
    ck_assert_ptr_nonnull(p[i]);
    touch(p[i], each, i);
  }
  small_calls();
  size_t before = rss_bytes();
  for (int i = 0; i < N; i++)
    free(p[i]);
  size_t after = before, want = (size_t)1 << 20;
  for (long i = 0; i < 200000 && (off || before < after + want); i++) {
    free(malloc(32));
    if (i % 1024 == 0)
      after = rss_bytes();
  }
  after = rss_bytes();
  if (off)
    ck_assert_msg(after + ((size_t)256 << 10) > before, "resident %zu -> %zu with ZONE_RETURN_DELAY=0", before,
                  after);
  else
    ck_assert_msg(before >= after + want, "resident %zu -> %zu", before, after);
}
END_TEST

/* One round of a program that writes again at once the pages it freed:
 * 1.8 MiB of blocks written, freed, and calls enough for two decay looks
 * between (2 x 1024), then the same blocks again. */
enum { ROUND_BLOCKS = 600 };
#define ROUND_EACH ((size_t)3000)

static void rewrite_round(int round) {
  static void *p[ROUND_BLOCKS];
  for (int i = 0; i < ROUND_BLOCKS; i++) {
    p[i] = malloc(ROUND_EACH);
    ck_assert_ptr_nonnull(p[i]);
    touch(p[i], ROUND_EACH, round);
  }
  for (int i = 0; i < ROUND_BLOCKS; i++)
    free(p[i]);
  for (int i = 0; i < 1500; i++)
    free(malloc(32));
}

START_TEST(decay_backs_off_when_pages_come_back) {
  /* The first rounds' freed pages go back and fault in again in the next
   * round; the decay sees the faults and lengthens its delay past the
   * rounds, so the later rounds fault in few pages. */
  long faults = faults_after_learning(rewrite_round, LEARN, ROUNDS);
  long per_round = (long)(ROUND_BLOCKS * ROUND_EACH / (size_t)sysconf(_SC_PAGESIZE));
  ck_assert_msg(faults < (ROUNDS - LEARN) * per_round / 4, "%ld page faults in %d rounds of %ld pages", faults,
                ROUNDS - LEARN, per_round);
}
END_TEST

/* A round of the same program whose pages stay free far longer between a
 * free and the rewrite: 100k small calls (200k operations) in between. */
static void long_rewrite_round(int round) {
  rewrite_round(round);
  for (int i = 0; i < 100000; i++)
    free(malloc(32));
}

START_TEST(decay_backs_off_past_long_rounds) {
  /* With ZONE_RETURN_DELAY=64 (its own test entry) a round is three times
   * the delay's longest at a backoff of 1024 times, so pages would go back
   * every round and fault in the next; the backoff reaches past the round
   * (16384 times), and the later rounds fault in few pages. */
  enum { LONG_LEARN = 12, LONG_ROUNDS = 20 };
  long faults = faults_after_learning(long_rewrite_round, LONG_LEARN, LONG_ROUNDS);
  long per_round = (long)(ROUND_BLOCKS * ROUND_EACH / (size_t)sysconf(_SC_PAGESIZE));
  ck_assert_msg(faults < (LONG_ROUNDS - LONG_LEARN) * per_round / 4, "%ld page faults in %d rounds of %ld pages",
                faults, LONG_ROUNDS - LONG_LEARN, per_round);
}
END_TEST

START_TEST(aligned_first_fit) {
  /* An aligned block goes at the lowest aligned address where it fits; the
   * padding before it stays free for later small blocks. */
  void *a = aligned_alloc(4096, 100);
  ck_assert(((uintptr_t)a & 4095) == 0);
  ck_assert_uint_eq(malloc_usable_size(a), 112);
  free(a);
  void *b = aligned_alloc(4096, 100);
  ck_assert_ptr_eq(a, b);
  free(b);
}
END_TEST

START_TEST(posix_memalign_keeps_errno) {
  /* posix_memalign reports through its return value; errno is untouched on
   * success and on EINVAL, and left ENOMEM on ENOMEM, as glibc leaves it. */
  const size_t sizes[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62, 64};
  const size_t aligns[] = {3, 256, 4096};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    for (size_t k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
      void *out = NULL;
      errno = 4321;
      int rc = posix_memalign(&out, aligns[k], sizes[i]);
      ck_assert_int_eq(errno, rc == ENOMEM ? ENOMEM : 4321);
      if (rc == 0)
        free(out);
    }
  }
}
END_TEST

/* ---- blocks of a mapping of their own (ZONE_MMAP_THRESHOLD) ---------------------------- */

/* Whether the page holding p is mapped (mincore fails with ENOMEM on a hole). */
static bool page_mapped(const void *p) {
  unsigned char v;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  return mincore((void *)((uintptr_t)p / page * page), page, &v) == 0;
}

/* Whether requests of ZONE_MMAP_THRESHOLD bytes get a mapping of their own
 * in this run: yes but with ZONE_MMAP_THRESHOLD=0 (the default is 32 MiB). */
static bool own_mappings(void) {
  const char *t = getenv("ZONE_MMAP_THRESHOLD");
  return t == NULL || strcmp(t, "0") != 0;
}

START_TEST(big_blocks_get_their_own_mapping) {
  /* A request of 32 MiB or more gets a mapping of its own, as glibc's does:
   * page-aligned, its size whole pages, counted in mallinfo2's hblks and
   * hblkhd and not in the zones' bytes, gone after free (a fork child may
   * free its copy). With ZONE_MMAP_THRESHOLD=0 it is a zone's block. */
  bool own = own_mappings();
  size_t page = (size_t)sysconf(_SC_PAGESIZE), big = ((size_t)48 << 20) + 100;
  size_t whole = (big + page - 1) / page * page;
  struct mallinfo2 before = mallinfo2();
  char *p = malloc(big);
  ck_assert_ptr_nonnull(p);
  p[0] = 1;
  p[big - 1] = 2;
  struct mallinfo2 mi = mallinfo2();
  if (own) {
    ck_assert_uint_eq((uintptr_t)p % page, 0);
    ck_assert_uint_eq(malloc_usable_size(p), whole);
    ck_assert_uint_eq(mi.hblks, before.hblks + 1);
    ck_assert_uint_eq(mi.hblkhd, before.hblkhd + whole);
    ck_assert_uint_lt(mi.uordblks, before.uordblks + big);
  } else {
    ck_assert_uint_eq(malloc_usable_size(p), granules(big));
    ck_assert_uint_eq(mi.hblks, 0);
    ck_assert_uint_ge(mi.uordblks, before.uordblks + big);
  }
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0) {
    free(p);
    _exit(own && page_mapped(p + big / 2) ? 1 : 0);
  }
  int status;
  ck_assert_int_eq(waitpid(child, &status, 0), child);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ck_assert_int_eq(p[0] + p[big - 1], 3);  /* the parent's copy is untouched */
  free(p);
  if (own)
    ck_assert(!page_mapped(p + big / 2));
  mi = mallinfo2();
  ck_assert_uint_eq(mi.hblks, before.hblks);
  ck_assert_uint_eq(mi.hblkhd, before.hblkhd);

  unsigned char *c = calloc(big / 100, 100);
  ck_assert_ptr_nonnull(c);
  for (size_t i = 0; i < big / 100 * 100; i += 4093)
    ck_assert_uint_eq(c[i], 0);
  ck_assert_uint_eq(mallinfo2().hblks, before.hblks + own);
  free(c);
  size_t align = (size_t)4 << 20;
  void *a = NULL;
  ck_assert_int_eq(posix_memalign(&a, align, big), 0);
  ck_assert_uint_eq((uintptr_t)a % align, 0);
  ck_assert_uint_eq(mallinfo2().hblks, before.hblks + own);
  memset(a, 3, big);
  free(a);
  if (own)
    ck_assert(!page_mapped(a));
  ck_assert_uint_eq(mallinfo2().hblks, before.hblks);
}
END_TEST

START_TEST(big_block_refused_leaves_all_intact) {
  /* Under an address-space limit a big request the kernel refuses fails
   * with ENOMEM, in a mapping of its own and in the zone alike, and leaves
   * everything as it was: a realloc's block keeps its bytes, the count of
   * mapped blocks stays, and a big request that fits is served after. */
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    unsigned char *p = malloc(1000);
    memset(p, 9, 1000);
    size_t base = mallinfo2().hblks;
    struct rlimit lim = {(rlim_t)200 << 20, (rlim_t)200 << 20};
    if (p == NULL || setrlimit(RLIMIT_AS, &lim) != 0)
      _exit(2);
    errno = 0;
    if (malloc((size_t)300 << 20) != NULL || errno != ENOMEM || mallinfo2().hblks != base)
      _exit(3);
    errno = 0;
    if (realloc(p, (size_t)300 << 20) != NULL || errno != ENOMEM)
      _exit(4);
    for (int i = 0; i < 1000; i++)
      if (p[i] != 9)
        _exit(5);
    void *q = malloc((size_t)40 << 20);
    if (q == NULL || mallinfo2().hblks != base + own_mappings())
      _exit(6);
    free(q);
    free(p);
    _exit(mallinfo2().hblks == base ? 0 : 7);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* Bytes [0, n) of p against a pattern that names their place. */
static void pattern_put(unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i += 97)
    p[i] = (unsigned char)(i / 97);
}
static void pattern_check(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i += 97)
    ck_assert_msg(p[i] == (unsigned char)(i / 97), "byte %zu lost", i);
}

START_TEST(big_blocks_move_with_realloc) {
  /* realloc keeps the bytes across every way a block moves: grown within its
   * own mapping (mremap), shrunk below the threshold into a zone, grown out
   * of a zone into a mapping of its own, and freed by realloc(p, 0). */
  bool own = own_mappings();
  size_t mib = (size_t)1 << 20, base = mallinfo2().hblks;
  unsigned char *p = malloc(40 * mib);
  ck_assert_ptr_nonnull(p);
  pattern_put(p, 40 * mib);
  p = realloc(p, 200 * mib);
  ck_assert_ptr_nonnull(p);
  pattern_check(p, 40 * mib);
  ck_assert_uint_eq(mallinfo2().hblks, base + own);
  pattern_put(p, 200 * mib);
  p = realloc(p, 4000);
  ck_assert_ptr_nonnull(p);
  pattern_check(p, 4000);
  ck_assert_uint_eq(malloc_usable_size(p), granules(4000));
  ck_assert_uint_eq(mallinfo2().hblks, base);
  p = realloc(p, 50 * mib);
  ck_assert_ptr_nonnull(p);
  pattern_check(p, 4000);
  ck_assert_uint_eq(mallinfo2().hblks, base + own);
  pattern_put(p, 50 * mib);
  p = realloc(p, 33 * mib);  /* smaller, still its own mapping's */
  ck_assert_ptr_nonnull(p);
  pattern_check(p, 33 * mib);
  ck_assert_ptr_null(realloc(p, 0));
  ck_assert_uint_eq(mallinfo2().hblks, base);
}
END_TEST

/* Threads making, checking and freeing blocks of their own mapping at once:
 * the record of them (changed by compare-and-swap only) keeps every one. */
static void *big_block_churn(void *arg) {
  uintptr_t id = (uintptr_t)arg;
  for (size_t i = 0; i < 40; i++) {
    size_t n = ((size_t)32 << 20) + (id * 40 + i) * 4096;
    unsigned char *p = malloc(n);
    if (p == NULL)
      return (void *)1;
    p[0] = (unsigned char)id;
    p[n - 1] = (unsigned char)i;
    if (malloc_usable_size(p) < n || p[0] != (unsigned char)id || p[n - 1] != (unsigned char)i)
      return (void *)1;
    free(p);
  }
  return NULL;
}

START_TEST(big_blocks_from_many_threads) {
  size_t base = mallinfo2().hblks;
  pthread_t t[6];
  for (uintptr_t k = 0; k < 6; k++)
    ck_assert_int_eq(pthread_create(&t[k], NULL, big_block_churn, (void *)k), 0);
  for (int k = 0; k < 6; k++) {
    void *r;
    ck_assert_int_eq(pthread_join(t[k], &r), 0);
    ck_assert_ptr_null(r);
  }
  ck_assert_uint_eq(mallinfo2().hblks, base);
  ck_assert_uint_eq(mallinfo2().hblkhd, 0);
}
END_TEST

int main(void) {
  const TTest *tests[] = {
    shim_is_active, usable_size_is_exact, first_fit_reuses_lowest, mallinfo_reports_the_zone,
    realloc_zero_really_frees, realloc_in_place, overflow_cannot_corrupt, trim_threshold_option,
    malloc_trim_reports_new_returns, swinging_usage_faults_less, wide_swing_is_kept_whole, swing_over_memory_goes_back, freed_pages_go_back_after_a_while,
    decay_backs_off_when_pages_come_back, decay_backs_off_past_long_rounds,
    aligned_first_fit, posix_memalign_keeps_errno, aligned_alloc_rejects_bad_alignment,
    malloc_stats_survives_cancel, address_space_limit_after_start,
    big_blocks_get_their_own_mapping, big_blocks_move_with_realloc, big_blocks_from_many_threads,
    big_block_refused_leaves_all_intact,
  };
  return shim_run_suite("shim_zone", tests, sizeof tests / sizeof tests[0]);
}
