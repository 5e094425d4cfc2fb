// SPDX-License-Identifier: MIT
// examples/count.cpp: asyncio's count demo. Three tasks each print "One",
// sleep one second and print "Two"; the sleeps overlap, so the whole run
// takes one second, not three.
//
// Run: ./scripts/demo.sh, or build/release/examples/count
// Expected output:
//   One
//   One
//   One
//   Two
//   Two
//   Two
//   count executed in 1.00 seconds.
#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/sleep.hpp>
#include <corio/task.hpp>

#include <chrono>
#include <cstdio>

corio::task<> count() {
  std::puts("One");
  co_await corio::sleep(std::chrono::seconds(1));
  std::puts("Two");
}

corio::task<> main_task() {
  co_await corio::gather(count(), count(), count());
}

int main() {
  const auto start = std::chrono::steady_clock::now();
  corio::run(main_task());
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  std::printf("count executed in %.2f seconds.\n", elapsed.count());
}
