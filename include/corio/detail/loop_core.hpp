// SPDX-License-Identifier: MIT
// corio/detail/loop_core.hpp: the event loop's machinery, which corio's own
// awaiters reach through loop_core::current(): the ready queue, the timer
// heap, the backend that waits for the kernel, the to_thread pool and the
// spawned tasks. corio::event_loop (event_loop.hpp) is its public face.
#pragma once

#include <corio/config.hpp>
#include <corio/source_location.hpp>

#include <corio/detail/backend/epoll.hpp>
#include <corio/detail/backend/io_uring.hpp>
#include <corio/detail/cancellation.hpp>
#include <corio/detail/frame_allocator.hpp>
#include <corio/detail/intrusive_list.hpp>
#include <corio/detail/ready_queue.hpp>
#include <corio/detail/remote_queue.hpp>
#include <corio/detail/thread_pool.hpp>
#include <corio/detail/timer_heap.hpp>
#include <corio/detail/wait_info.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace corio {

/// Which kernel interface an event loop waits with (loop_options::backend).
/// `automatic` uses io_uring where the kernel and the sandbox allow it, and
/// epoll where they do not (see event_loop::backend()).
enum class backend { automatic, io_uring, epoll };

/// Settings of an event loop; run() takes them as its second argument.
struct loop_options {
  unsigned queue_depth = 256;  ///< io_uring submission queue entries
  bool sqpoll = false;         ///< IORING_SETUP_SQPOLL: a kernel thread polls the queue
  /// to_thread pool size; 0: one thread per CPU this thread may run on, at most 32
  unsigned worker_threads = 0;
  /// run()'s shutdown waits for the to_thread calls still running; after this
  /// long it prints one line on stderr saying how many, and waits on.
  std::chrono::milliseconds shutdown_warning = std::chrono::seconds(5);
  /// Debug mode (also on when the environment has CORIO_DEBUG=1), as asyncio's:
  /// - a warning on `debug_output` for each resume step that runs `slow_step`
  ///   or longer (asyncio's slow_callback_duration);
  /// - when the loop runs on epoll, one line at start-up saying why io_uring
  ///   is not used ("corio: debug: io_uring_setup: Operation not permitted (a
  ///   seccomp filter, ...); using epoll");
  /// - one line of event_loop::statistics() as run()'s main task ends;
  /// - from http::server, one line for each failed TLS handshake;
  /// - a warning naming each task still pending at shutdown (it did not finish
  ///   when cancelled, on a deadlock: its frame is leaked, not destroyed);
  /// - in release (NDEBUG) builds too, the misuse checks of debug builds: a
  ///   primitive (event, mutex, semaphore, queue, condition, barrier) used from
  ///   a thread that is not its loop's throws std::logic_error, and a task
  ///   destroyed while it runs aborts with the reason. While any loop in debug
  ///   mode exists, these checks run on every thread of the process.
  bool debug = false;
  std::chrono::milliseconds slow_step = std::chrono::milliseconds(100);
  std::FILE* debug_output = nullptr;  ///< nullptr = stderr
  /// The backend; `automatic` may be overridden by the environment variable
  /// CORIO_BACKEND (io_uring, epoll or automatic), an explicit choice may not.
  corio::backend backend = corio::backend::automatic;
  /// Ctrl-C, for run() only (as asyncio.run; event_loop::run_until_complete
  /// and testing::run_virtual leave SIGINT alone, as asyncio's
  /// loop.run_until_complete): SIGINT cancels the main task, which cancels
  /// everything it awaits, kernel operations included, and run() throws
  /// corio::interrupted once the main task has ended with cancelled_error. A
  /// second SIGINT while it unwinds ends the process at once (SIGINT's
  /// default action), as asyncio.Runner. It applies on the process's main
  /// thread only (a loop on another thread leaves SIGINT alone), and only while
  /// SIGINT has its default action: a handler the program installed, or the
  /// SIG_IGN a shell gives background jobs, is kept. SIGINT is blocked in the
  /// loop's thread and read from a signalfd, so threads the program starts
  /// itself must block it too (see wait_signal); to_thread's workers do. The
  /// thread's mask is restored when run() returns.
  bool handle_sigint = true;
  /// Debug aid: on SIGUSR1 the loop prints its call graph (print_call_graph)
  /// on `debug_output`, from the loop's thread between two steps (read from a
  /// signalfd, never in a signal handler): `kill -USR1 <pid>` shows where a
  /// live process waits, as `python -m asyncio ps <pid>`. On the process's
  /// main thread only, as handle_sigint; it needs <corio/call_graph.hpp> in
  /// the program (std::logic_error from run() otherwise).
  bool call_graph_on_sigusr1 = false;
};

