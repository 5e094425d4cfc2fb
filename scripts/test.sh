#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/test.sh: build corio in every configuration CI checks and run all of its tests.
#
# Usage: scripts/test.sh [--quick] [--no-sanitizers] [--no-fuzz]
#   --quick          g++ Debug only: build, header self-containment check, ctest
#   --no-sanitizers  skip the asan and tsan configurations
#   --no-fuzz        skip the libFuzzer run
#
# Configurations, each in its own build directory (kept between runs, so a second run
# rebuilds only what changed):
#   build/gcc    g++ Debug: every test, consumer test and example; the benchmarks are built
#                (not run); all_verify_interface_header_sets checks header self-containment
#   build/clang  clang++ Debug: every test and example
#   build/libcxx clang++-19 Debug with libc++ 19: header self-containment, the examples and
#                the consumer, seccomp and README tests (not the Catch2 binary: Debian's
#                Catch2 is built for libstdc++ and does not link with libc++)
#   build/libcxx14  clang++-14 with libc++ 14 (unpacked by install-deps.sh into
#                build/libcxx14): every header alone, and tests/consumer/main.cpp built
#                with strict warnings and run
#   build/release-check  g++ Release (NDEBUG, -O3), as demo.sh and bench.sh build: every test,
#                example and benchmark builds, and the tests and examples pass
#   build/asan   clang++ Debug, -fsanitize=address,undefined: every test and example
#   build/tsan   clang++ Debug, -fsanitize=thread: the Catch2 tests tagged [threads]
#   build/fuzz   clang++ with libFuzzer: corio_fuzz_http for CORIO_FUZZ_SECONDS, if it exists
#   build/docs   the Doxygen API reference (scripts/docs.sh), which must build without a warning
# Keep the flags here in step with CMakePresets.json.
#
# Environment:
#   CORIO_REQUIRE_IO_URING=1  tests fail, instead of skipping, when io_uring is unavailable
#                             (CI sets it; read when CMake configures and when tests run)
#   CORIO_FUZZ_SECONDS        length of the libFuzzer run (default 60)
#   CORIO_JOBS                build and ctest parallelism (default: number of CPUs)
#   and those of scripts/install-deps.sh (CORIO_SKIP_INSTALL, CORIO_ALLOW_NO_IO_URING).
#
# Exits non-zero if any stage fails. Every stage runs even after a failure (those that
# need a failed build are skipped), and the output ends with the ctest summary of the main
# run (build/gcc).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=0
sanitizers=1
fuzz=1
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --no-sanitizers) sanitizers=0 ;;
    --no-fuzz) fuzz=0 ;;
    -h | --help)
      sed -n '3,36p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "test.sh: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

jobs="${CORIO_JOBS:-$(nproc)}"
fuzz_seconds="${CORIO_FUZZ_SECONDS:-60}"

# --- Stage bookkeeping ---------------------------------------------------------------

failed=()
summary=()

# Runs one stage (a single command or function), times it, and records the outcome.
# Returns the command's status, so that stages that need it can be chained with &&.
stage() {
  local name="$1" start=$SECONDS rc=0
  shift
  printf '\n==> %s\n' "$name"
  "$@" || rc=$?
  if ((rc == 0)); then
    summary+=("$(printf '  %-34s %-8s %5ss' "$name" ok $((SECONDS - start)))")
  else
    summary+=("$(printf '  %-34s %-8s %5ss' "$name" "FAILED" $((SECONDS - start)))")
    failed+=("$name")
  fi
  return "$rc"
}

skip() { # name reason
  printf '\n==> %s: skipped (%s)\n' "$1" "$2"
  summary+=("$(printf '  %-34s %s' "$1" "skipped: $2")")
}

configure() { # build-dir compiler build-type [cmake args...]
  local dir="$1" compiler="$2" type="$3"
  shift 3
  # CORIO_BUILD_TESTS=ON: a missing test dependency is an error here, never a silent skip.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER="$(command -v "$compiler")" \
    -DCMAKE_BUILD_TYPE="$type" -DCORIO_BUILD_TESTS=ON "$@"
}

build() { # build-dir [cmake --build args...]
  local dir="$1"
  shift
  cmake --build "$dir" --parallel "$jobs" "$@"
}

run_ctest() { # build-dir [ctest args...]
  local dir="$1"
  shift
  ctest --test-dir "$dir" --output-on-failure --timeout 300 -j "$jobs" --no-tests=error "$@"
}

run_ctest_sanitized() { # build-dir [ctest args...]
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1" \
    run_ctest "$@"
}

