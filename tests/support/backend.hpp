// SPDX-License-Identifier: MIT
// tests/support/backend.hpp: which backend this test run asks for.
//
// The suite runs twice: as is (io_uring where the machine allows it), and
// with CORIO_BACKEND=epoll. A test about io_uring itself (ring flags, SQEs,
// raw io_uring operations) starts with
//   CORIO_TEST_IO_URING_ONLY("why");
// which SKIPs it on the epoll pass.
#pragma once

#include <corio/detail/io_operation.hpp>

#include <liburing.h>
#include <unistd.h>
#include <poll.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace corio_test {

// A read of one byte from a pipe (or any descriptor) that waits on both
// backends: IORING_OP_READ, or readiness on epoll (poll(2) first, so a
// descriptor in blocking mode never blocks the loop). Yields the raw result.
struct read_byte_op {
  using value_type = int;
  static constexpr bool writes = false;
  int fd;
  char* byte;
  void prep(io_uring_sqe* sqe) noexcept { io_uring_prep_read(sqe, fd, byte, 1, 0); }
  int attempt() noexcept {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 0)
      return -EAGAIN;
    const ssize_t n = ::read(fd, byte, 1);
    return n >= 0 ? static_cast<int>(n) : -errno;
  }
  int finish(int res) const noexcept { return res; }
};
inline corio::detail::io_operation<read_byte_op> read_byte(int fd, char* byte) {
  return corio::detail::io_operation(read_byte_op{fd, byte});
}

// True on the epoll pass (CORIO_BACKEND=epoll).
inline bool epoll_pass() {
  const char* v = std::getenv("CORIO_BACKEND");
  return v != nullptr && std::strcmp(v, "epoll") == 0;
}

}  // namespace corio_test

// Skips the current Catch2 test case on the epoll pass, with the reason.
#define CORIO_TEST_IO_URING_ONLY(why)                                 \
  do {                                                                \
    if (::corio_test::epoll_pass())                                   \
      SKIP(std::string("io_uring only, skipped on epoll: ") + (why)); \
  } while (false)
