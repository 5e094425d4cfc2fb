// SPDX-License-Identifier: MIT
// bench/asio/asio_bench.cpp: the corio_bench workloads written as a user of
// standalone Asio 1.22 would write them, with C++20 awaitables on a
// single-threaded io_context. Built twice: corio_bench_asio (Asio's default
// epoll reactor) and corio_bench_asio_uring (ASIO_HAS_IO_URING +
// ASIO_DISABLE_EPOLL, which also enables random_access_file for W7).
#include "../bench_support.hpp"

#include <asio.hpp>
#include <asio/experimental/channel.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace {

using asio::awaitable;
using asio::use_awaitable;
using namespace std::chrono_literals;

// The completion handler of a co_spawn'ed task: rethrows what it threw.
struct rethrow {
  void operator()(std::exception_ptr e) const {
    if (e)
      std::rethrow_exception(e);
  }
  template <class T>
  void operator()(std::exception_ptr e, T&&) const {
    if (e)
      std::rethrow_exception(e);
  }
};

// ---------------------------------------------------------------------------
// W1: n co_spawn'ed tasks each return their index; the results are gathered
// in order and summed. Two rounds on one io_context, in a fresh child process.

awaitable<long> index_task(long i) {
  co_return i;
}

double w1_round(asio::io_context& ioc, long n) {
  const auto start = bench::clock::now();
  std::vector<long> results(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) {
    asio::co_spawn(ioc, index_task(i), [&results, i](std::exception_ptr e, long v) {
      if (e)
        std::rethrow_exception(e);
      results[static_cast<std::size_t>(i)] = v;
    });
  }
  ioc.restart();
  ioc.run();
  const long sum = std::accumulate(results.begin(), results.end(), 0L);
  if (sum != n * (n - 1) / 2)
    throw std::runtime_error("asio W1: wrong sum");
  return bench::seconds_since(start);
}

void BM_asio_spawn_gather(benchmark::State& state) {
  bench::run_two_rounds_in_child(state, [](long n, double* v) {
    asio::io_context ioc(1);
    v[0] = w1_round(ioc, n);
    v[1] = w1_round(ioc, n);
  });
}
BENCHMARK(BM_asio_spawn_gather)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------
// W2: n tasks each wait 100 ms on a steady_timer.

awaitable<void> sleeper(std::chrono::steady_clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(use_awaitable);
}

