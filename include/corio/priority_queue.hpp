// SPDX-License-Identifier: MIT
// corio/priority_queue.hpp: priority_queue<T, Compare>, asyncio.PriorityQueue.
#pragma once

#include <corio/detail/basic_queue.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace corio {
namespace detail {

// A binary heap whose top is the smallest item by Compare.
template <class T, class Compare>
class heap_storage {
 public:
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  void push(T&& item) {
    items_.push_back(std::move(item));
    std::push_heap(items_.begin(), items_.end(), later());
  }
  T pop() {
    std::pop_heap(items_.begin(), items_.end(), later());
    T item = std::move(items_.back());
    items_.pop_back();
    return item;
  }
  // It was the smallest when it was popped: pushed again, it comes next
  // unless a smaller one arrived meanwhile.
  void put_back(T&& item) { push(std::move(item)); }
  void clear() noexcept { items_.clear(); }

 private:
  // The std heap algorithms keep the greatest on top; invert the order.
  auto later() {
    return [this](const T& a, const T& b) { return compare_(b, a); };
  }

  std::vector<T> items_;
  [[no_unique_address]] Compare compare_;
};

}  // namespace detail

/// A queue that gives the smallest item first (asyncio.PriorityQueue), by
/// `Compare` (default std::less: lowest first, as asyncio, which is the
/// reverse of std::priority_queue). Same interface and behaviour as
/// queue<T>: put(), get(), try_put(), try_get(), task_done(), join(),
/// shutdown(); items of equal priority come out in no particular order.
///
/// Cancellation: as queue<T>, no item is lost at any suspension point; a
///   get() cancelled after an item was handed to it puts the item back.
/// Lifetime: it must outlive every task waiting on it; destroying it while
///   one waits is a programmer error (debug builds abort with the reason).
/// Thread safety: loop-affine, no atomics: use it only on the thread of its
///   loop (checked in debug builds with std::logic_error). No call is
///   thread-safe; from another thread, go through event_loop::call_soon_threadsafe
///   or event_loop::submit.
/// Example:
///   corio::priority_queue<std::pair<int, std::string>> jobs;
///   co_await jobs.put({2, "later"});  co_await jobs.put({1, "first"});
///   auto [priority, name] = co_await jobs.get();  // 1, "first"
template <class T, class Compare = std::less<T>>
class priority_queue : public detail::basic_queue<T, detail::heap_storage<T, Compare>> {
 public:
  using detail::basic_queue<T, detail::heap_storage<T, Compare>>::basic_queue;
};

}  // namespace corio
