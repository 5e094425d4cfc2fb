// SPDX-License-Identifier: MIT
// The loop against the kernel's edges: io_uring refused by a seccomp filter
// (as container runtimes do), and a completion queue that overflows.
#include <corio/event_loop.hpp>

#include <corio/error.hpp>
#include <corio/gather.hpp>
#include <corio/net/tcp.hpp>
#include <corio/task.hpp>
#include <corio/wait_for.hpp>

#include <corio/detail/io_operation.hpp>

#include "support/backend.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>

#include <catch2/catch_test_macros.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

namespace {

// Makes the system call `nr` fail with `err` in this process from now on.
bool refuse_syscall(long nr, int err) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1),
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
  if (!refuse_syscall(__NR_io_uring_setup, err))
    return 10;
  try {
    corio::event_loop loop(corio::loop_options{.backend = corio::backend::io_uring});
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

// Runs `check` in a forked child with a 20 s alarm (a hang kills it) and
// returns its exit code, or 100 if it died of a signal.
template <class Check>
int run_in_child(Check check) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(20);
    ::_exit(check());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

}  // namespace

TEST_CASE("event_loop: a seccomp EPERM for io_uring_setup throws system_error naming seccomp",
          "[event_loop][io_uring]") {
  if (corio::detail::io_uring_disabled_sysctl() > 0)
    SKIP("kernel.io_uring_disabled is set here");
  CHECK(run_in_child([] { return child_checks_refusal(EPERM, "seccomp"); }) == 0);
}

TEST_CASE("event_loop: an ENOSYS for io_uring_setup throws system_error saying io_uring is missing",
          "[event_loop][io_uring]") {
  CHECK(run_in_child([] { return child_checks_refusal(ENOSYS, "not available"); }) == 0);
}

namespace {

corio::task<int> echo_once() {
  auto listener = corio::net::tcp_listener::bind("127.0.0.1", 0);
  auto client = co_await corio::net::tcp_stream::connect("127.0.0.1", listener.local_port());
  auto server = co_await listener.accept();
  co_await client.write_all("ping");
  std::array<std::byte, 4> got{};
  co_await server.read_exact(got);
  co_return std::memcmp(got.data(), "ping", 4) == 0 ? 0 : 1;
}

// Runs in a child: 0 if, with `nr` refused with `err`, a default loop runs
// on epoll and a TCP round trip works there.
int child_checks_fallback(long nr, int err) {
  ::unsetenv("CORIO_BACKEND");  // the epoll pass sets it; automatic is under test
  if (!refuse_syscall(nr, err))
    return 10;
  try {
    corio::event_loop loop;
    if (loop.backend() != corio::backend::epoll)
      return 11;
    return loop.run_until_complete(echo_once()) == 0 ? 0 : 12;
  } catch (...) {
    return 14;
  }
}

}  // namespace

TEST_CASE("event_loop: automatic falls back to epoll when seccomp refuses io_uring_setup (EPERM)",
          "[event_loop][backend]") {
  CHECK(run_in_child([] { return child_checks_fallback(__NR_io_uring_setup, EPERM); }) == 0);
}

TEST_CASE("event_loop: automatic falls back to epoll when io_uring_setup is missing (ENOSYS)",
          "[event_loop][backend]") {
  CHECK(run_in_child([] { return child_checks_fallback(__NR_io_uring_setup, ENOSYS); }) == 0);
}

TEST_CASE("event_loop: automatic falls back to epoll when io_uring_enter is refused after setup",
          "[event_loop][backend]") {
  CHECK(run_in_child([] { return child_checks_fallback(__NR_io_uring_enter, EPERM); }) == 0);
}

TEST_CASE("event_loop: an EMFILE from io_uring_setup does not fall back to epoll",
          "[event_loop][backend]") {
  CHECK(run_in_child([] {
          ::unsetenv("CORIO_BACKEND");  // the epoll pass sets it; automatic is under test
          if (!refuse_syscall(__NR_io_uring_setup, EMFILE))
            return 10;
          try {
            corio::event_loop loop;
            return 11;
          } catch (const std::system_error& e) {
            return e.code().value() == EMFILE ? 0 : 12;
          }
        }) == 0);
}

namespace {

corio::task<int> one_nop() {
  co_return co_await corio::detail::io_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
}

// Runs in a child: 0 if run() ends with system_error(EPERM) naming
// io_uring_enter once the ring is set up but io_uring_enter is refused.
int child_checks_enter_refusal(unsigned queue_depth) {
  if (!refuse_syscall(__NR_io_uring_enter, EPERM))
    return 10;
  try {
    std::vector<corio::task<int>> ops;
    for (unsigned i = 0; i < 4 * queue_depth; ++i)  // more than the SQ holds
      ops.push_back(one_nop());
    corio::run(
        corio::gather(std::move(ops)),
        corio::loop_options{.queue_depth = queue_depth, .backend = corio::backend::io_uring});
    return 11;
  } catch (const std::system_error& e) {
    if (e.code() != std::error_code(EPERM, std::system_category()))
      return 12;
    if (std::string(e.what()).find("io_uring_enter") == std::string::npos)
      return 13;
    return 0;
  } catch (...) {
    return 14;
  }
}

}  // namespace

TEST_CASE("event_loop: io_uring_enter refused after setup ends run() with system_error",
          "[event_loop][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // A seccomp profile that allows io_uring_setup but not io_uring_enter: the
  // loop once busy-looped on the failing submit; now run() throws, whether
  // the refusal comes from a full SQ (get_sqe) or from the loop's own wait.
  CHECK(run_in_child([] { return child_checks_enter_refusal(4); }) == 0);
  CHECK(run_in_child([] { return child_checks_enter_refusal(256); }) == 0);
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
  CORIO_TEST_IO_URING_ONLY("NOPs and the submission and completion rings");
  // 20,000 NOPs submitted four at a time before any is reaped: the 4,096-entry
  // completion queue overflows into the kernel's list, which the loop flushes.
  CHECK(corio::run(successful_nops(20'000), corio::loop_options{.queue_depth = 4}) == 20'000);
}

namespace {

// Reads a pipe nobody writes to, under a 20 ms timeout.
corio::task<int> timed_out_read(int fd) {
  std::byte b{};
  const bool timed_out = co_await corio_test::ends_in<corio::timeout_error>(corio::wait_for(
      [](int fd, std::byte* b) -> corio::task<int> {
        co_return co_await corio::detail::io_op(
            [fd, b](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, b, 1, 0); });
      }(fd, &b),
      std::chrono::milliseconds(20)));
  co_return timed_out ? 1 : 0;
}

corio::task<int> timed_out_reads(int fd, int n) {
  std::vector<corio::task<int>> reads;
  for (int i = 0; i < n; ++i)
    reads.push_back(timed_out_read(fd));
  int timeouts = 0;
  for (int r : co_await corio::gather(std::move(reads)))
    timeouts += r;
  co_return timeouts;
}

}  // namespace

TEST_CASE("event_loop: cancels sent while the submission queue is full all complete",
          "[event_loop][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY("NOPs and the submission and completion rings");
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  // queue_depth 1: each cancel callback finds the SQ full, so get_sqe submits
  // and reaps inside it; the handlers it runs must only schedule.
  const int timeouts =
      corio::run(timed_out_reads(fds[0], 200), corio::loop_options{.queue_depth = 1});
  CHECK(timeouts == 200);
  ::close(fds[0]);
  ::close(fds[1]);
}
