/*
 * track.h - valgrind memcheck annotations, the client requests checker.c
 * makes. Under memcheck a zalloc'd block is tracked like a malloc'd one
 * (leaks, reads after zfree, undefined fresh bytes); without ZONE_VALGRIND
 * they compile to nothing. checker.c makes them only when the process runs
 * under memcheck, and while holding the zone's lock, so the order memcheck
 * sees matches the order of the zone.
 */
#ifndef ZONE_TRACK_H
#define ZONE_TRACK_H

#include <stddef.h>

#if defined(ZONE_VALGRIND) && ZONE_VALGRIND
#include <valgrind/memcheck.h>
#define zone__track_running() (RUNNING_ON_VALGRIND != 0)
/* Memcheck answers a MAKE_MEM_DEFINED request with -1; valgrind's other
 * tools (callgrind, helgrind...) leave it 0, and so does a native run. */
#define zone__track_is_memcheck(probe) \
  (RUNNING_ON_VALGRIND != 0 && (long)VALGRIND_MAKE_MEM_DEFINED((probe), 1) == -1)
/* Words memcheck's leak scan skips (and whose address errors it does not
 * report), and the same range back to normal. */
#define zone__track_ignore(p, size) ((void)VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE((p), (size)))
#define zone__track_heed(p, size) ((void)VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE((p), (size)))
#define zone__track_alloc(p, size, zeroed) VALGRIND_MALLOCLIKE_BLOCK((p), (size), 0, (zeroed))
#define zone__track_free(p) VALGRIND_FREELIKE_BLOCK((p), 0)
#define zone__track_resize(p, old_size, new_size) \
  VALGRIND_RESIZEINPLACE_BLOCK((p), (old_size), (new_size), 0)
#define zone__track_noaccess(p, size) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (size)))
#define zone__track_undefined(p, size) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (size)))
#define zone__track_defined(p, size) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (size)))
#define zone__track_get_vbits(p, bits, size) ((void)VALGRIND_GET_VBITS((p), (bits), (size)))
#define zone__track_set_vbits(p, bits, size) ((void)VALGRIND_SET_VBITS((p), (bits), (size)))
#else
#define zone__track_running() 0
#define zone__track_is_memcheck(probe) ((void)(probe), 0)
#define zone__track_ignore(p, size) ((void)(p), (void)(size))
#define zone__track_heed(p, size) ((void)(p), (void)(size))
#define zone__track_alloc(p, size, zeroed) ((void)(p), (void)(size), (void)(zeroed))
#define zone__track_free(p) ((void)(p))
#define zone__track_resize(p, old_size, new_size) ((void)(p), (void)(old_size), (void)(new_size))
#define zone__track_noaccess(p, size) ((void)(p), (void)(size))
#define zone__track_undefined(p, size) ((void)(p), (void)(size))
#define zone__track_defined(p, size) ((void)(p), (void)(size))
#define zone__track_get_vbits(p, bits, size) ((void)(p), (void)(bits), (void)(size))
#define zone__track_set_vbits(p, bits, size) ((void)(p), (void)(bits), (void)(size))
#endif

#endif /* ZONE_TRACK_H */
