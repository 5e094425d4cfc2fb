// SPDX-License-Identifier: MIT
// corio/detail/close_op.hpp: the one close of a descriptor, behind file::close
// and the streams' close().
#pragma once

#include <corio/detail/errno.hpp>
#include <corio/detail/io_operation.hpp>
#include <corio/detail/unique_fd.hpp>

#include <liburing.h>

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace corio::detail {

// IORING_OP_CLOSE (see io_operation.hpp for what each member means). The
// operation owns the descriptor until it has been closed: a close cancelled
// before it ran (cancelled at once, or dropped from the kernel's or the
// worker pool's queue) ends with -ECANCELED and leaves the descriptor open,
// and `owned` then closes it synchronously when the awaiter goes. So does an
// awaiter that is never awaited. On epoll, close(2) runs at once for a socket
// (it does not block without SO_LINGER) and on the worker pool for a file (a
// close may flush, as on NFS).
template <bool OnPool>
struct close_op {
  using value_type = void;
  static constexpr bool writes = false;
  unique_fd owned;
  int fd;           // owned's descriptor, which the epoll backend reads here
  const char* who;  // the operation named in errors ("corio::file::close")
  bool ready() const noexcept { return fd < 0; }  // nothing to close
  void prep(io_uring_sqe* sqe) noexcept { io_uring_prep_close(sqe, fd); }
  int attempt() noexcept requires(!OnPool) { return close_now(); }
  int blocking() noexcept requires OnPool { return close_now(); }
  void finish(int res) {
    (void)owned.release();  // closed, even if close reports an error (as close(2) says)
    check(res, who);
  }

 private:
  // EINTR: Linux has released the descriptor all the same.
  int close_now() const noexcept { return ::close(fd) == 0 || errno == EINTR ? 0 : -errno; }
};

// Closes `fd`'s descriptor, which leaves `fd` empty at once. OnPool: a
// regular file, closed on the worker pool on epoll.
template <bool OnPool>
[[nodiscard]] io_operation<close_op<OnPool>> close_descriptor(unique_fd& fd, const char* who) {
  const int raw = fd.get();
  return io_operation(close_op<OnPool>{std::move(fd), raw, who});
}

}  // namespace corio::detail
