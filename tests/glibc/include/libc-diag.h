/*
 * libc-diag.h - stand-in for glibc's internal header of the same name, for
 * building glibc's malloc tests outside glibc's tree: the macros that push,
 * pop and silence a compiler warning around one statement. The version
 * argument (the compiler release that needed it) is only documentation.
 */
#ifndef ZONE_GLIBC_LIBC_DIAG_H
#define ZONE_GLIBC_LIBC_DIAG_H

#define ZONE_DIAG_PRAGMA_(text) _Pragma(#text)
#define DIAG_PUSH_NEEDS_COMMENT _Pragma("GCC diagnostic push")
#define DIAG_POP_NEEDS_COMMENT _Pragma("GCC diagnostic pop")
#define DIAG_IGNORE_NEEDS_COMMENT(version, option) \
  ZONE_DIAG_PRAGMA_(GCC diagnostic ignored option)
#ifdef __OPTIMIZE_SIZE__
#define DIAG_IGNORE_Os_NEEDS_COMMENT(version, option) \
  DIAG_IGNORE_NEEDS_COMMENT(version, option)
#else
#define DIAG_IGNORE_Os_NEEDS_COMMENT(version, option)
#endif

#endif
