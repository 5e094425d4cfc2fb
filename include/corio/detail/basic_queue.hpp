// SPDX-License-Identifier: MIT
// corio/detail/basic_queue.hpp: what queue and priority_queue share: the
// waiting, the hand-offs, join()/task_done() and shutdown(); they differ only
// in the order in which their Storage gives items back.
#pragma once

#include <corio/error.hpp>
#include <corio/task.hpp>

#include <corio/detail/wait_list.hpp>

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <utility>

namespace corio::detail {

// Storage: empty(), size(), push(T&&), T pop() (the next item), put_back(T&&)
// (an item that was popped and must be the next again), clear().
template <class T, class Storage>
class basic_queue {
 public:
  /// `maxsize` 0 means unbounded.
  explicit basic_queue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  basic_queue(const basic_queue&) = delete;
  basic_queue& operator=(const basic_queue&) = delete;

  class get_awaiter : public waiter {
   public:
    explicit get_awaiter(basic_queue& q) noexcept : waiter(described_by<&describe>), queue_(q) {}
    bool await_ready() {
      queue_.affinity_.check("corio::queue used from a thread that is not its loop's");
      if (!queue_.storage_.empty()) {
        item_.emplace(queue_.pop_and_refill());
        return true;
      }
      return queue_.state_ != open;  // shut down and empty: await_resume throws
    }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      return park(h, queue_.getters_);
    }
    T await_resume() {
      // Cancelled after an item was handed over, before resuming: the item
      // goes back to be the next one, so a losing get() in a race loses nothing.
      if (take_cancel_after_wake() && item_)
        queue_.put_back(std::move(*item_));
      throw_if_cancelled();
      if (!item_)
        throw queue_shut_down();
      return std::move(*item_);
    }

   private:
    friend class basic_queue;
    static void describe(const suspension&, wait_info& info) { info.what = "queue get"; }
    basic_queue& queue_;
    std::optional<T> item_;
  };

  class put_awaiter : public waiter {
   public:
    put_awaiter(basic_queue& q, T item)
        : waiter(described_by<&describe>), queue_(q), item_(std::move(item)) {}
    bool await_ready() {
      queue_.affinity_.check("corio::queue used from a thread that is not its loop's");
      if (queue_.state_ != open)
        return true;  // await_resume throws
      added_ = queue_.try_put_impl(item_);
      return added_;
    }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      return park(h, queue_.putters_);
    }
    void await_resume() const {
      throw_if_cancelled();
      if (!added_)
        throw queue_shut_down();
    }