/// What an event loop holds at one moment (event_loop::statistics()).
struct loop_statistics {
  /// Tasks alive: run()'s main task while it runs, and every spawned task
  /// (spawn, task_group) that has not finished. The children of a gather or
  /// wait_for run inside the task that awaits them and are not counted.
  std::size_t tasks = 0;
  /// Operations tasks wait for: io_uring operations submitted (or queued for
  /// submission) whose completion has not been reaped, cancel requests
  /// included; on epoll, the sockets waited on for readiness.
  std::size_t operations_in_flight = 0;
  /// Timers pending: sleeps, and the deadlines of wait_for and wait_until.
  std::size_t timers = 0;
  /// to_thread calls (and, on epoll, file operations) no worker has taken yet.
  std::size_t to_thread_queued = 0;
  /// to_thread calls a worker has taken: running, or next in its batch.
  std::size_t to_thread_running = 0;
  /// The to_thread pool's threads (0 until the first to_thread call).
  std::size_t worker_threads = 0;
};

namespace detail {

// A spawned task the loop must cancel and wait for when run() ends; it is
// also the context its coroutines run in.
// Its name (a static string: the caller's, or the function that spawned it)
// and where it was spawned are for the call graph.
class live_task : public list_hook, public context_owner, public task_context {
 public:
  explicit live_task(done_fn on_done) noexcept : context_owner(on_done) {}
  const char* name() const noexcept { return name_; }
  const source_location& where() const noexcept { return where_; }
  // The outermost coroutine's frame, which debug mode's slow-step warning
  // recognises the task by.
  const void* frame() const noexcept { return frame_; }
  void set_frame(const void* frame) noexcept { frame_ = frame; }
  void set_origin(const char* name, const source_location& where) noexcept {
    name_ = name != nullptr ? name : where.function_name();
    where_ = where;
  }

 private:
  const char* name_ = "";
  source_location where_;
  const void* frame_ = nullptr;
};

// The context of a coroutine the loop runs as a root (run()'s main task, the
// signal watch): it records when the coroutine has finished.
struct root_context : context_owner, task_context {
  root_context() noexcept : context_owner(&on_done) {}
  static std::coroutine_handle<> on_done(context_owner* self, task_context*,
                                         task_promise_base&) noexcept {
    static_cast<root_context*>(self)->done = true;
    return std::noop_coroutine();
  }
  bool done = false;
};

// The main task of run(), seen by the call graph.
struct root_task {
  const task_context* context = nullptr;
  source_location where;
  const void* frame = nullptr;  // its coroutine frame (see live_task::frame)
};

class loop_core {
 public:
  using clock = std::chrono::steady_clock;

  explicit loop_core(loop_options options) : options_(with_environment(options)) {
    if (current_ != nullptr) {
      throw std::logic_error(
          "corio::event_loop: this thread already has an event loop (corio::run cannot be nested; "
          "inside a running loop, co_await the task instead)");
    }
    if (options_.queue_depth == 0) {
      throw std::invalid_argument("corio::loop_options: queue_depth must be at least 1");
    }
    remote_ = std::make_unique<remote_queue>();  // before any thread can hold the loop
    choose_backend();
    current_ = this;
    this_thread_ready_queue = &ready_;
    frame_arena::loop_started();
    if (options_.debug)
      debug_loops.fetch_add(1, std::memory_order_relaxed);
  }
  loop_core(const loop_core&) = delete;
  loop_core& operator=(const loop_core&) = delete;

