// SPDX-License-Identifier: MIT
// corio/race.hpp: race, the first of several tasks to finish.
#pragma once

#include <corio/gather.hpp>
#include <corio/task.hpp>

#include <corio/detail/awaitable.hpp>

#include <cstddef>
#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

namespace corio {

/// Runs the tasks (or any awaitables, as gather takes) concurrently; the
/// first to finish wins, with its value or its exception. The others are
/// cancelled and awaited before race returns, so nothing outlives it, and a
/// loser gives back what it held: an item a losing q.get() took goes back to
/// the front of its queue, a permit a losing s.acquire() got goes to the next
/// waiter, and a connection a losing accept() got is closed with its stream.
///
/// Returns a std::variant whose index() says which argument won, holding its
/// value (std::monostate for void).
/// Ordering: children start in argument order; one that finishes without
///   suspending wins, and those after it never start.
/// Cancellation: cancelling the task that awaits race cancels every child;
///   race then throws cancelled_error once all have finished, unless a child
///   had won already (its value is returned, and the cancellation waits for
///   the caller's next suspension point).
/// Throws: the winner's exception; std::logic_error if a task is empty.
/// Thread safety: call it on the loop's thread only.
/// Example:
///   auto first = co_await corio::race(q.get(), corio::sleep(1s));
///   if (first.index() == 0) use(std::get<0>(first));
template <class... As>
requires detail::gather_arguments<As...>
[[nodiscard]] auto race(As&&... as) -> decltype(detail::gather_tasks<detail::gather_mode::first>(
    detail::as_task(std::forward<As>(as))...)) {
  return detail::gather_tasks<detail::gather_mode::first>(detail::as_task(std::forward<As>(as))...);
}

/// race over a vector: a pair of the winner's index and its value.
/// Throws: std::invalid_argument if `ts` is empty (nothing can win).
/// Thread safety: call it on the loop's thread only.
template <class T>
[[nodiscard]] auto race(std::vector<task<T>>&& ts)
    -> decltype(detail::gather_vector<detail::gather_mode::first>(std::move(ts))) {
  if (ts.empty())
    throw std::invalid_argument("corio::race: the vector of tasks is empty; nothing can win");
  return detail::gather_vector<detail::gather_mode::first>(std::move(ts));
}
/// A vector of tasks is consumed: pass std::move(v).
template <class T>
auto race(std::vector<task<T>>&) -> decltype(detail::gather_vector<detail::gather_mode::first>(
    std::declval<std::vector<task<T>>>())) {
  detail::reject_lvalue_task_vector<T>();
}
template <class T>
auto race(const std::vector<task<T>>&)
    -> decltype(detail::gather_vector<detail::gather_mode::first>(
        std::declval<std::vector<task<T>>>())) {
  detail::reject_lvalue_task_vector<T>();
}

}  // namespace corio
