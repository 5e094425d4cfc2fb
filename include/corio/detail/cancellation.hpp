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

#include <corio/config.hpp>

#include <coroutine>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace corio::detail {

class task_promise_base;
class task_context;
class suspension;
struct wait_info;

// A suspension point that can be cancelled. cancel() runs on the loop's
// thread and must never resume a coroutine inline: it schedules it, or asks
// the kernel to cancel and lets the completion do it.
//
// Its hooks are one static table per leaf type (hooks_of<...>), so a leaf
// carries one pointer for all of them: a million sleeping tasks are 16 MB
// smaller than with a pointer per hook.
class cancellable {
 public:
  using cancel_fn = void (*)(cancellable*) noexcept;
  // Says what the wait is for the call graph; called only when someone asks.
  using describe_fn = void (*)(const suspension&, wait_info&);
  // A timer's deadline passed (timer_heap.hpp).
  using fire_fn = void (*)(cancellable*) noexcept;
  struct hooks {
    cancel_fn cancel;
    describe_fn describe;
    fire_fn fire;
  };
  template <cancel_fn Cancel, describe_fn Describe = nullptr, fire_fn Fire = nullptr>
  static constexpr hooks hooks_of{Cancel, Describe, Fire};

  explicit cancellable(const hooks& h) noexcept : hooks_(&h) {}
  void cancel() noexcept { hooks_->cancel(this); }
  const hooks& leaf_hooks() const noexcept { return *hooks_; }

 private:
  const hooks* hooks_;
};

// Who hears when a unit's outermost coroutine finishes: run(), a spawned
// task, gather, wait_for. One owner may serve many contexts (gather's
// children). The outermost coroutine's promise holds it as its continuation
// (task_promise_base::start_as_root), so a context is one word.
class context_owner {
 public:
  // Returns the coroutine to transfer to (or std::noop_coroutine()).
  using done_fn = std::coroutine_handle<> (*)(context_owner*, task_context*,
                                              task_promise_base&) noexcept;
  explicit context_owner(done_fn fn) noexcept : done_(fn) {}

  std::coroutine_handle<> finished(task_context* context, task_promise_base& promise) noexcept {
    return done_(this, context, promise);
  }

 private:
  done_fn done_;
};

// One word, because gather keeps one per child: a million children are 8 MB.
class task_context {
 public:
  task_context() noexcept = default;
  task_context(const task_context&) = delete;
  task_context& operator=(const task_context&) = delete;

  // Delivers the request to the parked leaf, at most once per parking: a
  // second request while that leaf is still parked is already being served.
  // This also ends cycles: A's leaf awaits B and forwards the cancel to B,
  // whose leaf awaits A and forwards it back, where it stops.
  void request_cancel() noexcept {
    if ((state_ & cancel_bit) != 0)
      return;  // pending already, or delivered to the leaf parked now
    cancellable* leaf = parked_on();
    state_ |= cancel_bit;
    if (leaf != nullptr)
      leaf->cancel();
  }

  // A leaf calls this before suspending: true means a cancellation is due and
  // the leaf must complete with cancelled_error instead of waiting.
  bool take_pending_cancel() noexcept {
    if (state_ != pending)
      return false;
    state_ = idle;
    return true;
  }
  // A leaf whose wait ended without honouring a cancellation (the operation
  // finished first) keeps the request for the next suspension point.
  void keep_pending_cancel() noexcept { state_ = pending; }

  // `cancelled`: the leaf has taken a pending request already, so this
  // parking counts as delivered.
  void park(cancellable* leaf, bool cancelled) noexcept {
    state_ = reinterpret_cast<std::uintptr_t>(leaf) | (cancelled ? cancel_bit : 0);
  }
  // Returns whether a cancellation was delivered during the parking.
  bool unpark() noexcept { return (std::exchange(state_, idle) & cancel_bit) != 0; }
  bool parked() const noexcept { return parked_on() != nullptr; }
  // The leaf parked now, or null; every parked leaf is a suspension.
  const suspension* leaf() const noexcept;

 private:
  // The parked leaf's address (leaves are pointer-aligned, so bit 0 is free)
  // and, in bit 0, whether a request was made: with no leaf that is a pending
  // request; with a leaf, the request was delivered to it. A leaf parks only
  // after taking the pending request, so idle, pending and parked are exclusive.
  static constexpr std::uintptr_t idle = 0;
  static constexpr std::uintptr_t cancel_bit = 1;
  static constexpr std::uintptr_t pending = cancel_bit;
  cancellable* parked_on() const noexcept {
    return reinterpret_cast<cancellable*>(state_ & ~cancel_bit);
  }

