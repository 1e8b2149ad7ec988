/*
 * test-driver.h - the test driver's interface. A test defines
 *   static int do_test(void)
 * and ends with #include <support/test-driver.c>, which supplies main().
 * Before that include it may define:
 *   TEST_FUNCTION       the int (*)(void) to run instead of do_test
 *   TEST_FUNCTION_ARGV  an int (*)(int, char **) to run instead
 *   PREPARE             void (*)(int, char **), run before the test is forked
 *   CLEANUP_HANDLER     void (*)(void), run in the driver after a timeout
 *   TIMEOUT             seconds before the test is killed (DEFAULT_TIMEOUT)
 *   EXPECTED_SIGNAL     the signal that must end the test for it to pass
 *   EXPECTED_STATUS     the exit status that means a pass (default 0)
 * The driver runs the test in a child process of its own process group; past
 * TIMEOUT times $TIMEOUTFACTOR seconds it kills that group and fails.
 */
#ifndef ZONE_GLIBC_SUPPORT_TEST_DRIVER_H
#define ZONE_GLIBC_SUPPORT_TEST_DRIVER_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
  EXIT_UNSUPPORTED = 77,  /* the test can't run here: neither pass nor fail */
  DEFAULT_TIMEOUT = 20,   /* seconds */
};

struct test_config {
  void (*prepare_function)(int argc, char **argv);
  int (*test_function)(void);
  int (*test_function_argv)(int argc, char **argv);
  void (*cleanup_function)(void);
  int timeout;          /* seconds; 0 for DEFAULT_TIMEOUT */
  int expected_status;  /* exit status of a pass */
  int expected_signal;  /* nonzero: the test must die of this signal */
};

/* Runs the test as config says; main's return value. */
int support_test_main(int argc, char **argv, const struct test_config *config);

/* $TMPDIR, or /tmp. */
extern const char *test_dir;
/* How many -v / --verbose options the test got. */
extern unsigned int test_verbose;

#define verbose_printf(...)      \
  do {                           \
    if (test_verbose > 0)        \
      printf(__VA_ARGS__);       \
  } while (0)

#ifdef __cplusplus
}
#endif

#endif
