#!/usr/bin/env bash
# glibc's own malloc tests, run under plain glibc and under the zone shim.
#
# Takes glibc's malloc/ directory from the source tarball of Debian's
# glibc-source package (/usr/src/glibc/glibc-*.tar.xz) into a scratch
# directory, builds the tests listed in TESTS below against the test-support
# stand-in in tests/glibc/support and tests/glibc/include (no glibc build
# tree needed), runs each one twice, without and with
# LD_PRELOAD=libzoneshim.so, and prints a table: test, glibc result, shim
# result. Nothing of glibc's is kept in this repository.
#
# Exit status: 1 exactly when the shim fails a test that glibc passes; 0
# otherwise. A test that fails under glibc itself is reported, not counted.
# 2 for a usage or set-up error (no tarball, no shim, a build failure).
#
# Usage: tests/glibc/run.sh [--shim PATH] [--work DIR] [--list] [TEST...]
#   --shim PATH   the shim (default: build/shim/libzoneshim.so)
#   --work DIR    build and run in DIR and keep it (default: a temporary
#                 directory, removed at the end); logs are DIR/logs/*.log
#   --list        print the tests run and the tests left out, with reasons
#   TEST...       run only these (names from TESTS)
# Environment: CC (default cc), GLIBC_SOURCE_TARBALL (default
# /usr/src/glibc/glibc-*.tar.xz), TIMEOUTFACTOR (multiplies every test's
# timeout, default 1).
#
# Each test has the timeout its source asks for (#define TIMEOUT, else 20 s),
# enforced by the driver, which kills the test's whole process group; an
# outer `timeout` 30 s later catches a driver that hangs itself. The whole
# run takes about 2 minutes on 2 cores.
set -euo pipefail

# ---- what runs ---------------------------------------------------------------------
# Every test in glibc 2.36's malloc/ that calls only the public malloc API
# and can run with another malloc preloaded.
TESTS=(
  mallocbug                      # a sequence of large blocks must not overlap
  tst-malloc                     # malloc(-1) fails with ENOMEM, realloc(p, 0) frees
  tst-calloc                     # calloc zeroes, calloc(0, x) and overflows
  tst-valloc                     # valloc: page alignment, huge sizes fail
  tst-pvalloc                    # pvalloc: the same
  tst-pvalloc-fortify            # pvalloc(5) is usable up to a page (_FORTIFY_SOURCE=2)
  tst-memalign                   # memalign: alignment, EINVAL, ENOMEM
  tst-posix_memalign             # posix_memalign: the same, return codes
  tst-mallocalign1               # malloc results are aligned to max_align_t
  tst-realloc                    # realloc: grow, shrink, failure keeps the block
  tst-reallocarray               # reallocarray: overflow gives ENOMEM
  tst-malloc-too-large           # every allocator call with sizes near SIZE_MAX
  tst-free-errno                 # free preserves errno, even when munmap fails
  tst-trim1                      # malloc_trim after many frees
  tst-mallopt                    # mallopt accepts glibc's parameters
  tst-mallinfo2                  # mallinfo2's uordblks counts live blocks
  tst-malloc-tcache-leak         # 100000 threads leak no memory (mallinfo)
  tst-malloc_info                # malloc_info with 512 MiB live in 4 threads
  tst-malloc-stats-cancellation  # malloc_stats is no cancellation point
  tst-obstack                    # obstack over malloc, alignments 2..64
  tst-tcfree1                    # a double free aborts
  tst-tcfree2                    # a double free aborts (after 20 frees)
  tst-tcfree3                    # a block's contents never confuse free
  tst-malloc-thread-exit         # threads allocate and exit in a loop
  tst-malloc-thread-fail         # allocation failure under RLIMIT_AS, 9 threads
  tst-mallocfork                 # fork from a signal handler after malloc
  tst-mallocfork2                # fork/malloc/free interrupted by forking handlers
  tst-mallocfork3                # the same with _Fork and signals from threads
  tst-malloc-fork-deadlock       # fork while other threads malloc and flush stdio
)

