// SPDX-License-Identifier: MIT
// corio/detail/backend/io_uring.hpp: the io_uring backend: the ring (set up
// with the fastest flags the kernel accepts, and why setting it up failed),
// batched submission, the wait in io_uring_enter and the completion pass.
#pragma once

#include <corio/config.hpp>

#include <corio/detail/backend/background_count.hpp>
#include <corio/detail/intrusive_list.hpp>
#include <corio/detail/remote_queue.hpp>

#include <liburing.h>

#include <sys/resource.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <poll.h>
#include <string>
#include <system_error>

namespace corio::detail {

// Every SQE corio submits carries a pointer to one of these as its user_data
// (0 marks requests whose completion nobody waits for, such as cancels).
// A completion handler must only record the result and schedule coroutines:
// it runs while the loop walks the completion queue.
class completion {
 public:
  using complete_fn = void (*)(completion*, const io_uring_cqe&) noexcept;
  explicit completion(complete_fn fn) noexcept : complete_(fn) {}
  void complete(const io_uring_cqe& cqe) noexcept { complete_(this, cqe); }

 private:
  complete_fn complete_;
};

// An operation that continues after a completion (write_all after a short
// send) while the SQ is full: it is prepared again after the completion pass,
// because a completion handler must not submit.
class deferred_submission : public list_hook {
 public:
  using submit_fn = void (*)(deferred_submission*, io_uring_sqe*) noexcept;
  explicit deferred_submission(submit_fn fn) noexcept : submit_(fn) {}
  void submit(io_uring_sqe* sqe) noexcept { submit_(this, sqe); }

 private:
  submit_fn submit_;
};

// Reads /proc/sys/kernel/io_uring_disabled: 0 allowed, 1 restricted to a
// group, 2 disabled, -1 when the sysctl does not exist (kernels before 6.6).
inline int io_uring_disabled_sysctl() noexcept {
  std::FILE* f = std::fopen("/proc/sys/kernel/io_uring_disabled", "r");
  if (f == nullptr)
    return -1;
  int value = -1;
  if (std::fscanf(f, "%d", &value) != 1)
    value = -1;
  std::fclose(f);
  return value;
}

// RLIMIT_MEMLOCK's soft limit, as text ("64 KiB", "unlimited").
inline std::string memlock_limit_text() {
  rlimit limit{};
  ::getrlimit(RLIMIT_MEMLOCK, &limit);
  return limit.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                         : std::to_string(limit.rlim_cur / 1024) + " KiB";
}

// In a few words, what made io_uring_setup fail with `err` (for debug mode's
// line saying why the loop runs on epoll); empty when there is nothing to add.
inline std::string setup_refusal_cause(int err, int disabled_sysctl) {
  switch (err) {
    case EPERM:
      if (disabled_sysctl == 2)
        return "kernel.io_uring_disabled=2";
      if (disabled_sysctl == 1)
        return "kernel.io_uring_disabled=1, and this process is not in kernel.io_uring_group";
      return "a seccomp filter, as container runtimes install by default";
    case EACCES:
      return "a security module or a seccomp filter";
    case ENOSYS:
      return "a kernel without io_uring, or a seccomp filter that answers ENOSYS";
    case ENOMEM:
      return "RLIMIT_MEMLOCK, " + memlock_limit_text() + ", is too low for the ring";
    default:
      return "";
  }
}

// Says why io_uring_queue_init failed with `err` and what to do about it.
inline std::string describe_setup_error(int err, int disabled_sysctl) {
  switch (err) {
    case ENOSYS:
      return "io_uring is not available (ENOSYS): the kernel was built without io_uring or is "
             "older than 5.1, or a seccomp filter answers ENOSYS for io_uring_setup. corio's "
             "io_uring backend needs Linux 5.15 or newer; in a container, allow io_uring_setup, "
             "io_uring_enter and io_uring_register in its seccomp profile, or let corio use "
             "epoll (backend::automatic, CORIO_BACKEND unset)";
    case EPERM:
      if (disabled_sysctl == 2) {
        return "io_uring is disabled by the sysctl kernel.io_uring_disabled=2; as root, run "
               "'sysctl -w kernel.io_uring_disabled=0' to allow it";
      }
      if (disabled_sysctl == 1) {
        return "io_uring is restricted by the sysctl kernel.io_uring_disabled=1 to root and the "
               "group in kernel.io_uring_group; add this user to that group or, as root, run "
               "'sysctl -w kernel.io_uring_disabled=0'";
      }
      return "io_uring_setup was refused (EPERM), most likely by a seccomp filter: container "
             "runtimes such as Docker block io_uring by default; run with a seccomp profile that "
             "allows io_uring_setup, io_uring_enter and io_uring_register";
    case ENOMEM:
      return "not enough locked memory for the io_uring ring (ENOMEM): RLIMIT_MEMLOCK is " +
             memlock_limit_text() +
             "; raise it ('ulimit -l', or LimitMEMLOCK= for a systemd service) or lower "
             "loop_options::queue_depth (kernels 5.12 and newer do not charge rings to it)";
    default:
      // std::system_error appends strerror(err) itself.
      return "io_uring_queue_init failed";
  }
}

class ring {
 public:
  ring() noexcept = default;
  ring(const ring&) = delete;
  ring& operator=(const ring&) = delete;
  ~ring() { exit(); }
  void exit() noexcept {
    if (initialised_)
      io_uring_queue_exit(&ring_);
    initialised_ = false;
  }

