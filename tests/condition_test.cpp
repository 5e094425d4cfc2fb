// SPDX-License-Identifier: MIT
#include <corio/condition.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/mutex.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/aborts.hpp"
#include "support/destroy_while_waited.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;

// co_await stays outside CHECK(...): Catch's macros expand their argument more than once.
namespace {

struct shared {
  corio::mutex m;
  corio::condition cv{m};
  std::vector<std::string> log;
  int inside = 0;  // tasks between lock and unlock: never more than one
  bool exclusive = true;
};

corio::task<> wait_once(shared* s, int id) {
  auto lock = co_await s->m.lock();
  co_await s->cv.wait(lock);
  ++s->inside;
  s->exclusive = s->exclusive && s->inside == 1 && s->m.is_locked();
  s->log.push_back("woke " + std::to_string(id));
  co_await corio::sleep(0ms);  // holds the lock across a suspension: the others must wait
  --s->inside;
}

corio::task<> notify_one_then_all(shared* s) {
  std::vector<corio::join_handle<void>> handles;
  for (int i = 1; i <= 4; ++i)
    handles.push_back(corio::spawn(wait_once(s, i)));
  co_await corio::sleep(0ms);
  CHECK(s->cv.n_waiting() == 4);
  CHECK_FALSE(s->m.is_locked());  // every waiter released the lock
  {
    auto lock = co_await s->m.lock();
    s->cv.notify();
    s->log.push_back("notified one");
  }
  co_await handles[0];
  CHECK(s->cv.n_waiting() == 3);
  {
    auto lock = co_await s->m.lock();
    s->cv.notify_all();
    s->log.push_back("notified all");
    CHECK(s->cv.n_waiting() == 0);
  }
  for (std::size_t i = 1; i < handles.size(); ++i)
    co_await handles[i];
  CHECK_FALSE(s->m.is_locked());
}

corio::task<> consume(corio::mutex* m, corio::condition* cv, std::deque<int>* items,
                      std::vector<int>* got, int n) {
  for (int i = 0; i < n; ++i) {
    auto lock = co_await m->lock();
    co_await cv->wait_for(lock, [items] { return !items->empty(); });
    CHECK(m->is_locked());
    got->push_back(items->front());
    items->pop_front();
  }
}

corio::task<> produce(corio::mutex* m, corio::condition* cv, std::deque<int>* items, int from,
                      int n) {
  for (int i = from; i < from + n; ++i) {
    {
      auto lock = co_await m->lock();
      items->push_back(i);
      cv->notify();
    }
    if (i % 3 == 0)
      co_await corio::sleep(0ms);
  }
}

corio::task<std::vector<int>> wait_for_a_predicate() {
  corio::mutex m;
  corio::condition cv(m);
  std::deque<int> items;
  std::vector<int> got;
  co_await corio::gather(consume(&m, &cv, &items, &got, 30), produce(&m, &cv, &items, 0, 30));
  co_return got;
}

corio::task<int> predicate_already_true() {
  corio::mutex m;
  corio::condition cv(m);
  auto lock = co_await m.lock();
  int calls = 0;
  co_await cv.wait_for(lock, [&calls] { return ++calls > 0; });
  CHECK(m.is_locked());
  co_return calls;
}

corio::task<std::string> misuse() {
  corio::mutex m;
  corio::mutex other;
  corio::condition cv(m);
  std::string what;
  try {
    cv.notify();
  } catch (const std::logic_error& e) {
    what += e.what();
    what += "\n";
  }
  auto wrong = co_await other.lock();
  try {
    co_await cv.wait(wrong);
  } catch (const std::logic_error& e) {
    what += e.what();
    what += "\n";
  }
  auto right = co_await m.lock();
  right.unlock();
  try {
    co_await cv.wait(right);  // an unlocked guard holds no mutex
  } catch (const std::logic_error& e) {
    what += e.what();
  }
  co_return what;
}

// Logs whether it was notified or cancelled, and whether it held the lock then.
corio::task<> wait_catching(shared* s, int id) {
  auto lock = co_await s->m.lock();
  try {
    co_await s->cv.wait(lock);
    s->log.push_back("woke " + std::to_string(id));
  } catch (const corio::cancelled_error&) {
    s->log.push_back("cancelled " + std::to_string(id));
  }
  ++s->inside;
  s->exclusive = s->exclusive && s->inside == 1 && s->m.is_locked();
  --s->inside;
}

corio::task<> cancelled_before_notify_retakes_the_lock(shared* s) {
  corio::join_handle<void> a = corio::spawn(wait_catching(s, 1));
  co_await corio::sleep(0ms);
  {
    auto lock = co_await s->m.lock();
    a.cancel();                  // a must retake the lock first: it waits for us
    co_await corio::sleep(0ms);  // a gets its turn, and still waits
    s->log.push_back("main unlocks");
  }
  co_await a;
  CHECK(s->cv.n_waiting() == 0);
  CHECK_FALSE(s->m.is_locked());
}

corio::task<> cancelled_while_retaking_passes_the_notify_on(shared* s) {
  corio::join_handle<void> a = corio::spawn(wait_catching(s, 1));
  corio::join_handle<void> b = corio::spawn(wait_catching(s, 2));
  co_await corio::sleep(0ms);
  {
    auto lock = co_await s->m.lock();
    s->cv.notify();  // a now waits for the mutex
    a.cancel();
    co_await corio::sleep(0ms);
    CHECK(s->cv.n_waiting() == 1);
  }
  co_await a;
  co_await b;  // b got a's notification
  CHECK(s->cv.n_waiting() == 0);
}

corio::task<> cancelled_before_resuming_passes_the_notify_on(shared* s) {
  corio::join_handle<void> a = corio::spawn(wait_catching(s, 1));
  corio::join_handle<void> b = corio::spawn(wait_catching(s, 2));
  co_await corio::sleep(0ms);
  {
    auto lock = co_await s->m.lock();
    s->cv.notify();
  }            // the mutex passes to a, which is scheduled but has not run
  a.cancel();  // delivered when a resumes
  co_await a;
  co_await b;
  CHECK(s->cv.n_waiting() == 0);
  CHECK_FALSE(s->m.is_locked());
}

corio::task<> pending_cancel_reaches_wait(shared* s) {
  corio::join_handle<void> a = corio::spawn(wait_catching(s, 1));
  a.cancel();  // a has not started: lock() does not suspend, wait() takes the request
  co_await a;
  CHECK(s->cv.n_waiting() == 0);
  CHECK_FALSE(s->m.is_locked());
}

corio::task<> wait_for_catching(shared* s, const bool* ready) {
  auto lock = co_await s->m.lock();
  try {
    co_await s->cv.wait_for(lock, [ready] { return *ready; });
    s->log.push_back("ready");
  } catch (const corio::cancelled_error&) {
    s->log.push_back(s->m.is_locked() ? "cancelled, locked" : "cancelled, unlocked");
  }
}

corio::task<> cancelled_wait_for(shared* s) {
  bool ready = false;
  corio::join_handle<void> a = corio::spawn(wait_for_catching(s, &ready));
  co_await corio::sleep(0ms);
  {
    auto lock = co_await s->m.lock();
    s->cv.notify();  // a wakes, finds the predicate false, and waits again
  }
  co_await corio::sleep(0ms);
  CHECK(s->cv.n_waiting() == 1);
  a.cancel();
  co_await a;
  CHECK(s->cv.n_waiting() == 0);
  CHECK_FALSE(s->m.is_locked());
}

corio::task<std::string> notify_from_another_thread() {
  shared s;
  corio::join_handle<void> waiter = corio::spawn(wait_catching(&s, 1));
  co_await corio::sleep(0ms);  // the loop uses the condition now
  std::string what;
  {
    auto lock = co_await s.m.lock();
    std::thread other([&s, &what] {
      try {
        s.cv.notify();
      } catch (const std::logic_error& e) {
        what = e.what();
      }
    });
    other.join();
    CHECK(s.cv.n_waiting() == 1);
    s.cv.notify();
  }
  co_await waiter;
  co_return what;
}

}  // namespace

