// SPDX-License-Identifier: MIT
#include <corio/task_group.hpp>

#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/mutex.hpp>
#include <corio/queue.hpp>
#include <corio/semaphore.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/testing.hpp>
#include <corio/to_thread.hpp>
#include <corio/wait_for.hpp>

#include <corio/detail/io_operation.hpp>

#include <liburing.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/aborts.hpp"
#include "support/counted.hpp"
#include "support/ends_in.hpp"
#include "support/handler_capture.hpp"
#include "support/io_uring_available.hpp"
#include "support/leaks_expected.hpp"
#include "support/storm.hpp"

using namespace std::chrono_literals;
using corio_test::caught;
using corio_test::counted;
using corio_test::ends_in;
using corio_test::handler_capture;

namespace {

struct test_error : std::runtime_error {
  explicit test_error(int code) : std::runtime_error("test_error"), code(code) {}
  int code;
};

struct record {
  int finished = 0;
  int cancelled = 0;
};

corio::task<> finish_after(std::chrono::milliseconds d, record* r) {
  co_await corio::sleep(d);
  ++r->finished;
}

corio::task<std::size_t> children_run(record* r) {
  corio::task_group group;
  for (int i = 0; i < 10; ++i)
    group.spawn(finish_after(std::chrono::milliseconds(i % 3), r));
  const std::size_t size = group.size();
  co_await group.wait();
  CHECK(group.size() == 0);
  co_return size;
}

corio::task<> wait_empty() {
  corio::task_group group;
  co_await group.wait();
}

corio::task<> park_until_cancelled(corio::event* never, record* r) {
  try {
    co_await never->wait();
  } catch (const corio::cancelled_error&) {
    if (r != nullptr)
      ++r->cancelled;
    throw;
  }
}

corio::task<> wait_for_group(corio::task_group* g) {
  co_await g->wait();
}

corio::task<> fail_after(std::chrono::milliseconds d, int code) {
  co_await corio::sleep(d);
  throw test_error(code);
}

corio::task<int> first_failure(record* r) {
  corio::event never;
  corio::task_group group;
  for (int i = 0; i < 5; ++i)
    group.spawn(park_until_cancelled(&never, r));
  group.spawn(fail_after(1ms, 1));
  group.spawn(fail_after(1h, 2));  // cancelled before it fails
  const std::optional<test_error> e = co_await caught<test_error>(group.wait());
  CHECK(r->cancelled == 5);  // all cancelled and finished before the rethrow
  co_return e ? e->code : 0;
}

corio::task<int> spawn_after_failure(record* r) {
  corio::event never;
  corio::task_group group;
  group.spawn(fail_after(0ms, 3));
  co_await corio::sleep(1ms);
  group.spawn(park_until_cancelled(&never, r));  // cancelled at once
  const std::optional<test_error> e = co_await caught<test_error>(group.wait());
  co_return e ? e->code : 0;
}

corio::task<> group_waiter(record* r) {
  corio::event never;
  corio::task_group group;
  for (int i = 0; i < 4; ++i)
    group.spawn(park_until_cancelled(&never, r));
  co_await group.wait();
}

corio::task<bool> cancel_the_waiter(record* r) {
  corio::join_handle<void> h = corio::spawn(group_waiter(r));
  co_await corio::sleep(0ms);
  h.cancel();
  const bool cancelled = co_await ends_in<corio::cancelled_error>(h);
  co_return cancelled && r->cancelled == 4;
}

corio::task<int> child_value() {
  co_await corio::sleep(0ms);
  co_return 8;
}

corio::task<int> handle_of_child() {
  corio::task_group group;
  corio::join_handle<int> h = group.spawn(child_value());
  co_await group.wait();
  CHECK(h.done());
  co_return co_await h;
}

corio::task<> destroy_group_with_children(record* r, corio::event* never) {
  {
    corio::task_group group;
    for (int i = 0; i < 3; ++i)
      group.spawn(park_until_cancelled(never, r));
    co_await corio::sleep(0ms);
  }  // destroyed without wait(): debug builds abort; release builds cancel the children
  co_await corio::sleep(0ms);
  co_await corio::sleep(0ms);
}

// A child that fails when it is cancelled: a second failure after the first.
corio::task<> fail_when_cancelled(corio::event* never, int code) {
  try {
    co_await never->wait();
  } catch (const corio::cancelled_error&) {
  }
  throw test_error(code);
}

corio::task<std::vector<int>> several_failures() {
  corio::event never;
  corio::task_group group;
  group.spawn(fail_when_cancelled(&never, 2));
  group.spawn(fail_when_cancelled(&never, 3));
  group.spawn(fail_after(0ms, 1));
  std::vector<int> codes;
  try {
    co_await group.wait();
  } catch (const corio::exception_group& g) {
    for (const std::exception_ptr& e : g.exceptions()) {
      try {
        std::rethrow_exception(e);
      } catch (const test_error& t) {
        codes.push_back(t.code);
      }
    }
  }
  co_return codes;
}

// The inner group's child fails as it is cancelled; the task that catches
// that failure must still see the cancellation of the outer group.
corio::task<> nested_group_member(corio::event* never, record* r) {
  corio::task_group inner;
  inner.spawn(fail_when_cancelled(never, 7));
  // Caught the inner failure: the outer cancellation is still due.
  r->finished += co_await ends_in<test_error>(inner.wait());
  try {
    co_await never->wait();
  } catch (const corio::cancelled_error&) {
    ++r->cancelled;
    throw;
  }
}

corio::task<int> nested_group_keeps_cancellation(record* r) {
  corio::event never;
  corio::task_group outer;
  outer.spawn(nested_group_member(&never, r));
  outer.spawn(fail_after(1ms, 9));
  const std::optional<test_error> e = co_await caught<test_error>(outer.wait());
  co_return e ? e->code : 0;
}

corio::task<std::string> second_waiter() {
  corio::event never;
  corio::task_group group;
  group.spawn(park_until_cancelled(&never, nullptr));
  corio::join_handle<void> first = corio::spawn(wait_for_group(&group));
  co_await corio::sleep(0ms);  // the first waiter parks
  const std::optional<std::logic_error> e = co_await caught<std::logic_error>(group.wait());
  group.cancel();
  co_await first;  // the first waiter still gets its wake-up
  co_return e ? e->what() : "";
}

corio::task<int> group_is_reusable(record* r) {
  corio::event never;
  corio::task_group group;
  group.spawn(fail_after(0ms, 5));
  group.spawn(park_until_cancelled(&never, r));
  const std::optional<test_error> e = co_await caught<test_error>(group.wait());
  // After wait() the failure is spent: new children run normally, and a
  // second wait() rethrows nothing.
  group.spawn(finish_after(1ms, r));
  group.spawn(finish_after(0ms, r));
  co_await group.wait();
  co_return e ? e->code : 0;
}

// ---- The cancellation storm: tasks parked on every kind of leaf (support/storm.hpp). ----

using corio_test::leaf;
using corio_test::leaf_kinds;
using corio_test::storm;

corio::task<int> storm_via_group(storm* s, int n) {
  auto held = co_await s->held.lock();
  REQUIRE(s->full_queue.try_put(0));
  corio::task_group group;
  for (int i = 0; i < n; ++i)
    group.spawn(leaf(s, i % leaf_kinds, counted(i)));
  group.spawn(fail_after(5ms, 42));
  const std::optional<test_error> e = co_await caught<test_error>(group.wait());
  s->release_calls.count_down();
  co_return e ? e->code : 0;
}

corio::task<std::string> child_waits_for_own_group() {
  corio::task_group g;
  g.spawn(wait_for_group(&g));
  // wait() rethrows the child's failure.
  const std::optional<std::logic_error> e = co_await caught<std::logic_error>(g.wait());
  co_return e ? e->what() : "";
}

// A child of `outer` waits for `inner`, whose child waits for `outer`: each
// wait forwards the cancellation to the other group. On 0.1 that recursed
// until the stack overflowed when run() cancelled them at its end.
corio::task<> groups_wait_for_each_other(corio::task_group* outer, corio::task_group* inner) {
  outer->spawn(wait_for_group(inner));
  inner->spawn(wait_for_group(outer));
  co_await corio::sleep(0ms);
}

}  // namespace

