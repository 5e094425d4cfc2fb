// SPDX-License-Identifier: MIT
// corio/detail/io_operation.hpp: the one awaiter behind every io_uring operation.
#pragma once

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/task.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/ring.hpp>

#include <liburing.h>

#include <cerrno>
#include <coroutine>
#include <type_traits>
#include <utility>

namespace corio::detail {

// Awaits one SQE's completion and yields its `res` (>= 0, or -errno).
//
// Contract of the hooks:
// - ready: never; an operation always goes through the kernel.
// - submit (await_suspend): takes an SQE, lets `prep` fill it (one
//   io_uring_prep_<op> call), tags it with this awaiter and parks the task.
//   The SQE is submitted with the loop's next batch, not by a syscall here.
// - complete: the CQE's res is stored and the task scheduled.
// - cancel: sends IORING_OP_ASYNC_CANCEL for this operation and keeps waiting:
//   the task resumes only once the kernel has posted the operation's own
//   completion, so everything the kernel may still write (this awaiter, which
//   lives in the coroutine frame, and the caller's buffers) stays valid.
//   -ECANCELED (and, once the cancel was sent, the EINTR or ERESTART* of an
//   interrupted io-wq worker) becomes cancelled_error; an operation that finished before the
//   cancel reached it keeps its result and the cancellation stays pending.
//
// `prep` is stored here and called in place, so state it captures by value
// (a sockaddr, an iovec, a path) lives as long as the operation.
template <class Prep>
class io_operation final : public completion, public suspension {
 public:
  explicit io_operation(Prep prep) noexcept(std::is_nothrow_move_constructible_v<Prep>)
      : completion(&on_complete), suspension(&on_cancel), prep_(std::move(prep)) {}
  io_operation(const io_operation&) = delete;
  io_operation& operator=(const io_operation&) = delete;

  bool await_ready() const noexcept { return false; }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    loop_ = &event_loop::current();
    if (begin(h)) {
      result_ = -ECANCELED;
      return false;
    }
    io_uring_sqe* sqe = loop_->get_sqe();
    prep_(sqe);
    loop_->start_operation(sqe, this);
    park();
    return true;
  }

  int await_resume() {
    if (result_ == -ECANCELED)
      throw cancelled_error();
    keep_cancel_if_requested();  // the operation finished before the cancel reached it
    return result_;
  }

 private:
  static void on_complete(completion* self, const io_uring_cqe& cqe) noexcept {
    auto& op = *static_cast<io_operation*>(self);
    op.wake(*op.loop_);  // from here cancel_requested() says whether a cancel was sent
    op.result_ = op.cancel_requested() && interrupted(cqe.res) ? -ECANCELED : cqe.res;
  }
  // An operation the kernel runs in an io-wq worker (an open of a FIFO, a
  // statx or read on a slow file system) is cancelled by a signal to that
  // worker: it ends with EINTR or one of the kernel's internal restart codes
  // ERESTARTSYS..ERESTART_RESTARTBLOCK (512-516), which then mean "cancelled".
  static bool interrupted(int res) noexcept {
    return res == -EINTR || (res <= -512 && res >= -516);
  }

  static void on_cancel(cancellable* self) noexcept {
    auto& op = *static_cast<io_operation*>(self);
    io_uring_sqe* sqe = op.loop_->get_sqe();
    io_uring_prep_cancel(sqe, static_cast<completion*>(&op), 0);
    io_uring_sqe_set_data64(sqe, 0);
  }

  Prep prep_;
  event_loop* loop_ = nullptr;
  int result_ = 0;
};

// Example: int res = co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
template <class Prep>
[[nodiscard]] io_operation<Prep> io_op(Prep prep) {
  return io_operation<Prep>(std::move(prep));
}

}  // namespace corio::detail