   private:
    friend class basic_queue;
    static void describe(const suspension&, wait_info& info) { info.what = "queue put"; }
    basic_queue& queue_;
    T item_;
    bool added_ = false;
  };

  /// Removes and returns the next item, waiting while the queue is empty.
  /// Throws: queue_shut_down once the queue is shut down and empty;
  ///   cancelled_error if cancelled while waiting.
  [[nodiscard]] get_awaiter get() noexcept { return get_awaiter(*this); }
  /// Adds `item`, waiting while the queue is full.
  /// Throws: queue_shut_down if the queue is, or while waiting gets, shut
  ///   down; cancelled_error if cancelled while waiting (the item is not added).
  [[nodiscard]] put_awaiter put(T item) { return put_awaiter(*this, std::move(item)); }

  /// Adds `item` if there is room; false (and `item` untouched) if full.
  /// Throws: queue_shut_down after shutdown().
  bool try_put(T item) {
    affinity_.check("corio::queue used from a thread that is not its loop's");
    if (state_ != open)
      throw queue_shut_down();
    return try_put_impl(item);
  }
  /// Removes the next item if there is one.
  /// Throws: queue_shut_down once the queue is shut down and empty.
  std::optional<T> try_get() {
    affinity_.check("corio::queue used from a thread that is not its loop's");
    if (storage_.empty()) {
      if (state_ != open)
        throw queue_shut_down();
      return std::nullopt;
    }
    return pop_and_refill();
  }

  /// Marks one item taken by get() as processed (asyncio's task_done); when
  /// every item put has been marked, join() returns.
  /// Throws: std::logic_error if called more times than items were put.
  void task_done() {
    affinity_.check("corio::queue used from a thread that is not its loop's");
    if (unfinished_ == 0)
      throw std::logic_error("corio::queue::task_done: called more times than items were put");
    if (--unfinished_ == 0)
      release_joiners();
  }
  /// Waits until every item put has been marked with task_done() (at once if
  /// none is unfinished).
  /// Throws: cancelled_error if cancelled while waiting.
  [[nodiscard]] task<> join() { co_await join_awaiter(*this); }

  /// Shuts the queue down, as asyncio 3.13: put() and try_put() throw
  /// queue_shut_down from now on, and waiting putters wake with it; get()
  /// returns the items left, then throws queue_shut_down, and waiting getters
  /// wake with it. With `immediate`, the items left are dropped (and count as
  /// done for join()) so get() throws at once. Calling it again is harmless.
  void shutdown(bool immediate = false) {
    affinity_.check("corio::queue used from a thread that is not its loop's");
    if (immediate || state_ == open)
      state_ = immediate ? shut_down_immediately : shut_down;
    if (immediate) {
      const std::size_t dropped = storage_.size();
      storage_.clear();
      count_done(dropped);
    }
    while (!getters_.empty())
      getters_.pop_front().wake();  // no item: it throws queue_shut_down
    while (!putters_.empty())
      putters_.pop_front().wake();  // not added: it throws queue_shut_down
  }

  std::size_t size() const noexcept { return storage_.size(); }
  bool empty() const noexcept { return storage_.empty(); }
  /// maxsize() items or more. A get() cancelled after its item was handed
  /// over puts the item back even into a full queue, which then holds
  /// maxsize() + 1 items until the next get().
  bool full() const noexcept { return maxsize_ != 0 && storage_.size() >= maxsize_; }
  std::size_t maxsize() const noexcept { return maxsize_; }

 private:
  class join_awaiter : public waiter {
   public:
    explicit join_awaiter(basic_queue& q) noexcept : waiter(described_by<&describe>), queue_(q) {}
    bool await_ready() const noexcept { return queue_.unfinished_ == 0; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      queue_.affinity_.check("corio::queue used from a thread that is not its loop's");
      return park(h, queue_.joiners_);
    }
    void await_resume() const { throw_if_cancelled(); }

   private:
    static void describe(const suspension&, wait_info& info) { info.what = "queue join"; }
    basic_queue& queue_;
  };

  // Gives `item` to the first waiting getter, or stores it if there is room.
  bool try_put_impl(T& item) {
    if (!getters_.empty()) {  // the queue is empty: hand over directly
      hand_to_first_getter(std::move(item));
    } else if (full()) {
      return false;
    } else {
      storage_.push(std::move(item));
    }
    ++unfinished_;
    return true;
  }
  void hand_to_first_getter(T&& item) {
    auto& getter = static_cast<get_awaiter&>(getters_.pop_front());
    getter.item_.emplace(std::move(item));
    getter.wake();
  }
  // Takes the next item and lets the first waiting putter in behind it.
  T pop_and_refill() {
    T item = storage_.pop();
    if (!putters_.empty() && !full()) {
      auto& putter = static_cast<put_awaiter&>(putters_.pop_front());
      storage_.push(std::move(putter.item_));
      putter.added_ = true;
      ++unfinished_;
      putter.wake();
    }
    return item;
  }
  // An item a cancelled getter was handed: the next getter's, or the next
  // one stored; dropped (and done) if the queue was shut down immediately.
  void put_back(T&& item) {
    if (state_ == shut_down_immediately) {
      count_done(1);
    } else if (!getters_.empty()) {
      hand_to_first_getter(std::move(item));
    } else {
      storage_.put_back(std::move(item));
    }
  }
  void count_done(std::size_t n) noexcept {
    unfinished_ -= std::min(n, unfinished_);
    if (unfinished_ == 0)
      release_joiners();
  }
  void release_joiners() noexcept {
    while (!joiners_.empty())
      joiners_.pop_front().wake();
  }

  enum state { open, shut_down, shut_down_immediately };

  Storage storage_;
  wait_list getters_;
  wait_list putters_;
  wait_list joiners_;
  loop_affinity affinity_;
  std::size_t maxsize_;
  std::size_t unfinished_ = 0;  // items put and not yet marked with task_done()
  state state_ = open;
};

}  // namespace corio::detail
