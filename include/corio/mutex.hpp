// SPDX-License-Identifier: MIT
// corio/mutex.hpp: mutex, asyncio.Lock.
#pragma once

#include <corio/detail/wait_list.hpp>

#include <coroutine>
#include <utility>

namespace corio {

/// A lock for tasks on one loop (asyncio.Lock): `co_await m.lock()` returns a
/// guard that unlocks when destroyed.
///
/// Fair: unlock hands the lock straight to the longest-waiting task.
///
/// Cancellation: a cancelled lock() leaves the wait list without the lock;
///   one cancelled after the lock was handed to it but before it resumed
///   passes the lock on, then throws cancelled_error.
/// Lifetime: it must outlive every task waiting on it; destroying it while
///   one waits is a programmer error (debug builds abort with the reason).
/// Thread safety: loop-affine, no atomics: use it only on the thread of its
///   loop (checked in debug builds with std::logic_error). No call is
///   thread-safe; from another thread, go through event_loop::call_soon_threadsafe
///   or event_loop::submit. It orders tasks,
///   not threads: never use it to protect data shared with to_thread calls.
/// Example:
///   auto guard = co_await m.lock();
class mutex {
 public:
  mutex() = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  /// Holds the lock; unlocks on destruction. Move-only.
  class [[nodiscard]] scoped_lock {
   public:
    scoped_lock(scoped_lock&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
    scoped_lock& operator=(scoped_lock&& other) noexcept {
      if (this != &other) {
        release();
        mutex_ = std::exchange(other.mutex_, nullptr);
      }
      return *this;
    }
    ~scoped_lock() { release(); }
    /// Unlocks early.
    void unlock() {
      if (mutex_ != nullptr)
        std::exchange(mutex_, nullptr)->unlock();
    }

   private:
    friend class mutex;
    friend class condition;  // releases and retakes the lock around a wait
    explicit scoped_lock(mutex& m) noexcept : mutex_(&m) {}
    void release() noexcept {
      if (mutex_ != nullptr)
        std::exchange(mutex_, nullptr)->unlock_from_guard();
    }
    mutex* mutex_;
  };

  class lock_awaiter : public detail::waiter {
   public:
    explicit lock_awaiter(mutex& m) noexcept : waiter(described_by<&describe>), mutex_(m) {}
    bool await_ready() noexcept { return mutex_.try_lock(); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      mutex_.affinity_.check(wrong_thread);
      return park(h, mutex_.waiters_);
    }
    scoped_lock await_resume() {
      // Cancelled after the lock was handed over, before resuming: it passes on.
      if (take_cancel_after_wake())
        mutex_.unlock();
      throw_if_cancelled();
      return scoped_lock(mutex_);
    }

   private:
    static void describe(const suspension&, detail::wait_info& info) { info.what = "mutex lock"; }
    mutex& mutex_;
  };

  /// Takes the lock, waiting while another task holds it.
  /// Throws: cancelled_error if cancelled while waiting.
  [[nodiscard]] lock_awaiter lock() noexcept { return lock_awaiter(*this); }

  /// Takes the lock if it is free; pair with unlock().
  bool try_lock() noexcept {
    if (locked_)
      return false;
    locked_ = true;
    return true;
  }
  /// Releases the lock: to the first waiter if there is one.
  void unlock() {
    affinity_.check(wrong_thread);
    hand_on();
  }
  bool is_locked() const noexcept { return locked_; }

 private:
  friend class condition;  // queues its notified waiters here
  static constexpr const char* wrong_thread =
      "corio::mutex used from a thread that is not its loop's";

  // A guard's destructor cannot throw: a wrong thread aborts instead.
  void unlock_from_guard() noexcept {
    affinity_.check_noexcept(wrong_thread);
    hand_on();
  }
  void hand_on() noexcept {
    if (!waiters_.empty()) {
      waiters_.pop_front().wake();  // stays locked: ownership passes to it
    } else {
      locked_ = false;
    }
  }

  detail::wait_list waiters_;
  detail::loop_affinity affinity_;
  bool locked_ = false;
};

}  // namespace corio
