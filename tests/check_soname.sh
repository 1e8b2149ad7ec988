#!/bin/sh
# Checks the shared library's versioning in the build tree: the real file is
# libzone.so.<version>, its SONAME is libzone.so.<major>, and the links
# libzone.so -> libzone.so.<major> -> libzone.so.<version> exist.
# Usage: check_soname.sh <dir of libzone> <readelf> <major> <version>
set -eu
dir=$1
readelf=$2
major=$3
version=$4
real="$dir/libzone.so.$version"
fail() { echo "$*" >&2; exit 1; }

[ -f "$real" ] && [ ! -L "$real" ] || fail "$real is not a regular file"
soname=$("$readelf" -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "libzone.so.$major" ] || fail "SONAME is '$soname', want libzone.so.$major"
[ -L "$dir/libzone.so.$major" ] || fail "libzone.so.$major is not a symlink"
[ "$(readlink "$dir/libzone.so.$major")" = "libzone.so.$version" ] ||
  fail "libzone.so.$major -> $(readlink "$dir/libzone.so.$major"), want libzone.so.$version"
[ -L "$dir/libzone.so" ] || fail "libzone.so is not a symlink"
[ "$(readlink -f "$dir/libzone.so")" = "$(readlink -f "$real")" ] ||
  fail "libzone.so does not lead to libzone.so.$version"
echo "soname OK: libzone.so -> libzone.so.$major -> libzone.so.$version, SONAME libzone.so.$major"