# ctest -L cannot select Catch2 tags (catch_discover_tests adds no labels), so run the
# test binary itself with Catch2's tag filter.
run_threads_tests_under_tsan() {
  TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}halt_on_error=1" \
    build/tsan/tests/corio_tests "[threads]" --allow-running-no-tests
}

# The consumer tests build their program without our sanitizer or -O3 flags, so the g++,
# clang and libc++ builds run them and the release and asan builds skip them.
not_consumer=(--label-exclude consumer)

# The oldest libc++ corio supports, from the packages install-deps.sh unpacks: each header
# compiled alone, and the consumer program built with a user's strict warnings and run.
libcxx14=build/libcxx14/usr/lib/llvm-14
check_libcxx14() {
  local work=build/libcxx14-check rc=0 header
  local flags=(-std=c++20 -nostdinc++ -isystem "$libcxx14/include/c++/v1" -Iinclude -Wall -Wextra
    -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Werror)
  mkdir -p "$work"
  for header in $(sed -n '/corio-headers-begin/,/corio-headers-end/p' CMakeLists.txt \
    | grep -o 'include/corio/[a-z_/]*\.hpp'); do
    printf '#include <%s>\n' "${header#include/}" >"$work/header.cpp"
    clang++-14 "${flags[@]}" -fsyntax-only "$work/header.cpp" || {
      echo "libc++ 14: ${header} does not compile on its own"
      rc=1
    }
  done
  clang++-14 "${flags[@]}" -stdlib=libc++ tests/consumer/main.cpp -o "$work/consumer" \
    -L"$libcxx14/lib" -Wl,-rpath,"$PWD/$libcxx14/lib" -luring -pthread \
    && "$work/consumer" || rc=1
  return "$rc"
}

ctest_log=build/gcc/ctest.log
run_main_ctest() { run_ctest build/gcc 2>&1 | tee "$ctest_log"; }

has_target() { # build-dir target
  # Not grep -q: it would stop reading early, and ninja's SIGPIPE would fail the pipe.
  ninja -C "$1" -t targets all 2>/dev/null | grep "^$2:" >/dev/null
}

# Fuzzes for fuzz_seconds; the corpus grows in build/fuzz/corpus across runs, seeded
# from tests/fuzz/corpus when that exists. A crash fails the stage, and its input is
# kept in build/fuzz/artifacts/.
run_fuzzer() {
  local binary log=build/fuzz/fuzz.log rc=0
  binary="$(find build/fuzz -name corio_fuzz_http -type f -perm -u+x | head -n 1)"
  [[ -n "$binary" ]] || { echo "corio_fuzz_http was built but cannot be found" && return 1; }
  local corpora=(build/fuzz/corpus)
  [[ -d tests/fuzz/corpus ]] && corpora+=(tests/fuzz/corpus)
  mkdir -p build/fuzz/corpus build/fuzz/artifacts
  echo "$binary -max_total_time=$fuzz_seconds ${corpora[*]} (log: $log)"
  "$binary" -max_total_time="$fuzz_seconds" -timeout=25 -print_final_stats=1 \
    -artifact_prefix=build/fuzz/artifacts/ "${corpora[@]}" >"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    tail -n 60 "$log"
    echo "corio_fuzz_http failed (exit $rc); the input is in build/fuzz/artifacts/"
  else
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || tail -n 3 "$log"
  fi
  return "$rc"
}

# What a CMake Debug consumer gets: g++ -O0 with no sibling-call optimisation (no tail
# calls). The deep-await tests (a loop of a million awaits of tasks that finish at once,
# a chain of a million nested awaits) must pass there too, on the default 8 MB stack.
run_deep_await_o0() {
  mkdir -p build/gcc-O0
  # shellcheck disable=SC2046 # pkg-config prints several words
  g++ -std=c++20 -O0 -g -fno-optimize-sibling-calls -Iinclude -Itests tests/task_test.cpp \
    -o build/gcc-O0/task_test $(pkg-config --libs catch2-with-main) -luring -pthread \
    && (ulimit -s 8192 && build/gcc-O0/task_test "[stack]")
}

# --- Stages --------------------------------------------------------------------------

echo "test.sh: CORIO_REQUIRE_IO_URING=${CORIO_REQUIRE_IO_URING:-<unset>}, $jobs jobs"
stage "install dependencies" ./scripts/install-deps.sh || exit 1

# Every C++ file is formatted with the repository's .clang-format (CONTRIBUTING.md).
check_format() {
  git ls-files -z '*.hpp' '*.cpp' '*.c' | xargs -0 clang-format --dry-run --Werror
}
if git rev-parse --git-dir >/dev/null 2>&1; then
  stage "clang-format" check_format || true