  // Joins the worker threads (their running calls finish) and waits for the
  // kernel to let go of every operation still in flight.
  ~loop_core() {
    if (this_thread_virtual_now == &virtual_now_)
      this_thread_virtual_now = nullptr;
    close();
    if (uses_io_uring_)
      io_uring_.shutdown();
    current_ = nullptr;
    this_thread_ready_queue = nullptr;
    frame_arena::loop_ended();  // its reservation goes once its last block is freed
    if (options_.debug)
      debug_loops.fetch_sub(1, std::memory_order_relaxed);
  }

  // The loop of this thread; std::logic_error if there is none.
  static loop_core& current() {
    if (current_ == nullptr) [[unlikely]]
      throw_no_loop();
    return *current_;
  }
  static loop_core* current_or_null() noexcept { return current_; }
  bool is_current() const noexcept { return current_ == this; }

  const loop_options& options() const noexcept { return options_; }
  // Where debug lines go: loop_options::debug_output, else stderr.
  std::FILE* debug_output() const noexcept {
    return options_.debug_output != nullptr ? options_.debug_output : stderr;
  }
  io_uring_backend& io_uring() noexcept { return io_uring_; }
  const io_uring_backend& io_uring() const noexcept { return io_uring_; }
  epoll_backend& epoll() noexcept { return epoll_; }
  // The one branch per operation: chosen at construction, never changed.
  bool uses_io_uring() const noexcept { return uses_io_uring_; }
  corio::backend kind() const noexcept {
    return uses_io_uring_ ? corio::backend::io_uring : corio::backend::epoll;
  }

  // Makes `h` run in a later turn of the loop, after those already queued.
  void schedule(std::coroutine_handle<> h) { ready_.push(h); }

  timer_heap& timers() noexcept { return timers_; }

  // The loop's clock (see loop_now()).
  static clock::time_point now() noexcept { return loop_now(); }
  // From here on the clock is virtual, starting at the real now: when every
  // task waits on timers alone, it jumps to the next deadline; while I/O or a
  // to_thread call is in flight it runs at the real clock's pace.
  void use_virtual_time() noexcept {
    virtual_now_ = clock::now();
    virtual_ = true;
    this_thread_virtual_now = &virtual_now_;
  }

  // Hands `job` to the worker pool, starting the pool on first use. Counted
  // only once queued: a submit that throws leaves nothing outstanding.
  void submit_job(thread_job* job) {
    if (!workers_)
      start_workers();
    workers_->submit(job);
    ++jobs_outstanding_;
  }
  // Takes back a job no worker has taken yet (see thread_pool::withdraw).
  bool withdraw_job(thread_job* job) noexcept {
    if (!workers_ || !workers_->withdraw(job))
      return false;
    --jobs_outstanding_;
    return true;
  }
  std::size_t worker_count() const noexcept { return workers_ ? workers_->size() : 0; }

  // The first half of destruction, which event_loop's destructor runs while
  // the whole loop still exists: refuses further post() calls, joins the
  // workers and delivers what is queued (cross-thread calls run, submitted
  // tasks are refused). Idempotent.
  void close() noexcept {
    closed_.store(true, std::memory_order_seq_cst);
    workers_.reset();
    remote_->deliver_all();
  }

  // Any thread: hands `node` (not counted: see remote_node) to the loop the
  // way to_thread results come back. It is delivered in the loop's next turn,
  // waking the loop if it sleeps, or when the loop is destroyed.
  // Throws: std::logic_error once the loop is being destroyed.
  void post(remote_node& node) {
    if (closed_.load(std::memory_order_seq_cst)) {
      throw std::logic_error(
          "corio::event_loop: the loop is being destroyed; call into a loop only while it "
          "exists (join the threads that call it before run() returns)");
    }
    remote_->push(&node);
  }
  // Loop thread: whether a task submitted from another thread may start now:
  // while run_until_complete runs its main task, not once it shuts down.
  bool accepts_tasks() const noexcept { return accepts_tasks_; }
  void set_accepts_tasks(bool accepts) noexcept { accepts_tasks_ = accepts; }

