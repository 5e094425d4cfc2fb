// SPDX-License-Identifier: MIT
// corio/semaphore.hpp: semaphore, asyncio.Semaphore.
#pragma once

#include <corio/detail/wait_list.hpp>

#include <coroutine>
#include <cstddef>
#include <utility>

namespace corio {

/// A counter of permits, for capping concurrency (asyncio.Semaphore).
///
/// acquire() takes a permit, waiting if none is free; release() returns one,
/// handing it straight to the longest-waiting task (FIFO, no barging).
///
/// Cancellation: a cancelled acquire leaves the wait list without a permit;
///   one cancelled after a permit was handed to it but before it resumed
///   passes the permit on, then throws cancelled_error.
/// Lifetime: it must outlive every task waiting on it; destroying it while
///   one waits is a programmer error (debug builds abort with the reason).
/// Thread safety: loop-affine, no atomics: use it only on the thread of its
///   loop (checked in debug builds with std::logic_error). No call is
///   thread-safe; from another thread, go through event_loop::call_soon_threadsafe
///   or event_loop::submit.
/// Example:
///   corio::semaphore limit(10);
///   auto permit = co_await limit.acquire_guard();  // at most 10 tasks here
class semaphore {
 public:
  explicit semaphore(std::size_t permits) noexcept : permits_(permits) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  /// Holds one permit; releases it on destruction. Move-only.
  class [[nodiscard]] scoped_permit {
   public:
    scoped_permit(scoped_permit&& other) noexcept
        : semaphore_(std::exchange(other.semaphore_, nullptr)) {}
    scoped_permit& operator=(scoped_permit&& other) noexcept {
      if (this != &other) {
        drop();
        semaphore_ = std::exchange(other.semaphore_, nullptr);
      }
      return *this;
    }
    ~scoped_permit() { drop(); }
    /// Releases the permit early.
    void release() {
      if (semaphore_ != nullptr)
        std::exchange(semaphore_, nullptr)->release();
    }

   private:
    friend class semaphore;
    explicit scoped_permit(semaphore& s) noexcept : semaphore_(&s) {}
    void drop() noexcept {
      if (semaphore_ != nullptr)
        std::exchange(semaphore_, nullptr)->release_from_guard();
    }
    semaphore* semaphore_;
  };

  class acquire_awaiter : public detail::waiter {
   public:
    explicit acquire_awaiter(semaphore& s) noexcept
        : waiter(described_by<&describe>), semaphore_(s) {}
    bool await_ready() noexcept {
      if (semaphore_.permits_ == 0 || !semaphore_.waiters_.empty())
        return false;
      --semaphore_.permits_;
      return true;
    }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      semaphore_.affinity_.check(wrong_thread);
      return park(h, semaphore_.waiters_);
    }
    void await_resume() {
      // Cancelled after the permit was handed over, before resuming: the
      // permit goes to the next waiter, so a losing acquire() in a race leaks none.
      if (take_cancel_after_wake())
        semaphore_.release();
      throw_if_cancelled();
    }

   private:
    static void describe(const suspension&, detail::wait_info& info) {
      info.what = "semaphore acquire";
    }

   protected:
    semaphore& semaphore_;
  };

  class acquire_guard_awaiter : public acquire_awaiter {
   public:
    using acquire_awaiter::acquire_awaiter;
    scoped_permit await_resume() {
      acquire_awaiter::await_resume();
      return scoped_permit(semaphore_);
    }
  };

  /// Takes a permit, waiting for one if none is free.
  /// Throws: cancelled_error if cancelled while waiting (no permit is taken).
  [[nodiscard]] acquire_awaiter acquire() noexcept { return acquire_awaiter(*this); }
  /// As acquire(), but the permit comes in a guard that releases it.
  /// Throws: cancelled_error if cancelled while waiting (no permit is taken).
  [[nodiscard]] acquire_guard_awaiter acquire_guard() noexcept {
    return acquire_guard_awaiter(*this);
  }

  /// Takes a permit if one is free, without waiting.
  bool try_acquire() noexcept {
    if (permits_ == 0 || !waiters_.empty())
      return false;
    --permits_;
    return true;
  }

  /// Returns a permit: to the first waiter if there is one.
  void release() {
    affinity_.check(wrong_thread);
    hand_on();
  }

  /// Permits free now.
  std::size_t available() const noexcept { return permits_; }

 private:
  static constexpr const char* wrong_thread =
      "corio::semaphore used from a thread that is not its loop's";

  // A guard's destructor cannot throw: a wrong thread aborts instead.
  void release_from_guard() noexcept {
    affinity_.check_noexcept(wrong_thread);
    hand_on();
  }
  void hand_on() noexcept {
    if (!waiters_.empty()) {
      waiters_.pop_front().wake();  // the permit passes to it directly
    } else {
      ++permits_;
    }
  }

  detail::wait_list waiters_;
  detail::loop_affinity affinity_;
  std::size_t permits_;
};

}  // namespace corio