void BM_asio_sleep_fan_out(benchmark::State& state) {
  const long n = state.range(0);
  for (auto _ : state) {
    const bench::child_report r = bench::run_in_child([n](double* v) {
      asio::io_context ioc(1);
      const auto start = bench::clock::now();
      long done = 0;
      for (long i = 0; i < n; ++i) {
        asio::co_spawn(ioc, sleeper(100ms), [&done](std::exception_ptr e) {
          if (e)
            std::rethrow_exception(e);
          ++done;
        });
      }
      ioc.run();
      if (done != n)
        throw std::runtime_error("asio W2: lost sleeps");
      v[0] = bench::seconds_since(start);
    });
    if (bench::skip_if_failed(state, r))
      return;
    bench::report_sleep_fan_out(state, r, n);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_asio_sleep_fan_out)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// W3: three tasks each wait 1 s, run together.
void BM_asio_count_demo(benchmark::State& state) {
  asio::io_context ioc(1);
  for (auto _ : state) {
    for (int i = 0; i < 3; ++i)
      asio::co_spawn(ioc, sleeper(1s), rethrow{});
    ioc.restart();
    ioc.run();
  }
}
BENCHMARK(BM_asio_count_demo)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------
// W4: a trivial call on an asio::thread_pool of one thread (Asio's best
// configuration for trivial calls), awaited from the io_context with
// async_initiate: the call is posted to the pool, its result posted back to
// the awaiting coroutine's executor.

int trivial_call(int x) {
  return x + 1;
}

awaitable<int> call_on_pool(asio::thread_pool& pool, int x) {
  return asio::async_initiate<decltype(use_awaitable), void(int)>(
      [&pool, x](auto handler) {
        auto back = asio::get_associated_executor(handler);
        asio::post(pool, [x, back, handler = std::move(handler)]() mutable {
          const int r = trivial_call(x);
          asio::post(back, [r, handler = std::move(handler)]() mutable { std::move(handler)(r); });
        });
      },
      use_awaitable);
}

awaitable<void> sequential_calls(benchmark::State& state, asio::thread_pool& pool) {
  int x = 0;
  for (auto _ : state)
    x = co_await call_on_pool(pool, x);
  benchmark::DoNotOptimize(x);
}

void BM_asio_to_thread_roundtrip(benchmark::State& state) {
  const bench::alloc_counter allocs;
  {
    asio::thread_pool pool(1);
    asio::io_context ioc(1);
    asio::co_spawn(ioc, sequential_calls(state, pool), rethrow{});
    ioc.run();
  }  // the pool's threads have exited: their allocations are counted
  state.SetItemsProcessed(state.iterations());
  bench::report_allocs(state, allocs, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_asio_to_thread_roundtrip)->UseRealTime()->Unit(benchmark::kMicrosecond);

awaitable<void> caller(asio::thread_pool& pool, long calls) {
  int x = 0;
  for (long i = 0; i < calls; ++i)
    x = co_await call_on_pool(pool, x);
  benchmark::DoNotOptimize(x);
}

void BM_asio_to_thread_throughput(benchmark::State& state) {
  const long total = state.range(0);
  const long inflight = state.range(1);
  const bench::alloc_counter allocs;
  {
    asio::thread_pool pool(1);
    asio::io_context ioc(1);
    for (auto _ : state) {
      for (long i = 0; i < inflight; ++i)
        asio::co_spawn(ioc, caller(pool, total / inflight), rethrow{});
      ioc.restart();
      ioc.run();
    }
  }
  state.SetItemsProcessed(state.iterations() * (total / inflight) * inflight);
  bench::report_allocs(state, allocs,
                       static_cast<double>(state.iterations() * (total / inflight) * inflight));
}
BENCHMARK(BM_asio_to_thread_throughput)
    ->Args({100'000, 64})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------
// W5: two tasks pass a token through two experimental::channel of capacity 1.

using channel = asio::experimental::channel<void(asio::error_code, long)>;

awaitable<void> ping(channel& out, channel& in, long rounds) {
  long v = 0;
  for (long i = 0; i < rounds; ++i) {
    co_await out.async_send(asio::error_code{}, i, use_awaitable);
    v = co_await in.async_receive(use_awaitable);
  }
  benchmark::DoNotOptimize(v);
}

awaitable<void> pong(channel& in, channel& out, long rounds) {
  for (long i = 0; i < rounds; ++i) {
    const long v = co_await in.async_receive(use_awaitable);
    co_await out.async_send(asio::error_code{}, v, use_awaitable);
  }
}

void BM_asio_ping_pong(benchmark::State& state) {
  const long rounds = state.range(0) / 2;
  const bench::alloc_counter allocs;
  asio::io_context ioc(1);
  for (auto _ : state) {
    channel a(ioc, 1);
    channel b(ioc, 1);
    asio::co_spawn(ioc, ping(a, b, rounds), rethrow{});
    asio::co_spawn(ioc, pong(a, b, rounds), rethrow{});
    ioc.restart();
    ioc.run();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  bench::report_allocs(state, allocs, static_cast<double>(state.iterations() * state.range(0)));
}
BENCHMARK(BM_asio_ping_pong)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------
// W7: random_access_file (io_uring backend only), 64 KiB chunks, `depth`
// tasks each reading every depth-th chunk.

#if defined(ASIO_HAS_FILE)
awaitable<void> read_stripe(asio::random_access_file& file, std::size_t first, std::size_t stride,
                            std::size_t size) {
  std::vector<char> buffer(bench::w7_chunk);
  for (std::size_t off = first * bench::w7_chunk; off < size; off += stride * bench::w7_chunk) {
    const std::size_t n =
        co_await file.async_read_some_at(off, asio::buffer(buffer), use_awaitable);
    if (n == 0)
      throw std::runtime_error("asio W7: short file");
  }
}

void BM_asio_file_read(benchmark::State& state) {
  const auto depth = static_cast<std::size_t>(state.range(0));
  const std::string& path = bench::page_cache_file();
  const std::size_t size = bench::file_size(path);
  asio::io_context ioc(1);
  asio::random_access_file file(ioc, path, asio::random_access_file::read_only);
  const bench::alloc_counter allocs;
  for (auto _ : state) {
    for (std::size_t i = 0; i < depth; ++i)
      asio::co_spawn(ioc, read_stripe(file, i, depth, size), rethrow{});
    ioc.restart();
    ioc.run();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  bench::report_allocs(state, allocs,  // per 64 KiB read
                       static_cast<double>(state.iterations()) * static_cast<double>(size) /
                           static_cast<double>(bench::w7_chunk));
}
BENCHMARK(BM_asio_file_read)->Arg(1)->Arg(32)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif

}  // namespace
