// SPDX-License-Identifier: MIT
// corio/event_loop.hpp: the io_uring event loop, and run() (asyncio.run).
#pragma once

#include <corio/config.hpp>
#include <corio/task.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/cross_thread.hpp>
#include <corio/detail/loop_core.hpp>
#include <corio/detail/signal_watch.hpp>

#include <chrono>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <future>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

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
///   created it. Other threads reach it only through call_soon_threadsafe and
///   submit (and to_thread's workers, through the same remote queue).
class event_loop : private detail::loop_core {
 public:
  using clock = std::chrono::steady_clock;

  explicit event_loop(loop_options options = {}) : loop_core(options) {}
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;
  // Joins the worker threads (their running calls finish), runs the
  // call_soon_threadsafe calls still queued, and waits for the kernel to let
  // go of every operation still in flight, so no memory the kernel may write
  // to is released before it has.
  ~event_loop() { close(); }

  /// Runs `main` to its end on this loop and returns its value or rethrows
  /// its exception, as asyncio's loop.run_until_complete. On the way out it
  /// cancels every spawned task still pending and waits for them, and for
  /// the tasks they spawn meanwhile, which start cancelled (see spawn()).
  ///
  /// It leaves SIGINT alone (loop_options::handle_sigint is run()'s), as
  /// asyncio's loop.run_until_complete; loop_options::call_graph_on_sigusr1
  /// applies.
  ///
  /// Throws: what `main` throws; std::logic_error if the loop is already
  ///   running, or on a deadlock (every task waits and nothing can wake them:
  ///   the main task is cancelled, then this is thrown); std::system_error if
  ///   the kernel refuses io_uring_enter after the ring was set up.
  template <class T>
  T run_until_complete(task<T> main, source_location where = source_location::current()) {
    return run_main(std::move(main), where, false);
  }

 private:
  // run_until_complete, and run() with `handle_sigint`.
  template <class T>
  T run_main(task<T> main, source_location where, bool handle_sigint) {
    CORIO_ASSERT(is_current(), "corio::event_loop: run the loop on the thread that created it");
    if (running_)
      throw std::logic_error("corio::event_loop: the loop is already running");
    detail::task_access::check_awaitable(main, "corio::run");
    running_ = true;
    set_accepts_tasks(true);
    struct running_guard {
      event_loop& loop;
      ~running_guard() {
        loop.running_ = false;
        loop.set_accepts_tasks(false);
      }
    } guard{*this};

    detail::root_context root;
    auto handle = detail::task_access::handle(main);
    handle.promise().start_as_root(&root, &root);
    loop_core::root() = {&root, where, handle.address()};
    struct root_guard {
      detail::root_task& slot;
      ~root_guard() { slot = {}; }
    } forget_root{loop_core::root()};
    detail::signal_watch signals(*this, root, handle_sigint && options().handle_sigint,
                                 options().call_graph_on_sigusr1);
    if (signals.wanted())
      signals.start(detail::watch_signals(signals));
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
    set_accepts_tasks(false);  // a task submitted from now on gets cancelled_error
    if (options().debug)
      print_statistics();
    const bool spawned_deadlocked = cancel_spawned_tasks();
    signals.stop();
    if (!root.done) {
      // Only when the main task ignores cancellation on a deadlock: its frame
      // may still be parked, so it is leaked rather than destroyed under the kernel.
      if (options().debug)
        warn_pending_at_shutdown(root, where.function_name(), where);
      detail::task_access::release(main);
    }
    if (deadlocked || spawned_deadlocked) {
      throw std::logic_error(
          "corio::run: deadlock: every task is waiting and no I/O, timer or to_thread call is "
          "pending that could wake one (for example, waiting on an event nobody sets); the waiting "
          "tasks were cancelled");
    }
    if (signals.interrupted()) {
      try {
        return handle.promise().take();
      } catch (const cancelled_error&) {
        throw interrupted();
      }
    }
    return handle.promise().take();
  }

 public:
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
  /// What the loop holds now: tasks alive, operations in flight, timers,
  /// to_thread calls queued and running, and the pool's size. It counts what
  /// the loop keeps anyway (one lock of the to_thread pool, if it runs), so
  /// it costs nothing until called. Debug mode prints it as the main task ends.
  /// Thread safety: call on the loop's thread.
  /// Example:
  ///   corio::loop_statistics s = corio::event_loop::current().statistics();
  ///   std::printf("%zu tasks, %zu timers\n", s.tasks, s.timers);
  loop_statistics statistics() { return loop_core::statistics(); }

