# SPDX-License-Identifier: MIT
# Checks that a translation unit holding only corio's umbrella header (and <corio/tls.hpp>
# where TLS=ON) compiles at -O0 to no coroutine code: g++ emits the .actor/.destroy clones of
# every inline non-template coroutine in each TU that includes it, used or not (see
# CONTRIBUTING.md, "Coroutines in headers").
# Run: cmake -DCXX=<compiler> -DCXX_FLAGS=<flags> -DINCLUDE=<include dir> -DNM=<nm> -DTLS=ON|OFF
#      -DWORK_DIR=<scratch dir> -P tests/unused_coroutines.cmake
if(NOT NM)
  message(FATAL_ERROR "no nm (CMAKE_NM is empty); install binutils")
endif()
file(MAKE_DIRECTORY "${WORK_DIR}")
set(source "${WORK_DIR}/only_headers.cpp")
set(text "#include <corio/corio.hpp>\n")
if(TLS)
  string(APPEND text "#include <corio/tls.hpp>\n")
endif()
file(WRITE "${source}" "${text}")
separate_arguments(flags UNIX_COMMAND "${CXX_FLAGS}")
execute_process(COMMAND "${CXX}" -std=c++20 -O0 ${flags} "-I${INCLUDE}" -c "${source}"
                        -o "${WORK_DIR}/only_headers.o"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling a TU of only the headers failed")
endif()
execute_process(COMMAND "${NM}" -C "${WORK_DIR}/only_headers.o" OUTPUT_VARIABLE symbols
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on the object")
endif()
string(REGEX MATCHALL "[^\n]*clone \\.(actor|destroy)[^\n]*" clones "${symbols}")
file(SIZE "${WORK_DIR}/only_headers.o" size)
message(STATUS "a TU of only the headers: ${size} bytes of object at -O0")
if(clones)
  list(JOIN clones "\n" listing)
  message(FATAL_ERROR "a TU that only includes corio's headers contains coroutine code; declare "
                      "these coroutines (and inline functions that call them) template <class = void> "
                      "(CONTRIBUTING.md, \"Coroutines in headers\"):\n${listing}")
endif()
