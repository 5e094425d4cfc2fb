// SPDX-License-Identifier: MIT
// corio/event_loop.hpp: the io_uring event loop, and run() (asyncio.run).
#pragma once

#include <corio/config.hpp>
#include <corio/task.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/frame_allocator.hpp>
#include <corio/detail/intrusive_list.hpp>
#include <corio/detail/ready_queue.hpp>
#include <corio/detail/remote_queue.hpp>
#include <corio/detail/ring.hpp>
#include <corio/detail/thread_pool.hpp>
#include <corio/detail/timer_heap.hpp>

#include <liburing.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

namespace corio {

/// Settings of an event loop; run() takes them as its second argument.
struct loop_options {
  unsigned queue_depth = 256;  ///< io_uring submission queue entries
  bool sqpoll = false;         ///< IORING_SETUP_SQPOLL: a kernel thread polls the queue
  unsigned worker_threads =
      0;  ///< to_thread pool size; 0 = the CPUs this thread may run on (max 32)
  /// run()'s shutdown waits for the to_thread calls still running; after this
  /// long it prints one line on stderr saying how many, and waits on.
  std::chrono::milliseconds shutdown_warning = std::chrono::seconds(5);
};

namespace detail {
// A spawned task the loop must cancel and wait for when run() ends; it is
// also the context its coroutines run in.
class live_task : public list_hook, public context_owner, public task_context {
 public:
  explicit live_task(done_fn on_done) noexcept : context_owner(on_done), task_context(this) {}
};
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
/// Throws: std::system_error (with the errno) from the constructor when
///   io_uring cannot be used, saying why (ENOSYS, a seccomp filter, the
///   kernel.io_uring_disabled sysctl, the memlock limit) and what to do;
///   std::logic_error if this thread already has a loop.
/// Thread safety: a loop and everything it drives belong to the thread that
///   created it; only to_thread's workers reach it from other threads, through
///   its remote queue.
class event_loop {
 public:
  using clock = std::chrono::steady_clock;

  explicit event_loop(loop_options options = {}) : options_(options) {
    if (current_ != nullptr) {
      throw std::logic_error(
          "corio::event_loop: this thread already has an event loop (corio::run cannot be nested; "
          "inside a running loop, co_await the task instead)");
    }
    if (options_.queue_depth == 0) {
      throw std::invalid_argument("corio::loop_options: queue_depth must be at least 1");
    }
    if (const int res = ring_.init(options_.queue_depth, options_.sqpoll); res < 0) {
      throw std::system_error(
          -res, std::system_category(),
          "corio::event_loop: " +
              detail::describe_setup_error(-res, detail::io_uring_disabled_sysctl()));
    }
    current_ = this;
    detail::this_thread_ready_queue = &ready_;
    detail::frame_arena::loop_started();
  }
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  // Joins the worker threads (their running calls finish) and waits for the
  // kernel to let go of every operation still in flight, so no memory the
  // kernel may write to is released before it has.
  ~event_loop() {
    workers_.reset();
    if (remote_)
      remote_->deliver_all();
    // Once io_uring_enter is refused, nothing more reached the kernel.
    if (inflight_ > 0 && enter_error_ == 0) {
      // After a normal run() only the eventfd read is left: it is cancelled
      // by its user_data, which every supported kernel knows. Operations of
      // tasks that never finished (run() ended by an exception) are cancelled
      // with IORING_ASYNC_CANCEL_ANY (5.19); an older kernel refuses that and
      // the wait below ends them or gives up after 10 s.
      if (wakeup_ && wakeup_->armed) {
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_cancel(sqe, static_cast<detail::completion*>(wakeup_.get()), 0);
        io_uring_sqe_set_data64(sqe, 0);
      }
      if (inflight_ > ((wakeup_ && wakeup_->armed) ? 1u : 0u)) {
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(sqe, 0);
      }
      for (int rounds = 0; inflight_ > 0 && rounds < 1000 && enter_error_ == 0; ++rounds)
        wait_for_completions(true, ten_ms);
    }
    current_ = nullptr;
    detail::this_thread_ready_queue = nullptr;
    detail::frame_arena::loop_ended();  // its reservation goes once its last block is freed
  }

