#!/usr/bin/env bash
# glibc's own malloc tests against the shim, from the repository root after
# the default build in ./build: tests/glibc/run.sh takes malloc/ from the
# tarball of Debian's glibc-source package, builds every test of it that
# exercises the public malloc API against our test-support stand-in, and runs
# each under plain glibc and under LD_PRELOAD=build/shim/libzoneshim.so, each
# with its own timeout (20 s unless the test asks for more). The step fails
# exactly when the shim fails a test that glibc passes; the table and the
# failing tests' output are printed. See docs/glibc-malloc-tests.md.
# About 1.5 minutes on 2 cores; a test that hangs adds its timeout (20 s, 50 s
# or 100 s, as the test asks).
set -euo pipefail
shim=build/shim/libzoneshim.so
[ -e "$shim" ] || { echo "no $shim: build first" >&2; exit 1; }
bash tests/glibc/run.sh --shim "$shim"
