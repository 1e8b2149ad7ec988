#!/bin/sh
# Checks that the dynamic symbols libzone.so defines are exactly the functions
# zone.h declares with ZONE_API: nothing internal leaks out (symbols are hidden
# by default) and nothing public is missing.
# Usage: check_exports.sh <libzone.so> <zone.h> [nm] [readelf]
set -eu
lib=$1
header=$2
nm=${3:-nm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Declarations look like: ZONE_API <type> *?name(args...);
sed -n 's/^ZONE_API[^(]*[ *]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$header" | sort -u >"$tmp/want"
# Defined dynamic symbols, without version suffixes; symbols the toolchain
# itself defines in every shared object are not part of the API question.
"$nm" -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' |
  grep -v -x -e _init -e _fini -e _edata -e _end -e __bss_start | sort -u >"$tmp/got"

if [ ! -s "$tmp/want" ]; then
  echo "no ZONE_API declarations found in $header" >&2
  exit 1
fi
if ! diff -u "$tmp/want" "$tmp/got" >"$tmp/diff"; then
  echo "exported symbols of $lib differ from the ZONE_API functions of $header" >&2
  echo "(- only in the header, + only in the library)" >&2
  cat "$tmp/diff" >&2
  exit 1
fi
echo "exports OK: $(wc -l <"$tmp/got") symbols, exactly zone.h's API"
