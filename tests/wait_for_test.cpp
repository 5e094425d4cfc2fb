// SPDX-License-Identifier: MIT
#include <corio/wait_for.hpp>

#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/queue.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/testing.hpp>
#include <corio/to_thread.hpp>

#include <corio/detail/io_operation.hpp>

#include <liburing.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/backend.hpp"
#include "support/counted.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using corio_test::counted;
using corio_test::ends_in;

namespace {

struct test_error : std::runtime_error {
  test_error() : std::runtime_error("test_error") {}
};

corio::task<int> value_after(int v, std::chrono::milliseconds d) {
  co_await corio::sleep(d);
  co_return v;
}

corio::task<int> value_now(int v) {
  co_return v;
}

corio::task<int> in_time() {
  co_return co_await corio::wait_for(value_after(5, 1ms), 10s);
}

corio::task<int> synchronous_in_time() {
  co_return co_await corio::wait_for(value_now(6), 0ms);
}

struct child_record {
  std::vector<std::string> log;
};

corio::task<int> sleep_long(child_record* r) {
  try {
    co_await corio::sleep(24h);
  } catch (const corio::cancelled_error&) {
    r->log.push_back("child cancelled");
    r->log.push_back("child cleanup");
    throw;
  }
  co_return 0;
}

corio::task<int> times_out(child_record* r) {
  try {
    co_return co_await corio::wait_for(sleep_long(r), 20ms);
  } catch (const corio::timeout_error&) {
    r->log.push_back("timeout_error");
  }
  co_return -1;
}

corio::task<int> catches_cancellation_and_returns() {
  try {
    co_await corio::sleep(24h);
  } catch (const corio::cancelled_error&) {
    co_return 99;
  }
  co_return 0;
}

corio::task<int> throws_own_error() {
  co_await corio::sleep(1ms);
  throw test_error();
}

corio::task<> void_in_time(bool* done) {
  co_await corio::wait_for(corio::detail::as_task(corio::sleep(1ms)), 1h);
  *done = true;
}

corio::task<int> wait_for_in_spawned(child_record* r) {
  try {
    co_return co_await corio::wait_for(sleep_long(r), 24h);
  } catch (const corio::timeout_error&) {
    r->log.push_back("timeout_error");
  } catch (const corio::cancelled_error&) {
    r->log.push_back("caller cancelled");
  }
  co_return -1;
}

corio::task<int> cancel_the_caller(child_record* r) {
  corio::join_handle<int> h = corio::spawn(wait_for_in_spawned(r));
  co_await corio::sleep(0ms);
  h.cancel();
  co_return co_await h;
}

// Leaves of each kind, under wait_for.
corio::task<int> wait_on_event(corio::event* never, child_record* r) {
  try {
    co_await never->wait();
  } catch (const corio::cancelled_error&) {
    r->log.push_back("event wait cancelled");
    throw;
  }
  co_return 0;
}

corio::task<int> read_pipe_forever(int fd, child_record* r) {
  char byte = 0;
  try {
    co_return co_await corio_test::read_byte(fd, &byte);
  } catch (const corio::cancelled_error&) {
    r->log.push_back("read cancelled");
    throw;
  }
}

corio::task<int> timeouts_at_each_leaf(child_record* r) {
  corio::event never;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  int timeouts =
      co_await ends_in<corio::timeout_error>(corio::wait_for(wait_on_event(&never, r), 5ms));
  timeouts +=
      co_await ends_in<corio::timeout_error>(corio::wait_for(read_pipe_forever(fds[0], r), 5ms));
  ::close(fds[0]);
  ::close(fds[1]);
  co_return timeouts;
}

corio::task<int> nested_timeouts(child_record* r) {
  try {
    co_return co_await corio::wait_for(corio::wait_for(sleep_long(r), 1h), 30s);
  } catch (const corio::timeout_error&) {
    co_return 1;
  }
}

corio::task<int> counted_child(counted c) {
  co_await corio::sleep(24h);
  co_return c.id;
}

corio::task<int> counted_timeouts() {
  int timeouts = 0;
  for (int i = 0; i < 5; ++i)
    timeouts +=
        co_await ends_in<corio::timeout_error>(corio::wait_for(counted_child(counted(i)), 10s));
  co_return timeouts;
}

corio::task<bool> empty_task_throws() {
  corio::task<int> t = value_now(1);
  corio::task<int> other = std::move(t);
  const bool threw = co_await ends_in<std::logic_error>(
      corio::wait_for(std::move(t), 1s));  // NOLINT(bugprone-use-after-move)
  co_return threw&& co_await std::move(other) == 1;
}

corio::task<int> wait_for_value_then_sleep(bool* later_sleep_cancelled) {
  const int v = co_await corio::wait_for(catches_cancellation_and_returns(), 24h);
  *later_sleep_cancelled = co_await ends_in<corio::cancelled_error>(corio::sleep(24h));
  co_return v;
}

corio::task<int> cancel_caller_of_swallowing_task(bool* later_sleep_cancelled) {
  corio::join_handle<int> h = corio::spawn(wait_for_value_then_sleep(later_sleep_cancelled));
  co_await corio::sleep(0ms);
  h.cancel();
  co_return co_await h;
}

corio::task<int> started_flag(bool* started, counted c) {
  *started = true;
  co_return c.id;
}

corio::task<bool> pending_cancel_before_wait_for(bool* started) {
  co_await corio::sleep(0ms);  // cancelled here, while not parked
  co_return co_await ends_in<corio::cancelled_error>(
      corio::wait_for(started_flag(started, counted(1)), 1h));
}

corio::task<bool> cancel_while_not_parked(bool* started) {
  corio::join_handle<bool> h = corio::spawn(pending_cancel_before_wait_for(started));
  co_await corio::sleep(0ms);
  h.cancel();
  co_return co_await h;
}

}  // namespace

