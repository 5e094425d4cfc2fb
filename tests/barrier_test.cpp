// SPDX-License-Identifier: MIT
#include <corio/barrier.hpp>

#include <corio/error.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/aborts.hpp"
#include "support/destroy_while_waited.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;

// co_await stays outside CHECK(...): Catch's macros expand their argument more than once.
namespace {

corio::task<std::size_t> arrive(corio::barrier* b, std::vector<std::string>* log, int id) {
  log->push_back("arrive " + std::to_string(id));
  const std::size_t place = co_await b->wait();
  log->push_back("pass " + std::to_string(id));
  co_return place;
}

corio::task<std::vector<std::size_t>> one_round(std::vector<std::string>* log) {
  corio::barrier b(3);
  CHECK(b.parties() == 3);
  corio::join_handle<std::size_t> first = corio::spawn(arrive(&b, log, 1));
  corio::join_handle<std::size_t> second = corio::spawn(arrive(&b, log, 2));
  co_await corio::sleep(0ms);
  CHECK(b.n_waiting() == 2);
  log->push_back("main");
  const std::size_t last = co_await b.wait();  // completes the round: no suspension
  log->push_back("main passed");
  CHECK(b.n_waiting() == 0);
  std::vector<std::size_t> places;
  places.push_back(co_await first);
  places.push_back(co_await second);
  places.push_back(last);
  co_return places;
}

// Each of `parties` tasks meets the others `rounds` times; nobody may run a
// round ahead of the slowest.
corio::task<> lockstep(corio::barrier* b, int* round_of, int id, int rounds, bool* in_step,
                       std::vector<std::size_t>* places) {
  for (int r = 0; r < rounds; ++r) {
    round_of[id] = r;
    for (int other = 0; other < static_cast<int>(b->parties()); ++other)
      *in_step = *in_step &&
                 (round_of[other] == r || round_of[other] == r - 1 || round_of[other] == r + 1);
    if (id % 2 == 0)
      co_await corio::sleep(0ms);
    places->push_back(co_await b->wait());
  }
}

corio::task<bool> reused_for_many_rounds(std::vector<std::size_t>* places) {
  constexpr int parties = 5;
  corio::barrier b(parties);
  int round_of[parties] = {};
  bool in_step = true;
  std::vector<corio::task<>> tasks;
  for (int id = 0; id < parties; ++id)
    tasks.push_back(lockstep(&b, round_of, id, 20, &in_step, places));
  co_await corio::gather(std::move(tasks));
  co_return in_step;
}

corio::task<std::size_t> wait_catching(corio::barrier* b, std::vector<int>* log, int id) {
  try {
    const std::size_t place = co_await b->wait();
    log->push_back(id);
    co_return place;
  } catch (const corio::cancelled_error&) {
    log->push_back(-id);
    co_return 99;
  }
}

corio::task<std::vector<std::size_t>> cancelled_waiter_leaves_the_round(std::vector<int>* log) {
  corio::barrier b(3);
  corio::join_handle<std::size_t> a = corio::spawn(wait_catching(&b, log, 1));
  corio::join_handle<std::size_t> c = corio::spawn(wait_catching(&b, log, 2));
  co_await corio::sleep(0ms);
  a.cancel();
  const std::size_t a_place = co_await a;
  CHECK(a_place == 99);
  CHECK(b.n_waiting() == 1);  // the round needs two more now
  corio::join_handle<std::size_t> d = corio::spawn(wait_catching(&b, log, 3));
  co_await corio::sleep(0ms);
  CHECK(b.n_waiting() == 2);
  std::vector<std::size_t> places;
  places.push_back(co_await b.wait());
  places.push_back(co_await c);
  places.push_back(co_await d);
  co_return places;
}

corio::task<std::size_t> released_then_cancelled(std::vector<int>* log) {
  // The round completed before the cancellation arrived: the waiter keeps its place.
  corio::barrier b(2);
  corio::join_handle<std::size_t> a = corio::spawn(wait_catching(&b, log, 1));
  co_await corio::sleep(0ms);
  const std::size_t mine = co_await b.wait();
  CHECK(mine == 1);
  a.cancel();
  co_return co_await a;
}

corio::task<std::size_t> pending_cancel_reaches_wait(std::vector<int>* log) {
  corio::barrier b(2);
  corio::join_handle<std::size_t> a = corio::spawn(wait_catching(&b, log, 1));
  a.cancel();  // a has not started: the request waits for its first suspension
  const std::size_t a_place = co_await a;
  co_return a_place + b.n_waiting();
}

corio::task<std::size_t> single_party() {
  corio::barrier b(1);
  const std::size_t first = co_await b.wait();
  const std::size_t second = co_await b.wait();
  co_return first + second;
}

corio::task<std::string> wait_or_broken(corio::barrier* b) {
  try {
    const std::size_t place = co_await b->wait();
    co_return "place " + std::to_string(place);
  } catch (const corio::broken_barrier&) {
    co_return "broken";
  }
}

corio::task<std::vector<std::string>> abort_and_reset() {
  corio::barrier b(3);
  std::vector<std::string> log;
  corio::join_handle<std::string> first = corio::spawn(wait_or_broken(&b));
  corio::join_handle<std::string> second = corio::spawn(wait_or_broken(&b));
  co_await corio::sleep(0ms);
  b.abort();  // both waiting tasks throw
  log.push_back(co_await first);
  log.push_back(co_await second);
  CHECK(b.broken());
  log.push_back(co_await wait_or_broken(&b));  // broken: at once
  b.reset();
  CHECK_FALSE(b.broken());
  corio::join_handle<std::string> third = corio::spawn(wait_or_broken(&b));
  co_await corio::sleep(0ms);
  b.reset();  // a reset while a task waits breaks its round
  log.push_back(co_await third);
  CHECK(b.n_waiting() == 0);
  corio::join_handle<std::string> a = corio::spawn(wait_or_broken(&b));
  corio::join_handle<std::string> c = corio::spawn(wait_or_broken(&b));
  co_await corio::sleep(0ms);
  log.push_back(co_await wait_or_broken(&b));  // a full round works again
  log.push_back(co_await a);
  log.push_back(co_await c);
  co_return log;
}

corio::task<std::string> wait_from_another_thread() {
  corio::barrier b(2);
  std::vector<int> log;
  corio::join_handle<std::size_t> waiter = corio::spawn(wait_catching(&b, &log, 1));
  co_await corio::sleep(0ms);  // the loop uses the barrier now
  std::string what;
  std::thread other([&b, &what] {
    try {
      (void)b.wait().await_ready();
    } catch (const std::logic_error& e) {
      what = e.what();
    }
  });
  other.join();
  CHECK(log.empty());
  CHECK(b.n_waiting() == 1);
  co_await b.wait();
  co_await waiter;
  co_return what;
}

}  // namespace

