// SPDX-License-Identifier: MIT
// tests/support/ends_in.hpp: whether awaiting something ends in a given exception.
#pragma once

#include <corio/task.hpp>

#include <optional>
#include <type_traits>
#include <utility>

namespace corio_test {

// Awaits `a` and drops its value.
template <class Awaitable>
corio::task<> await_discarding(Awaitable&& a) {
  // Not co_await std::forward<Awaitable>(a): for an lvalue g++ 12 awaits a
  // copy, and a sleep cannot be copied.
  if constexpr (std::is_lvalue_reference_v<Awaitable>)
    (void)co_await a;
  else
    (void)co_await std::move(a);  // a permit or a value is let go at once
}

// The `Error` that awaiting `a` ends in (a copy, to check its code() or
// what()), or nothing if it ends in a value; any other exception propagates.
// Name the type whose members you check: the copy is sliced to `Error`. A call
// that throws while it makes `a` (before any await) throws past this.
template <class Error, class Awaitable>
corio::task<std::optional<Error>> caught(Awaitable&& a) {
  try {
    co_await await_discarding(std::forward<Awaitable>(a));
  } catch (const Error& e) {
    co_return e;
  }
  co_return std::nullopt;
}

// Whether awaiting `a` ends in an `Error` (a timeout_error, a cancelled_error)
// rather than in a value; any other exception propagates. Both refer to `a`:
// await them in the statement that makes them, into a variable before
// checking it (g++ 12 miscompiles a co_await inside CHECK or an if).
// It makes no copy of the exception: UBSan's check of a copied exception's
// type needs a free descriptor, and reports a false "invalid vptr" in a test
// that has used up its descriptors (tcp_test's EMFILE cases).
template <class Error, class Awaitable>
corio::task<bool> ends_in(Awaitable&& a) {
  try {
    co_await await_discarding(std::forward<Awaitable>(a));
  } catch (const Error&) {
    co_return true;
  }
  co_return false;
}

}  // namespace corio_test
