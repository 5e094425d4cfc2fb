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
#include <utility>

namespace corio::detail {

class task_promise_base;

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

class task_context {
 public:
  // Called when the unit's outermost coroutine finishes; returns the
  // coroutine to transfer to (or std::noop_coroutine()).
  using done_fn = std::coroutine_handle<> (*)(task_context*, task_promise_base&) noexcept;

  task_context() noexcept = default;
  explicit task_context(done_fn on_done) noexcept : on_done_(on_done) {}
  task_context(const task_context&) = delete;
  task_context& operator=(const task_context&) = delete;

  void request_cancel() noexcept {
    if (parked_on_ != nullptr) {
      parked_on_->cancel();
    } else {
      cancel_pending_ = true;
    }
  }

  // A leaf calls this before suspending: true means a cancellation is due and
  // the leaf must complete with cancelled_error instead of waiting.
  bool take_pending_cancel() noexcept { return std::exchange(cancel_pending_, false); }
  // A leaf whose cancellation lost a race (the operation finished first)
  // keeps the request for the next suspension point.
  void keep_pending_cancel() noexcept { cancel_pending_ = true; }
  bool cancel_pending() const noexcept { return cancel_pending_; }

  void park(cancellable* leaf) noexcept { parked_on_ = leaf; }
  void unpark() noexcept { parked_on_ = nullptr; }
  bool parked() const noexcept { return parked_on_ != nullptr; }

  std::coroutine_handle<> finished(task_promise_base& promise) noexcept {
    return on_done_(this, promise);
  }
  void set_on_done(done_fn fn) noexcept { on_done_ = fn; }

 private:
  cancellable* parked_on_ = nullptr;
  done_fn on_done_ = nullptr;
  bool cancel_pending_ = false;
};

}  // namespace corio::detail