TEST_CASE("barrier: waiters go on together when the last party arrives, with their places",
          "[barrier][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<std::string> log;
  CHECK(corio::run(one_round(&log)) == std::vector<std::size_t>{0, 1, 2});
  CHECK(log == std::vector<std::string>{"arrive 1", "arrive 2", "main", "main passed", "pass 1",
                                        "pass 2"});
}

TEST_CASE("barrier: is reusable; every round gives each place once", "[barrier][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<std::size_t> places;
  CHECK(corio::run(reused_for_many_rounds(&places)));
  REQUIRE(places.size() == 100);
  std::sort(places.begin(), places.end());
  for (std::size_t i = 0; i < places.size(); ++i)
    CHECK(places[i] == i / 20);
}

TEST_CASE("barrier: one party never waits", "[barrier][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(single_party()) == 0);
}

TEST_CASE("barrier: zero parties is std::invalid_argument", "[barrier]") {
  CHECK_THROWS_AS(corio::barrier(0), std::invalid_argument);
}

TEST_CASE("barrier: a cancelled waiter leaves the round, which then needs one more",
          "[barrier][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  CHECK(corio::run(cancelled_waiter_leaves_the_round(&log)) == std::vector<std::size_t>{2, 0, 1});
  CHECK(log == std::vector<int>{-1, 2, 3});
}

TEST_CASE("barrier: a waiter cancelled after its round completed keeps its place",
          "[barrier][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  CHECK(corio::run(released_then_cancelled(&log)) == 0);
  CHECK(log == std::vector<int>{1});
}

TEST_CASE("barrier: a cancellation requested before wait() is delivered there",
          "[barrier][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  CHECK(corio::run(pending_cancel_reaches_wait(&log)) == 99);
  CHECK(log == std::vector<int>{-1});
}

TEST_CASE("barrier: abort() breaks it and reset() empties it; waiting tasks get broken_barrier",
          "[barrier][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(abort_and_reset()) == std::vector<std::string>{"broken", "broken", "broken",
                                                                  "broken", "place 2", "place 0",
                                                                  "place 1"});
}

TEST_CASE("barrier: wait() from another thread while the loop uses it throws std::logic_error",
          "[barrier][io_uring][threads][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(wait_from_another_thread(), {.debug = true}).find("corio::barrier") !=
        std::string::npos);
}

TEST_CASE("barrier: destroying it while a task waits on it aborts with the reason in debug builds",
          "[barrier][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
#ifdef NDEBUG
  SKIP("a debug-build check");
#else
  const corio_test::abort_result r = corio_test::run_in_child([] {
    std::size_t two = 2;
    corio::run(corio_test::destroy_while_waited<corio::barrier>(
        [](corio::barrier& b) -> corio::task<> { (void)co_await b.wait(); }, two));
  });
  CHECK(r.aborted);
  CHECK(r.err.find(corio_test::destroyed_while_waited_message) != std::string::npos);
#endif
}
