// SPDX-License-Identifier: MIT
// The loop against the kernel's edges: io_uring refused by a seccomp filter
// (as container runtimes do), and a completion queue that overflows.
#include <corio/event_loop.hpp>

#include <corio/gather.hpp>
#include <corio/task.hpp>

#include <corio/detail/io_operation.hpp>

#include "support/io_uring_available.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>

#include <cerrno>
#include <cstddef>
#include <string>
#include <system_error>
#include <vector>

namespace {

// Makes io_uring_setup fail with `err` in this process from now on.
bool refuse_io_uring_setup(int err) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// Runs in a child: 0 if the loop's constructor throws system_error(err) whose
// message contains `needle`, a distinct code for each way it can go wrong.
int child_checks_refusal(int err, const char* needle) {
  if (!refuse_io_uring_setup(err))
    return 10;
  try {
    corio::event_loop loop;
    return 11;
  } catch (const std::system_error& e) {
    if (e.code().value() != err || e.code().category() != std::system_category())
      return 12;
    if (std::string(e.what()).find(needle) == std::string::npos)
      return 13;
    return 0;
  } catch (...) {
    return 14;
  }
}

int run_in_child(int err, const char* needle) {
  const pid_t pid = ::fork();
  if (pid == 0)
    ::_exit(child_checks_refusal(err, needle));
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

}  // namespace

TEST_CASE("event_loop: a seccomp EPERM for io_uring_setup throws system_error naming seccomp",
          "[event_loop][io_uring]") {
  if (corio::detail::io_uring_disabled_sysctl() > 0)
    SKIP("kernel.io_uring_disabled is set here");
  CHECK(run_in_child(EPERM, "seccomp") == 0);
}

TEST_CASE("event_loop: an ENOSYS for io_uring_setup throws system_error saying io_uring is missing",
          "[event_loop][io_uring]") {
  CHECK(run_in_child(ENOSYS, "not available") == 0);
}

namespace {

corio::task<int> nop() {
  co_return co_await corio::detail::io_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
}

corio::task<std::size_t> successful_nops(std::size_t n) {
  std::vector<corio::task<int>> ops;
  for (std::size_t i = 0; i < n; ++i)
    ops.push_back(nop());
  std::size_t ok = 0;
  for (int res : co_await corio::gather(std::move(ops)))
    ok += res == 0 ? 1 : 0;
  co_return ok;
}

}  // namespace

TEST_CASE("event_loop: completions beyond the CQ ring's size are kept by the kernel and all reaped",
          "[event_loop][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // 20,000 NOPs submitted four at a time before any is reaped: the 4,096-entry
  // completion queue overflows into the kernel's list, which the loop flushes.
  CHECK(corio::run(successful_nops(20'000), corio::loop_options{.queue_depth = 4}) == 20'000);
}
