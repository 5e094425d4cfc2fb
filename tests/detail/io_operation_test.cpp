// SPDX-License-Identifier: MIT
#include <corio/detail/io_operation.hpp>

#include <corio/event_loop.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <liburing.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>

#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "support/backend.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;
using corio_test::ends_in;

namespace {

class pipe_fds {
 public:
  pipe_fds() { REQUIRE(::pipe(fds_) == 0); }
  ~pipe_fds() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  pipe_fds(const pipe_fds&) = delete;
  pipe_fds& operator=(const pipe_fds&) = delete;
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }

 private:
  int fds_[2];
};

corio::task<int> nop() {
  co_return co_await corio::detail::io_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
}

corio::task<int> kernel_timeout(std::chrono::milliseconds d) {
  __kernel_timespec ts{};
  ts.tv_sec = d.count() / 1000;
  ts.tv_nsec = (d.count() % 1000) * 1'000'000;
  co_return co_await corio::detail::io_op(
      [&ts](io_uring_sqe* sqe) { io_uring_prep_timeout(sqe, &ts, 0, 0); });
}

corio::task<std::string> read_pipe(int fd, std::vector<std::string>* log) {
  char buffer[16] = {};
  try {
    const int n = co_await corio::detail::io_op([fd, &buffer](io_uring_sqe* sqe) {
      io_uring_prep_read(sqe, fd, buffer, sizeof buffer, 0);
    });
    co_return std::string(buffer, static_cast<std::size_t>(n));
  } catch (const corio::cancelled_error&) {
    log->push_back("read cancelled");
    throw;
  }
}

corio::task<std::string> read_after_write(const pipe_fds* p) {
  std::vector<std::string> log;
  REQUIRE(::write(p->write_end(), "hello", 5) == 5);
  co_return co_await read_pipe(p->read_end(), &log);
}

corio::task<int> kernel_timeout_catching(std::chrono::milliseconds d,
                                         std::vector<std::string>* log) {
  try {
    co_return co_await kernel_timeout(d);
  } catch (const corio::cancelled_error&) {
    log->push_back("timeout cancelled");
    throw;
  }
}

corio::task<bool> cancel_pending_ops(const pipe_fds* p, std::vector<std::string>* log) {
  corio::join_handle<std::string> reader = corio::spawn(read_pipe(p->read_end(), log));
  corio::join_handle<int> timer = corio::spawn(kernel_timeout_catching(24h, log));
  co_await corio::sleep(0ms);
  co_await nop();  // both are in the kernel now
  reader.cancel();
  timer.cancel();
  const bool reader_cancelled = co_await ends_in<corio::cancelled_error>(reader);
  const bool timer_cancelled = co_await ends_in<corio::cancelled_error>(timer);
  co_return reader_cancelled&& timer_cancelled;
}

corio::task<int> nop_then_sleep(bool* sleep_cancelled) {
  const int res = co_await nop();
  *sleep_cancelled = co_await ends_in<corio::cancelled_error>(corio::sleep(24h));
  co_return res;
}

// The NOP and the cancel request go to the kernel in one submission, in that
// order; the NOP completes as it is issued, so the cancel finds nothing
// (-ENOENT): the operation keeps its result, and the cancellation waits for
// the task's next suspension point.
corio::task<int> cancel_loses_the_race(bool* sleep_cancelled) {
  corio::join_handle<int> h = corio::spawn(nop_then_sleep(sleep_cancelled));
  co_await corio::sleep(0ms);  // h queues its NOP during this turn, before we go on
  h.cancel();
  co_return co_await h;
}

corio::task<bool> pending_cancel_submits_nothing(bool* submitted) {
  co_await corio::sleep(0ms);  // cancelled while not parked
  co_return co_await ends_in<corio::cancelled_error>(
      corio::detail::io_op([submitted](io_uring_sqe* sqe) {
        *submitted = true;
        io_uring_prep_nop(sqe);
      }));
}

corio::task<bool> cancel_before_submission(bool* submitted) {
  corio::join_handle<bool> h = corio::spawn(pending_cancel_submits_nothing(submitted));
  co_await corio::sleep(0ms);
  h.cancel();
  co_return co_await h;
}

corio::task<> leave_read_pending(int fd, std::vector<std::string>* log) {
  corio::spawn(read_pipe(fd, log));
  co_await corio::sleep(0ms);
  co_await nop();
}

}  // namespace

TEST_CASE("io_op: yields the completion's res", "[io_operation][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY("raw io_uring operations (io_op)");
  CHECK(corio::run(nop()) == 0);
  pipe_fds p;
  CHECK(corio::run(read_after_write(&p)) == "hello");
}

TEST_CASE("io_op: a negative res is returned as -errno, not thrown", "[io_operation][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY("raw io_uring operations (io_op)");
  CHECK(corio::run(kernel_timeout(1ms)) == -ETIME);
}

TEST_CASE(
    "io_op: cancelling a pending kernel operation sends IORING_OP_ASYNC_CANCEL and throws "
    "cancelled_error",
    "[io_operation][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY("raw io_uring operations (io_op)");
  pipe_fds p;
  std::vector<std::string> log;
  const auto start = std::chrono::steady_clock::now();
  CHECK(corio::run(cancel_pending_ops(&p, &log)));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(log == std::vector<std::string>{"read cancelled", "timeout cancelled"});
}

TEST_CASE(
    "io_op: an operation that completes before its cancel keeps its result; the cancellation stays "
    "pending",
    "[io_operation][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY("raw io_uring operations (io_op)");
  bool sleep_cancelled = false;
  CHECK(corio::run(cancel_loses_the_race(&sleep_cancelled)) == 0);
  CHECK(sleep_cancelled);
}

TEST_CASE("io_op: a cancellation pending before the operation submits nothing",
          "[io_operation][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY("raw io_uring operations (io_op)");
  bool submitted = false;
  CHECK(corio::run(cancel_before_submission(&submitted)));
  CHECK_FALSE(submitted);
}

TEST_CASE("io_op: an operation still pending when run() ends is cancelled in the kernel first",
          "[io_operation][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY("raw io_uring operations (io_op)");
  pipe_fds p;
  std::vector<std::string> log;
  corio::run(leave_read_pending(p.read_end(), &log));
  CHECK(log == std::vector<std::string>{"read cancelled"});
}
