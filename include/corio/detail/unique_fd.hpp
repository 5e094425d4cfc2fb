// SPDX-License-Identifier: MIT
// corio/detail/unique_fd.hpp: a move-only owner of a file descriptor.
#pragma once

#include <unistd.h>

#include <utility>

namespace corio::detail {

// Owns one file descriptor (or none, -1) and closes it with ::close on
// destruction, as stdexec's safe_file_descriptor. ::close is synchronous but
// does not block on sockets without SO_LINGER or on regular files; async
// owners (file, tcp_stream) release() the fd before an IORING_OP_CLOSE.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other)
      reset(other.release());
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership without closing; returns the fd (or -1).
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the owned fd (its error, if any, is dropped: POSIX leaves the fd
  // closed even when close fails) and takes `fd` instead.
  void reset(int fd = -1) noexcept {
    if (const int old = std::exchange(fd_, fd); old >= 0)
      ::close(old);
  }

 private:
  int fd_ = -1;
};

}  // namespace corio::detail
