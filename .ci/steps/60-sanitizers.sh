#!/usr/bin/env bash
# Sanitizer builds, no report allowed (every sanitizer halts on its first one):
#  - build-asan (ZONE_SANITIZE=address: ASan + UBSan, ZONE_PORTABLE: the core's
#    plain-C fallbacks instead of SSE2): every unit test. The
#    shim tests are left out (a second malloc under ASan's own is not a
#    supported setup) and so are the memcheck ones (valgrind can't run a
#    sanitized binary; ZONE_VALGRIND is forced off there anyway).
#  - build-tsan (ZONE_SANITIZE=thread): the threaded tests, zone.threads.*, zone.remote.*
#    and zone.soak.* (label threads).
# Benchmarks are not built. About 3 minutes on 2 cores.
set -euo pipefail
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
export ZONE_SOAK_SECONDS=${ZONE_SOAK_SECONDS:-5}

echo "::: ASan + UBSan"
cmake -S . -B build-asan -DZONE_SANITIZE=address -DZONE_WERROR=ON -DZONE_BUILD_BENCH=OFF \
  -DCMAKE_C_FLAGS=-DZONE_PORTABLE >/dev/null
cmake --build build-asan -j2 >/dev/null
ctest --test-dir build-asan -L unit -LE 'shim|memcheck' --output-on-failure -j2

echo "::: TSan"
cmake -S . -B build-tsan -DZONE_SANITIZE=thread -DZONE_WERROR=ON -DZONE_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j2 >/dev/null
ctest --test-dir build-tsan -R '^zone\.(threads|soak|remote)\.' -LE 'shim|memcheck' --output-on-failure -j2