  // See event_loop::statistics().
  loop_statistics statistics() {
    loop_statistics s;
    s.tasks = live_tasks_.size() + (root_.context != nullptr ? 1 : 0);
    s.operations_in_flight = with_backend([](auto& backend) { return backend.operations(); });
    s.timers = timers_.size();
    if (workers_) {
      const thread_pool::job_counts jobs = workers_->counts();
      s.to_thread_queued = jobs.queued;
      s.to_thread_running = jobs.running;
      s.worker_threads = workers_->size();
    }
    return s;
  }

  // A task spawned while the spawned tasks are being cancelled (from one's
  // cleanup) starts with a cancellation pending, so that run() ends.
  void track(live_task& t) noexcept {
    live_tasks_.push_back(t);
    if (cancelling_spawned_)
      t.request_cancel();
  }
  void untrack(live_task& t) noexcept {
    live_tasks_.erase(t);
    if (options_.debug)  // a step that ends its task still names it (warn_slow_step)
      last_finished_ = {t.frame(), t.name(), t.where()};
  }
  // For the call graph: the spawned tasks still running, and run()'s main task.
  template <class Fn>
  void for_each_live_task(Fn fn) {
    live_tasks_.for_each(fn);
  }
  root_task& root() noexcept { return root_; }

  // Runs the loop until `done()`; on a deadlock, cancels `on_deadlock` (the
  // task whose end we wait for) and returns true once done() holds.
  // Throws: std::system_error when the backend can no longer reach the kernel.
  template <class Done>
  bool run_until(Done done, task_context* on_deadlock) {
    bool deadlocked = false;
    int fruitless_cancels = 0;
    throw_if_backend_failed();
    while (!done()) {
      // Run what is ready now; what they make ready runs in a later turn.
      const std::size_t resumed = ready_.size();
      if (options_.debug) [[unlikely]] {
        run_ready_timed();
      } else {
        for (std::size_t n = resumed; n > 0; --n)
          ready_.pop().resume();
      }
      if (workers_)
        workers_->flush();  // the to_thread calls of this turn, in one batch
      if (done())
        break;
      deliver_remote();
      // The turn's one clock read (none without timers); the heap only
      // shrinks from here to the wait below, which reuses it.
      clock::time_point now{};
      if (!timers_.empty()) {
        now = virtual_ ? virtual_now_ : clock::now();
        timers_.fire_due(now, timers_per_turn);
      }
      if (!ready_.empty()) {
        // Tasks stay ready: the kernel is asked for completions every
        // poll_interval resumed steps, not every turn (see poll_between_turns).
        steps_since_poll_ += resumed;
        if (steps_since_poll_ >= poll_interval) [[unlikely]]
          poll_between_turns();
        continue;
      }
      if (!something_pending()) {
        // Nothing can ever wake the waiting tasks: cancel them rather than hang.
        deadlocked = true;
        if (++fruitless_cancels > 3 || on_deadlock == nullptr)
          return true;
        on_deadlock->request_cancel();
        continue;
      }
      fruitless_cancels = 0;
      if (timers_.empty()) {
        wait_backend(std::chrono::nanoseconds(-1));
      } else {
        const auto wait = timers_.next_deadline() - now;
        if (wait > clock::duration::zero()) {
          if (virtual_)
            advance_virtual_time(wait);
          else
            wait_backend(std::chrono::ceil<std::chrono::nanoseconds>(wait));
        }
      }
      throw_if_backend_failed();
    }
    return deadlocked;
  }

  // Cancels every spawned task still pending and waits for them, and for the
  // tasks they spawn meanwhile (cancelled from the start, see track()).
  // Returns true if some ignored cancellation in a deadlock (they are then
  // left suspended, and debug mode names each).
  bool cancel_spawned_tasks() {
    cancelling_spawned_ = true;
    struct cancelling_guard {
      bool& flag;
      ~cancelling_guard() { flag = false; }
    } guard{cancelling_spawned_};
    bool deadlocked = false;
    for (int attempt = 0; !live_tasks_.empty() && attempt < 4; ++attempt) {
      live_tasks_.for_each([](live_task& t) { t.request_cancel(); });
      if (!run_until([&] { return live_tasks_.empty(); }, nullptr))
        break;
      deadlocked = true;
    }
    if (options_.debug) {
      live_tasks_.for_each([&](live_task& t) { warn_pending_at_shutdown(t, t.name(), t.where()); });
    }
    return deadlocked;
  }

