#!/bin/sh
# Contract 15: the library takes memory from the OS only, never from the
# malloc family, so the malloc shim can run on it. Checks that libzone.so
# imports none of the allocation functions (nor helpers that return malloc'd
# memory).
# Usage: check_no_malloc.sh <libzone.so> [nm]
set -eu
lib=$1
nm=${2:-nm}
bad=$("$nm" -D --undefined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' |
  grep -x -E 'malloc|calloc|realloc|reallocarray|free|cfree|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|strdup|strndup|asprintf|vasprintf|open_memstream|getline|getdelim|realpath|__libc_malloc|__libc_calloc|__libc_realloc|__libc_free|_Znwm|_Znam|_ZdlPv|_ZdaPv' || true)
if [ -n "$bad" ]; then
  echo "$lib imports allocation functions:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "no malloc: $lib imports no allocation function"
