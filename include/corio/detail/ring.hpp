// SPDX-License-Identifier: MIT
// corio/detail/ring.hpp: thin RAII over liburing's io_uring; the one place that
// sets the ring up and explains why setting it up failed.
#pragma once

#include <liburing.h>

#include <sys/resource.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

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

// Says why io_uring_queue_init failed with `err` and what to do about it.
inline std::string describe_setup_error(int err, int disabled_sysctl) {
  switch (err) {
    case ENOSYS:
      return "io_uring is not available (ENOSYS): the kernel was built without io_uring or is "
             "older than 5.1, or a seccomp filter answers ENOSYS for io_uring_setup. corio needs "
             "Linux 5.15 or newer with io_uring; in a container, allow io_uring_setup, "
             "io_uring_enter and io_uring_register in its seccomp profile";
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
    case ENOMEM: {
      rlimit limit{};
      ::getrlimit(RLIMIT_MEMLOCK, &limit);
      return "not enough locked memory for the io_uring ring (ENOMEM): RLIMIT_MEMLOCK is " +
             (limit.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                              : std::to_string(limit.rlim_cur / 1024) + " KiB") +
             "; raise it ('ulimit -l', or LimitMEMLOCK= for a systemd service) or lower "
             "loop_options::queue_depth (kernels 5.12 and newer do not charge rings to it)";
    }
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
  ~ring() {
    if (initialised_)
      io_uring_queue_exit(&ring_);
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
    return res;
  }

  io_uring* get() noexcept { return &ring_; }
  unsigned setup_flags() const noexcept { return setup_flags_; }
  // The IORING_FEAT_* flags the kernel reported.
  unsigned features() const noexcept { return features_; }
  unsigned sq_entries() const noexcept { return ring_.sq.ring_entries; }
  unsigned cq_entries() const noexcept { return ring_.cq.ring_entries; }
  bool defers_task_work() const noexcept {
    return (setup_flags_ & IORING_SETUP_DEFER_TASKRUN) != 0;
  }

 private:
  io_uring ring_{};
  unsigned setup_flags_ = 0;
  unsigned features_ = 0;
  bool initialised_ = false;
};

}  // namespace corio::detail