  // Debug mode, when run()'s main task has ended (before the spawned tasks
  // still pending are cancelled): one line of statistics().
  void print_statistics() {
    const loop_statistics s = statistics();
    std::fprintf(debug_output(),
                 "corio: debug: loop statistics as the main task ended: %zu task(s) alive, %zu "
                 "operation(s) in flight, %zu timer(s), to_thread %zu queued and %zu running on "
                 "%zu worker thread(s)\n",
                 s.tasks, s.operations_in_flight, s.timers, s.to_thread_queued, s.to_thread_running,
                 s.worker_threads);
    std::fflush(debug_output());
  }

  // Debug mode, at shutdown: a task that is still pending (it did not finish
  // when cancelled, on a deadlock) is never destroyed, since its frame may
  // still be parked where something could write to it; this names it, as
  // asyncio's "Task was destroyed but it is pending!".
  void warn_pending_at_shutdown(const task_context& context, const char* name,
                                const source_location& where) {
    wait_info wait;
    if (const suspension* leaf = context.leaf(); leaf != nullptr && leaf->describer() != nullptr)
      leaf->describer()(*leaf, wait);
    std::fprintf(debug_output(),
                 "corio: debug: task '%s' (created at %s:%u) is still pending at shutdown: it "
                 "did not finish when cancelled, so its frame is left suspended (leaked)%s%s\n",
                 name, where.file_name(), where.line(),
                 wait.what.empty() ? "" : " at: ", wait.what.c_str());
    std::fflush(debug_output());
  }

 private:
  // Out of line, so that current() stays small enough to inline into every
  // await (a yield was a call before).
  [[noreturn, gnu::noinline, gnu::cold]] static void throw_no_loop() {
    throw std::logic_error(
        "corio: no event loop on this thread; corio operations must run inside corio::run()");
  }
  // Timers fired per loop turn at most (see timer_heap::fire_due).
  static constexpr std::size_t timers_per_turn = 4096;

  static loop_options with_environment(loop_options options) noexcept {
    if (const char* v = std::getenv("CORIO_DEBUG"); v != nullptr && std::strcmp(v, "1") == 0)
      options.debug = true;
    return options;
  }
  // Debug mode's turn: two clock reads around each resume. The real clock,
  // not the loop's: a virtual clock stands still while a step runs.
  void run_ready_timed() {
    for (std::size_t n = ready_.size(); n > 0; --n) {
      const std::coroutine_handle<> h = ready_.pop();
      const void* frame = h.address();  // h may be destroyed by its own step
      last_finished_.frame = nullptr;   // names only a task this step ends
      const clock::time_point start = clock::now();
      h.resume();
      const clock::duration took = clock::now() - start;
      if (took >= options_.slow_step)
        warn_slow_step(frame, took);
    }
  }
  void warn_slow_step(const void* frame, clock::duration took) {
    const char* name = nullptr;
    const source_location* where = nullptr;
    if (root_.frame == frame) {
      name = root_.where.function_name();
      where = &root_.where;
    } else if (last_finished_.frame == frame) {
      name = last_finished_.name;
      where = &last_finished_.where;
    }
    live_tasks_.for_each([&](live_task& t) {
      if (t.frame() == frame) {
        name = t.name();
        where = &t.where();
      }
    });
    std::FILE* out = debug_output();
    const double ms = std::chrono::duration<double, std::milli>(took).count();
    if (name != nullptr) {
      std::fprintf(out,
                   "corio: debug: task '%s' (created at %s:%u) ran %.1f ms without "
                   "suspending\n",
                   name, where->file_name(), where->line(), ms);
    } else {
      std::fprintf(out,
                   "corio: debug: a coroutine awaited inside a task (frame %p) ran %.1f ms "
                   "without suspending\n",
                   frame, ms);
    }
    std::fflush(out);
  }

