// SPDX-License-Identifier: MIT
// corio/error.hpp: the exceptions corio throws, and its error model.
//
// Errors reach the caller as exceptions, never as log lines:
// - std::system_error (std::system_category(), the errno) when the operating
//   system refuses: a failed open, ECONNREFUSED, a full disk, io_uring unavailable.
// - std::invalid_argument for an argument that can never work (a bad address).
// - std::logic_error for misuse of the API (awaiting a moved-from task, running
//   a second loop on one thread).
// - corio::cancelled_error inside a task that was cancelled, at the point where
//   it was suspended; corio::interrupted from run() after Ctrl-C; corio::timeout_error from
//   wait_for; corio::queue_shut_down from a queue that was shut down; corio::broken_barrier from a
//   broken barrier; corio::exception_group from a task_group whose children failed more than once.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace corio {

/// Thrown inside a cancelled task at the suspension point where the
/// cancellation reached it (a sleep, an I/O operation, a wait on a primitive,
/// a to_thread call).
///
/// A task may catch it to clean up; cancellation is delivered once per
/// request, so awaiting again after catching it works (as in asyncio).
///
/// It does not derive from std::exception, as asyncio's CancelledError
/// derives from BaseException since Python 3.8: `catch (const
/// std::exception&)` around a co_await must not swallow a cancellation, or
/// the task never stops. Catch it by name, or with `catch (...)` and rethrow.
class cancelled_error {
 public:
  /// What happened, for a log line.
  const char* what() const noexcept { return "corio: the task was cancelled"; }
};

/// Thrown by run() when Ctrl-C (SIGINT) cancelled its main task and the task
/// ended with cancelled_error (asyncio.run's KeyboardInterrupt); see
/// loop_options::handle_sigint.
///
/// Like cancelled_error it does not derive from std::exception, so a
/// `catch (const std::exception&)` in main() does not mistake it for a
/// failure. Exit with status 130 (128 + SIGINT), as shells report an
/// interrupted command, or end by SIGINT itself:
///   catch (const corio::interrupted&) { std::signal(SIGINT, SIG_DFL); std::raise(SIGINT); }
class interrupted {
 public:
  /// What happened, for a log line.
  const char* what() const noexcept { return "corio: interrupted by SIGINT (Ctrl-C)"; }
};

/// Thrown by wait_for when the awaited task did not finish in time; the task
/// has been cancelled and has finished by the time this is thrown.
class timeout_error : public std::runtime_error {
 public:
  timeout_error() : std::runtime_error("corio::wait_for: the task did not finish in time") {}
};

/// Thrown by barrier::wait() when the barrier is broken, or is aborted or
/// reset while the task waits (asyncio.BrokenBarrierError).
class broken_barrier : public std::runtime_error {
 public:
  broken_barrier() : std::runtime_error("corio::barrier: the barrier is broken") {}
};

/// Thrown by a queue's put() after shutdown(), and by its get() once it is
/// shut down and empty (asyncio.QueueShutDown).
class queue_shut_down : public std::runtime_error {
 public:
  queue_shut_down() : std::runtime_error("corio::queue: the queue is shut down") {}
};

/// Thrown by task_group::wait() when two or more children failed: every
/// failure, in the order the children failed (cancellations are not
/// failures and are not included). A single failure is rethrown as it is.
class exception_group : public std::runtime_error {
 public:
  explicit exception_group(std::vector<std::exception_ptr> exceptions)
      : std::runtime_error("corio::task_group: " + std::to_string(exceptions.size()) +
                           " children failed; see exception_group::exceptions()")
      , exceptions_(std::move(exceptions)) {}
  /// The failures, in failure order.
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

 private:
  std::vector<std::exception_ptr> exceptions_;
};

}  // namespace corio