# Left out: name, then why it can't run with a preloaded malloc.
LEFT_OUT=(
  "tst-malloc-check|MALLOC_CHECK_=3 with libc_malloc_debug.so preloaded: tests glibc's debugging malloc"
  "tst-malloc-usable|runs with MALLOC_CHECK_=3 and libc_malloc_debug.so, whose malloc_usable_size is exact (7 for malloc(7))"
  "tst-malloc-usable-tunables|the same through GLIBC_TUNABLES=glibc.malloc.check=3"
  "tst-mallocstate|malloc_get_state/malloc_set_state, compat symbols of libc_malloc_debug.so; needs glibc's in-tree shlib-compat.h"
  "tst-compathooks-off|__malloc_hook and friends, compat symbols only reachable in glibc's in-tree build"
  "tst-compathooks-on|the same, with libc_malloc_debug.so preloaded"
  "tst-mtrace|mtrace() lives in libc_malloc_debug.so; checked by glibc's mtrace script"
  "tst-mxfast|tests the glibc.malloc.mxfast tunable (GLIBC_TUNABLES) through fastbin counts; a malloc without fastbins passes it vacuously"
  "tst-safe-linking|corrupts the pointers of glibc's tcache and fastbin free lists and expects glibc's safe-linking check to abort"
  "tst-malloc-backtrace|overwrites the size field of glibc's chunk header in front of a freed block and expects glibc's integrity check to abort"
  "tst-interpose-nothread|defines its own malloc in the test program, which takes precedence over any preloaded one"
  "tst-interpose-thread|the same, with threads"
  "tst-interpose-static-nothread|the same, linked statically (LD_PRELOAD never applies)"
  "tst-interpose-static-thread|the same, with threads"
  "tst-alloc_buffer|glibc-internal alloc_buffer API, only in glibc's in-tree build"
  "tst-scratch_buffer|glibc-internal scratch_buffer API, only in glibc's in-tree build"
  "tst-dynarray|glibc-internal dynarray API, only in glibc's in-tree build (and mtrace)"
  "tst-dynarray-fail|the same, with mtrace and mcheck"
  "tst-dynarray-at-fail|the same"
)
# Also not run: glibc's -mcheck, -malloc-check and -malloc-hugetlb1/2
# variants of the tests above, which rerun them against libmcheck.a,
# libc_malloc_debug.so or glibc's huge-page tunables.

# ---- options ------------------------------------------------------------------------
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shim="$root/build/shim/libzoneshim.so"
work=""
only=()
list=0
while [ $# -gt 0 ]; do
  case "$1" in
    --shim) shim=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --list) list=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) only+=("$1"); shift ;;
  esac
done

if [ "$list" -eq 1 ]; then
  echo "run (${#TESTS[@]}):"
  printf '  %s\n' "${TESTS[@]}"
  echo "left out (${#LEFT_OUT[@]}):"
  for entry in "${LEFT_OUT[@]}"; do printf '  %-30s %s\n' "${entry%%|*}" "${entry#*|}"; done
  exit 0
fi

if [ ${#only[@]} -gt 0 ]; then
  for t in "${only[@]}"; do
    case " ${TESTS[*]} " in *" $t "*) ;; *) echo "run.sh: $t is not among the tests run" >&2; exit 2 ;; esac
  done
  TESTS=("${only[@]}")
fi

[ -f "$shim" ] || { echo "run.sh: no shim at $shim: build first" >&2; exit 2; }
shim=$(cd "$(dirname "$shim")" && pwd)/$(basename "$shim")
tarball=${GLIBC_SOURCE_TARBALL:-}
if [ -z "$tarball" ]; then
  for f in /usr/src/glibc/glibc-*.tar.xz; do [ -f "$f" ] && tarball=$f && break; done
fi
if [ -z "$tarball" ] || [ ! -f "$tarball" ]; then
  echo "run.sh: no glibc source tarball: apt-get install glibc-source" >&2
  exit 2
fi
cc=${CC:-cc}
factor=${TIMEOUTFACTOR:-1}
case "$factor" in ''|*[!0-9]*|0) echo "run.sh: TIMEOUTFACTOR must be a positive integer" >&2; exit 2 ;; esac

if [ -n "$work" ]; then
  mkdir -p "$work"
  work=$(cd "$work" && pwd)
  rm -rf "${work:?}/src" "${work:?}/bin" "${work:?}/logs" "${work:?}/tmp"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/src" "$work/bin" "$work/logs" "$work/tmp"

# ---- sources ------------------------------------------------------------------------
top=$(basename "$tarball" .tar.xz)  # glibc-2.36
tar -xJf "$tarball" -C "$work/src" --strip-components=1 "$top/malloc"
# The older tests include "../test-skeleton.c": ours, beside malloc/.
ln -s "$here/support/test-skeleton.c" "$work/src/test-skeleton.c"
echo "glibc malloc tests from $tarball ($top), shim $shim"

# ---- build --------------------------------------------------------------------------
# As glibc builds its tests: -O2 -g, _GNU_SOURCE, with the compiler's
# knowledge of malloc left on; warnings go to the build log only. glibc is
# built with gcc; clang at -O2 drops some of the allocations these tests make
# (tst-malloc then fails under glibc too).
cflags=(-std=gnu11 -O2 -g -D_GNU_SOURCE -pthread -I"$here" -I"$here/include")
for f in check driver xfuncs temp_file; do
  "$cc" "${cflags[@]}" -Wall -Wextra -Werror -c "$here/support/$f.c" -o "$work/bin/support-$f.o"
done
ar rcs "$work/bin/libsupport.a" "$work/bin"/support-*.o

build_one() {
  local t=$1
  "$cc" "${cflags[@]}" -o "$work/bin/$t" "$work/src/malloc/$t.c" "$work/bin/libsupport.a" \
    >"$work/logs/$t.build.log" 2>&1
}
pids=()
names=()
for t in "${TESTS[@]}"; do
  [ -f "$work/src/malloc/$t.c" ] || { echo "run.sh: $top has no malloc/$t.c" >&2; exit 2; }
  build_one "$t" &
  pids+=($!)
  names+=("$t")
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || { cat "$work/logs/${names[0]}.build.log" >&2; exit 2; }
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { cat "$work/logs/${names[$i]}.build.log" >&2; exit 2; }
done

