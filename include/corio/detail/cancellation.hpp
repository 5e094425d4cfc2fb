// SPDX-License-Identifier: MIT
// corio/detail/cancellation.hpp: where a cancellation request goes.
//
// Every concurrent unit (run()'s main task, a spawned task, a gather child, a
// wait_for child) has one task_context. The coroutines it awaits inline share
// it: a task awaited with co_await inherits its parent's context. When the
// unit suspends at a leaf (a sleep, an I/O operation, a primitive wait, a
// to_thread call, or a combinator waiting on its children) the leaf parks
// itself on the context, and a cancellation request is handed to that leaf,
// which completes the wait with cancelled_error.
//
// Delivery is one-shot, as in asyncio: a request made while the unit is not
// parked stays pending and is delivered at its next suspension point.
#pragma once

#include <coroutine>
#include <cstdint>
#include <utility>

namespace corio::detail {

class task_promise_base;
class task_context;

// A suspension point that can be cancelled. cancel() runs on the loop's
// thread and must never resume a coroutine inline: it schedules it, or asks
// the kernel to cancel and lets the completion do it.
class cancellable {
 public:
  using cancel_fn = void (*)(cancellable*) noexcept;
  explicit cancellable(cancel_fn fn) noexcept : cancel_(fn) {}
  void cancel() noexcept { cancel_(this); }

 private:
  cancel_fn cancel_;
};

// Who hears when a unit's outermost coroutine finishes: run(), a spawned
// task, gather, wait_for. One owner may serve many contexts (gather's children).
class context_owner {
 public:
  // Returns the coroutine to transfer to (or std::noop_coroutine()).
  using done_fn = std::coroutine_handle<> (*)(context_owner*, task_context*,
                                              task_promise_base&) noexcept;
  explicit context_owner(done_fn fn) noexcept : done_(fn) {}

 private:
  friend class task_context;
  done_fn done_;
};

// 16 bytes, because gather keeps one per child: a million children are 16 MB.
class task_context {
 public:
  task_context() noexcept = default;
  explicit task_context(context_owner* owner) noexcept : owner_(owner) {}
  task_context(const task_context&) = delete;
  task_context& operator=(const task_context&) = delete;

  void set_owner(context_owner* owner) noexcept { owner_ = owner; }

  void request_cancel() noexcept {
    if (cancellable* leaf = parked_on()) {
      leaf->cancel();
    } else {
      state_ = pending;
    }
  }

  // A leaf calls this before suspending: true means a cancellation is due and
  // the leaf must complete with cancelled_error instead of waiting.
  bool take_pending_cancel() noexcept {
    if (state_ != pending)
      return false;
    state_ = idle;
    return true;
  }
  // A leaf whose cancellation lost a race (the operation finished first)
  // keeps the request for the next suspension point.
  void keep_pending_cancel() noexcept { state_ = pending; }

  void park(cancellable* leaf) noexcept { state_ = reinterpret_cast<std::uintptr_t>(leaf); }
  void unpark() noexcept { state_ = idle; }
  bool parked() const noexcept { return parked_on() != nullptr; }

  std::coroutine_handle<> finished(task_promise_base& promise) noexcept {
    return owner_->done_(owner_, this, promise);
  }

 private:
  // Idle, pending or parked are exclusive: a leaf parks only after taking the
  // pending request, and a request made while parked goes to the leaf.
  static constexpr std::uintptr_t idle = 0;
  static constexpr std::uintptr_t pending = 1;  // never a leaf's address
  cancellable* parked_on() const noexcept {
    return state_ > pending ? reinterpret_cast<cancellable*>(state_) : nullptr;
  }

  std::uintptr_t state_ = idle;
  context_owner* owner_ = nullptr;
};

}  // namespace corio::detail