  /// Runs `f()` on the loop's thread in a later turn, as asyncio's
  /// loop.call_soon_threadsafe. With submit, the only way into a loop from
  /// another thread; it wakes the loop the way to_thread results do.
  ///
  /// Calls from one thread run in the order they were made. A call made while
  /// the loop is not running waits for its next run_until_complete; one still
  /// queued when the loop is destroyed runs in its destructor. `f` may touch
  /// the loop's tasks and primitives (set an event, put into a queue): it runs
  /// where they belong. An exception from `f` goes to the unhandled-exception
  /// handler (set_unhandled_exception_handler; by default one line on stderr)
  /// and the loop runs on.
  ///
  /// The loop cannot see your threads: while every task waits for a callback
  /// only another thread will post, run() takes it for a deadlock. Keep the
  /// wait known to the loop, for example by awaiting the thread's end with
  /// `co_await corio::to_thread([&] { worker.join(); })`.
  ///
  /// Throws: std::logic_error once the loop is being destroyed; std::bad_alloc.
  /// Lifetime: the loop must outlive the call (run() destroys its loop when it
  ///   returns); `f` is moved (or copied) into the call, and destroyed on the
  ///   loop's thread once it has run.
  /// Thread safety: may be called from any thread, the loop's own included.
  /// Example:
  ///   corio::event ready;
  ///   auto& loop = corio::event_loop::current();
  ///   std::thread t([&] { loop.call_soon_threadsafe([&] { ready.set(); }); });
  template <class F>
  requires(std::invocable<std::decay_t<F>&>) void call_soon_threadsafe(F&& f) {
    auto call = std::make_unique<detail::posted_call<std::decay_t<F>>>(std::forward<F>(f));
    post(*call);
    call.release();  // the loop frees it once it has run
  }

  /// Starts `t` on this loop from any thread and returns a std::future of its
  /// result, as asyncio.run_coroutine_threadsafe.
  ///
  /// The task becomes a spawned task of the loop in its next turn (or its next
  /// run_until_complete, if it is not running), so run() cancels and awaits it
  /// as any other when its main task ends. The future gets the task's value
  /// or exception; a cancelled_error if it was cancelled, or if it arrived
  /// after the main task had ended (then it never starts); a std::future_error
  /// (broken promise) if the loop ran out of memory starting it. Cancel it
  /// from inside (a wait_for in the task) or by ending run().
  ///
  /// Throws: std::logic_error if `t` is empty or already started, or once the
  ///   loop is being destroyed; std::bad_alloc. future::get() rethrows what
  ///   the task threw.
  /// Lifetime: the loop must outlive the call, as for call_soon_threadsafe; the
  ///   future may outlive the loop. What `t` refers to must live until it ends.
  /// Thread safety: may be called from any thread; wait on the future on
  ///   another thread than the loop's (there it would block the loop forever).
  /// Example:
  ///   std::future<int> f = loop.submit(compute(21));   // on another thread
  ///   int v = f.get();
  template <class T>
  [[nodiscard]] std::future<T> submit(task<T> t,
                                      source_location where = source_location::current()) {
    detail::task_access::check_awaitable(t, "corio::event_loop::submit");
    auto job = std::make_unique<detail::submitted_task<T>>(static_cast<detail::loop_core&>(*this),
                                                           std::move(t), where);
    std::future<T> result = job->get_future();
    post(*job);
    job.release();  // the loop frees it when it starts the task
    return result;
  }

 private:
  friend class detail::loop_access;

  bool running_ = false;
};

namespace detail {
// The one way from a public event_loop to its machinery (as task_access is
// for tasks); corio's awaiters mostly use loop_core::current() directly.
class loop_access {
 public:
  static loop_core& core(event_loop& loop) noexcept { return loop; }
  // run(): run_until_complete with Ctrl-C handling.
  template <class T>
  static T run_with_sigint(event_loop& loop, task<T> main, source_location where) {
    return loop.run_main(std::move(main), where, true);
  }
};
}  // namespace detail

/// Runs `main` on a new event loop and returns its value or rethrows its
/// exception: asyncio.run.
///
/// On the way out every task still pending is cancelled and awaited, and the
/// loop releases its ring, worker threads and file descriptors, so two run()
/// calls in a row start from a clean state.
///
/// Ctrl-C (SIGINT) cancels the main task, as asyncio.run, unless
/// loop_options::handle_sigint is off: the cancellation reaches everything it
/// awaits (an accept, a recv, a sleep, a to_thread wait), and once the main
/// task has ended with cancelled_error, run() throws corio::interrupted. A
/// second Ctrl-C while the task unwinds ends the process at once. Catch
/// corio::interrupted in main() to exit as an interrupted command does:
///   catch (const corio::interrupted&) { return 130; }   // 128 + SIGINT
/// (see loop_options::handle_sigint for where it applies).
///
/// Throws: what `main` throws; corio::interrupted after a Ctrl-C;
///   std::system_error if io_uring cannot be used; std::logic_error if a loop
///   is already running on this thread, or on a deadlock.
/// Example:
///   corio::task<int> answer() { co_return 42; }
///   int main() { return corio::run(answer()) == 42 ? 0 : 1; }
template <class T>
T run(task<T> main, loop_options options = {}, source_location where = source_location::current()) {
  event_loop loop(options);
  return detail::loop_access::run_with_sigint(loop, std::move(main), where);
}

}  // namespace corio
