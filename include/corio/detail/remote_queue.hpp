// SPDX-License-Identifier: MIT
// corio/detail/remote_queue.hpp: the only path by which other threads reach
// the loop: a lock-free inbox plus an eventfd the loop watches while it sleeps.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <system_error>

namespace corio::detail {

class remote_node {
 public:
  // Runs on the loop's thread once the node has been taken from the inbox.
  using deliver_fn = void (*)(remote_node*) noexcept;
  // `counted`: deliver_all() counts the node (a to_thread call the loop has
  // been waiting for); a call from a foreign thread is not one the loop knew of.
  explicit remote_node(deliver_fn fn, bool counted = true) noexcept
      : deliver_(fn), counted_(counted) {}
  void deliver() noexcept { deliver_(this); }

 private:
  friend class remote_queue;
  friend class remote_batch;
  deliver_fn deliver_;
  remote_node* next_ = nullptr;
  bool counted_;
};

// Nodes gathered on one thread, pushed to the loop with one atomic exchange
// and at most one eventfd write.
class remote_batch {
 public:
  void add(remote_node* node) noexcept {
    node->next_ = newest_;
    newest_ = node;
    if (oldest_ == nullptr)
      oldest_ = node;
  }
  bool empty() const noexcept { return newest_ == nullptr; }

 private:
  friend class remote_queue;
  remote_node* newest_ = nullptr;  // linked newest to oldest, as the inbox
  remote_node* oldest_ = nullptr;
};

class remote_queue {
 public:
  remote_queue() : eventfd_(::eventfd(0, EFD_CLOEXEC)) {
    if (eventfd_ < 0)
      throw std::system_error(errno, std::system_category(), "corio: eventfd");
  }
  remote_queue(const remote_queue&) = delete;
  remote_queue& operator=(const remote_queue&) = delete;
  ~remote_queue() { ::close(eventfd_); }

  int eventfd() const noexcept { return eventfd_; }

  // Any thread. Wakes the loop with one eventfd write per batch, and only if
  // the loop sleeps: the push that finds the sleeping flag set clears it and
  // writes; while the loop runs, a push costs no system call (the loop looks
  // at the inbox at the top of each turn).
  void push(remote_node* node) noexcept {
    remote_batch one;
    one.add(node);
    push(one);
  }
  // Any thread: every node of `batch`, in the order they were added; leaves
  // `batch` empty.
  void push(remote_batch& batch) noexcept {
    if (batch.empty())
      return;
    remote_node* const oldest = batch.oldest_;
    oldest->next_ = head_.load(std::memory_order_relaxed);
    while (!head_.compare_exchange_weak(oldest->next_, batch.newest_, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
    }
    batch = remote_batch();
    if (sleeping_.exchange(false, std::memory_order_seq_cst)) {
      const std::uint64_t one = 1;
      while (::write(eventfd_, &one, sizeof one) < 0 && errno == EINTR) {
      }
    }
  }

  // Loop thread, right before it waits in the kernel: says it sleeps, then
  // looks at the inbox once more. Returns false if nodes are queued: the loop
  // must then not sleep. The seq_cst pair with push() (a store then a load
  // here, an exchange after the push's exchange there) means a push either
  // is seen by this load or finds the flag set and writes the eventfd.
  bool prepare_to_sleep() noexcept {
    sleeping_.store(true, std::memory_order_seq_cst);
    return head_.load(std::memory_order_seq_cst) == nullptr;
  }
  // Loop thread, once its wait in the kernel has returned (for any reason):
  // pushes stop writing the eventfd. A push that still wrote leaves one
  // spurious wake-up behind, nothing worse.
  void awake() noexcept { sleeping_.store(false, std::memory_order_relaxed); }

  // Loop thread: delivers every queued node, oldest first. Returns how many
  // of them were counted nodes.
  std::size_t deliver_all() noexcept {
    if (head_.load(std::memory_order_acquire) == nullptr)
      return 0;
    remote_node* stack = head_.exchange(nullptr, std::memory_order_seq_cst);
    remote_node* fifo = nullptr;
    while (stack != nullptr) {  // the inbox is LIFO; reverse it
      remote_node* next = stack->next_;
      stack->next_ = fifo;
      fifo = stack;
      stack = next;
    }
    std::size_t count = 0;
    while (fifo != nullptr) {
      remote_node* next = fifo->next_;
      count += fifo->counted_ ? 1 : 0;  // read first: deliver() may free the node
      fifo->deliver();
      fifo = next;
    }
    return count;
  }

 private:
  // Data that does not change once initialised.
  int eventfd_;
  // Data that remote threads modify.
  std::atomic<remote_node*> head_{nullptr};
  std::atomic<bool> sleeping_{false};  // the loop waits in the kernel, or is about to
};

}  // namespace corio::detail
