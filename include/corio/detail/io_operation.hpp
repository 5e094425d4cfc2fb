// SPDX-License-Identifier: MIT
// corio/detail/io_operation.hpp: the one awaiter behind every kernel operation.
#pragma once

#include <corio/error.hpp>
#include <corio/task.hpp>

#include <corio/detail/backend/epoll.hpp>
#include <corio/detail/backend/io_uring.hpp>
#include <corio/detail/cancellation.hpp>
#include <corio/detail/loop_core.hpp>
#include <corio/detail/thread_pool.hpp>
#include <corio/detail/timer_heap.hpp>
#include <corio/detail/wait_info.hpp>

#include <liburing.h>

#include <atomic>
#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace corio::detail {

// What an operation (a recv, a send, an openat, ...) tells the awaiter:
//   using value_type = ...;
//   void prep(io_uring_sqe*) noexcept;   one io_uring_prep_<op> call
//   value_type finish(int res);          the one place where the kernel's
//                                        result becomes a value or an exception
// and optionally:
//   bool ready() const noexcept;         true: no kernel call is needed
//                                        (an empty buffer); finish(0) answers
//   bool resubmit(int res) noexcept;     true: the operation goes on (a short
//                                        send of write_all, a transient accept
//                                        error); its state has moved on
//   void give_back(int res) noexcept;    it completed (res >= 0) but its task
//                                        was cancelled meanwhile: it returns
//                                        what it took (a signal is queued
//                                        again) and the await throws
//                                        cancelled_error, so a loser of a race
//                                        loses nothing
//   static constexpr bool background = true;  while it waits it does not keep
//                                        the loop waiting (the loop's own
//                                        signal watch): a program whose tasks
//                                        wait for nothing else is deadlocked,
//                                        and virtual time jumps
//   bool retry_later(int res) noexcept;  true: the operation is made again
//   static constexpr auto retry_delay;   after retry_delay on the loop's clock
//                                        (accept out of descriptors); a cancel
//                                        meanwhile ends it with cancelled_error
//   int start(bool epoll) noexcept;      what must happen before the first
//                                        submission (connect's socket(2)): 0,
//                                        or -errno, which finish() then gets
//                                        with no kernel operation made
// and, for the epoll backend, one of:
//   int attempt() noexcept;              a socket operation: the non-blocking
//   int fd; static constexpr bool writes;  system call's result or -errno; on
//                                        -EAGAIN it is attempted again once
//                                        `fd` is readable (writable if `writes`)
//   static bool would_block(int res) noexcept;  optional beside attempt():
//                                        the results that mean that wait
//                                        instead of -EAGAIN (connect's
//                                        EINPROGRESS and EALREADY)
//   int blocking() noexcept;             a regular-file operation: the blocking
//                                        system call, run on the worker pool
//   int attempt_nowait() noexcept;       optional beside blocking(): the call
//                                        made at once on the loop's thread if
//                                        it can finish without waiting (a read
//                                        the page cache serves); on any error
//                                        blocking() runs on the pool instead
// An operation with neither (a raw io_op) needs io_uring: std::logic_error on epoll.
template <class Op>
concept kernel_operation = requires(Op& op, io_uring_sqe* sqe) {
  typename Op::value_type;
  { op.prep(sqe) }
  noexcept;
};
template <class Op>
concept readiness_operation = requires(Op& op) {
  { op.attempt() }
  noexcept;
  op.fd;
  Op::writes;
};
template <class Op>
concept pool_operation = requires(Op& op) {
  { op.blocking() }
  noexcept;
};
template <class Op>
concept background_operation = Op::background;