  // Sets the ring up with the fastest flags this kernel accepts: a single
  // issuer with deferred task work (6.1+), else cooperative task work (5.19+),
  // else none. Each step falls back only on EINVAL (flag unknown to the
  // kernel); other errors are returned as -errno. IORING_SETUP_CLAMP caps the
  // queues at the kernel's maxima (32768 SQ, 65536 CQ entries) rather than
  // refusing a larger depth. A kernel without IORING_FEAT_NODROP (before 5.5)
  // may drop completions when the CQ is full, which would hang their tasks:
  // it is refused with -ENOSYS.
  int init(unsigned entries, bool sqpoll) noexcept {
    const unsigned cq_entries = entries * 4 < 4096 ? 4096 : entries * 4;
    const unsigned sqpoll_flags[] = {IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER,
                                     IORING_SETUP_SQPOLL};
    const unsigned fast_flags[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                   IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 0};
    const unsigned* flags = sqpoll ? sqpoll_flags : fast_flags;
    const std::size_t count = sqpoll ? 2 : 3;
    int res = -EINVAL;
    for (std::size_t i = 0; i < count && res == -EINVAL; ++i) {
      io_uring_params params{};
      params.flags = flags[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
      params.cq_entries = cq_entries;
      if (sqpoll)
        params.sq_thread_idle = 1000;
      res = io_uring_queue_init_params(entries, &ring_, &params);
      if (res == 0) {
        setup_flags_ = params.flags;
        features_ = params.features;
      }
    }
    initialised_ = res == 0;
    if (initialised_ && (features_ & IORING_FEAT_NODROP) == 0)
      return -ENOSYS;
    // Linux 5.18+: io_uring_enter then names the ring by its slot in this
    // thread's registered-ring table, skipping the fd lookup (and its
    // reference count) on every call. Only the loop's thread enters the ring,
    // as the registration requires. A refusal (older kernel, a seccomp filter
    // on io_uring_register) leaves the plain fd in use; io_uring_queue_exit
    // unregisters.
    if (initialised_)
      ring_fd_registered_ = io_uring_register_ring_fd(&ring_) == 1;
    return res;
  }

  io_uring* get() noexcept { return &ring_; }
  const io_uring& ring_ref() const noexcept { return ring_; }
  unsigned setup_flags() const noexcept { return setup_flags_; }
  // The IORING_FEAT_* flags the kernel reported.
  unsigned features() const noexcept { return features_; }
  unsigned sq_entries() const noexcept { return ring_.sq.ring_entries; }
  unsigned cq_entries() const noexcept { return ring_.cq.ring_entries; }
  bool defers_task_work() const noexcept {
    return (setup_flags_ & IORING_SETUP_DEFER_TASKRUN) != 0;
  }
  // io_uring_enter uses the registered ring fd.
  bool ring_fd_registered() const noexcept { return ring_fd_registered_; }

 private:
  io_uring ring_{};
  unsigned setup_flags_ = 0;
  unsigned features_ = 0;
  bool initialised_ = false;
  bool ring_fd_registered_ = false;
};

// The io_uring half of an event loop: it owns the ring, counts what is in
// flight, submits every queued SQE with one io_uring_enter per loop turn and
// runs each CQE's completion. It knows nothing of tasks: completions only
// record results and schedule coroutines.
class io_uring_backend : public background_count {
 public:
  io_uring_backend() noexcept = default;
  io_uring_backend(const io_uring_backend&) = delete;
  io_uring_backend& operator=(const io_uring_backend&) = delete;

