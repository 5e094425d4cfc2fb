// SPDX-License-Identifier: MIT
#include <corio/task.hpp>

#include <corio/event_loop.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/yield.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "support/aborts.hpp"
#include "support/counted.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

using corio_test::caught;
using corio_test::counted;

namespace {

struct test_error : std::runtime_error {
  explicit test_error(int code) : std::runtime_error("test_error"), code(code) {}
  int code;
};

corio::task<int> forty_two() {
  co_return 42;
}

corio::task<> set_flag(bool* flag) {
  *flag = true;
  co_return;
}

corio::task<> flag_then_await(bool* started, corio::task<> inner) {
  *started = true;
  co_await std::move(inner);
}

corio::task<int> await_lazily(bool* inner_ran) {
  bool ran = false;
  corio::task<> t = set_flag(&ran);
  *inner_ran = ran;  // still false: making the task ran nothing
  co_await std::move(t);
  co_return ran ? 1 : 0;
}

corio::task<int&> reference_to(int* target) {
  co_return *target;
}

corio::task<int*> address_via_reference(int* target) {
  int& r = co_await reference_to(target);
  co_return &r;
}

corio::task<std::unique_ptr<int>> make_unique_int(int v) {
  co_return std::make_unique<int>(v);
}

corio::task<int> unwrap_unique() {
  std::unique_ptr<int> p = co_await make_unique_int(7);
  co_return *p;
}

corio::task<int> throws_test_error(int code) {
  throw test_error(code);
  co_return 0;
}

corio::task<int> throws_after_suspending(int code) {
  co_await corio::sleep(std::chrono::milliseconds(1));
  throw test_error(code);
}

corio::task<int> catch_code(corio::task<int> t) {
  const std::optional<test_error> e = co_await caught<test_error>(std::move(t));
  co_return e ? e->code : -1;
}

corio::task<> rethrow_through_chain(int depth) {
  if (depth == 0)
    throw test_error(99);
  co_await rethrow_through_chain(depth - 1);
}

corio::task<std::size_t> nested(std::size_t depth) {
  if (depth == 0)
    co_return 0;
  co_return 1 + co_await nested(depth - 1);
}

corio::task<std::size_t> immediate(std::size_t v) {
  co_return v;
}

corio::task<std::size_t> await_many_immediate(std::size_t count) {
  std::size_t sum = 0;
  for (std::size_t i = 0; i < count; ++i)
    sum += co_await immediate(1);
  co_return sum;
}

corio::task<int> take_counted(counted c) {
  co_return c.id;
}

corio::task<counted> make_counted(int id) {
  counted local(1000 + id);
  co_return counted(id);
}

corio::task<int> use_counted_results() {
  int sum = 0;
  for (int i = 0; i < 10; ++i) {
    counted c = co_await make_counted(i);
    sum += c.id;
  }
  co_return sum;
}

corio::task<std::string> await_moved_from() {
  corio::task<int> t = forty_two();
  corio::task<int> other = std::move(t);
  // NOLINTNEXTLINE(bugprone-use-after-move): the point of the test
  const std::optional<std::logic_error> e = co_await caught<std::logic_error>(t);
  co_await std::move(other);
  co_return e ? e->what() : "";
}

corio::task<std::string> await_twice() {
  corio::task<int> t = forty_two();
  co_await t;
  const std::optional<std::logic_error> e = co_await caught<std::logic_error>(t);
  co_return e ? e->what() : "";
}

corio::task<> sleep_a_little() {
  co_await corio::sleep(std::chrono::milliseconds(20));
}
[[maybe_unused]] constexpr unsigned sleep_a_little_line = __LINE__ - 2;

corio::task<> await_at(corio::task<>* t) {
  co_await *t;
}

// A second co_await of a task another task is suspended in: on 0.1 it
// resumed the frame out of its sleep, and the timer later fired into a
// finished frame.
corio::task<std::string> await_while_awaited() {
  corio::task<> t = sleep_a_little();
  corio::join_handle<void> first = corio::spawn(await_at(&t));
  co_await corio::yield();  // `first` is now suspended inside t
  const std::optional<std::logic_error> e = co_await caught<std::logic_error>(t);
  co_await first;
  co_return e ? e->what() : "";
}

// Replaces a task while another task is suspended in it; aborts in debug
// builds, and in debug mode.
corio::task<> assign_while_awaited() {
  corio::task<> t = sleep_a_little();
  corio::join_handle<void> first = corio::spawn(await_at(&t));
  co_await corio::yield();
  t = corio::task<>();
  co_await first;
}

corio::task<int> awaits_lvalue() {
  corio::task<int> t = forty_two();
  co_return co_await t;
}

}  // namespace

TEST_CASE("task: is lazy: nothing runs until it is awaited", "[task][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  bool ran = false;
  corio::task<> t = set_flag(&ran);
  CHECK_FALSE(ran);
  corio::run(std::move(t));
  CHECK(ran);

  bool inner_ran_before_await = true;
  CHECK(corio::run(await_lazily(&inner_ran_before_await)) == 1);
  CHECK_FALSE(inner_ran_before_await);
}

