# SPDX-License-Identifier: MIT
# Drives one consumer test: builds tests/consumer/main.cpp (or another user's project in
# tests/consumer/<HOW>) against corio the way a user would, with strict warnings in the
# user's own target, then runs it. Invoked by CTest as `cmake -D... -P run_consumer.cmake`.
#
#   HOW               install | find_package | find_package_tls | add_subdirectory |
#                     fetch_content | pkg_config | include_path | install_export |
#                     without_test_deps
#   CORIO_SOURCE_DIR  corio's source tree
#   CORIO_BINARY_DIR  the build tree whose install rules are tested
#   WORK_DIR          scratch directory for this consumer test; WORK_DIR/../prefix is the
#                     install prefix that "install" fills and find_package and pkg_config read
#   CXX, CXX_FLAGS, GENERATOR, MAKE_PROGRAM   the toolchain of the enclosing build, reused as
#                     is (CXX_FLAGS carries, for instance, -stdlib=libc++)
cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS HOW CORIO_SOURCE_DIR CORIO_BINARY_DIR WORK_DIR CXX GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

# What a user with a strict project puts on their own target.
set(strict_flags -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Werror)
separate_arguments(toolchain_flags UNIX_COMMAND "${CXX_FLAGS}")
list(JOIN strict_flags " " strict_flags_string)
set(project_cxx_flags "${CXX_FLAGS} ${strict_flags_string}")

get_filename_component(prefix "${WORK_DIR}/../prefix" ABSOLUTE)
set(consumer_dir "${CORIO_SOURCE_DIR}/tests/consumer")
set(build_dir "${WORK_DIR}/build")
set(generator_args -G "${GENERATOR}")
if(MAKE_PROGRAM)
  list(APPEND generator_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()

# Runs a command, echoing it first, and stops the test if it fails.
function(run)
  list(JOIN ARGN " " line)
  message(STATUS "$ ${line}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc TIMEOUT 600)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer.${HOW}: command failed (${rc}): ${line}")
  endif()
endfunction()

# Runs a command that must fail, and checks that its output contains `expected`.
function(run_expecting_failure expected)
  list(JOIN ARGN " " line)
  message(STATUS "$ ${line}   (must fail, saying '${expected}')")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out
                  TIMEOUT 600)
  if(rc EQUAL 0)
    message(FATAL_ERROR "consumer.${HOW}: succeeded but must fail: ${line}\n${out}")
  endif()
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "consumer.${HOW}: failed without saying '${expected}': ${line}\n${out}")
  endif()
endfunction()

# Configures a CMake project in `dir` (fresh), printing the output into `output_var`.
function(configure_project source_dir dir output_var)
  list(JOIN ARGN " " extra)
  message(STATUS "$ cmake -S ${source_dir} -B ${dir} ${extra}")
  execute_process(COMMAND ${CMAKE_COMMAND} --fresh -S "${source_dir}" -B "${dir}" ${generator_args}
                          "-DCMAKE_CXX_COMPILER=${CXX}" ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 600)
  message("${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer.${HOW}: configuring ${source_dir} failed (${rc})")
  endif()
  set(${output_var} "${out}" PARENT_SCOPE)
endfunction()

# Configures and builds a user's project, whose own targets get the strict flags.
function(build_project source_dir)
  configure_project("${source_dir}" "${build_dir}" out "-DCMAKE_CXX_FLAGS=${project_cxx_flags}"
                    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
                    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF ${ARGN})
  run(${CMAKE_COMMAND} --build "${build_dir}")
endfunction()

# Fails unless `file` exists under `dir`.
function(require_installed dir)
  foreach(file IN LISTS ARGN)
    if(NOT EXISTS "${dir}/${file}")
      message(FATAL_ERROR "consumer.${HOW}: ${dir}/${file} was not installed")
    endif()
  endforeach()
endfunction()
set(corio_installed_files include/corio/corio.hpp share/cmake/corio/corioConfig.cmake
    share/cmake/corio/corioConfigVersion.cmake share/cmake/corio/corioTargets.cmake
    share/pkgconfig/corio.pc)

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(program "${build_dir}/consumer")

if(HOW STREQUAL "install")
  # The fixture the find_package and pkg_config tests share: a fresh install prefix.
  file(REMOVE_RECURSE "${prefix}")
  run(${CMAKE_COMMAND} --install "${CORIO_BINARY_DIR}" --prefix "${prefix}")
  require_installed("${prefix}" ${corio_installed_files})
  return()
elseif(HOW STREQUAL "find_package" OR HOW STREQUAL "find_package_tls")
  build_project("${consumer_dir}/${HOW}" "-DCMAKE_PREFIX_PATH=${prefix}")
  # It must have found our install, not some other corio on the machine.
  file(STRINGS "${build_dir}/CMakeCache.txt" corio_dir REGEX "^corio_DIR:")
  string(REGEX REPLACE "^corio_DIR:[A-Z]+=" "" corio_dir "${corio_dir}")
  file(REAL_PATH "${corio_dir}" corio_dir)
  file(REAL_PATH "${prefix}/share/cmake/corio" expected_dir)
  if(NOT corio_dir STREQUAL expected_dir)
    message(FATAL_ERROR "consumer.${HOW}: found corio in ${corio_dir}, not in ${expected_dir}")
  endif()
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
  build_project("${consumer_dir}/add_subdirectory" "-DCORIO_SOURCE_DIR=${CORIO_SOURCE_DIR}")
