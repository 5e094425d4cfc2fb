// SPDX-License-Identifier: MIT
#include <corio/queue.hpp>

#include <corio/error.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/priority_queue.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "support/aborts.hpp"
#include "support/counted.hpp"
#include "support/destroy_while_waited.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;
using corio_test::counted;
using corio_test::ends_in;

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

template <class Q>
corio::task<int> get_catching(Q* q, std::vector<int>* log, int id) {
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

corio::task<bool> put_catching(corio::queue<int>* q, int v) {
  const bool cancelled = co_await ends_in<corio::cancelled_error>(q->put(v));
  co_return !cancelled;
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

// ---- join, task_done and shutdown, and hand-offs lost to a cancellation:
// the same for queue and priority_queue (items go in ascending, so both give
// them back in the same order).

template <class Q>
corio::task<> work_through(Q* q, std::vector<std::string>* log, int n) {
  for (int i = 0; i < n; ++i) {
    const int v = co_await q->get();
    co_await corio::sleep(0ms);  // "processing"
    log->push_back("done " + std::to_string(v));
    q->task_done();
  }
}

template <class Q>
corio::task<> join_waits_for_task_done(std::vector<std::string>* log) {
  Q q;
  co_await q.join();  // nothing unfinished: at once
  log->push_back("joined empty");
  for (int i = 0; i < 3; ++i)
    co_await q.put(i);
  corio::join_handle<void> worker = corio::spawn(work_through(&q, log, 3));
  co_await q.join();
  log->push_back("joined");
  co_await worker;
  try {
    q.task_done();
  } catch (const std::logic_error& e) {
    log->push_back(e.what());
  }
}

template <class Q>
corio::task<std::string> put_catching_what(Q* q, int v) {
  const bool shut_down = co_await ends_in<corio::queue_shut_down>(q->put(v));
  co_return "put " + std::to_string(v) + (shut_down ? ": shut down" : "");
}

template <class Q>
corio::task<std::string> get_catching_what(Q* q) {
  try {
    const int v = co_await q->get();
    co_return "got " + std::to_string(v);
  } catch (const corio::queue_shut_down&) {
    co_return "get: shut down";
  } catch (const corio::cancelled_error&) {
    co_return "get: cancelled";
  }
}

template <class Q>
corio::task<std::vector<std::string>> shutdown_drains(bool with_waiting_getter) {
  Q q(2);
  std::vector<std::string> log;
  corio::join_handle<std::string> getter;
  if (with_waiting_getter) {
    getter = corio::spawn(get_catching_what(&q));
    co_await corio::sleep(0ms);
    q.shutdown();
    log.push_back(co_await getter);  // empty: it wakes with queue_shut_down
    co_return log;
  }
  co_await q.put(1);
  co_await q.put(2);
  corio::join_handle<std::string> putter = corio::spawn(put_catching_what(&q, 3));
  co_await corio::sleep(0ms);  // waits: the queue is full
  q.shutdown();
  log.push_back(co_await putter);  // woken; its item is not added
  log.push_back(co_await put_catching_what(&q, 4));
  try {
    q.try_put(5);
  } catch (const corio::queue_shut_down& e) {
    log.push_back(e.what());
  }
  log.push_back(co_await get_catching_what(&q));  // the items left still come out
  log.push_back("try_get " + std::to_string(*q.try_get()));
  log.push_back(co_await get_catching_what(&q));
  try {
    (void)q.try_get();
  } catch (const corio::queue_shut_down&) {
    log.push_back("try_get: shut down");
  }
  q.shutdown();  // again: harmless
  co_return log;
}

template <class Q>
corio::task<std::vector<std::string>> immediate_shutdown() {
  Q q;
  std::vector<std::string> log;
  for (int i = 0; i < 3; ++i)
    co_await q.put(i);
  log.push_back(co_await get_catching_what(&q));  // taken, not yet done
  corio::task<> join = q.join();
  corio::join_handle<void> joiner = corio::spawn(std::move(join));
  co_await corio::sleep(0ms);
  q.shutdown(true);  // drops 1 and 2, which count as done; 0 is still unfinished
  log.push_back("size " + std::to_string(q.size()));
  co_await corio::sleep(0ms);
  log.push_back(joiner.done() ? "joined too early" : "join waits");
  log.push_back(co_await get_catching_what(&q));
  q.task_done();  // for 0
  co_await joiner;
  log.push_back("joined");
  q.shutdown();  // does not undo `immediate`
  log.push_back(co_await put_catching_what(&q, 9));
  co_return log;
}

template <class Q>
corio::task<std::vector<int>> cancelled_getter_puts_the_item_back(bool another_getter_waits) {
  Q q;
  std::vector<int> log;
  corio::join_handle<int> a = corio::spawn(get_catching(&q, &log, 1));
  corio::join_handle<int> b;
  if (another_getter_waits)
    b = corio::spawn(get_catching(&q, &log, 2));
  co_await corio::sleep(0ms);
  CHECK(q.try_put(5));  // handed to a, which has not resumed yet
  if (!another_getter_waits)
    CHECK(q.try_put(6));  // stored behind it
  a.cancel();             // delivered when a resumes: 5 goes back to the front
  const int a_result = co_await a;
  CHECK(a_result == -1);
  if (another_getter_waits) {
    const int b_result = co_await b;
    CHECK(b_result == 5);
    CHECK(q.empty());
  } else {
    while (std::optional<int> v = q.try_get())
      log.push_back(*v);
  }
  q.task_done();  // every item put is still to be done once: 5
  if (!another_getter_waits)
    q.task_done();  // and 6
  co_await q.join();
  co_return log;
}

template <class Q>
corio::task<std::vector<int>> cancelled_getter_after_immediate_shutdown() {
  Q q;
  std::vector<int> log;
  corio::join_handle<int> a = corio::spawn(get_catching(&q, &log, 1));
  co_await corio::sleep(0ms);
  CHECK(q.try_put(5));  // handed to a
  q.shutdown(true);
  a.cancel();  // 5 cannot go back into a queue shut down immediately: dropped, and done
  const int a_result = co_await a;
  CHECK(a_result == -1);
  CHECK(q.empty());
  co_await q.join();  // nothing unfinished
  co_return log;
}

template <class Q>
corio::task<bool> join_catching(Q* q) {
  const bool cancelled = co_await ends_in<corio::cancelled_error>(q->join());
  co_return !cancelled;
}

template <class Q>
corio::task<std::vector<std::string>> pending_and_waiting_cancellations() {
  Q q(1);
  std::vector<std::string> log;
  co_await q.put(1);
  // Requests made before each task first suspends are delivered at that suspension.
  corio::join_handle<bool> joiner = corio::spawn(join_catching(&q));
  corio::join_handle<std::string> putter = corio::spawn(put_catching_what(&q, 2));
  joiner.cancel();
  putter.cancel();
  log.push_back((co_await joiner) ? "joined" : "join cancelled");
  const bool put_cancelled = co_await ends_in<corio::cancelled_error>(putter);
  if (put_cancelled)
    log.push_back("put cancelled");
  // A joiner cancelled while it waits leaves its wait list.
  corio::join_handle<bool> waiting = corio::spawn(join_catching(&q));
  co_await corio::sleep(0ms);
  waiting.cancel();
  log.push_back((co_await waiting) ? "joined" : "join cancelled");
  (void)q.try_get();
  q.task_done();
  CHECK(q.empty());
  corio::join_handle<std::string> getter = corio::spawn(get_catching_what(&q));
  getter.cancel();
  log.push_back(co_await getter);
  co_return log;
}

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

using queue_kinds = std::tuple<corio::queue<int>, corio::priority_queue<int>>;

TEMPLATE_LIST_TEST_CASE("queue: join() waits until task_done() was called for every item put",
                        "[queue][priority_queue][io_uring]", queue_kinds) {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<std::string> log;
  corio::run(join_waits_for_task_done<TestType>(&log));
  CHECK(log ==
        std::vector<std::string>{"joined empty", "done 0", "done 1", "done 2", "joined",
                                 "corio::queue::task_done: called more times than items were put"});
}

TEMPLATE_LIST_TEST_CASE(
    "queue: after shutdown() put() throws queue_shut_down, get() drains, "
    "then throws",
    "[queue][priority_queue][io_uring]", queue_kinds) {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(shutdown_drains<TestType>(false)) ==
        std::vector<std::string>{"put 3: shut down", "put 4: shut down",
                                 "corio::queue: the queue is shut down", "got 1", "try_get 2",
                                 "get: shut down", "try_get: shut down"});
  CHECK(corio::run(shutdown_drains<TestType>(true)) == std::vector<std::string>{"get: shut down"});
}

TEMPLATE_LIST_TEST_CASE(
    "queue: shutdown(immediate) drops the items, which count as done for "
    "join()",
    "[queue][priority_queue][io_uring]", queue_kinds) {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(immediate_shutdown<TestType>()) ==
        std::vector<std::string>{"got 0", "size 0", "join waits", "get: shut down", "joined",
                                 "put 9: shut down"});
}

