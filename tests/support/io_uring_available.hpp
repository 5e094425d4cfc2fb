// SPDX-License-Identifier: MIT
// tests/support/io_uring_available.hpp: skip, never fail, when the machine has no io_uring.
//
// Usage, first thing in a test case that needs a loop:
//   CORIO_TEST_REQUIRE_IO_URING();
// It SKIPs the case when io_uring_queue_init fails (an old kernel, a seccomp filter,
// kernel.io_uring_disabled), unless CORIO_REQUIRE_IO_URING=1 is set (CI), in which case
// the case FAILs instead, with the reason. On the epoll pass (CORIO_BACKEND=epoll, see
// backend.hpp) the case runs: the loop needs no io_uring there.
#pragma once

#include "support/backend.hpp"

#include <liburing.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace corio_test {

// The errno of a probe io_uring_queue_init, or 0 when it works; probed once.
inline int io_uring_setup_errno() {
  static const int err = [] {
    io_uring ring;
    const int res = io_uring_queue_init(4, &ring, 0);
    if (res < 0)
      return -res;
    io_uring_queue_exit(&ring);
    return 0;
  }();
  return err;
}

inline bool io_uring_available() {
  return io_uring_setup_errno() == 0;
}

// True when CORIO_REQUIRE_IO_URING=1: a missing io_uring is then a failure.
inline bool io_uring_required() {
  const char* v = std::getenv("CORIO_REQUIRE_IO_URING");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

inline std::string io_uring_unavailable_reason() {
  return std::string("io_uring is not available here: io_uring_queue_init failed with ") +
         std::strerror(io_uring_setup_errno());
}

}  // namespace corio_test

// Skips the current Catch2 test case when io_uring is unavailable, or fails it when
// CORIO_REQUIRE_IO_URING=1. Include <catch2/catch_test_macros.hpp> before using it.
#define CORIO_TEST_REQUIRE_IO_URING()                                                      \
  do {                                                                                     \
    if (!::corio_test::epoll_pass() && !::corio_test::io_uring_available()) {              \
      if (::corio_test::io_uring_required()) {                                             \
        FAIL(::corio_test::io_uring_unavailable_reason() + " (CORIO_REQUIRE_IO_URING=1)"); \
      }                                                                                    \
      SKIP(::corio_test::io_uring_unavailable_reason());                                   \
    }                                                                                      \
  } while (false)
