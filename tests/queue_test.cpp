// SPDX-License-Identifier: MIT
#include <corio/queue.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/counted.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;
using corio_test::counted;

// co_await stays outside CHECK(...): Catch's macros expand their argument more than once.
namespace {

corio::task<std::vector<int>> fifo_unbounded() {
  corio::queue<int> q;
  for (int i = 0; i < 100; ++i)
    co_await q.put(i);  // never waits
  CHECK(q.size() == 100);
  CHECK_FALSE(q.full());
  std::vector<int> out;
  while (!q.empty())
    out.push_back(co_await q.get());
  co_return out;
}

corio::task<> producer(corio::queue<int>* q, std::vector<std::string>* log, int n) {
  for (int i = 0; i < n; ++i) {
    co_await q->put(i);
    log->push_back("put " + std::to_string(i));
  }
}

corio::task<> bounded_put_waits(std::vector<std::string>* log) {
  corio::queue<int> q(2);
  corio::join_handle<void> h = corio::spawn(producer(&q, log, 4));
  co_await corio::sleep(0ms);  // the producer fills the queue and waits on the third put
  CHECK(q.full());
  CHECK(q.size() == 2);
  log->push_back("get " + std::to_string(co_await q.get()));  // lets the third item in
  CHECK(q.size() == 2);
  co_await corio::sleep(0ms);
  for (int i = 0; i < 3; ++i)
    log->push_back("get " + std::to_string(co_await q.get()));
  co_await h;
}

corio::task<> consumer(corio::queue<int>* q, std::vector<int>* log, int n) {
  for (int i = 0; i < n; ++i)
    log->push_back(co_await q->get());
}

corio::task<> get_waits_when_empty(std::vector<int>* log) {
  corio::queue<int> q;
  corio::join_handle<void> h = corio::spawn(consumer(&q, log, 2));
  co_await corio::sleep(0ms);
  CHECK(log->empty());
  co_await q.put(10);  // handed straight to the waiting getter
  CHECK(q.empty());
  co_await q.put(11);  // the getter has not asked again yet: stored
  CHECK(q.size() == 1);
  co_await h;
}

corio::task<> getter_fifo(std::vector<int>* log) {
  corio::queue<int> q;
  std::vector<corio::join_handle<void>> handles;
  for (int i = 0; i < 3; ++i)
    handles.push_back(corio::spawn(consumer(&q, log, 1)));
  co_await corio::sleep(0ms);
  for (int i = 0; i < 3; ++i)
    CHECK(q.try_put(100 + i));
  for (auto& h : handles)
    co_await h;
}

corio::task<> put_logging(corio::queue<int>* q, std::vector<int>* log, int v) {
  co_await q->put(v);
  log->push_back(v);
}

corio::task<std::vector<int>> putter_fifo(std::vector<int>* put_log) {
  corio::queue<int> q(1);
  CHECK(q.try_put(0));
  std::vector<corio::join_handle<void>> handles;
  for (int i = 1; i <= 3; ++i)
    handles.push_back(corio::spawn(put_logging(&q, put_log, i)));
  co_await corio::sleep(0ms);
  std::vector<int> got;
  for (int i = 0; i < 4; ++i)
    got.push_back(co_await q.get());
  for (auto& h : handles)
    co_await h;
  co_return got;
}

corio::task<std::vector<int>> try_operations() {
  corio::queue<int> q(2);
  std::vector<int> out;
  CHECK(q.maxsize() == 2);
  CHECK_FALSE(q.try_get().has_value());
  CHECK(q.try_put(1));
  CHECK(q.try_put(2));
  CHECK_FALSE(q.try_put(3));  // full
  CHECK(q.size() == 2);
  CHECK(q.full());
  std::optional<int> a = q.try_get();
  REQUIRE(a.has_value());
  out.push_back(*a);
  CHECK(q.try_put(4));
  out.push_back(co_await q.get());
  out.push_back(*q.try_get());
  CHECK(q.empty());
  co_return out;
}

corio::task<int> get_catching(corio::queue<int>* q, std::vector<int>* log, int id) {
  try {
    const int v = co_await q->get();
    log->push_back(v);
    co_return v;
  } catch (const corio::cancelled_error&) {
    log->push_back(-id);
    co_return -1;
  }
}

corio::task<> cancelled_getter_loses_nothing(std::vector<int>* log) {
  corio::queue<int> q;
  corio::join_handle<int> a = corio::spawn(get_catching(&q, log, 1));
  corio::join_handle<int> b = corio::spawn(get_catching(&q, log, 2));
  co_await corio::sleep(0ms);
  a.cancel();
  const auto a_result = co_await a;
  CHECK(a_result == -1);
  co_await q.put(7);  // goes to b, not to the cancelled a
  const auto b_result = co_await b;
  CHECK(b_result == 7);
  CHECK(q.empty());
}

corio::task<> cancelled_after_handoff(std::vector<int>* log) {
  // The item was handed over before the cancellation arrived: the getter keeps it.
  corio::queue<int> q;
  corio::join_handle<int> a = corio::spawn(get_catching(&q, log, 1));
  co_await corio::sleep(0ms);
  CHECK(q.try_put(5));
  a.cancel();
  const auto a_result = co_await a;
  CHECK(a_result == 5);
}

corio::task<bool> put_catching(corio::queue<int>* q, int v) {
  try {
    co_await q->put(v);
  } catch (const corio::cancelled_error&) {
    co_return false;
  }
  co_return true;
}

corio::task<std::vector<int>> cancelled_putter_adds_nothing() {
  corio::queue<int> q(1);
  CHECK(q.try_put(1));
  corio::join_handle<bool> a = corio::spawn(put_catching(&q, 2));
  corio::join_handle<bool> b = corio::spawn(put_catching(&q, 3));
  co_await corio::sleep(0ms);
  a.cancel();
  const auto a_result = co_await a;
  CHECK_FALSE(a_result);
  std::vector<int> got;
  got.push_back(co_await q.get());  // lets b's item in
  got.push_back(co_await q.get());
  const auto b_result = co_await b;
  CHECK(b_result);
  CHECK(q.empty());
  co_return got;
}

corio::task<std::unique_ptr<int>> move_only_items() {
  corio::queue<std::unique_ptr<int>> q(1);
  co_await q.put(std::make_unique<int>(1));
  CHECK_FALSE(q.try_put(std::make_unique<int>(2)));
  std::unique_ptr<int> first = co_await q.get();
  CHECK(*first == 1);
  CHECK(q.try_put(std::make_unique<int>(3)));
  co_return co_await q.get();
}

corio::task<> produce_counted(corio::queue<counted>* q, int from, int n) {
  for (int i = from; i < from + n; ++i)
    co_await q->put(counted(i));
}

corio::task<long> consume_counted(corio::queue<counted>* q, int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i)
    sum += (co_await q->get()).id;
  co_return sum;
}

