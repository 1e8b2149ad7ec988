/*
 * driver.c - support_test_main: runs one test the way glibc's test driver
 * does, with code of our own.
 *
 * The driver forks the test into a process of its own process group (core
 * dumps off) and waits for it with every signal it cares about blocked, taking
 * them one at a time with sigtimedwait:
 *   SIGCHLD                   the test may have ended: reap it;
 *   the deadline passes       (TIMEOUT or DEFAULT_TIMEOUT seconds, times
 *                             $TIMEOUTFACTOR) the whole group is killed and
 *                             the test fails;
 *   SIGINT, SIGTERM, SIGHUP   the group is killed and the driver dies of the
 *                             same signal.
 * Whatever the test left running in its group is killed once it ends.
 * The result: the test's exit status, or its signal checked against
 * EXPECTED_SIGNAL; a test that returned 0 (or 77, unsupported) still fails
 * when any of its processes recorded a failed check.
 * Options: -v / --verbose (test_verbose); the others go to the test.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <support/check.h>
#include <support/support.h>
#include <support/test-driver.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *test_dir;
unsigned int test_verbose;

static unsigned timeout_factor(void) {
  const char *s = getenv("TIMEOUTFACTOR");
  if (s == NULL || *s == '\0')
    return 1;
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*end != '\0' || v == 0 || v > 1000)
    return 1;
  return (unsigned)v;
}

/* Drops the driver's own options from argv; returns the new argc. */
static int take_options(int argc, char **argv) {
  int out = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
      test_verbose++;
    else
      argv[out++] = argv[i];
  }
  argv[out] = NULL;
  return out;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void kill_group(pid_t pid) {
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);  /* in case its setpgid had not happened yet */
}

static void reap(pid_t pid, int *status) {
  while (waitpid(pid, status, 0) < 0 && errno == EINTR)
    continue;
}

/* The test process: its own group, no core files, the signal mask it had. */
static __attribute__((noreturn)) void run_child(int argc, char **argv,
                                                const struct test_config *config,
                                                const sigset_t *mask) {
  setpgid(0, 0);
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  signal(SIGCHLD, SIG_DFL);
  sigprocmask(SIG_SETMASK, mask, NULL);
  int status;
  if (config->test_function != NULL)
    status = config->test_function();
  else if (config->test_function_argv != NULL)
    status = config->test_function_argv(argc, argv);
  else {
    puts("error: the test defines no test function");
    status = 1;
  }
  exit(status);
}

static int judge(int status, const struct test_config *config) {
  if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    if (config->expected_signal != 0) {
      printf("error: the test should have died of %s; it exited with status %d\n",
             strsignal(config->expected_signal), code);
      return 1;
    }
    if (config->expected_status != 0) {
      if (code == config->expected_status)
        return 0;
      printf("error: the test exited with status %d, not %d\n", code, config->expected_status);
      return 1;
    }
    return code;
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    if (config->expected_signal != 0 && sig == config->expected_signal)
      return 0;
    if (config->expected_signal != 0)
      printf("error: the test died of %s, not %s\n", strsignal(sig),
             strsignal(config->expected_signal));
    else
      printf("error: the test died of signal %d (%s)\n", sig, strsignal(sig));
    return 1;
  }
  printf("error: unexpected wait status 0x%x\n", (unsigned)status);
  return 1;
}

int support_test_main(int argc, char **argv, const struct test_config *config) {
  argc = take_options(argc, argv);
  test_dir = getenv("TMPDIR");
  if (test_dir == NULL || *test_dir == '\0')
    test_dir = "/tmp";
  /* Unbuffered, so nothing is lost when the test dies and nothing buffered is
   * written twice by the processes it forks. */
  setvbuf(stdout, NULL, _IONBF, 0);
  support_failure_init();
  unsigned seconds = (unsigned)(config->timeout > 0 ? config->timeout : DEFAULT_TIMEOUT) *
                     timeout_factor();

  if (config->prepare_function != NULL)
    config->prepare_function(argc, argv);

  sigset_t watched, old;
  sigemptyset(&watched);
  sigaddset(&watched, SIGCHLD);
  sigaddset(&watched, SIGINT);
  sigaddset(&watched, SIGTERM);
  sigaddset(&watched, SIGHUP);
  signal(SIGCHLD, SIG_DFL);  /* SIG_IGN would reap the test behind our back */
  sigprocmask(SIG_BLOCK, &watched, &old);

  pid_t pid = fork();
  if (pid < 0) {
    printf("error: cannot fork the test: %m\n");
    return 1;
  }
  if (pid == 0)
    run_child(argc, argv, config, &old);
  setpgid(pid, pid);  /* both sides set it, so neither order races */

  double deadline = now_seconds() + seconds;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      break;
    if (r < 0 && errno != EINTR) {
      printf("error: waitpid for the test: %m\n");
      kill_group(pid);
      return 1;
    }
    double left = deadline - now_seconds();
    if (left <= 0) {
      kill_group(pid);
      reap(pid, &status);
      if (config->cleanup_function != NULL)
        config->cleanup_function();
      printf("error: timeout: the test ran past %u s and was killed\n", seconds);
      return 1;
    }
    struct timespec wait = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
    int sig = sigtimedwait(&watched, NULL, &wait);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      kill_group(pid);
      reap(pid, &status);
      if (config->cleanup_function != NULL)
        config->cleanup_function();
      printf("error: the driver got %s; the test was killed\n", strsignal(sig));
      signal(sig, SIG_DFL);
      sigprocmask(SIG_SETMASK, &old, NULL);
      raise(sig);
      return 1;
    }
    /* SIGCHLD, the wait's own timeout or EINTR: look at the test again. */
  }
  kill(-pid, SIGKILL);  /* what the test left running in its group */
  sigprocmask(SIG_SETMASK, &old, NULL);

  int result = judge(status, config);
  unsigned failures = support_failure_count();
  if (failures > 0) {
    printf("error: %u failed check%s\n", failures, failures == 1 ? "" : "s");
    if (result == 0 || result == EXIT_UNSUPPORTED)
      result = 1;
  }
  return result;
}
