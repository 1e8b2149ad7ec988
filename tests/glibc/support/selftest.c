/*
 * selftest.c - checks of the stand-in itself, built once per case with
 * -DCASE=n by run.sh, which knows the exit status each case must give:
 *   1 pass          checks that hold: exit 0
 *   2 child_fail    a forked child fails a TEST_VERIFY and exits 0, the test
 *                   returns 0: exit 1 (the shared failure record)
 *   3 child_exit1   a forked child calls FAIL_EXIT1, nobody looks at its
 *                   status: exit 1
 *   4 compare       TEST_COMPARE(-1, UINT_MAX) compares values: exit 1
 *   5 timeout       TIMEOUT 1 and the test and a child of it sleep: exit 1
 *                   within seconds, the child killed too (its pid is left
 *                   in $TMPDIR/selftest-child.pid for run.sh to look at)
 *   6 signal        EXPECTED_SIGNAL SIGABRT and the test aborts: exit 0
 *   7 no_signal     EXPECTED_SIGNAL SIGABRT and the test returns 0: exit 1
 *   8 crash         an unexpected SIGSEGV: exit 1
 *   9 unsupported   FAIL_UNSUPPORTED: exit 77
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <support/check.h>
#include <support/support.h>
#include <support/xunistd.h>

static int do_test(void) {
#if CASE == 1
  TEST_VERIFY(1 + 1 == 2);
  TEST_COMPARE((size_t)7, 7);
  TEST_COMPARE(-3L, -3);
  void *p = xmalloc(16);
  free(p);
  return 0;
#elif CASE == 2 || CASE == 3
  pid_t pid = xfork();
  if (pid == 0) {
#if CASE == 2
    TEST_VERIFY(1 + 1 == 3);
    _exit(0);
#else
    FAIL_EXIT1("failing in the child on purpose");
#endif
  }
  int status;
  xwaitpid(pid, &status, 0);
  return 0;
#elif CASE == 4
  TEST_COMPARE(-1, UINT_MAX);
  return 0;
#elif CASE == 5
  pid_t pid = xfork();
  if (pid == 0) {
    char *path = xasprintf("%s/selftest-child.pid", getenv("TMPDIR"));
    FILE *f = fopen(path, "w");
    TEST_VERIFY_EXIT(f != NULL);
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    sleep(3600);
    _exit(0);
  }
  sleep(3600);
  return 0;
#elif CASE == 6
  abort();
#elif CASE == 7
  return 0;
#elif CASE == 8
  raise(SIGSEGV);
  return 0;
#elif CASE == 9
  FAIL_UNSUPPORTED("not here");
#else
#error "unknown CASE"
#endif
}

#if CASE == 5
#define TIMEOUT 1
#elif CASE == 6 || CASE == 7
#define EXPECTED_SIGNAL SIGABRT
#endif
#include <support/test-driver.c>
