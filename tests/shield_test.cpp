// SPDX-License-Identifier: MIT
#include <corio/shield.hpp>

#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;
using corio_test::caught;

namespace {

struct test_error : std::runtime_error {
  test_error() : std::runtime_error("shielded failure") {}
};

corio::task<int> value_later(int v) {
  co_await corio::sleep(1ms);
  co_return v;
}

corio::task<int> shield_value() {
  co_return co_await corio::shield(value_later(41)) + 1;
}

corio::task<int> fail_later() {
  co_await corio::sleep(1ms);
  throw test_error();
}

corio::task<std::string> shield_exception() {
  const std::optional<test_error> e = co_await caught<test_error>(corio::shield(fail_later()));
  co_return e ? e->what() : "no exception";
}

struct side_effect {
  corio::event release;  // the test lets the work end once it has looked
  corio::event finished;
  bool done = false;
  bool cancelled = false;
};

corio::task<> slow_work(side_effect* s) {
  try {
    co_await s->release.wait();  // not a timer: a late wake-up must not end it early
  } catch (const corio::cancelled_error&) {
    s->cancelled = true;
    throw;
  }
  s->done = true;
  s->finished.set();
}

corio::task<> await_shielded(side_effect* s, bool* got_cancel) {
  try {
    co_await corio::shield(slow_work(s));
  } catch (const corio::cancelled_error&) {
    *got_cancel = true;
    throw;
  }
}

struct cancel_result {
  bool awaiter_cancelled = false;
  bool done_when_awaiter_returned = true;
  bool done_in_the_end = false;
  bool work_cancelled = true;
};

corio::task<cancel_result> cancel_the_awaiter() {
  side_effect s;
  cancel_result r;
  corio::join_handle<void> h = corio::spawn(await_shielded(&s, &r.awaiter_cancelled));
  co_await corio::sleep(1ms);  // the awaiter is parked on the shield by now
  h.cancel();
  try {
    co_await h;
  } catch (const corio::cancelled_error&) {
  }
  r.done_when_awaiter_returned = s.done;
  s.release.set();
  co_await s.finished.wait();
  r.done_in_the_end = s.done;
  r.work_cancelled = s.cancelled;
  co_return r;
}

// A cancellation pending before the awaiter reaches the shield is delivered
// there at once; the shielded task still starts and finishes.
corio::task<bool> cancel_before_shield() {
  side_effect s;
  bool got_cancel = false;
  corio::join_handle<void> h = corio::spawn(await_shielded(&s, &got_cancel));
  h.cancel();
  try {
    co_await h;
  } catch (const corio::cancelled_error&) {
  }
  s.release.set();
  co_await s.finished.wait();
  co_return got_cancel&& s.done && !s.cancelled;
}

corio::task<int> shield_awaitable() {
  corio::event e;
  e.set();
  co_await corio::shield(e.wait());
  co_return co_await corio::shield(corio::spawn(value_later(3)));
}

}  // namespace

TEST_CASE("shield: the value passes through", "[shield][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(shield_value()) == 42);
}

TEST_CASE("shield: the exception passes through", "[shield][io_uring][exceptions]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(shield_exception()) == "shielded failure");
}

TEST_CASE(
    "shield: cancelling the awaiter gives it cancelled_error at once; the shielded task runs to "
    "its end",
    "[shield][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const cancel_result r = corio::run(cancel_the_awaiter());
  CHECK(r.awaiter_cancelled);
  CHECK_FALSE(r.done_when_awaiter_returned);
  CHECK(r.done_in_the_end);
  CHECK_FALSE(r.work_cancelled);
}

TEST_CASE("shield: a cancellation pending before the shield does not stop the shielded task",
          "[shield][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(cancel_before_shield()));
}

TEST_CASE("shield: takes any awaitable", "[shield][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(shield_awaitable()) == 3);
}
