// SPDX-License-Identifier: MIT
// corio/as_completed.hpp: as_completed, asyncio.as_completed: the outcomes of
// several tasks in the order they finish.
#pragma once

#include <corio/event.hpp>
#include <corio/gather.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <corio/detail/awaitable.hpp>

#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace corio {

/// Runs tasks concurrently and hands out their outcomes in the order they
/// finish, as asyncio.as_completed.
///
/// Every task is spawned when as_completed is made. `co_await next()` gives
/// the outcome (a value or an exception, as gather_settled's) of the next
/// task to finish, and std::nullopt once every outcome has been handed out.
///
/// Cancellation: cancelling the task that awaits next() makes that next()
///   throw cancelled_error; the children are not cancelled (as in asyncio,
///   where cancelling one awaited future leaves the tasks running), and a
///   later next() still gives every outcome.
/// Lifetime: destroying the as_completed cancels the children still running
///   (a destructor cannot await them): they finish as spawned tasks, and run()
///   awaits them before it returns. Their outcomes are dropped.
/// Throws: std::logic_error if no loop runs on this thread or a task is empty.
/// Thread safety: use only on the loop's thread.
/// Example:
///   corio::as_completed done(std::move(fetches));
///   while (auto o = co_await done.next())
///     if (o->has_value()) use(o->value());
template <class T>
class as_completed {
  static_assert(!std::is_reference_v<T>, "as_completed needs value tasks");

 public:
  explicit as_completed(std::vector<task<T>>&& ts) : state_(std::make_shared<state>()) {
    state_->remaining = ts.size();
    children_.reserve(ts.size());
    for (auto& t : ts)
      detail::task_access::check_awaitable(t, "corio::as_completed");
    for (auto& t : ts)
      children_.push_back(corio::spawn(report(std::move(t), state_), "as_completed child"));
  }
  /// A vector of tasks is consumed: pass std::move(v).
  explicit as_completed(std::vector<task<T>>&) { detail::reject_lvalue_task_vector<T>(); }

  as_completed(as_completed&&) = delete;
  as_completed& operator=(as_completed&&) = delete;
  as_completed(const as_completed&) = delete;
  as_completed& operator=(const as_completed&) = delete;
  ~as_completed() {
    for (auto& child : children_)
      child.cancel();
  }

  /// The next outcome in completion order; std::nullopt when all were given.
  /// Throws: cancelled_error if the awaiting task is cancelled (no outcome is lost).
  [[nodiscard]] task<std::optional<outcome<T>>> next() {
    state& s = *state_;
    while (s.finished.empty()) {
      if (s.remaining == 0)
        co_return std::nullopt;
      s.ready.clear();
      co_await s.ready.wait();
    }
    std::optional<outcome<T>> o(std::move(s.finished.front()));
    s.finished.pop_front();
    co_return o;
  }

 private:
  struct state {
    std::deque<outcome<T>> finished;
    std::size_t remaining = 0;  // children not finished yet
    event ready;                // set when an outcome was added
  };

  // Shares the state, so it outlives an as_completed destroyed first.
  static task<> report(task<T> t, std::shared_ptr<state> s) {
    outcome<T> o;
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(t);
        o.value_.emplace();
      } else {
        o.value_.emplace(co_await std::move(t));
      }
    } catch (...) {
      o.exception_ = std::current_exception();
    }
    s->finished.push_back(std::move(o));
    --s->remaining;
    s->ready.set();
  }

  std::shared_ptr<state> state_;
  std::vector<join_handle<void>> children_;
};

}  // namespace corio
