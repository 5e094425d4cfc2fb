// SPDX-License-Identifier: MIT
#include <corio/spawn.hpp>

#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/sleep.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "support/counted.hpp"
#include "support/ends_in.hpp"
#include "support/handler_capture.hpp"
#include "support/io_uring_available.hpp"
#include "support/leaks_expected.hpp"

using namespace std::chrono_literals;
using corio_test::caught;
using corio_test::counted;
using corio_test::ends_in;
using corio_test::handler_capture;

namespace {

struct test_error : std::runtime_error {
  explicit test_error(std::string what = "test_error") : std::runtime_error(std::move(what)) {}
};

std::string message_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  }
}

corio::task<int> value_after_yield(int v) {
  co_await corio::sleep(0ms);
  co_return v;
}

corio::task<int> spawn_and_await() {
  corio::join_handle<int> h = corio::spawn(value_after_yield(5));
  co_return co_await h;
}

corio::task<> record(std::vector<std::string>* log, std::string what) {
  log->push_back(what);
  co_return;
}

corio::task<> starts_next_turn(std::vector<std::string>* log) {
  corio::join_handle<void> h = corio::spawn(record(log, "spawned"));
  log->push_back("after spawn");
  co_await h;
  log->push_back("joined");
}

corio::task<> wait_then_set(corio::event* go, bool* done) {
  co_await go->wait();
  *done = true;
}

corio::task<> done_reports_the_end(std::vector<bool>* seen) {
  corio::event go;
  bool done = false;
  corio::join_handle<void> h = corio::spawn(wait_then_set(&go, &done));
  seen->push_back(h.done());
  co_await corio::sleep(0ms);
  seen->push_back(h.done());  // parked on the event
  go.set();
  co_await corio::sleep(0ms);
  seen->push_back(h.done());
  co_await h;
  seen->push_back(h.done());
}

struct cancel_record {
  bool before_suspension = false;
  bool saw_cancel = false;
  bool cleanup = false;
};

corio::task<> wait_recording(corio::event* ev, cancel_record* r) {
  r->before_suspension = true;
  try {
    co_await ev->wait();
  } catch (const corio::cancelled_error&) {
    r->saw_cancel = true;
    r->cleanup = true;
    throw;
  }
}

corio::task<bool> cancel_parked_task(cancel_record* r) {
  corio::event never;
  corio::join_handle<void> h = corio::spawn(wait_recording(&never, r));
  co_await corio::sleep(0ms);
  h.cancel();
  const bool cancelled = co_await ends_in<corio::cancelled_error>(h);
  co_return cancelled&& h.done();
}

corio::task<bool> cancel_before_start(cancel_record* r) {
  corio::event never;
  corio::join_handle<void> h = corio::spawn(wait_recording(&never, r));
  h.cancel();  // not started yet: delivered at its first suspension point
  co_return co_await ends_in<corio::cancelled_error>(h);
}

corio::task<int> catch_cancel_then_sleep(int* cancels) {
  try {
    co_await corio::sleep(24h);
  } catch (const corio::cancelled_error&) {
    ++*cancels;
  }
  co_await corio::sleep(1ms);  // one-shot: this sleep is not cancelled
  co_return 11;
}

corio::task<int> cancellation_is_one_shot(int* cancels) {
  corio::join_handle<int> h = corio::spawn(catch_cancel_then_sleep(cancels));
  co_await corio::sleep(0ms);
  h.cancel();
  co_return co_await h;
}

corio::task<int> throw_after_yield(std::string what) {
  co_await corio::sleep(0ms);
  throw test_error(what);
}

corio::task<std::string> join_rethrows() {
  corio::join_handle<int> h = corio::spawn(throw_after_yield("joined failure"));
  const std::optional<test_error> e = co_await caught<test_error>(h);
  co_return e ? e->what() : "";
}

corio::task<> fire_and_forget_failure(corio::event* finished) {
  corio::spawn(throw_after_yield("nobody retrieved this"));
  co_await corio::sleep(0ms);
  co_await corio::sleep(0ms);
  finished->set();
}

corio::task<> drop_failure(corio::event* unused) {
  corio::spawn(throw_after_yield("nobody retrieved this"));
  co_await corio::sleep(0ms);
  co_await corio::sleep(0ms);
  (void)unused;
}

corio::task<> drop_handle_after_failure(std::size_t* reported_while_held,
                                        const handler_capture* capture) {
  {
    corio::join_handle<int> h = corio::spawn(throw_after_yield("dropped later"));
    co_await corio::sleep(0ms);
    co_await corio::sleep(0ms);
    *reported_while_held = capture->reported.size();
    CHECK(h.done());
  }
  co_return;
}

