#!/bin/sh
# Checks a program linked with libzone.a: it needs no libzone.so (no NEEDED
# entry, nothing of the name in ldd's list) and runs with an empty loader
# path. Usage: check_static.sh <program> <readelf>
set -eu
program=$1
readelf=$2
fail() { echo "$*" >&2; exit 1; }

needed=$("$readelf" -d "$program" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p' | tr '\n' ' ')
echo "NEEDED: $needed"
case " $needed" in
  *" libzone.so"*) fail "$program needs a shared libzone" ;;
esac
if command -v ldd >/dev/null 2>&1; then
  ! ldd "$program" | grep -q 'libzone\.so' || fail "ldd finds libzone.so for $program"
fi
env -u LD_LIBRARY_PATH -u LD_PRELOAD "$program"
echo "static OK: $program runs without libzone.so"
