// SPDX-License-Identifier: MIT
// corio/to_thread.hpp: to_thread(f, args...), asyncio.to_thread.
#pragma once

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/task.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/result.hpp>
#include <corio/detail/thread_pool.hpp>

#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace corio {
namespace detail {

// A call's value or exception.
template <class T>
class result : public value_storage<T> {
 public:
  void set_exception(std::exception_ptr e) noexcept { exception_ = std::move(e); }

  // Returns the value, or rethrows the stored exception.
  T take() {
    if (exception_)
      std::rethrow_exception(exception_);
    return this->take_value();
  }

 private:
  std::exception_ptr exception_;
};

// One call on the pool. It is heap-allocated because it may outlive the task
// that awaits it (a cancelled task stops waiting while the call runs on); it
// is always deleted on the loop's thread, so only the remote queue synchronises.
template <class R, class Fn>
class to_thread_job final : public thread_job {
 public:
  explicit to_thread_job(Fn fn) : thread_job(&run_call, &deliver), fn_(std::move(fn)) {}

  // Loop-thread state, written before the job is submitted.
  event_loop* loop = nullptr;
  task_context* context = nullptr;
  std::coroutine_handle<> waiter;
  bool abandoned = false;  // the awaiting task was cancelled
  result<R> outcome;

 private:
  static void run_call(thread_job* self) noexcept {
    auto& job = *static_cast<to_thread_job*>(self);
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(job.fn_);
      } else {
        job.outcome.set_value(std::invoke(job.fn_));
      }
    } catch (...) {
      job.outcome.set_exception(std::current_exception());
    }
  }
  static void deliver(remote_node* self) noexcept {
    auto* job = static_cast<to_thread_job*>(self);
    if (job->abandoned) {
      delete job;
      return;
    }
    job->context->unpark();
    job->loop->schedule(job->waiter);
  }

  Fn fn_;
};

template <class R, class Fn>
class to_thread_awaiter final : public cancellable {
 public:
  explicit to_thread_awaiter(Fn fn) : cancellable(&on_cancel), fn_(std::move(fn)) {}
  to_thread_awaiter(const to_thread_awaiter&) = delete;
  to_thread_awaiter& operator=(const to_thread_awaiter&) = delete;

  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    static_assert(std::is_base_of_v<task_promise_base, Promise>,
                  "corio::to_thread can only be awaited from a corio::task coroutine");
    event_loop& loop = event_loop::current();
    task_context* context = h.promise().context();
    if (context->take_pending_cancel()) {
      cancelled_ = true;
      return false;
    }
    auto job = std::make_unique<to_thread_job<R, Fn>>(std::move(fn_));
    job->loop = &loop;
    job->context = context;
    job->waiter = h;
    loop.submit_job(job.get());
    job_ = job.release();
    context->park(this);
    return true;
  }
  R await_resume() {
    if (cancelled_)
      throw cancelled_error();
    std::unique_ptr<to_thread_job<R, Fn>> job(job_);
    return job->outcome.take();
  }

 private:
  static void on_cancel(cancellable* self) noexcept {
    auto& a = *static_cast<to_thread_awaiter*>(self);
    a.cancelled_ = true;
    a.job_->abandoned = true;  // the loop deletes it when the call returns
    a.job_->context->unpark();
    a.job_->loop->schedule(a.job_->waiter);
  }

  Fn fn_;
  to_thread_job<R, Fn>* job_ = nullptr;
  bool cancelled_ = false;
};

}  // namespace detail

/// Runs `f(args...)` on the loop's worker pool and returns its result (or
/// rethrows its exception) on the loop's thread, as asyncio.to_thread; the
/// loop keeps running other tasks meanwhile.
///
/// `f` and `args` are moved into the call, which runs on another thread: pass
/// values, not references to the caller's locals (wrap with std::ref only what
/// outlives the call). The pool starts on first use with
/// loop_options::worker_threads threads (default min(32, cores + 4), as
/// Python); results wake the loop through an eventfd read on its ring, never
/// by polling.
///
/// Cancellation: cancelling the awaiting task makes it resume at once with
///   cancelled_error, but the call itself cannot be interrupted: it runs to
///   its end on its worker and its result is dropped. When run() ends, the loop
///   waits for calls still running. Do not use to_thread for work that never
///   returns (a blocking accept with no timeout): it would hold a worker and
///   delay shutdown.
/// Throws: what `f` throws; cancelled_error if the task is cancelled.
/// Thread safety: `f` runs on a worker thread; it must not touch corio
///   objects, which belong to the loop's thread.
/// Example:
///   std::string body = co_await corio::to_thread(http_get_sync, url);
template <class F, class... Args>
[[nodiscard]] task<std::invoke_result_t<F, Args...>> to_thread(F f, Args... args) {
  using R = std::invoke_result_t<F, Args...>;
  auto call = [f = std::move(f), ... args = std::move(args)]() mutable -> R {
    return std::invoke(std::move(f), std::move(args)...);
  };
  co_return co_await detail::to_thread_awaiter<R, decltype(call)>(std::move(call));
}

}  // namespace corio
