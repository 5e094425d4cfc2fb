# SPDX-License-Identifier: MIT
# Compiles each snippet in this directory twice with -fsyntax-only: with -DCORIO_FIXED it must
# compile (so the snippet is sound), without it must fail with exactly one error whose output
# holds the snippet's "// expect: ..." text and stays short: a misuse of corio's API gets one
# static_assert line, not a list of candidates or a backtrace into the standard library.
# Run: cmake -DCXX=<compiler> -DCXX_FLAGS=<flags> -DINCLUDE=<include dir> -DSNIPPETS=<dir>
#      -P tests/compile_fail/check.cmake
set(max_lines 40)
separate_arguments(flags UNIX_COMMAND "${CXX_FLAGS}")
file(GLOB snippets "${SNIPPETS}/*.cpp")
list(SORT snippets)
set(failures "")
foreach(snippet IN LISTS snippets)
  get_filename_component(name "${snippet}" NAME)
  file(STRINGS "${snippet}" expect_line REGEX "^// expect: " LIMIT_COUNT 1)
  string(REGEX REPLACE "^// expect: " "" expected "${expect_line}")
  if(expected STREQUAL "")
    string(APPEND failures "${name}: no \"// expect: \" line\n")
    continue()
  endif()
  set(command "${CXX}" -std=c++20 ${flags} -fsyntax-only "-I${INCLUDE}" "${snippet}")
  execute_process(COMMAND ${command} -DCORIO_FIXED RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(APPEND failures "${name}: the fixed snippet does not compile:\n${out}\n")
    continue()
  endif()
  execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(REGEX MATCHALL "error:" errors "${out}")
  list(LENGTH errors error_count)
  string(REGEX MATCHALL "\n" newlines "${out}")
  list(LENGTH newlines line_count)
  string(FIND "${out}" "${expected}" at)
  if(rc EQUAL 0)
    string(APPEND failures "${name}: compiled, but must not\n")
  elseif(at EQUAL -1)
    string(APPEND failures "${name}: the output lacks \"${expected}\":\n${out}\n")
  elseif(NOT error_count EQUAL 1 OR line_count GREATER max_lines)
    string(APPEND failures "${name}: ${error_count} errors in ${line_count} lines (want 1 error, "
                           "at most ${max_lines} lines):\n${out}\n")
  else()
    message(STATUS "${name}: one error, ${line_count} lines, says \"${expected}\"")
  endif()
endforeach()
if(NOT failures STREQUAL "")
  message(FATAL_ERROR "${failures}")
endif()
