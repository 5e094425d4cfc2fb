// SPDX-License-Identifier: MIT
#include <corio/semaphore.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/aborts.hpp"
#include "support/destroy_while_waited.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;
using corio_test::ends_in;

// co_await stays outside CHECK(...): Catch's macros expand their argument more than once.
namespace {

corio::task<std::vector<std::size_t>> permits_without_waiting() {
  corio::semaphore s(3);
  std::vector<std::size_t> available;
  for (int i = 0; i < 3; ++i) {
    co_await s.acquire();  // free permits: no suspension
    available.push_back(s.available());
  }
  CHECK_FALSE(s.try_acquire());
  s.release();
  available.push_back(s.available());
  CHECK(s.try_acquire());
  available.push_back(s.available());
  for (int i = 0; i < 3; ++i)
    s.release();
  available.push_back(s.available());
  co_return available;
}

struct limit_state {
  int inside = 0;
  int most_inside = 0;
  int done = 0;
};

corio::task<> limited_work(corio::semaphore* s, limit_state* st) {
  co_await s->acquire();
  ++st->inside;
  if (st->inside > st->most_inside)
    st->most_inside = st->inside;
  co_await corio::sleep(std::chrono::microseconds(100));
  --st->inside;
  ++st->done;
  s->release();
}

corio::task<> caps_concurrency(limit_state* st) {
  corio::semaphore s(3);
  std::vector<corio::task<>> tasks;
  for (int i = 0; i < 50; ++i)
    tasks.push_back(limited_work(&s, st));
  co_await corio::gather(std::move(tasks));
  CHECK(s.available() == 3);
}

corio::task<bool> acquire_catching(corio::semaphore* s, std::vector<int>* log, int id) {
  const bool cancelled = co_await ends_in<corio::cancelled_error>(s->acquire());
  log->push_back(cancelled ? -id : id);
  co_return !cancelled;
}

corio::task<> fifo_and_no_barging(std::vector<int>* log) {
  corio::semaphore s(0);
  std::vector<corio::join_handle<bool>> handles;
  for (int i = 1; i <= 3; ++i)
    handles.push_back(corio::spawn(acquire_catching(&s, log, i)));
  co_await corio::sleep(0ms);
  s.release();                   // handed straight to waiter 1
  CHECK(s.available() == 0);     // not counted as free
  CHECK_FALSE(s.try_acquire());  // waiters 2 and 3 come first
  s.release();
  s.release();
  for (auto& h : handles)
    co_await h;
  CHECK(s.available() == 0);
}

corio::task<std::size_t> cancelled_acquire_takes_nothing(std::vector<int>* log) {
  corio::semaphore s(0);
  corio::join_handle<bool> a = corio::spawn(acquire_catching(&s, log, 1));
  corio::join_handle<bool> b = corio::spawn(acquire_catching(&s, log, 2));
  co_await corio::sleep(0ms);
  a.cancel();
  const auto a_result = co_await a;
  CHECK_FALSE(a_result);
  s.release();  // to b, not to the cancelled a
  const auto b_result = co_await b;
  CHECK(b_result);
  CHECK(s.available() == 0);
  s.release();
  co_return s.available();
}

corio::task<bool> acquire_counting(corio::semaphore* s, int* acquired) {
  const bool cancelled = co_await ends_in<corio::cancelled_error>(s->acquire());
  if (!cancelled)
    ++*acquired;
  co_return !cancelled;
}

// A thousand waiters; every other one is cancelled; as many permits as
// waiters are left go to exactly those, and none is left over.
corio::task<int> cancel_half_of_the_waiters(std::size_t* left_over) {
  corio::semaphore s(0);
  int acquired = 0;
  std::vector<corio::join_handle<bool>> handles;
  for (int i = 0; i < 1000; ++i)
    handles.push_back(corio::spawn(acquire_counting(&s, &acquired)));
  co_await corio::sleep(0ms);
  for (std::size_t i = 0; i < handles.size(); i += 2)
    handles[i].cancel();
  for (int i = 0; i < 500; ++i)
    s.release();
  int winners = 0;
  for (std::size_t i = 0; i < handles.size(); ++i) {
    const bool got = co_await handles[i];
    winners += got && i % 2 == 1 ? 1 : 0;
  }
  *left_over = s.available();
  co_return winners == acquired ? winners : -1;
}

corio::task<std::vector<std::size_t>> guard_releases_on_destruction() {
  corio::semaphore s(2);
  std::vector<std::size_t> available;
  {
    corio::semaphore::scoped_permit a = co_await s.acquire_guard();
    available.push_back(s.available());
    corio::semaphore::scoped_permit b = co_await s.acquire_guard();
    available.push_back(s.available());
    corio::semaphore::scoped_permit moved = std::move(b);  // b gives up its permit
    available.push_back(s.available());
    moved.release();  // early, once
    available.push_back(s.available());
    a = std::move(moved);  // a's permit goes back; the empty one is taken over
    available.push_back(s.available());
  }
  available.push_back(s.available());
  try {
    corio::semaphore::scoped_permit c = co_await s.acquire_guard();
    throw std::runtime_error("unwinds past the guard");
  } catch (const std::runtime_error&) {
    available.push_back(s.available());
  }
  co_return available;
}

corio::task<> hold_a_permit(corio::semaphore* s, std::vector<int>* log, int id) {
  corio::semaphore::scoped_permit permit = co_await s->acquire_guard();
  log->push_back(id);
  co_await corio::sleep(1ms);
  log->push_back(-id);
}

corio::task<> guards_hand_permits_over(std::vector<int>* log) {
  corio::semaphore s(1);
  std::vector<corio::task<>> tasks;
  for (int i = 1; i <= 3; ++i)
    tasks.push_back(hold_a_permit(&s, log, i));
  co_await corio::gather(std::move(tasks));
  CHECK(s.available() == 1);
}

corio::task<bool> acquire_guard_catching(corio::semaphore* s) {
  // The permit, if any, goes back at once.
  const bool cancelled = co_await ends_in<corio::cancelled_error>(s->acquire_guard());
  co_return !cancelled;
}

corio::task<std::size_t> cancelled_acquire_guard_takes_nothing() {
  corio::semaphore s(0);
  corio::join_handle<bool> a = corio::spawn(acquire_guard_catching(&s));
  corio::join_handle<bool> b = corio::spawn(acquire_guard_catching(&s));
  co_await corio::sleep(0ms);
  a.cancel();
  const bool a_result = co_await a;
  CHECK_FALSE(a_result);
  s.release();  // to b, which releases it when its guard goes
  const bool b_result = co_await b;
  CHECK(b_result);
  co_return s.available();
}

corio::task<std::size_t> cancelled_after_handoff_passes_the_permit_on(std::vector<int>* log) {
  corio::semaphore s(0);
  corio::join_handle<bool> a = corio::spawn(acquire_catching(&s, log, 1));
  corio::join_handle<bool> b = corio::spawn(acquire_catching(&s, log, 2));
  co_await corio::sleep(0ms);
  s.release();  // handed to a, which has not resumed yet
  a.cancel();   // delivered when a resumes: the permit goes on to b
  const bool a_result = co_await a;
  CHECK_FALSE(a_result);
  const bool b_result = co_await b;
  CHECK(b_result);
  s.release();  // b's
  co_return s.available();
}

// A request made before the task first suspends is delivered at acquire_guard().
corio::task<std::size_t> pending_cancel_reaches_acquire_guard() {
  corio::semaphore s(0);
  corio::join_handle<bool> a = corio::spawn(acquire_guard_catching(&s));
  a.cancel();  // a has not started: the request waits for its first suspension
  const bool a_result = co_await a;
  CHECK_FALSE(a_result);
  s.release();
  co_return s.available();
}

corio::task<std::string> release_from_another_thread() {
  corio::semaphore s(0);
  std::vector<int> log;
  corio::join_handle<bool> waiter = corio::spawn(acquire_catching(&s, &log, 1));
  co_await corio::sleep(0ms);  // the loop uses the semaphore now
  std::string what;
  std::thread other([&s, &what] {
    try {
      s.release();
    } catch (const std::logic_error& e) {
      what = e.what();
    }
  });
  other.join();
  CHECK(log.empty());
  CHECK(s.available() == 0);
  s.release();
  co_await waiter;
  co_return what;
}

}  // namespace

