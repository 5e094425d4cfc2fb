# SPDX-License-Identifier: MIT
# Drives one consumer test: builds tests/consumer/<HOW>/main.cpp against corio the way a
# user would, then runs it. Invoked by CTest as `cmake -D... -P run_consumer.cmake`.
#
#   HOW               install | find_package | find_package_tls | add_subdirectory |
#                     pkg_config
#   CORIO_SOURCE_DIR  corio's source tree
#   CORIO_BINARY_DIR  the build tree whose install rules are tested
#   WORK_DIR          scratch directory for this consumer test; WORK_DIR/../prefix is the
#                     install prefix that "install" fills and the others read
#   CXX, GENERATOR, MAKE_PROGRAM   the toolchain of the enclosing build, reused as is
cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS HOW CORIO_SOURCE_DIR CORIO_BINARY_DIR WORK_DIR CXX GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

get_filename_component(prefix "${WORK_DIR}/../prefix" ABSOLUTE)
set(consumer_dir "${CORIO_SOURCE_DIR}/tests/consumer/${HOW}")
set(build_dir "${WORK_DIR}/build")

# Runs a command, echoing it first, and stops the test if it fails.
function(run)
  list(JOIN ARGN " " line)
  message(STATUS "$ ${line}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc TIMEOUT 600)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer.${HOW}: command failed (${rc}): ${line}")
  endif()
endfunction()

# Configures and builds a consumer project in a fresh build directory.
function(build_project source_dir)
  set(generator_args -G "${GENERATOR}")
  if(MAKE_PROGRAM)
    list(APPEND generator_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  run(${CMAKE_COMMAND} --fresh -S "${source_dir}" -B "${build_dir}" ${generator_args}
      "-DCMAKE_CXX_COMPILER=${CXX}" ${ARGN})
  run(${CMAKE_COMMAND} --build "${build_dir}")
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

if(HOW STREQUAL "install")
  # The fixture the find_package and pkg_config tests share: a fresh install prefix.
  file(REMOVE_RECURSE "${prefix}")
  run(${CMAKE_COMMAND} --install "${CORIO_BINARY_DIR}" --prefix "${prefix}")
  foreach(file IN ITEMS include/corio/corio.hpp share/cmake/corio/corioConfig.cmake
                        share/cmake/corio/corioConfigVersion.cmake share/pkgconfig/corio.pc)
    if(NOT EXISTS "${prefix}/${file}")
      message(FATAL_ERROR "consumer.install: ${prefix}/${file} was not installed")
    endif()
  endforeach()
  return()
endif()

if(HOW STREQUAL "find_package" OR HOW STREQUAL "find_package_tls")
  build_project("${consumer_dir}" "-DCMAKE_PREFIX_PATH=${prefix}"
                -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
                -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
  # It must have found our install, not some other corio on the machine.
  file(STRINGS "${build_dir}/CMakeCache.txt" corio_dir REGEX "^corio_DIR:")
  string(REGEX REPLACE "^corio_DIR:[A-Z]+=" "" corio_dir "${corio_dir}")
  file(REAL_PATH "${corio_dir}" corio_dir)
  file(REAL_PATH "${prefix}/share/cmake/corio" expected_dir)
  if(NOT corio_dir STREQUAL expected_dir)
    message(FATAL_ERROR "consumer.${HOW}: found corio in ${corio_dir}, not in ${expected_dir}")
  endif()
  set(program "${build_dir}/consumer")
  # corio::corio must not bring OpenSSL in; corio::tls must.
  find_program(readelf NAMES readelf)
  if(readelf)
    execute_process(COMMAND "${readelf}" -d "${program}" OUTPUT_VARIABLE dynamic)
    string(FIND "${dynamic}" "libssl" libssl_at)
    if(HOW STREQUAL "find_package" AND NOT libssl_at EQUAL -1)
      message(FATAL_ERROR "consumer.find_package: linking corio::corio brought in libssl")
    elseif(HOW STREQUAL "find_package_tls" AND libssl_at EQUAL -1)
      message(FATAL_ERROR "consumer.find_package_tls: corio::tls did not link libssl")
    endif()
  endif()
elseif(HOW STREQUAL "add_subdirectory")
  build_project("${consumer_dir}" "-DCORIO_SOURCE_DIR=${CORIO_SOURCE_DIR}")
  set(program "${build_dir}/consumer")
elseif(HOW STREQUAL "pkg_config")
  find_program(pkg_config NAMES pkg-config REQUIRED)
  set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
  message(STATUS "$ PKG_CONFIG_PATH=$ENV{PKG_CONFIG_PATH} ${pkg_config} --cflags --libs corio")
  execute_process(COMMAND "${pkg_config}" --cflags --libs corio
                  OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer.pkg_config: pkg-config does not know corio")
  endif()
  message(STATUS "  ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  # The -I must point into our prefix, wherever the prefix was moved after configuring.
  set(include_ok FALSE)
  file(REAL_PATH "${prefix}/include" expected_include)
  foreach(flag IN LISTS flags)
    if(flag MATCHES "^-I(.+)$")
      file(REAL_PATH "${CMAKE_MATCH_1}" include)
      if(include STREQUAL expected_include)
        set(include_ok TRUE)
      endif()
    endif()
  endforeach()
  if(NOT include_ok)
    message(FATAL_ERROR "consumer.pkg_config: no -I${expected_include} in the flags")
  endif()
  set(program "${WORK_DIR}/consumer")
  run("${CXX}" -std=c++20 "${consumer_dir}/main.cpp" ${flags} -o "${program}")
else()
  message(FATAL_ERROR "run_consumer.cmake: unknown HOW=${HOW}")
endif()

message(STATUS "$ ${program}")
execute_process(COMMAND "${program}" RESULT_VARIABLE rc TIMEOUT 60)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer.${HOW}: the program built against corio exited with ${rc}")
endif()
message(STATUS "consumer.${HOW}: built and ran")