TEST_CASE("task_group: wait() returns once every child has finished", "[task_group][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  record r;
  CHECK(corio::run(children_run(&r)) == 10);
  CHECK(r.finished == 10);
  corio::run(wait_empty());
}

TEST_CASE("task_group: the first failure cancels the other children and wait() rethrows it",
          "[task_group][io_uring][exceptions][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  handler_capture capture;
  record r;
  CHECK(corio::run(first_failure(&r)) == 1);
  CHECK(r.cancelled == 5);
  CHECK(capture.reported.empty());  // the group answers for its children's exceptions
}

TEST_CASE("task_group: a child spawned after a failure is cancelled at once",
          "[task_group][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  record r;
  // Virtual time: the 1 ms sleep ends only once every other task is parked.
  CHECK(corio::testing::run_virtual(spawn_after_failure(&r)) == 3);
  CHECK(r.cancelled == 1);
}

TEST_CASE("task_group: cancelling the task in wait() cancels every child",
          "[task_group][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  record r;
  CHECK(corio::run(cancel_the_waiter(&r)));
}

TEST_CASE("task_group: after wait() has rethrown a failure, the group runs new children normally",
          "[task_group][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  record r;
  CHECK(corio::run(group_is_reusable(&r)) == 5);
  CHECK(r.cancelled == 1);
  CHECK(r.finished == 2);
}

