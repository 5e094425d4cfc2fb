// SPDX-License-Identifier: MIT
// corio/condition.hpp: condition, asyncio.Condition.
#pragma once

#include <corio/error.hpp>
#include <corio/mutex.hpp>
#include <corio/task.hpp>

#include <corio/detail/wait_list.hpp>

#include <coroutine>
#include <cstddef>
#include <stdexcept>

namespace corio {

/// A condition variable for tasks (asyncio.Condition), over a corio::mutex:
/// wait(lock) releases the lock, waits for a notify, and retakes the lock
/// before it returns.
///
/// notify() does not wake a waiter only to have it wait again for the mutex:
/// it moves the waiter to the mutex's wait list, so it resumes holding the
/// lock, in notification order. There are no spurious wake-ups, but another
/// task may change the state before a notified one runs: wait in a loop, or
/// use wait_for(lock, pred).
///
/// Cancellation: a wait cancelled before a notify retakes the lock, then
///   throws cancelled_error (asyncio does the same), so the lock guard is
///   always locked when wait() returns or throws. A wait cancelled after it
///   was notified (while it waits for the mutex, or before it resumed) passes
///   the notification on to the next waiter before throwing, so no notify is
///   lost (asyncio 3.13, gh-112202). Retaking the lock cannot be cancelled; a
///   cancellation that arrives meanwhile is thrown once the lock is held.
/// Thread safety: loop-affine, no atomics: use it only on the thread of its
///   loop (checked in debug builds with std::logic_error). No call is
///   thread-safe; from another thread, go through event_loop::call_soon_threadsafe
///   or event_loop::submit.
/// Lifetime: the mutex outlives the condition, which must outlive every task
///   waiting on it; destroying it while one waits is a programmer error (debug
///   builds abort with the reason).
/// Example:
///   corio::mutex m;  corio::condition ready(m);  bool done = false;
///   // consumer:  auto lock = co_await m.lock();
///   //            co_await ready.wait_for(lock, [&] { return done; });
///   // producer:  auto lock = co_await m.lock();  done = true;  ready.notify_all();
class condition {
 public:
  explicit condition(mutex& m) noexcept : mutex_(m) {}
  condition(const condition&) = delete;
  condition& operator=(const condition&) = delete;

  class wait_awaiter : public detail::waiter {
   public:
    wait_awaiter(condition& c, mutex::scoped_lock& lock) noexcept
        : waiter(hooks_of<&on_cancel, &describe>), condition_(c), lock_(lock) {}
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      condition_.affinity_.check("corio::condition used from a thread that is not its loop's");
      if (!park(h, condition_.waiters_))
        return false;  // a pending cancellation: the lock was never released
      lock_.unlock();
      return true;
    }
    void await_resume() {
      lock_.mutex_ = &condition_.mutex_;  // whoever woke this task handed it the mutex
      take_cancel_after_wake();
      if (cancelled()) {
        if (notified_)
          condition_.notify(1);
        throw cancelled_error();
      }
    }

   private:
    friend class condition;
    static void describe(const suspension&, detail::wait_info& info) {
      info.what = "condition wait";
    }
    // A waiter that does more than leave its list: runs at most once per wait; the wake-up that
    // ends the wait records the cancellation, which await_resume throws once the lock is held.
    static void on_cancel(cancellable* self) noexcept {
      auto& w = *static_cast<wait_awaiter*>(self);
      if (!w.notified_) {
        w.leave_list();
        w.condition_.retake_lock(w);
      }  // else it already waits for the mutex
    }

    condition& condition_;
    mutex::scoped_lock& lock_;
    bool notified_ = false;
  };

  /// Releases `lock`, waits for notify() or notify_all(), and retakes the lock.
  /// Throws: std::logic_error if `lock` does not hold this condition's mutex;
  ///   cancelled_error if cancelled (the lock is held again by then).
  [[nodiscard]] wait_awaiter wait(mutex::scoped_lock& lock) {
    if (lock.mutex_ != &mutex_)
      throw std::logic_error("corio::condition::wait: the lock must hold the condition's mutex");
    return wait_awaiter(*this, lock);
  }

  /// Waits until `pred()` is true, checking it first and after every wake-up,
  /// always with the lock held. `pred` is kept in the returned task; `lock`
  /// is referenced, so await the task at once.
  /// Throws: as wait(); what `pred` throws.
  template <class Pred>
  [[nodiscard]] task<> wait_for(mutex::scoped_lock& lock, Pred pred) {
    while (!pred())
      co_await wait(lock);
  }

  /// Wakes up to `n` waiters, in the order they started waiting; each resumes
  /// once it holds the mutex.
  /// Throws: std::logic_error if the mutex is not locked (as asyncio).
  void notify(std::size_t n = 1) {
    affinity_.check("corio::condition used from a thread that is not its loop's");
    if (!mutex_.is_locked())
      throw std::logic_error("corio::condition::notify: lock the condition's mutex first");
    for (; n > 0 && !waiters_.empty(); --n) {
      auto& w = static_cast<wait_awaiter&>(waiters_.pop_front());
      w.notified_ = true;
      retake_lock(w);
    }
  }
  /// Wakes every waiter.
  /// Throws: std::logic_error if the mutex is not locked.
  void notify_all() { notify(waiters_.size()); }

  /// Tasks waiting for a notification.
  std::size_t n_waiting() const noexcept { return waiters_.size(); }

 private:
  // Wakes `w` holding the mutex if it is free, or queues it for the mutex.
  void retake_lock(wait_awaiter& w) noexcept {
    if (mutex_.try_lock()) {
      w.wake();
    } else {
      w.requeue(mutex_.waiters_);
    }
  }

  mutex& mutex_;
  detail::wait_list waiters_;
  detail::loop_affinity affinity_;
};

}  // namespace corio
