// SPDX-License-Identifier: MIT
#include <corio/mutex.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/aborts.hpp"
#include "support/destroy_while_waited.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;

// co_await stays outside CHECK(...): Catch's macros expand their argument more than once.
namespace {

struct section_state {
  int inside = 0;
  int most_inside = 0;
  int entries = 0;
};

corio::task<> critical_section(corio::mutex* m, section_state* s) {
  for (int i = 0; i < 3; ++i) {
    auto guard = co_await m->lock();
    ++s->inside;
    if (s->inside > s->most_inside)
      s->most_inside = s->inside;
    ++s->entries;
    co_await corio::sleep(0ms);  // other tasks run meanwhile, but cannot enter
    --s->inside;
  }
}

corio::task<> exclusive(section_state* s) {
  corio::mutex m;
  std::vector<corio::task<>> tasks;
  for (int i = 0; i < 5; ++i)
    tasks.push_back(critical_section(&m, s));
  co_await corio::gather(std::move(tasks));
  CHECK_FALSE(m.is_locked());
}

corio::task<> lock_and_log(corio::mutex* m, std::vector<int>* log, int id) {
  auto guard = co_await m->lock();
  log->push_back(id);
}

corio::task<> fifo_handoff(std::vector<int>* log) {
  corio::mutex m;
  std::vector<corio::join_handle<void>> handles;
  {
    auto guard = co_await m.lock();
    for (int i = 0; i < 5; ++i)
      handles.push_back(corio::spawn(lock_and_log(&m, log, i)));
    co_await corio::sleep(0ms);  // all five wait, in spawn order
    CHECK(log->empty());
  }
  // The lock passed to waiter 0 without being released: nobody can barge in.
  CHECK(m.is_locked());
  CHECK_FALSE(m.try_lock());
  for (auto& h : handles)
    co_await h;
  CHECK_FALSE(m.is_locked());
}

corio::task<std::vector<bool>> guard_states() {
  corio::mutex m;
  std::vector<bool> states;
  {
    auto guard = co_await m.lock();
    states.push_back(m.is_locked());
    auto moved = std::move(guard);
    states.push_back(m.is_locked());
    moved.unlock();
    states.push_back(m.is_locked());
    moved.unlock();  // a second unlock does nothing
  }
  states.push_back(m.is_locked());
  CHECK(m.try_lock());
  states.push_back(m.is_locked());
  m.unlock();
  states.push_back(m.is_locked());
  co_return states;
}

corio::task<bool> lock_catching(corio::mutex* m, std::vector<int>* log, int id) {
  try {
    auto guard = co_await m->lock();
    log->push_back(id);
  } catch (const corio::cancelled_error&) {
    log->push_back(-id);
    co_return false;
  }
  co_return true;
}

corio::task<> cancelled_waiter_gets_no_lock(std::vector<int>* log) {
  corio::mutex m;
  auto guard = co_await m.lock();
  corio::join_handle<bool> a = corio::spawn(lock_catching(&m, log, 1));
  corio::join_handle<bool> b = corio::spawn(lock_catching(&m, log, 2));
  co_await corio::sleep(0ms);
  a.cancel();
  const auto a_result = co_await a;
  CHECK_FALSE(a_result);
  CHECK(m.is_locked());
  guard.unlock();  // goes to b, the only waiter left
  const auto b_result = co_await b;
  CHECK(b_result);
  CHECK_FALSE(m.is_locked());
}

corio::task<> cancelled_after_handoff_passes_the_lock_on(std::vector<int>* log) {
  corio::mutex m;
  corio::join_handle<bool> a;
  corio::join_handle<bool> b;
  {
    auto guard = co_await m.lock();
    a = corio::spawn(lock_catching(&m, log, 1));
    b = corio::spawn(lock_catching(&m, log, 2));
    co_await corio::sleep(0ms);
  }            // the lock passes to a, which has not resumed yet
  a.cancel();  // delivered when a resumes: the lock goes on to b
  const auto a_result = co_await a;
  CHECK_FALSE(a_result);
  const auto b_result = co_await b;
  CHECK(b_result);
  CHECK_FALSE(m.is_locked());
}

corio::task<std::string> unlock_from_another_thread() {
  corio::mutex m;
  auto guard = co_await m.lock();
  std::vector<int> log;
  corio::join_handle<bool> waiter = corio::spawn(lock_catching(&m, &log, 1));
  co_await corio::sleep(0ms);  // the loop uses the mutex now
  std::string what;
  std::thread other([&m, &what] {
    try {
      m.unlock();
    } catch (const std::logic_error& e) {
      what = e.what();
    }
  });
  other.join();
  CHECK(log.empty());  // the misuse handed the lock to nobody
  guard.unlock();
  co_await waiter;
  CHECK(log == std::vector<int>{1});
  co_return what;
}

// The guard is destroyed on another thread: its unlock's affinity check
// must not throw out of the destructor (that is std::terminate).
corio::task<> guard_destroyed_on_another_thread() {
  corio::mutex m;
  (co_await m.lock()).unlock();  // the loop's thread uses it first
  auto guard = co_await m.lock();
  std::thread other([g = std::move(guard)]() mutable { auto dying = std::move(g); });
  other.join();
}

}  // namespace

