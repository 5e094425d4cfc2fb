// SPDX-License-Identifier: MIT
// corio/detail/intrusive_list.hpp: a doubly linked list threaded through its
// elements, for wait lists whose waiters leave from the middle when cancelled.
#pragma once

#include <cstddef>

namespace corio::detail {

class list_hook {
 public:
  bool linked() const noexcept { return prev_ != nullptr; }

 private:
  template <class T>
  friend class intrusive_list;
  list_hook* prev_ = nullptr;
  list_hook* next_ = nullptr;
};

// T derives from list_hook. The list never owns its elements.
template <class T>
class intrusive_list {
 public:
  intrusive_list() noexcept { head_.prev_ = head_.next_ = &head_; }
  intrusive_list(const intrusive_list&) = delete;
  intrusive_list& operator=(const intrusive_list&) = delete;

  bool empty() const noexcept { return head_.next_ == &head_; }
  std::size_t size() const noexcept { return size_; }
  T& front() noexcept { return static_cast<T&>(*head_.next_); }

  void push_back(T& element) noexcept {
    list_hook& node = element;
    node.prev_ = head_.prev_;
    node.next_ = &head_;
    head_.prev_->next_ = &node;
    head_.prev_ = &node;
    ++size_;
  }
  void erase(T& element) noexcept {
    list_hook& node = element;
    node.prev_->next_ = node.next_;
    node.next_->prev_ = node.prev_;
    node.prev_ = node.next_ = nullptr;
    --size_;
  }
  T& pop_front() noexcept {
    T& first = front();
    erase(first);
    return first;
  }
  // Calls fn on every element; fn may erase the element it is given.
  template <class Fn>
  void for_each(Fn fn) {
    for (list_hook* node = head_.next_; node != &head_;) {
      list_hook* next = node->next_;
      fn(static_cast<T&>(*node));
      node = next;
    }
  }

 private:
  list_hook head_;
  std::size_t size_ = 0;
};

}  // namespace corio::detail
