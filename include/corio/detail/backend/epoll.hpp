// SPDX-License-Identifier: MIT
// corio/detail/backend/epoll.hpp: the epoll backend, for where io_uring is
// refused: an epoll instance, readiness waits (one-shot interest per socket),
// the eventfd that wakes the loop for to_thread results, and the wait driven
// by the timer heap.
#pragma once

#include <corio/config.hpp>

#include <corio/detail/backend/background_count.hpp>
#include <corio/detail/intrusive_fifo.hpp>
#include <corio/detail/remote_queue.hpp>

#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <system_error>
#include <vector>

namespace corio::detail {

// A task waiting until a descriptor is readable or writable. ready() runs
// while the backend dispatches events: like an io_uring completion handler,
// it may retry the system call and record a result or schedule coroutines,
// but never resume one. It returns true if the retry would block again: the
// waiter then stays first in its queue. It never waits again itself, so the
// backend's tables do not move while it dispatches.
class readiness_wait {
 public:
  using ready_fn = bool (*)(readiness_wait*) noexcept;
  explicit readiness_wait(ready_fn fn) noexcept : ready_(fn) {}
  bool ready() noexcept { return ready_(this); }

 private:
  friend class epoll_backend;
  ready_fn ready_;
  readiness_wait* next_ = nullptr;  // the next waiter on the same descriptor and direction
};

class epoll_backend : public background_count {
 public:
  epoll_backend() noexcept = default;
  epoll_backend(const epoll_backend&) = delete;
  epoll_backend& operator=(const epoll_backend&) = delete;
  ~epoll_backend() {
    if (epoll_fd_ >= 0)
      ::close(epoll_fd_);
  }

  // 0, or -errno when the epoll instance cannot be made.
  int init() noexcept {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    return epoll_fd_ < 0 ? -errno : 0;
  }

  // Makes `w` ready() once `fd` is readable (`write` false) or writable.
  // Any number of tasks may wait on a descriptor in each direction (several
  // accepts on one listener): an event retries them in the order they came,
  // as long as each goes on (the data or room was there for it), and the
  // descriptor is armed again for the first that would block and those after.
  // Returns 0, or -errno when epoll refuses the descriptor.
  int wait(int fd, bool write, readiness_wait& w) noexcept {
    if (fd < 0)
      return -EBADF;
    if (static_cast<std::size_t>(fd) >= fds_.size())
      fds_.resize(static_cast<std::size_t>(fd) + 1);  // grows with the highest fd, then stays
    fd_state& s = fds_[static_cast<std::size_t>(fd)];
    waiters& q = write ? s.writers : s.readers;
    q.push(w);
    if (const int res = update(fd, s); res < 0) {
      q.erase(w);
      return res;
    }
    ++waiting_;
    return 0;
  }
  // Stops `w` waiting (a cancellation); its ready() will not run.
  void forget(int fd, bool write, readiness_wait& w) noexcept {
    fd_state& s = fds_[static_cast<std::size_t>(fd)];
    if (!(write ? s.writers : s.readers).erase(w))
      return;
    --waiting_;
    update(fd, s);
  }

