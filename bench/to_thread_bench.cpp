// SPDX-License-Identifier: MIT
// bench/to_thread_bench.cpp: W4a (sequential to_thread round trips) and W4b
// (100,000 calls, 64 in flight); floors: BM_baseline_eventfd_roundtrip and
// BM_baseline_eventfd_throughput.
#include <corio/to_thread.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/task.hpp>

#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <vector>

namespace {

int trivial_call(int x) {
  return x + 1;
}

corio::task<> sequential_calls(benchmark::State& state) {
  int x = 0;
  for (auto _ : state)
    x = co_await corio::to_thread(trivial_call, x);
  benchmark::DoNotOptimize(x);
}

// W4a: one call at a time; µs per round trip.
void BM_to_thread_roundtrip(benchmark::State& state) {
  corio::loop_options options;
  options.worker_threads = static_cast<unsigned>(state.range(0));
  const bench::alloc_counter allocs;
  corio::run(sequential_calls(state), options);
  state.SetItemsProcessed(state.iterations());
  bench::report_allocs(state, allocs, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_to_thread_roundtrip)
    ->Arg(0)  // the default pool size
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

corio::task<> caller(long calls) {
  int x = 0;
  for (long i = 0; i < calls; ++i)
    x = co_await corio::to_thread(trivial_call, x);
  benchmark::DoNotOptimize(x);
}

corio::task<> many_calls(benchmark::State& state, long total, long inflight) {
  for (auto _ : state) {
    std::vector<corio::task<>> callers;
    for (long i = 0; i < inflight; ++i)
      callers.push_back(caller(total / inflight));
    co_await corio::gather(std::move(callers));
  }
}

// W4b: `total` calls from `inflight` tasks; items/s is calls per second.
// The third argument is the pool size (0: the default).
void BM_to_thread_throughput(benchmark::State& state) {
  const long total = state.range(0);
  const long inflight = state.range(1);
  corio::loop_options options;
  options.worker_threads = static_cast<unsigned>(state.range(2));
  const bench::alloc_counter allocs;
  corio::run(many_calls(state, total, inflight), options);
  state.SetItemsProcessed(state.iterations() * (total / inflight) * inflight);
  bench::report_allocs(state, allocs,
                       static_cast<double>(state.iterations() * (total / inflight) * inflight));
}
BENCHMARK(BM_to_thread_throughput)
    ->Args({100'000, 64, 0})
    ->Args({100'000, 64, 1})
    ->Args({100'000, 64, 2})
    ->Args({100'000, 64, 6})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
