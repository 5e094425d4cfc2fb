// SPDX-License-Identifier: MIT
// bench/spawn_bench.cpp: spawn + await one join_handle each, N = 1,000,000
// trivial tasks, two rounds in a fresh child process; and a spawn awaited at
// once, in a warm loop (frames and task states recycled). Floors:
// BM_baseline_bare_spawn_await (one heap frame per task, a FIFO ready queue).
#include <corio/spawn.hpp>

#include <corio/event_loop.hpp>
#include <corio/task.hpp>

#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <stdexcept>
#include <vector>

namespace {

corio::task<long> index_task(long i) {
  co_return i;
}

// Spawns n tasks, then awaits each handle in order. Seconds.
corio::task<double> spawn_round(long n) {
  const auto start = bench::clock::now();
  long sum = 0;
  {
    std::vector<corio::join_handle<long>> handles;
    handles.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i)
      handles.push_back(corio::spawn(index_task(i)));
    for (auto& h : handles)
      sum += co_await h;
  }
  if (sum != n * (n - 1) / 2)
    throw std::runtime_error("spawn + await: wrong sum");
  co_return bench::seconds_since(start);
}

corio::task<> spawn_two_rounds(long n, double* values) {
  values[0] = co_await spawn_round(n);
  values[1] = co_await spawn_round(n);
}

void BM_spawn_await(benchmark::State& state) {
  bench::run_two_rounds_in_child(state,
                                 [](long n, double* v) { corio::run(spawn_two_rounds(n, v)); });
}
BENCHMARK(BM_spawn_await)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

corio::task<> spawn_each(benchmark::State& state) {
  long sum = 0;
  for (auto _ : state)
    sum += co_await corio::spawn(index_task(1));
  benchmark::DoNotOptimize(sum);
}

// One spawn awaited at once, over and over; items are spawns.
void BM_spawn_await_one(benchmark::State& state) {
  const bench::alloc_counter allocs;
  corio::run(spawn_each(state));
  state.SetItemsProcessed(state.iterations());
  bench::report_allocs(state, allocs, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_spawn_await_one);

}  // namespace