  /// Runs `main` to its end on this loop and returns its value or rethrows
  /// its exception, as asyncio's loop.run_until_complete. On the way out it
  /// cancels every spawned task still pending and waits for them.
  ///
  /// Throws: what `main` throws; std::logic_error if the loop is already
  ///   running, or on a deadlock (every task waits and nothing can wake them:
  ///   the main task is cancelled, then this is thrown).
  template <class T>
  T run_until_complete(task<T> main) {
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
  static event_loop& current() {
    if (current_ == nullptr) {
      throw std::logic_error(
          "corio: no event loop on this thread; corio operations must run inside corio::run()");
    }
    return *current_;
  }
  /// The loop of this thread, or nullptr.
  static event_loop* current_or_null() noexcept { return current_; }
  bool is_current() const noexcept { return current_ == this; }

  const loop_options& options() const noexcept { return options_; }
  /// The IORING_SETUP_* flags the kernel accepted.
  unsigned ring_setup_flags() const noexcept { return ring_.setup_flags(); }

  // ---- For corio's own awaiters; not part of the user-facing API. ----

  // Makes `h` run in a later turn of the loop, after those already queued.
  void schedule(std::coroutine_handle<> h) { ready_.push(h); }

  // An SQE for the caller to fill; never null: a full submission queue is
  // submitted first (and completions reaped if the kernel pushes back; their
  // handlers only record and schedule, so running them here, inside an
  // await_suspend or a cancel callback, resumes nothing). Once io_uring_enter
  // is refused for good, a scratch SQE nobody submits is returned and run()
  // throws at the top of its next turn.
  io_uring_sqe* get_sqe() noexcept {
    CORIO_ASSERT(!reaping_, "corio: a completion handler must not start operations");
    for (;;) {
      if (io_uring_sqe* sqe = io_uring_get_sqe(ring_.get()))
        return sqe;
      if (enter_error_ != 0) {
        return ::new (static_cast<void*>(scratch_sqe_.data())) io_uring_sqe{};
      }
      const int res = io_uring_submit(ring_.get());
      if (res == -EBUSY || res == -EAGAIN)
        reap_completions();
      else
        check_enter(res);
    }
  }
  // Marks `sqe` as an operation whose completion `op` receives.
  void start_operation(io_uring_sqe* sqe, detail::completion* op) noexcept {
    io_uring_sqe_set_data(sqe, op);
    ++inflight_;
  }

  detail::timer_heap& timers() noexcept { return timers_; }

  // Hands `job` to the worker pool, starting the pool on first use. Counted
  // only once queued: a submit that throws leaves nothing outstanding.
  void submit_job(detail::thread_job* job) {
    if (!workers_)
      start_workers();
    workers_->submit(job);
    ++jobs_outstanding_;
  }
  std::size_t worker_count() const noexcept { return workers_ ? workers_->size() : 0; }

  void track(detail::live_task& t) noexcept { live_tasks_.push_back(t); }
  void untrack(detail::live_task& t) noexcept { live_tasks_.erase(t); }

 private:
  using ms = std::chrono::milliseconds;
  static constexpr ms forever{-1};
  static constexpr ms no_wait{0};
  static constexpr ms ten_ms{10};
  // Timers fired per loop turn at most (see timer_heap::fire_due).
  static constexpr std::size_t timers_per_turn = 4096;

  struct main_context : detail::context_owner, detail::task_context {
    main_context() noexcept : context_owner(&on_done), task_context(this) {}
    static std::coroutine_handle<> on_done(context_owner* self, task_context*,
                                           detail::task_promise_base&) noexcept {
      static_cast<main_context*>(self)->done = true;
      return std::noop_coroutine();
    }
    bool done = false;
  };

  // The eventfd read that wakes the loop when a worker has posted results.
  struct wakeup_read : detail::completion {
    explicit wakeup_read(event_loop& owner) noexcept : completion(&on_complete), loop(owner) {}
    static void on_complete(completion* self, const io_uring_cqe&) noexcept {
      auto& wakeup = *static_cast<wakeup_read*>(self);
      wakeup.armed = false;
      wakeup.loop.remote_->consumed_signal();
    }
    event_loop& loop;
    std::uint64_t value = 0;
    bool armed = false;
  };

  void start_workers() {
    unsigned n = options_.worker_threads;
    if (n == 0)
      n = detail::thread_pool::default_size();
    remote_ = std::make_unique<detail::remote_queue>();
    wakeup_ = std::make_unique<wakeup_read>(*this);
    workers_ = std::make_unique<detail::thread_pool>(n, *remote_, options_.shutdown_warning);
  }
  void arm_wakeup() noexcept {
    if (!wakeup_ || wakeup_->armed || jobs_outstanding_ == 0)
      return;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, remote_->eventfd(), &wakeup_->value, sizeof wakeup_->value, 0);
    start_operation(sqe, wakeup_.get());
    wakeup_->armed = true;
  }
  void deliver_remote() noexcept {
    if (remote_)
      jobs_outstanding_ -= remote_->deliver_all();
  }

