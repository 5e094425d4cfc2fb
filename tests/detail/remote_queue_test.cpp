// SPDX-License-Identifier: MIT
#include <corio/detail/remote_queue.hpp>

#include <unistd.h>
#include <poll.h>

#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <thread>
#include <vector>

namespace {

struct test_node : corio::detail::remote_node {
  test_node() : remote_node(&on_deliver) {}
  static void on_deliver(remote_node* self) noexcept {
    auto& n = *static_cast<test_node*>(self);
    n.log->push_back(&n);
  }
  int producer = 0;
  int sequence = 0;
  std::vector<test_node*>* log = nullptr;
};

// Waits (at most `ms`) for the eventfd to be signalled and consumes the
// signal; returns the eventfd's count, 0 if it was not signalled.
std::uint64_t wait_for_signal(corio::detail::remote_queue& q, int ms = 10'000) {
  pollfd p{q.eventfd(), POLLIN, 0};
  if (::poll(&p, 1, ms) != 1)
    return 0;
  std::uint64_t value = 0;
  return ::read(q.eventfd(), &value, sizeof value) == sizeof value ? value : 0;
}

// The loop's side: sleeps on the eventfd unless something is queued.
std::size_t sleep_and_deliver(corio::detail::remote_queue& q, bool& woken) {
  woken = !q.prepare_to_sleep() || wait_for_signal(q) != 0;
  q.awake();
  return q.deliver_all();
}

}  // namespace

TEST_CASE("remote_queue: delivers on the consumer's thread, oldest first", "[remote_queue]") {
  corio::detail::remote_queue q;
  std::vector<test_node*> log;
  test_node a, b, c;
  for (test_node* n : {&a, &b, &c}) {
    n->log = &log;
    q.push(n);
  }
  bool woken = false;
  CHECK(sleep_and_deliver(q, woken) == 3);
  CHECK(woken);
  CHECK(log == std::vector<test_node*>{&a, &b, &c});
  CHECK(q.deliver_all() == 0);
}

TEST_CASE("remote_queue: a batch arrives in the order it was added, after earlier pushes",
          "[remote_queue]") {
  corio::detail::remote_queue q;
  std::vector<test_node*> log;
  test_node a, b, c, d;
  for (test_node* n : {&a, &b, &c, &d})
    n->log = &log;
  q.push(&a);
  corio::detail::remote_batch batch;
  batch.add(&b);
  batch.add(&c);
  batch.add(&d);
  q.push(batch);
  CHECK(batch.empty());
  bool woken = false;
  CHECK(sleep_and_deliver(q, woken) == 4);
  CHECK(woken);
  CHECK(log == std::vector<test_node*>{&a, &b, &c, &d});
}

TEST_CASE("remote_queue: a push writes the eventfd only while the consumer sleeps, once",
          "[remote_queue]") {
  corio::detail::remote_queue q;
  std::vector<test_node*> log;
  test_node a, b, c;
  for (test_node* n : {&a, &b, &c})
    n->log = &log;
  q.push(&a);  // the consumer runs: no system call, nothing to read
  CHECK(wait_for_signal(q, 0) == 0);
  CHECK_FALSE(q.prepare_to_sleep());  // a node is queued: it must not sleep
  q.awake();
  CHECK(q.deliver_all() == 1);
  REQUIRE(q.prepare_to_sleep());
  q.push(&b);
  q.push(&c);
  CHECK(wait_for_signal(q) == 1);  // one write for both pushes
  q.awake();
  CHECK(q.deliver_all() == 2);
  CHECK(log == std::vector<test_node*>{&a, &b, &c});
}

TEST_CASE(
    "remote_queue: pushes from many threads all arrive, each thread's in order, no wake-up lost",
    "[remote_queue][threads]") {
  constexpr int producers = 4;
  constexpr int per_producer = 20'000;
  corio::detail::remote_queue q;
  std::vector<test_node*> log;
  std::vector<std::vector<test_node>> nodes(producers, std::vector<test_node>(per_producer));
  for (int p = 0; p < producers; ++p) {
    for (int i = 0; i < per_producer; ++i) {
      nodes[p][i].producer = p;
      nodes[p][i].sequence = i;
      nodes[p][i].log = &log;
    }
  }
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&q, &nodes, p] {
      for (test_node& n : nodes[p])
        q.push(&n);
    });
  }
  std::size_t delivered = 0;
  bool signalled = true;
  while (delivered < std::size_t{producers} * per_producer && signalled)
    delivered += sleep_and_deliver(q, signalled);
  for (std::thread& t : threads)
    t.join();
  CHECK(signalled);
  REQUIRE(delivered == std::size_t{producers} * per_producer);
  std::vector<int> next(producers, 0);
  bool in_order = true;
  for (const test_node* n : log) {
    in_order = in_order && n->sequence == next[n->producer];
    ++next[n->producer];
  }
  CHECK(in_order);
}
