// SPDX-License-Identifier: MIT
// corio/gather.hpp: run several tasks concurrently and collect their results.
#pragma once

#include <corio/error.hpp>
#include <corio/task.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/result.hpp>
#include <corio/detail/wait_info.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace corio {
namespace detail {
template <class Derived, bool settled>
class gather_awaiter_base;
}  // namespace detail

/// The outcome of one task under gather_settled: a value or an exception.
template <class T>
class outcome {
  static_assert(!std::is_reference_v<T>, "gather_settled needs value tasks");

 public:
  using value_type = detail::non_void_t<T>;

  bool has_value() const noexcept { return value_.has_value(); }
  bool has_exception() const noexcept { return exception_ != nullptr; }
  /// The value; rethrows the exception if the task failed.
  value_type& value() & {
    if (exception_)
      std::rethrow_exception(exception_);
    return *value_;
  }
  value_type&& value() && {
    if (exception_)
      std::rethrow_exception(exception_);
    return std::move(*value_);
  }
  const std::exception_ptr& exception() const noexcept { return exception_; }

 private:
  template <class Derived, bool settled>
  friend class detail::gather_awaiter_base;

  std::optional<value_type> value_;
  std::exception_ptr exception_;
};

namespace detail {

// The machinery shared by every form of gather. Each child runs as its own
// concurrent unit (its own task_context), started inline in argument order;
// a child that finishes without suspending does not cost a trip through the
// ready queue. The last child to finish resumes the parent.
//
// `Derived` provides child_count() and handle(i), the type-erased coroutine of
// child i. With `settled` false, the first exception cancels the children
// still running (children not yet started never start), and is rethrown once
// all have finished.
template <class Derived, bool settled>
class gather_awaiter_base : public suspension, public context_owner {
 public:
  gather_awaiter_base() noexcept
      : suspension(&on_cancel, &describe), context_owner(&on_child_finished) {}

  bool await_ready() const noexcept { return self().child_count() == 0; }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> parent) {
    if (begin(parent))
      return false;
    const std::size_t n = self().child_count();
    children_ = std::make_unique<task_context[]>(n);
    // Parked before the children start: one that runs inline may cancel us.
    park();
    remaining_ = 1;  // until every child has started, so none resumes us early
    // Children left unstarted after a failure or a cancellation are freed
    // with the gather. started_ counts the running child too, so that a
    // cancellation it causes reaches it.
    for (std::size_t i = 0; i < n && !failed_ && !parent_cancelled_; ++i) {
      task_context& context = children_[i];
      context.set_owner(this);
      ++remaining_;
      started_ = i + 1;
      self().promise(i).start_as_root(&context);
      self().handle(i).resume();
    }
    if (--remaining_ == 0) {
      unpark();
      return false;
    }
    return true;
  }

 protected:
  // Rethrows what the gather as a whole must throw; returns normally when the
  // values can be collected.
  void finish() {
    if constexpr (!settled) {
      if (failed_)
        std::rethrow_exception(self().promise(first_failure_).exception());
    }
    if (cancel_requested()) {
      // Without every child's value there is nothing to return.
      if (settled || started_ < self().child_count())
        throw cancelled_error();
      keep_cancel_if_requested();  // every child finished anyway
    }
  }

  template <class T>
  static outcome<T> settle(task_promise<T>& p) {
    outcome<T> o;
    if (p.exception()) {
      o.exception_ = p.exception();
    } else if constexpr (std::is_void_v<T>) {
      o.value_.emplace();
    } else {
      o.value_.emplace(p.take());
    }
    return o;
  }

 private:
  Derived& self() noexcept { return static_cast<Derived&>(*this); }
  const Derived& self() const noexcept { return static_cast<const Derived&>(*this); }

