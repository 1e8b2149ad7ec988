/*
 * array_length.h - stand-in for glibc's internal header: the element count of
 * an array (an array, not a pointer: a pointer fails to compile).
 */
#ifndef ZONE_GLIBC_ARRAY_LENGTH_H
#define ZONE_GLIBC_ARRAY_LENGTH_H

#define ZONE_IS_ARRAY_(a) (!__builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0])))
#define array_length(a) \
  (sizeof(a) / sizeof((a)[0]) + 0 * sizeof(char[ZONE_IS_ARRAY_(a) ? 1 : -1]))
#define array_end(a) (&(a)[array_length(a)])

#endif
