// SPDX-License-Identifier: MIT
#include <corio/sleep.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/testing.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using corio_test::caught;
using corio_test::ends_in;

namespace {

template <class Duration>
corio::task<clock_type::duration> timed_sleep(Duration d) {
  const auto start = clock_type::now();
  co_await corio::sleep(d);
  co_return clock_type::now() - start;
}

corio::task<clock_type::time_point> sleep_until_then_now(clock_type::time_point t) {
  co_await corio::sleep_until(t);
  co_return clock_type::now();
}

template <class Duration>
corio::task<> log_steps(std::vector<std::string>* log, std::string name, Duration yield) {
  for (int i = 0; i < 3; ++i) {
    log->push_back(name + std::to_string(i));
    co_await corio::sleep(yield);
  }
}

template <class Duration>
corio::task<> interleave(std::vector<std::string>* log, Duration yield) {
  corio::join_handle<void> a = corio::spawn(log_steps(log, "a", yield));
  corio::join_handle<void> b = corio::spawn(log_steps(log, "b", yield));
  co_await a;
  co_await b;
}

corio::task<> log_past_deadline_steps(std::vector<std::string>* log, std::string name) {
  for (int i = 0; i < 3; ++i) {
    log->push_back(name + std::to_string(i));
    co_await corio::sleep_until(clock_type::now() - 1s);
  }
}

corio::task<> interleave_past_deadlines(std::vector<std::string>* log) {
  corio::join_handle<void> a = corio::spawn(log_past_deadline_steps(log, "a"));
  corio::join_handle<void> b = corio::spawn(log_past_deadline_steps(log, "b"));
  co_await a;
  co_await b;
}

corio::task<> log_after(std::vector<int>* log, int id, clock_type::time_point t) {
  co_await corio::sleep_until(t);
  log->push_back(id);
}

corio::task<> deadline_order(std::vector<int>* log) {
  const auto base = corio::now() + 20s;
  std::vector<corio::task<>> tasks;
  tasks.push_back(log_after(log, 3, base + 20s));
  tasks.push_back(log_after(log, 1, base));
  tasks.push_back(log_after(log, 2, base + 10s));
  tasks.push_back(log_after(log, 10, base + 30s));  // equal deadlines: in no particular order
  tasks.push_back(log_after(log, 10, base + 30s));
  tasks.push_back(log_after(log, 10, base + 30s));
  co_await corio::gather(std::move(tasks));
}

template <class Awaitable>
corio::task<bool> sleeper(Awaitable a) {
  co_return co_await ends_in<corio::cancelled_error>(std::move(a));
}

template <class Awaitable>
corio::task<bool> cancel_sleeper(Awaitable a) {
  corio::join_handle<bool> h = corio::spawn(sleeper(std::move(a)));
  co_await corio::sleep(0ms);
  h.cancel();
  co_return co_await h;
}

corio::task<int> catch_then_sleep_again() {
  const int cancels = co_await ends_in<corio::cancelled_error>(corio::sleep(24h));
  co_await corio::sleep(5ms);  // no longer cancelled: sleeps its full time
  co_return cancels;
}

corio::task<int> cancelled_sleep_leaves_the_heap() {
  corio::join_handle<int> h = corio::spawn(catch_then_sleep_again());
  co_await corio::sleep(0ms);
  h.cancel();
  co_return co_await h;
}

corio::task<bool> yield_then_long_sleep(bool* yielded) {
  co_await corio::sleep(0ms);  // not parked here: a cancellation stays pending
  *yielded = true;
  co_return co_await ends_in<corio::cancelled_error>(corio::sleep(24h));
}

corio::task<bool> pending_cancel_reaches_next_sleep(bool* yielded) {
  corio::join_handle<bool> h = corio::spawn(yield_then_long_sleep(yielded));
  co_await corio::sleep(0ms);  // h is now in its sleep(0), queued behind us
  h.cancel();
  co_return co_await h;
}

corio::task<std::size_t> short_sleep(std::size_t i) {
  co_await corio::sleep(std::chrono::microseconds((i * 7919) % 50'000));
  co_return i;
}

corio::task<std::size_t> many_sleeps(std::size_t n) {
  std::vector<corio::task<std::size_t>> tasks;
  tasks.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    tasks.push_back(short_sleep(i));
  std::size_t sum = 0;
  for (std::size_t v : co_await corio::gather(std::move(tasks)))
    sum += v;
  co_return sum;
}

corio::task<> sleep_as_task() {
  std::vector<corio::task<>> v;
  v.push_back(corio::sleep(1ms));
  v.push_back(corio::sleep_until(clock_type::now()));
  co_await corio::gather(std::move(v));
}

corio::task<> yield_until(const bool* stop, long* yields, long cap) {
  while (!*stop && *yields < cap) {
    ++*yields;
    co_await corio::sleep(0ms);
  }
}

corio::task<long> timer_fires_beside_a_busy_task(long cap) {
  bool stop = false;
  long yields = 0;
  corio::join_handle<void> busy = corio::spawn(yield_until(&stop, &yields, cap));
  co_await corio::sleep(10ms);  // must fire although a task is always ready
  stop = true;
  co_await busy;
  co_return yields;
}

corio::task<std::string> await_one_sleep_twice() {
  auto s = corio::sleep(1ms);
  co_await s;
  const std::optional<std::logic_error> e = co_await caught<std::logic_error>(s);
  co_return e ? e->what() : "";
}

}  // namespace

TEST_CASE("sleep: a task that keeps yielding does not starve a timer",
          "[sleep][io_uring][timing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  constexpr long cap = 50'000'000;
  CHECK(corio::run(timer_fires_beside_a_busy_task(cap)) < cap);
}

TEST_CASE("sleep: suspends the task for at least the duration", "[sleep][io_uring][timing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const auto elapsed = corio::run(timed_sleep(50ms));
  CHECK(elapsed >= 50ms);
  CHECK(elapsed < 50ms + 5s);
  CHECK(corio::run(timed_sleep(std::chrono::duration<double, std::milli>(20.5))) >= 20ms);
}

TEST_CASE("sleep_until: resumes at or after the time point on steady_clock",
          "[sleep][io_uring][timing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const auto target = clock_type::now() + 40ms;
  const auto woke = corio::run(sleep_until_then_now(target));
  CHECK(woke >= target);
  CHECK(woke < target + 5s);
}

TEST_CASE("sleep: sleep(0) yields to the other ready tasks", "[sleep][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<std::string> log;
  corio::run(interleave(&log, 0ms));
  CHECK(log == std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"});
}

TEST_CASE("sleep: a negative duration acts as zero: a yield", "[sleep][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<std::string> log;
  corio::run(interleave(&log, -5s));
  CHECK(log == std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"});
  CHECK(corio::run(timed_sleep(-1h)) < 5s);
  CHECK(corio::run(timed_sleep(std::chrono::nanoseconds::min())) < 5s);
}

TEST_CASE("sleep_until: a time point already passed is a yield", "[sleep][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<std::string> log;
  corio::run(interleave_past_deadlines(&log));
  CHECK(log == std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"});
  const auto woke = corio::run(sleep_until_then_now(clock_type::time_point::min()));
  CHECK(woke <= clock_type::now());
}

TEST_CASE("sleep: timers fire in deadline order", "[sleep][io_uring][timing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::testing::run_virtual(deadline_order(&log));  // a minute of virtual time
  CHECK(log == std::vector<int>{1, 2, 3, 10, 10, 10});
}

TEST_CASE("sleep: huge durations sleep until cancelled", "[sleep][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const auto start = clock_type::now();
  CHECK(corio::run(cancel_sleeper(corio::sleep(std::chrono::hours::max()))));
  CHECK(corio::run(cancel_sleeper(corio::sleep(std::chrono::nanoseconds::max()))));
  CHECK(corio::run(cancel_sleeper(
      corio::sleep(std::chrono::duration<double>(std::numeric_limits<double>::max())))));
  CHECK(corio::run(cancel_sleeper(corio::sleep_until(clock_type::time_point::max()))));
  CHECK(clock_type::now() - start < 5s);
}

TEST_CASE("sleep: a cancelled sleep leaves the timer heap; the task may sleep again",
          "[sleep][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const auto start = clock_type::now();
  CHECK(corio::run(cancelled_sleep_leaves_the_heap()) == 1);
  const auto elapsed = clock_type::now() - start;
  CHECK(elapsed >= 5ms);
  CHECK(elapsed < 5s);  // the cancelled 24h timer did not hold the loop
}

TEST_CASE("sleep: a cancellation made while the task is not parked reaches its next sleep",
          "[sleep][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  bool yielded = false;
  const auto start = clock_type::now();
  CHECK(corio::run(pending_cancel_reaches_next_sleep(&yielded)));
  CHECK(yielded);  // the yield itself was not interrupted
  CHECK(clock_type::now() - start < 5s);
}

TEST_CASE("sleep: converts to task<> where a task is needed", "[sleep][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run(sleep_as_task());
}

TEST_CASE("sleep: a hundred thousand concurrent sleeps all finish in time",
          "[sleep][io_uring][slow][timing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  constexpr std::size_t n = 100'000;
  const auto start = clock_type::now();
  CHECK(corio::run(many_sleeps(n)) == n * (n - 1) / 2);
  const auto elapsed = clock_type::now() - start;
  CHECK(elapsed >= 49ms);  // the longest sleep is just under 50ms
  CHECK(elapsed < 20s);
}

TEST_CASE("sleep: awaiting the same sleep object twice throws std::logic_error",
          "[sleep][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(await_one_sleep_twice()).find("awaited already") != std::string::npos);
}