  static std::coroutine_handle<> on_child_finished(context_owner* self, task_context* child,
                                                   task_promise_base& p) noexcept {
    auto& g = *static_cast<gather_awaiter_base*>(self);
    if (!settled && p.exception() && !g.failed_) {
      g.failed_ = true;
      g.first_failure_ = static_cast<std::size_t>(child - g.children_.get());
      g.cancel_children();
    }
    if (--g.remaining_ == 0)
      return g.unpark();
    return std::noop_coroutine();
  }

  static void on_cancel(cancellable* self) noexcept {
    auto& g = *static_cast<gather_awaiter_base*>(self);
    g.parent_cancelled_ = true;
    g.cancel_children();
  }

  static void describe(const suspension& self, wait_info& info) {
    auto& g = static_cast<const gather_awaiter_base&>(self);
    const std::size_t n = g.self().child_count();
    info.what = "gather of " + std::to_string(n) + " children";
    for (std::size_t i = 0; i < g.started_; ++i) {
      if (!const_cast<Derived&>(g.self()).handle(i).done())
        info.children.push_back({&g.children_[i], "gather child " + std::to_string(i), {}});
    }
  }

  void cancel_children() noexcept {
    for (std::size_t i = 0; i < started_; ++i) {
      if (!self().handle(i).done())
        children_[i].request_cancel();
    }
  }

  std::unique_ptr<task_context[]> children_;
  std::size_t started_ = 0;
  std::size_t remaining_ = 0;
  std::size_t first_failure_ = 0;
  bool failed_ = false;
  bool parent_cancelled_ = false;  // stops starting children; cancel_requested() after the wait
};

template <bool settled, class... Ts>
class tuple_gather final : public gather_awaiter_base<tuple_gather<settled, Ts...>, settled> {
 public:
  explicit tuple_gather(task<Ts>... ts) : tasks_(std::move(ts)...) {
    std::apply([](auto&... t) { (task_access::check_awaitable(t, "corio::gather"), ...); }, tasks_);
  }

  std::size_t child_count() const noexcept { return sizeof...(Ts); }
  std::coroutine_handle<> handle(std::size_t i) noexcept {
    return visit(i, [](auto& t) -> std::coroutine_handle<> { return task_access::handle(t); });
  }
  task_promise_base& promise(std::size_t i) noexcept {
    return visit(i, [](auto& t) -> task_promise_base& { return task_access::handle(t).promise(); });
  }

  auto await_resume() {
    this->finish();
    return std::apply(
        [](auto&... t) {
          if constexpr (settled) {
            return std::tuple<outcome<Ts>...>(
                this_type::settle(task_access::handle(t).promise())...);
          } else {
            return std::tuple<non_void_t<Ts>...>(take(task_access::handle(t).promise())...);
          }
        },
        tasks_);
  }

 private:
  using this_type = tuple_gather;

  template <class T>
  static non_void_t<T> take(task_promise<T>& p) {
    if constexpr (std::is_void_v<T>) {
      return std::monostate{};
    } else {
      return p.take();
    }
  }
  template <class Fn, std::size_t... I>
  decltype(auto) visit_impl(std::size_t i, Fn fn, std::index_sequence<I...>) noexcept {
    using R = decltype(fn(std::get<0>(tasks_)));
    if constexpr (std::is_reference_v<R>) {
      std::remove_reference_t<R>* r = nullptr;
      ((i == I ? (r = &fn(std::get<I>(tasks_)), 0) : 0), ...);
      return *r;
    } else {
      R r{};
      ((i == I ? (r = fn(std::get<I>(tasks_)), 0) : 0), ...);
      return r;
    }
  }
  template <class Fn>
  decltype(auto) visit(std::size_t i, Fn fn) noexcept {
    return visit_impl(i, fn, std::index_sequence_for<Ts...>{});
  }

  std::tuple<task<Ts>...> tasks_;
};

