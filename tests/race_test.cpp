// SPDX-License-Identifier: MIT
#include <corio/race.hpp>

#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/net/tcp.hpp>
#include <corio/queue.hpp>
#include <corio/semaphore.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/testing.hpp>
#include <corio/yield.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

#include "support/bytes_and_fds.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;
using corio_test::ends_in;

// co_await stays outside CHECK(...): Catch's macros expand their argument more than once.
namespace {

struct test_error : std::runtime_error {
  test_error() : std::runtime_error("test_error") {}
};

struct record {
  int cancelled = 0;
};

corio::task<int> value_after(std::chrono::milliseconds d, int v, record* r) {
  try {
    co_await corio::sleep(d);
  } catch (const corio::cancelled_error&) {
    ++r->cancelled;
    throw;
  }
  co_return v;
}

corio::task<int> fail_after(std::chrono::milliseconds d) {
  co_await corio::sleep(d);
  throw test_error();
}

corio::task<bool> first_value_wins(record* r) {
  std::variant<int, int, std::monostate> w =
      co_await corio::race(value_after(1h, 1, r), value_after(1ms, 2, r), corio::sleep(1h));
  co_return w.index() == 1 && std::get<1>(w) == 2 && r->cancelled == 1;
}

corio::task<bool> first_exception_wins(record* r) {
  const bool failed =
      co_await ends_in<test_error>(corio::race(value_after(1h, 1, r), fail_after(1ms)));
  co_return failed && r->cancelled == 1;  // the loser was cancelled and finished first
}

// Every kind of awaitable takes part: an event wait, a queue get, a semaphore
// acquire, a join_handle and a sleep.
corio::task<std::size_t> any_awaitable_races() {
  corio::event e;
  corio::queue<int> q;
  corio::semaphore s(0);
  record unused;
  corio::join_handle<int> h = corio::spawn(value_after(1h, 0, &unused));
  auto w = co_await corio::race(e.wait(), q.get(), s.acquire(), std::move(h), corio::sleep(1ms));
  co_return w.index();
}

// The event's waiter is woken first, then the queue hands 7 to the getter in
// the same turn: the getter loses, and 7 must go back to the front.
corio::task<> set_then_put(corio::event* e, corio::queue<int>* q) {
  co_await corio::yield();  // both children are parked now
  e->set();
  REQUIRE(q->try_put(7));  // handed to the waiting get()
  REQUIRE(q->try_put(8));
}

corio::task<std::vector<int>> losing_get_puts_back() {
  corio::event e;
  corio::queue<int> q;
  corio::join_handle<void> producer = corio::spawn(set_then_put(&e, &q));
  auto w = co_await corio::race(e.wait(), q.get());
  co_await producer;
  std::vector<int> order;
  order.push_back(static_cast<int>(w.index()));
  while (auto item = q.try_get())
    order.push_back(*item);
  co_return order;
}

corio::task<std::pair<std::size_t, int>> over_a_vector(record* r) {
  std::vector<corio::task<int>> ts;
  ts.push_back(value_after(1h, 10, r));
  ts.push_back(value_after(1h, 11, r));
  ts.push_back(value_after(1ms, 12, r));
  co_return co_await corio::race(std::move(ts));
}

corio::task<> race_forever(record* r) {
  (void)co_await corio::race(value_after(1h, 1, r), value_after(1h, 2, r));
}

corio::task<bool> cancel_the_racer(record* r) {
  corio::join_handle<void> h = corio::spawn(race_forever(r));
  co_await corio::sleep(1ms);
  h.cancel();
  const bool cancelled = co_await ends_in<corio::cancelled_error>(h);
  co_return cancelled && r->cancelled == 2;
}

// A connection is queued before each race, so accept() may finish in the
// kernel in the same turn as the yield that wins: whichever wins, no
// descriptor is left once the listener is closed.
corio::task<int> accept_races(corio::net::tcp_listener* listener) {
  int accepted = 0;
  for (int i = 0; i < 50; ++i) {
    corio::net::tcp_stream client =
        co_await corio::net::tcp_stream::connect("127.0.0.1", listener->local_port());
    auto w = co_await corio::race(corio::yield(), listener->accept());
    if (w.index() == 1)
      ++accepted;  // the stream is closed with the variant
  }                // a connection no accept() got stays queued, and closes with the listener
  co_return accepted;
}

}  // namespace

TEST_CASE("race: the first value wins; the losers are cancelled and awaited",
          "[race][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  record r;
  CHECK(corio::run(first_value_wins(&r)));
}

TEST_CASE("race: the first exception wins and is rethrown after the losers finished",
          "[race][io_uring][exceptions][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  record r;
  CHECK(corio::run(first_exception_wins(&r)));
}

TEST_CASE("race: takes an event wait, a queue get, an acquire, a join_handle and a sleep",
          "[race][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(any_awaitable_races()) == 4);
}

TEST_CASE("race: an item a losing q.get() took goes back to the front of the queue",
          "[race][queue][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(losing_get_puts_back()) == std::vector<int>{0, 7, 8});
}

TEST_CASE("race: over a vector gives the winner's index and value", "[race][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  record r;
  CHECK(corio::run(over_a_vector(&r)) == std::pair<std::size_t, int>(2, 12));
  CHECK(r.cancelled == 2);
}

TEST_CASE("race: an empty vector is std::invalid_argument", "[race]") {
  CHECK_THROWS_AS(corio::race(std::vector<corio::task<int>>{}), std::invalid_argument);
}

TEST_CASE("race: cancelling the racer cancels every child, then throws cancelled_error",
          "[race][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  record r;
  // Virtual time: the 1 ms sleep ends only once every other task is parked.
  CHECK(corio::testing::run_virtual(cancel_the_racer(&r)));
}

TEST_CASE("race: a connection a losing accept() got is not leaked", "[race][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t before = corio_test::open_fd_count();
  {
    corio::net::tcp_listener listener = corio::net::tcp_listener::bind("127.0.0.1", 0);
    corio::run(accept_races(&listener));
  }
  CHECK(corio_test::open_fd_count() == before);
}