TEST_CASE("semaphore: acquire takes a free permit without waiting; release returns it",
          "[semaphore][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(permits_without_waiting()) == std::vector<std::size_t>{2, 1, 0, 1, 0, 3});
}

TEST_CASE("semaphore: caps the number of tasks inside at the number of permits",
          "[semaphore][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  limit_state st;
  corio::run(caps_concurrency(&st));
  CHECK(st.most_inside == 3);
  CHECK(st.done == 50);
}

TEST_CASE("semaphore: waiters get permits in arrival order, with no barging",
          "[semaphore][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::run(fifo_and_no_barging(&log));
  CHECK(log == std::vector<int>{1, 2, 3});
}

TEST_CASE("semaphore: a cancelled acquire does not consume a permit",
          "[semaphore][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  CHECK(corio::run(cancelled_acquire_takes_nothing(&log)) == 1);
  CHECK(log == std::vector<int>{-1, 2});
}

TEST_CASE("semaphore: cancelling half of a thousand waiters leaks and loses no permit",
          "[semaphore][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::size_t left_over = 99;
  CHECK(corio::run(cancel_half_of_the_waiters(&left_over)) == 500);
  CHECK(left_over == 0);
}

TEST_CASE("semaphore: acquire_guard's permit is released when the guard goes, early or moved",
          "[semaphore][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(guard_releases_on_destruction()) ==
        std::vector<std::size_t>{1, 0, 0, 1, 2, 2, 2});
}

TEST_CASE("semaphore: acquire_guard waits, and the guard hands the permit to the next waiter",
          "[semaphore][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  corio::run(guards_hand_permits_over(&log));
  CHECK(log == std::vector<int>{1, -1, 2, -2, 3, -3});
}

TEST_CASE("semaphore: an acquire cancelled after a permit was handed to it passes the permit on",
          "[semaphore][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> log;
  CHECK(corio::run(cancelled_after_handoff_passes_the_permit_on(&log)) == 1);
  CHECK(log == std::vector<int>{-1, 2});
}

TEST_CASE("semaphore: a cancelled acquire_guard takes no permit",
          "[semaphore][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(cancelled_acquire_guard_takes_nothing()) == 1);
  CHECK(corio::run(pending_cancel_reaches_acquire_guard()) == 1);
}

TEST_CASE("semaphore: release() from another thread while the loop uses it throws std::logic_error",
          "[semaphore][io_uring][threads][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(release_from_another_thread(), {.debug = true}).find("corio::semaphore") !=
        std::string::npos);
}

TEST_CASE(
    "semaphore: destroying it while a task waits on it aborts with the reason in debug builds",
    "[semaphore][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
#ifdef NDEBUG
  SKIP("a debug-build check");
#else
  const corio_test::abort_result r = corio_test::run_in_child([] {
    std::size_t zero = 0;
    corio::run(corio_test::destroy_while_waited<corio::semaphore>(
        [](corio::semaphore& s) -> corio::task<> { co_await s.acquire(); }, zero));
  });
  CHECK(r.aborted);
  CHECK(r.err.find(corio_test::destroyed_while_waited_message) != std::string::npos);
#endif
}