  // Runs the loop until `done()`; on a deadlock, cancels `on_deadlock` (the
  // task whose end we wait for) and returns true once done() holds.
  template <class Done>
  bool run_until(Done done, detail::task_context* on_deadlock) {
    bool deadlocked = false;
    int fruitless_cancels = 0;
    while (!done()) {
      if (enter_error_ != 0)
        throw_enter_error();
      // Run what is ready now; what they make ready runs in the next turn,
      // after the I/O completions that arrived meanwhile.
      for (std::size_t n = ready_.size(); n > 0; --n)
        ready_.pop().resume();
      if (workers_)
        workers_->flush();  // the to_thread calls of this turn, in one batch
      if (done())
        break;
      deliver_remote();
      // The turn's one clock read (none without timers); the heap only
      // shrinks from here to the wait below, which reuses it.
      clock::time_point now{};
      if (!timers_.empty()) {
        now = clock::now();
        timers_.fire_due(now, timers_per_turn);
      }
      if (!ready_.empty()) {
        if (inflight_ > 0 || io_uring_sq_ready(ring_.get()) > 0)
          wait_for_completions(false, no_wait);
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
      arm_wakeup();
      if (timers_.empty()) {
        wait_for_completions(true, forever);
      } else {
        const auto wait = timers_.next_deadline() - now;
        if (wait > clock::duration::zero()) {
          wait_for_completions(true, std::chrono::ceil<std::chrono::nanoseconds>(wait));
        }
      }
    }
    return deadlocked;
  }

  bool something_pending() noexcept {
    const unsigned internal = (wakeup_ && wakeup_->armed) ? 1 : 0;
    return !timers_.empty() || inflight_ > internal || jobs_outstanding_ > 0 ||
           io_uring_sq_ready(ring_.get()) > 0;
  }

  // Submits what is queued and reaps completions; blocks for at least one
  // when `block` (up to `timeout`, or forever if negative).
  template <class Duration>
  void wait_for_completions(bool block, Duration timeout) noexcept {
    io_uring* ring = ring_.get();
    int res;
    if (!block) {
      res = io_uring_submit_and_get_events(ring);
    } else {
      io_uring_cqe* cqe = nullptr;
      if (timeout < Duration::zero()) {
        res = io_uring_submit_and_wait_timeout(ring, &cqe, 1, nullptr, nullptr);
      } else {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
        __kernel_timespec ts{};
        ts.tv_sec = ns / 1'000'000'000;
        ts.tv_nsec = ns % 1'000'000'000;
        res = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nullptr);
      }
    }
    check_enter(res);
    reap_completions();
  }

