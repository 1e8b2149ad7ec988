#!/usr/bin/env bash
# Line coverage of lib/ by the unit tests: a ZONE_COVERAGE build (gcov,
# -O0) in build-cov, the unit tests (not shim, not memcheck) and the heap
# checker tests (checker.c runs only under memcheck or ASan: the checkers
# label and the zone.valgrind.* cases), then gcovr's
# figure for lib/; fails under 90%. The HTML report lands in
# build-cov/coverage/index.html. ZoneCoverage.cmake is injected with
# CMAKE_PROJECT_zone_INCLUDE, so this works whether or not the top-level
# CMakeLists.txt includes it (the module is include-guarded). About 2 minutes.
set -euo pipefail
export ZONE_SOAK_SECONDS=${ZONE_SOAK_SECONDS:-2}

cmake -S . -B build-cov -DCMAKE_PROJECT_zone_INCLUDE="$PWD/cmake/ZoneCoverage.cmake" \
  -DZONE_COVERAGE=ON -DZONE_BUILD_BENCH=OFF -DZONE_WERROR=ON >/dev/null
cmake --build build-cov -j2 >/dev/null
find build-cov -name '*.gcda' -delete
# Quiet when the tests pass; on a failure, every line but the passes.
quiet_ctest() {
  local log=build-cov/ctest.log
  if ! ctest --test-dir build-cov --output-on-failure -j2 "$@" >"$log" 2>&1; then
    grep -v -E 'Test +#[0-9]+: .* Passed|^ +Start +[0-9]+:' "$log"
    return 1
  fi
}
# The checkers first: at exit a covered program adds its counts to those
# its .gcda files hold, and after the unit tests some counts are large
# enough to look, to memcheck's leak scan, like pointers into a lost block
# (a counter of zone__reach_check read as a pointer 4723 bytes into the zone
# that leak_zone loses, which then showed as "possibly lost" rather than
# "definitely lost"). Fresh, the counts stay small.
quiet_ctest -L checkers
quiet_ctest -L unit -LE 'shim|memcheck'
quiet_ctest -R '^zone\.valgrind\.'

mkdir -p build-cov/coverage
gcovr --root . --filter 'lib/' --html-details build-cov/coverage/index.html build-cov
gcovr --root . --filter 'lib/' --print-summary --fail-under-line 90 build-cov