else
  skip "clang-format" "not a git checkout"
fi

stage "docs: doxygen, no warnings" ./scripts/docs.sh || true

gcc_built=0
if stage "gcc: configure" configure build/gcc g++ Debug -DCORIO_BUILD_BENCH=ON \
  && stage "gcc: build" build build/gcc; then
  gcc_built=1
  stage "gcc: header self-containment" build build/gcc --target all_verify_interface_header_sets \
    || true
fi
stage "gcc -O0: deep-await tests" run_deep_await_o0 || true

if ((!quick)); then
  if stage "clang: configure" configure build/clang clang++ Debug -DCORIO_BUILD_BENCH=OFF \
    && stage "clang: build" build build/clang; then
    stage "clang: ctest" run_ctest build/clang || true
  fi

  # A second standard library catches what libstdc++ lets through.
  if stage "libc++: configure" configure build/libcxx clang++-19 Debug -DCORIO_BUILD_BENCH=OFF \
    -DCORIO_CATCH2_TESTS=OFF -DCMAKE_CXX_FLAGS=-stdlib=libc++ \
    && stage "libc++: build" build build/libcxx; then
    stage "libc++: header self-containment" build build/libcxx \
      --target all_verify_interface_header_sets || true
    stage "libc++: ctest" run_ctest build/libcxx || true
  fi

  if [[ -r "$libcxx14/include/c++/v1/__config" ]]; then
    stage "libc++ 14: headers and consumer" check_libcxx14 || true
  else
    skip "libc++ 14: headers and consumer" "install-deps.sh could not unpack libc++ 14"
  fi

  # What ./scripts/demo.sh and ./scripts/bench.sh build: g++ -O3 with NDEBUG finds
  # warnings (hence -Werror failures) and paths that the Debug builds do not.
  if stage "release: configure" configure build/release-check g++ Release -DCORIO_BUILD_BENCH=ON \
    && stage "release: build" build build/release-check; then
    stage "release: ctest" run_ctest build/release-check "${not_consumer[@]}" || true
  fi

  if ((sanitizers)); then
    if stage "asan: configure" configure build/asan clang++ Debug -DCORIO_BUILD_BENCH=OFF \
      -DCORIO_SANITIZE=address,undefined \
      && stage "asan: build" build build/asan; then
      stage "asan: ctest" run_ctest_sanitized build/asan "${not_consumer[@]}" || true
    fi

    if stage "tsan: configure" configure build/tsan clang++ Debug -DCORIO_BUILD_BENCH=OFF \
      -DCORIO_BUILD_EXAMPLES=OFF -DCORIO_SANITIZE=thread \
      && stage "tsan: build" build build/tsan --target corio_tests; then
      stage "tsan: [threads] tests" run_threads_tests_under_tsan || true
    fi
  else
    skip "asan, tsan" "--no-sanitizers"
  fi

  if ((fuzz)); then
    if stage "fuzz: configure" configure build/fuzz clang++ RelWithDebInfo -DCORIO_BUILD_FUZZ=ON \
      -DCORIO_BUILD_BENCH=OFF -DCORIO_BUILD_EXAMPLES=OFF -DCORIO_SANITIZE=address,undefined; then
      if has_target build/fuzz corio_fuzz_http; then
        if stage "fuzz: build" build build/fuzz --target corio_fuzz_http; then
          stage "fuzz: ${fuzz_seconds}s of corio_fuzz_http" run_fuzzer || true
        fi
      else
        skip "fuzz: run" "no corio_fuzz_http target yet"
      fi
    fi
  else
    skip "fuzz" "--no-fuzz"
  fi
fi

# The main run goes last, so that its summary closes the output.
rm -f "$ctest_log"
if ((gcc_built)); then
  stage "gcc: ctest" run_main_ctest || true
else
  skip "gcc: ctest" "the gcc build failed"
fi

printf '\n==> Summary\n'
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  printf '\ntest.sh: FAILED: %s\n' "$(printf '%s; ' "${failed[@]}" | sed 's/; $//')"
else
  printf '\ntest.sh: every stage passed.\n'
fi

printf '\n==> ctest summary of the main run (build/gcc)\n'
if [[ -s "$ctest_log" ]] && grep -q 'tests passed' "$ctest_log"; then
  sed -n '/tests passed/,$p' "$ctest_log"
else
  echo "ctest did not run in build/gcc."
  exit 1
fi
((${#failed[@]} == 0))
