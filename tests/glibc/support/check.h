/*
 * check.h - the check macros of glibc's test support, as the glibc tests
 * built against our stand-in use them. A failed check prints one line
 * ("error: FILE:LINE: ...") on stdout and is recorded in a counter that lives
 * in memory shared by the whole test: the test process, the driver that
 * forked it and every process the test forks. The driver fails the test when
 * the counter is nonzero, whatever the test function returned, so a failed
 * check in a forked child whose exit status nobody looks at still counts.
 *
 *   TEST_VERIFY(e)         record a failure if e is false, go on
 *   TEST_VERIFY_EXIT(e)    record a failure and exit(1) if e is false
 *   TEST_COMPARE(a, b)     integers: record a failure (both values) if a != b,
 *                          comparing values, not bit patterns (-1 != UINT_MAX)
 *   FAIL(fmt, ...)         record a failure with a message, go on
 *   FAIL_RET(fmt, ...)     the same, then return 1 from the calling function
 *   FAIL_EXIT(st, fmt...)  the same, then exit(st)
 *   FAIL_EXIT1(fmt, ...)   FAIL_EXIT(1, ...)
 *   FAIL_UNSUPPORTED(...)  print the reason and exit 77 (EXIT_UNSUPPORTED)
 * Messages are printf formats; %m names errno as it was at the check.
 */
#ifndef ZONE_GLIBC_SUPPORT_CHECK_H
#define ZONE_GLIBC_SUPPORT_CHECK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZONE_SUPPORT_PRINTF_(f, a) __attribute__((format(printf, f, a)))

/* Counts one failure for the test as a whole. */
void support_record_failure(void);
/* Nonzero once any process of the test recorded a failure. */
int support_record_failure_is_failed(void);
/* Exits 1 now if a failure was recorded so far. */
void support_record_failure_barrier(void);
/* The number of failures recorded (the driver reads it). */
unsigned support_failure_count(void);
/* Maps the shared counter; the driver calls it before forking the test. */
void support_failure_init(void);

/* The functions behind the macros. status 0: go on; otherwise exit(status). */
void support_fail_at(const char *file, int line, int status, const char *fmt, ...)
    ZONE_SUPPORT_PRINTF_(4, 5);
void support_verify_failed(const char *file, int line, const char *expr, int status);
void support_compare_failed(const char *file, int line, const char *lexpr, int lneg,
                            uintmax_t lval, const char *rexpr, int rneg, uintmax_t rval);
__attribute__((noreturn)) void support_unsupported_at(const char *file, int line,
                                                      const char *fmt, ...)
    ZONE_SUPPORT_PRINTF_(3, 4);

#define TEST_VERIFY(expr) \
  ((expr) ? (void)0 : support_verify_failed(__FILE__, __LINE__, #expr, 0))
#define TEST_VERIFY_EXIT(expr) \
  ((expr) ? (void)0 : support_verify_failed(__FILE__, __LINE__, #expr, 1))

#define FAIL(...) support_fail_at(__FILE__, __LINE__, 0, __VA_ARGS__)
#define FAIL_RET(...)                                  \
  do {                                                 \
    support_fail_at(__FILE__, __LINE__, 0, __VA_ARGS__); \
    return 1;                                          \
  } while (0)
#define FAIL_EXIT(status, ...) support_fail_at(__FILE__, __LINE__, (status), __VA_ARGS__)
#define FAIL_EXIT1(...) FAIL_EXIT(1, __VA_ARGS__)
#define FAIL_UNSUPPORTED(...) support_unsupported_at(__FILE__, __LINE__, __VA_ARGS__)

/* x < 0 written so that no compiler calls it always false for an unsigned x. */
#define ZONE_SUPPORT_NEG_(x) (!((x) > 0 || (x) == 0))

#define TEST_COMPARE(left, right)                                                  \
  do {                                                                             \
    __typeof__(left) zone_cmp_l_ = (left);                                         \
    __typeof__(right) zone_cmp_r_ = (right);                                       \
    int zone_cmp_ln_ = ZONE_SUPPORT_NEG_(zone_cmp_l_);                             \
    int zone_cmp_rn_ = ZONE_SUPPORT_NEG_(zone_cmp_r_);                             \
    uintmax_t zone_cmp_lv_ = zone_cmp_ln_ ? (uintmax_t)(intmax_t)zone_cmp_l_       \
                                          : (uintmax_t)zone_cmp_l_;                \
    uintmax_t zone_cmp_rv_ = zone_cmp_rn_ ? (uintmax_t)(intmax_t)zone_cmp_r_       \
                                          : (uintmax_t)zone_cmp_r_;                \
    if (zone_cmp_ln_ != zone_cmp_rn_ || zone_cmp_lv_ != zone_cmp_rv_)              \
      support_compare_failed(__FILE__, __LINE__, #left, zone_cmp_ln_, zone_cmp_lv_, \
                             #right, zone_cmp_rn_, zone_cmp_rv_);                  \
  } while (0)

#ifdef __cplusplus
}
#endif

#endif
