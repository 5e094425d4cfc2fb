// SPDX-License-Identifier: MIT
// bench/asio/count_asio.cpp: examples/count.cpp (asyncio's count demo) written
// with standalone Asio's C++20 awaitables, for W3 (wall time) and C1 (compile
// time, against examples/count.cpp).
//
// Build: g++ -std=c++20 -O2 bench/asio/count_asio.cpp -o count_asio -pthread
// Expected output: One One One Two Two Two (one per line), then
//   count executed in 1.00 seconds.
#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <chrono>
#include <cstdio>

asio::awaitable<void> count() {
  std::puts("One");
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::seconds(1));
  co_await timer.async_wait(asio::use_awaitable);
  std::puts("Two");
}

asio::awaitable<void> main_task() {
  using namespace asio::experimental::awaitable_operators;
  co_await (count() && count() && count());
}

int main() {
  const auto start = std::chrono::steady_clock::now();
  asio::io_context ioc(1);
  asio::co_spawn(ioc, main_task(), asio::detached);
  ioc.run();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  std::printf("count executed in %.2f seconds.\n", elapsed.count());
}
