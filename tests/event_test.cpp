// SPDX-License-Identifier: MIT
#include <corio/event.hpp>

#include <corio/event_loop.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/aborts.hpp"
#include "support/destroy_while_waited.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;
using corio_test::ends_in;

// co_await stays outside CHECK(...): Catch's macros expand their argument more than once.
namespace {

corio::task<> wait_and_log(corio::event* ev, std::vector<int>* log, int id) {
  co_await ev->wait();
  log->push_back(id);
}

corio::task<> set_wakes_all_fifo(std::vector<int>* log) {
  corio::event ev;
  std::vector<corio::join_handle<void>> handles;
  for (int i = 0; i < 5; ++i)
    handles.push_back(corio::spawn(wait_and_log(&ev, log, i)));
  co_await corio::sleep(0ms);  // all five are waiting now
  CHECK(log->empty());
  ev.set();
  for (auto& h : handles)
    co_await h;
}

corio::task<std::vector<bool>> flag_states() {
  corio::event ev;
  std::vector<bool> states;
  states.push_back(ev.is_set());
  ev.set();
  states.push_back(ev.is_set());
  co_await ev.wait();  // set: completes at once
  ev.set();            // setting twice is harmless
  states.push_back(ev.is_set());
  ev.clear();
  states.push_back(ev.is_set());
  co_return states;
}

corio::task<> set_later(corio::event* ev, std::vector<std::string>* log) {
  co_await corio::sleep(0ms);
  log->push_back("set");
  ev->set();
}

corio::task<> clear_makes_wait_suspend(std::vector<std::string>* log) {
  corio::event ev;
  ev.set();
  ev.clear();
  corio::join_handle<void> h = corio::spawn(set_later(&ev, log));
  co_await ev.wait();
  log->push_back("woken");
  co_await h;
}

corio::task<bool> wait_catching(corio::event* ev, std::vector<int>* log, int id) {
  const bool cancelled = co_await ends_in<corio::cancelled_error>(ev->wait());
  log->push_back(cancelled ? -id : id);
  co_return !cancelled;
}

corio::task<> cancelled_waiter_leaves(std::vector<int>* log) {
  corio::event ev;
  corio::join_handle<bool> a = corio::spawn(wait_catching(&ev, log, 1));
  corio::join_handle<bool> b = corio::spawn(wait_catching(&ev, log, 2));
  corio::join_handle<bool> c = corio::spawn(wait_catching(&ev, log, 3));
  co_await corio::sleep(0ms);
  b.cancel();
  const auto b_result = co_await b;
  CHECK_FALSE(b_result);
  ev.set();
  const auto a_result = co_await a;
  CHECK(a_result);
  const auto c_result = co_await c;
  CHECK(c_result);
}

corio::task<std::string> set_from_another_thread() {
  corio::event ev;
  std::vector<int> log;
  corio::join_handle<bool> waiter = corio::spawn(wait_catching(&ev, &log, 1));
  co_await corio::sleep(0ms);  // the loop uses the event now
  std::string what;
  std::thread other([&ev, &what] {
    try {
      ev.set();
    } catch (const std::logic_error& e) {
      what = e.what();
    }
  });
  other.join();
  CHECK_FALSE(ev.is_set());
  CHECK(log.empty());  // the misuse woke nobody
  ev.set();
  co_await waiter;
  co_return what;
}

}  // namespace

TEST_CASE("event: set() wakes every waiter, in the order they started waiting",
          "[event][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::run(set_wakes_all_fifo(&log));
  CHECK(log == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("event: is_set() follows set() and clear(); wait() on a set event completes at once",
          "[event][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(flag_states()) == std::vector<bool>{false, true, true, false});
}

TEST_CASE("event: after clear() a wait suspends until the next set()", "[event][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<std::string> log;
  corio::run(clear_makes_wait_suspend(&log));
  CHECK(log == std::vector<std::string>{"set", "woken"});
}

TEST_CASE("event: a cancelled waiter leaves the wait list; the others are still woken",
          "[event][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::run(cancelled_waiter_leaves(&log));
  CHECK(log == std::vector<int>{-2, 1, 3});
}

TEST_CASE("event: can be set before any loop exists", "[event]") {
  corio::event ev;
  ev.set();
  CHECK(ev.is_set());
  ev.clear();
  CHECK_FALSE(ev.is_set());
}

TEST_CASE("event: set() from another thread while the loop uses it throws std::logic_error",
          "[event][io_uring][threads][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(set_from_another_thread(), {.debug = true}).find("corio::event") !=
        std::string::npos);
}

namespace {

corio::task<int> set_then_wait(corio::event* ev, int round) {
  ev->set();
  co_await ev->wait();
  ev->clear();
  co_return round;
}

}  // namespace

TEST_CASE("event: a second run() on the same thread may use it again", "[event][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::event ev;
  CHECK(corio::run(set_then_wait(&ev, 1)) == 1);
  CHECK(corio::run(set_then_wait(&ev, 2)) == 2);
}

TEST_CASE("event: destroying it while a task waits on it aborts with the reason in debug builds",
          "[event][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
#ifdef NDEBUG
  SKIP("a debug-build check");
#else
  const corio_test::abort_result r = corio_test::run_in_child([] {
    corio::run(corio_test::destroy_while_waited<corio::event>(
        [](corio::event& e) -> corio::task<> { co_await e.wait(); }));
  });
  CHECK(r.aborted);
  CHECK(r.err.find(corio_test::destroyed_while_waited_message) != std::string::npos);
#endif
}
