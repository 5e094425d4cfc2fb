// SPDX-License-Identifier: MIT
#include <corio/gather.hpp>

#include <corio/event.hpp>
#include <corio/event_loop.hpp>
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

#include <chrono>
#include <cstddef>
#include <latch>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "support/counted.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"
#include "support/storm.hpp"

using namespace std::chrono_literals;
using corio_test::caught;
using corio_test::counted;
using corio_test::ends_in;

namespace {

struct test_error : std::runtime_error {
  explicit test_error(int code) : std::runtime_error("test_error"), code(code) {}
  int code;
};

corio::task<int> value_after(int v, std::chrono::milliseconds d) {
  co_await corio::sleep(d);
  co_return v;
}

corio::task<int> value_now(int v) {
  co_return v;
}

corio::task<std::string> string_after(std::string s, std::chrono::milliseconds d) {
  co_await corio::sleep(d);
  co_return s;
}

corio::task<> nothing_after(std::chrono::milliseconds d) {
  co_await corio::sleep(d);
}

corio::task<std::tuple<int, std::string, int>> gather_in_argument_order() {
  // Finish in the reverse order of the arguments.
  co_return co_await corio::gather(value_after(1, 30ms), string_after("two", 15ms), value_now(3));
}

corio::task<std::tuple<int, std::monostate, int>> gather_with_void() {
  co_return co_await corio::gather(value_after(1, 1ms), nothing_after(1ms), value_now(3));
}

corio::task<std::vector<int>> gather_vector(int n) {
  std::vector<corio::task<int>> tasks;
  for (int i = 0; i < n; ++i)
    tasks.push_back(value_after(i, std::chrono::milliseconds((n - i) % 5)));
  co_return co_await corio::gather(std::move(tasks));
}

corio::task<int> gather_void_vector(int* finished) {
  std::vector<corio::task<>> tasks;
  for (int i = 0; i < 10; ++i)
    tasks.push_back(nothing_after(std::chrono::milliseconds(i % 3)));
  co_await corio::gather(std::move(tasks));
  *finished = 10;
  co_return 0;
}

corio::task<std::size_t> gather_empty_vector() {
  std::vector<int> v = co_await corio::gather(std::vector<corio::task<int>>{});
  co_await corio::gather(std::vector<corio::task<>>{});
  co_return v.size();
}

struct sibling_record {
  int cancelled = 0;
  int cleaned_up = 0;
  bool all_cleaned_up_before_rethrow = false;
};

corio::task<int> sleeping_sibling(sibling_record* r) {
  try {
    co_await corio::sleep(24h);
  } catch (const corio::cancelled_error&) {
    ++r->cancelled;
  }
  ++r->cleaned_up;  // cleanup runs whether or not the sibling rethrows
  throw corio::cancelled_error();
}

corio::task<> waiting_sibling(corio::event* never, sibling_record* r) {
  try {
    co_await never->wait();
  } catch (const corio::cancelled_error&) {
    ++r->cancelled;
    ++r->cleaned_up;
    throw;
  }
}

corio::task<int> fail_after(std::chrono::milliseconds d, int code) {
  co_await corio::sleep(d);
  throw test_error(code);
}

corio::task<int> first_failure_cancels_siblings(sibling_record* r) {
  corio::event never;
  const std::optional<test_error> e = co_await caught<test_error>(corio::gather(
      sleeping_sibling(r), fail_after(1ms, 7), waiting_sibling(&never, r), fail_after(50ms, 8)));
  r->all_cleaned_up_before_rethrow = r->cleaned_up == 2;
  co_return e ? e->code : -1;
}

corio::task<int> failure_in_vector(sibling_record* r) {
  std::vector<corio::task<int>> tasks;
  for (int i = 0; i < 5; ++i)
    tasks.push_back(sleeping_sibling(r));
  tasks.push_back(fail_after(1ms, 9));
  const std::optional<test_error> e = co_await caught<test_error>(corio::gather(std::move(tasks)));
  r->all_cleaned_up_before_rethrow = r->cleaned_up == 5;
  co_return e ? e->code : -1;
}

corio::task<int> fail_now(int code) {
  throw test_error(code);
  co_return 0;
}

corio::task<int> record_start(bool* started, counted c) {
  *started = true;
  co_return c.id;
}

corio::task<int> unstarted_children_never_start(bool* started) {
  const std::optional<test_error> e =
      co_await caught<test_error>(corio::gather(fail_now(1), record_start(started, counted(1))));
  co_return e ? e->code : -1;
}

corio::task<int> log_and_suspend(std::vector<std::string>* log, std::string name) {
  log->push_back(name + " start");
  co_await corio::sleep(0ms);
  log->push_back(name + " end");
  co_return 0;
}

corio::task<> start_order(std::vector<std::string>* log) {
  co_await corio::gather(log_and_suspend(log, "a"), log_and_suspend(log, "b"));
}

corio::task<std::tuple<corio::outcome<int>, corio::outcome<void>, corio::outcome<int>>>
settled_outcomes() {
  co_return co_await corio::gather_settled(fail_after(1ms, 5), nothing_after(1ms),
                                           value_after(3, 20ms));
}

corio::task<std::vector<corio::outcome<int>>> settled_vector() {
  std::vector<corio::task<int>> tasks;
  tasks.push_back(value_after(1, 5ms));
  tasks.push_back(fail_after(1ms, 2));
  tasks.push_back(value_now(3));
  co_return co_await corio::gather_settled(std::move(tasks));
}

corio::task<std::chrono::steady_clock::duration> gather_sleeps() {
  const auto start = std::chrono::steady_clock::now();
  auto [a, b, c] = co_await corio::gather(corio::sleep(1s), corio::sleep(1s), corio::sleep(1s));
  static_assert(std::is_same_v<decltype(a), std::monostate>);
  co_return std::chrono::steady_clock::now() - start;
}

corio::task<int> gather_mixed_awaitables() {
  auto [v, s] = co_await corio::gather(value_after(4, 1ms), corio::sleep(1ms));
  (void)s;
  co_return v;
}

corio::task<> gather_waiting(corio::event* never, sibling_record* r) {
  co_await corio::gather(waiting_sibling(never, r), sleeping_sibling(r), waiting_sibling(never, r));
}

corio::task<bool> cancel_gathering_task(sibling_record* r) {
  corio::event never;
  corio::join_handle<void> h = corio::spawn(gather_waiting(&never, r));
  co_await corio::sleep(0ms);
  h.cancel();
  const bool cancelled = co_await ends_in<corio::cancelled_error>(h);
  co_return cancelled && r->cleaned_up == 3;
}

corio::task<std::tuple<int, int>> settled_waiting(corio::event* never, sibling_record* r) {
  auto [a, b] = co_await corio::gather_settled(waiting_sibling(never, r), sleeping_sibling(r));
  co_return std::tuple<int, int>(a.has_exception(), b.has_exception());
}

corio::task<bool> cancel_settled_gathering_task(sibling_record* r) {
  corio::event never;
  corio::join_handle<std::tuple<int, int>> h = corio::spawn(settled_waiting(&never, r));
  co_await corio::sleep(0ms);
  h.cancel();
  const bool cancelled = co_await ends_in<corio::cancelled_error>(h);
  co_return cancelled && r->cleaned_up == 2;
}

corio::task<counted> counted_after(int id, std::chrono::milliseconds d) {
  co_await corio::sleep(d);
  co_return counted(id);
}

corio::task<counted> counted_fail(counted c) {
  co_await corio::sleep(1ms);
  throw test_error(c.id);
}

corio::task<int> counted_gathers() {
  int sum = 0;
  auto [a, b] = co_await corio::gather(counted_after(1, 1ms), counted_after(2, 2ms));
  sum += a.id + b.id;
  std::vector<corio::task<counted>> tasks;
  for (int i = 0; i < 10; ++i)
    tasks.push_back(counted_after(i, std::chrono::milliseconds(i % 3)));
  for (const counted& c : co_await corio::gather(std::move(tasks)))
    sum += c.id;
  const std::optional<test_error> e =
      co_await caught<test_error>(corio::gather(counted_after(1, 1h), counted_fail(counted(5))));
  sum += e ? e->code : 0;
  auto [x, y] = co_await corio::gather_settled(counted_after(1, 0ms), counted_fail(counted(6)));
  sum += x.value().id + (y.has_exception() ? 100 : 0);
  co_return sum;
}

corio::task<std::size_t> immediate(std::size_t v) {
  co_return v;
}

corio::task<std::size_t> yield_then(std::size_t v) {
  co_await corio::sleep(0ms);
  co_return v;
}

corio::task<std::size_t> gather_a_million() {
  constexpr std::size_t n = 1'000'000;
  std::vector<corio::task<std::size_t>> tasks;
  tasks.reserve(n);
  // Half finish at once, half after a yield through the ready queue.
  for (std::size_t i = 0; i < n; ++i)
    tasks.push_back(i % 2 == 0 ? immediate(i) : yield_then(i));
  std::vector<std::size_t> results = co_await corio::gather(std::move(tasks));
  std::size_t in_order = 0;
  for (std::size_t i = 0; i < n; ++i)
    in_order += results[i] == i ? 1 : 0;
  co_return in_order;
}

corio::task<bool> gather_empty_task() {
  corio::task<int> t = value_now(1);
  corio::task<int> other = std::move(t);
  co_return co_await ends_in<std::logic_error>(
      corio::gather(std::move(t), std::move(other)));  // NOLINT(bugprone-use-after-move)
}

corio::task<int> throw_cancelled_after_yield() {
  co_await corio::sleep(0ms);
  throw corio::cancelled_error();
}

corio::task<int> child_cancelled_error_is_a_failure() {
  const bool cancelled = co_await ends_in<corio::cancelled_error>(
      corio::gather(value_after(1, 1ms), throw_cancelled_after_yield()));
  co_return cancelled ? 1 : 0;
}

corio::task<int> pending_cancel_before_gather(bool* started) {
  co_await corio::sleep(0ms);  // main cancels us here, while we are not parked
  const bool cancelled = co_await ends_in<corio::cancelled_error>(
      corio::gather(record_start(started, counted(1)), record_start(started, counted(2))));
  co_return cancelled ? 1 : 0;
}

corio::task<int> cancel_while_not_parked(bool* started) {
  corio::join_handle<int> h = corio::spawn(pending_cancel_before_gather(started));
  co_await corio::sleep(0ms);  // h runs up to its sleep(0)
  h.cancel();
  co_return co_await h;
}

// A child that cancels the very task awaiting the gather, then catches the
// cancellation (delivered at its next suspension) and returns normally.
corio::task<int> cancel_own_gatherer(corio::join_handle<std::tuple<int, std::string>>* gatherer) {
  gatherer->cancel();
  try {
    co_await corio::sleep(0ms);
  } catch (const corio::cancelled_error&) {
  }
  co_return 1;
}

corio::task<std::string> never_started(bool* started) {
  *started = true;
  co_return std::string(100, 'x');
}

corio::task<std::tuple<int, std::string>> gatherer(
    corio::join_handle<std::tuple<int, std::string>>* self, bool* started) {
  co_return co_await corio::gather(cancel_own_gatherer(self), never_started(started));
}

corio::task<bool> cancelled_while_starting(bool* started) {
  corio::join_handle<std::tuple<int, std::string>> h;
  h = corio::spawn(gatherer(&h, started));
  co_return co_await ends_in<corio::cancelled_error>(h);
}

corio::task<int> swallow_cancel_and_return(int v) {
  try {
    co_await corio::sleep(24h);
  } catch (const corio::cancelled_error&) {
  }
  co_return v;
}

corio::task<int> gather_values_then_sleep(bool* later_sleep_cancelled) {
  auto [a, b] = co_await corio::gather(swallow_cancel_and_return(1), swallow_cancel_and_return(2));
  *later_sleep_cancelled = co_await ends_in<corio::cancelled_error>(corio::sleep(24h));
  co_return a + b;
}

corio::task<int> cancel_gatherer_of_swallowing_children(bool* later_sleep_cancelled) {
  corio::join_handle<int> h = corio::spawn(gather_values_then_sleep(later_sleep_cancelled));
  co_await corio::sleep(0ms);
  h.cancel();
  co_return co_await h;
}

// ---- The cancellation storm: tasks parked on every kind of leaf (support/storm.hpp). ----

using corio_test::leaf;
using corio_test::leaf_kinds;
using corio_test::storm;

corio::task<> fail_storm_after(std::chrono::milliseconds d, int code) {
  co_await corio::sleep(d);
  throw test_error(code);
}

corio::task<int> storm_via_gather(storm* s, int n) {
  auto held = co_await s->held.lock();
  REQUIRE(s->full_queue.try_put(0));
  std::vector<corio::task<>> tasks;
  for (int i = 0; i < n; ++i)
    tasks.push_back(leaf(s, i % leaf_kinds, counted(i)));
  tasks.push_back(fail_storm_after(5ms, 43));
  const std::optional<test_error> e = co_await caught<test_error>(corio::gather(std::move(tasks)));
  s->release_calls.count_down();
  co_return e ? e->code : 0;
}

}  // namespace

