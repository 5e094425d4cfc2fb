// SPDX-License-Identifier: MIT
// tests/support/ends_in.hpp: whether awaiting something ends in a given exception.
#pragma once

#include <corio/task.hpp>

#include <utility>

namespace corio_test {

// Whether awaiting `a` ends in an `Error` (a timeout_error, a cancelled_error)
// rather than in a value; any other exception propagates. Await it into a
// variable before checking it (g++ 12 miscompiles co_await inside CHECK).
template <class Error, class Awaitable>
corio::task<bool> ends_in(Awaitable&& a) {
  try {
    co_await std::forward<Awaitable>(a);
  } catch (const Error&) {
    co_return true;
  }
  co_return false;
}

}  // namespace corio_test
