/*
 * shim_test.h - what the shim's test programs share: knowing which allocator
 * is answering (a test that meant to run on the shim and silently ran on glibc
 * would prove nothing), resident-size and page-fault probes, and a main() for
 * the Check suites that runs one case per ctest (CK_RUN_CASE).
 */
#ifndef ZONE_SHIM_TEST_H
#define ZONE_SHIM_TEST_H

#include <dlfcn.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Whether malloc comes from libzoneshim.so. */
static inline bool shim_active(void) {
  void *sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  return sym != NULL && dladdr(sym, &info) != 0 && info.dli_fname != NULL &&
         strstr(info.dli_fname, "libzoneshim") != NULL;
}

/* ZONE_TEST_EXPECT=shim|glibc says which allocator the test must run on;
 * anything else is a broken test setup, reported and failed at once. */
static inline void shim_check_allocator(void) {
  const char *want = getenv("ZONE_TEST_EXPECT");
  if (want == NULL)
    return;
  bool shim = shim_active();
  if ((strcmp(want, "shim") == 0) != shim) {
    fprintf(stderr, "test setup: expected the %s allocator, running on %s\n", want,
            shim ? "the shim" : "another one");
    exit(2);
  }
}

/* Resident bytes of this process (/proc/self/statm, second field). */
/* Resident bytes, read without allocating (a FILE would put a block where
 * the measurement looks, and change what the next malloc_trim finds). */
static inline size_t rss_bytes(void) {
  char text[128];
  unsigned long size = 0, resident = 0;
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    text[n > 0 ? n : 0] = '\0';
    if (sscanf(text, "%lu %lu", &size, &resident) != 2)
      resident = 0;
  }
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static inline long minor_faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

/* Writes every page of [p, p + n) so that it is resident. */
static inline void touch(void *p, size_t n, int byte) { memset(p, byte, n); }

#ifdef ZONE_SHIM_TEST_CHECK
#include <check.h>

/* One TCase per test, named after it, so that CK_RUN_CASE=<test> runs one. */
static inline int shim_run_suite(const char *name, const TTest **tests, size_t n) {
  shim_check_allocator();
  Suite *s = suite_create(name);
  for (size_t i = 0; i < n; i++) {
    TCase *tc = tcase_create(tests[i]->name);
    tcase_set_timeout(tc, 120);
    _tcase_add_test(tc, tests[i], 0, 0, 0, 1);
    suite_add_tcase(s, tc);
  }
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  int run = srunner_ntests_run(sr);
  srunner_free(sr);
  if (run == 0) {
    fprintf(stderr, "no test ran (CK_RUN_CASE names no case of %s)\n", name);
    return EXIT_FAILURE;
  }
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
#endif

#endif /* ZONE_SHIM_TEST_H */
