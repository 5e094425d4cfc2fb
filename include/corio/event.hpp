// SPDX-License-Identifier: MIT
// corio/event.hpp: event, asyncio.Event.
#pragma once

#include <corio/detail/wait_list.hpp>

#include <coroutine>

namespace corio {

/// A manual-reset flag that tasks can wait for, as asyncio.Event.
///
/// set() wakes every waiting task, in the order they started waiting, and
/// later waits complete at once until clear().
///
/// Cancellation: a cancelled wait leaves the wait list and throws
///   cancelled_error.
/// Lifetime: it must outlive every task waiting on it; destroying it while
///   one waits is a programmer error (debug builds abort with the reason).
/// Thread safety: loop-affine, no atomics: use it only on the thread of the
///   loop that first used it (checked in debug builds with std::logic_error).
///   No call is thread-safe; from another thread, go through
///   event_loop::call_soon_threadsafe or event_loop::submit.
/// Example:
///   corio::event ready;
///   // one task: co_await ready.wait();   another: ready.set();
class event {
 public:
  event() = default;
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  /// Sets the flag and wakes every waiter.
  void set() {
    affinity_.check("corio::event used from a thread that is not its loop's");
    set_ = true;
    while (!waiters_.empty())
      waiters_.pop_front().wake();
  }
  /// Clears the flag; later wait() calls suspend until the next set().
  void clear() {
    affinity_.check("corio::event used from a thread that is not its loop's");
    set_ = false;
  }
  bool is_set() const noexcept { return set_; }

  class wait_awaiter : public detail::waiter {
   public:
    explicit wait_awaiter(event& e) noexcept : waiter(described_by<&describe>), event_(e) {}
    bool await_ready() const noexcept { return event_.set_; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      event_.affinity_.check("corio::event used from a thread that is not its loop's");
      return park(h, event_.waiters_);
    }
    void await_resume() const { throw_if_cancelled(); }

   private:
    static void describe(const suspension&, detail::wait_info& info) { info.what = "event wait"; }
    event& event_;
  };

  /// Waits until the flag is set (at once if it is).
  /// Throws: cancelled_error if the task is cancelled while waiting.
  [[nodiscard]] wait_awaiter wait() noexcept { return wait_awaiter(*this); }

 private:
  detail::wait_list waiters_;
  detail::loop_affinity affinity_;
  bool set_ = false;
};

}  // namespace corio
