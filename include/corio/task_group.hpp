// SPDX-License-Identifier: MIT
// corio/task_group.hpp: task_group, asyncio.TaskGroup.
#pragma once

#include <corio/config.hpp>
#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/intrusive_list.hpp>
#include <corio/detail/spawned_task.hpp>
#include <corio/detail/wait_info.hpp>

#include <coroutine>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace corio {

/// A set of spawned tasks awaited together, as asyncio.TaskGroup.
///
/// spawn() starts a child at once (as corio::spawn); `co_await group.wait()`
/// waits until every child has finished. The first child to fail with an
/// exception other than cancelled_error cancels all the others. Once they
/// have finished, wait() rethrows that exception if it was the only failure,
/// or throws exception_group with every failure in failure order. Children
/// spawned after a failure are cancelled at once.
///
/// Cancellation: cancelling the task in wait() cancels every child, waits for
///   them, and throws cancelled_error. If children failed as well, wait()
///   throws their failure instead, and the cancellation stays pending for the
///   task's next suspension point, so catching a child's error never swallows
///   the cancellation of the task around the group (cpython#116720).
/// Lifetime: the group must be awaited with wait() before it is destroyed.
///   Destroying it while children still run is a programmer error: debug
///   builds abort with the reason; release builds cancel the children, which
///   finish in the background, and run() waits for them on its way out.
/// Thread safety: use only on the loop's thread.
/// Example:
///   corio::task_group group;
///   for (int id : ids) group.spawn(fetch(id));
///   co_await group.wait();
class task_group final : private detail::task_group_state {
 public:
  task_group() = default;
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;
  ~task_group() {
    CORIO_ASSERT_NOEXCEPT(children_.empty(),
                          "corio::task_group: destroyed while children still run; co_await "
                          "group.wait() before the group goes out of scope");
    while (!children_.empty()) {
      detail::spawned_task& child = detail::spawned_task::of(children_.pop_front());
      child.set_group(nullptr);
      child.request_cancel();
    }
  }

  /// Starts `t` as a child of the group; returns its handle, which may be
  /// dropped. `name` as corio::spawn's (a string literal; by default the caller).
  /// Throws: std::logic_error if no loop runs on this thread or `t` is empty.
  template <class T>
  join_handle<T> spawn(task<T> t, const char* name = nullptr,
                       source_location where = source_location::current()) {
    join_handle<T> handle = corio::spawn(std::move(t), name, where);
    detail::spawned_task& child = *handle.state_;
    child.set_group(this);
    children_.push_back(child.link());
    if (!errors_.empty() || cancelling_)
      child.request_cancel();
    return handle;
  }

  /// Cancels every child still running.
  void cancel() noexcept {
    cancelling_ = true;
    children_.for_each(
        [](detail::spawned_task::group_link& l) { detail::spawned_task::of(l).request_cancel(); });
  }

  /// Number of children still running.
  std::size_t size() const noexcept { return children_.size(); }

  class wait_awaiter : public detail::suspension {
   public:
    explicit wait_awaiter(task_group& group) noexcept
        : suspension(hooks_of<&on_cancel, &describe>), group_(group) {}
    bool await_ready() const noexcept { return group_.children_.empty(); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      group_.check_not_a_child(h.promise().context());
      if (group_.waiter_ != nullptr) {
        throw std::logic_error(
            "corio::task_group::wait: another task is waiting for this group already; only one "
            "task may wait for a group");
      }
      if (begin(h))
        group_.cancel();
      group_.waiter_ = this;
      park();
      return true;
    }
    void await_resume() {
      group_.cancelling_ = false;
      std::vector<std::exception_ptr> errors = std::exchange(group_.errors_, {});
      if (!errors.empty()) {
        keep_cancel_if_requested();  // the failure wins here, the cancellation comes next
        if (errors.size() == 1)
          std::rethrow_exception(errors.front());
        throw exception_group(std::move(errors));
      }
      if (cancel_requested())
        throw cancelled_error();
    }

   private:
    static void on_cancel(cancellable* self) noexcept {
      static_cast<wait_awaiter*>(self)->group_.cancel();
    }
    static void describe(const suspension& self, detail::wait_info& info) {
      info.what = "task_group wait for " +
                  std::to_string(static_cast<const wait_awaiter&>(self).group_.size()) +
                  " children";
    }
    task_group& group_;
  };

  /// Waits until every child has finished; rethrows a single failure, or
  /// throws exception_group for two or more.
  /// Throws: std::logic_error when called from one of the group's own
  ///   children (it would wait for itself), or while another task waits.
  [[nodiscard]] wait_awaiter wait() noexcept { return wait_awaiter(*this); }

 private:
  void check_not_a_child(const detail::task_context* waiter) {
    children_.for_each([waiter](detail::spawned_task::group_link& l) {
      if (static_cast<const detail::task_context*>(&detail::spawned_task::of(l)) == waiter) {
        throw std::logic_error(
            "corio::task_group::wait: called from a child of its own group, which would wait for "
            "itself forever; await the group from the task that owns it");
      }
    });
  }

  const detail::suspension* group_waiter() const noexcept override { return waiter_; }

  std::coroutine_handle<> child_finished(detail::spawned_task& child) noexcept override {
    children_.erase(child.link());
    child.set_group(nullptr);
    const std::exception_ptr& e = child.promise().exception();
    if (e) {
      child.mark_retrieved();  // the group answers for its children's exceptions
      if (!detail::is_cancellation(e)) {
        // Out of memory here terminates, as a failed ready-queue push does.
        errors_.push_back(e);
        if (errors_.size() == 1)
          cancel();
      }
    }
    if (children_.empty() && waiter_ != nullptr)
      return std::exchange(waiter_, nullptr)->unpark();
    return std::noop_coroutine();
  }

  detail::intrusive_list<detail::spawned_task::group_link> children_;
  std::vector<std::exception_ptr> errors_;  // failures since the last wait(), in order
  detail::suspension* waiter_ = nullptr;
  bool cancelling_ = false;
};

}  // namespace corio
