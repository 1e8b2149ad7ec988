#!/usr/bin/env bash
# CI step: what cmake --install does for the docs part, which ctest can't see:
# zone-map, every man page and the .so aliases land in a temporary prefix,
# man finds the pages by function name there, and the installed zone-map
# draws a dump. Takes a few seconds; assumes ./build was just built.
set -euo pipefail

prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install build --prefix "$prefix" >/dev/null

mandir=$(find "$prefix" -type d -name man -path '*/share/man' | head -n1)
[ -n "$mandir" ] || { echo "80-docs: no share/man installed" >&2; exit 1; }
for page in docs/man/man*/*.*; do
  installed="$mandir/${page#docs/man/}"
  cmp -s "$page" "$installed" || { echo "80-docs: $page not installed as $installed" >&2; exit 1; }
done
# man resolves each alias to its group page.
for name in zone create_zone zone_reset zfree zalloc_aligned zdump zone_check; do
  man -M "$mandir" -w "$name" >/dev/null || { echo "80-docs: man can't find $name(3)" >&2; exit 1; }
done
for name in zone-map zone-run libzoneshim; do
  man -M "$mandir" -w "$name" >/dev/null || { echo "80-docs: man can't find $name" >&2; exit 1; }
done
MANWIDTH=80 man -M "$mandir" 3 zfree 2>/dev/null | grep -q 'zalloc_aligned' ||
  { echo "80-docs: man zfree does not show zalloc(3)" >&2; exit 1; }

"$prefix/bin/zone-map" --version
"$prefix/bin/zone-map" tools/tests/extents.dump -o "$prefix/map.svg"
grep -q 'class="gap"' "$prefix/map.svg" || { echo "80-docs: installed zone-map drew no gap" >&2; exit 1; }
echo "80-docs: installed $(find "$mandir" -type f | wc -l) man pages and zone-map; all found"
