// SPDX-License-Identifier: MIT
// corio/detail/signalfd.hpp: what wait_signal and the loop's own signal watch
// (Ctrl-C, SIGUSR1) share: checking a set of signals, blocking them in this
// thread while someone waits for them, a signalfd for them, and the read of
// that signalfd as a kernel operation (on the ring, or on readiness on epoll).
#pragma once

#include <corio/detail/errno.hpp>
#include <corio/detail/unique_fd.hpp>

#include <liburing.h>

#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace corio::detail {

// The signals in `signals` as a set; `who` names the API in the error.
// Throws std::invalid_argument for an empty list, a number that is no signal
// (glibc's own 32 and 33 included), SIGKILL or SIGSTOP (they cannot be blocked).
inline sigset_t checked_signal_set(const std::vector<int>& signals, const char* who) {
  if (signals.empty())
    throw std::invalid_argument(std::string(who) + ": the list of signals is empty");
  sigset_t set;
  sigemptyset(&set);
  for (const int sig : signals) {
    if (sig == SIGKILL || sig == SIGSTOP) {
      throw std::invalid_argument(std::string(who) + ": " +
                                  (sig == SIGKILL ? "SIGKILL" : "SIGSTOP") +
                                  " cannot be caught or waited for");
    }
    if (sig <= 0 || sig >= NSIG || sigaddset(&set, sig) != 0) {
      throw std::invalid_argument(std::string(who) + ": " + std::to_string(sig) +
                                  " is not a signal number this process can wait for");
    }
  }
  return set;
}

// The signals the loop on this thread handles itself (SIGINT for run()'s
// Ctrl-C, SIGUSR1 for the call graph), one bit per signal number; wait_signal
// refuses them rather than race the loop for them.
inline std::uint64_t& loop_owned_signals() noexcept {
  static thread_local std::uint64_t bits = 0;
  return bits;
}
inline constexpr std::uint64_t signal_bit(int sig) noexcept {
  return std::uint64_t{1} << sig;
}

// Blocks signals in the calling thread for as long as someone in this thread
// waits for them, counting the waits per signal: a signal is unblocked when
// its last wait ends, and only if it was not blocked before the first began.
class thread_signal_blocks {
 public:
  static void block(const sigset_t& set) noexcept {
    state& s = this_thread();
    sigset_t first;  // the signals nobody in this thread waited for until now
    sigemptyset(&first);
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sigismember(&set, sig) == 1 && s.waits[index(sig)]++ == 0)
        sigaddset(&first, sig);
    }
    sigset_t before;
    ::pthread_sigmask(SIG_BLOCK, &first, &before);
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sigismember(&first, sig) == 1)
        s.ours[index(sig)] = sigismember(&before, sig) != 1;
    }
  }
  static void unblock(const sigset_t& set) noexcept {
    state& s = this_thread();
    sigset_t last;
    sigemptyset(&last);
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sigismember(&set, sig) == 1 && --s.waits[index(sig)] == 0 && s.ours[index(sig)])
        sigaddset(&last, sig);
    }
    ::pthread_sigmask(SIG_UNBLOCK, &last, nullptr);
  }

 private:
  struct state {
    std::array<unsigned, NSIG> waits{};
    std::array<bool, NSIG> ours{};  // blocked by the first wait, so unblocked by the last
  };
  static std::size_t index(int sig) noexcept { return static_cast<std::size_t>(sig); }
  static state& this_thread() noexcept {
    static thread_local state s;
    return s;
  }
};

// A signalfd for `set`, blocking on io_uring (the ring then waits for it to
// become readable; with O_NONBLOCK some kernels would answer EAGAIN) and
// non-blocking on epoll (read on readiness).
// Throws std::system_error when the kernel refuses (EMFILE).
inline unique_fd open_signalfd(const sigset_t& set, bool nonblocking, const char* who) {
  unique_fd fd(::signalfd(-1, &set, SFD_CLOEXEC | (nonblocking ? SFD_NONBLOCK : 0)));
  if (!fd)
    throw_errno(-errno, who);
  return fd;
}

// One read of a signalfd: IORING_OP_READ on the ring, read(2) on readiness
// on epoll; yields the signal's number. The siginfo lives here, where the
// kernel writes it. On kernels that cannot read a signalfd without blocking,
// io_uring runs the read in one of its worker threads, which sees signals
// sent to the process (kill, Ctrl-C) but not those sent to the loop's thread
// alone (pthread_kill, raise).
struct signalfd_read_op {
  using value_type = int;
  static constexpr bool writes = false;
  int fd;
  signalfd_siginfo info{};
  void prep(io_uring_sqe* sqe) noexcept { io_uring_prep_read(sqe, fd, &info, sizeof info, 0); }
  int attempt() noexcept {
    const ssize_t n = ::read(fd, &info, sizeof info);
    return n >= 0 ? static_cast<int>(n) : -errno;
  }
  int finish(int res) const {
    check(res, "corio::wait_signal (read of its signalfd)");
    return static_cast<int>(info.ssi_signo);
  }
};

// wait_signal's read: a signal it read after its task was cancelled goes back
// (queued again, to the thread it was sent to, or else to the process, with
// its siginfo), so the next waiter, or the signal's own action once nobody
// waits, gets it; the cancellation is then delivered.
struct wait_signal_op : signalfd_read_op {
  void give_back(int) const noexcept {
    siginfo_t si;
    std::memset(&si, 0, sizeof si);
    si.si_signo = static_cast<int>(info.ssi_signo);
    si.si_code = info.ssi_code;
    si.si_pid = static_cast<pid_t>(info.ssi_pid);
    si.si_uid = static_cast<uid_t>(info.ssi_uid);
    si.si_value.sival_ptr = reinterpret_cast<void*>(info.ssi_ptr);
    const pid_t pid = ::getpid();
    const auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
    // The kernel refuses a siginfo with si_code >= 0 from a thread other than
    // the main one: then the signal goes back without it (as kill or tgkill).
    if (info.ssi_code == SI_TKILL) {
      if (::syscall(SYS_rt_tgsigqueueinfo, pid, tid, si.si_signo, &si) != 0)
        ::syscall(SYS_tgkill, pid, tid, si.si_signo);
    } else if (::syscall(SYS_rt_sigqueueinfo, pid, si.si_signo, &si) != 0) {
      ::kill(pid, si.si_signo);
    }
  }
};

}  // namespace corio::detail
