#!/usr/bin/env bash
# Bench smoke (issue 4): builds nothing new (the default build in ./build has
# the bench programs), then runs every workload once at the --quick size under
# glibc and, when it was built, the zone shim, plus core_pairs --quick,
# bench/latency.py --quick and bench/floor.py on two workloads. It asserts only
# that each run exits 0 (a workload checks its own data, so a corrupting
# allocator fails it); it never asserts a time. About 1-2 minutes.
set -euo pipefail

allocators=glibc
if [ -e build/shim/libzoneshim.so ]; then
  allocators=glibc,shim
else
  echo "bench smoke: build/shim/libzoneshim.so not built, glibc only"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 bench/run.py --quick --strict --no-charts --allocators "$allocators" --out "$out"
# The per-call latency benchmark at its CI size (small live counts, 20k steps):
# a few seconds; again only its exit status counts.
python3 bench/latency.py --quick --no-chart --allocators "$allocators" --out "$out/latency"

# The bookkeeping of zones where the summary tree pads most: one line each.
lines=$(build/bench/book_share --quick | grep -c '^zone_mib=')
[ "$lines" -eq 20 ] || { echo "bench smoke: book_share gave $lines lines, not 20"; exit 1; }
# An option it does not take stops it with one line naming it, status 2.
status=0
msg=$(build/bench/book_share --slow 2>&1) || status=$?
[ "$status" -eq 2 ] && [ "${msg#*unknown option --slow (valid: --quick)}" != "$msg" ] ||
  { echo "bench smoke: book_share --slow gave status $status: $msg"; exit 1; }

# The floor estimate (bench/floor.py) on two workloads: each must give its row.
if [ "$allocators" = glibc,shim ]; then
  python3 bench/floor.py --quick --runs 1 --workloads churn_small,larson-2 --out "$out/floor.md"
  for w in churn_small larson-2; do
    grep -q "^| $w |" "$out/floor.md" || { echo "bench smoke: floor.py gave no row for $w"; exit 1; }
  done
fi

# --extra refuses what it can't run: no NAME=, a name already taken, a missing
# library. Each must stop the runner before any workload starts.
for bad in "nolib" "glibc=build/shim/libzoneshim.so" "x=/nonexistent/lib.so"; do
  if msg=$(python3 bench/run.py --quick --no-charts --no-core --allocators glibc \
             --extra "$bad" --out "$out/extra" 2>&1); then
    echo "bench smoke: run.py accepted --extra $bad"; exit 1
  fi
  case "$msg" in
    *"--extra wants NAME=PATH"*) ;;
    *) echo "bench smoke: run.py --extra $bad failed otherwise: $msg"; exit 1 ;;
  esac
done
echo "bench smoke: --extra refuses bad arguments"
