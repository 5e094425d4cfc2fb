// SPDX-License-Identifier: MIT
// corio/detail/awaitable.hpp: the one concept and the one adapter behind every
// API that takes "a task": gather, gather_settled, wait_for, wait_until, race,
// shield and spawn accept a task<T>, a join_handle<T>, sleep(), q.get(),
// e.wait(), s.acquire(), an I/O operation or any other awaitable.
#pragma once

#include <corio/task.hpp>

#include <exception>
#include <type_traits>
#include <utility>
#include <vector>

namespace corio::detail {

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<task<T>> : std::true_type {};
template <class A>
inline constexpr bool is_task_v = is_task<std::remove_cvref_t<A>>::value;

template <class T>
struct is_task_vector : std::false_type {};
template <class T>
struct is_task_vector<std::vector<task<T>>> : std::true_type {};
template <class A>
inline constexpr bool is_task_vector_v = is_task_vector<std::remove_cvref_t<A>>::value;

// An awaiter itself (await_suspend's parameter is a template, so it is not checked).
template <class A>
concept awaiter = requires(A& a) {
  a.await_ready();
  a.await_resume();
};

// What co_await accepts from a corio task: an awaiter, or a type whose
// member operator co_await returns one (task, join_handle).
template <class A>
concept awaitable = awaiter<std::remove_cvref_t<A>> || requires(std::remove_cvref_t<A>&& a) {
  { std::move(a).operator co_await() } -> awaiter;
};

template <class A>
decltype(auto) awaiter_of(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
    return std::forward<A>(a).operator co_await();
  } else {
    return std::forward<A>(a);
  }
}

// The type `co_await a` gives.
template <class A>
using await_result_t = decltype(awaiter_of(std::declval<std::remove_cvref_t<A>>()).await_resume());

template <class Awaitable>
task<await_result_t<Awaitable>> await_in_task(Awaitable awaitable) {
  co_return co_await std::move(awaitable);
}

// The task type as_task makes of an A. Spelled out rather than deduced: a deduced
// return type makes g++ compile the body, and the coroutine it calls, wherever the call
// merely appears, even inside a template that is never used (CONTRIBUTING.md,
// "Coroutines in headers"); the public adapters below name their result type for the
// same reason. A non-awaitable gets task<void>, not a substitution failure: the adapters
// are then chosen and instantiate as_task, whose static_assert says what is wrong in
// one line instead of a list of candidates.
template <class A, bool = awaitable<std::remove_cvref_t<A>>>
struct as_task_result {
  using type = task<void>;
};
template <class A>
struct as_task_result<A, true> {
  using type = task<await_result_t<A>>;
};
template <class A>
using as_task_t = typename as_task_result<A>::type;

// The adapter: `a` as a task of its own (a task passes through unchanged).
// Checked here, so a wrong argument costs one line, not a template backtrace.
template <class A>
as_task_t<A> as_task(A&& a) {
  using plain = std::remove_cvref_t<A>;
  static_assert(awaitable<plain>,
                "corio: this argument is not awaitable; pass a task, a join_handle or an "
                "awaitable such as sleep(d), q.get() or e.wait()");
  static_assert(!std::is_lvalue_reference_v<A> || std::is_copy_constructible_v<plain>,
                "corio: this awaitable is move-only (a task or join_handle in a variable); pass "
                "std::move(it)");
  if constexpr (!awaitable<plain> ||
                (std::is_lvalue_reference_v<A> && !std::is_copy_constructible_v<plain>)) {
    (void)a;
    std::terminate();  // never compiled into a program: a static_assert above failed
  } else if constexpr (is_task_v<plain>) {
    return plain(std::forward<A>(a));
  } else {
    return await_in_task(plain(std::forward<A>(a)));
  }
}

// Instantiated by the overloads that take a vector of tasks by lvalue, which
// exist only to say this. They return what the rvalue overload does, so the
// caller's code around the call raises no second error.
template <class T>
[[noreturn]] void reject_lvalue_task_vector() {
  static_assert(sizeof(T) == 0,
                "corio: a vector of tasks is consumed; pass std::move(v) (tasks are move-only)");
  std::terminate();
}

}  // namespace corio::detail
