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

// Waits (at most 10s) for the eventfd to be signalled and consumes the signal.
bool wait_for_signal(corio::detail::remote_queue& q) {
  pollfd p{q.eventfd(), POLLIN, 0};
  if (::poll(&p, 1, 10'000) != 1)
    return false;
  std::uint64_t value = 0;
  return ::read(q.eventfd(), &value, sizeof value) == sizeof value;
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
  REQUIRE(wait_for_signal(q));  // one signal for the batch
  q.consumed_signal();
  CHECK(q.deliver_all() == 3);
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
  REQUIRE(wait_for_signal(q));
  q.consumed_signal();
  CHECK(q.deliver_all() == 4);
  CHECK(log == std::vector<test_node*>{&a, &b, &c, &d});
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
  while (delivered < std::size_t{producers} * per_producer && signalled) {
    signalled = wait_for_signal(q);
    q.consumed_signal();
    delivered += q.deliver_all();
  }
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
