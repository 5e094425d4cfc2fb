// SPDX-License-Identifier: MIT
// corio/detail/spawned_task.hpp: the shared state of a spawned task, between
// the task itself, its join_handle and an optional task_group.
#pragma once

#include <corio/error.hpp>
#include <corio/task.hpp>
#include <corio/detail/loop_core.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/frame_allocator.hpp>
#include <corio/detail/intrusive_list.hpp>

#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <utility>

namespace corio {

/// Receives an exception that a spawned task ended with and that nobody
/// retrieved (its join_handle was dropped or never awaited).
using unhandled_exception_handler = std::function<void(std::exception_ptr)>;

namespace detail {

inline void default_unhandled_exception_handler(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr,
                 "corio: a spawned task or a call_soon_threadsafe callback ended with an "
                 "exception nobody retrieved: %s\n",
                 ex.what());
  } catch (...) {
    std::fprintf(stderr,
                 "corio: a spawned task or a call_soon_threadsafe callback ended with a non-std "
                 "exception nobody retrieved\n");
  }
}

struct unhandled_exception_slot {
  std::mutex mutex;
  unhandled_exception_handler handler = default_unhandled_exception_handler;
};
inline unhandled_exception_slot& unhandled_exception_handler_slot() {
  static unhandled_exception_slot slot;
  return slot;
}

inline bool is_cancellation(const std::exception_ptr& e) noexcept {
  if (!e)
    return false;
  try {
    std::rethrow_exception(e);
  } catch (const cancelled_error&) {
    return true;
  } catch (...) {
    return false;
  }
}

inline void report_unhandled(const std::exception_ptr& e) noexcept {
  if (!e || is_cancellation(e))
    return;
  unhandled_exception_handler handler;
  {
    auto& slot = unhandled_exception_handler_slot();
    std::lock_guard lock(slot.mutex);
    handler = slot.handler;
  }
  try {
    if (handler)
      handler(e);
  } catch (...) {
    // A throwing handler must not take the loop down.
  }
}

class task_group_state;

// A spawned task's link in its task_group's list of children (live_task's
// own hook links it in the loop's list of live tasks).
class group_hook : public list_hook {};

// Lives until the task has finished and neither a join_handle nor a group
// refers to it. Everything here is touched on the loop's thread only. It owns
// the task's frame through live_task::frame() and is the same for every T
// (join_handle<T> knows its T): no task<T>, loop or destroy function of its
// own, and its flags in the low bits of its group's address: 112 bytes in
// all, so a million spawned tasks touch 48 MB less than with those.
class spawned_task final : public live_task, public group_hook {
 public:
  template <class T>
  explicit spawned_task(task<T> t) noexcept : live_task(&on_finished) {
    auto h = task_access::handle(t);
    promise_ = &h.promise();
    set_frame(h.address());
    task_access::release(t);
  }
  spawned_task(const spawned_task&) = delete;
  spawned_task& operator=(const spawned_task&) = delete;
  ~spawned_task() {
    check_not_running(*promise_, handle().done());
    handle().destroy();
  }

  // From the loop's frame arena, as the task frames.
  static void* operator new(std::size_t n) { return frame_arena::allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_arena::deallocate(p, n); }

  // The task's outermost coroutine, type-erased.
  task_promise_base& promise() noexcept { return *promise_; }
  bool done() const noexcept { return has(done_bit); }
  // The task's value (or exception); T is the task's.
  template <class T>
  T take() {
    return std::coroutine_handle<task_promise<T>>::from_address(handle().address())
        .promise()
        .take();
  }

  // On the loop of this thread, which runs it to its end.
  void start() {
    promise_->start_as_root(this, this);
    loop_core& loop = loop_core::current();
    loop.track(*this);
    loop.schedule(handle());
  }

  // The join_handle lets go; frees the state if the task has finished.
  void release_handle() noexcept {
    group_and_flags_ &= ~handle_alive_bit;
    if (done())
      finish_and_destroy();
  }
  void mark_retrieved() noexcept { group_and_flags_ |= retrieved_bit; }

