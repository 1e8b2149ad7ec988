#!/usr/bin/env bash
# Fuzzing: builds fuzz/fuzz_zone with clang (libFuzzer + ASan + UBSan, core at
# ZONE_DEBUG=2) and fuzz/fuzz_zone_plain (UBSan only: under ASan a zone has a
# heap checker and never defers its frees, so their paths are fuzzed there),
# replays the committed corpus and saved findings, then fuzzes from the seed
# corpus: fuzz_zone for ZONE_FUZZ_SECONDS (default 120), fuzz_zone_plain for
# half as long. Any finding fails the step; the input that triggered it is
# kept under build-fuzz/run-<target>/findings/ and its trace printed
# (FZ_TRACE=1). Takes about 4 minutes; a longer run:
# ZONE_FUZZ_SECONDS=3600 bash .ci/steps/50-fuzz.sh
set -euo pipefail
secs=${ZONE_FUZZ_SECONDS:-120}

cmake -S fuzz -B build-fuzz -DCMAKE_C_COMPILER=clang -DZONE_WERROR=ON >/dev/null
cmake --build build-fuzz -j2
ctest --test-dir build-fuzz --output-on-failure

# fuzz TARGET SECONDS: one libFuzzer run from the seed corpus; 1 on a finding.
fuzz() {
  local target=$1 run=build-fuzz/run-$1 status=0
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/findings"
  echo "::: $target, $2 s"
  "./build-fuzz/$target" -max_total_time="$2" -timeout=60 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$run/findings/" \
    "$run/corpus" fuzz/corpus >"$run/log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +(INITED|DONE)|stat::|Done)' "$run/log" || true
  # crash-, leak-, timeout- and oom- files are findings; slow-unit- files only
  # say the machine was busy.
  local findings
  findings=$(find "$run/findings" -type f ! -name 'slow-unit-*')
  if [ "$status" -ne 0 ] || [ -n "$findings" ]; then
    tail -n 60 "$run/log"
    for f in $findings; do
      echo "::: finding $f (base64: $(base64 -w0 "$f"))"
      FZ_TRACE=1 "./build-fuzz/$target" "$f" 2>&1 | tail -n 40 || true
    done
    echo "fuzzing found a problem: add the input to fuzz/regressions/ once fixed" >&2
    return 1
  fi
}

status=0
fuzz fuzz_zone "$secs" || status=1
fuzz fuzz_zone_plain "$(( (secs + 1) / 2 ))" || status=1
exit "$status"
