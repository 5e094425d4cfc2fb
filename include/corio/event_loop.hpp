// SPDX-License-Identifier: MIT
// corio/event_loop.hpp: the io_uring event loop, and run() (asyncio.run).
#pragma once

#include <corio/config.hpp>
#include <corio/task.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/loop_core.hpp>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <stdexcept>

namespace corio {

namespace detail {
class loop_access;
}  // namespace detail

/// The single-threaded io_uring event loop that drives corio's tasks.
///
/// Most programs never name it: run() makes one, runs the main task on it and
/// destroys it. One loop at most exists per thread. Each loop iteration runs
/// the coroutines that are ready, in FIFO order, then submits every queued
/// io_uring operation with one system call and reaps the completions; when
/// nothing is ready it sleeps in the kernel until a completion, the earliest
/// timer or a to_thread result arrives (no busy polling).
///
/// The ring asks for IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
/// and falls back to IORING_SETUP_COOP_TASKRUN, then to no flags, on kernels
/// that refuse them.
///
/// Backends: with loop_options::backend `automatic` (the default) the loop
/// uses io_uring, and falls back to epoll when io_uring is unavailable: setup
/// refused (EPERM/EACCES from a seccomp filter, the kernel.io_uring_disabled
/// sysctl), missing (ENOSYS), out of locked memory (ENOMEM), lacking an opcode
/// corio needs, or io_uring_enter refused after setup. On epoll, sockets wait
/// for readiness and regular-file operations run on the worker pool; every
/// API behaves the same. backend() says which one runs.
///
/// Throws: std::system_error (with the errno) from the constructor when
///   io_uring is forced (loop_options::backend or CORIO_BACKEND) and cannot be
///   used, or fails for another reason (EMFILE), saying why (ENOSYS, a seccomp
///   filter, the kernel.io_uring_disabled sysctl, the memlock limit) and what
///   to do; std::invalid_argument for a CORIO_BACKEND that names no backend;
///   std::logic_error if this thread already has a loop.
/// Thread safety: a loop and everything it drives belong to the thread that
///   created it; only to_thread's workers reach it from other threads, through
///   its remote queue.
class event_loop : private detail::loop_core {
 public:
  using clock = std::chrono::steady_clock;

  explicit event_loop(loop_options options = {}) : loop_core(options) {}
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;
  // Joins the worker threads (their running calls finish) and waits for the
  // kernel to let go of every operation still in flight, so no memory the
  // kernel may write to is released before it has.
  ~event_loop() = default;

  /// Runs `main` to its end on this loop and returns its value or rethrows
  /// its exception, as asyncio's loop.run_until_complete. On the way out it
  /// cancels every spawned task still pending and waits for them.
  ///
  /// Throws: what `main` throws; std::logic_error if the loop is already
  ///   running, or on a deadlock (every task waits and nothing can wake them:
  ///   the main task is cancelled, then this is thrown); std::system_error if
  ///   the kernel refuses io_uring_enter after the ring was set up.
  template <class T>
  T run_until_complete(task<T> main, source_location where = source_location::current()) {
    CORIO_ASSERT(is_current(), "corio::event_loop: run the loop on the thread that created it");
    if (running_)
      throw std::logic_error("corio::event_loop: the loop is already running");
    detail::task_access::check_awaitable(main, "corio::run");
    running_ = true;
    struct running_guard {
      bool& flag;
      ~running_guard() { flag = false; }
    } guard{running_};

    main_context root;
    auto handle = detail::task_access::handle(main);
    handle.promise().start_as_root(&root);
    loop_core::root() = {&root, where, handle.address()};
    struct root_guard {
      detail::root_task& slot;
      ~root_guard() { slot = {}; }
    } forget_root{loop_core::root()};
    schedule(handle);
    bool deadlocked = false;
    try {
      deadlocked = run_until([&] { return root.done; }, &root);
    } catch (...) {
      // io_uring_enter was refused: the kernel may still hold operations
      // submitted before, so the frames stay allocated (leaked, not freed).
      if (!root.done)
        detail::task_access::release(main);
      throw;
    }
    const bool spawned_deadlocked = cancel_spawned_tasks();
    if (!root.done) {
      // Only when the main task ignores cancellation on a deadlock: its frame
      // may still be parked, so it is leaked rather than destroyed under the kernel.
      detail::task_access::release(main);
    }
    if (deadlocked || spawned_deadlocked) {
      throw std::logic_error(
          "corio::run: deadlock: every task is waiting and no I/O, timer or to_thread call is "
          "pending that could wake one (for example, waiting on an event nobody sets); the waiting "
          "tasks were cancelled");
    }
    return handle.promise().take();
  }

  /// The loop running on this thread.
  /// Throws: std::logic_error if there is none.
  static event_loop& current() { return static_cast<event_loop&>(loop_core::current()); }
  /// The loop of this thread, or nullptr.
  static event_loop* current_or_null() noexcept {
    return static_cast<event_loop*>(loop_core::current_or_null());
  }
  bool is_current() const noexcept { return loop_core::is_current(); }

  const loop_options& options() const noexcept { return loop_core::options(); }
  /// The IORING_SETUP_* flags the kernel accepted (0 on the epoll backend).
  unsigned ring_setup_flags() const noexcept {
    return uses_io_uring() ? io_uring().setup_flags() : 0;
  }
  /// The backend this loop runs on: corio::backend::io_uring or
  /// corio::backend::epoll (never `automatic`).
  corio::backend backend() const noexcept { return kind(); }
  /// How many to_thread workers run (0 until the first to_thread call).
  std::size_t worker_count() const noexcept { return loop_core::worker_count(); }

 private:
  friend class detail::loop_access;

  struct main_context : detail::context_owner, detail::task_context {
    main_context() noexcept : context_owner(&on_done), task_context(this) {}
    static std::coroutine_handle<> on_done(context_owner* self, task_context*,
                                           detail::task_promise_base&) noexcept {
      static_cast<main_context*>(self)->done = true;
      return std::noop_coroutine();
    }
    bool done = false;
  };

  bool running_ = false;
};

namespace detail {
// The one way from a public event_loop to its machinery (as task_access is
// for tasks); corio's awaiters mostly use loop_core::current() directly.
class loop_access {
 public:
  static loop_core& core(event_loop& loop) noexcept { return loop; }
};
}  // namespace detail

/// Runs `main` on a new event loop and returns its value or rethrows its
/// exception: asyncio.run.
///
/// On the way out every task still pending is cancelled and awaited, and the
/// loop releases its ring, worker threads and file descriptors, so two run()
/// calls in a row start from a clean state.
///
/// Throws: what `main` throws; std::system_error if io_uring cannot be used;
///   std::logic_error if a loop is already running on this thread, or on a
///   deadlock.
/// Example:
///   corio::task<int> answer() { co_return 42; }
///   int main() { return corio::run(answer()) == 42 ? 0 : 1; }
template <class T>
T run(task<T> main, loop_options options = {}, source_location where = source_location::current()) {
  event_loop loop(options);
  return loop.run_until_complete(std::move(main), where);
}

}  // namespace corio
