// SPDX-License-Identifier: MIT
// bench/yield_bench.cpp: a yield round trip through the loop's ready queue,
// with corio::yield() and with sleep(0s), from 1 and from 64 tasks; the floor
// is BM_baseline_bare_yield (one resume through a bare FIFO ready queue).
#include <corio/yield.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/sleep.hpp>
#include <corio/task.hpp>

#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

namespace {

using namespace std::chrono_literals;

template <bool Sleep>
corio::task<> yielder(long rounds) {
  for (long i = 0; i < rounds; ++i) {
    if constexpr (Sleep)
      co_await corio::sleep(0s);
    else
      co_await corio::yield();
  }
}

template <bool Sleep>
corio::task<> yield_rounds(benchmark::State& state, long tasks, long rounds) {
  for (auto _ : state) {
    std::vector<corio::task<>> all;
    for (long i = 0; i < tasks; ++i)
      all.push_back(yielder<Sleep>(rounds));
    co_await corio::gather(std::move(all));
  }
}

// `tasks` tasks each yield 65,536 / tasks times per iteration; items are yields.
template <bool Sleep>
void yield_case(benchmark::State& state) {
  const long tasks = state.range(0);
  const long rounds = 65'536 / tasks;
  const bench::alloc_counter allocs;
  corio::run(yield_rounds<Sleep>(state, tasks, rounds));
  state.SetItemsProcessed(state.iterations() * tasks * rounds);
  bench::report_allocs(state, allocs, static_cast<double>(state.iterations() * tasks * rounds));
}
void BM_yield(benchmark::State& state) {
  yield_case<false>(state);
}
void BM_yield_sleep_zero(benchmark::State& state) {
  yield_case<true>(state);
}
BENCHMARK(BM_yield)->Arg(1)->Arg(64);
BENCHMARK(BM_yield_sleep_zero)->Arg(1)->Arg(64);

}  // namespace