# The stand-in itself first: a failed check in a forked child, a timeout, an
# expected or unexpected signal must each give the status glibc's driver
# would. Under plain glibc; a few seconds.
selftest_expect=(0 1 1 1 1 0 1 1 77)
for i in "${!selftest_expect[@]}"; do
  n=$((i + 1)) want=${selftest_expect[$i]} rc=0
  "$cc" "${cflags[@]}" -Wall -Wextra -Werror -DCASE=$n -o "$work/bin/selftest-$n" \
    "$here/support/selftest.c" "$work/bin/libsupport.a"
  mkdir -p "$work/tmp/selftest-$n"
  TMPDIR="$work/tmp/selftest-$n" timeout -k 5 30 "$work/bin/selftest-$n" \
    >"$work/logs/selftest-$n.log" 2>&1 </dev/null || rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "run.sh: support self-check case $n exited $rc, not $want:" >&2
    cat "$work/logs/selftest-$n.log" >&2
    exit 2
  fi
done
# The killed child may linger a moment as a zombie until init reaps it.
child=$(cat "$work/tmp/selftest-5/selftest-child.pid" 2>/dev/null || true)
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${st#Z}" = "$st" ]; }
for _ in $(seq 1 50); do
  if [ -z "$child" ] || ! alive "$child"; then break; fi
  sleep 0.1
done
if [ -z "$child" ] || alive "$child"; then
  echo "run.sh: support self-check: the timed-out test's child ${child:-(none)} survived" >&2
  exit 2
fi
echo "support self-check: ${#selftest_expect[@]} cases as expected"

# The shim must really be in the process: its exit report says so.
LD_PRELOAD="$shim" ZONE_STATS=1 TMPDIR="$work/tmp" "$work/bin/selftest-1" \
  >/dev/null 2>"$work/logs/preload-check.log" || true
if ! grep -q '^zone stats:' "$work/logs/preload-check.log"; then
  echo "run.sh: LD_PRELOAD=$shim did not reach the test programs" >&2
  exit 2
fi

# ---- run ----------------------------------------------------------------------------
# One test under one allocator; prints PASS, FAIL(...), TIMEOUT or UNSUPPORTED.
run_one() {
  local t=$1 alloc=$2 secs rc=0
  local log="$work/logs/$t.$alloc.log"
  secs=$(sed -n 's/^#define TIMEOUT[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' "$work/src/malloc/$t.c" | head -n1)
  secs=$(( ${secs:-20} * factor ))
  local dir="$work/tmp/$t.$alloc"
  mkdir -p "$dir"
  local -a env=(env -u LD_PRELOAD TMPDIR="$dir" TIMEOUTFACTOR="$factor")
  [ "$alloc" = shim ] && env+=(LD_PRELOAD="$shim")
  (cd "$dir" && timeout -k 5 $((secs + 30)) "${env[@]}" "$work/bin/$t") >"$log" 2>&1 </dev/null || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo PASS
  elif [ "$rc" -eq 77 ]; then
    echo UNSUPPORTED
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] || grep -q '^error: timeout:' "$log"; then
    echo "TIMEOUT(${secs}s)"
  elif [ "$rc" -gt 128 ]; then
    echo "FAIL(signal $((rc - 128)))"
  else
    echo "FAIL(exit $rc)"
  fi
}

start=$(date +%s)
printf '%-30s %-16s %-16s\n' test glibc shim
printf '%-30s %-16s %-16s\n' ---- ----- ----
counted=0 shim_passed=0 glibc_failed=0 regressions=()
for t in "${TESTS[@]}"; do
  # Both runs of a test at once: two processes for two cores.
  run_one "$t" glibc >"$work/logs/$t.glibc.result" &
  gpid=$!
  run_one "$t" shim >"$work/logs/$t.shim.result"
  wait "$gpid"
  g=$(cat "$work/logs/$t.glibc.result")
  s=$(cat "$work/logs/$t.shim.result")
  note=""
  if [ "$g" = PASS ]; then
    counted=$((counted + 1))
    if [ "$s" = PASS ]; then
      shim_passed=$((shim_passed + 1))
    else
      regressions+=("$t")
      note="  <- shim fails, glibc passes"
    fi
  else
    glibc_failed=$((glibc_failed + 1))
    note="  (fails under glibc too: not counted)"
  fi
  printf '%-30s %-16s %-16s%s\n' "$t" "$g" "$s" "$note"
done

echo
echo "${#TESTS[@]} tests run in $(( $(date +%s) - start ))s; glibc passed $counted," \
  "the shim passed $shim_passed of those; $glibc_failed failed under glibc (not counted)"
for t in "${regressions[@]}"; do
  echo
  echo "::: $t under the shim (last 25 lines of $t.shim.log)"
  tail -n 25 "$work/logs/$t.shim.log"
done
echo "glibc-malloc: $shim_passed passed, ${#regressions[@]} failed, $glibc_failed skipped"
[ ${#regressions[@]} -eq 0 ]
