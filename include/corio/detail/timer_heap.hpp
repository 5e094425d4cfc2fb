// SPDX-License-Identifier: MIT
// corio/detail/timer_heap.hpp: the loop's user-space timers.
//
// One 4-ary heap of deadlines and a single kernel wait (the timeout of
// io_uring_submit_and_wait_timeout) for the earliest one: a million sleeps
// cost a million heap entries, not a million kernel timers (bench/README.md, W2).
#pragma once

#include <corio/detail/cancellation.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace corio::detail {

// A leaf that also waits for a deadline: its hooks' fire hook runs when the
// deadline passes (it shares the table of the other hooks, so a sleep carries
// no function pointer of its own).
class timer_node : public suspension {
 public:
  explicit timer_node(const hooks& h) noexcept : suspension(h) {}
  timer_node(timer_node&& other) noexcept : suspension(std::move(other)) {}
  bool armed() const noexcept { return index_ != not_armed; }

 private:
  friend class timer_heap;
  static constexpr std::size_t not_armed = std::numeric_limits<std::size_t>::max();
  std::size_t index_ = not_armed;  // position in the heap, kept up to date by it
};

class timer_heap {
 public:
  using clock = std::chrono::steady_clock;

  void add(timer_node* node, clock::time_point deadline) {
    heap_.push_back(entry{deadline.time_since_epoch().count(), node});
    sift_up(heap_.size() - 1);
  }
  // Removes an armed timer without firing it.
  void remove(timer_node* node) noexcept {
    const std::size_t i = node->index_;
    node->index_ = timer_node::not_armed;
    const std::size_t last = heap_.size() - 1;
    if (i != last) {
      heap_[i] = heap_[last];
      heap_[i].node->index_ = i;
      heap_.pop_back();
      if (i > 0 && less(heap_[i], heap_[parent(i)])) {
        sift_up(i);
      } else {
        sift_down(i);
      }
    } else {
      heap_.pop_back();
    }
  }
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  clock::time_point next_deadline() const noexcept {
    return clock::time_point(clock::duration(heap_.front().deadline));
  }
  // Fires the timers due at `now`, earliest first (equal deadlines in no
  // particular order, as in asyncio), at most `limit` of them: a million
  // sleeps ending together then reach the ready queue a batch per loop turn,
  // between which I/O completions are reaped. Returns how many fired.
  std::size_t fire_due(clock::time_point now,
                       std::size_t limit = std::numeric_limits<std::size_t>::max()) noexcept {
    const std::int64_t now_ticks = now.time_since_epoch().count();
    std::size_t fired = 0;
    while (fired < limit && !heap_.empty() && heap_.front().deadline <= now_ticks) {
      timer_node* node = heap_.front().node;
      remove(node);
      node->leaf_hooks().fire(node);
      ++fired;
    }
    return fired;
  }

 private:
  // 16 bytes: a million sleeps cost 16 MB here. Four children per node halve
  // the depth of a binary heap, and so the cache misses of each pop.
  struct entry {
    std::int64_t deadline;  // steady_clock ticks
    timer_node* node;
  };
  static constexpr std::size_t arity = 4;
  static std::size_t parent(std::size_t i) noexcept { return (i - 1) / arity; }
  static bool less(const entry& a, const entry& b) noexcept { return a.deadline < b.deadline; }

  void sift_up(std::size_t i) noexcept {
    entry moving = heap_[i];
    while (i > 0 && less(moving, heap_[parent(i)])) {
      heap_[i] = heap_[parent(i)];
      heap_[i].node->index_ = i;
      i = parent(i);
    }
    heap_[i] = moving;
    moving.node->index_ = i;
  }
  void sift_down(std::size_t i) noexcept {
    entry moving = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      const std::size_t first = arity * i + 1;
      if (first >= n)
        break;
      std::size_t best = first;
      const std::size_t last = first + arity < n ? first + arity : n;
      for (std::size_t c = first + 1; c < last; ++c) {
        if (less(heap_[c], heap_[best]))
          best = c;
      }
      if (!less(heap_[best], moving))
        break;
      heap_[i] = heap_[best];
      heap_[i].node->index_ = i;
      i = best;
    }
    heap_[i] = moving;
    moving.node->index_ = i;
  }

  std::vector<entry> heap_;
};

// The loop's clock: steady_clock, or, on a loop of testing::run_virtual, its
// virtual time (the loop points this at it while it lives).
inline thread_local const std::chrono::steady_clock::time_point* this_thread_virtual_now = nullptr;
inline std::chrono::steady_clock::time_point loop_now() noexcept {
  if (this_thread_virtual_now != nullptr) [[unlikely]]
    return *this_thread_virtual_now;
  return std::chrono::steady_clock::now();
}

// now + d on the loop's clock, saturating: a negative d is now, a huge one never.
template <class Rep, class Period>
std::chrono::steady_clock::time_point deadline_after(
    std::chrono::duration<Rep, Period> d) noexcept {
  using clock = std::chrono::steady_clock;
  const clock::time_point now = loop_now();
  if (d <= d.zero())
    return now;
  const auto room = clock::time_point::max() - now;
  if (std::chrono::duration<double>(d) >= std::chrono::duration<double>(room)) {
    return clock::time_point::max();
  }
  return now + std::chrono::ceil<clock::duration>(d);
}

}  // namespace corio::detail
