// SPDX-License-Identifier: MIT
// corio/shield.hpp: shield(t), asyncio.shield: a cancellation of the awaiter
// does not reach t.
#pragma once

#include <corio/error.hpp>
#include <corio/source_location.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <corio/detail/awaitable.hpp>
#include <corio/detail/cancellation.hpp>
#include <corio/detail/spawned_task.hpp>
#include <corio/detail/wait_info.hpp>

#include <coroutine>
#include <string>
#include <utility>

namespace corio {
namespace detail {

// Waits for a spawned task like join_handle's awaiter, except that a
// cancellation ends the wait at once instead of being forwarded to the task.
template <class T>
class shield_awaiter : public suspension {
 public:
  explicit shield_awaiter(join_handle<T> handle) noexcept
      : suspension(hooks_of<&on_cancel, &describe>), handle_(std::move(handle)) {}

  bool await_ready() const noexcept { return state().done(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    if (begin(h))
      return false;  // cancelled already: leave the task running
    state().set_joiner(this);
    park();
    return true;
  }
  T await_resume() {
    if (cancel_requested())
      throw cancelled_error();  // the task runs on; its outcome is its own
    handle_.awaited_ = true;
    state().mark_retrieved();
    return state().template take<T>();
  }

 private:
  spawned_task& state() const noexcept { return *handle_.state_; }

  static void on_cancel(cancellable* self) noexcept {
    auto& a = *static_cast<shield_awaiter*>(self);
    a.state().set_joiner(nullptr);
    a.wake(*loop_core::current_or_null());
  }
  static void describe(const suspension& self, wait_info& info) {
    info.what = "shield of task '" +
                std::string(static_cast<const shield_awaiter&>(self).state().name()) + "'";
  }

  join_handle<T> handle_;
};

template <class T>
task<T> shield_task(task<T> t, source_location where) {
  co_return co_await shield_awaiter<T>(corio::spawn(std::move(t), nullptr, where));
}

}  // namespace detail

/// Awaits `a` (a task or any other awaitable) so that cancelling the awaiting
/// task does not cancel it, as asyncio.shield.
///
/// When the returned task is awaited, `a` is spawned as a task of its own
/// (named after the function that calls shield). If the awaiting task is
/// cancelled, it gets cancelled_error at once, while `a` runs on to its end;
/// an exception it then ends with is reported through the unhandled-exception
/// handler, as for a spawned task whose handle was dropped. Otherwise the
/// value or the exception of `a` passes through.
///
/// Cancellation: cancelling the awaiter never reaches `a`. Like every spawned
///   task, `a` is cancelled and awaited by run() if it is still running when
///   run()'s main task has ended (asyncio.run does the same).
/// Throws: the exception of `a`; cancelled_error when the awaiter is cancelled;
///   std::logic_error if no loop runs on this thread or `a` is an empty task.
/// Thread safety: call it on the loop's thread only.
/// Example:
///   co_await corio::shield(save_to_disk(doc));  // completes even if we are cancelled
template <class A>
[[nodiscard]] auto shield(A&& a, source_location where = source_location::current()) {
  return detail::shield_task(detail::as_task(std::forward<A>(a)), where);
}

}  // namespace corio
