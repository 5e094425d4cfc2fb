// SPDX-License-Identifier: MIT
// corio/task.hpp: task<T>, the lazy coroutine type every corio program is made of.
#pragma once

#include <corio/config.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/frame_allocator.hpp>
#include <corio/detail/ready_queue.hpp>
#include <corio/detail/result.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace corio {

template <class T = void>
class task;

namespace detail {

// Every co_await in a corio coroutine comes through await_transform with its
// place (a defaulted argument is filled in at the co_await). A wait that
// parks (a sleep, an I/O operation, a primitive's wait, a join) keeps it for
// the call graph: two stores, nothing else; anything else passes unchanged.
// Only where CORIO_DETAIL_AWAIT_LOCATION is on (clang): see config.hpp.
#if CORIO_DETAIL_AWAIT_LOCATION
class await_place_recorder {
 public:
  template <class A>
  decltype(auto) await_transform(A&& a, const char* file = __builtin_FILE(),
                                 unsigned line = __builtin_LINE()) {
    if constexpr (requires { a.set_awaited_at(file, line); }) {
      a.set_awaited_at(file, line);
      return std::forward<A>(a);
    } else if constexpr (requires {
                           std::forward<A>(a).operator co_await().set_awaited_at(file, line);
                         }) {
      auto awaiter = std::forward<A>(a).operator co_await();  // a join_handle's
      awaiter.set_awaited_at(file, line);
      return awaiter;
    } else {
      return std::forward<A>(a);
    }
  }
};
#else
class await_place_recorder {};
#endif

// What every corio coroutine's promise has: where to go when it finishes
// (the awaiting coroutine, or its context's completion hook when it is the
// outermost coroutine of a concurrent unit), the context that receives
// cancellation, and the exception it ended with.
class task_promise_base : public await_place_recorder {
 public:
  struct final_awaiter {
    bool await_ready() noexcept { return false; }
    // Symmetric transfer: returning the continuation lets the compiler make
    // the hand-off a tail call, so long await chains do not grow the stack.
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      task_promise_base& promise = self.promise();
      const std::uintptr_t next = promise.continuation_;
      if ((next & root_owner) != 0)
        return reinterpret_cast<context_owner*>(next & ~root_owner)
            ->finished(promise.context_, promise);
      const auto parent =
          std::coroutine_handle<>::from_address(reinterpret_cast<void*>(next & ~resume_via_loop));
      if ((next & resume_via_loop) != 0) {
        // Started on a fresh stack (see task::awaiter): so is its parent, or a
        // deep chain would nest one resume per max_inline_depth levels on the
        // way up. A failed push (out of memory) terminates.
        this_thread_ready_queue->push(parent);
        return std::noop_coroutine();
      }
      return parent;
    }
    void await_resume() noexcept {}
  };

  std::suspend_always initial_suspend() noexcept { return {}; }
  final_awaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  // Frames come from the loop's frame cache; a coroutine declared with
  // (std::allocator_arg_t, const Alloc&, ...), as a function or a member,
  // gets its frame from that allocator.
  static void* operator new(std::size_t n) { return frame_allocator::allocate(n); }
  template <class Alloc, class... Args>
  static void* operator new(std::size_t n, std::allocator_arg_t, const Alloc& alloc,
                            const Args&...) {
    return frame_allocator::allocate(n, alloc);
  }
  template <class Self, class Alloc, class... Args>
  static void* operator new(std::size_t n, const Self&, std::allocator_arg_t, const Alloc& alloc,
                            const Args&...) {
    return frame_allocator::allocate(n, alloc);
  }
  static void operator delete(void* frame, std::size_t n) noexcept {
    frame_allocator::deallocate(frame, n);
  }

  task_context* context() const noexcept { return context_; }
  const std::exception_ptr& exception() const noexcept { return exception_; }

