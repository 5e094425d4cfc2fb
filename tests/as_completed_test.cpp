// SPDX-License-Identifier: MIT
#include <corio/as_completed.hpp>

#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/testing.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;

namespace {

struct test_error : std::runtime_error {
  test_error() : std::runtime_error("as_completed failure") {}
};

// Finishes when `go` is set, so the test decides the completion order.
corio::task<int> value_when(corio::event* go, int v) {
  co_await go->wait();
  co_return v;
}

corio::task<int> fail_when(corio::event* go) {
  co_await go->wait();
  throw test_error();
}

corio::task<std::vector<std::string>> completion_order() {
  corio::event go[3];
  std::vector<corio::task<int>> ts;
  ts.push_back(value_when(&go[0], 0));
  ts.push_back(fail_when(&go[1]));
  ts.push_back(value_when(&go[2], 2));
  corio::as_completed<int> done(std::move(ts));
  std::vector<std::string> log;
  const int order[] = {2, 0, 1};
  for (int i : order) {
    go[i].set();
    std::optional<corio::outcome<int>> o = co_await done.next();
    if (!o)
      log.push_back("nullopt");
    else if (o->has_value())
      log.push_back(std::to_string(o->value()));
    else
      log.push_back("exception");
  }
  std::optional<corio::outcome<int>> end = co_await done.next();
  log.push_back(end ? "more" : "nullopt");
  co_return log;
}

corio::task<bool> empty_vector() {
  corio::as_completed<int> done(std::vector<corio::task<int>>{});
  std::optional<corio::outcome<int>> o = co_await done.next();
  co_return !o.has_value();
}

corio::task<> wait_next(corio::as_completed<int>* done, bool* got_cancel) {
  try {
    (void)co_await done->next();
  } catch (const corio::cancelled_error&) {
    *got_cancel = true;
    throw;
  }
}

// Cancelling the awaiter of next() leaves the children running; a later
// next() still gets the outcome.
corio::task<int> cancel_next() {
  corio::event go;
  std::vector<corio::task<int>> ts;
  ts.push_back(value_when(&go, 7));
  corio::as_completed<int> done(std::move(ts));
  bool got_cancel = false;
  corio::join_handle<void> h = corio::spawn(wait_next(&done, &got_cancel));
  co_await corio::sleep(1ms);
  h.cancel();
  try {
    co_await h;
  } catch (const corio::cancelled_error&) {
  }
  if (!got_cancel)
    co_return -1;
  go.set();
  std::optional<corio::outcome<int>> o = co_await done.next();
  co_return o ? o->value() : -2;
}

struct watched {
  bool cancelled = false;
  bool finished = false;
  corio::event ended;
};

corio::task<int> wait_forever(corio::event* never, watched* w) {
  try {
    co_await never->wait();
  } catch (const corio::cancelled_error&) {
    w->cancelled = true;
    w->ended.set();
    throw;
  }
  w->finished = true;
  co_return 0;
}

// Destroying as_completed cancels the children still running (without it,
// waiting for `ended` would be a deadlock, which run() reports).
corio::task<> drop_early(corio::event* never, watched* w) {
  {
    std::vector<corio::task<int>> ts;
    ts.push_back(wait_forever(never, w));
    corio::as_completed<int> done(std::move(ts));
    co_await corio::sleep(1ms);
  }
  co_await w->ended.wait();
}

corio::task<bool> void_tasks() {
  std::vector<corio::task<void>> ts;
  ts.push_back(corio::sleep(1ms));
  corio::as_completed<void> done(std::move(ts));
  std::optional<corio::outcome<void>> o = co_await done.next();
  std::optional<corio::outcome<void>> end = co_await done.next();
  co_return o && o->has_value() && !end;
}

}  // namespace

TEST_CASE("as_completed: outcomes come in completion order, then std::nullopt",
          "[as_completed][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(completion_order()) ==
        std::vector<std::string>{"2", "0", "exception", "nullopt"});
}

TEST_CASE("as_completed: an empty vector gives std::nullopt at once", "[as_completed][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(empty_vector()));
}

TEST_CASE("as_completed: task<void> children give empty outcomes", "[as_completed][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(void_tasks()));
}

TEST_CASE("as_completed: cancelling the awaiter of next() leaves the children running",
          "[as_completed][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // Virtual time: the 1 ms sleep ends only once every other task is parked.
  CHECK(corio::testing::run_virtual(cancel_next()) == 7);
}

TEST_CASE("as_completed: destroying it cancels the children still running",
          "[as_completed][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::event never;
  watched w;
  // Virtual time: the 1 ms sleep ends only once every other task is parked.
  corio::testing::run_virtual(drop_early(&never, &w));
  CHECK(w.cancelled);
  CHECK_FALSE(w.finished);
}