  void start_workers() {
    unsigned n = options_.worker_threads;
    if (n == 0)
      n = thread_pool::default_size();
    workers_ = std::make_unique<thread_pool>(n, *remote_, options_.shutdown_warning);
  }
  // Jumps to the next deadline, `wait` ahead, unless I/O or a to_thread call
  // is in flight: those hold the clock, which then advances by the real time
  // spent waiting for them (at most `wait`).
  void advance_virtual_time(clock::duration wait) {
    if (!backend_busy() && jobs_outstanding_ == 0) {
      virtual_now_ += wait;
      return;
    }
    const clock::time_point start = clock::now();
    wait_backend(std::chrono::ceil<std::chrono::nanoseconds>(wait));
    virtual_now_ += std::min(wait, clock::now() - start);
  }
  // While tasks stay ready, the loop looks at the kernel every poll_interval
  // resumed steps: each turn of a task that yields in a loop is then a few
  // loads and branches (the busy() test alone was a quarter of a yield's
  // instructions), while I/O completions are still reaped within 32 steps,
  // a fraction of the poll's own system call (about 1 us here). Not for the
  // eventfd watch alone: deliver_remote() finds posted nodes without it, and
  // pushes do not write the eventfd while the loop runs.
  // Out of line: it runs once per poll_interval steps, and inlined it made
  // the turn's own loop longer (a yield about 4% slower, same binary).
  static constexpr std::size_t poll_interval = 32;
  [[gnu::noinline]] void poll_between_turns() {
    const std::size_t steps = std::exchange(steps_since_poll_, 0);
    with_backend([&](auto& backend) {
      if (backend.busy() || (backend.has_background() && background_poll_due(steps)))
        backend.poll();
    });
    throw_if_backend_failed();
  }
  // Calls `f` with the backend the loop runs on and returns what it returns:
  // both have the same calls for waiting, polling and counting, and the choice
  // is made once, at construction. (Written as if/else: with a bare second
  // return, g++ 12 stopped inlining io_uring_backend::wait into wait_backend.)
  template <class F>
  std::invoke_result_t<F&, io_uring_backend&> with_backend(F f) {
    if (uses_io_uring_)
      return f(io_uring_);
    else
      return f(epoll_);
  }
  // Whether a task waits for the backend (not counting background waits).
  bool backend_busy() noexcept {
    return with_backend([](auto& backend) { return backend.busy(); });
  }
  // Once io_uring_enter has been refused for good (see io_uring_backend::get_sqe).
  void throw_if_backend_failed() const {
    if (uses_io_uring_ && io_uring_.error() != 0) [[unlikely]]
      io_uring_.throw_error();
  }
  // While tasks stay ready, a background wait alone (the signal watch) is
  // seen only through a system call (about 2 us here). The clock is read
  // every 1024 resumed steps and the poll made at most every 2 ms: a Ctrl-C
  // reaches a loop whose tasks never wait for the kernel within 2 ms or 1024
  // steps, whichever is later, for well under 0.1 ns a step.
  bool background_poll_due(std::size_t steps) noexcept {
    steps_since_check_ += steps;
    if (steps_since_check_ < 1024)
      return false;
    steps_since_check_ = 0;
    const clock::time_point now = clock::now();
    if (now - last_background_poll_ < std::chrono::milliseconds(2))
      return false;
    last_background_poll_ = now;
    return true;
  }
  void deliver_remote() noexcept { jobs_outstanding_ -= remote_->deliver_all(); }
  bool something_pending() noexcept {
    return !timers_.empty() || jobs_outstanding_ > 0 || backend_busy();
  }
  // The eventfd is watched whenever the loop sleeps, not only with to_thread
  // calls out: another thread may call in at any time (post()). Once armed
  // the watch stays armed, so this costs no system call. A node posted
  // between the top of the turn and here turns the wait into a poll: the
  // push saw the loop awake and wrote nothing (remote_queue::push).
  void wait_backend(std::chrono::nanoseconds timeout) noexcept {
    const bool sleep = remote_->prepare_to_sleep();
    with_backend([&](auto& backend) {
      backend.arm_wakeup(*remote_);
      if (sleep)
        backend.wait(timeout);
      else
        backend.poll();
    });
    remote_->awake();
  }