elseif(HOW STREQUAL "fetch_content")
  # A source archive as a release would ship it: the files a consumer's build reads.
  set(archive "${WORK_DIR}/corio-src.tar.gz")
  execute_process(COMMAND ${CMAKE_COMMAND} -E tar czf "${archive}" CMakeLists.txt LICENSE cmake
                          include
                  WORKING_DIRECTORY "${CORIO_SOURCE_DIR}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer.fetch_content: could not pack ${CORIO_SOURCE_DIR}")
  endif()
  build_project("${consumer_dir}/fetch_content" "-DCORIO_ARCHIVE=${archive}")
elseif(HOW STREQUAL "pkg_config" OR HOW STREQUAL "include_path")
  if(HOW STREQUAL "pkg_config")
    # An install in a prefix pkg-config does not search by itself, found via PKG_CONFIG_PATH.
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
  else()
    set(flags "-I${CORIO_SOURCE_DIR}/include" -luring -pthread)
  endif()
  set(program "${WORK_DIR}/consumer")
  run("${CXX}" -std=c++20 ${toolchain_flags} ${strict_flags} "${consumer_dir}/main.cpp" ${flags}
      -o "${program}")
elseif(HOW STREQUAL "install_export")
  # A library on top of corio installs itself and corio into one prefix; an application
  # then finds the library, which finds corio.
  set(export_prefix "${WORK_DIR}/prefix")
  build_project("${consumer_dir}/install_export/greeter" "-DCORIO_SOURCE_DIR=${CORIO_SOURCE_DIR}")
  run(${CMAKE_COMMAND} --install "${build_dir}" --prefix "${export_prefix}")
  require_installed("${export_prefix}" ${corio_installed_files} include/greeter.hpp
                    share/cmake/greeter/greeterTargets.cmake)
  set(build_dir "${WORK_DIR}/app")
  build_project("${consumer_dir}/install_export/app" "-DCMAKE_PREFIX_PATH=${export_prefix}")
  set(program "${build_dir}/consumer")
elseif(HOW STREQUAL "without_test_deps")
  # A machine without the dependencies of the tests, examples and benchmarks, simulated by
  # hiding their CMake packages: configuring and installing still work, and each part that is
  # skipped says so in one line.
  set(hide -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON
           -DCMAKE_DISABLE_FIND_PACKAGE_CURL=ON -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON)
  configure_project("${CORIO_SOURCE_DIR}" "${build_dir}" out ${hide})
  foreach(expected IN ITEMS "Catch2 not found, so the tests are skipped"
                            "benchmark not found, so the benchmarks are skipped"
                            "libcurl or nlohmann-json not found")
    string(FIND "${out}" "${expected}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "consumer.without_test_deps: the configure output lacks '${expected}'")
    endif()
  endforeach()
  set(clean_prefix "${WORK_DIR}/prefix")
  run(${CMAKE_COMMAND} --install "${build_dir}" --prefix "${clean_prefix}")
  require_installed("${clean_prefix}" ${corio_installed_files})
  # Asked for explicitly, the tests need Catch2, and say so.
  run_expecting_failure("Catch2" ${CMAKE_COMMAND} --fresh -S "${CORIO_SOURCE_DIR}"
                        -B "${WORK_DIR}/explicit" ${generator_args} "-DCMAKE_CXX_COMPILER=${CXX}"
                        ${hide} -DCORIO_BUILD_TESTS=ON)
  # find_package(corio QUIET) without liburing: corio_FOUND false, and REQUIRED says why.
  file(MAKE_DIRECTORY "${WORK_DIR}/no-pkgconfig")
  set(ENV{PKG_CONFIG_LIBDIR} "${WORK_DIR}/no-pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
  configure_project("${consumer_dir}/quiet" "${WORK_DIR}/quiet" out
                    "-DCMAKE_PREFIX_PATH=${clean_prefix}")
  run_expecting_failure("liburing" ${CMAKE_COMMAND} --fresh -S "${consumer_dir}/find_package"
                        -B "${WORK_DIR}/required" ${generator_args} "-DCMAKE_CXX_COMPILER=${CXX}"
                        "-DCMAKE_PREFIX_PATH=${clean_prefix}")
  message(STATUS "consumer.${HOW}: configured, installed and failed as it should")
  return()
else()
  message(FATAL_ERROR "run_consumer.cmake: unknown HOW=${HOW}")
endif()

message(STATUS "$ ${program}")
execute_process(COMMAND "${program}" RESULT_VARIABLE rc TIMEOUT 60)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer.${HOW}: the program built against corio exited with ${rc}")
endif()
message(STATUS "consumer.${HOW}: built and ran")