TEST_CASE("gather: returns a tuple of results in argument order, whatever order they finish in",
          "[gather][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(gather_in_argument_order()) == std::tuple<int, std::string, int>(1, "two", 3));
}

TEST_CASE("gather: a task<void> contributes std::monostate at its position", "[gather][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  STATIC_REQUIRE(std::is_same_v<decltype(corio::gather(value_now(1), nothing_after(1ms))),
                                corio::task<std::tuple<int, std::monostate>>>);
  const auto [a, b, c] = corio::run(gather_with_void());
  CHECK(a == 1);
  CHECK(b == std::monostate{});
  CHECK(c == 3);
}

TEST_CASE("gather: a vector of task<T> gives a vector of T in order", "[gather][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<int> expected;
  for (int i = 0; i < 50; ++i)
    expected.push_back(i);
  CHECK(corio::run(gather_vector(50)) == expected);
  CHECK(corio::run(gather_empty_vector()) == 0);
}

TEST_CASE("gather: a vector of task<void> gives void", "[gather][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  STATIC_REQUIRE(
      std::is_same_v<decltype(corio::gather(std::vector<corio::task<>>{})), corio::task<>>);
  int finished = 0;
  corio::run(gather_void_vector(&finished));
  CHECK(finished == 10);
}

TEST_CASE("gather: children start in argument order, each until its first suspension",
          "[gather][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<std::string> log;
  corio::run(start_order(&log));
  CHECK(log == std::vector<std::string>{"a start", "b start", "a end", "b end"});
}

