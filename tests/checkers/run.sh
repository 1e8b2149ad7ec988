#!/bin/sh
# run.sh - runs checker_errors in one mode under a heap checker and asserts
# the checker's report (tests/checkers/CMakeLists.txt registers one ctest per
# checker and mode).
#
#   run.sh memcheck VALGRIND PROGRAM MODE [WORDS...]
#   run.sh asan PROGRAM MODE [WORDS...]
#   run.sh skip REASON          (a kind of error the checker can't see: 77)
#
# Every WORDS argument must appear in the report (a fixed string, grep -F);
# with none, the checker must report nothing and the program exit 0. A mode
# with words must end as a checker's error ends: exit status 99 from valgrind
# (--error-exitcode), nonzero from ASan.
set -u
checker=$1
shift
if [ "$checker" = skip ]; then
  echo "skipped: $1"
  exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
case $checker in
  memcheck)
    valgrind=$1
    shift
    program=$1
    mode=$2
    shift 2
    "$valgrind" --leak-check=full --errors-for-leak-kinds=definite,indirect \
      --error-exitcode=99 "$program" "$mode" >"$out" 2>&1
    status=$?
    failed=99
    ;;
  asan)
    program=$1
    mode=$2
    shift 2
    # The whole allocation stack: libzone has no frame pointers for the fast
    # unwinder to follow.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0} "$program" "$mode" >"$out" 2>&1
    status=$?
    failed=any
    ;;
  *)
    echo "run.sh: unknown checker '$checker'" >&2
    exit 2
    ;;
esac

fail() {
  echo "FAIL ($checker, $mode): $*" >&2
  echo "---- the run's output (exit status $status) ----" >&2
  cat "$out" >&2
  exit 1
}

if [ $# -eq 0 ]; then
  [ "$status" -eq 0 ] || fail "a clean run exited $status"
  case $checker in
    memcheck)
      grep -q "ERROR SUMMARY: 0 errors" "$out" || fail "memcheck reported errors"
      ! grep -q "still in force" "$out" || fail "memcheck warned of ranges left disabled"
      ;;
    asan) ! grep -q "Sanitizer" "$out" || fail "ASan reported something" ;;
  esac
  echo "$checker $mode: no report, as it should be"
  exit 0
fi

for words in "$@"; do
  grep -q -F -- "$words" "$out" || fail "no \"$words\" in the report"
done
if [ "$failed" = any ]; then
  [ "$status" -ne 0 ] || fail "the run exited 0 after an error"
else
  [ "$status" -eq "$failed" ] || fail "exit status $status, not $failed"
fi
echo "$checker $mode: reported ($*)"