TEST_CASE("condition: notify wakes the longest waiter, notify_all the rest; each holds the lock",
          "[condition][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  shared s;
  corio::run(notify_one_then_all(&s));
  CHECK(s.exclusive);
  CHECK(s.log == std::vector<std::string>{"notified one", "woke 1", "notified all", "woke 2",
                                          "woke 3", "woke 4"});
}

TEST_CASE("condition: wait_for waits until the predicate holds, checking it under the lock",
          "[condition][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> expected;
  for (int i = 0; i < 30; ++i)
    expected.push_back(i);
  CHECK(corio::run(wait_for_a_predicate()) == expected);
  CHECK(corio::run(predicate_already_true()) == 1);
}

TEST_CASE(
    "condition: notify without the lock, or wait with a lock on another mutex, is "
    "std::logic_error",
    "[condition][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::string what = corio::run(misuse());
  CHECK(what ==
        "corio::condition::notify: lock the condition's mutex first\n"
        "corio::condition::wait: the lock must hold the condition's mutex\n"
        "corio::condition::wait: the lock must hold the condition's mutex");
}

TEST_CASE("condition: a wait cancelled before a notify retakes the lock before it throws",
          "[condition][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  shared s;
  corio::run(cancelled_before_notify_retakes_the_lock(&s));
  CHECK(s.exclusive);
  CHECK(s.log == std::vector<std::string>{"main unlocks", "cancelled 1"});
}

