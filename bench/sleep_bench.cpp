// SPDX-License-Identifier: MIT
// bench/sleep_bench.cpp: W2 (N tasks each sleep 100 ms, gathered) and W3
// (asyncio's count demo); floors: BM_baseline_liburing_timeout_each,
// BM_baseline_liburing_timer_heap and BM_baseline_liburing_count_demo.
#include <corio/sleep.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/task.hpp>

#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

namespace {

using namespace std::chrono_literals;

corio::task<> sleeper() {
  co_await corio::sleep(100ms);
}

corio::task<> sleep_fan_out(long n, double* values) {
  const auto start = bench::clock::now();
  {
    std::vector<corio::task<>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i)
      tasks.push_back(sleeper());
    co_await corio::gather(std::move(tasks));
  }
  values[0] = bench::seconds_since(start);
}

// W2: wall time of the whole fan-out (a fresh child process); counters give
// the overhead over 100 ms and the peak RSS growth.
void BM_sleep_fan_out(benchmark::State& state) {
  const long n = state.range(0);
  for (auto _ : state) {
    const bench::child_report r =
        bench::run_in_child([n](double* v) { corio::run(sleep_fan_out(n, v)); });
    if (bench::skip_if_failed(state, r))
      return;
    bench::report_sleep_fan_out(state, r, n);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_sleep_fan_out)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

long lines_printed = 0;  // the demo's "print", kept off the benchmark's console

corio::task<> count() {
  ++lines_printed;  // One
  co_await corio::sleep(1s);
  ++lines_printed;  // Two
}

// The demo's main task; `seconds` receives the wall time of its gather.
corio::task<> count_demo(double* seconds) {
  const auto start = bench::clock::now();
  co_await corio::gather(count(), count(), count());
  *seconds = bench::seconds_since(start);
}

// W3: asyncio's count demo on a fresh loop; the time is the gather's wall time.
void BM_sleep_count_demo(benchmark::State& state) {
  for (auto _ : state) {
    double seconds = 0;
    corio::run(count_demo(&seconds));
    state.SetIterationTime(seconds);
  }
  benchmark::DoNotOptimize(lines_printed);
}
BENCHMARK(BM_sleep_count_demo)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