  // The wait of the coroutine that awaits the end of the task (one at most).
  void set_joiner(suspension* joiner) noexcept { joiner_ = joiner; }
  const suspension* joiner() const noexcept { return joiner_; }

  // Group membership (see task_group.hpp).
  using group_link = group_hook;
  group_link& link() noexcept { return *this; }
  static spawned_task& of(group_link& link) noexcept { return static_cast<spawned_task&>(link); }
  task_group_state* group() const noexcept {
    return reinterpret_cast<task_group_state*>(group_and_flags_ & ~flag_bits);
  }
  void set_group(task_group_state* g) noexcept {
    group_and_flags_ = reinterpret_cast<std::uintptr_t>(g) | (group_and_flags_ & flag_bits);
  }

 private:
  static std::coroutine_handle<> on_finished(context_owner* self, task_context*,
                                             task_promise_base&) noexcept;

  std::coroutine_handle<> handle() const noexcept {
    return std::coroutine_handle<>::from_address(const_cast<void*>(frame()));
  }
  void finish_and_destroy() noexcept {
    if (!has(retrieved_bit))
      report_unhandled(promise_->exception());
    delete this;
  }

  // The group's address (a task_group_state is pointer-aligned) and, in bits
  // 0-2, whether the task finished, its join_handle lives and its outcome
  // was retrieved: a word, not three bools and their padding.
  static constexpr std::uintptr_t done_bit = 1;
  static constexpr std::uintptr_t handle_alive_bit = 2;
  static constexpr std::uintptr_t retrieved_bit = 4;
  static constexpr std::uintptr_t flag_bits = done_bit | handle_alive_bit | retrieved_bit;
  bool has(std::uintptr_t bit) const noexcept { return (group_and_flags_ & bit) != 0; }

  task_promise_base* promise_;
  suspension* joiner_ = nullptr;
  std::uintptr_t group_and_flags_ = handle_alive_bit;
};

// The part of a task_group that its children report to.
class task_group_state {
 public:
  virtual std::coroutine_handle<> child_finished(spawned_task& child) noexcept = 0;
  // The wait() parked on the group, or null (for the call graph).
  virtual const suspension* group_waiter() const noexcept = 0;

 protected:
  ~task_group_state() = default;
};

static_assert(alignof(task_group_state) > 4, "spawned_task keeps three flags in its address");

inline std::coroutine_handle<> spawned_task::on_finished(context_owner* self, task_context*,
                                                         task_promise_base&) noexcept {
  auto& s = static_cast<spawned_task&>(static_cast<live_task&>(*self));
  s.group_and_flags_ |= done_bit;
  loop_core& loop = *loop_core::current_or_null();  // it finishes on its loop's thread
  loop.untrack(s);
  std::coroutine_handle<> next = std::noop_coroutine();
  if (task_group_state* group = s.group(); group != nullptr)
    next = group->child_finished(s);
  if (s.joiner_ != nullptr) {
    if (next != std::noop_coroutine())
      loop.schedule(next);
    next = std::exchange(s.joiner_, nullptr)->unpark();
  }
  // Destroying the frame here is allowed: it is suspended at its final point.
  if (!s.has(handle_alive_bit) && s.group() == nullptr)
    s.finish_and_destroy();
  return next;
}

}  // namespace detail

/// Replaces the handler that receives exceptions nobody retrieved from a
/// spawned task, and those thrown by a callback of
/// event_loop::call_soon_threadsafe (by default, one line on stderr, as
/// asyncio logs "Task exception was never retrieved"). Returns the previous
/// handler. It runs on the loop's thread.
/// Thread safety: may be called from any thread.
inline unhandled_exception_handler set_unhandled_exception_handler(unhandled_exception_handler h) {
  auto& slot = detail::unhandled_exception_handler_slot();
  std::lock_guard lock(slot.mutex);
  return std::exchange(slot.handler, std::move(h));
}

}  // namespace corio