corio::task<> spawn_cancelled_and_dropped() {
  corio::event never;
  cancel_record r;
  corio::join_handle<void> h = corio::spawn(wait_recording(&never, &r));
  co_await corio::sleep(0ms);
  h.cancel();
  co_await corio::sleep(0ms);
  co_await corio::sleep(0ms);
}

corio::task<std::string> await_handle_twice() {
  corio::join_handle<int> h = corio::spawn(value_after_yield(1));
  co_await h;
  const std::optional<std::logic_error> e = co_await caught<std::logic_error>(h);
  co_return e ? e->what() : "";
}

corio::task<std::string> await_moved_to_handle_twice() {
  corio::join_handle<int> h = corio::spawn(value_after_yield(1));
  co_await h;
  corio::join_handle<int> moved = std::move(h);  // the "awaited" mark goes along
  const std::optional<std::logic_error> e = co_await caught<std::logic_error>(moved);
  co_return e ? e->what() : "";
}

corio::task<bool> await_empty_handle() {
  corio::join_handle<int> h;
  co_return co_await ends_in<std::logic_error>(h);
}

corio::task<bool> spawn_moved_from() {
  corio::task<int> t = value_after_yield(1);
  corio::task<int> other = std::move(t);
  bool threw = false;
  try {
    corio::spawn(std::move(t));  // NOLINT(bugprone-use-after-move)
  } catch (const std::logic_error&) {
    threw = true;
  }
  co_return threw&& co_await std::move(other) == 1;
}

corio::task<> dropped_handle_keeps_running(corio::event* ev) {
  co_await corio::sleep(1ms);
  ev->set();
}

corio::task<bool> drop_handle_task_goes_on() {
  corio::event ev;
  { corio::join_handle<void> dropped = corio::spawn(dropped_handle_keeps_running(&ev)); }
  co_await ev.wait();
  co_return ev.is_set();
}

struct join_cancel_record {
  std::vector<std::string> log;
};

corio::task<> joined_child(corio::event* never, join_cancel_record* r) {
  try {
    co_await never->wait();
  } catch (const corio::cancelled_error&) {
    r->log.push_back("child cleanup");
    throw;
  }
}

corio::task<> joiner(corio::join_handle<void> h, join_cancel_record* r) {
  try {
    co_await h;
  } catch (const corio::cancelled_error&) {
    r->log.push_back("joiner cancelled");
    throw;
  }
}

corio::task<bool> cancel_the_joiner(join_cancel_record* r) {
  corio::event never;
  corio::join_handle<void> child = corio::spawn(joined_child(&never, r));
  corio::join_handle<void> j = corio::spawn(joiner(std::move(child), r));
  co_await corio::sleep(0ms);
  co_await corio::sleep(0ms);
  j.cancel();
  co_return co_await ends_in<corio::cancelled_error>(j);
}

corio::task<int> swallow_cancel_and_return(int v) {
  try {
    co_await corio::sleep(24h);
  } catch (const corio::cancelled_error&) {
  }
  co_return v;
}

corio::task<int> join_value_then_sleep(bool* later_sleep_cancelled) {
  const int v = co_await corio::spawn(swallow_cancel_and_return(12));
  *later_sleep_cancelled = co_await ends_in<corio::cancelled_error>(corio::sleep(24h));
  co_return v;
}

corio::task<int> cancel_joiner_of_swallowing_task(bool* later_sleep_cancelled) {
  corio::join_handle<int> h = corio::spawn(join_value_then_sleep(later_sleep_cancelled));
  co_await corio::sleep(0ms);
  co_await corio::sleep(0ms);
  h.cancel();
  co_return co_await h;
}

corio::task<bool> spawn_from_worker_thread() {
  // A worker thread has no loop: spawning there is refused.
  co_return co_await corio::to_thread([] {
    try {
      corio::spawn(value_after_yield(1));
    } catch (const std::logic_error&) {
      return corio::event_loop::current_or_null() == nullptr;
    }
    return false;
  });
}

corio::task<int> counted_result(counted c) {
  co_await corio::sleep(0ms);
  co_return c.id;
}

corio::task<int> spawn_many_counted() {
  std::vector<corio::join_handle<int>> handles;
  for (int i = 0; i < 100; ++i)
    handles.push_back(corio::spawn(counted_result(counted(i))));
  int sum = 0;
  for (auto& h : handles)
    sum += co_await h;
  // A few more, dropped without awaiting.
  for (int i = 0; i < 10; ++i)
    corio::spawn(counted_result(counted(i)));
  co_return sum;
}

corio::task<> await_other(corio::join_handle<void>* other) {
  co_await *other;
}

