/*
 * malloc-size.h - stand-in for glibc's internal header: the alignment every
 * malloc result has. For glibc that is the alignment of max_align_t (16 bytes
 * on x86-64), which is also what the C standard asks of malloc.
 */
#ifndef ZONE_GLIBC_MALLOC_SIZE_H
#define ZONE_GLIBC_MALLOC_SIZE_H

#include <stddef.h>

#define SIZE_SZ (sizeof(size_t))
#define MALLOC_ALIGNMENT (_Alignof(max_align_t))
#define MALLOC_ALIGN_MASK (MALLOC_ALIGNMENT - 1)

#endif