  // 0, or -errno when the ring cannot be set up.
  int init(unsigned depth, bool sqpoll) noexcept { return ring_.init(depth, sqpoll); }
  // Releases the ring (after a failed probe); the backend is unused from then on.
  void release() noexcept { ring_.exit(); }

  // IORING_OP_WAITID (Linux 6.7), which liburing 2.3's header does not name yet.
  static constexpr int op_waitid = 50;

  // Checks, right after init(), that this ring can serve corio: the kernel
  // knows every opcode corio submits, and io_uring_enter is allowed (some
  // seccomp profiles allow io_uring_setup only): one NOP is submitted and
  // waited for. Returns "", or why io_uring cannot be used, in one line
  // ("io_uring_enter: Operation not permitted (...)"). Also notes the
  // optional opcodes (has_waitid()).
  std::string probe() {
    io_uring* r = ring_.get();
    io_uring_probe* p = io_uring_get_probe_ring(r);
    if (p == nullptr) {
      return "io_uring_register(IORING_REGISTER_PROBE) was refused (a kernel older than 5.6, or "
             "a seccomp filter on io_uring_register)";
    }
    {
      static constexpr int needed[] = {IORING_OP_NOP,     IORING_OP_READ,    IORING_OP_WRITE,
                                       IORING_OP_RECV,    IORING_OP_SEND,    IORING_OP_ACCEPT,
                                       IORING_OP_CONNECT, IORING_OP_OPENAT,  IORING_OP_STATX,
                                       IORING_OP_FSYNC,   IORING_OP_CLOSE,   IORING_OP_ASYNC_CANCEL,
                                       IORING_OP_SENDMSG, IORING_OP_RECVMSG, IORING_OP_POLL_ADD};
      int missing = -1;
      for (const int op : needed) {
        if (missing < 0 && io_uring_opcode_supported(p, op) == 0)
          missing = op;
      }
      note_optional_opcodes(p);
      io_uring_free_probe(p);
      if (missing >= 0) {
        return "the kernel's io_uring lacks opcode " + std::to_string(missing) +
               ", which corio needs (see enum io_uring_op in <linux/io_uring.h>)";
      }
    }
    io_uring_sqe* sqe = io_uring_get_sqe(r);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, 0);
    io_uring_cqe* cqe = nullptr;
    int res;
    do {
      res = io_uring_submit_and_wait_timeout(r, &cqe, 1, nullptr, nullptr);
    } while (res == -EINTR);
    if (res < 0) {
      return std::string("io_uring_enter: ") + std::strerror(-res) +
             " (io_uring_setup was allowed: a seccomp filter that refuses io_uring_enter only)";
    }
    io_uring_cq_advance(r, 1);
    return {};
  }

  // For a ring that loop_options forced, which skips probe(): notes the
  // optional opcodes only. A refused probe leaves them off.
  void probe_optional_opcodes() noexcept {
    if (io_uring_probe* p = io_uring_get_probe_ring(ring_.get())) {
      note_optional_opcodes(p);
      io_uring_free_probe(p);
    }
  }
  // True if the kernel knows IORING_OP_WAITID (Linux 6.7), as probe() found.
  bool has_waitid() const noexcept { return has_waitid_; }
  unsigned setup_flags() const noexcept { return ring_.setup_flags(); }

