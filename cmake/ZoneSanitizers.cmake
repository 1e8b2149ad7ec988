# Sanitizer builds, chosen with ZONE_SANITIZE:
#   address  AddressSanitizer + UndefinedBehaviorSanitizer, any report is fatal
#   thread   ThreadSanitizer, for the threaded tests
# They apply to every target of the build (flags go in before any target is
# defined). A sanitizer owns the process's memory view, so valgrind
# annotations are forced off and memcheck tests are not registered
# (tests check ZONE_SANITIZE and the `memcheck` label is excluded).
include_guard(GLOBAL)

set(ZONE_SANITIZE "" CACHE STRING "Sanitizer build: empty, address (ASan+UBSan) or thread (TSan)")
set_property(CACHE ZONE_SANITIZE PROPERTY STRINGS "" address thread)

if(ZONE_SANITIZE STREQUAL "address")
  # -fno-sanitize-recover: UBSan findings abort like ASan's instead of printing
  # and carrying on, so ctest sees them as failures.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
elseif(ZONE_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT ZONE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "ZONE_SANITIZE must be empty, address or thread, not '${ZONE_SANITIZE}'")
endif()

if(NOT ZONE_SANITIZE STREQUAL "" AND ZONE_VALGRIND)
  # Sanitizers and valgrind don't mix: valgrind can't run a sanitized binary.
  message(STATUS "ZONE_SANITIZE=${ZONE_SANITIZE}: ZONE_VALGRIND forced off")
  set(ZONE_VALGRIND OFF CACHE BOOL "Annotate blocks for valgrind memcheck (a no-op natively)" FORCE)
endif()