TEST_CASE("gather: the first exception cancels the siblings, waits for all, then is rethrown",
          "[gather][io_uring][exceptions][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  sibling_record r;
  // Virtual time: the 1 ms failure comes first even when the machine is slow.
  CHECK(corio::testing::run_virtual(first_failure_cancels_siblings(&r)) == 7);  // not 8: cancelled
  CHECK(r.cancelled == 2);
  CHECK(r.all_cleaned_up_before_rethrow);

  sibling_record v;
  CHECK(corio::run(failure_in_vector(&v)) == 9);
  CHECK(v.cancelled == 5);
  CHECK(v.all_cleaned_up_before_rethrow);
}

TEST_CASE("gather: children not yet started when one fails never start, and are freed",
          "[gather][io_uring][exceptions][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  bool started = false;
  CHECK(corio::run(unstarted_children_never_start(&started)) == 1);
  CHECK_FALSE(started);
  CHECK(counted::active_count() == 0);
}

TEST_CASE("gather: a child's own cancelled_error counts as a failure and is rethrown",
          "[gather][io_uring][exceptions]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(child_cancelled_error_is_a_failure()) == 1);
}

TEST_CASE("gather_settled: keeps every outcome, and a failure cancels nothing",
          "[gather][io_uring][exceptions]") {
  CORIO_TEST_REQUIRE_IO_URING();
  auto [a, b, c] = corio::run(settled_outcomes());
  CHECK(a.has_exception());
  CHECK_FALSE(a.has_value());
  CHECK_THROWS_AS(a.value(), test_error);
  CHECK(b.has_value());
  CHECK(c.has_value());
  CHECK(c.value() == 3);  // it slept past the failure, uncancelled

  std::vector<corio::outcome<int>> v = corio::run(settled_vector());
  REQUIRE(v.size() == 3);
  CHECK(v[0].value() == 1);
  CHECK(v[1].has_exception());
  CHECK(v[2].value() == 3);
}

