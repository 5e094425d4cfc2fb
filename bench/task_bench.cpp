// SPDX-License-Identifier: MIT
// bench/task_bench.cpp: the cost of awaiting a task (frame allocation, the
// symmetric-transfer hand-off in and out) on a running loop.
#include <corio/task.hpp>

#include <corio/event_loop.hpp>

#include "bench_support.hpp"

#include <benchmark/benchmark.h>

namespace {

corio::task<long> leaf(long i) {
  co_return i + 1;
}

corio::task<> await_leaves(benchmark::State& state) {
  long sum = 0;
  for (auto _ : state) {
    for (long i = 0; i < 1024; ++i)
      sum += co_await leaf(i);
  }
  benchmark::DoNotOptimize(sum);
}

// 1024 sequential `co_await leaf(i)` per iteration; items are awaits.
void BM_task_await(benchmark::State& state) {
  const bench::alloc_counter allocs;
  corio::run(await_leaves(state));
  state.SetItemsProcessed(state.iterations() * 1024);
  bench::report_allocs(state, allocs, static_cast<double>(state.iterations()) * 1024);
}
BENCHMARK(BM_task_await);

corio::task<long> chain(long depth) {
  if (depth == 0)
    co_return 0;
  co_return 1 + co_await chain(depth - 1);
}

corio::task<> await_chain(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(co_await chain(state.range(0)));
}

// A chain of nested awaits `depth` deep; items are awaits.
void BM_task_await_chain(benchmark::State& state) {
  const bench::alloc_counter allocs;
  corio::run(await_chain(state));
  state.SetItemsProcessed(state.iterations() * state.range(0));
  bench::report_allocs(state, allocs, static_cast<double>(state.iterations() * state.range(0)));
}
BENCHMARK(BM_task_await_chain)->Arg(1024);

}  // namespace
