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
#include <stdexcept>
#include <string>
#include <vector>

#include "support/counted.hpp"
#include "support/io_uring_available.hpp"
#include "support/leaks_expected.hpp"
#include "support/storm.hpp"

using namespace std::chrono_literals;
using corio_test::counted;

namespace {

struct test_error : std::runtime_error {
  explicit test_error(int code) : std::runtime_error("test_error"), code(code) {}
  int code;
};

class handler_capture {
 public:
  handler_capture()
      : previous_(corio::set_unhandled_exception_handler(
            [this](std::exception_ptr e) { reported.push_back(std::move(e)); })) {}
  ~handler_capture() { corio::set_unhandled_exception_handler(std::move(previous_)); }
  handler_capture(const handler_capture&) = delete;
  handler_capture& operator=(const handler_capture&) = delete;
  std::vector<std::exception_ptr> reported;

 private:
  corio::unhandled_exception_handler previous_;
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
    ++r->cancelled;
    throw;
  }
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
  group.spawn(fail_after(1ms, 2));  // a later failure, dropped
  try {
    co_await group.wait();
  } catch (const test_error& e) {
    CHECK(r->cancelled == 5);  // all cancelled and finished before the rethrow
    co_return e.code;
  }
  co_return 0;
}

corio::task<int> spawn_after_failure(record* r) {
  corio::event never;
  corio::task_group group;
  group.spawn(fail_after(0ms, 3));
  co_await corio::sleep(1ms);
  group.spawn(park_until_cancelled(&never, r));  // cancelled at once
  try {
    co_await group.wait();
  } catch (const test_error& e) {
    co_return e.code;
  }
  co_return 0;
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
  try {
    co_await h;
  } catch (const corio::cancelled_error&) {
    co_return r->cancelled == 4;
  }
  co_return false;
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
  }  // destroyed without wait(): the children are cancelled and finish on their own
  co_await corio::sleep(0ms);
  co_await corio::sleep(0ms);
}

corio::task<int> group_is_reusable(record* r) {
  corio::event never;
  corio::task_group group;
  group.spawn(fail_after(0ms, 5));
  group.spawn(park_until_cancelled(&never, r));
  int code = 0;
  try {
    co_await group.wait();
  } catch (const test_error& e) {
    code = e.code;
  }
  // After wait() the failure is spent: new children run normally, and a
  // second wait() rethrows nothing.
  group.spawn(finish_after(1ms, r));
  group.spawn(finish_after(0ms, r));
  co_await group.wait();
  co_return code;
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
  int code = 0;
  try {
    co_await group.wait();
  } catch (const test_error& e) {
    code = e.code;
  }
  s->release_calls.count_down();
  co_return code;
}

corio::task<> wait_for_group(corio::task_group* g) {
  co_await g->wait();
}

corio::task<std::string> child_waits_for_own_group() {
  corio::task_group g;
  g.spawn(wait_for_group(&g));
  std::string what;
  try {
    co_await g.wait();  // rethrows the child's failure
  } catch (const std::logic_error& e) {
    what = e.what();
  }
  co_return what;
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
  CHECK(corio::run(spawn_after_failure(&r)) == 3);
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

TEST_CASE("task_group: destroying a group cancels its children, which finish on their own",
          "[task_group][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  record r;
  corio::event never;
  corio::run(destroy_group_with_children(&r, &never));
  CHECK(r.cancelled == 3);
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
  static corio::task_group outer;  // outlive run(): the stuck children wait on them
  static corio::task_group inner;
  CHECK_THROWS_AS(corio::run(groups_wait_for_each_other(&outer, &inner)), std::logic_error);
}
