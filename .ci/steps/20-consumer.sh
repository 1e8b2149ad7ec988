#!/usr/bin/env bash
# Packaging check, from the repository root after the default build in ./build:
# installs that build into a temporary prefix, builds tests/consumer against it
# both through find_package(zone 0.1) and through pkg-config, each against the
# shared and the static library, and runs them. The installed libzone.so must
# carry SONAME libzone.so.0 and be reached through libzone.so -> libzone.so.0
# -> libzone.so.0.1.0; the static consumers must run with no libzone.so
# anywhere (the installed ones are removed first). Takes about 15 s.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

cmake --install build --prefix "$prefix" >/dev/null
real=$(find "$prefix" -name 'libzone.so.0.1.0' -print -quit)
[ -n "$real" ] && [ -f "$real" ] || { echo "libzone.so.0.1.0 not installed" >&2; exit 1; }
libdir=$(dirname "$real")
[ -f "$prefix/include/zone.h" ] || { echo "zone.h not installed" >&2; exit 1; }
[ "$(readlink "$libdir/libzone.so")" = "libzone.so.0" ] || { echo "bad libzone.so link" >&2; exit 1; }
[ "$(readlink "$libdir/libzone.so.0")" = "libzone.so.0.1.0" ] || { echo "bad libzone.so.0 link" >&2; exit 1; }
readelf -d "$libdir/libzone.so.0.1.0" | grep -q 'Library soname: \[libzone.so.0\]' ||
  { echo "installed libzone lacks SONAME libzone.so.0" >&2; exit 1; }
[ -f "$libdir/libzone.a" ] || { echo "libzone.a not installed" >&2; exit 1; }
sh tests/check_exports.sh "$libdir/libzone.so.0.1.0" "$prefix/include/zone.h"

echo "--- consumer through find_package(zone 0.1)"
cmake -S tests/consumer -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cmake-build/consumer"
grep -q 'zone::zone_static' "$libdir/cmake/zone/zoneTargets.cmake" ||
  { echo "the CMake package has no zone::zone_static" >&2; exit 1; }

echo "--- consumer through pkg-config"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists --print-errors 'zone >= 0.1'
static_libs=$(pkg-config --static --libs zone)
for flag in -lzone -pthread; do
  case " $static_libs " in
    *" $flag "*) ;;
    *) echo "pkg-config --static --libs zone lacks $flag: $static_libs" >&2; exit 1 ;;
  esac
done
make -s -C tests/consumer OUT="$tmp"
LD_LIBRARY_PATH="$libdir" "$tmp/consumer-pc"

echo "--- static consumers (zone::zone_static, pkg-config --static), libzone.so removed"
rm -f "$libdir"/libzone.so*
for program in "$tmp/cmake-build/consumer-static" "$tmp/consumer-pc-static"; do
  sh tests/check_static.sh "$program" readelf
done

echo "--- versions the package does not provide are refused"
mkdir -p "$tmp/want"
for want in 0.2 1.0; do
  cat >"$tmp/want/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(want_zone LANGUAGES C)
find_package(zone $want QUIET)
if(zone_FOUND)
  message(FATAL_ERROR "find_package(zone $want) accepted version \${zone_VERSION}")
endif()
CMAKE
  cmake -S "$tmp/want" -B "$tmp/want-build-$want" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
done
echo "consumer: OK"
