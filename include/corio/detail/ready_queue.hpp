// SPDX-License-Identifier: MIT
// corio/detail/ready_queue.hpp: the FIFO of coroutines ready to resume.
#pragma once

#include <coroutine>
#include <cstddef>
#include <memory>

namespace corio::detail {

// A growable ring buffer of handles: loop-local, no atomics, and no
// allocation once it has grown to the program's peak of ready coroutines.
// push() is a few instructions inlined at every yield and wake-up; growing
// is out of line, so that it does not stop push() from being inlined (it
// was a call, a quarter of a yield's time, when grow() was part of it).
class ready_queue {
 public:
  ready_queue() : buffer_(std::make_unique<std::coroutine_handle<>[]>(initial)) {}

  void push(std::coroutine_handle<> h) {
    if (size_ > mask_) [[unlikely]]
      grow();
    buffer_[(head_ + size_) & mask_] = h;
    ++size_;
  }
  std::coroutine_handle<> pop() noexcept {
    const std::coroutine_handle<> h = buffer_[head_];
    head_ = (head_ + 1) & mask_;
    --size_;
    return h;
  }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

 private:
  static constexpr std::size_t initial = 1024;  // a power of two, as every size after it

  [[gnu::noinline]] void grow() {
    const std::size_t capacity = mask_ + 1;
    auto bigger = std::make_unique<std::coroutine_handle<>[]>(capacity * 2);
    for (std::size_t i = 0; i < size_; ++i)
      bigger[i] = buffer_[(head_ + i) & mask_];
    buffer_ = std::move(bigger);
    mask_ = capacity * 2 - 1;
    head_ = 0;
  }

  std::unique_ptr<std::coroutine_handle<>[]> buffer_;
  std::size_t mask_ = initial - 1;  // capacity - 1
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// The ready queue of the loop running on this thread (the loop sets it), for
// task's awaiter, which cannot name the loop.
inline thread_local ready_queue* this_thread_ready_queue = nullptr;

}  // namespace corio::detail