  // An SQE for the caller to fill; never null: a full submission queue is
  // submitted first (and completions reaped if the kernel pushes back; their
  // handlers only record and schedule, so running them here, inside an
  // await_suspend or a cancel callback, resumes nothing). Once io_uring_enter
  // is refused for good, a scratch SQE nobody submits is returned and the
  // loop throws at the top of its next turn (see error()).
  io_uring_sqe* get_sqe() noexcept {
    CORIO_ASSERT(!reaping_, "corio: a completion handler must not start operations");
    for (;;) {
      if (io_uring_sqe* sqe = io_uring_get_sqe(ring_.get()))
        return sqe;
      if (enter_error_ != 0)
        return ::new (static_cast<void*>(scratch_sqe_.data())) io_uring_sqe{};
      const int res = io_uring_submit(ring_.get());
      if (res == -EBUSY || res == -EAGAIN)
        reap_completions();
      else
        check_enter(res);
    }
  }
  // Marks `sqe` as an operation whose completion `op` receives.
  void start_operation(io_uring_sqe* sqe, completion* op) noexcept {
    io_uring_sqe_set_data(sqe, op);
    ++inflight_;
  }
  // For a completion handler: an SQE now if the SQ has room (then
  // start_operation it), else null, and `later` is prepared after the pass.
  io_uring_sqe* sqe_or_defer(deferred_submission& later) noexcept {
    if (io_uring_sqe* sqe = io_uring_get_sqe(ring_.get()))
      return sqe;
    deferred_.push_back(later);
    return nullptr;
  }
  // A deferred submission that will not be made (its task was cancelled).
  void drop_deferred(deferred_submission& later) noexcept { deferred_.erase(later); }
  // Asks the kernel to cancel `op`; op's own completion still follows.
  void cancel(completion* op) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel(sqe, op, 0);
    io_uring_sqe_set_data64(sqe, 0);
  }

  // Keeps a multishot poll of `remote`'s eventfd armed, so that results
  // posted by other threads wake a loop waiting in io_uring_enter: each
  // eventfd write posts one completion, and nothing is submitted per wake-up
  // (re-arming a read of the eventfd cost about 0.8 us of a pinned to_thread
  // round trip of 4.9, bench/README.md). The counter is never read: edge
  // triggered, the poll fires on every write, and 2^64 writes are out of
  // reach. When the kernel ends the multishot (a full CQ, or a kernel before
  // 5.13 that refuses it) the poll is armed again: on a readable eventfd it
  // fires at once, so no write made meanwhile is lost. After a refusal the
  // backend arms a read of the eventfd instead, which drains the counter.
  void arm_wakeup(remote_queue& remote) noexcept {
    if (wakeup_.armed)
      return;
    io_uring_sqe* sqe = get_sqe();
    if (wakeup_.multishot_refused)
      io_uring_prep_read(sqe, remote.eventfd(), &wakeup_.value, sizeof wakeup_.value, 0);
    else
      io_uring_prep_poll_multishot(sqe, remote.eventfd(), POLLIN);
    start_operation(sqe, &wakeup_);
    wakeup_.armed = true;
  }

  // True while an operation a task waits for is in flight or queued (not
  // the wakeup read, nor a background operation: see count_background).
  bool busy() const noexcept {
    return inflight_ > (wakeup_.armed ? 1u : 0u) + background_ || !deferred_.empty() ||
           io_uring_sq_ready(&ring_.ring_ref()) > 0;
  }
  // The operations tasks wait for, in flight or queued (those busy() counts).
  std::size_t operations() const noexcept {
    return inflight_ - (wakeup_.armed ? 1u : 0u) - background_ + deferred_.size();
  }
  // Submits what is queued now, without waiting.
  void submit() noexcept {
    if (enter_error_ == 0)
      check_enter(io_uring_submit(ring_.get()));
  }

