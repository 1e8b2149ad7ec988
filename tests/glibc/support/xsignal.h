/*
 * xsignal.h - signal calls that fail the test (exit 1) instead of returning
 * an error.
 */
#ifndef ZONE_GLIBC_SUPPORT_XSIGNAL_H
#define ZONE_GLIBC_SUPPORT_XSIGNAL_H

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*zone_sighandler_t)(int);

/* signal(2) with BSD semantics as glibc's signal has them; the old handler. */
zone_sighandler_t xsignal(int sig, zone_sighandler_t handler);
void xsigaction(int sig, const struct sigaction *act, struct sigaction *old);
void xraise(int sig);
void xsigprocmask(int how, const sigset_t *set, sigset_t *old);

#ifdef __cplusplus
}
#endif

#endif