corio::task<long> many_producers_and_consumers() {
  corio::queue<counted> q(8);
  std::vector<corio::task<>> producers;
  for (int p = 0; p < 10; ++p)
    producers.push_back(produce_counted(&q, p * 1000, 1000));
  std::vector<corio::task<long>> consumers;
  for (int c = 0; c < 5; ++c)
    consumers.push_back(consume_counted(&q, 2000));
  auto [unused, sums] = co_await corio::gather(corio::gather(std::move(producers)),
                                               corio::gather(std::move(consumers)));
  (void)unused;
  long total = 0;
  for (long s : sums)
    total += s;
  CHECK(q.empty());
  co_return total;
}

corio::task<> put_one(corio::queue<counted>* q, int id) {
  co_await q->put(counted(id));
}

// Leaves items in the queue and a putter parked on it when run() ends.
corio::task<> leave_items_in_queue(corio::queue<counted>* q) {
  for (int i = 0; i < 3; ++i)
    co_await q->put(counted(i));
  corio::spawn(put_one(q, 99));
  co_await corio::sleep(0ms);
}

corio::task<int> get_or_minus_one(corio::queue<int>* q) {
  try {
    co_return co_await q->get();
  } catch (const corio::cancelled_error&) {
    co_return -1;
  }
}

// A thousand getters; every other one is cancelled; 500 items go, in order,
// to exactly the getters left.
corio::task<bool> cancel_half_of_the_getters() {
  corio::queue<int> q;
  std::vector<corio::join_handle<int>> handles;
  for (int i = 0; i < 1000; ++i)
    handles.push_back(corio::spawn(get_or_minus_one(&q)));
  co_await corio::sleep(0ms);
  for (std::size_t i = 0; i < handles.size(); i += 2)
    handles[i].cancel();
  for (int i = 0; i < 500; ++i)
    co_await q.put(i);
  bool exact = true;
  for (std::size_t i = 0; i < handles.size(); ++i) {
    const int v = co_await handles[i];
    exact = exact && v == (i % 2 == 0 ? -1 : static_cast<int>(i / 2));
  }
  co_return exact&& q.empty();
}