TEST_CASE("gather: accepts awaitables that are not tasks (sleep), run concurrently",
          "[gather][io_uring][timing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const auto elapsed = corio::run(gather_sleeps());
  CHECK(elapsed >= 1s);
  CHECK(elapsed < 2500ms);  // three sleeps in sequence would take 3 s
  CHECK(corio::run(gather_mixed_awaitables()) == 4);
}

TEST_CASE("gather: cancelling the task that awaits gather cancels every child",
          "[gather][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  sibling_record r;
  CHECK(corio::run(cancel_gathering_task(&r)));
  CHECK(r.cancelled == 3);

  sibling_record s;
  CHECK(corio::run(cancel_settled_gathering_task(&s)));
  CHECK(s.cancelled == 2);
}

TEST_CASE("gather: a cancellation pending before gather is delivered there; no child starts",
          "[gather][io_uring][cancellation][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  bool started = false;
  CHECK(corio::run(cancel_while_not_parked(&started)) == 1);
  CHECK_FALSE(started);
  CHECK(counted::active_count() == 0);
}

TEST_CASE(
    "gather: cancelled while starting its children, it throws cancelled_error rather than return "
    "values it never got",
    "[gather][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  bool started = false;
  CHECK(corio::run(cancelled_while_starting(&started)));
  CHECK_FALSE(started);
}

