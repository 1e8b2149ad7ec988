#!/bin/sh
# heap-map.sh - makes the heap map pictures of docs/heap-maps.md with the
# build's own tools, so they can be made again after a change:
#   docs/first-fit.svg        examples/first_fit's dumps, one map per step,
#                             captioned with the program's own text
#   docs/heap-map-python.svg  python3 running docs/heap-map-job.py on the
#                             shim with PYTHONMALLOC=malloc (python's own
#                             small-object allocator would otherwise serve
#                             most objects from its arenas, hidden from the
#                             shim), a dump every 20000 allocations; the map
#                             of the dump with the most live blocks.
#                             Needs the shim: BUILD/shim/zone-run, or the
#                             zone-run named by $ZONE_RUN.
# Usage: docs/heap-map.sh [BUILD_DIR]   (default: build)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
map=$build/tools/zone-map
[ -x "$map" ] || { echo "heap-map.sh: build first: no $map" >&2; exit 1; }

"$build/examples/first_fit" |
  "$map" --captions --width 768 --row-bytes 256 --no-titles \
    --title "examples/first_fit: exact first fit in a 256-byte zone" -o docs/first-fit.svg
echo "docs/first-fit.svg: $(wc -c < docs/first-fit.svg) bytes"

run=${ZONE_RUN:-$build/shim/zone-run}
if [ ! -x "$run" ]; then
  echo "heap-map.sh: no $run (shim not built): docs/heap-map-python.svg not made" >&2
  exit 0
fi
# The interpreter itself: a wrapper script (pyenv) would add its shell's heap.
python=$(python3 -c 'import sys; print(sys.executable)')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PYTHONMALLOC=malloc "$run" --dump "$tmp/heap.txt" --dump-every 20000 -- \
  "$python" docs/heap-map-job.py >/dev/null
# The dump with the most blocks: the heap at its fullest.
best=$(awk '/^zone /{n++; split($6, b, "="); if (b[2] + 0 > max) {max = b[2] + 0; best = n}}
            END {print best}' "$tmp/heap.txt")
total=$(grep -c '^zone ' "$tmp/heap.txt")
awk -v want="$best" -v total="$total" '
  /^zone /{n++; if (n == want) printf "python3 docs/heap-map-job.py, dump %d of %d (one every 20000 allocations)\n", n, total}
  n == want' "$tmp/heap.txt" |
  "$map" --captions --no-titles --title "python3 on libzoneshim: the heap at its fullest" \
    -o docs/heap-map-python.svg
echo "docs/heap-map-python.svg: $(wc -c < docs/heap-map-python.svg) bytes (dump $best of $total)"
