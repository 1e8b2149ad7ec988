#!/usr/bin/env bash
# zone_run_test.sh CASE ZONE_RUN MISUSE_PROGRAM - the launcher's behaviour,
# one case per ctest: options become the shim's environment, the program's
# exit status comes back, mistakes on the command line are refused.
set -euo pipefail
case_name=$1 zone_run=$2 misuse=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

case $case_name in
  stats)
    "$zone_run" --stats -- ls / >"$tmp/out" 2>"$tmp/err"
    cat "$tmp/err"
    grep -Eq '^zone stats: pid=[0-9]+ prog=ls size=[0-9]+ used=[0-9]+ peak_used=[0-9]+ blocks=[0-9]+ free=[0-9]+ free_regions=[0-9]+ largest_free=[0-9]+ fragmentation=[0-9]+\.[0-9]% returned=[0-9]+$' "$tmp/err" ||
      fail "no stats line from ls (which closes stderr at exit)"
    ;;
  status)
    set +e
    "$zone_run" -- sh -c 'exit 7'
    status=$?
    set -e
    [ "$status" -eq 7 ] || fail "exit status $status, wanted 7"
    ;;
  dump)
    # A relative dump path, and a program that changes directory.
    (cd "$tmp" && "$zone_run" --dump heap.txt --dump-every 200 -- sh -c 'cd / && ls -l /usr/bin >/dev/null')
    dumps=$(grep -c '^zone ' "$tmp/heap.txt")
    echo "$dumps dumps in the file"
    [ "$dumps" -ge 2 ] || fail "wanted periodic dumps and the exit dump, got $dumps"
    awk -f "$here/check_dump.awk" "$tmp/heap.txt" || fail "the dump file breaks the zdump format"
    ;;
  dump_truncates)
    echo stale >"$tmp/heap.txt"
    "$zone_run" --dump "$tmp/heap.txt" -- true
    head -n 1 "$tmp/heap.txt" | grep -q '^zone size=' || fail "the file was not emptied first"
    ;;
  misuse_warn)
    "$zone_run" --misuse warn -- "$misuse" free_double >"$tmp/out" 2>"$tmp/err" || fail "the program died"
    pointer=$(head -n 1 "$tmp/out")
    grep -qx "zone: free(): invalid pointer $pointer" "$tmp/err" || fail "no warning on stderr"
    ;;
  misuse_default)
    set +e
    "$zone_run" -- "$misuse" free_double >"$tmp/out" 2>"$tmp/err"
    status=$?
    set -e
    [ "$status" -eq 134 ] || fail "status $status, wanted 134 (SIGABRT)"
    ;;
  bad_usage)
    for args in "--misuse crash -- true" "--dump-every 5 -- true" "--dump-every x --dump f -- true" \
                "--frobnicate -- true" "--"; do
      set +e
      # shellcheck disable=SC2086
      "$zone_run" $args >"$tmp/out" 2>"$tmp/err"
      status=$?
      set -e
      [ "$status" -eq 125 ] || fail "zone-run $args: status $status, wanted 125"
      grep -q '^zone-run: ' "$tmp/err" || fail "zone-run $args: no message"
    done
    "$zone_run" --help | grep -q '^usage: zone-run' || fail "--help"
    ;;
  installed)
    # zone_run_test.sh installed CMAKE BUILD_DIR: the installed launcher finds
    # the installed library relative to itself, even after the tree moves.
    cmake=$2 build=$3
    "$cmake" --install "$build" --prefix "$tmp/prefix" >/dev/null
    mv "$tmp/prefix" "$tmp/moved"
    shim=$("$tmp/moved/bin/zone-run" --print-shim)
    case $shim in "$tmp"/moved/*/libzoneshim.so) ;; *) fail "installed zone-run found $shim" ;; esac
    out=$("$tmp/moved/bin/zone-run" --stats -- ls -d /usr 2>"$tmp/err")
    [ "$out" = /usr ] || fail "installed zone-run: output $out"
    grep -q '^zone stats: ' "$tmp/err" || fail "installed zone-run: the shim was not loaded"
    ;;
  print_shim)
    shim=$("$zone_run" --print-shim)
    [ -f "$shim" ] || fail "--print-shim gave $shim"
    ;;
  *)
    fail "unknown case $case_name"
    ;;
esac
echo ok