TEST_CASE("condition: a wait cancelled while retaking the lock passes its notification on",
          "[condition][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  shared s;
  corio::run(cancelled_while_retaking_passes_the_notify_on(&s));
  CHECK(s.exclusive);
  CHECK(s.log == std::vector<std::string>{"cancelled 1", "woke 2"});
}

TEST_CASE(
    "condition: a wait cancelled after it was woken, before it resumed, passes its "
    "notification on",
    "[condition][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  shared s;
  corio::run(cancelled_before_resuming_passes_the_notify_on(&s));
  CHECK(s.exclusive);
  CHECK(s.log == std::vector<std::string>{"cancelled 1", "woke 2"});
}

TEST_CASE("condition: a cancellation requested before wait() is delivered there, lock held",
          "[condition][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  shared s;
  corio::run(pending_cancel_reaches_wait(&s));
  CHECK(s.exclusive);
  CHECK(s.log == std::vector<std::string>{"cancelled 1"});
}

TEST_CASE("condition: a cancelled wait_for throws with the lock held",
          "[condition][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  shared s;
  corio::run(cancelled_wait_for(&s));
  CHECK(s.log == std::vector<std::string>{"cancelled, locked"});
}

TEST_CASE("condition: notify() from another thread while the loop uses it throws std::logic_error",
          "[condition][io_uring][threads][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(notify_from_another_thread(), {.debug = true}).find("corio::condition") !=
        std::string::npos);
}

TEST_CASE(
    "condition: destroying it while a task waits on it aborts with the reason in debug builds",
    "[condition][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
#ifdef NDEBUG
  SKIP("a debug-build check");
#else
  const corio_test::abort_result r = corio_test::run_in_child([] {
    static corio::mutex condition_mutex;  // outlives the condition
    corio::run(corio_test::destroy_while_waited<corio::condition>(
        [](corio::condition& c) -> corio::task<> {
          auto lock = co_await condition_mutex.lock();
          co_await c.wait(lock);
        },
        condition_mutex));
  });
  CHECK(r.aborted);
  CHECK(r.err.find(corio_test::destroyed_while_waited_message) != std::string::npos);
#endif
}