TEMPLATE_LIST_TEST_CASE(
    "queue: a get() cancelled after an item was handed to it puts the item "
    "back at the front",
    "[queue][priority_queue][io_uring][cancellation]", queue_kinds) {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(cancelled_getter_puts_the_item_back<TestType>(false)) ==
        std::vector<int>{-1, 5, 6});
  CHECK(corio::run(cancelled_getter_puts_the_item_back<TestType>(true)) == std::vector<int>{-1, 5});
  CHECK(corio::run(cancelled_getter_after_immediate_shutdown<TestType>()) == std::vector<int>{-1});
}

TEMPLATE_LIST_TEST_CASE(
    "queue: cancellations reach join(), put() and get() when pending or "
    "waiting",
    "[queue][priority_queue][io_uring][cancellation]", queue_kinds) {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(pending_and_waiting_cancellations<TestType>()) ==
        std::vector<std::string>{"join cancelled", "put cancelled", "join cancelled",
                                 "get: cancelled"});
}

TEST_CASE("queue: try_put() from another thread while the loop uses it throws std::logic_error",
          "[queue][io_uring][threads][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(try_put_from_another_thread(), {.debug = true}).find("corio::queue") !=
        std::string::npos);
}

TEST_CASE("queue: destroying it while a task waits on it aborts with the reason in debug builds",
          "[queue][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
#ifdef NDEBUG
  SKIP("a debug-build check");
#else
  const corio_test::abort_result r = corio_test::run_in_child([] {
    corio::run(corio_test::destroy_while_waited<corio::queue<int>>(
        [](corio::queue<int>& q) -> corio::task<> { (void)co_await q.get(); }));
  });
  CHECK(r.aborted);
  CHECK(r.err.find(corio_test::destroyed_while_waited_message) != std::string::npos);
#endif
}