template <bool settled, class T>
class vector_gather final : public gather_awaiter_base<vector_gather<settled, T>, settled> {
 public:
  explicit vector_gather(std::vector<task<T>> ts) : tasks_(std::move(ts)) {
    for (auto& t : tasks_)
      task_access::check_awaitable(t, "corio::gather");
  }

  std::size_t child_count() const noexcept { return tasks_.size(); }
  std::coroutine_handle<> handle(std::size_t i) noexcept { return task_access::handle(tasks_[i]); }
  task_promise_base& promise(std::size_t i) noexcept {
    return task_access::handle(tasks_[i]).promise();
  }

  auto await_resume() {
    this->finish();
    if constexpr (settled) {
      std::vector<outcome<T>> results;
      results.reserve(tasks_.size());
      for (auto& t : tasks_)
        results.push_back(this->settle(task_access::handle(t).promise()));
      return results;
    } else if constexpr (std::is_void_v<T>) {
      return;
    } else {
      std::vector<T> results;
      results.reserve(tasks_.size());
      for (auto& t : tasks_)
        results.push_back(task_access::handle(t).promise().take());
      return results;
    }
  }

 private:
  std::vector<task<T>> tasks_;
};

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<task<T>> : std::true_type {};

template <class A>
concept is_gatherable = is_task<std::remove_cvref_t<A>>::value || requires(A a) {
  std::move(a).await_resume();
};

}  // namespace detail

/// Runs the tasks concurrently and returns their results in argument order,
/// as asyncio.gather; a `task<void>` contributes std::monostate.
///
/// Exception policy: the first child to throw makes gather cancel the
/// children still running (children not yet started never start), wait for
/// all of them, and then rethrow that first exception: nothing outlives the
/// gather (unlike asyncio's default). Use gather_settled to keep every outcome.
/// Ordering: children start in argument order, each running until its first
/// suspension before the next starts.
/// Cancellation: cancelling the task that awaits gather cancels every child;
///   gather then rethrows cancelled_error once all have finished.
/// Throws: the first child exception; std::logic_error if a task is empty.
/// Example:
///   auto [a, b] = co_await corio::gather(fetch(1), fetch(2));
template <class... Ts>
[[nodiscard]] task<std::tuple<detail::non_void_t<Ts>...>> gather(task<Ts>... ts) {
  co_return co_await detail::tuple_gather<false, Ts...>(std::move(ts)...);
}

/// gather over awaitables that are not tasks yet (such as sleep()).
template <class... As>
requires(sizeof...(As) > 0 && (detail::is_gatherable<As> && ...) &&
         !(detail::is_task<std::remove_cvref_t<As>>::value && ...))
    [[nodiscard]] auto gather(As&&... awaitables) {
  return gather(detail::as_task(std::forward<As>(awaitables))...);
}

/// Runs every task of `ts` concurrently; returns their values in order
/// (nothing for task<void>). Same exception policy as the variadic gather.
template <class T>
[[nodiscard]] task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> gather(
    std::vector<task<T>> ts) {
  static_assert(!std::is_reference_v<T>, "gather over a vector needs value tasks");
  co_return co_await detail::vector_gather<false, T>(std::move(ts));
}

/// Runs the tasks concurrently and keeps every outcome, as
/// asyncio.gather(return_exceptions=True): a child's exception does not
/// cancel the others. Returns a tuple of outcome<T>.
/// Throws: cancelled_error if the awaiting task is cancelled (after every
///   child, cancelled too, has finished).
template <class... Ts>
[[nodiscard]] task<std::tuple<outcome<Ts>...>> gather_settled(task<Ts>... ts) {
  co_return co_await detail::tuple_gather<true, Ts...>(std::move(ts)...);
}

/// gather_settled over a vector: a vector of outcome<T>, in order.
template <class T>
[[nodiscard]] task<std::vector<outcome<T>>> gather_settled(std::vector<task<T>> ts) {
  co_return co_await detail::vector_gather<true, T>(std::move(ts));
}

}  // namespace corio
