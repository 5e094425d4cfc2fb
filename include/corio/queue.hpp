// SPDX-License-Identifier: MIT
// corio/queue.hpp: queue<T>, asyncio.Queue.
#pragma once

#include <corio/detail/basic_queue.hpp>

#include <cstddef>
#include <deque>
#include <utility>

namespace corio {
namespace detail {

template <class T>
class fifo_storage {
 public:
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  void push(T&& item) { items_.push_back(std::move(item)); }
  T pop() {
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  void put_back(T&& item) { items_.push_front(std::move(item)); }
  void clear() noexcept { items_.clear(); }

 private:
  std::deque<T> items_;
};

}  // namespace detail

/// A FIFO between tasks on one loop (asyncio.Queue), bounded or unbounded,
/// with asyncio 3.13's task_done()/join() and shutdown().
///
/// get() waits while the queue is empty and put() while it is full. Items
/// pass straight from a put() to a waiting get() and waiting tasks are served
/// in arrival order, so a hand-off between two tasks costs no allocation and
/// no system call. join() waits until task_done() was called for every item
/// put; shutdown() ends the queue (see there).
///
/// Members (from detail::basic_queue, shared with priority_queue):
/// - `queue(std::size_t maxsize = 0)`: 0 means unbounded.
/// - `co_await get()` -> T: the next item, waiting while empty; throws
///   queue_shut_down once shut down and empty.
/// - `co_await put(T item)`: waits while full; throws queue_shut_down after
///   shutdown() (a waiting put() wakes with it; its item is not added).
/// - `try_get()` -> std::optional<T>, `try_put(T)` -> bool: never wait; throw
///   queue_shut_down as get() and put() do.
/// - `task_done()`: marks an item taken as processed; std::logic_error if
///   called more times than items were put.
/// - `co_await join()` (a task<>): until every item put was marked done.
/// - `shutdown(bool immediate = false)`: see asyncio 3.13; `immediate` drops
///   the items left, which count as done for join().
/// - `size()`, `empty()`, `full()`, `maxsize()`.
///
/// Cancellation: no item is lost at any suspension point. A get() cancelled
///   while waiting leaves the wait list; one cancelled after an item was
///   handed to it but before it resumed puts the item back at the front (to
///   the next waiting getter, if any), then throws cancelled_error. A
///   cancelled put() leaves the wait list without adding its item. A
///   cancelled join() leaves its wait list.
/// Lifetime: it must outlive every task waiting on it; destroying it while
///   one waits is a programmer error (debug builds abort with the reason).
/// Thread safety: loop-affine, no atomics: use it only on the thread of its
///   loop (checked in debug builds with std::logic_error). No call is
///   thread-safe; from another thread, go through event_loop::call_soon_threadsafe
///   or event_loop::submit.
/// Example:
///   corio::queue<int> q(16);
///   co_await q.put(1);  int v = co_await q.get();  q.task_done();
///   co_await q.join();  q.shutdown();
template <class T>
class queue : public detail::basic_queue<T, detail::fifo_storage<T>> {
 public:
  using detail::basic_queue<T, detail::fifo_storage<T>>::basic_queue;
};

}  // namespace corio