  // Submits what is queued and runs the completions that have arrived,
  // without waiting.
  void poll() noexcept {
    submit_deferred();
    check_enter(io_uring_submit_and_get_events(ring_.get()));
    reap_completions();
  }
  // Submits what is queued and waits for at least one completion, up to
  // `timeout` (forever if negative), then runs the completions.
  void wait(std::chrono::nanoseconds timeout) noexcept {
    submit_deferred();
    io_uring* ring = ring_.get();
    io_uring_cqe* cqe = nullptr;
    int res;
    if (timeout < std::chrono::nanoseconds::zero()) {
      res = io_uring_submit_and_wait_timeout(ring, &cqe, 1, nullptr, nullptr);
    } else {
      __kernel_timespec ts{};
      ts.tv_sec = timeout.count() / 1'000'000'000;
      ts.tv_nsec = timeout.count() % 1'000'000'000;
      res = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nullptr);
    }
    check_enter(res);
    reap_completions();
  }

  // The errno of a refused io_uring_enter, or 0.
  int error() const noexcept { return enter_error_; }
  [[noreturn]] void throw_error() const {
    throw std::system_error(
        enter_error_, std::system_category(),
        "corio::event_loop: io_uring_enter failed after io_uring_setup succeeded (a seccomp "
        "profile may allow io_uring_setup but not io_uring_enter: allow io_uring_enter and "
        "io_uring_register too); the loop cannot submit or reap operations");
  }

  // Waits for the kernel to let go of every operation still in flight, so no
  // memory it may write to is released before it has.
  void shutdown() noexcept {
    // Once io_uring_enter is refused, nothing more reached the kernel.
    if (inflight_ == 0 || enter_error_ != 0)
      return;
    // After a normal run() only the eventfd poll is left: it is cancelled by
    // its user_data, which every supported kernel knows. Operations of tasks
    // that never finished (run() ended by an exception) are cancelled with
    // IORING_ASYNC_CANCEL_ANY (5.19); an older kernel refuses that, and the
    // wait below ends them or gives up after 10 s.
    if (wakeup_.armed)
      cancel(&wakeup_);
    if (inflight_ > (wakeup_.armed ? 1u : 0u)) {
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64(sqe, 0);
    }
    for (int rounds = 0; inflight_ > 0 && rounds < 1000 && enter_error_ == 0; ++rounds)
      wait(std::chrono::milliseconds(10));
  }

 private:
  void note_optional_opcodes(io_uring_probe* p) noexcept {
    has_waitid_ = io_uring_opcode_supported(p, op_waitid) != 0;
  }

  // The eventfd poll (or read) that wakes the loop when another thread has
  // posted to it; its completion only ends the wait (the loop then looks at
  // the inbox, see remote_queue::awake).
  struct wakeup_watch : completion {
    wakeup_watch() noexcept : completion(&on_complete) {}
    static void on_complete(completion* self, const io_uring_cqe& cqe) noexcept {
      auto& wakeup = *static_cast<wakeup_watch*>(self);
      if ((cqe.flags & IORING_CQE_F_MORE) == 0) {
        wakeup.armed = false;
        if (cqe.res == -EINVAL)
          wakeup.multishot_refused = true;
      }
    }
    std::uint64_t value = 0;  // the read's target once multishot polls are refused
    bool armed = false;
    bool multishot_refused = false;
  };

  // Records a refusal of io_uring_enter that retrying cannot cure (EPERM from
  // a seccomp filter that allowed io_uring_setup, EBADF, EFAULT, ...); a
  // timeout, a signal or back-pressure is not one.
  void check_enter(int res) noexcept {
    if (res >= 0 || res == -ETIME || res == -EINTR || res == -EAGAIN || res == -EBUSY)
      return;
    enter_error_ = -res;
  }

  void submit_deferred() noexcept {
    while (!deferred_.empty()) {
      deferred_submission& next = deferred_.front();
      deferred_.erase(next);
      next.submit(get_sqe());
    }
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
        auto* op = static_cast<completion*>(io_uring_cqe_get_data(cqe));
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

  ring ring_;
  intrusive_list<deferred_submission> deferred_;
  wakeup_watch wakeup_;
  unsigned inflight_ = 0;    // submitted, last completion not yet reaped (background_ ones too)
  int enter_error_ = 0;      // the errno of a refused io_uring_enter, once it happened
  bool reaping_ = false;     // inside reap_completions, running completion handlers
  bool has_waitid_ = false;  // the ring knows IORING_OP_WAITID
  // Bytes, not an io_uring_sqe member: its zero-length cmd[] array is a -Wpedantic error
  // in a user's g++ build when the struct is a class member.
  alignas(io_uring_sqe) std::array<std::byte, sizeof(io_uring_sqe)> scratch_sqe_{};
};

}  // namespace corio::detail
