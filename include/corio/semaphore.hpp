// SPDX-License-Identifier: MIT
// corio/semaphore.hpp: semaphore, asyncio.Semaphore.
#pragma once

#include <corio/detail/wait_list.hpp>

#include <coroutine>
#include <cstddef>

namespace corio {

/// A counter of permits, for capping concurrency (asyncio.Semaphore).
///
/// acquire() takes a permit, waiting if none is free; release() returns one,
/// handing it straight to the longest-waiting task (FIFO, no barging).
///
/// Cancellation: a cancelled acquire leaves the wait list without a permit.
/// Thread safety: loop-affine, no atomics (checked in debug builds).
/// Example:
///   corio::semaphore limit(10);
///   co_await limit.acquire();  /* at most 10 tasks here */  limit.release();
class semaphore {
 public:
  explicit semaphore(std::size_t permits) noexcept : permits_(permits) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  class acquire_awaiter : public detail::waiter {
   public:
    explicit acquire_awaiter(semaphore& s) noexcept : semaphore_(s) {}
    bool await_ready() noexcept {
      if (semaphore_.permits_ == 0 || !semaphore_.waiters_.empty())
        return false;
      --semaphore_.permits_;
      return true;
    }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      semaphore_.affinity_.check("corio::semaphore used from a thread that is not its loop's");
      return park(h, semaphore_.waiters_);
    }
    void await_resume() const { throw_if_cancelled(); }

   private:
    semaphore& semaphore_;
  };

  /// Takes a permit, waiting for one if none is free.
  /// Throws: cancelled_error if cancelled while waiting (no permit is taken).
  [[nodiscard]] acquire_awaiter acquire() noexcept { return acquire_awaiter(*this); }

  /// Takes a permit if one is free, without waiting.
  bool try_acquire() noexcept {
    if (permits_ == 0 || !waiters_.empty())
      return false;
    --permits_;
    return true;
  }

  /// Returns a permit: to the first waiter if there is one.
  void release() {
    affinity_.check("corio::semaphore used from a thread that is not its loop's");
    if (!waiters_.empty()) {
      waiters_.pop_front().wake();  // the permit passes to it directly
    } else {
      ++permits_;
    }
  }

  /// Permits free now.
  std::size_t available() const noexcept { return permits_; }

 private:
  detail::intrusive_list<detail::waiter> waiters_;
  detail::loop_affinity affinity_;
  std::size_t permits_;
};

}  // namespace corio
