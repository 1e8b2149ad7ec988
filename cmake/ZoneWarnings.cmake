# Compiler warnings applied per target; ZONE_WERROR turns them into errors.
function(zone_target_warnings target)
  if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow
      -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla
      $<$<BOOL:${ZONE_WERROR}>:-Werror>)
  endif()
endfunction()