  std::uintptr_t state_ = idle;
};

// The one suspension protocol of every leaf awaiter (a sleep, an I/O
// operation, a primitive wait, a to_thread call, a join, a combinator waiting
// on its children). In await_suspend:
//
//   if (begin(h)) return false;   // a pending cancellation: complete with
//                                 // cancelled_error (or, for a leaf that must
//                                 // wait for what it cancels, forward it and park)
//   ... start the wait: everything that can throw (allocate, submit, link) ...
//   park();                       // last: from here on the wait can be cancelled
//   return true;
//
// Whoever ends the wait calls unpark(), then resumes or schedules the
// coroutine it returns (wake(loop) does both). The cancel hook (in the hooks
// given to the constructor) runs at most once per parking and must not resume
// the task inline: it ends the wait through unpark(), or starts something
// whose completion does. After the wait, cancel_requested() says whether a
// cancellation reached it; a leaf whose outcome did not honour it (the
// operation finished first) calls keep_cancel_if_requested(), so the request
// waits for the next suspension point and is never lost.
//
// The hooks are the leaf type's table, hooks_of<&on_cancel, &describe>; the
// describe hook is optional.
// Where a wait was awaited: the file and line of its co_await (line 0 when
// unknown), set by task_promise_base::await_transform, for the call graph.
// Where the compiler cannot record it (CORIO_DETAIL_AWAIT_LOCATION), an
// empty base that always says "unknown".
#if CORIO_DETAIL_AWAIT_LOCATION
class await_place {
 public:
  void set_awaited_at(const char* file, unsigned line) noexcept {
    file_ = file;
    line_ = line;
  }
  const char* awaited_file() const noexcept { return file_; }
  unsigned awaited_line() const noexcept { return line_; }

 private:
  const char* file_ = "";
  unsigned line_ = 0;
};
#else
class await_place {
 public:
  const char* awaited_file() const noexcept { return ""; }
  unsigned awaited_line() const noexcept { return 0; }
};
#endif

class suspension : public cancellable, public await_place {
 public:
  explicit suspension(const hooks& h) noexcept : cancellable(h) {}
  // Only an awaiter that was never awaited moves (the adapter that makes a
  // task of it moves it into the task's frame): a parked one is referenced.
  suspension(suspension&& other) noexcept : cancellable(other), await_place(other) {
    CORIO_ASSERT_NOEXCEPT(other.context_ == 0, "corio: an awaiter was moved after it was awaited");
  }
  suspension(const suspension&) = delete;
  suspension& operator=(const suspension&) = delete;

  // Ends the wait; returns the coroutine to resume or to schedule.
  std::coroutine_handle<> unpark() noexcept {
    if (context()->unpark())
      set_cancel_requested();
    return handle_;
  }
  // Ends the wait and queues the task on `loop` (any type with schedule()).
  template <class Loop>
  void wake(Loop& loop) {
    loop.schedule(unpark());
  }

  bool cancel_requested() const noexcept { return (context_ & cancel_bit) != 0; }
  // The awaiting task's context, or null before the leaf is awaited.
  task_context* context() const noexcept {
    return reinterpret_cast<task_context*>(context_ & ~cancel_bit);
  }
  describe_fn describer() const noexcept { return leaf_hooks().describe; }

 protected:
  // Binds the wait to the awaiting task; true if a cancellation was pending.
  template <class Promise>
  bool begin(std::coroutine_handle<Promise> h) noexcept {
    static_assert(std::is_base_of_v<task_promise_base, Promise>,
                  "corio awaitables can only be awaited from a corio::task coroutine");
    task_context* context = h.promise().context();
    handle_ = h;
    const bool cancelled = context->take_pending_cancel();
    context_ = reinterpret_cast<std::uintptr_t>(context) | (cancelled ? cancel_bit : 0);
    return cancelled;
  }
  void park() noexcept { context()->park(this, cancel_requested()); }
  // For a leaf that takes a cancellation outside begin() and the cancel hook.
  void set_cancel_requested() noexcept { context_ |= cancel_bit; }
  void keep_cancel_if_requested() noexcept {
    if (cancel_requested())
      context()->keep_pending_cancel();
  }

 private:
  // The context's address and, in bit 0, whether a cancellation reached this
  // wait: every leaf is one word smaller than with a flag of its own.
  static constexpr std::uintptr_t cancel_bit = 1;
  std::uintptr_t context_ = 0;
  std::coroutine_handle<> handle_;
};

inline const suspension* task_context::leaf() const noexcept {
  return static_cast<const suspension*>(parked_on());
}

}  // namespace corio::detail
