// SPDX-License-Identifier: MIT
// corio/detail/cross_thread.hpp: what event_loop::call_soon_threadsafe and
// event_loop::submit hand to a loop from another thread. Both travel the
// loop's remote queue, the path to_thread results take back.
#pragma once

#include <corio/error.hpp>
#include <corio/source_location.hpp>
#include <corio/task.hpp>

#include <corio/detail/loop_core.hpp>
#include <corio/detail/remote_queue.hpp>
#include <corio/detail/spawned_task.hpp>

#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace corio::detail {

// A callable to run on the loop's thread. It comes from the ordinary heap,
// not a frame arena: it is made on a thread that may have no loop.
template <class F>
class posted_call final : public remote_node {
 public:
  template <class G>
  explicit posted_call(G&& f) : remote_node(&deliver, false), f_(std::forward<G>(f)) {}

 private:
  // An exception from f goes where a spawned task's unretrieved exception
  // goes (asyncio hands a failed callback to the loop's exception handler);
  // the loop runs on.
  static void deliver(remote_node* self) noexcept {
    std::unique_ptr<posted_call> call(static_cast<posted_call*>(self));
    try {
      std::invoke(call->f_);
    } catch (...) {
      report_unhandled(std::current_exception());
    }
  }

  F f_;
};

// The spawned task behind a submitted one: it sets the promise from the
// task's outcome, cancellation included, so the future never waits forever.
// By value: a frame destroyed before it ran breaks the promise.
// A failure reaches the promise after the loop thread has let go of every
// other reference to the exception (the task's frame, the handler's): then
// only the future's shared state keeps it, whose count a thread sanitizer
// sees, so a thread that reads the exception through a std::shared_future
// is not reported as racing with its destruction. exception_ptr's own count
// is inside libstdc++.so, which a sanitizer cannot see, so with std::future
// (whose get() lets go of the state before the exception is read) the
// report can still appear: a false positive.
template <class T>
task<void> fulfil(task<T> t, std::promise<T> promise) {
  std::exception_ptr failure;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(t);
      promise.set_value();
    } else {
      promise.set_value(co_await std::move(t));
    }
    co_return;
  } catch (...) {
    failure = std::current_exception();
  }
  { [[maybe_unused]] task<T> done = std::move(t); }
  promise.set_exception(std::move(failure));
}

template <class T>
class submitted_task final : public remote_node {
 public:
  submitted_task(loop_core& loop, task<T> t, source_location where)
      : remote_node(&deliver, false), loop_(loop), task_(std::move(t)), where_(where) {}
  std::future<T> get_future() { return promise_.get_future(); }

 private:
  // Loop thread: starts the task as a spawned task with no join_handle, or,
  // once the loop shuts down (or is destroyed), gives the future a
  // cancelled_error without starting it, as run() would have cancelled it.
  static void deliver(remote_node* self) noexcept {
    std::unique_ptr<submitted_task> s(static_cast<submitted_task*>(self));
    if (!s->loop_.accepts_tasks()) {
      s->promise_.set_exception(std::make_exception_ptr(cancelled_error()));
      return;
    }
    try {
      task<void> body = fulfil(std::move(s->task_), std::move(s->promise_));
      auto* state = new spawned_task(std::move(body));
      state->set_origin(nullptr, s->where_);
      state->start();
      state->release_handle();
    } catch (const std::bad_alloc&) {
      // The promise went with the frame or its parameters: the future
      // reports a broken promise (std::future_error).
    }
  }

  loop_core& loop_;
  task<T> task_;
  std::promise<T> promise_;
  source_location where_;
};

}  // namespace corio::detail
