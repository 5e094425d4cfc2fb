// SPDX-License-Identifier: MIT
// corio/barrier.hpp: barrier, asyncio.Barrier.
#pragma once

#include <corio/error.hpp>

#include <corio/detail/wait_list.hpp>

#include <coroutine>
#include <cstddef>
#include <stdexcept>

namespace corio {

/// A meeting point for a fixed number of tasks (asyncio.Barrier): each
/// wait() waits until `parties` tasks are waiting, then all of them go on.
///
/// wait() returns the task's place in its round, 0 to parties - 1 in arrival
/// order; the task that completes the round gets parties - 1 and does not
/// suspend. The barrier is reusable: the next wait() starts a new round at
/// once (no draining phase as in asyncio, because the round's tasks are
/// released all together). abort() breaks the barrier and reset() empties
/// it, as asyncio's: the tasks waiting then get broken_barrier.
///
/// Cancellation: a task cancelled while waiting leaves the round, which then
///   needs one more task (as in asyncio); places are given when the round
///   completes, so they stay unique. A task cancelled after its round completed
///   but before it resumed keeps its place; the cancellation waits for its
///   next suspension point.
/// Lifetime: it must outlive every task waiting on it; destroying it while
///   one waits is a programmer error (debug builds abort with the reason).
/// Thread safety: loop-affine, no atomics: use it only on the thread of its
///   loop (checked in debug builds with std::logic_error). No call is
///   thread-safe; from another thread, go through event_loop::call_soon_threadsafe
///   or event_loop::submit.
/// Example:
///   corio::barrier ready(3);
///   // in each of three tasks:  std::size_t place = co_await ready.wait();
class barrier {
 public:
  /// Throws: std::invalid_argument if `parties` is 0.
  explicit barrier(std::size_t parties) : parties_(parties) {
    if (parties == 0)
      throw std::invalid_argument("corio::barrier: parties must be at least 1");
  }
  barrier(const barrier&) = delete;
  barrier& operator=(const barrier&) = delete;

  class wait_awaiter : public detail::waiter {
   public:
    explicit wait_awaiter(barrier& b) noexcept : barrier_(b) {}
    bool await_ready() {
      barrier_.affinity_.check("corio::barrier used from a thread that is not its loop's");
      if (barrier_.broken_)
        return true;  // await_resume throws broken_barrier
      if (barrier_.waiters_.size() + 1 < barrier_.parties_)
        return false;
      place_ = barrier_.complete_round();
      return true;
    }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      return park(h, barrier_.waiters_);
    }
    std::size_t await_resume() const {
      throw_if_cancelled();
      if (place_ == broken_place)
        throw broken_barrier();
      return place_;
    }

   private:
    friend class barrier;
    barrier& barrier_;
    std::size_t place_ = broken_place;  // until a round completes
  };

  /// Waits until `parties` tasks wait, and returns this task's place in the round.
  /// Throws: broken_barrier if the barrier is broken, or is aborted or reset
  ///   while waiting; cancelled_error if cancelled while waiting (it leaves the round).
  [[nodiscard]] wait_awaiter wait() noexcept { return wait_awaiter(*this); }

  /// Breaks the barrier: the tasks waiting, and every later wait() until
  /// reset(), throw broken_barrier (asyncio's abort()).
  void abort() {
    affinity_.check("corio::barrier used from a thread that is not its loop's");
    broken_ = true;
    release_broken();
  }
  /// Returns the barrier to its empty, unbroken state; the tasks waiting
  /// throw broken_barrier (asyncio's reset()).
  void reset() {
    affinity_.check("corio::barrier used from a thread that is not its loop's");
    broken_ = false;
    release_broken();
  }
  bool broken() const noexcept { return broken_; }

  std::size_t parties() const noexcept { return parties_; }
  /// Tasks waiting in the current round.
  std::size_t n_waiting() const noexcept { return waiters_.size(); }

 private:
  // Releases every waiter with its place; returns the completing task's place.
  std::size_t complete_round() noexcept {
    std::size_t place = 0;
    while (!waiters_.empty()) {
      auto& w = static_cast<wait_awaiter&>(waiters_.pop_front());
      w.place_ = place++;
      w.wake();
    }
    return place;
  }
  void release_broken() noexcept {
    while (!waiters_.empty())
      waiters_.pop_front().wake();  // with no place: it throws broken_barrier
  }

  static constexpr std::size_t broken_place = static_cast<std::size_t>(-1);

  detail::wait_list waiters_;
  detail::loop_affinity affinity_;
  std::size_t parties_;
  bool broken_ = false;
};

}  // namespace corio