#ifndef NDEBUG
corio::task<std::string> try_put_from_another_thread() {
  corio::queue<int> q;
  std::vector<int> log;
  corio::join_handle<int> getter = corio::spawn(get_catching(&q, &log, 1));
  co_await corio::sleep(0ms);  // the loop uses the queue now
  std::string what;
  std::thread other([&q, &what] {
    try {
      q.try_put(1);
    } catch (const std::logic_error& e) {
      what = e.what();
    }
  });
  other.join();
  CHECK(log.empty());  // nothing was handed over
  CHECK(q.try_put(2));
  const auto getter_result = co_await getter;
  CHECK(getter_result == 2);
  co_return what;
}
#endif

}  // namespace

TEST_CASE("queue: an unbounded queue is FIFO and never makes put() wait", "[queue][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> expected;
  for (int i = 0; i < 100; ++i)
    expected.push_back(i);
  CHECK(corio::run(fifo_unbounded()) == expected);
}

TEST_CASE("queue: put() waits while a bounded queue is full", "[queue][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<std::string> log;
  corio::run(bounded_put_waits(&log));
  CHECK(log == std::vector<std::string>{"put 0", "put 1", "get 0", "put 2", "get 1", "get 2",
                                        "get 3", "put 3"});
}

TEST_CASE("queue: get() waits while the queue is empty; a put goes straight to the waiting getter",
          "[queue][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::run(get_waits_when_empty(&log));
  CHECK(log == std::vector<int>{10, 11});
}

TEST_CASE("queue: waiting getters are served in arrival order", "[queue][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::run(getter_fifo(&log));
  CHECK(log == std::vector<int>{100, 101, 102});
}

TEST_CASE("queue: waiting putters are served in arrival order", "[queue][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> put_log;
  CHECK(corio::run(putter_fifo(&put_log)) == std::vector<int>{0, 1, 2, 3});
  CHECK(put_log == std::vector<int>{1, 2, 3});
}

TEST_CASE("queue: try_put, try_get, size, empty and full never wait", "[queue][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(try_operations()) == std::vector<int>{1, 2, 4});
}

TEST_CASE("queue: carries move-only items (std::unique_ptr)", "[queue][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::unique_ptr<int> p = corio::run(move_only_items());
  REQUIRE(p != nullptr);
  CHECK(*p == 3);
}

TEST_CASE("queue: a cancelled getter leaves the wait list; the next put goes to the next getter",
          "[queue][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::run(cancelled_getter_loses_nothing(&log));
  CHECK(log == std::vector<int>{-1, 7});
}

TEST_CASE("queue: a getter cancelled after an item was handed to it keeps the item",
          "[queue][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::run(cancelled_after_handoff(&log));
  CHECK(log == std::vector<int>{5});
}

TEST_CASE("queue: a cancelled putter's item is not added", "[queue][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(cancelled_putter_adds_nothing()) == std::vector<int>{1, 3});
}

TEST_CASE("queue: many producers and consumers pass every item exactly once, and free them",
          "[queue][io_uring][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  CHECK(corio::run(many_producers_and_consumers()) == 10'000L * 9'999 / 2);
  CHECK(counted::active_count() == 0);
  {
    corio::queue<counted> q(3);
    corio::run(leave_items_in_queue(&q));
    CHECK(q.size() == 3);  // the parked putter was cancelled at shutdown, its item dropped
    CHECK(counted::active_count() == 3);
  }
  CHECK(counted::active_count() == 0);
}

TEST_CASE("queue: cancelling half of a thousand getters loses no item and keeps the order",
          "[queue][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(cancel_half_of_the_getters()));
}

#ifndef NDEBUG
TEST_CASE("queue: try_put() from another thread while the loop uses it throws std::logic_error",
          "[queue][io_uring][threads][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(try_put_from_another_thread()).find("corio::queue") != std::string::npos);
}
#endif