TEST_CASE("mutex: only one task holds the lock at a time", "[mutex][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  section_state s;
  corio::run(exclusive(&s));
  CHECK(s.most_inside == 1);
  CHECK(s.entries == 15);
}

TEST_CASE("mutex: unlock hands the lock to the longest-waiting task (FIFO, no barging)",
          "[mutex][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::run(fifo_handoff(&log));
  CHECK(log == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("mutex: the guard unlocks on destruction, on unlock(), and moves", "[mutex][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<corio::mutex::scoped_lock>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<corio::mutex::scoped_lock>);
  CHECK(corio::run(guard_states()) == std::vector<bool>{true, true, false, false, true, false});
}

TEST_CASE("mutex: a cancelled waiter does not get the lock; the next waiter does",
          "[mutex][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::run(cancelled_waiter_gets_no_lock(&log));
  CHECK(log == std::vector<int>{-1, 2});
}

TEST_CASE("mutex: a waiter cancelled after the lock was handed to it passes the lock on",
          "[mutex][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::run(cancelled_after_handoff_passes_the_lock_on(&log));
  CHECK(log == std::vector<int>{-1, 2});
}

TEST_CASE("mutex: unlock() from another thread while the loop uses it throws std::logic_error",
          "[mutex][io_uring][threads][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(unlock_from_another_thread(), {.debug = true}).find("corio::mutex") !=
        std::string::npos);
}

TEST_CASE("mutex: destroying it while a task waits on it aborts with the reason in debug builds",
          "[mutex][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
#ifdef NDEBUG
  SKIP("a debug-build check");
#else
  const corio_test::abort_result r = corio_test::run_in_child([] {
    corio::run(corio_test::destroy_while_waited<corio::mutex>([](corio::mutex& m) -> corio::task<> {
      (void)m.try_lock();  // holds it, then waits for it again
      auto lock = co_await m.lock();
    }));
  });
  CHECK(r.aborted);
  CHECK(r.err.find(corio_test::destroyed_while_waited_message) != std::string::npos);
#endif
}

TEST_CASE("mutex: a guard destroyed on another thread aborts with the reason, never throws",
          "[mutex][io_uring][threads][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // Debug mode: the check runs with NDEBUG too.
  const corio_test::abort_result r = corio_test::run_in_child(
      [] { corio::run(guard_destroyed_on_another_thread(), {.debug = true}); });
  CHECK(r.aborted);
  CHECK(r.err.find("corio::mutex used from a thread that is not its loop's") != std::string::npos);
  CHECK(r.err.find("terminate") == std::string::npos);  // not a throw from a destructor
}
