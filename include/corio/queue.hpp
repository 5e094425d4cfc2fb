// SPDX-License-Identifier: MIT
// corio/queue.hpp: queue<T>, asyncio.Queue.
#pragma once

#include <corio/detail/wait_list.hpp>

#include <coroutine>
#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

namespace corio {

/// A FIFO between tasks on one loop (asyncio.Queue), bounded or unbounded.
///
/// get() waits while the queue is empty and put() while it is full. Items
/// pass straight from a put() to a waiting get() and waiting tasks are served
/// in arrival order, so a hand-off between two tasks costs no allocation and
/// no system call.
///
/// Cancellation: a cancelled get() leaves the wait list and no item is lost:
///   an item is handed only to a getter that will receive it. A cancelled put()
///   leaves the wait list without adding its item.
/// Thread safety: loop-affine, no atomics (checked in debug builds).
/// Example:
///   corio::queue<int> q(16);
///   co_await q.put(1);  int v = co_await q.get();
template <class T>
class queue {
 public:
  /// `maxsize` 0 means unbounded.
  explicit queue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  queue(const queue&) = delete;
  queue& operator=(const queue&) = delete;

  class get_awaiter : public detail::waiter {
   public:
    explicit get_awaiter(queue& q) noexcept : queue_(q) {}
    bool await_ready() {
      if (queue_.items_.empty())
        return false;
      item_.emplace(queue_.pop_and_refill());
      return true;
    }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      queue_.affinity_.check("corio::queue used from a thread that is not its loop's");
      return park(h, queue_.getters_);
    }
    T await_resume() {
      throw_if_cancelled();
      return std::move(*item_);
    }

   private:
    friend class queue;
    queue& queue_;
    std::optional<T> item_;
  };

  class put_awaiter : public detail::waiter {
   public:
    put_awaiter(queue& q, T item) : queue_(q), item_(std::move(item)) {}
    bool await_ready() { return queue_.try_put_impl(item_); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      queue_.affinity_.check("corio::queue used from a thread that is not its loop's");
      return park(h, queue_.putters_);
    }
    void await_resume() const { throw_if_cancelled(); }

   private:
    friend class queue;
    queue& queue_;
    T item_;
  };

  /// Removes and returns the oldest item, waiting while the queue is empty.
  /// Throws: cancelled_error if cancelled while waiting.
  [[nodiscard]] get_awaiter get() noexcept { return get_awaiter(*this); }
  /// Appends `item`, waiting while the queue is full.
  /// Throws: cancelled_error if cancelled while waiting (the item is not added).
  [[nodiscard]] put_awaiter put(T item) { return put_awaiter(*this, std::move(item)); }

  /// Appends `item` if there is room; false (and `item` untouched) if full.
  bool try_put(T item) {
    affinity_.check("corio::queue used from a thread that is not its loop's");
    return try_put_impl(item);
  }
  /// Removes the oldest item if there is one.
  std::optional<T> try_get() {
    affinity_.check("corio::queue used from a thread that is not its loop's");
    if (items_.empty())
      return std::nullopt;
    return pop_and_refill();
  }

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  bool full() const noexcept { return maxsize_ != 0 && items_.size() >= maxsize_; }
  std::size_t maxsize() const noexcept { return maxsize_; }

 private:
  // Gives `item` to the first waiting getter, or stores it if there is room.
  bool try_put_impl(T& item) {
    if (!getters_.empty()) {  // the queue is empty: hand over directly
      auto& getter = static_cast<get_awaiter&>(getters_.pop_front());
      getter.item_.emplace(std::move(item));
      getter.wake();
      return true;
    }
    if (full())
      return false;
    items_.push_back(std::move(item));
    return true;
  }
  // Takes the front item and lets the first waiting putter in behind it.
  T pop_and_refill() {
    T item = std::move(items_.front());
    items_.pop_front();
    if (!putters_.empty()) {
      auto& putter = static_cast<put_awaiter&>(putters_.pop_front());
      items_.push_back(std::move(putter.item_));
      putter.wake();
    }
    return item;
  }

  std::deque<T> items_;
  detail::intrusive_list<detail::waiter> getters_;
  detail::intrusive_list<detail::waiter> putters_;
  detail::loop_affinity affinity_;
  std::size_t maxsize_;
};

}  // namespace corio
