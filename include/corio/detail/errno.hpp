// SPDX-License-Identifier: MIT
// corio/detail/errno.hpp: the bridge from -errno results to exceptions.
#pragma once

#include <system_error>

namespace corio::detail {

// Throws std::system_error for a negative io_uring/syscall result; `what`
// names the corio operation ("corio::file::read_at").
[[noreturn]] inline void throw_errno(int negative_errno, const char* what) {
  throw std::system_error(-negative_errno, std::system_category(), what);
}

// Returns `res` if it is a success (>= 0), else throws for it.
inline int check(int res, const char* what) {
  if (res < 0)
    throw_errno(res, what);
  return res;
}

}  // namespace corio::detail
