// SPDX-License-Identifier: MIT
// corio/gather.hpp: run several tasks concurrently and collect their results.
#pragma once

#include <corio/error.hpp>
#include <corio/task.hpp>

#include <corio/detail/awaitable.hpp>
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
template <class T>
class as_completed;
namespace detail {
// What ends a group of children started together: gather (the first
// failure cancels the others), gather_settled (nothing: every outcome is
// kept) and race (the first to finish, with a value or an exception).
enum class gather_mode { all, settled, first };
template <class Derived, gather_mode mode>
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
  template <class Derived, detail::gather_mode mode>
  friend class detail::gather_awaiter_base;
  template <class U>
  friend class as_completed;

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
// child i. The decisive child (the first to fail under gather_mode::all, the
// first to finish under gather_mode::first) cancels the children still
// running (children not yet started never start); its outcome is the
// gather's once all have finished.
template <class Derived, gather_mode mode>
class gather_awaiter_base : public suspension, public context_owner {
 public:
  gather_awaiter_base() noexcept
      : suspension(hooks_of<&on_cancel, &describe>), context_owner(&on_child_finished) {}

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
    for (std::size_t i = 0; i < n && !decided_ && !parent_cancelled_; ++i) {
      ++remaining_;
      started_ = i + 1;
      self().promise(i).start_as_root(&children_[i], this);
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
    if constexpr (mode == gather_mode::first) {
      if (!decided_)
        throw cancelled_error();  // cancelled before any child finished
      if (self().promise(decisive_).exception())
        std::rethrow_exception(self().promise(decisive_).exception());
      keep_cancel_if_requested();  // the winner's value is returned; the request waits
      return;
    }
    if constexpr (mode == gather_mode::all) {
      if (decided_)
        std::rethrow_exception(self().promise(decisive_).exception());
    }
    if (cancel_requested()) {
      // Without every child's value there is nothing to return.
      if (mode == gather_mode::settled || started_ < self().child_count())
        throw cancelled_error();
      keep_cancel_if_requested();  // every child finished anyway
    }
  }
  // The child whose outcome decided (race's winner).
  std::size_t decisive() const noexcept { return decisive_; }

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
    const bool decides = mode == gather_mode::first || (mode == gather_mode::all && p.exception());
    if (decides && !g.decided_) {
      g.decided_ = true;
      g.decisive_ = static_cast<std::size_t>(child - g.children_.get());
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
  std::size_t decisive_ = 0;
  bool decided_ = false;
  bool parent_cancelled_ = false;  // stops starting children; cancel_requested() after the wait
};

template <gather_mode mode, class... Ts>
class tuple_gather final : public gather_awaiter_base<tuple_gather<mode, Ts...>, mode> {
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
    if constexpr (mode == gather_mode::first) {
      return winner(std::index_sequence_for<Ts...>{});
    } else {
      return std::apply(
          [](auto&... t) {
            if constexpr (mode == gather_mode::settled) {
              return std::tuple<outcome<Ts>...>(
                  this_type::settle(task_access::handle(t).promise())...);
            } else {
              return std::tuple<non_void_t<Ts>...>(take(task_access::handle(t).promise())...);
            }
          },
          tasks_);
    }
  }

 private:
  using this_type = tuple_gather;

