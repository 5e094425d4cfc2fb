// SPDX-License-Identifier: MIT
// corio/testing.hpp: testing::run_virtual, run() on a virtual clock.
#pragma once

#include <corio/event_loop.hpp>
#include <corio/source_location.hpp>
#include <corio/task.hpp>

#include <corio/detail/loop_core.hpp>

#include <utility>

namespace corio::testing {

/// Runs `main` as run() does, on a loop whose clock is virtual (Trio's
/// autojump clock, tokio's paused time): whenever every task waits on timers
/// alone, the clock jumps to the next deadline, so `sleep(1h)` returns at
/// once in wall time, and a timeout test gives the same timestamps on every
/// run. corio::now(), sleep, sleep_until, wait_for and the HTTP timeouts read
/// this clock; it starts at the real steady_clock::now().
///
/// I/O in flight and running to_thread calls hold the clock: while one is
/// pending, it advances only at the real clock's pace, so a deadline cannot
/// pass before a reply that arrives in time.
///
/// Throws: as run().
/// Example (Catch2):
///   TEST_CASE("fetch gives up after 30 s") {
///     corio::testing::run_virtual([]() -> corio::task<> {
///       const auto start = corio::now();
///       bool timed_out = false;
///       try { co_await corio::wait_for(corio::sleep(1h), 30s); }
///       catch (const corio::timeout_error&) { timed_out = true; }
///       CHECK(timed_out);
///       CHECK(corio::now() - start == 30s);
///     }());
///   }
template <class T>
T run_virtual(task<T> main, loop_options options = {},
              source_location where = source_location::current()) {
  event_loop loop(options);
  detail::loop_access::core(loop).use_virtual_time();
  return loop.run_until_complete(std::move(main), where);
}

}  // namespace corio::testing
