// SPDX-License-Identifier: MIT
// corio/to_thread.hpp: to_thread(f, args...), asyncio.to_thread.
#pragma once

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/task.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/frame_allocator.hpp>
#include <corio/detail/result.hpp>
#include <corio/detail/thread_pool.hpp>
#include <corio/detail/wait_info.hpp>

#include <atomic>
#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <version>
#if defined(__cpp_lib_jthread)
#  include <stop_token>
#endif

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

#if defined(__cpp_lib_jthread)
using job_stop_source = std::stop_source;
using job_stop_token = std::stop_token;
inline job_stop_source make_job_stop_source(bool live) noexcept {
  return live ? std::stop_source() : std::stop_source(std::nostopstate);
}
template <class F, class... Args>
inline constexpr bool takes_stop_token = std::is_invocable_v<F, std::stop_token, Args...>;
#else
// WORKAROUND(libc++: 14 has no <stop_token>, 19 only with -fexperimental-library): without
// __cpp_lib_jthread, calls get no stop_token; to_thread runs them with their arguments alone.
struct job_stop_token {};
struct job_stop_source {
  job_stop_token get_token() const noexcept { return {}; }
  void request_stop() noexcept {}
};
inline job_stop_source make_job_stop_source(bool) noexcept {
  return {};
}
template <class F, class... Args>
inline constexpr bool takes_stop_token = false;
#endif

template <class R, class Fn, bool Stoppable>
class to_thread_awaiter;

// One call on the pool. It lives apart from the awaiter because it may
// outlive the task that awaits it (a cancelled task stops waiting while the
// call runs on), in the loop's frame arena: it is made and deleted on the
// loop's thread, so it costs no heap call, and only the remote queue and the
// `abandoned` flag synchronise. Fn takes the call's std::stop_token:
// `Stoppable` calls get a live one, the others an empty one, which costs no
// allocation.
template <class R, class Fn, bool Stoppable>
class to_thread_job final : public thread_job {
 public:
  to_thread_job(Fn fn, loop_core& loop, to_thread_awaiter<R, Fn, Stoppable>& awaiter)
      : thread_job(&run_call, &deliver), loop_(loop), awaiter_(&awaiter), fn_(std::move(fn)) {}

  // Loop thread: the awaiting task was cancelled. A call that has not started
  // never runs (asyncio drops a call its executor has not begun); one that
  // runs is asked to stop through its stop_token, if it has one (a
  // std::stop_callback it registered runs here, on the loop's thread), and
  // its result is dropped.
  void abandon() noexcept {
    awaiter_ = nullptr;
    abandoned_.store(true, std::memory_order_relaxed);
    if constexpr (Stoppable)
      stop_.request_stop();
  }
  result<R> outcome;

  static void* operator new(std::size_t n) { return frame_arena::allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_arena::deallocate(p, n); }

 private:
  static void run_call(thread_job* self) noexcept {
    auto& job = *static_cast<to_thread_job*>(self);
    // Relaxed: a stale false only runs a call whose result is dropped anyway.
    if (job.abandoned_.load(std::memory_order_relaxed))
      return;
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(job.fn_, job.stop_.get_token());
      } else {
        job.outcome.set_value(std::invoke(job.fn_, job.stop_.get_token()));
      }
    } catch (...) {
      job.outcome.set_exception(std::current_exception());
    }
  }
  static void deliver(remote_node* self) noexcept {
    auto* job = static_cast<to_thread_job*>(self);
    if (job->awaiter_ == nullptr) {
      delete job;
      return;
    }
    job->awaiter_->wake(job->loop_);
  }

  loop_core& loop_;
  to_thread_awaiter<R, Fn, Stoppable>* awaiter_;  // null once abandoned
  std::atomic<bool> abandoned_{false};
  Fn fn_;
  job_stop_source stop_ = make_job_stop_source(Stoppable);
};

