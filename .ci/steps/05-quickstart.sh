#!/usr/bin/env bash
# CI step: keeps README.md honest.
#  1. README.md is at most 10240 bytes.
#  2. Every relative link in README.md and docs/*.md ([text](path), images,
#     [ref]: path) names a file or directory that exists; #anchors and
#     http(s)/mailto links are not checked.
#  3. The quick start works as written: every ```sh block that follows a line
#     `<!-- quickstart -->` in README.md is run, in README order, in a fresh
#     clone of the repository (the committed HEAD), as one bash script with
#     -e and pipefail. No such block, or a failing command, fails the step.
# Takes 2-3 minutes on 2 cores (a full build and ctest in the clone; the
# dependencies are already installed, so .ci/install-deps is quick).
set -euo pipefail
cd "$(dirname "$0")/../.."

max=10240
size=$(wc -c < README.md)
if [ "$size" -gt "$max" ]; then
  echo "05-quickstart: README.md is $size bytes, more than $max" >&2
  exit 1
fi
echo "05-quickstart: README.md is $size bytes (at most $max)"

python3 - README.md docs/*.md <<'PY'
import os, re, sys

inline = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
reference = re.compile(r'^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$')
bad = checked = 0
for md in sys.argv[1:]:
    base = os.path.dirname(md)
    fence = None
    with open(md, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            m = re.match(r'^\s{0,3}(`{3,}|~{3,})', line)
            if m:
                if fence is None:
                    fence = m.group(1)[0] * len(m.group(1))
                elif line.strip().startswith(fence):
                    fence = None
                continue
            if fence is not None:
                continue
            text = re.sub(r'`[^`]*`', '', line)   # inline code is not a link
            targets = inline.findall(text)
            m = reference.match(text)
            if m:
                targets.append(m.group(1))
            for target in targets:
                if re.match(r'^([a-z][a-z0-9+.-]*:|#)', target, re.I):
                    continue
                path = target.split('#', 1)[0]
                checked += 1
                if not os.path.exists(os.path.normpath(os.path.join(base, path))):
                    print(f'05-quickstart: {md}:{n}: link to {target}: no such file', file=sys.stderr)
                    bad += 1
print(f'05-quickstart: {checked} relative links in {len(sys.argv) - 1} files, {bad} broken')
sys.exit(1 if bad else 0)
PY

# The quick-start blocks: the ```sh fence on the first non-blank line after
# each marker, up to its closing fence.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '
  /^<!-- quickstart -->[ \t]*$/ { want = 1; next }
  want && /^[ \t]*$/ { next }
  want {
    if ($0 !~ /^```sh[ \t]*$/) { printf "README.md:%d: <!-- quickstart --> not followed by a ```sh block\n", NR > "/dev/stderr"; bad = 1; exit 1 }
    want = 0; inblock = 1; blocks++; printf "# README.md:%d\n", NR; next
  }
  inblock && /^```[ \t]*$/ { inblock = 0; next }
  inblock { print }
  END {
    if (bad) exit 1
    if (inblock) { print "README.md: quick-start block not closed" > "/dev/stderr"; exit 1 }
    if (!blocks) { print "README.md: no <!-- quickstart --> block" > "/dev/stderr"; exit 1 }
  }' README.md > "$tmp/quickstart.sh"
echo "05-quickstart: $(grep -c '^# README.md:' "$tmp/quickstart.sh") blocks, $(grep -cEv '^(#|[[:space:]]*$)' "$tmp/quickstart.sh") commands:"
sed 's/^/    /' "$tmp/quickstart.sh"

git clone -q . "$tmp/clone"
(cd "$tmp/clone" && bash -e -o pipefail -x "$tmp/quickstart.sh")
echo "05-quickstart: the quick start ran as written in a fresh clone"
