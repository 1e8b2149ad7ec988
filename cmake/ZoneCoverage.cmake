# Line coverage with gcov: ZONE_COVERAGE=ON compiles and links everything with
# --coverage at -O0 (optimised code folds lines together and the figure means
# less). gcovr then reads the .gcda files the test runs leave in the build tree;
# .ci/steps/70-coverage.sh reports lib/ and fails under 90%.
#
# Included from the top-level CMakeLists.txt after project(); the CI step can
# also inject it with -DCMAKE_PROJECT_zone_INCLUDE=cmake/ZoneCoverage.cmake, so
# it must tolerate being included twice.
include_guard(GLOBAL)

option(ZONE_COVERAGE "Build with gcov coverage instrumentation (--coverage -O0)" OFF)

if(ZONE_COVERAGE)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "ZONE_COVERAGE needs gcc or clang")
  endif()
  if(DEFINED ZONE_SANITIZE AND NOT ZONE_SANITIZE STREQUAL "")
    message(FATAL_ERROR "ZONE_COVERAGE and ZONE_SANITIZE don't go together: measure coverage on a plain build")
  endif()
  # After CMAKE_C_FLAGS_<CONFIG> on the command line, so -O0 wins over -O2.
  # Atomic counter updates: the threaded tests otherwise race on them and
  # gcov reads back negative counts.
  add_compile_options(--coverage -O0 -fprofile-update=atomic)
  add_link_options(--coverage)
endif()
