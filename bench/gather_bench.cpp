// SPDX-License-Identifier: MIT
// bench/gather_bench.cpp: W1 (spawn + gather of N trivial tasks) and gather's
// fan-out cost; the bare-scheduler floor is BM_baseline_bare_gather.
#include <corio/gather.hpp>

#include <corio/event_loop.hpp>
#include <corio/task.hpp>

#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <numeric>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

corio::task<long> index_task(long i) {
  co_return i;
}

// One round of W1: make n tasks, gather them, check the sum. Seconds.
corio::task<double> w1_round(long n) {
  const auto start = bench::clock::now();
  std::vector<corio::task<long>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i)
    tasks.push_back(index_task(i));
  const std::vector<long> results = co_await corio::gather(std::move(tasks));
  const long sum = std::accumulate(results.begin(), results.end(), 0L);
  if (sum != n * (n - 1) / 2)
    throw std::runtime_error("W1: wrong sum");
  co_return bench::seconds_since(start);
}

corio::task<> w1_two_rounds(long n, double* values) {
  values[0] = co_await w1_round(n);
  values[1] = co_await w1_round(n);
}

// W1: time of the first round (a fresh process) is the benchmark's time; the
// counters give ns per task for both rounds and the peak RSS growth.
void BM_gather_w1_spawn_gather(benchmark::State& state) {
  bench::run_two_rounds_in_child(state, [](long n, double* v) { corio::run(w1_two_rounds(n, v)); });
}
BENCHMARK(BM_gather_w1_spawn_gather)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// W1 in debug mode (loop_options::debug): two clock reads per resume step.
void BM_gather_w1_spawn_gather_debug(benchmark::State& state) {
  bench::run_two_rounds_in_child(state, [](long n, double* v) {
    corio::run(w1_two_rounds(n, v), {.debug = true, .debug_output = bench::discard()});
  });
}
BENCHMARK(BM_gather_w1_spawn_gather_debug)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// gather's fan-out in a warm process: ns per child, for sizes from 16 to 64k.
corio::task<> fanout(long n) {
  std::vector<corio::task<long>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i)
    tasks.push_back(index_task(i));
  benchmark::DoNotOptimize(co_await corio::gather(std::move(tasks)));
}

corio::task<> fanout_rounds(benchmark::State& state) {
  for (auto _ : state)
    co_await fanout(state.range(0));
  co_return;
}

void BM_gather_fanout(benchmark::State& state) {
  corio::run(fanout_rounds(state));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_gather_fanout)->RangeMultiplier(16)->Range(16, 65536);

}  // namespace