  // Makes this coroutine the outermost one of `context`'s unit; `owner`
  // hears when it finishes.
  void start_as_root(task_context* context, context_owner* owner) noexcept {
    context_ = context;
    continuation_ = reinterpret_cast<std::uintptr_t>(owner) | root_owner;
  }
  // Makes this coroutine run inline for `parent`, in the parent's context.
  void start_inline(std::coroutine_handle<> parent, task_context* context) noexcept {
    context_ = context;
    set_continuation(parent);
  }
  void set_continuation(std::coroutine_handle<> parent) noexcept {
    continuation_ = reinterpret_cast<std::uintptr_t>(parent.address());
  }
  // Makes this coroutine start from the loop's next turn for `parent`, which
  // it resumes the same way when it finishes.
  void start_from_loop(std::coroutine_handle<> parent, task_context* context) noexcept {
    context_ = context;
    continuation_ = reinterpret_cast<std::uintptr_t>(parent.address()) | resume_via_loop;
  }
  // Started (awaited, gathered, spawned or run): its frame belongs to that awaiter.
  bool started() const noexcept { return context_ != nullptr; }

 protected:
  void rethrow_if_exception() const {
    if (exception_)
      std::rethrow_exception(exception_);
  }

 private:
  // The awaiting coroutine's address, and in bit 0 whether to resume it
  // through the ready queue; or, for a unit's outermost coroutine, its
  // context's owner with bit 1 set. Frames and owners are pointer-aligned, so
  // both bits are free: neither flag nor owner costs a word in every frame or
  // context.
  static constexpr std::uintptr_t resume_via_loop = 1;
  static constexpr std::uintptr_t root_owner = 2;
  std::uintptr_t continuation_ = 0;
  task_context* context_ = nullptr;
  std::exception_ptr exception_;
};

template <class T>
class task_promise final : public task_promise_base {
 public:
  task<T> get_return_object() noexcept;

  // An arithmetic T converts at the co_return, in the caller's code, where `co_return 0;`
  // into a task<std::size_t> draws no -Wsign-conversion warning from a user's strict build.
  void return_value(T value) noexcept requires std::is_arithmetic_v<T> { value_.set_value(value); }
  template <class U = T>
  requires std::is_convertible_v<U&&, T> && std::negation_v<std::is_arithmetic<T>>
  void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    value_.set_value(std::forward<U>(value));
  }
  T take() {
    rethrow_if_exception();
    return value_.take_value();
  }

 private:
  value_storage<T> value_;
};

template <class T>
class task_promise<T&> final : public task_promise_base {
 public:
  task<T&> get_return_object() noexcept;
  void return_value(T& value) noexcept { value_.set_value(value); }
  T& take() {
    rethrow_if_exception();
    return value_.take_value();
  }

 private:
  value_storage<T&> value_;
};

template <>
class task_promise<void> final : public task_promise_base {
 public:
  task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() { rethrow_if_exception(); }
};

// Lets corio's combinators (gather, spawn, wait_for, run) drive a task's
// coroutine directly; users never need it.
// How many task::awaiters on this thread's stack are running their child
// inline right now, and how deep they may go before a child is started from
// the loop's next turn instead (on a fresh stack).
inline thread_local unsigned inline_depth = 0;
inline constexpr unsigned max_inline_depth = 64;

// Destroying a started task that has not finished would free the frame
// under whatever it waits for, and its awaiter would resume a freed frame. A
// destructor cannot throw, so this aborts with the reason: in debug builds,
// and in release builds while a loop runs in debug mode.
inline void check_not_running(const task_promise_base& promise, bool done) noexcept {
  if (debug_checks_on() && promise.started() && !done) {
    // Where it waits, when the compiler records it (CORIO_DETAIL_AWAIT_LOCATION).
    if (const suspension* leaf = promise.context()->leaf();
        leaf != nullptr && leaf->awaited_line() != 0) {
      std::fprintf(stderr, "corio::task: the task destroyed while it runs waits at %s:%u\n",
                   leaf->awaited_file(), leaf->awaited_line());
    }
    fatal_misuse("!started || done",
                 "corio::task: destroyed (or assigned to) while it runs: its awaiter owns "
                 "it until it finishes");
  }
}