  // The winner's value, at its index (a type may appear more than once).
  template <std::size_t... I>
  std::variant<non_void_t<Ts>...> winner(std::index_sequence<I...>) {
    std::optional<std::variant<non_void_t<Ts>...>> r;
    const std::size_t w = this->decisive();
    ((I == w ? (r.emplace(std::in_place_index<I>,
                          take(task_access::handle(std::get<I>(tasks_)).promise())),
                0)
             : 0),
     ...);
    return std::move(*r);
  }

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

template <gather_mode mode, class T>
class vector_gather final : public gather_awaiter_base<vector_gather<mode, T>, mode> {
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
    if constexpr (mode == gather_mode::first) {
      const std::size_t w = this->decisive();
      if constexpr (std::is_void_v<T>) {
        return std::pair<std::size_t, std::monostate>(w, std::monostate{});
      } else {
        return std::pair<std::size_t, T>(w, task_access::handle(tasks_[w]).promise().take());
      }
    } else if constexpr (mode == gather_mode::settled) {
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

// The coroutines behind the public functions: they take the tasks by value,
// so a temporary argument lives in the frame.
template <gather_mode mode, class... Ts>
auto gather_tasks(task<Ts>... ts)
    -> task<decltype(std::declval<tuple_gather<mode, Ts...>&>().await_resume())> {
  co_return co_await tuple_gather<mode, Ts...>(std::move(ts)...);
}
template <gather_mode mode, class T>
auto gather_vector(std::vector<task<T>> ts)
    -> task<decltype(std::declval<vector_gather<mode, T>&>().await_resume())> {
  static_assert(!std::is_reference_v<T>, "gather and race over a vector need value tasks");
  co_return co_await vector_gather<mode, T>(std::move(ts));
}

// Anything but a single vector of tasks: those have overloads of their own.
template <class... As>
concept gather_arguments = sizeof...(As) > 0 &&
                           !(sizeof...(As) == 1 && (is_task_vector_v<As> && ...));

}  // namespace detail

/// Runs the tasks concurrently and returns their results in argument order,
/// as asyncio.gather; a `task<void>` (or an awaitable giving void)
/// contributes std::monostate. Any awaitable may stand for a task: a
/// join_handle, sleep(d), q.get(), e.wait(), an I/O operation.
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
/// Thread safety: call it on the loop's thread only.
/// Example:
///   auto [a, b] = co_await corio::gather(fetch(1), fetch(2));
template <class... As>
requires detail::gather_arguments<As...>
[[nodiscard]] auto gather(As&&... as) -> decltype(detail::gather_tasks<detail::gather_mode::all>(
    detail::as_task(std::forward<As>(as))...)) {
  return detail::gather_tasks<detail::gather_mode::all>(detail::as_task(std::forward<As>(as))...);
}

/// Runs every task of `ts` concurrently; returns their values in order
/// (nothing for task<void>). Same exception policy as the variadic gather.
template <class T>
[[nodiscard]] auto gather(std::vector<task<T>>&& ts)
    -> decltype(detail::gather_vector<detail::gather_mode::all>(std::move(ts))) {
  return detail::gather_vector<detail::gather_mode::all>(std::move(ts));
}
/// A vector of tasks is consumed: pass std::move(v).
template <class T>
auto gather(std::vector<task<T>>&) -> decltype(detail::gather_vector<detail::gather_mode::all>(
    std::declval<std::vector<task<T>>>())) {
  detail::reject_lvalue_task_vector<T>();
}
template <class T>
auto gather(const std::vector<task<T>>&)
    -> decltype(detail::gather_vector<detail::gather_mode::all>(
        std::declval<std::vector<task<T>>>())) {
  detail::reject_lvalue_task_vector<T>();
}

/// Runs the tasks concurrently and keeps every outcome, as
/// asyncio.gather(return_exceptions=True): a child's exception does not
/// cancel the others. Returns a tuple of outcome<T>. Takes any awaitable, as gather.
/// Throws: cancelled_error if the awaiting task is cancelled (after every
///   child, cancelled too, has finished).
/// Thread safety: call it on the loop's thread only.
template <class... As>
requires detail::gather_arguments<As...>
[[nodiscard]] auto gather_settled(As&&... as)
    -> decltype(detail::gather_tasks<detail::gather_mode::settled>(
        detail::as_task(std::forward<As>(as))...)) {
  return detail::gather_tasks<detail::gather_mode::settled>(
      detail::as_task(std::forward<As>(as))...);
}

/// gather_settled over a vector: a vector of outcome<T>, in order.
template <class T>
[[nodiscard]] auto gather_settled(std::vector<task<T>>&& ts)
    -> decltype(detail::gather_vector<detail::gather_mode::settled>(std::move(ts))) {
  return detail::gather_vector<detail::gather_mode::settled>(std::move(ts));
}
/// A vector of tasks is consumed: pass std::move(v).
template <class T>
auto gather_settled(std::vector<task<T>>&)
    -> decltype(detail::gather_vector<detail::gather_mode::settled>(
        std::declval<std::vector<task<T>>>())) {
  detail::reject_lvalue_task_vector<T>();
}
template <class T>
auto gather_settled(const std::vector<task<T>>&)
    -> decltype(detail::gather_vector<detail::gather_mode::settled>(
        std::declval<std::vector<task<T>>>())) {
  detail::reject_lvalue_task_vector<T>();
}

}  // namespace corio