// A awaits B's handle and B awaits A's: a deadlock that run() finds when it
// cancels them at its end. On 0.1 the cancellation bounced A -> B -> A until
// the stack overflowed.
corio::task<> join_each_other(corio::join_handle<void>* a, corio::join_handle<void>* b) {
  *a = corio::spawn(await_other(b));
  *b = corio::spawn(await_other(a));
  co_await corio::sleep(0ms);
}

}  // namespace

TEST_CASE("spawn: co_await on the join_handle gives the task's value", "[spawn][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(spawn_and_await()) == 5);
}

TEST_CASE("spawn: the task starts at the loop's next turn, concurrently with the caller",
          "[spawn][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<std::string> log;
  corio::run(starts_next_turn(&log));
  CHECK(log == std::vector<std::string>{"after spawn", "spawned", "joined"});
}

TEST_CASE("join_handle: done() is false until the task has run to its end", "[spawn][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<bool> seen;
  corio::run(done_reports_the_end(&seen));
  CHECK(seen == std::vector<bool>{false, false, true, true});
}

TEST_CASE("join_handle: cancel() gives the task cancelled_error at its suspension point",
          "[spawn][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  cancel_record r;
  CHECK(corio::run(cancel_parked_task(&r)));
  CHECK(r.before_suspension);
  CHECK(r.saw_cancel);
  CHECK(r.cleanup);
}

TEST_CASE("join_handle: cancel() before the task has started is delivered at its first suspension",
          "[spawn][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  cancel_record r;
  CHECK(corio::run(cancel_before_start(&r)));
  CHECK(r.before_suspension);  // the code before the first suspension ran
  CHECK(r.saw_cancel);
}

TEST_CASE("join_handle: a cancellation is delivered once; a task that catches it goes on",
          "[spawn][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  int cancels = 0;
  CHECK(corio::run(cancellation_is_one_shot(&cancels)) == 11);
  CHECK(cancels == 1);
}

TEST_CASE("join_handle: co_await rethrows the task's exception", "[spawn][io_uring][exceptions]") {
  CORIO_TEST_REQUIRE_IO_URING();
  handler_capture capture;
  CHECK(corio::run(join_rethrows()) == "joined failure");
  CHECK(capture.reported.empty());  // retrieved, so not reported
}

TEST_CASE("spawn: an exception nobody retrieved is reported once through the handler",
          "[spawn][io_uring][exceptions]") {
  CORIO_TEST_REQUIRE_IO_URING();
  {
    handler_capture capture;
    corio::event finished;
    corio::run(fire_and_forget_failure(&finished));
    REQUIRE(capture.reported.size() == 1);
    CHECK(message_of(capture.reported[0]) == "nobody retrieved this");
  }
  {
    handler_capture capture;
    corio::run(drop_failure(nullptr));
    CHECK(capture.reported.size() == 1);
  }
}

TEST_CASE("spawn: an exception is reported when the last handle to the failed task is dropped",
          "[spawn][io_uring][exceptions]") {
  CORIO_TEST_REQUIRE_IO_URING();
  handler_capture capture;
  std::size_t reported_while_held = 99;
  corio::run(drop_handle_after_failure(&reported_while_held, &capture));
  CHECK(reported_while_held == 0);
  REQUIRE(capture.reported.size() == 1);
  CHECK(message_of(capture.reported[0]) == "dropped later");
}

TEST_CASE("spawn: cancelled_error is never reported as unhandled",
          "[spawn][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  handler_capture capture;
  corio::run(spawn_cancelled_and_dropped());
  CHECK(capture.reported.empty());
}

TEST_CASE("spawn: the previous unhandled-exception handler is returned by the setter",
          "[spawn][exceptions]") {
  int calls = 0;
  corio::unhandled_exception_handler mine = [&calls](std::exception_ptr) { ++calls; };
  corio::unhandled_exception_handler previous = corio::set_unhandled_exception_handler(mine);
  corio::unhandled_exception_handler back =
      corio::set_unhandled_exception_handler(std::move(previous));
  REQUIRE(back);
  back(nullptr);
  CHECK(calls == 1);
}

TEST_CASE("join_handle: awaiting a handle twice throws std::logic_error",
          "[spawn][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(await_handle_twice()).find("awaited already") != std::string::npos);
  CHECK(corio::run(await_moved_to_handle_twice()).find("awaited already") != std::string::npos);
  CHECK(corio::run(await_empty_handle()));
}

TEST_CASE("spawn: outside a loop throws std::logic_error", "[spawn][misuse]") {
  counted::reset_counts();
  CHECK_THROWS_AS(corio::spawn(counted_result(counted(1))), std::logic_error);
  CHECK(counted::active_count() == 0);
}

