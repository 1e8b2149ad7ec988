#!/usr/bin/env bash
# Fuzzing: builds fuzz/fuzz_zone with clang (libFuzzer + ASan + UBSan, core at
# ZONE_DEBUG=2), replays the committed corpus and saved findings, then fuzzes
# for ZONE_FUZZ_SECONDS (default 120) from the seed corpus. Any finding fails
# the step; the input that triggered it is kept under build-fuzz/run/findings/
# and its trace printed (FZ_TRACE=1). Takes about 3 minutes; a longer run:
# ZONE_FUZZ_SECONDS=3600 bash .ci/steps/50-fuzz.sh
set -euo pipefail
secs=${ZONE_FUZZ_SECONDS:-120}

cmake -S fuzz -B build-fuzz -DCMAKE_C_COMPILER=clang -DZONE_WERROR=ON >/dev/null
cmake --build build-fuzz -j2
ctest --test-dir build-fuzz --output-on-failure

run=build-fuzz/run
rm -rf "$run"
mkdir -p "$run/corpus" "$run/findings"
status=0
./build-fuzz/fuzz_zone -max_total_time="$secs" -timeout=60 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$run/findings/" \
  "$run/corpus" fuzz/corpus >"$run/log" 2>&1 || status=$?
grep -E '^(#[0-9]+ +(INITED|DONE)|stat::|Done)' "$run/log" || true
# crash-, leak-, timeout- and oom- files are findings; slow-unit- files only
# say the machine was busy.
findings=$(find "$run/findings" -type f ! -name 'slow-unit-*')
if [ "$status" -ne 0 ] || [ -n "$findings" ]; then
  tail -n 60 "$run/log"
  for f in $findings; do
    echo "::: finding $f (base64: $(base64 -w0 "$f"))"
    FZ_TRACE=1 ./build-fuzz/zone_fuzz_replay "$f" 2>&1 | tail -n 40 || true
  done
  echo "fuzzing found a problem: add the input to fuzz/regressions/ once fixed" >&2
  exit 1
fi