// The worker-pool half of an operation on epoll: the job the pool runs.
// Cancelled while queued it never runs; once running it runs to its end.
template <class Owner>
struct pool_call final : thread_job {
  enum : int { queued, running, dropped };
  explicit pool_call(Owner* o) noexcept : thread_job(&run_on_worker, &deliver_on_loop), owner(o) {}
  static void run_on_worker(thread_job* self) noexcept {
    auto& call = *static_cast<pool_call*>(self);
    int expected = queued;
    if (call.state.compare_exchange_strong(expected, running, std::memory_order_acq_rel))
      call.result = call.owner->run_blocking();
  }
  static void deliver_on_loop(remote_node* self) noexcept {
    auto& call = *static_cast<pool_call*>(self);
    call.owner->pool_done(call.state.load(std::memory_order_relaxed) == dropped ? -ECANCELED
                                                                                : call.result);
  }
  // Loop thread: true if the call had not started and now never will.
  bool drop() noexcept {
    int expected = queued;
    return state.compare_exchange_strong(expected, dropped, std::memory_order_acq_rel);
  }
  Owner* owner;
  std::atomic<int> state{queued};
  int result = 0;
};
struct no_pool_call {
  explicit no_pool_call(void*) noexcept {}
};

template <class Op>
concept delayed_retry_operation = requires(Op& op, int res) {
  { op.retry_later(res) }
  noexcept;
  Op::retry_delay;
};
// The leaf an operation is: one that may wait for a retry is also a timer.
template <class Op>
using operation_leaf = std::conditional_t<delayed_retry_operation<Op>, timer_node, suspension>;

// The io_uring opcodes corio submits, by name, for the call graph.
inline const char* opcode_name(std::uint8_t opcode) noexcept {
  switch (opcode) {
    case IORING_OP_NOP:
      return "nop";
    case IORING_OP_READV:
      return "readv";
    case IORING_OP_WRITEV:
      return "writev";
    case IORING_OP_FSYNC:
      return "fsync";
    case IORING_OP_POLL_ADD:
      return "poll";
    case IORING_OP_SENDMSG:
      return "sendmsg";
    case IORING_OP_RECVMSG:
      return "recvmsg";
    case IORING_OP_TIMEOUT:
      return "timeout";
    case IORING_OP_ACCEPT:
      return "accept";
    case IORING_OP_CONNECT:
      return "connect";
    case IORING_OP_OPENAT:
      return "openat";
    case IORING_OP_CLOSE:
      return "close";
    case IORING_OP_STATX:
      return "statx";
    case IORING_OP_READ:
      return "read";
    case IORING_OP_WRITE:
      return "write";
    case IORING_OP_SEND:
      return "send";
    case IORING_OP_RECV:
      return "recv";
    case IORING_OP_SHUTDOWN:
      return "shutdown";
    case IORING_OP_SPLICE:
      return "splice";
    case io_uring_backend::op_waitid:
      return "waitid";
    default:
      return "io_uring operation";
  }
}

