// SPDX-License-Identifier: MIT
// corio/detail/intrusive_fifo.hpp: a singly linked first-in first-out queue
// threaded through its elements, for queues that mostly push and pop: the
// to_thread pool's jobs and the epoll backend's waiters on one descriptor.
// Removal from the middle (a cancellation) scans; intrusive_list.hpp is the
// doubly linked list for wait lists whose waiters leave from the middle often.
#pragma once

#include <cstddef>

namespace corio::detail {

// `Next` is T's link member, which only the queue touches while T is queued.
// The queue never owns its elements.
template <class T, T* T::*Next>
class intrusive_fifo {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }

  void push(T& x) noexcept {
    x.*Next = nullptr;
    (tail_ != nullptr ? tail_->*Next : head_) = &x;
    tail_ = &x;
    ++size_;
  }
  // The oldest element, left on the queue; null if it is empty.
  T* front() const noexcept { return head_; }
  // The oldest element, taken off the queue; null if it is empty.
  T* pop() noexcept {
    T* x = head_;
    if (x == nullptr)
      return nullptr;
    head_ = x->*Next;
    if (head_ == nullptr)
      tail_ = nullptr;
    x->*Next = nullptr;
    --size_;
    return x;
  }
  // False if `x` is not queued here.
  bool erase(T& x) noexcept {
    T* before = nullptr;
    for (T* it = head_; it != nullptr; before = it, it = it->*Next) {
      if (it != &x)
        continue;
      (before != nullptr ? before->*Next : head_) = x.*Next;
      if (tail_ == &x)
        tail_ = before;
      x.*Next = nullptr;
      --size_;
      return true;
    }
    return false;
  }
  // Moves every element of `other` to the back of this queue, in order.
  void splice(intrusive_fifo& other) noexcept {
    if (other.empty())
      return;
    (tail_ != nullptr ? tail_->*Next : head_) = other.head_;
    tail_ = other.tail_;
    size_ += other.size_;
    other = intrusive_fifo();
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace corio::detail
