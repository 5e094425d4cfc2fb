// SPDX-License-Identifier: MIT
// bench/event_loop_bench.cpp: W8, one io_uring operation awaited through the
// loop (IORING_OP_NOP), one at a time and from 32 concurrent tasks; the floor
// is BM_baseline_liburing_nop.
#include <corio/event_loop.hpp>

#include <corio/gather.hpp>
#include <corio/task.hpp>

#include <corio/detail/io_operation.hpp>

#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <liburing.h>

#include <vector>

namespace {

corio::task<> nops_one_at_a_time(benchmark::State& state) {
  for (auto _ : state) {
    const int res = co_await corio::detail::io_op([](io_uring_sqe* s) { io_uring_prep_nop(s); });
    benchmark::DoNotOptimize(res);
  }
}

// W8, one at a time: ns per NOP awaited.
void BM_event_loop_nop_roundtrip(benchmark::State& state) {
  const bench::alloc_counter allocs;
  corio::run(nops_one_at_a_time(state));
  state.SetItemsProcessed(state.iterations());
  bench::report_allocs(state, allocs, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_event_loop_nop_roundtrip)->UseRealTime();

constexpr long nops_per_task = 64;

corio::task<> nop_worker() {
  for (long i = 0; i < nops_per_task; ++i) {
    const int res = co_await corio::detail::io_op([](io_uring_sqe* s) { io_uring_prep_nop(s); });
    benchmark::DoNotOptimize(res);
  }
}

corio::task<> concurrent_nops(benchmark::State& state) {
  const auto width = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    std::vector<corio::task<>> workers;
    workers.reserve(width);
    for (std::size_t i = 0; i < width; ++i)
      workers.push_back(nop_worker());
    co_await corio::gather(std::move(workers));
  }
}

// W8, batches: `width` tasks, each awaiting 64 NOPs one after the other, so
// every loop turn submits `width` SQEs with one system call. ns per NOP.
void BM_event_loop_nop_concurrent(benchmark::State& state) {
  const bench::alloc_counter allocs;
  corio::run(concurrent_nops(state));
  state.SetItemsProcessed(state.iterations() * state.range(0) * nops_per_task);
  bench::report_allocs(state, allocs,
                       static_cast<double>(state.iterations() * state.range(0) * nops_per_task));
}
BENCHMARK(BM_event_loop_nop_concurrent)->Arg(32)->UseRealTime();

}  // namespace
