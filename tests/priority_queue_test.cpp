// SPDX-License-Identifier: MIT
#include <corio/priority_queue.hpp>

#include <corio/event_loop.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;

// join(), task_done(), shutdown() and the cancellation of a hand-off are
// tested for both queue kinds in queue_test.cpp.
namespace {

template <class Q>
corio::task<std::vector<int>> drain(std::vector<int> in) {
  Q q;
  for (int v : in)
    co_await q.put(v);
  std::vector<int> out;
  while (!q.empty())
    out.push_back(co_await q.get());
  co_return out;
}

corio::task<std::vector<std::string>> pairs_by_priority() {
  corio::priority_queue<std::pair<int, std::string>> jobs;
  co_await jobs.put({2, "later"});
  co_await jobs.put({1, "first"});
  co_await jobs.put({3, "last"});
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i)
    names.push_back((co_await jobs.get()).second);
  co_return names;
}

// Not an aggregate: g++ 12 destroys an aggregate temporary twice inside a co_await expression.
struct job {
  job(int p, int value) : priority(p), payload(std::make_unique<int>(value)) {}
  int priority;
  std::unique_ptr<int> payload;
};
struct by_priority {
  bool operator()(const job& a, const job& b) const { return a.priority < b.priority; }
};

corio::task<std::vector<int>> move_only_items() {
  corio::priority_queue<job, by_priority> q(2);
  co_await q.put(job(5, 50));
  co_await q.put(job(1, 10));
  CHECK(q.full());
  CHECK_FALSE(q.try_put(job(0, 0)));
  std::vector<int> out;
  out.push_back(*(co_await q.get()).payload);
  CHECK(q.try_put(job(3, 30)));
  while (std::optional<job> j = q.try_get())
    out.push_back(*j->payload);
  co_return out;
}

corio::task<> put_all(corio::priority_queue<int>* q, std::vector<int> values) {
  for (int v : values)
    co_await q->put(v);
}

// A waiting putter's item enters the heap when room is made, in its place by priority.
corio::task<std::vector<int>> waiting_putters_keep_the_order() {
  corio::priority_queue<int> q(2);
  corio::join_handle<void> producer = corio::spawn(put_all(&q, {9, 4, 1, 7}));
  co_await corio::sleep(0ms);  // 9 and 4 stored; waits to put 1
  std::vector<int> out;
  out.push_back(co_await q.get());  // 4; lets 1 in
  co_await corio::sleep(0ms);       // the producer now waits to put 7
  out.push_back(co_await q.get());  // 1; lets 7 in
  co_await producer;
  out.push_back(co_await q.get());
  out.push_back(co_await q.get());
  co_return out;
}

corio::task<int> get_or_minus_one(corio::priority_queue<int>* q) {
  try {
    co_return co_await q->get();
  } catch (const corio::cancelled_error&) {
    co_return -1;
  }
}

// An item a cancelled getter was handed goes back in its place by priority.
corio::task<std::vector<int>> put_back_keeps_the_order() {
  corio::priority_queue<int> q;
  corio::join_handle<int> a = corio::spawn(get_or_minus_one(&q));
  co_await corio::sleep(0ms);
  CHECK(q.try_put(5));  // handed to a
  CHECK(q.try_put(7));
  CHECK(q.try_put(3));
  a.cancel();
  std::vector<int> out;
  out.push_back(co_await a);
  while (std::optional<int> v = q.try_get())
    out.push_back(*v);
  co_return out;
}

}  // namespace

TEST_CASE("priority_queue: gives the smallest item first, as asyncio.PriorityQueue",
          "[priority_queue][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(drain<corio::priority_queue<int>>({5, 1, 4, 1, 3, 9, 2})) ==
        std::vector<int>{1, 1, 2, 3, 4, 5, 9});
  CHECK(corio::run(pairs_by_priority()) == std::vector<std::string>{"first", "later", "last"});
}

TEST_CASE("priority_queue: Compare orders it; std::greater gives the largest first",
          "[priority_queue][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(drain<corio::priority_queue<int, std::greater<int>>>({5, 1, 4, 9, 2})) ==
        std::vector<int>{9, 5, 4, 2, 1});
}

TEST_CASE("priority_queue: carries move-only items with a custom Compare, bounded",
          "[priority_queue][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(move_only_items()) == std::vector<int>{10, 30, 50});
}

TEST_CASE("priority_queue: a waiting putter's item takes its place by priority",
          "[priority_queue][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(waiting_putters_keep_the_order()) == std::vector<int>{4, 1, 7, 9});
}

TEST_CASE("priority_queue: an item a cancelled get() was handed goes back in priority order",
          "[priority_queue][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(put_back_keeps_the_order()) == std::vector<int>{-1, 3, 5, 7});
}
