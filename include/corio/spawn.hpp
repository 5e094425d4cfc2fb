// SPDX-License-Identifier: MIT
// corio/spawn.hpp: spawn(task), spawn(awaitable), spawn(callable, args...) and
// join_handle<T>, asyncio.create_task.
#pragma once

#include <corio/event_loop.hpp>
#include <corio/source_location.hpp>
#include <corio/task.hpp>

#include <corio/detail/awaitable.hpp>
#include <corio/detail/cancellation.hpp>
#include <corio/detail/spawned_task.hpp>
#include <corio/detail/wait_info.hpp>

#include <coroutine>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace corio {

class task_group;
namespace detail {
template <class T>
class shield_awaiter;
}  // namespace detail

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
    explicit awaiter(detail::spawned_task& state) noexcept
        : suspension(hooks_of<&on_cancel, &describe>), state_(state) {}
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
      return state_.template take<T>();
    }

   private:
    static void on_cancel(cancellable* self) noexcept {
      static_cast<awaiter*>(self)->state_.request_cancel();
    }
    static void describe(const suspension& self, detail::wait_info& info) {
      info.what =
          "await task '" + std::string(static_cast<const awaiter&>(self).state_.name()) + "'";
    }
    detail::spawned_task& state_;
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
  template <class U>
  friend class detail::shield_awaiter;
  explicit join_handle(detail::spawned_task* state) noexcept : state_(state) {}

  void reset() noexcept {
    if (state_ != nullptr)
      std::exchange(state_, nullptr)->release_handle();
    awaited_ = false;
  }

  detail::spawned_task* state_ = nullptr;
  bool awaited_ = false;
};

/// Starts `t` as a task of its own on the running loop, as
/// asyncio.create_task: it begins at the loop's next turn and runs
/// concurrently with the caller.
///
/// When run() returns, every spawned task still pending is cancelled and
/// awaited. A task spawned during that (from a cancelled task's handler or
/// cleanup, a destructor, a shield()) starts with a cancellation pending: it
/// runs to its first suspension point, which throws cancelled_error, and run()
/// waits for it too. asyncio.run cancels only the tasks alive when it begins
/// to shut down and abandons, still pending, those created later; corio cannot
/// abandon a frame the kernel may still write to, so it cancels them as well.
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
  detail::loop_core::current();  // throws if no loop runs here
  detail::task_access::check_awaitable(t, "corio::spawn");
  auto* state = new detail::spawned_task(std::move(t));
  state->set_origin(name, where);
  state->start();
  return join_handle<T>(state);
}

namespace detail {

// The frame that owns a spawned callable and its arguments: the coroutine the
// callable returns may refer to both (a lambda's captures live in the lambda
// object) for as long as it runs, because this frame awaits it.
template <class F, class... Args>
auto invoke_in_frame(F f, Args... args)
    -> task<await_result_t<std::invoke_result_t<F&, Args&&...>>> {
  auto inner = std::invoke(f, std::move(args)...);
  co_return co_await std::move(inner);
}

// A callable that, given the arguments, returns something to await.
template <class F, class... Args>
concept spawnable_callable =
    !awaitable<F> && std::is_invocable_v<std::decay_t<F>&, std::decay_t<Args>&&...> &&
    awaitable<std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>&&...>>;

}  // namespace detail

/// Starts any other awaitable (sleep(d), q.get(), e.wait(), a join_handle, an
/// I/O operation) as a task of its own, as spawn(task) does.
/// Throws: as spawn(task).
/// Example:
///   corio::join_handle<std::string> h = corio::spawn(q.get(), "next item");
template <class A>
requires(!detail::is_task_v<A> && !std::is_invocable_v<std::decay_t<A>&>)
    join_handle<detail::await_result_t<A>> spawn(
        A&& a, const char* name = nullptr, source_location where = source_location::current()) {
  return corio::spawn(detail::as_task(std::forward<A>(a)), name, where);
}
/// Neither a task, an awaitable nor a callable: fails to compile with as_task's
/// one-line message (this overload exists only to say it).
template <class A>
requires(!detail::is_task_v<A> && !detail::awaitable<A> &&
         !std::is_invocable_v<std::decay_t<A>&>) join_handle<void> spawn(A&& a) {
  return corio::spawn(detail::as_task(std::forward<A>(a)));
}

/// Calls `f(std::move(args)...)` inside a new spawned task and awaits what it
/// returns (a task or any other awaitable). `f` and the arguments are moved
/// into that task's frame and live until it ends, so a coroutine lambda with
/// captures is safe here:
///   corio::spawn([name] () -> corio::task<> { co_await greet(name); });
/// whereas `corio::spawn([name] () -> corio::task<> { ... }())` starts a
/// coroutine whose lambda (and with it `name`) is destroyed at the end of the
/// statement: the coroutine then reads freed captures.
///
/// Arguments are passed as rvalues, as std::thread does: a parameter by value
/// or by `const&`/`&&` works (the reference is to the copy in the frame).
/// The task has no name and no location in the call graph; to give it one,
/// spawn a named coroutine function instead.
/// Throws: as spawn(task); whatever copying `f` and `args` throws.
/// Example:
///   auto h = corio::spawn([](int x) -> corio::task<int> { co_return x * 2; }, 21);
///   int v = co_await h;  // 42
template <class F, class... Args>
requires detail::spawnable_callable<F, Args...>
auto spawn(F f, Args... args) {
  return corio::spawn(detail::invoke_in_frame(std::move(f), std::move(args)...), nullptr,
                      source_location());
}

}  // namespace corio
