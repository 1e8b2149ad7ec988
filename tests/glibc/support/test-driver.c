/*
 * test-driver.c - included by a test as its last line: main() collects what
 * the test defined (see test-driver.h) and hands it to support_test_main.
 */
#include <stdio.h>
#include <string.h>
#include <support/test-driver.h>

#if defined(TEST_FUNCTION) && defined(TEST_FUNCTION_ARGV)
#error "define TEST_FUNCTION or TEST_FUNCTION_ARGV, not both"
#endif

int main(int argc, char **argv) {
  struct test_config config;
  memset(&config, 0, sizeof config);
#if defined(TEST_FUNCTION)
  config.test_function = TEST_FUNCTION;
#elif defined(TEST_FUNCTION_ARGV)
  config.test_function_argv = TEST_FUNCTION_ARGV;
#else
  config.test_function = do_test;
#endif
#ifdef PREPARE
  config.prepare_function = PREPARE;
#endif
#ifdef CLEANUP_HANDLER
  config.cleanup_function = CLEANUP_HANDLER;
#endif
#ifdef TIMEOUT
  config.timeout = TIMEOUT;
#endif
#ifdef EXPECTED_SIGNAL
  config.expected_signal = EXPECTED_SIGNAL;
#endif
#ifdef EXPECTED_STATUS
  config.expected_status = EXPECTED_STATUS;
#endif
  return support_test_main(argc, argv, &config);
}