struct task_access {
  template <class T>
  static std::coroutine_handle<task_promise<T>> handle(const task<T>& t) noexcept {
    return t.handle_;
  }
  // Gives up ownership of the frame without destroying it.
  template <class T>
  static void release(task<T>& t) noexcept {
    t.handle_ = nullptr;
  }
  template <class T>
  static void check_awaitable(const task<T>& t, const char* who) {
    t.check_awaitable(who);
  }
};

}  // namespace detail

/// A lazy, move-only coroutine that produces a T (or void, or a reference).
///
/// Nothing runs until the task is awaited with `co_await`, passed to gather,
/// spawned, or given to run(). `co_await t` runs it to its end in the caller's
/// concurrent unit and yields its value or rethrows its exception. A million
/// nested awaits do not grow the stack, at every optimisation level: corio
/// needs no tail call (see task::awaiter and the README).
///
/// Throws: std::logic_error when awaiting a task that is empty (moved from)
///   or that has already been awaited to its end.
/// Lifetime: destroying a task that never started frees its frame. A task
///   being awaited is owned by its awaiter and must not be destroyed.
/// Thread safety: a task runs on the loop that drives it; do not share it.
/// Example:
///   corio::task<int> answer() { co_return 42; }
///   corio::task<> caller() { int v = co_await answer(); }
template <class T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;

  task() noexcept = default;
  task(task&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      destroy();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { destroy(); }

  /// True if the task holds a coroutine (it was not moved from).
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

  class awaiter {
   public:
    explicit awaiter(std::coroutine_handle<promise_type> child) noexcept : child_(child) {}
    bool await_ready() const noexcept { return false; }
    // Runs the child inline and, when it finishes without suspending, goes on
    // without suspending the parent either: a loop awaiting a million tasks
    // that complete at once runs in constant stack at every optimisation
    // level, with no tail call needed. Past max_inline_depth nested awaits
    // the child starts from the loop's next turn on a fresh stack (and resumes
    // its parent the same way), so a chain of a million nested awaits needs
    // no tail call either: it costs two loop turns per max_inline_depth levels.
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> parent) {
      static_assert(std::is_base_of_v<detail::task_promise_base, Promise>,
                    "corio::task can only be awaited from a corio::task coroutine");
      auto& child = child_.promise();
      detail::task_context* context = parent.promise().context();
      if (detail::inline_depth >= detail::max_inline_depth) {
        detail::this_thread_ready_queue->push(child_);
        child.start_from_loop(parent, context);
        return true;
      }
      child.start_inline(std::noop_coroutine(), context);  // finishing returns here
      ++detail::inline_depth;
      child_.resume();
      --detail::inline_depth;
      if (child_.done())
        return false;
      child.set_continuation(parent);  // it suspended: its end resumes the parent
      return true;
    }
    T await_resume() { return child_.promise().take(); }

   private:
    std::coroutine_handle<promise_type> child_;
  };

  awaiter operator co_await() & {
    check_awaitable("corio::task");
    return awaiter(handle_);
  }
  awaiter operator co_await() && {
    check_awaitable("corio::task");
    return awaiter(handle_);
  }

 private:
  friend promise_type;
  friend struct detail::task_access;
  explicit task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}

  void check_awaitable(const char* who) const {
    if (!handle_) {
      throw std::logic_error(
          std::string(who) +
          ": this task is empty (it was moved from); await the task it was moved to");
    }
    if (handle_.done()) {
      throw std::logic_error(std::string(who) +
                             ": this task has already run to its end; a task can be awaited once");
    }
    if (handle_.promise().started()) {
      throw std::logic_error(std::string(who) +
                             ": this task is already being awaited (or was gathered, spawned or "
                             "run); a task can be awaited once");
    }
  }

  void destroy() noexcept {
    if (handle_) {
      detail::check_not_running(handle_.promise(), handle_.done());
      handle_.destroy();
    }
  }

  std::coroutine_handle<promise_type> handle_;
};

namespace detail {

template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>(std::coroutine_handle<task_promise>::from_promise(*this));
}
template <class T>
task<T&> task_promise<T&>::get_return_object() noexcept {
  return task<T&>(std::coroutine_handle<task_promise>::from_promise(*this));
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>(std::coroutine_handle<task_promise>::from_promise(*this));
}

}  // namespace detail
}  // namespace corio
