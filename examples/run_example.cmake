# Runs an example program and checks it: exit status 0, and every regular
# expression in the EXPECT file (one a line) matching a line of its output,
# in the file's order. Used as: cmake -DPROGRAM=... -DEXPECT=... -P this.
execute_process(COMMAND ${PROGRAM}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited with ${rc}")
endif()

file(STRINGS ${EXPECT} patterns)
string(REPLACE ";" "\\;" out "${out}")
string(REPLACE "\n" ";" lines "${out}")
set(at 0)
list(LENGTH lines nlines)
foreach(pattern IN LISTS patterns)
  set(found FALSE)
  while(at LESS nlines)
    list(GET lines ${at} line)
    math(EXPR at "${at} + 1")
    if(line MATCHES "${pattern}")
      set(found TRUE)
      break()
    endif()
  endwhile()
  if(NOT found)
    message(FATAL_ERROR "no output line (in order) matches: ${pattern}")
  endif()
endforeach()
