// SPDX-License-Identifier: MIT
// corio/signal.hpp: wait_signal, a task that waits for one of a set of
// signals (asyncio's loop.add_signal_handler, as an awaitable).
#pragma once

#include <corio/task.hpp>

#include <corio/detail/io_operation.hpp>
#include <corio/detail/loop_core.hpp>
#include <corio/detail/signalfd.hpp>

#include <signal.h>

#include <concepts>
#include <stdexcept>
#include <string>
#include <vector>

namespace corio {

/// Waits until one of `signals` arrives and returns its number; each
/// arrival is delivered to one waiter. A signal that arrived while the
/// process blocked it is returned at once.
///
/// It reads a signalfd, on the ring on io_uring and on readiness on epoll,
/// so the signal is handled in the loop's thread like any completion, never
/// in a signal handler: the task may do anything with it.
///
/// While it waits, the signals are blocked in the loop's thread
/// (pthread_sigmask), and restored afterwards: unblocked again once the last
/// wait for a signal in this thread ends, unless it was blocked before.
///
/// Signals are process-wide: one sent to the process (kill, Ctrl-C from the
/// terminal) goes to any one thread that does not block it, and there it
/// takes its usual action (for most signals, the process ends) instead of
/// reaching wait_signal. So every other thread must block these signals too.
/// The simplest way is to block them in main() before any thread is started
/// (threads inherit the mask):
///   sigset_t set; sigemptyset(&set); sigaddset(&set, SIGTERM);
///   pthread_sigmask(SIG_BLOCK, &set, nullptr);
/// corio's own to_thread workers block every signal (so a child process a
/// to_thread call starts with std::system or fork inherits that mask), and
/// corio::process starts its children with none blocked. Two loops (on two threads) waiting
/// for the same signal compete for it: each arrival goes to one of them.
///
/// Cancellation: the wait is removed and nothing is lost. A signal that
///   arrives after the cancellation stays pending for the next waiter, or
///   takes its usual action once nobody waits; one the read had already taken
///   when the cancellation came (the kernel completing the read while it was
///   being cancelled) is queued again, with its siginfo, and then the
///   cancellation is delivered, so a wait_signal that loses a race loses no
///   signal.
/// Throws: std::invalid_argument for an empty list, a number that is not a
///   signal, SIGKILL or SIGSTOP; std::logic_error for a signal the loop
///   handles itself (SIGINT while run() handles Ctrl-C, see
///   loop_options::handle_sigint; SIGUSR1 with
///   loop_options::call_graph_on_sigusr1); std::system_error when the kernel
///   refuses a signalfd (EMFILE); corio::cancelled_error.
/// Thread safety: await it on the loop's thread (in a task), as every corio
///   awaitable.
/// Example:
///   corio::task<> serve_until_terminated() {
///     auto server = corio::spawn(serve());
///     const int sig = co_await corio::wait_signal(SIGTERM, SIGHUP);
///     std::printf("got signal %d, stopping\n", sig);
///     server.cancel();
///   }
template <class = void>
task<int> wait_signal(std::vector<int> signals) {
  constexpr const char* who = "corio::wait_signal";
  const sigset_t set = detail::checked_signal_set(signals, who);
  for (const int sig : signals) {
    if ((detail::loop_owned_signals() & detail::signal_bit(sig)) != 0) {
      throw std::logic_error(std::string(who) + ": " + (sig == SIGINT ? "SIGINT" : "SIGUSR1") +
                             " is handled by the loop itself (loop_options::" +
                             (sig == SIGINT ? "handle_sigint" : "call_graph_on_sigusr1") +
                             "); turn that option off to wait for it here");
    }
  }
  const bool nonblocking = !detail::loop_core::current().uses_io_uring();
  // Blocked before the signalfd exists, so no arrival slips past both.
  detail::thread_signal_blocks::block(set);
  struct unblock_guard {
    const sigset_t& set;
    ~unblock_guard() { detail::thread_signal_blocks::unblock(set); }
  } unblock{set};
  const detail::unique_fd fd = detail::open_signalfd(set, nonblocking, who);
  co_return co_await detail::io_operation(detail::wait_signal_op{{fd.get()}});
}

/// wait_signal({sig, more...}) without the braces. Inside a co_await
/// expression g++ 12 cannot compile a braced list ("array used as
/// initializer"), so there write `co_await corio::wait_signal(SIGTERM, SIGHUP)`.
/// (Deduced parameters, so that `wait_signal({SIGTERM})` still means the vector.)
template <std::same_as<int> Sig, std::same_as<int>... More>
task<int> wait_signal(Sig sig, More... more) {
  return wait_signal(std::vector<int>{sig, more...});
}

}  // namespace corio
