// SPDX-License-Identifier: MIT
// corio/yield.hpp: yield(), asyncio's sleep(0): let the other ready tasks run.
// Its coroutines that need no template parameter, and the functions that call them, are
// declared `template <class = void>` so that g++ compiles them only where they are used;
// see CONTRIBUTING.md, "Coroutines in headers".
#pragma once

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/task.hpp>

#include <corio/detail/awaitable.hpp>

#include <coroutine>
#include <type_traits>

namespace corio {
namespace detail {

// Puts `h` at the back of the ready queue, behind every task ready now; no
// clock, no timer, no system call. Returns false, leaving `h` running, when a
// cancellation is pending: the caller then throws cancelled_error. A
// cancellation arriving while the task waits in the queue stays pending for
// its next suspension point, as the wait is one loop turn at most.
template <class Promise>
bool yield_to_loop(std::coroutine_handle<Promise> h) {
  static_assert(std::is_base_of_v<task_promise_base, Promise>,
                "corio::yield and corio::sleep can only be awaited from a corio::task coroutine");
  loop_core& loop = loop_core::current();
  if (h.promise().context()->take_pending_cancel())
    return false;
  loop.schedule(h);
  return true;
}

class [[nodiscard]] yield_awaiter {
 public:
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    cancelled_ = !yield_to_loop(h);
    return !cancelled_;
  }
  void await_resume() const {
    if (cancelled_)
      throw cancelled_error();
  }

  /// Turns the yield into a task, for APIs that take tasks.
  template <class = void>
  operator task<>() && {
    return as_task(std::move(*this));
  }

 private:
  bool cancelled_ = false;
};

}  // namespace detail

/// Suspends the calling task until every task that is ready now has run once:
/// asyncio's `await asyncio.sleep(0)`. It goes straight to the back of the
/// loop's ready queue (no clock read, no timer, no system call); while tasks
/// stay ready the loop still reaps I/O completions every 32 resumed steps,
/// so a task that yields in a loop does not starve I/O. `sleep(0s)` does the
/// same.
///
/// Throws: cancelled_error if a cancellation of the task is pending;
///   std::logic_error if no loop runs on this thread.
/// Thread safety: await only from a task running on the loop's thread.
/// Example:
///   for (auto& item : work) { process(item); co_await corio::yield(); }
[[nodiscard]] inline detail::yield_awaiter yield() noexcept {
  return {};
}

}  // namespace corio