TEST_CASE("task: an awaited task starts only when its awaiter reaches the co_await",
          "[task][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  bool started = false;
  bool inner = false;
  corio::task<> t = flag_then_await(&started, set_flag(&inner));
  CHECK_FALSE(started);
  CHECK_FALSE(inner);
  corio::run(std::move(t));
  CHECK(started);
  CHECK(inner);
}

TEST_CASE("task: is move-only, with noexcept moves", "[task]") {
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<corio::task<int>>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<corio::task<int>>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<corio::task<int>>);
  STATIC_REQUIRE(std::is_nothrow_move_assignable_v<corio::task<int>>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<corio::task<>>);

  corio::task<int> a = forty_two();
  CHECK(static_cast<bool>(a));
  corio::task<int> b = std::move(a);
  CHECK_FALSE(static_cast<bool>(a));  // NOLINT(bugprone-use-after-move)
  CHECK(static_cast<bool>(b));
  corio::task<int> c;
  CHECK_FALSE(static_cast<bool>(c));
}

TEST_CASE("task: co_await yields the value given to co_return", "[task][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(forty_two()) == 42);
  CHECK(corio::run(awaits_lvalue()) == 42);
}

TEST_CASE("task: task<void> runs to its end", "[task][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  STATIC_REQUIRE(std::is_same_v<corio::task<>, corio::task<void>>);
  bool ran = false;
  corio::run(set_flag(&ran));
  CHECK(ran);
}

TEST_CASE("task: task<T&> yields a reference to the very object", "[task][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  int target = 5;
  CHECK(corio::run(address_via_reference(&target)) == &target);
  int& r = corio::run(reference_to(&target));
  CHECK(&r == &target);
}

TEST_CASE("task: a move-only result (std::unique_ptr) is moved out", "[task][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(unwrap_unique()) == 7);
  std::unique_ptr<int> p = corio::run(make_unique_int(9));
  REQUIRE(p != nullptr);
  CHECK(*p == 9);
}

TEST_CASE("task: an exception propagates to the awaiter", "[task][io_uring][exceptions]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(catch_code(throws_test_error(3))) == 3);
  CHECK(corio::run(catch_code(throws_after_suspending(4))) == 4);
  try {
    corio::run(rethrow_through_chain(100));
    FAIL("no exception");
  } catch (const test_error& e) {
    CHECK(e.code == 99);
  }
}

TEST_CASE("task: a chain of a million nested awaits does not overflow the stack",
          "[task][io_uring][slow][stack]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(nested(1'000'000)) == 1'000'000);
}

TEST_CASE(
    "task: a loop of a million awaits of tasks that complete at once does not overflow the stack",
    "[task][io_uring][slow][stack]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(await_many_immediate(1'000'000)) == 1'000'000);
}

TEST_CASE("task: destroying a task that never started frees its frame", "[task][lifetime]") {
  counted::reset_counts();
  {
    corio::task<int> t = take_counted(counted(1));
    CHECK(counted::active_count() == 1);  // the parameter's copy in the frame
  }
  CHECK(counted::active_count() == 0);
}

TEST_CASE("task: move assignment frees the frame the target held", "[task][lifetime]") {
  counted::reset_counts();
  corio::task<int> a = take_counted(counted(1));
  corio::task<int> b = take_counted(counted(2));
  CHECK(counted::active_count() == 2);
  a = std::move(b);
  CHECK(counted::active_count() == 1);
  a = corio::task<int>();
  CHECK(counted::active_count() == 0);
}

TEST_CASE("task: frames, locals and results are freed once awaited (counted returns to 0)",
          "[task][io_uring][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  CHECK(corio::run(use_counted_results()) == 45);
  CHECK(corio::run(take_counted(counted(3))) == 3);
  CHECK(counted::active_count() == 0);
}

TEST_CASE("task: awaiting a moved-from task throws std::logic_error", "[task][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::string what = corio::run(await_moved_from());
  CHECK(what.find("moved from") != std::string::npos);
}

TEST_CASE("task: awaiting a task a second time throws std::logic_error",
          "[task][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::string what = corio::run(await_twice());
  CHECK(what.find("awaited once") != std::string::npos);
}

TEST_CASE("task: awaiting a task that another task is suspended in throws std::logic_error",
          "[task][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::string what = corio::run(await_while_awaited());
  CHECK(what.find("already being awaited") != std::string::npos);
}

TEST_CASE("task: assigning to a task while it runs aborts with the reason in debug mode",
          "[task][io_uring][misuse][debug]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // Debug builds check it always; debug mode checks it with NDEBUG too.
  const corio_test::abort_result r =
      corio_test::run_in_child([] { corio::run(assign_while_awaited(), {.debug = true}); });
  CHECK(r.aborted);
  CHECK(r.err.find("destroyed (or assigned to) while it runs") != std::string::npos);
#if CORIO_DETAIL_AWAIT_LOCATION
  // clang records where it waits: the sleep in sleep_a_little.
  CHECK(r.err.find("the task destroyed while it runs waits at ") != std::string::npos);
  CHECK(r.err.find("task_test.cpp:" + std::to_string(sleep_a_little_line)) != std::string::npos);
#endif
}
