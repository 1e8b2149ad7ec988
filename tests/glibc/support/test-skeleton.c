/*
 * test-skeleton.c - the older way a glibc test reaches the driver:
 *   #define TEST_FUNCTION do_test ()
 *   #include "../test-skeleton.c"
 * where TEST_FUNCTION is an expression rather than a function, or, without
 * TEST_FUNCTION, a do_test(int argc, char **argv). The runner links this file
 * as test-skeleton.c next to the extracted malloc/ directory. The older
 * PREPARE(argc, argv) and CLEANUP_HANDLER forms are not supported here.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <support/check.h>
#include <support/support.h>
#include <support/temp_file.h>
#include <support/xsignal.h>

#if defined(PREPARE) || defined(CLEANUP_HANDLER)
#error "the test skeleton's PREPARE and CLEANUP_HANDLER forms are not supported"
#endif

#ifdef TEST_FUNCTION
static int zone_skeleton_test(void) { return TEST_FUNCTION; }
#undef TEST_FUNCTION
#define TEST_FUNCTION zone_skeleton_test
#else
#define TEST_FUNCTION_ARGV do_test
#endif

#include <support/test-driver.c>
