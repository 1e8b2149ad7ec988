#!/usr/bin/env bash
# compare.sh SHIM WORKDIR SCENARIO - runs a real-program scenario (a bash
# script) twice in a fresh WORKDIR, once on glibc's malloc and once with
# LD_PRELOAD=SHIM, and passes when both give the same stdout and exit status
# and the plain run succeeded. The shim run also writes a zdump at each exit
# (ZONE_DUMP), which proves its processes really ran on the shim.
set -euo pipefail
shim=$1 work=$2 scenario=$3
[ -f "$shim" ] || { echo "no shim at $shim"; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
scenario_path=$here/programs/$scenario.sh

run() {  # run OUTFILE [env assignments...]
  local out=$1
  shift
  rm -rf "$work"
  mkdir -p "$work/home"
  set +e
  (cd "$work" && env -u LD_PRELOAD -u ZONE_STATS -u ZONE_DUMP -u ZONE_DUMP_EVERY -u ZONE_MISUSE \
     HOME="$work/home" LC_ALL=C TZ=UTC "$@" bash "$scenario_path") >"$out" 2>"$out.err"
  local status=$?
  set -e
  echo "$status"
}

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
dumps=$results/dumps
start=$(date +%s)
plain_status=$(run "$results/plain")
mid=$(date +%s)
shim_status=$(run "$results/shim" LD_PRELOAD="$shim" ZONE_DUMP="$dumps")
end=$(date +%s)
processes=$(grep -c '^zone size=' "$dumps" 2>/dev/null || true)
echo "$scenario: plain exit $plain_status in $((mid - start))s, shim exit $shim_status in $((end - mid))s," \
     "$(wc -c <"$results/plain") bytes of output, ${processes:-0} processes dumped on the shim"

fail=0
if [ "$plain_status" != 0 ]; then
  echo "FAIL: the scenario fails even without the shim (status $plain_status):"
  tail -n 20 "$results/plain.err"
  fail=1
fi
if [ "$plain_status" != "$shim_status" ]; then
  echo "FAIL: exit status $plain_status without the shim, $shim_status with it; stderr with it:"
  tail -n 20 "$results/shim.err"
  fail=1
fi
if ! cmp -s "$results/plain" "$results/shim"; then
  echo "FAIL: stdout differs (plain vs shim):"
  diff "$results/plain" "$results/shim" | head -n 40
  echo "stderr with the shim:"
  tail -n 20 "$results/shim.err"
  fail=1
fi
if [ "${processes:-0}" -eq 0 ]; then
  echo "FAIL: no process left a zdump: the shim was not loaded"
  fail=1
fi
rm -rf "$work"
exit "$fail"
