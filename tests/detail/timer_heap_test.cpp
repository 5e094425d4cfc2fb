// SPDX-License-Identifier: MIT
#include <corio/detail/timer_heap.hpp>

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// A timer that records its id in a shared log when it fires (it is never
// parked, so never cancelled).
struct test_timer : corio::detail::timer_node {
  test_timer(std::vector<int>* log, int id)
      : timer_node(hooks_of<&never_cancelled, nullptr, &on_fire>), log(log), id(id) {}
  static void never_cancelled(cancellable*) noexcept {}
  static void on_fire(cancellable* self) noexcept {
    auto& t = *static_cast<test_timer*>(self);
    t.log->push_back(t.id);
  }
  std::vector<int>* log;
  int id;
};

const clock_type::time_point t0 = clock_type::time_point(1h);

}  // namespace

TEST_CASE("timer_heap: fires every due timer, earliest first", "[timer_heap]") {
  corio::detail::timer_heap heap;
  std::vector<int> log;
  test_timer a(&log, 1), b(&log, 2), c(&log, 3), d(&log, 4), e(&log, 5);
  heap.add(&c, t0 + 30ms);
  heap.add(&a, t0 + 10ms);
  heap.add(&d, t0 + 30ms);
  heap.add(&b, t0 + 20ms);
  heap.add(&e, t0 + 30ms);
  CHECK(heap.size() == 5);
  CHECK(heap.next_deadline() == t0 + 10ms);
  CHECK(a.armed());

  heap.fire_due(t0 + 5ms);  // nothing due
  CHECK(log.empty());
  heap.fire_due(t0 + 20ms);  // a deadline equal to now is due
  CHECK(log == std::vector<int>{1, 2});
  CHECK_FALSE(a.armed());
  CHECK(heap.next_deadline() == t0 + 30ms);
  heap.fire_due(t0 + 1h);
  REQUIRE(log.size() == 5);
  std::sort(log.begin() + 2, log.end());  // equal deadlines fire in no particular order
  CHECK(log == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(heap.empty());
}

TEST_CASE("timer_heap: fire_due fires at most its limit, earliest first, and says how many",
          "[timer_heap]") {
  corio::detail::timer_heap heap;
  std::vector<int> log;
  test_timer a(&log, 1), b(&log, 2), c(&log, 3);
  heap.add(&c, t0 + 3ms);
  heap.add(&a, t0 + 1ms);
  heap.add(&b, t0 + 2ms);
  CHECK(heap.fire_due(t0 + 1h, 2) == 2);
  CHECK(log == std::vector<int>{1, 2});
  CHECK(c.armed());
  CHECK(heap.fire_due(t0 + 1h, 2) == 1);
  CHECK(log == std::vector<int>{1, 2, 3});
  CHECK(heap.fire_due(t0 + 1h, 2) == 0);
}

TEST_CASE("timer_heap: a removed timer never fires and the rest keep their order", "[timer_heap]") {
  corio::detail::timer_heap heap;
  std::vector<int> log;
  std::vector<std::unique_ptr<test_timer>> timers;
  for (int i = 0; i < 10; ++i) {
    timers.push_back(std::make_unique<test_timer>(&log, i));
    heap.add(timers.back().get(), t0 + std::chrono::milliseconds((i * 7) % 10));
  }
  heap.remove(timers[3].get());  // the middle
  heap.remove(timers[0].get());  // the root (deadline t0)
  heap.remove(timers[9].get());
  CHECK_FALSE(timers[3]->armed());
  CHECK(heap.size() == 7);
  heap.fire_due(t0 + 1h);
  // Deadlines (i*7)%10: 1->7, 2->4, 4->8, 5->5, 6->2, 7->9, 8->6.
  CHECK(log == std::vector<int>{6, 2, 5, 8, 1, 4, 7});
}

TEST_CASE("timer_heap: fires in deadline order under random adds and removes", "[timer_heap]") {
  corio::detail::timer_heap heap;
  std::vector<int> log;
  constexpr int n = 2000;
  std::vector<std::unique_ptr<test_timer>> timers;
  std::vector<std::pair<clock_type::time_point, int>> expected;  // (deadline, id)
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> ms(0, 100);
  for (int i = 0; i < n; ++i) {
    timers.push_back(std::make_unique<test_timer>(&log, i));
    const auto deadline = t0 + std::chrono::milliseconds(ms(rng));
    heap.add(timers.back().get(), deadline);
    expected.emplace_back(deadline, i);
  }
  for (int i = 0; i < n; i += 3)
    heap.remove(timers[static_cast<std::size_t>(i)].get());
  std::erase_if(expected, [](const auto& p) { return p.second % 3 == 0; });
  std::stable_sort(expected.begin(), expected.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<clock_type::time_point> deadlines(n);
  for (const auto& p : expected)
    deadlines[static_cast<std::size_t>(p.second)] = p.first;
  heap.fire_due(t0 + 1h);
  // Deadlines in order; the set of timers exactly those not removed.
  std::vector<clock_type::time_point> fired;
  for (int id : log)
    fired.push_back(deadlines[static_cast<std::size_t>(id)]);
  std::vector<clock_type::time_point> expected_deadlines;
  for (const auto& p : expected)
    expected_deadlines.push_back(p.first);
  CHECK(fired == expected_deadlines);
  std::vector<int> fired_ids = log;
  std::sort(fired_ids.begin(), fired_ids.end());
  std::vector<int> expected_ids;
  for (const auto& p : expected)
    expected_ids.push_back(p.second);
  std::sort(expected_ids.begin(), expected_ids.end());
  CHECK(fired_ids == expected_ids);
  CHECK(heap.empty());
}

TEST_CASE("timer_heap: random adds, removes and partial firings keep the heap exact",
          "[timer_heap]") {
  // Against a reference: every timer due fires once, in deadline order, and
  // no timer fires early or after being removed.
  corio::detail::timer_heap heap;
  std::vector<int> log;
  constexpr int n = 3000;
  std::vector<std::unique_ptr<test_timer>> timers;
  std::vector<clock_type::time_point> deadline(n);
  std::vector<bool> armed(n, false);
  for (int i = 0; i < n; ++i)
    timers.push_back(std::make_unique<test_timer>(&log, i));
  std::mt19937 rng(777);
  auto now = t0;
  bool exact = true;
  for (int step = 0; step < 20'000 && exact; ++step) {
    const int op = static_cast<int>(rng() % 10);
    const auto i = static_cast<std::size_t>(rng() % n);
    if (op < 5 && !armed[i]) {
      deadline[i] = now + std::chrono::microseconds(rng() % 5000);
      heap.add(timers[i].get(), deadline[i]);
      armed[i] = true;
    } else if (op < 8 && armed[i]) {
      heap.remove(timers[i].get());
      armed[i] = false;
    } else if (op >= 8) {
      now += std::chrono::microseconds(rng() % 500);
      log.clear();
      heap.fire_due(now);
      auto last = clock_type::time_point::min();
      for (int id : log) {
        const auto k = static_cast<std::size_t>(id);
        exact = exact && armed[k] && deadline[k] <= now && deadline[k] >= last;
        last = deadline[k];
        armed[k] = false;
      }
      for (std::size_t k = 0; k < n; ++k)
        exact = exact && !(armed[k] && deadline[k] <= now);
    }
    for (std::size_t k = 0; k < n && exact; k += 97)
      exact = timers[k]->armed() == armed[k];
  }
  CHECK(exact);
  std::size_t still_armed = 0;
  for (bool a : armed)
    still_armed += a ? 1 : 0;
  CHECK(heap.size() == still_armed);
}

TEST_CASE("timer_heap: a timer fired may be armed again", "[timer_heap]") {
  corio::detail::timer_heap heap;
  std::vector<int> log;
  test_timer a(&log, 1);
  heap.add(&a, t0);
  heap.fire_due(t0);
  heap.add(&a, t0 + 1ms);
  CHECK(a.armed());
  heap.fire_due(t0 + 1ms);
  CHECK(log == std::vector<int>{1, 1});
}

TEST_CASE("deadline_after: a negative or zero duration is now, a huge one saturates",
          "[timer_heap]") {
  const auto before = clock_type::now();
  const auto zero = corio::detail::deadline_after(0s);
  const auto negative = corio::detail::deadline_after(-1h);
  const auto most_negative = corio::detail::deadline_after(std::chrono::nanoseconds::min());
  const auto after = clock_type::now();
  CHECK(zero >= before);
  CHECK(zero <= after);
  CHECK(negative >= before);
  CHECK(negative <= after);
  CHECK(most_negative >= before);
  CHECK(corio::detail::deadline_after(std::chrono::hours::max()) == clock_type::time_point::max());
  CHECK(corio::detail::deadline_after(std::chrono::nanoseconds::max()) ==
        clock_type::time_point::max());
  CHECK(corio::detail::deadline_after(std::chrono::duration<double>(1e300)) ==
        clock_type::time_point::max());
  const auto one_ms = corio::detail::deadline_after(1ms);
  CHECK(one_ms >= before + 1ms);
  // Fractions of a tick round up, never down.
  CHECK(corio::detail::deadline_after(std::chrono::duration<double, std::nano>(0.5)) > before);
}
