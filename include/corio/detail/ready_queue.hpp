// SPDX-License-Identifier: MIT
// corio/detail/ready_queue.hpp: the FIFO of coroutines ready to resume.
#pragma once

#include <coroutine>
#include <cstddef>
#include <vector>

namespace corio::detail {

// A growable ring buffer of handles: loop-local, no atomics, and no
// allocation once it has grown to the program's peak of ready coroutines.
class ready_queue {
 public:
  ready_queue() : buffer_(1024) {}

  void push(std::coroutine_handle<> h) {
    if (size_ == buffer_.size())
      grow();
    buffer_[(head_ + size_) & (buffer_.size() - 1)] = h;
    ++size_;
  }
  std::coroutine_handle<> pop() noexcept {
    std::coroutine_handle<> h = buffer_[head_];
    head_ = (head_ + 1) & (buffer_.size() - 1);
    --size_;
    return h;
  }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

 private:
  void grow() {
    std::vector<std::coroutine_handle<>> bigger(buffer_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i)
      bigger[i] = buffer_[(head_ + i) & (buffer_.size() - 1)];
    buffer_.swap(bigger);
    head_ = 0;
  }

  std::vector<std::coroutine_handle<>> buffer_;  // size is a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// The ready queue of the loop running on this thread (the loop sets it), for
// task's awaiter, which cannot name the loop.
inline thread_local ready_queue* this_thread_ready_queue = nullptr;

}  // namespace corio::detail