  // The backend loop_options and CORIO_BACKEND ask for; `automatic` falls back
  // to epoll only when io_uring is unavailable (refused, disabled, missing, or
  // out of locked memory), never for other errors (EMFILE stays an error).
  static corio::backend requested_backend(corio::backend chosen) {
    if (chosen != corio::backend::automatic)
      return chosen;
    const char* env = std::getenv("CORIO_BACKEND");
    if (env == nullptr || *env == '\0' || std::strcmp(env, "automatic") == 0)
      return corio::backend::automatic;
    if (std::strcmp(env, "io_uring") == 0)
      return corio::backend::io_uring;
    if (std::strcmp(env, "epoll") == 0)
      return corio::backend::epoll;
    throw std::invalid_argument("corio::event_loop: CORIO_BACKEND=\"" + std::string(env) +
                                "\" is not a backend; use io_uring, epoll or automatic");
  }
  static bool io_uring_unavailable(int err) noexcept {
    return err == EPERM || err == EACCES || err == ENOSYS || err == ENOMEM;
  }

  void choose_backend() {
    const corio::backend want = requested_backend(options_.backend);
    std::string why_not;  // why io_uring is not used, for debug mode's one line
    if (want == corio::backend::epoll) {
      why_not = options_.backend == corio::backend::epoll ? "loop_options::backend is epoll"
                                                          : "CORIO_BACKEND=epoll";
    } else {
      const int res = io_uring_.init(options_.queue_depth, options_.sqpoll);
      const int disabled = res < 0 ? io_uring_disabled_sysctl() : -1;
      if (res < 0 && (want == corio::backend::io_uring || !io_uring_unavailable(-res))) {
        throw std::system_error(-res, std::system_category(),
                                "corio::event_loop: " + describe_setup_error(-res, disabled));
      }
      if (res < 0) {
        io_uring_.release();
        const std::string cause = setup_refusal_cause(-res, disabled);
        why_not = std::string("io_uring_setup: ") + std::strerror(-res) +
                  (cause.empty() ? "" : " (" + cause + ")");
      } else if (want == corio::backend::automatic) {
        // Forcing io_uring keeps today's behaviour: a refused enter throws
        // from run(); automatic finds out here, while epoll can still take over.
        why_not = io_uring_.probe();
        if (!why_not.empty())
          io_uring_.release();
        else
          uses_io_uring_ = true;
      } else {
        io_uring_.probe_optional_opcodes();
        uses_io_uring_ = true;
      }
    }
    if (!uses_io_uring_) {
      if (const int res = epoll_.init(); res < 0) {
        throw std::system_error(-res, std::system_category(),
                                "corio::event_loop: epoll_create1 failed");
      }
    }
    if (options_.debug && !uses_io_uring_) {
      std::fprintf(debug_output(), "corio: debug: %s; using epoll\n", why_not.c_str());
    }
  }

  static inline thread_local loop_core* current_ = nullptr;

  // Data that does not change once initialised.
  loop_options options_;
  // Data that only the loop's thread touches.
  io_uring_backend io_uring_;
  epoll_backend epoll_;
  bool uses_io_uring_ = false;
  ready_queue ready_;
  timer_heap timers_;
  intrusive_list<live_task> live_tasks_;
  bool cancelling_spawned_ = false;  // run() is in cancel_spawned_tasks()
  root_task root_;
  struct finished_task {
    const void* frame = nullptr;
    const char* name = nullptr;
    source_location where;
  } last_finished_;  // debug mode only
  clock::time_point virtual_now_{};
  bool virtual_ = false;
  bool accepts_tasks_ = false;
  std::size_t jobs_outstanding_ = 0;
  std::size_t steps_since_poll_ = 0;  // resumed while tasks stayed ready (poll_between_turns)
  // background_poll_due(): steps resumed since its last clock read, and its last poll.
  std::size_t steps_since_check_ = 0;
  clock::time_point last_background_poll_{};
  // Data shared with the worker threads and other threads (each synchronises itself).
  std::atomic<bool> closed_{false};  // the destructor has begun
  std::unique_ptr<remote_queue> remote_;
  std::unique_ptr<thread_pool> workers_;
};

}  // namespace detail
}  // namespace corio