  // Records a refusal of io_uring_enter that retrying cannot cure (EPERM from
  // a seccomp filter that allowed io_uring_setup, EBADF, EFAULT, ...); a
  // timeout, a signal or back-pressure is not one.
  void check_enter(int res) noexcept {
    if (res >= 0 || res == -ETIME || res == -EINTR || res == -EAGAIN || res == -EBUSY)
      return;
    enter_error_ = -res;
  }
  [[noreturn]] void throw_enter_error() const {
    throw std::system_error(
        enter_error_, std::system_category(),
        "corio::event_loop: io_uring_enter failed after io_uring_setup succeeded (a seccomp "
        "profile may allow io_uring_setup but not io_uring_enter: allow io_uring_enter and "
        "io_uring_register too); the loop cannot submit or reap operations");
  }

  void reap_completions() noexcept {
    io_uring* ring = ring_.get();
    reaping_ = true;
    for (;;) {
      unsigned seen = 0;
      io_uring_cqe* cqe;
      unsigned head;
      io_uring_for_each_cqe(ring, head, cqe) {
        ++seen;
        auto* op = static_cast<detail::completion*>(io_uring_cqe_get_data(cqe));
        if (op == nullptr)
          continue;  // a cancel request or another fire-and-forget SQE
        if ((cqe->flags & IORING_CQE_F_MORE) == 0)
          --inflight_;
        op->complete(*cqe);
      }
      io_uring_cq_advance(ring, seen);
      // Completions the kernel could not fit into the CQ ring wait in its
      // overflow list; entering with GETEVENTS flushes them.
      if (!io_uring_cq_has_overflow(ring))
        break;
      if (const int res = io_uring_get_events(ring); res < 0 && res != -EINTR) {
        check_enter(res);
        break;
      }
    }
    reaping_ = false;
  }

  // Cancels every spawned task still pending and waits for them. Returns true
  // if some ignored cancellation in a deadlock (they are then left suspended).
  bool cancel_spawned_tasks() {
    bool deadlocked = false;
    for (int attempt = 0; !live_tasks_.empty() && attempt < 4; ++attempt) {
      live_tasks_.for_each([](detail::live_task& t) { t.request_cancel(); });
      if (!run_until([&] { return live_tasks_.empty(); }, nullptr))
        break;
      deadlocked = true;
    }
    return deadlocked;
  }

  static inline thread_local event_loop* current_ = nullptr;

  // Data that does not change once initialised.
  loop_options options_;
  detail::ring ring_;
  // Data that only the loop's thread touches.
  detail::ready_queue ready_;
  detail::timer_heap timers_;
  detail::intrusive_list<detail::live_task> live_tasks_;
  std::unique_ptr<wakeup_read> wakeup_;
  unsigned inflight_ = 0;  // operations submitted whose last completion is not reaped
  std::size_t jobs_outstanding_ = 0;
  int enter_error_ = 0;  // the errno of a refused io_uring_enter, once it happened
  // Bytes, not an io_uring_sqe member: its zero-length cmd[] array is a -Wpedantic error
  // in a user's g++ build when the struct is a class member.
  alignas(io_uring_sqe) std::array<std::byte, sizeof(io_uring_sqe)> scratch_sqe_{};
  bool running_ = false;
  bool reaping_ = false;  // inside reap_completions, running completion handlers
  // Data shared with the worker threads (each synchronises itself).
  std::unique_ptr<detail::remote_queue> remote_;
  std::unique_ptr<detail::thread_pool> workers_;
};

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
T run(task<T> main, loop_options options = {}) {
  event_loop loop(options);
  return loop.run_until_complete(std::move(main));
}

}  // namespace corio