TEST_CASE("spawn: on a to_thread worker (no loop there) throws std::logic_error",
          "[spawn][io_uring][threads][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(spawn_from_worker_thread()));
}

TEST_CASE("spawn: a moved-from task throws std::logic_error", "[spawn][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(spawn_moved_from()));
}

TEST_CASE("join_handle: dropping the handle does not stop the task", "[spawn][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(drop_handle_task_goes_on()));
}

TEST_CASE("join_handle: cancelling the task that awaits a handle cancels the spawned task first",
          "[spawn][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  join_cancel_record r;
  CHECK(corio::run(cancel_the_joiner(&r)));
  CHECK(r.log == std::vector<std::string>{"child cleanup", "joiner cancelled"});
}

TEST_CASE(
    "join_handle: a cancelled joiner gets the value of a task that swallowed the cancellation; its "
    "next suspension is cancelled",
    "[spawn][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  bool later_sleep_cancelled = false;
  CHECK(corio::run(cancel_joiner_of_swallowing_task(&later_sleep_cancelled)) == 12);
  CHECK(later_sleep_cancelled);
}

TEST_CASE("spawn: every spawned task's state and frame is freed (counted returns to 0)",
          "[spawn][io_uring][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  CHECK(corio::run(spawn_many_counted()) == 4950);
  CHECK(counted::active_count() == 0);
}

TEST_CASE(
    "join_handle: two tasks awaiting each other's handle are a deadlock, not a stack overflow",
    "[spawn][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // The two frames wait for each other forever, so run() must leave them suspended.
  corio_test::leaks_expected leaks;
  static corio::join_handle<void> a;  // outlive run(): the stuck tasks await them
  static corio::join_handle<void> b;
  CHECK_THROWS_AS(corio::run(join_each_other(&a, &b)), std::logic_error);
}

namespace {

// The captures are read only after a suspension, when the statement that
// spawned the lambda (and the lambda temporary itself) is long gone.
corio::task<std::string> spawn_lambda_with_captures() {
  std::string greeting = "hello from a capture";
  std::vector<int> numbers{1, 2, 3};
  corio::join_handle<std::string> h =
      corio::spawn([greeting, numbers]() -> corio::task<std::string> {
        co_await corio::sleep(1ms);
        co_return greeting + " " + std::to_string(numbers.size());
      });
  greeting = "changed";  // the spawned lambda holds its own copy
  co_return co_await h;
}

corio::task<int> spawn_callable_with_arguments() {
  // By value and by const reference: the reference is to the copy in the frame.
  auto h = corio::spawn(
      [](int x, const std::string& s) -> corio::task<int> {
        co_await corio::sleep(0ms);
        co_return x + static_cast<int>(s.size());
      },
      40, std::string("ab"));
  co_return co_await h;
}

corio::task<int> spawn_awaitables() {
  corio::join_handle<void> slept = corio::spawn(corio::sleep(1ms), "sleeper");
  corio::join_handle<int> inner = corio::spawn(value_after_yield(7));
  corio::join_handle<int> outer = corio::spawn(std::move(inner));  // a join_handle is awaitable
  CHECK(slept.name() == "sleeper");
  co_await slept;
  co_return co_await outer;
}

corio::task<int> spawn_counted_callable() {
  counted c(9);
  auto h = corio::spawn(
      [c](counted arg) -> corio::task<int> {
        co_await corio::sleep(0ms);
        co_return c.id + arg.id;
      },
      counted(1));
  co_return co_await h;
}

}  // namespace

TEST_CASE("spawn: a coroutine lambda with captures, spawned directly, reads its captures",
          "[spawn][io_uring][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(spawn_lambda_with_captures()) == "hello from a capture 3");
}

TEST_CASE("spawn: a callable's arguments are kept in the task's frame",
          "[spawn][io_uring][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(spawn_callable_with_arguments()) == 42);
}

TEST_CASE("spawn: the callable and its arguments are destroyed when the task ends",
          "[spawn][io_uring][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  CHECK(corio::run(spawn_counted_callable()) == 10);
  CHECK(counted::active_count() == 0);
}

TEST_CASE("spawn: any awaitable is spawned through the one adapter", "[spawn][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(spawn_awaitables()) == 7);
}

// The overloads stay apart: a task picks spawn(task), a callable spawn(f, args...).
static_assert(std::is_same_v<decltype(corio::spawn(std::declval<corio::task<int>>())),
                             corio::join_handle<int>>);
static_assert(std::is_same_v<decltype(corio::spawn(std::declval<corio::task<int>>(), "n")),
                             corio::join_handle<int>>);
static_assert(std::is_same_v<decltype(corio::spawn([]() -> corio::task<long> { co_return 1; })),
                             corio::join_handle<long>>);
