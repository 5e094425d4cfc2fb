// SPDX-License-Identifier: MIT
// examples/producer_consumer.cpp: asyncio's queue pattern. A producer puts
// twelve jobs into a bounded queue that three workers take them from; join()
// waits until every job has been marked done with task_done(), and
// shutdown() then stops the workers, whose get() throws queue_shut_down.
//
// Run: build/release/examples/producer_consumer
// Expected output:
//   put 12 jobs; join() waits until each is done
//   12 jobs done, sum of squares 650
//   shutdown(): 3 workers stopped after 12 jobs
#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/queue.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

// Takes jobs until the queue is shut down; returns how many it did.
corio::task<int> worker(corio::queue<int>* jobs, long* sum_of_squares) {
  int done = 0;
  for (;;) {
    int job = 0;
    try {
      job = co_await jobs->get();
    } catch (const corio::queue_shut_down&) {
      co_return done;
    }
    co_await corio::sleep(std::chrono::milliseconds(job));  // the "work"
    *sum_of_squares += static_cast<long>(job) * job;
    ++done;
    jobs->task_done();
  }
}

corio::task<> main_task() {
  corio::queue<int> jobs(4);  // put() waits while four jobs are queued
  long sum_of_squares = 0;
  std::vector<corio::join_handle<int>> workers;
  for (int i = 0; i < 3; ++i)
    workers.push_back(corio::spawn(worker(&jobs, &sum_of_squares)));
  for (int job = 1; job <= 12; ++job)
    co_await jobs.put(job);
  std::puts("put 12 jobs; join() waits until each is done");
  co_await jobs.join();
  std::printf("12 jobs done, sum of squares %ld\n", sum_of_squares);
  jobs.shutdown();
  int total = 0;
  for (corio::join_handle<int>& w : workers)
    total += co_await w;
  std::printf("shutdown(): %zu workers stopped after %d jobs\n", workers.size(), total);
}

int main() {
  corio::run(main_task());
}