TEST_CASE(
    "wait_for: a cancelled caller gets the value of a task that swallowed the cancellation; its "
    "next suspension is cancelled",
    "[wait_for][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  bool later_sleep_cancelled = false;
  CHECK(corio::run(cancel_caller_of_swallowing_task(&later_sleep_cancelled)) == 99);
  CHECK(later_sleep_cancelled);
}

TEST_CASE(
    "wait_for: a cancellation pending before wait_for is delivered there; the task never starts",
    "[wait_for][io_uring][cancellation][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  bool started = false;
  CHECK(corio::run(cancel_while_not_parked(&started)));
  CHECK_FALSE(started);
  CHECK(counted::active_count() == 0);
}

TEST_CASE("wait_for: returns the task's value when it finishes in time", "[wait_for][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(in_time()) == 5);
  CHECK(corio::run(synchronous_in_time()) == 6);
  bool done = false;
  corio::run(void_in_time(&done));
  CHECK(done);
}

TEST_CASE("wait_for: throws timeout_error only after the task saw cancelled_error and cleaned up",
          "[wait_for][io_uring][cancellation][timing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  child_record r;
  const auto start = clock_type::now();
  CHECK(corio::run(times_out(&r)) == -1);
  const auto elapsed = clock_type::now() - start;
  CHECK(r.log == std::vector<std::string>{"child cancelled", "child cleanup", "timeout_error"});
  CHECK(elapsed >= 20ms);
  CHECK(elapsed < 20ms + 5s);
}

TEST_CASE("wait_for: a task that catches the cancellation and returns a value yields that value",
          "[wait_for][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(corio::wait_for(catches_cancellation_and_returns(), 5ms)) == 99);
}

TEST_CASE("wait_for: the task's own exception propagates", "[wait_for][io_uring][exceptions]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK_THROWS_AS(corio::run(corio::wait_for(throws_own_error(), 10s)), test_error);
}

TEST_CASE(
    "wait_for: cancelling the caller cancels the task and gives cancelled_error, not timeout_error",
    "[wait_for][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  child_record r;
  CHECK(corio::run(cancel_the_caller(&r)) == -1);
  CHECK(r.log == std::vector<std::string>{"child cancelled", "child cleanup", "caller cancelled"});
}

TEST_CASE("wait_for: times out a task parked on an event or on a pending kernel operation",
          "[wait_for][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  child_record r;
  CHECK(corio::run(timeouts_at_each_leaf(&r)) == 2);
  CHECK(r.log == std::vector<std::string>{"event wait cancelled", "read cancelled"});
}

TEST_CASE("wait_for: the shorter of nested deadlines wins", "[wait_for][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  child_record r;
  CHECK(corio::testing::run_virtual(nested_timeouts(&r)) == 1);
  CHECK(r.log.size() == 2);
}

TEST_CASE("wait_for: timed-out tasks are freed (counted returns to 0)",
          "[wait_for][io_uring][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  CHECK(corio::testing::run_virtual(counted_timeouts()) == 5);  // 50 s of virtual time
  CHECK(counted::active_count() == 0);
}

TEST_CASE("wait_for: an empty (moved-from) task throws std::logic_error",
          "[wait_for][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(empty_task_throws()));
}

namespace {

corio::task<int> value_later(std::chrono::milliseconds d, int v) {
  co_await corio::sleep(d);
  co_return v;
}

corio::task<bool> wait_until_deadlines() {
  const int v = co_await corio::wait_until(
      value_later(1ms, 5), std::chrono::steady_clock::now() + std::chrono::hours(1));
  const bool timed_out = co_await ends_in<corio::timeout_error>(
      corio::wait_until(value_later(std::chrono::hours(1), 6),
                        std::chrono::system_clock::now() + std::chrono::milliseconds(5)));
  corio::queue<int> q;
  const bool get_timed_out = co_await ends_in<corio::timeout_error>(
      corio::wait_until(q.get(), std::chrono::steady_clock::now()));
  co_return v == 5 && timed_out&& get_timed_out;
}

}  // namespace

TEST_CASE("wait_until: a deadline on any clock; any awaitable; a past deadline times out",
          "[wait_for][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(wait_until_deadlines()));
}