  // Registers `remote`'s eventfd once, so results posted by other threads
  // wake a loop waiting in epoll.
  void arm_wakeup(remote_queue& remote) noexcept {
    if (remote_ != nullptr)
      return;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wakeup_tag;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, remote.eventfd(), &ev) == 0)
      remote_ = &remote;
  }

  // True while a task waits for readiness (not counting background waits);
  // operations() says how many such waits.
  bool busy() const noexcept { return waiting_ > background_; }
  std::size_t operations() const noexcept { return waiting_ - background_; }

  // Runs the readiness that has arrived, without waiting.
  void poll() noexcept { wait_and_dispatch(std::chrono::nanoseconds::zero()); }
  // Waits for readiness up to `timeout` (forever if negative), then runs it.
  void wait(std::chrono::nanoseconds timeout) noexcept { wait_and_dispatch(timeout); }

 private:
  // The waiters of one direction, first come first: a queue threaded through
  // them, which stays valid when fds_ moves its entries.
  using waiters = intrusive_fifo<readiness_wait, &readiness_wait::next_>;
  struct fd_state {
    waiters readers;
    waiters writers;
    std::uint32_t armed = 0;  // the events epoll watches now (0: none, or not registered)
    bool registered = false;
  };
  static constexpr std::uint64_t wakeup_tag = ~std::uint64_t{0};

  // Makes epoll watch what the waiters of `fd` want: one-shot, so an event
  // disarms the descriptor until a waiter asks again.
  int update(int fd, fd_state& s) noexcept {
    const std::uint32_t want =
        (s.readers.empty() ? 0u : EPOLLIN) | (s.writers.empty() ? 0u : EPOLLOUT);
    if (want == s.armed)
      return 0;
    epoll_event ev{};
    ev.events = want | EPOLLONESHOT;
    ev.data.u64 = static_cast<std::uint64_t>(fd);
    int op = s.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int res = ::epoll_ctl(epoll_fd_, op, fd, &ev);
    // The descriptor may have been closed (epoll dropped it) and its number
    // reused, or registered by an earlier waiter we took for gone.
    if (res < 0 && (errno == ENOENT || errno == EEXIST)) {
      op = errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
      res = ::epoll_ctl(epoll_fd_, op, fd, &ev);
    }
    if (res < 0) {
      s.registered = false;
      s.armed = 0;
      return -errno;
    }
    s.registered = true;
    s.armed = want;
    return 0;
  }

  int pwait(int epfd, epoll_event* events, int max, std::chrono::nanoseconds timeout) noexcept {
#ifdef SYS_epoll_pwait2
    if (has_pwait2_) {
      timespec ts{};
      timespec* tsp = nullptr;
      if (timeout >= std::chrono::nanoseconds::zero()) {
        ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
        tsp = &ts;
      }
      const long res = ::syscall(SYS_epoll_pwait2, epfd, events, max, tsp, nullptr, 0);
      if (res >= 0 || errno != ENOSYS)
        return static_cast<int>(res);
      has_pwait2_ = false;
    }
#endif
    int ms = -1;  // rounded up, so a timer is never woken for early
    if (timeout >= std::chrono::nanoseconds::zero()) {
      const auto up = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
      ms = up > 0x7fffffff ? 0x7fffffff : static_cast<int>(up);
    }
    return ::epoll_wait(epfd, events, max, ms);
  }

  void wait_and_dispatch(std::chrono::nanoseconds timeout) noexcept {
    std::array<epoll_event, 128> events;
    const int n = pwait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout);
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events[static_cast<std::size_t>(i)];
      if (ev.data.u64 == wakeup_tag) {
        std::uint64_t value;
        while (::read(remote_->eventfd(), &value, sizeof value) < 0 && errno == EINTR) {
        }
        continue;
      }
      const int fd = static_cast<int>(ev.data.u64);
      fd_state& s = fds_[static_cast<std::size_t>(fd)];
      s.armed = 0;  // one-shot: epoll watches nothing more until update()
      const bool failed = (ev.events & (EPOLLERR | EPOLLHUP)) != 0;
      if ((ev.events & EPOLLIN) != 0 || failed)
        serve(s.readers);
      if ((ev.events & EPOLLOUT) != 0 || failed)
        serve(s.writers);
      update(fd, s);  // for the waiters still there
    }
  }
  // One event serves every waiter the descriptor has data or room for, in
  // this turn: N accepts queued on a listener with N connections take one
  // epoll_wait, not N. It stops at the first that would block again, which
  // keeps its place (a write_all half done stays ahead of the next writer).
  void serve(waiters& q) noexcept {
    while (readiness_wait* w = q.front()) {
      if (w->ready())
        return;
      q.pop();
      --waiting_;
    }
  }

  int epoll_fd_ = -1;
  std::vector<fd_state> fds_;  // indexed by descriptor
  remote_queue* remote_ = nullptr;
  std::size_t waiting_ = 0;  // readiness waits, background_ ones among them
  bool has_pwait2_ = true;   // until the kernel (before 5.11) answers ENOSYS
};

}  // namespace corio::detail
