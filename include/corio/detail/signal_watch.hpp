// SPDX-License-Identifier: MIT
// corio/detail/signal_watch.hpp: the signals a loop handles itself, read
// from a signalfd by a coroutine of the loop's own (never in a signal
// handler): run()'s Ctrl-C (SIGINT cancels the main task) and the call graph
// on SIGUSR1 (loop_options::handle_sigint, call_graph_on_sigusr1).
#pragma once

#include <corio/task.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/io_operation.hpp>
#include <corio/detail/loop_core.hpp>
#include <corio/detail/signalfd.hpp>
#include <corio/detail/unique_fd.hpp>

#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>

#include <cstdio>
#include <stdexcept>
#include <utility>

namespace corio::detail {

// Set by corio/call_graph.hpp, which has print_call_graph: the loop's headers
// cannot include it (it includes them).
inline void (*call_graph_printer)(std::FILE*) = nullptr;

// The watch's read: a background operation, so a program whose tasks wait
// for nothing else is still a deadlock, and virtual time still jumps.
struct loop_signal_read_op : signalfd_read_op {
  static constexpr bool background = true;
};

class signal_watch;
template <class = void>
task<> watch_signals(signal_watch& watch);

// Lives for one run of the loop (run_until_complete): it blocks the signals
// it watches in this thread, reads them with its coroutine, and restores the
// thread's mask when it is destroyed.
class signal_watch {
 public:
  // Watches SIGINT if `sigint` and SIGINT has its default action (a handler
  // the program installed, or SIG_IGN inherited by a background job, is left
  // alone, as asyncio.Runner does), and SIGUSR1 if `sigusr1`; either only on
  // the process's main thread, so loops on other threads never compete for
  // them. Cancelling `main` is what SIGINT does.
  // Throws: std::logic_error for `sigusr1` in a program without
  //   corio/call_graph.hpp; std::system_error when the kernel refuses a signalfd.
  signal_watch(loop_core& loop, task_context& main, bool sigint, bool sigusr1)
      : loop_(loop), main_(main) {
    if (!sigint && !sigusr1)
      return;
    if (sigusr1 && call_graph_printer == nullptr) {
      throw std::logic_error(
          "corio::loop_options::call_graph_on_sigusr1 needs print_call_graph: include "
          "<corio/call_graph.hpp> (or <corio/corio.hpp>) in the program");
    }
    if (::getpid() != static_cast<pid_t>(::syscall(SYS_gettid)))
      return;
    struct sigaction action {};
    if (sigint && ::sigaction(SIGINT, nullptr, &action) == 0 &&
        (action.sa_flags & SA_SIGINFO) == 0 && action.sa_handler == SIG_DFL)
      sigaddset(&watched_, SIGINT);
    if (sigusr1)
      sigaddset(&watched_, SIGUSR1);
  }
  signal_watch(const signal_watch&) = delete;
  signal_watch& operator=(const signal_watch&) = delete;

  // True if there is a signal to watch: then start() must be called.
  bool wanted() const noexcept { return !sigisemptyset(&watched_); }
  // Starts `watcher` (watch_signals(*this), which only a template may name:
  // CONTRIBUTING.md, "Coroutines in headers") before the main task.
  void start(task<> watcher) {
    fd_ = open_signalfd(watched_, !loop_.uses_io_uring(), "corio::run (signalfd)");
    watcher_ = std::move(watcher);
    auto handle = task_access::handle(watcher_);
    handle.promise().start_as_root(&context_, &context_);
    loop_.schedule(handle);
    // Nothing throws from here on. A signal that came before this took its
    // usual action, as one that came before run().
    ::pthread_sigmask(SIG_BLOCK, &watched_, &before_);
    active_ = true;
    for (int sig : {SIGINT, SIGUSR1}) {
      if (sigismember(&watched_, sig) == 1)
        loop_owned_signals() |= signal_bit(sig);
    }
  }
  ~signal_watch() {
    if (!active_)
      return;
    // Not ended (the kernel was lost mid-run): its frame may still be written
    // to by a read in flight, so it is leaked rather than freed.
    if (!context_.done)
      task_access::release(watcher_);
    fd_.reset();
    loop_owned_signals() &= ~(signal_bit(SIGINT) | signal_bit(SIGUSR1));
    // Each watched signal as it was before: a SIGINT that arrived since the
    // first one, now unblocked, ends the process as it would have then.
    sigset_t unblock;
    sigset_t block;
    sigemptyset(&unblock);
    sigemptyset(&block);
    for (int sig : {SIGINT, SIGUSR1}) {
      if (sigismember(&watched_, sig) == 1 || (sig == SIGINT && interrupted_))
        sigaddset(sigismember(&before_, sig) == 1 ? &block : &unblock, sig);
    }
    if (!sigisemptyset(&block))
      ::pthread_sigmask(SIG_BLOCK, &block, nullptr);
    ::pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
  }

  // Ends the watch before the loop stops: its read is cancelled and awaited.
  void stop() {
    if (!active_ || context_.done)
      return;
    context_.request_cancel();
    loop_.run_until([this] { return context_.done; }, nullptr);
  }

  // True once a SIGINT cancelled the main task.
  bool interrupted() const noexcept { return interrupted_; }

 private:
  template <class>
  friend task<> watch_signals(signal_watch&);

  static sigset_t no_signals() noexcept {
    sigset_t set;
    sigemptyset(&set);
    return set;
  }
  int fd() const noexcept { return fd_.get(); }
  // Acts on a signal the watch read; false when nothing is left to watch.
  bool handle(int sig) {
    if (sig == SIGUSR1) {
      std::FILE* out = loop_.debug_output();
      std::fputs("corio: SIGUSR1: the call graph of the loop\n", out);
      call_graph_printer(out);
      return true;
    }
    // SIGINT, once: cancel the main task, then let a second Ctrl-C take the
    // default action (the process ends), as asyncio.Runner does.
    interrupted_ = true;
    main_.request_cancel();
    sigdelset(&watched_, SIGINT);
    loop_owned_signals() &= ~signal_bit(SIGINT);
    const bool more = !sigisemptyset(&watched_);
    if (more)
      ::signalfd(fd_.get(), &watched_, 0);
    sigset_t sigint;
    sigemptyset(&sigint);
    sigaddset(&sigint, SIGINT);
    ::pthread_sigmask(SIG_UNBLOCK, &sigint, nullptr);
    return more;
  }

  loop_core& loop_;
  task_context& main_;
  root_context context_;
  task<> watcher_;
  unique_fd fd_;
  sigset_t watched_ = no_signals();
  sigset_t before_{};  // the thread's mask before the watch
  bool active_ = false;
  bool interrupted_ = false;
};

template <class>
task<> watch_signals(signal_watch& watch) {
  for (;;) {
    const int sig = co_await io_operation(loop_signal_read_op{{watch.fd()}});
    if (!watch.handle(sig))
      co_return;
  }
}

}  // namespace corio::detail
