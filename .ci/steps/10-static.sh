#!/usr/bin/env bash
# Static analysis of lib/ and shim/, every finding an error:
#  - clang-tidy with the checked-in .clang-tidy, on the compile commands of a
#    clang configure of its own (build-static, CMAKE_EXPORT_COMPILE_COMMANDS);
#  - cppcheck (warning, style, performance, portability) with the suppressions
#    in .ci/cppcheck-suppressions.txt, at ZONE_DEBUG 0 and 3;
#  - the whole tree built with clang -Werror too (gcc -Werror is the README
#    build), so warnings of either compiler fail CI.
# About 2 minutes on 2 cores.
set -euo pipefail

# No libFuzzer target here: it compiles lib/*.c a second time with other
# flags, and clang-tidy would pick that entry of compile_commands.json (the
# fuzz step builds it with -Werror itself).
# ZONE_SINGLE_TU=OFF: each core file gets its own compile command (the
# default build compiles them as one, lib/static.c, which is left out here).
CC=clang cmake -S . -B build-static -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DZONE_WERROR=ON \
  -DZONE_BUILD_FUZZER=OFF -DZONE_SINGLE_TU=OFF >/dev/null
mapfile -t sources < <(ls lib/*.c shim/*.c 2>/dev/null | grep -v '^lib/static\.c$')
echo "static analysis of: ${sources[*]}"

echo "::: clang-tidy"
clang-tidy -p build-static --quiet "${sources[@]}" 2>/dev/null

echo "::: cppcheck"
for level in 0 3; do
  cppcheck --enable=warning,style,performance,portability --std=c11 --quiet \
    --inline-suppr --suppressions-list=.ci/cppcheck-suppressions.txt --error-exitcode=1 \
    -D_GNU_SOURCE -DZONE_DEBUG=$level -I include -I lib -I lib/ext -I shim "${sources[@]}"
done

echo "::: clang -Werror build"
cmake --build build-static -j2 >/dev/null