TEST_CASE("task_group: spawn returns a join_handle for the child's value",
          "[task_group][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(handle_of_child()) == 8);
}

TEST_CASE("task_group: destroying a group with running children aborts in debug builds",
          "[task_group][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
#ifdef NDEBUG
  record r;
  corio::event never;
  corio::run(destroy_group_with_children(&r, &never));
  CHECK(r.cancelled == 3);  // release builds cancel them; they finish on their own
#else
  const corio_test::abort_result result = corio_test::run_in_child([] {
    record r;
    corio::event never;
    corio::run(destroy_group_with_children(&r, &never));
  });
  CHECK(result.aborted);
  CHECK(result.err.find("destroyed while children still run") != std::string::npos);
#endif
}

TEST_CASE("task_group: two or more failures give exception_group, in failure order",
          "[task_group][io_uring][exceptions][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  handler_capture capture;
  CHECK(corio::run(several_failures()) == std::vector<int>{1, 2, 3});
  CHECK(capture.reported.empty());
}

TEST_CASE("task_group: a nested group's failure does not swallow the outer cancellation",
          "[task_group][io_uring][exceptions][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  record r;
  // Virtual time: the 1 ms failure comes once the nested group is parked.
  CHECK(corio::testing::run_virtual(nested_group_keeps_cancellation(&r)) == 9);
  CHECK(r.finished == 1);
  CHECK(r.cancelled == 1);
}

TEST_CASE("task_group: a second task calling wait() gets std::logic_error",
          "[task_group][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(second_waiter()).find("waiting for this group already") != std::string::npos);
}

TEST_CASE(
    "task_group: a storm of ten thousand children parked on every kind of leaf is cancelled by one "
    "failure",
    "[task_group][io_uring][threads][cancellation][slow]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  handler_capture capture;
  storm s;
  REQUIRE(::pipe(s.pipe_fds) == 0);
  constexpr int n = 10'000;
  const auto start = std::chrono::steady_clock::now();
  CHECK(corio::run(storm_via_group(&s, n)) == 42);
  CHECK(std::chrono::steady_clock::now() - start < 20s);
  ::close(s.pipe_fds[0]);
  ::close(s.pipe_fds[1]);
  CHECK(s.cancelled == n);
  CHECK(counted::active_count() == 0);
  CHECK(capture.reported.empty());
}

TEST_CASE("task_group: a child that waits for its own group gets std::logic_error",
          "[task_group][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(child_waits_for_own_group()).find("its own group") != std::string::npos);
}

TEST_CASE(
    "task_group: two groups whose children wait for each other are a deadlock, not a stack "
    "overflow",
    "[task_group][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // The two children wait for each other forever, so run() must leave them suspended.
  corio_test::leaks_expected leaks;
  // Never destroyed: the stuck children stay linked to them.
  auto* outer = new corio::task_group;
  auto* inner = new corio::task_group;
  CHECK_THROWS_AS(corio::run(groups_wait_for_each_other(outer, inner)), std::logic_error);
}
