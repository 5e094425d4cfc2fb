// SPDX-License-Identifier: MIT
// corio/config.hpp: version numbers, platform checks and CORIO_ASSERT.
#pragma once

#define CORIO_VERSION_MAJOR 0
#define CORIO_VERSION_MINOR 1
#define CORIO_VERSION_PATCH 0
#define CORIO_VERSION \
  (CORIO_VERSION_MAJOR * 10000 + CORIO_VERSION_MINOR * 100 + CORIO_VERSION_PATCH)

#if !defined(__linux__)
#  error "corio needs Linux: it is built on io_uring."
#endif
#if !__has_include(<liburing.h>)
#  error "corio needs liburing >= 2.3 (Debian/Ubuntu: apt-get install liburing-dev)."
#endif
#if __cplusplus < 202002L
#  error "corio needs C++20 (-std=c++20): it is built on coroutines."
#endif
#if !defined(__cpp_exceptions)
#  error "corio needs exceptions: it reports errors by throwing (remove -fno-exceptions)."
#endif

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

// CORIO_ASSERT checks a programmer error (misuse of the API) in debug builds.
// It throws std::logic_error rather than aborting, so that misuse is reported
// where it happens and tests can observe it; NDEBUG turns it off.
//
// CORIO_ASSERT_NOEXCEPT is the same check where throwing is not possible (a
// destructor, a noexcept function): in debug builds it prints the message to
// stderr and aborts.
#ifdef NDEBUG
#  define CORIO_ASSERT(expr, message) ((void)sizeof((expr) ? 1 : 0), (void)(message))
#  define CORIO_ASSERT_NOEXCEPT(expr, message) ((void)sizeof((expr) ? 1 : 0), (void)(message))
#else
#  define CORIO_ASSERT(expr, message) \
    ((expr) ? (void)0 : ::corio::detail::assertion_failed(#expr, message))
#  define CORIO_ASSERT_NOEXCEPT(expr, message) \
    ((expr) ? (void)0 : ::corio::detail::fatal_misuse(#expr, message))
#endif

// The call graph's co_await locations: task_promise_base::await_transform
// hands each co_await's file and line to the wait it parks on. clang only:
// g++ 12 moves the object await_transform returns into a new temporary (and
// copies it when it is an lvalue), where the standard says the awaiter is
// that object itself. That would cost a move per co_await, and awaiters that
// cannot move (wait_for's) would not compile. clang 14 and later use the
// object itself, so there it costs two stores per wait.
#if defined(__clang__)
#  define CORIO_DETAIL_AWAIT_LOCATION 1
#else
#  define CORIO_DETAIL_AWAIT_LOCATION 0
#endif

namespace corio::detail {

[[noreturn]] inline void assertion_failed(const char* expression, const char* message) {
  throw std::logic_error(std::string(message) + " (failed check: " + expression + ")");
}
[[noreturn]] inline void fatal_misuse(const char* expression, const char* message) noexcept {
  std::fprintf(stderr, "%s (failed check: %s)\n", message, expression);
  std::abort();
}

// Debug mode (loop_options::debug) turns on, in release builds too, the
// checks that debug builds always run (a primitive used from a foreign thread,
// a task destroyed while it runs). This counts the debug-mode loops alive in
// the process; with none, a check costs one relaxed load and one branch.
inline std::atomic<unsigned> debug_loops{0};
inline bool debug_checks_on() noexcept {
#ifdef NDEBUG
  return debug_loops.load(std::memory_order_relaxed) != 0;
#else
  return true;
#endif
}

}  // namespace corio::detail
