#!/usr/bin/env bash
# arena_report.sh SHIM PROGRAM CHECK_DUMP_AWK - a program with more than one
# arena reports each: malloc_stats has "Arena 1:", ZONE_STATS a totals line
# (arenas=N) and a line per arena, ZONE_DUMP a valid zdump per arena tagged
# arena=N.
set -euo pipefail
shim=$1 program=$2 awk_check=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
status=0
env LD_PRELOAD="$shim" ZONE_STATS=1 ZONE_DUMP="$tmp/heap.txt" "$program" >"$tmp/out" 2>"$tmp/err" || status=$?
cat "$tmp/out" "$tmp/err"
[ "$status" -ne 77 ] || exit 77
[ "$status" -eq 0 ] || fail "the program exited with $status"
n=$(sed -n 's/^heaps: //p' "$tmp/out")
grep -q '^Arena 1:$' "$tmp/err" || fail "malloc_stats shows no Arena 1"
grep -q '^Total (incl. mmap):$' "$tmp/err" || fail "malloc_stats shows no total"
grep -Eq "^zone stats: pid=[0-9]+ prog=[^ ]+ arenas=[0-9]+ size=.* returned=[0-9]+ decayed=[0-9]+ mapped=[0-9]+ peak_mapped=[0-9]+$" "$tmp/err" ||
  fail "no totals line naming the arenas"
arenas=$(sed -n 's/^zone stats: .* arenas=\([0-9]*\) .*/\1/p' "$tmp/err")
[ "$arenas" -ge "$n" ] || fail "ZONE_STATS counts $arenas arenas, malloc_info showed $n"
for ((k = 0; k < arenas; k++)); do
  [ "$(grep -c "^zone stats: pid=[0-9]* prog=[^ ]* arena=$k size=" "$tmp/err")" -eq 1 ] ||
    fail "no ZONE_STATS line for arena $k"
  [ "$(grep -c "^zone size=.* pid=[0-9]* prog=[^ ]* arena=$k\$" "$tmp/heap.txt")" -eq 1 ] ||
    fail "no dump of arena $k"
done
awk -f "$awk_check" "$tmp/heap.txt" || fail "the dumps are not valid zdumps"
echo "ok: $arenas arenas reported"
