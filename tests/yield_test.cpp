// SPDX-License-Identifier: MIT
#include <corio/yield.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/net/unix.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

namespace {

corio::task<> log_steps(std::vector<std::string>* log, std::string name) {
  for (int i = 0; i < 3; ++i) {
    log->push_back(name + std::to_string(i));
    co_await corio::yield();
  }
}

corio::task<> interleave(std::vector<std::string>* log) {
  corio::join_handle<void> a = corio::spawn(log_steps(log, "a"));
  corio::join_handle<void> b = corio::spawn(log_steps(log, "b"));
  corio::join_handle<void> c = corio::spawn(log_steps(log, "c"));
  co_await a;
  co_await b;
  co_await c;
}

corio::task<int> yield_then_yield(int* steps) {
  co_await corio::yield();  // queued, not parked: a cancellation now stays pending
  ++*steps;
  // Into a variable: g++ 12 deadlocks this test with the co_await in the if.
  const bool cancelled = co_await corio_test::ends_in<corio::cancelled_error>(corio::yield());
  if (cancelled)
    co_return 1;
  ++*steps;
  co_return 0;
}

corio::task<int> pending_cancel_reaches_next_yield(int* steps) {
  corio::join_handle<int> h = corio::spawn(yield_then_yield(steps));
  co_await corio::yield();  // h is now in its first yield, queued behind us
  h.cancel();
  co_return co_await h;
}

corio::task<> yields_as_tasks() {
  std::vector<corio::task<>> v;
  v.push_back(corio::yield());
  v.push_back(corio::yield());
  co_await corio::gather(std::move(v));
}

// One task yields until a read of a socket, started by another task, has
// completed: the loop must reap the read's completion while tasks stay
// ready. Returns how many yields that took.
corio::task<long> yield_until_read_completes() {
  auto [a, b] = corio::net::unix_stream::pair();
  bool done = false;
  auto reader = [](corio::net::unix_stream& s, bool* done) -> corio::task<> {
    std::array<std::byte, 1> one;
    co_await s.read_exact(one);
    *done = true;
  };
  corio::join_handle<void> h = corio::spawn(reader(b, &done));
  co_await corio::yield();  // the reader now waits for the kernel
  co_await a.write_all("x");
  long yields = 0;
  while (!done && yields < 100'000'000) {
    co_await corio::yield();
    ++yields;
  }
  co_await h;
  co_return yields;
}

}  // namespace

TEST_CASE("yield: a task that yields in a loop does not starve I/O", "[yield][io_uring]") {
  const long yields = corio::run(yield_until_read_completes());
  // Completions are reaped every few dozen resumed steps (loop_core's
  // poll_interval); the bound leaves room for a slow kernel.
  CHECK(yields < 1'000'000);
}

TEST_CASE("yield: lets every other ready task run once, in FIFO order", "[yield][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<std::string> log;
  corio::run(interleave(&log));
  CHECK(log == std::vector<std::string>{"a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"});
}

TEST_CASE("yield: a cancellation made while the task waits in the queue reaches its next yield",
          "[yield][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  int steps = 0;
  const int cancelled = corio::run(pending_cancel_reaches_next_yield(&steps));
  CHECK(cancelled == 1);
  CHECK(steps == 1);  // the first yield completed; the second threw
}

TEST_CASE("yield: converts to task<> where a task is needed", "[yield][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run(yields_as_tasks());
}
