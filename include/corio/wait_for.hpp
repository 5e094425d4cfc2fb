// SPDX-License-Identifier: MIT
// corio/wait_for.hpp: wait_for(task, d) and wait_until(task, t), asyncio.wait_for and
// asyncio.timeout_at.
#pragma once

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/task.hpp>

#include <corio/detail/awaitable.hpp>
#include <corio/detail/cancellation.hpp>
#include <corio/detail/spawned_task.hpp>
#include <corio/detail/timer_heap.hpp>
#include <corio/detail/wait_info.hpp>

#include <chrono>
#include <coroutine>
#include <type_traits>
#include <utility>

namespace corio {
namespace detail {

// Runs the child as its own unit beside a timer; the timer cancels the child.
template <class T>
class wait_for_awaiter final : public timer_node, public context_owner {
 public:
  wait_for_awaiter(task<T> t, std::chrono::steady_clock::time_point deadline)
      : timer_node(hooks_of<&on_cancel, &describe, &on_timeout>)
      , context_owner(&on_child_finished)
      , task_(std::move(t))
      , deadline_(deadline) {
    task_access::check_awaitable(task_, "corio::wait_for");
  }

  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> parent) {
    loop_ = &loop_core::current();
    if (begin(parent))
      return false;
    loop_->timers().add(this, deadline_);
    park();
    auto h = task_access::handle(task_);
    h.promise().start_as_root(&child_, this);
    started_ = true;
    starting_ = true;
    h.resume();
    starting_ = false;
    if (finished_) {
      unpark();
      return false;
    }
    return true;
  }

  T await_resume() {
    if (!started_)
      throw cancelled_error();  // it was pending: the task never started
    auto& promise = task_access::handle(task_).promise();
    const bool child_cancelled = is_cancellation(promise.exception());
    if (timed_out_ && !cancel_requested() && child_cancelled)
      throw timeout_error();
    if (!child_cancelled)
      keep_cancel_if_requested();
    return promise.take();
  }

 private:
  static std::coroutine_handle<> on_child_finished(context_owner* self, task_context*,
                                                   task_promise_base&) noexcept {
    auto& w = *static_cast<wait_for_awaiter*>(self);
    w.finished_ = true;
    if (w.armed())
      w.loop_->timers().remove(&w);
    if (w.starting_)
      return std::noop_coroutine();  // await_suspend resumes the parent
    return w.unpark();
  }
  static void describe(const suspension& self, wait_info& info) {
    auto& w = static_cast<const wait_for_awaiter&>(self);
    info.what = "wait_for, " + describe_deadline(w.deadline_);
    if (w.started_ && !w.finished_)
      info.children.push_back({&w.child_, "wait_for child", {}});
  }
  static void on_timeout(cancellable* self) noexcept {
    auto& w = *static_cast<wait_for_awaiter*>(self);
    w.timed_out_ = true;
    w.child_.request_cancel();
  }
  static void on_cancel(cancellable* self) noexcept {
    auto& w = *static_cast<wait_for_awaiter*>(self);
    if (w.armed())
      w.loop_->timers().remove(&w);
    w.child_.request_cancel();
  }

  task<T> task_;
  std::chrono::steady_clock::time_point deadline_;
  task_context child_;
  loop_core* loop_ = nullptr;
  bool started_ = false;
  bool starting_ = false;
  bool finished_ = false;
  bool timed_out_ = false;
};

// The coroutine behind wait_for and wait_until.
template <class T>
task<T> wait_for_deadline(task<T> t, std::chrono::steady_clock::time_point deadline) {
  co_return co_await wait_for_awaiter<T>(std::move(t), deadline);
}

// A deadline on any clock, as a point on the loop's (steady) clock.
template <class Clock, class Dur>
std::chrono::steady_clock::time_point steady_deadline(std::chrono::time_point<Clock, Dur> t) {
  if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
    return std::chrono::time_point_cast<std::chrono::steady_clock::duration>(t);
  } else {
    return deadline_after(t - Clock::now());  // saturating, as a duration
  }
}

}  // namespace detail

/// Runs `a` (a task or any awaitable: q.get(), a join_handle, an I/O
/// operation) and returns its value, or cancels it and throws timeout_error
/// if it has not finished within `d`, as asyncio.wait_for.
///
/// The task runs as its own unit; when the time is up it receives
/// cancelled_error at its suspension point, and wait_for waits for it to
/// finish before throwing, so nothing outlives the call. A task that
/// finishes anyway (it caught the cancellation, or completed just in time)
/// yields its value or exception: nothing it produced is lost.
///
/// Cancellation: cancelling the caller cancels `a` too; wait_for then
///   rethrows the task's outcome (usually cancelled_error).
/// Throws: timeout_error; what `a` throws; std::logic_error if a task is empty.
/// Thread safety: call it on the loop's thread only.
/// Example:
///   auto conn = co_await corio::wait_for(listener.accept(), std::chrono::seconds(5));
template <class A, class Rep, class Period>
[[nodiscard]] detail::as_task_t<A> wait_for(A&& a, std::chrono::duration<Rep, Period> d) {
  return detail::wait_for_deadline(detail::as_task(std::forward<A>(a)), detail::deadline_after(d));
}

/// As wait_for, with an absolute deadline on any clock (asyncio.timeout_at);
/// a deadline in the past still starts `a`, then cancels it at its first
/// suspension point.
/// Throws: as wait_for.
/// Thread safety: call it on the loop's thread only.
/// Example:
///   const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
///   auto request = co_await corio::wait_until(read_request(stream), deadline);
template <class A, class Clock, class Dur>
[[nodiscard]] detail::as_task_t<A> wait_until(A&& a, std::chrono::time_point<Clock, Dur> deadline) {
  return detail::wait_for_deadline(detail::as_task(std::forward<A>(a)),
                                   detail::steady_deadline(deadline));
}

}  // namespace corio