// Awaits an operation and yields Op::finish of its result. It lives in the
// awaiting coroutine's frame: no allocation per operation.
//
// - submit (await_suspend): takes a pending cancellation, else takes an SQE,
//   lets the operation fill it, tags it with this awaiter and parks the task.
//   The SQE goes out with the loop's next batch, not by a syscall here.
// - complete: the result is stored and the task scheduled; an operation that
//   goes on is prepared again (after the completion pass if the SQ is full).
// - cancel: sends IORING_OP_ASYNC_CANCEL for this operation and keeps
//   waiting: the task resumes only once the kernel has posted the operation's
//   own completion, so everything the kernel may still write (this awaiter
//   and the caller's buffers) stays valid. -ECANCELED (and, once the cancel
//   was sent, the EINTR or ERESTART* of an interrupted io-wq worker) becomes
//   cancelled_error; an operation that finished before the cancel reached it
//   keeps its result and the cancellation stays pending; one that would go
//   on stops there, with cancelled_error.
// - retry later: an operation whose result asks for it (accept out of
//   descriptors) waits in the loop's timer heap, then is made again; a cancel
//   meanwhile removes the timer and ends it with cancelled_error at once.
//
// On epoll a socket operation is attempted at once and, if it would block,
// waits for readiness (a cancel removes the interest and completes at once);
// a file operation runs on the worker pool (a cancel takes it back from the
// pool's queue and completes at once; taken by a worker but not started, it is
// dropped; running, it runs to its end and the cancellation stays pending). Its
// result goes through the same Op::finish.
template <kernel_operation Op>
class [[nodiscard]] io_operation final : public completion,
                                         public deferred_submission,
                                         public readiness_wait,
                                         public operation_leaf<Op> {
  // The suspension protocol, from a base that depends on Op.
  using leaf = operation_leaf<Op>;
  using leaf::begin;
  using leaf::keep_cancel_if_requested;
  using leaf::park;

 public:
  using leaf::cancel_requested;
  using leaf::context;
  using leaf::wake;
  using value_type = typename Op::value_type;

  explicit io_operation(Op op) noexcept(std::is_nothrow_move_constructible_v<Op>)
      : completion(&on_complete)
      , deferred_submission(&on_deferred)
      , readiness_wait(&on_ready)
      , operation_leaf<Op>(cancellable::hooks_of<&on_cancel, &describe, retry_hook>)
      , op_(std::move(op))
      , call_(this) {}
  // Only an awaiter not yet awaited is moved (into as_task's frame).
  io_operation(io_operation&& other) noexcept(std::is_nothrow_move_constructible_v<Op>)
      : io_operation(std::move(other.op_)) {}
  io_operation& operator=(io_operation&&) = delete;

  bool await_ready() const noexcept {
    if constexpr (requires { op_.ready(); })
      return op_.ready();
    else
      return false;
  }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    loop_ = &loop_core::current();
    if (begin(h)) {
      result_ = -ECANCELED;
      return false;
    }
    if constexpr (requires { op_.start(true); }) {
      if (const int err = op_.start(!loop_->uses_io_uring()); err < 0) {
        result_ = err;
        return false;
      }
    }
    if (!loop_->uses_io_uring())
      return suspend_on_epoll();
    io_uring_backend& backend = loop_->io_uring();
    io_uring_sqe* sqe = backend.get_sqe();
    op_.prep(sqe);
    opcode_ = sqe->opcode;  // for the call graph: the SQE is gone once submitted
    fd_ = sqe->fd;
    backend.start_operation(sqe, this);
    if constexpr (background_operation<Op>) {
      count_background(true);
      backend.submit();  // left in the SQ it would look like work the loop waits for
    }
    park();
    return true;
  }

  value_type await_resume() {
    if (result_ == -ECANCELED)
      throw cancelled_error();
    if constexpr (requires { op_.give_back(result_); }) {
      // Cancelled while the kernel completed it, or between its wake-up and now.
      if (result_ >= 0 && (cancel_requested() || context()->take_pending_cancel())) {
        op_.give_back(result_);
        throw cancelled_error();
      }
    }
    keep_cancel_if_requested();  // the operation finished before the cancel reached it
    return op_.finish(result_);
  }

  /// For APIs that take tasks: `corio::wait_for(s.read_some(buf), 1s)`.
  operator task<value_type>() && { return as_task(std::move(*this)); }

 private:
  // An operation the kernel runs in an io-wq worker (an open of a FIFO, a
  // statx or read on a slow file system) is cancelled by a signal to that
  // worker: it ends with EINTR or one of the kernel's internal restart codes
  // ERESTARTSYS..ERESTART_RESTARTBLOCK (512-516), which then mean "cancelled".
  static bool interrupted(int res) noexcept {
    return res == -EINTR || (res <= -512 && res >= -516);
  }

  static void on_complete(completion* self, const io_uring_cqe& cqe) noexcept {
    auto& op = *static_cast<io_operation*>(self);
    op.count_background(false);
    int res = op.cancel_sent_ && interrupted(cqe.res) ? -ECANCELED : cqe.res;
    if constexpr (requires { op.op_.resubmit(res); }) {
      if (res != -ECANCELED && op.op_.resubmit(res)) {
        if (!op.cancel_sent_) {
          if (io_uring_sqe* sqe = op.loop_->io_uring().sqe_or_defer(op))
            op.submit_again(sqe);
          else
            op.deferred_ = true;
          return;
        }
        res = -ECANCELED;  // cancelled halfway: the rest is not attempted
      }
    }
    if constexpr (delayed_retry_operation<Op>) {
      if (res != -ECANCELED && op.op_.retry_later(res)) {
        if (!op.cancel_sent_) {
          op.arm_retry();
          return;
        }
        res = -ECANCELED;
      }
    }
    op.result_ = res;
    op.wake(*op.loop_);
  }
  // Arms the timer of a retry_later operation; a cancel then removes it.
  void arm_retry() noexcept {
    if constexpr (delayed_retry_operation<Op>)
      loop_->timers().add(this, deadline_after(Op::retry_delay));
  }
  // The retry timer fired (the loop's timer pass: no completion is being reaped).
  static void on_retry(cancellable* self) noexcept {
    auto& op = *static_cast<io_operation*>(self);
    if (op.loop_->uses_io_uring()) {
      op.submit_again(op.loop_->io_uring().get_sqe());
    } else if (!op.wait_on_epoll(op.attempt_until_blocked())) {
      op.wake(*op.loop_);
    }
  }
  static constexpr cancellable::fire_fn retry_hook =
      delayed_retry_operation<Op> ? &on_retry : nullptr;
  static void on_deferred(deferred_submission* self, io_uring_sqe* sqe) noexcept {
    auto& op = *static_cast<io_operation*>(self);
    op.deferred_ = false;
    op.submit_again(sqe);
  }
  void submit_again(io_uring_sqe* sqe) noexcept {
    op_.prep(sqe);
    loop_->io_uring().start_operation(sqe, this);
  }
  static void describe(const suspension& self, wait_info& info) {
    auto& op = static_cast<const io_operation&>(self);
    info.what = opcode_name(op.opcode_);
    if (op.fd_ >= 0)  // not AT_FDCWD of an openat
      info.what += " on fd " + std::to_string(op.fd_);
  }
  // On epoll no SQE is filled: the operation fills a scratch one, once it is
  // known to wait, so the call graph names it as on io_uring. A pool
  // operation does it before it is queued, while no worker shares it.
  void note_for_call_graph() noexcept {
    io_uring_sqe scratch{};
    op_.prep(&scratch);
    opcode_ = scratch.opcode;
    fd_ = scratch.fd;
  }
  template <class>
  friend struct pool_call;

  bool suspend_on_epoll() {
    if constexpr (readiness_operation<Op>) {
      const bool waits = wait_on_epoll(attempt_until_blocked());
      if (waits)
        note_for_call_graph();
      park();
      // Done without waiting: the task still yields, as on io_uring, so a
      // stream that always has data cannot starve the others.
      if (!waits)
        wake(*loop_);
      return true;
    } else if constexpr (pool_operation<Op>) {
      if constexpr (requires { op_.attempt_nowait(); }) {
        if (const int res = op_.attempt_nowait(); res >= 0) {
          result_ = res;
          park();
          wake(*loop_);  // it yields all the same, as above
          return true;
        }
      }
      note_for_call_graph();
      loop_->submit_job(&call_);
      park();
      return true;
    } else {
      throw std::logic_error(
          "corio: this raw io_uring operation needs the io_uring backend (the loop runs on epoll)");
    }
  }
  // The system call, again while it goes on (write_all) or was interrupted.
  int attempt_until_blocked() noexcept {
    if constexpr (readiness_operation<Op>) {
      for (;;) {
        const int res = op_.attempt();
        if (res == -EINTR)
          continue;
        if (would_block(res))
          return res;
        if constexpr (requires { op_.resubmit(res); }) {
          if (op_.resubmit(res))
            continue;
        }
        return res;
      }
    } else {
      return -ENOSYS;
    }
  }
  // Whether an attempt's result asks to wait until the descriptor is ready.
  static bool would_block(int res) noexcept {
    if constexpr (requires { Op::would_block(res); })
      return Op::would_block(res);
    else
      return res == -EAGAIN;
  }
  // What an attempt's result asks for on epoll: when it would block, a wait
  // for readiness; for a retry_later error, the retry timer. Returns true
  // while the operation waits; else its result is in result_.
  bool wait_on_epoll(int res) noexcept {
    if constexpr (readiness_operation<Op>) {
      if (would_block(res)) {
        res = loop_->epoll().wait(op_.fd, Op::writes, *this);
        if (res == 0) {
          waiting_ = true;
          count_background(true);
          return true;
        }
      }
    }
    if constexpr (delayed_retry_operation<Op>) {
      if (op_.retry_later(res)) {
        arm_retry();
        return true;
      }
    }
    result_ = res;
    return false;
  }
  // The descriptor is ready: the attempt again. True if it would block (it
  // waits on, first in its queue); else it leaves the queue with its result,
  // or for its retry timer.
  static bool on_ready(readiness_wait* self) noexcept {
    auto& op = *static_cast<io_operation*>(self);
    const int res = op.attempt_until_blocked();
    if (would_block(res))
      return true;
    op.waiting_ = false;
    if (!op.wait_on_epoll(res)) {
      op.count_background(false);
      op.wake(*op.loop_);
    }
    return false;
  }
  int run_blocking() noexcept {
    if constexpr (pool_operation<Op>)
      return op_.blocking();
    else
      return -ENOSYS;
  }
  void pool_done(int res) noexcept {
    result_ = res;
    wake(*loop_);
  }

  static void on_cancel(cancellable* self) noexcept {
    auto& op = *static_cast<io_operation*>(self);
    op.count_background(false);  // from now on the loop waits for its end
    if constexpr (delayed_retry_operation<Op>) {
      if (op.armed()) {  // between two attempts: nothing is in the kernel
        op.loop_->timers().remove(&op);
        op.result_ = -ECANCELED;
        op.wake(*op.loop_);
        return;
      }
    }
    if (!op.loop_->uses_io_uring()) {
      if constexpr (readiness_operation<Op>) {
        if (op.waiting_) {  // nothing is in the kernel: stop waiting and end now
          op.loop_->epoll().forget(op.op_.fd, Op::writes, op);
          op.waiting_ = false;
          op.result_ = -ECANCELED;
          op.wake(*op.loop_);
        }
      } else if constexpr (pool_operation<Op>) {
        if (op.loop_->withdraw_job(&op.call_)) {  // still queued: it never runs
          op.result_ = -ECANCELED;
          op.wake(*op.loop_);
        } else {
          // In a worker's batch, dropped: the worker hands it back unrun
          // (-ECANCELED); running, its result arrives and the cancellation
          // stays pending.
          op.call_.drop();
        }
      }
      return;
    }
    op.cancel_sent_ = true;  // the hook runs once per parking, and one parking spans resubmissions
    if (op.deferred_) {      // between two submissions: nothing is in the kernel
      op.loop_->io_uring().drop_deferred(op);
      op.deferred_ = false;
      op.result_ = -ECANCELED;
      op.wake(*op.loop_);
      return;
    }
    op.loop_->io_uring().cancel(static_cast<completion*>(&op));
  }

  // A background operation is counted by its backend while it waits.
  void count_background(bool waiting) noexcept {
    if constexpr (background_operation<Op>) {
      if (waiting == background_)
        return;
      background_ = waiting;
      if (loop_->uses_io_uring())
        loop_->io_uring().count_background(waiting);
      else
        loop_->epoll().count_background(waiting);
    }
  }

  Op op_;
  [[no_unique_address]] std::conditional_t<pool_operation<Op>, pool_call<io_operation>,
                                           no_pool_call>
      call_;
  loop_core* loop_ = nullptr;
  int result_ = 0;
  int fd_ = -1;
  std::uint8_t opcode_ = 0;
  bool cancel_sent_ = false;
  bool deferred_ = false;
  bool waiting_ = false;     // epoll: interest registered
  bool background_ = false;  // counted as a background wait by the backend
};

// An operation given as one lambda that fills the SQE; yields the raw CQE res
// (>= 0, or -errno), for tests and benchmarks.
template <class Prep>
struct raw_operation {
  using value_type = int;
  Prep fill;
  void prep(io_uring_sqe* sqe) noexcept { fill(sqe); }
  int finish(int res) const noexcept { return res; }
};

// Example: int res = co_await io_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
template <class Prep>
[[nodiscard]] io_operation<raw_operation<Prep>> io_op(Prep prep) {
  return io_operation<raw_operation<Prep>>(raw_operation<Prep>{std::move(prep)});
}

}  // namespace corio::detail
