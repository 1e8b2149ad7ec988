#!/usr/bin/env bash
# symbols.sh SHIM MAP - the shim exports exactly the names its version script
# lists: the malloc family and nothing of the core.
set -euo pipefail
shim=$1 map=$2
want=$(sed -n '/global:/,/local:/p' "$map" | sed -e 's/global://' -e 's/local:.*//' | tr ' ;' '\n\n' |
       grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | sort)
have=$(nm -D --defined-only "$shim" | awk '{print $3}' | sort)
if [ "$want" != "$have" ]; then
  echo "exported symbols differ from $map (< wanted, > exported):"
  diff <(echo "$want") <(echo "$have") || true
  exit 1
fi
echo "$(echo "$have" | wc -l) symbols exported, as listed"
