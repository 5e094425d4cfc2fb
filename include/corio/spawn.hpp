// SPDX-License-Identifier: MIT
// corio/spawn.hpp: spawn(task) and join_handle<T>, asyncio.create_task.
#pragma once

#include <corio/event_loop.hpp>
#include <corio/source_location.hpp>
#include <corio/task.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/spawned_task.hpp>
#include <corio/detail/wait_info.hpp>

#include <coroutine>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace corio {

class task_group;

/// The handle of a spawned task: await it for the task's value, cancel it,
/// or ask whether it is done.
///
/// Dropping the handle does not stop the task. If the task then ends with an
/// exception, that exception is reported once through the unhandled-exception
/// handler (set_unhandled_exception_handler); cancelled_error is not reported.
///
/// Cancellation: cancelling a task that awaits a join_handle cancels the
///   spawned task as well and waits for it to finish, then rethrows its outcome
///   (usually cancelled_error), as asyncio does for `await task`.
/// Throws: co_await rethrows the task's exception; std::logic_error when
///   awaiting an empty handle or one already awaited.
/// Thread safety: use only on the loop's thread.
template <class T>
class join_handle {
 public:
  join_handle() noexcept = default;
  join_handle(join_handle&& other) noexcept
      : state_(std::exchange(other.state_, nullptr))
      , awaited_(std::exchange(other.awaited_, false)) {}
  join_handle& operator=(join_handle&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::exchange(other.state_, nullptr);
      awaited_ = std::exchange(other.awaited_, false);
    }
    return *this;
  }
  join_handle(const join_handle&) = delete;
  join_handle& operator=(const join_handle&) = delete;
  ~join_handle() { reset(); }

  /// True once the task has run to its end (with a value or an exception).
  bool done() const noexcept { return state_ != nullptr && state_->done(); }

  /// The task's name: the one given to spawn(), else the function that
  /// spawned it (its source_location::function_name()); empty for an empty handle.
  std::string_view name() const noexcept {
    return state_ != nullptr ? std::string_view(state_->name()) : std::string_view();
  }
  /// Where the task was spawned (line 0 for an empty handle).
  source_location location() const noexcept {
    return state_ != nullptr ? state_->where() : source_location();
  }

  /// Requests cancellation: the task receives cancelled_error at its current
  /// (or next) suspension point. Does nothing if it has finished.
  void cancel() noexcept {
    if (state_ != nullptr && !state_->done())
      state_->request_cancel();
  }

  class awaiter : public detail::suspension {
   public:
    explicit awaiter(detail::typed_spawned_task<T>& state) noexcept
        : suspension(&on_cancel, &describe), state_(state) {}
    bool await_ready() const noexcept { return state_.done(); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
      if (begin(h))
        state_.request_cancel();  // forward it, then wait for the outcome
      state_.set_joiner(this);
      park();
      return true;
    }
    T await_resume() {
      state_.mark_retrieved();
      if (!detail::is_cancellation(state_.promise().exception()))
        keep_cancel_if_requested();  // the task finished anyway; the caller still gets it
      return state_.take();
    }

   private:
    static void on_cancel(cancellable* self) noexcept {
      static_cast<awaiter*>(self)->state_.request_cancel();
    }
    static void describe(const suspension& self, detail::wait_info& info) {
      info.what =
          "await task '" + std::string(static_cast<const awaiter&>(self).state_.name()) + "'";
    }
    detail::typed_spawned_task<T>& state_;
  };

  awaiter operator co_await() {
    if (state_ == nullptr) {
      throw std::logic_error(
          "corio::join_handle: this handle is empty (moved from or default-made)");
    }
    if (awaited_) {
      throw std::logic_error(
          "corio::join_handle: the task was awaited already; await a handle once");
    }
    awaited_ = true;
    return awaiter(*state_);
  }

 private:
  template <class U>
  friend join_handle<U> spawn(task<U> t, const char* name, source_location where);
  friend class task_group;
  explicit join_handle(detail::typed_spawned_task<T>* state) noexcept : state_(state) {}

  void reset() noexcept {
    if (state_ != nullptr)
      std::exchange(state_, nullptr)->release_handle();
    awaited_ = false;
  }

  detail::typed_spawned_task<T>* state_ = nullptr;
  bool awaited_ = false;
};

/// Starts `t` as a task of its own on the running loop, as
/// asyncio.create_task: it begins at the loop's next turn and runs
/// concurrently with the caller.
///
/// When run() returns, every spawned task still pending is cancelled and
/// awaited.
///
/// `name` names the task in the call graph (print_call_graph) and in
/// join_handle::name(); by default the name is the function that calls spawn.
///
/// Throws: std::logic_error if no loop runs on this thread, or if `t` is empty.
/// Lifetime: `name` is not copied: pass a string literal (or another string
///   that outlives the task).
/// Example:
///   corio::join_handle<int> h = corio::spawn(compute(), "compute");
///   int v = co_await h;
template <class T>
join_handle<T> spawn(task<T> t, const char* name = nullptr,
                     source_location where = source_location::current()) {
  detail::loop_core& loop = detail::loop_core::current();
  detail::task_access::check_awaitable(t, "corio::spawn");
  auto* state = new detail::typed_spawned_task<T>(loop, std::move(t));
  state->set_origin(name, where);
  state->start();
  return join_handle<T>(state);
}

}  // namespace corio