TEST_CASE(
    "gather: cancelled, it returns the values of children that swallowed the cancellation; the "
    "next suspension is cancelled",
    "[gather][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  bool later_sleep_cancelled = false;
  CHECK(corio::run(cancel_gatherer_of_swallowing_children(&later_sleep_cancelled)) == 3);
  CHECK(later_sleep_cancelled);
}

TEST_CASE("gather: an empty (moved-from) task throws std::logic_error",
          "[gather][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(gather_empty_task()));
}

TEST_CASE("gather: every result, frame and exception is freed (counted returns to 0)",
          "[gather][io_uring][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  CHECK(corio::run(counted_gathers()) == 1 + 2 + 45 + 5 + 1 + 100);
  CHECK(counted::active_count() == 0);
}

TEST_CASE("gather: a million tasks gathered finish in order", "[gather][io_uring][slow]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(gather_a_million()) == 1'000'000);
}

TEST_CASE(
    "gather: a storm of ten thousand children parked on every kind of leaf is cancelled by one "
    "failure",
    "[gather][io_uring][threads][cancellation][slow]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  storm s;
  REQUIRE(::pipe(s.pipe_fds) == 0);
  constexpr int n = 10'000;
  const auto start = std::chrono::steady_clock::now();
  CHECK(corio::run(storm_via_gather(&s, n)) == 43);
  CHECK(std::chrono::steady_clock::now() - start < 20s);
  ::close(s.pipe_fds[0]);
  ::close(s.pipe_fds[1]);
  CHECK(s.cancelled == n);
  CHECK(counted::active_count() == 0);
}
