// SPDX-License-Identifier: MIT
#include <corio/testing.hpp>

#include <corio/error.hpp>
#include <corio/gather.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>
#include <corio/wait_for.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <thread>
#include <vector>

#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

corio::task<> record_after(clock_type::duration d, clock_type::time_point start,
                           std::vector<clock_type::duration>& out) {
  co_await corio::sleep(d);
  out.push_back(corio::now() - start);
}

corio::task<std::vector<clock_type::duration>> timeline() {
  std::vector<clock_type::duration> out;
  const auto start = corio::now();
  co_await corio::gather(record_after(3s, start, out), record_after(1500ms, start, out),
                         record_after(1h, start, out));
  co_await corio::sleep_until(start + 2h);
  out.push_back(corio::now() - start);
  co_return out;
}

}  // namespace

TEST_CASE("run_virtual: a 30-second timeout fires at exactly 30 s, in milliseconds of wall time",
          "[testing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const auto wall = clock_type::now();
  const auto elapsed = corio::testing::run_virtual([]() -> corio::task<clock_type::duration> {
    const auto start = corio::now();
    const bool timed_out =
        co_await corio_test::ends_in<corio::timeout_error>(corio::wait_for(corio::sleep(1h), 30s));
    CHECK(timed_out);
    co_return corio::now() - start;
  }());
  CHECK(elapsed == 30s);
  CHECK(clock_type::now() - wall < 5s);
}

TEST_CASE("run_virtual: timestamps are exact and the same on every run", "[testing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::vector<clock_type::duration> expected{1500ms, 3s, 1h, 2h};
  for (int run = 0; run < 3; ++run)
    CHECK(corio::testing::run_virtual(timeline()) == expected);
}

TEST_CASE("run_virtual: a running to_thread call holds the clock", "[testing][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const auto [during, after] =
      corio::testing::run_virtual([]() -> corio::task<std::pair<clock_type::duration, bool>> {
        const auto start = corio::now();
        auto sleeper = corio::spawn(corio::task<>(corio::sleep(10s)));
        co_await corio::to_thread([] { std::this_thread::sleep_for(50ms); });
        const auto during_call = corio::now() - start;
        co_await sleeper;
        co_return std::pair{during_call, corio::now() - start == 10s};
      }());
  CHECK(during >= 50ms);  // the clock ran at the real pace while the call ran
  CHECK(during < 10s);    // and did not jump to the sleeper's deadline
  CHECK(after);
}

TEST_CASE("run_virtual: run() afterwards is on the real clock again", "[testing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::testing::run_virtual(corio::task<>(corio::sleep(1h)));
  const auto wall = clock_type::now();
  corio::run(corio::task<>(corio::sleep(20ms)));
  CHECK(clock_type::now() - wall >= 20ms);
  CHECK(corio::now() - clock_type::now() < 1s);  // no loop: the real clock
}
