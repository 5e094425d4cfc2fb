// SPDX-License-Identifier: MIT
// corio/sleep.hpp: sleep(d) and sleep_until(t), asyncio.sleep.
// Its coroutines that need no template parameter, and the functions that call them, are
// declared `template <class = void>` so that g++ compiles them only where they are used;
// see CONTRIBUTING.md, "Coroutines in headers".
#pragma once

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/task.hpp>
#include <corio/yield.hpp>  // sleep(0s) is yield()

#include <corio/detail/awaitable.hpp>
#include <corio/detail/cancellation.hpp>
#include <corio/detail/timer_heap.hpp>
#include <corio/detail/wait_info.hpp>

#include <chrono>
#include <coroutine>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace corio {
namespace detail {

// Waits in the loop's timer heap: no frame, no allocation, no kernel timer of
// its own. A deadline already passed when the sleep is made is a yield: the
// task goes to the back of the ready queue, behind every task that is ready now.
// The clock is read once at most, where the sleep is made (none for sleep(0s)):
// a deadline that passes between then and the await fires in the same turn's
// timer pass.
class [[nodiscard]] sleep_awaiter final : public timer_node {
 public:
  using clock = std::chrono::steady_clock;
  // The deadline of a sleep that is a yield.
  static constexpr clock::time_point yield_now = clock::time_point::min();

  explicit sleep_awaiter(clock::time_point deadline) noexcept
      : timer_node(hooks_of<&on_cancel, &describe, &on_fire>), deadline_(deadline) {}
  sleep_awaiter(sleep_awaiter&& other) noexcept
      : timer_node(std::move(other)), deadline_(other.deadline_) {}

  bool await_ready() const noexcept { return false; }
  // Inline up to the yield, which is a few instructions; arming a timer is a
  // call (inlined, the heap's code kept the whole await out of line, 1.3 ns
  // of a sleep(0s) round trip).
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    if (context() != nullptr) [[unlikely]]
      throw_awaited_twice();
    loop_core& loop = loop_core::current();
    if (begin(h))
      return false;
    if (deadline_ == yield_now) {
      loop.schedule(h);  // a yield, not parked: a cancellation now waits for the next suspension
      return true;
    }
    arm(loop);
    return true;
  }
  void await_resume() const {
    if (cancel_requested())
      throw cancelled_error();
  }

  /// Turns the sleep into a task, for APIs that take tasks
  /// (`std::vector<corio::task<>> v; v.push_back(corio::sleep(1s));`).
  template <class = void>
  operator task<>() && {
    return as_task(std::move(*this));
  }

 private:
  [[noreturn, gnu::noinline]] static void throw_awaited_twice() {
    throw std::logic_error("corio::sleep: this sleep was awaited already; make a new one");
  }
  [[gnu::noinline]] void arm(loop_core& loop) {
    loop.timers().add(this, deadline_);
    park();
  }
  // Both run on the loop's thread, from its timer pass or a cancellation.
  static void on_fire(cancellable* self) noexcept {
    static_cast<sleep_awaiter*>(self)->wake(*loop_core::current_or_null());
  }
  static void describe(const suspension& self, wait_info& info) {
    info.what = "sleep, " + describe_deadline(static_cast<const sleep_awaiter&>(self).deadline_);
  }
  static void on_cancel(cancellable* self) noexcept {
    auto& s = *static_cast<sleep_awaiter*>(self);
    loop_core& loop = *loop_core::current_or_null();
    loop.timers().remove(&s);
    s.wake(loop);
  }

  clock::time_point deadline_;
};

}  // namespace detail

/// Suspends the calling task for `d` on the loop's clock (now()); `sleep(0s)` (or any
/// d <= 0) is corio::yield(), as asyncio.sleep(0), and reads no clock.
///
/// The result is an awaiter (no coroutine frame is allocated); it converts to
/// `task<>` where a task is needed, and gather accepts it as it is.
/// Negative durations act as zero. Timers share one heap in the loop, and the
/// loop waits in the kernel for the earliest, so a million sleeping tasks
/// cost no CPU while they wait.
///
/// Throws: cancelled_error if the task is cancelled while it sleeps;
///   std::logic_error if the same sleep object is awaited a second time;
///   std::logic_error if no loop runs on this thread.
/// Thread safety: await only from a task running on the loop's thread.
/// Example:
///   co_await corio::sleep(std::chrono::milliseconds(10));
template <class Rep, class Period>
[[nodiscard]] detail::sleep_awaiter sleep(std::chrono::duration<Rep, Period> d) noexcept {
  if (d <= d.zero())
    return detail::sleep_awaiter(detail::sleep_awaiter::yield_now);
  return detail::sleep_awaiter(detail::deadline_after(d));
}

/// The loop's clock: std::chrono::steady_clock::now(), or the virtual time
/// of a loop run by testing::run_virtual. sleep, sleep_until, wait_for and
/// the HTTP timeouts all measure time on it.
/// Thread safety: the clock of the loop of the calling thread.
inline std::chrono::steady_clock::time_point now() noexcept {
  return detail::loop_now();
}

/// Suspends the calling task until `t` on the loop's clock (now()) (at once, as a yield,
/// if `t` has passed). Throws as sleep().
[[nodiscard]] inline detail::sleep_awaiter sleep_until(
    std::chrono::steady_clock::time_point t) noexcept {
  return detail::sleep_awaiter(t <= detail::loop_now() ? detail::sleep_awaiter::yield_now : t);
}

}  // namespace corio