template <class R, class Fn, bool Stoppable>
class to_thread_awaiter final : public suspension {
 public:
  explicit to_thread_awaiter(Fn fn)
      : suspension(hooks_of<&on_cancel, &describe>), fn_(std::move(fn)) {}

  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    loop_core& loop = loop_core::current();
    if (begin(h))
      return false;
    auto job = std::make_unique<to_thread_job<R, Fn, Stoppable>>(std::move(fn_), loop, *this);
    loop.submit_job(job.get());
    job_ = job.release();
    park();
    return true;
  }
  R await_resume() {
    if (cancel_requested())
      throw cancelled_error();
    std::unique_ptr<to_thread_job<R, Fn, Stoppable>> job(job_);
    return job->outcome.take();
  }

 private:
  static void describe(const suspension&, wait_info& info) { info.what = "to_thread call"; }
  static void on_cancel(cancellable* self) noexcept {
    auto& a = *static_cast<to_thread_awaiter*>(self);
    a.job_->abandon();  // the loop deletes it when the worker hands it back
    a.wake(*loop_core::current_or_null());
  }

  Fn fn_;
  to_thread_job<R, Fn, Stoppable>* job_ = nullptr;
};

// What f returns when to_thread calls it: with a std::stop_token first if
// it takes one (std::jthread's rule), else with the arguments alone.
template <class F, class... Args>
using to_thread_result_t =
    typename std::conditional_t<takes_stop_token<F, Args...>,
                                std::invoke_result<F, job_stop_token, Args...>,
                                std::invoke_result<F, Args...>>::type;

}  // namespace detail

/// Runs `f(args...)` on the loop's worker pool and returns its result (or
/// rethrows its exception) on the loop's thread, as asyncio.to_thread; the
/// loop keeps running other tasks meanwhile.
///
/// `f` and `args` are moved into the call, which runs on another thread: pass
/// values, not references to the caller's locals (wrap with std::ref only what
/// outlives the call). The pool starts on first use with
/// loop_options::worker_threads threads (by default one per CPU the loop's
/// thread may run on, at most 32: set more for calls that block on I/O);
/// results wake a sleeping loop through an eventfd its ring watches, never by
/// polling.
///
/// If `f` takes a std::stop_token first (`f(token, args...)` compiles; the
/// rule of std::jthread), it gets one, signalled when the awaiting task is
/// cancelled (wait_for's timeout included), so a long call can stop early:
/// poll token.stop_requested(), or wait with std::condition_variable_any and
/// the token. A std::stop_callback it registers runs on the loop's thread.
/// (This needs std::stop_token: libc++ 19 has it only with -fexperimental-library.)
///
/// Cancellation: cancelling the awaiting task makes it resume at once with
///   cancelled_error. A call still queued (every worker busy) never runs; a
///   call already running is signalled through its stop_token if it has one,
///   and cannot be interrupted otherwise: it runs to its end on its worker and
///   its result is dropped. When run() ends, the loop waits for calls still
///   running, and after loop_options::shutdown_warning (5 s) prints how many.
///   Do not use to_thread for work that never returns (a blocking accept with
///   no timeout): it would hold a worker and delay shutdown.
/// Throws: what `f` throws; cancelled_error if the task is cancelled.
/// Thread safety: `f` runs on a worker thread; it must not touch corio
///   objects, which belong to the loop's thread.
/// Example:
///   std::string body = co_await corio::to_thread(http_get_sync, url);
///   co_await corio::to_thread([](std::stop_token t) { while (!t.stop_requested()) step(); });
template <class F, class... Args>
[[nodiscard]] task<detail::to_thread_result_t<F, Args...>> to_thread(F f, Args... args) {
  using R = detail::to_thread_result_t<F, Args...>;
  constexpr bool stoppable = detail::takes_stop_token<F, Args...>;
  auto call = [f = std::move(f),
               ... args = std::move(args)](detail::job_stop_token token) mutable -> R {
    if constexpr (stoppable) {
      return std::invoke(std::move(f), std::move(token), std::move(args)...);
    } else {
      return std::invoke(std::move(f), std::move(args)...);
    }
  };
  co_return co_await detail::to_thread_awaiter<R, decltype(call), stoppable>(std::move(call));
}

}  // namespace corio
