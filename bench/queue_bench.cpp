// SPDX-License-Identifier: MIT
// bench/queue_bench.cpp: W5, two tasks passing a token through two
// queue<long>(1); the floor is BM_baseline_bare_ping_pong.
#include <corio/queue.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/task.hpp>

#include "bench_support.hpp"

#include <benchmark/benchmark.h>

namespace {

corio::task<long> ping(corio::queue<long>& out, corio::queue<long>& in, long rounds) {
  long v = 0;
  for (long i = 0; i < rounds; ++i) {
    co_await out.put(i);
    v = co_await in.get();
  }
  co_return v;
}

corio::task<long> pong(corio::queue<long>& in, corio::queue<long>& out, long rounds) {
  long v = 0;
  for (long i = 0; i < rounds; ++i) {
    v = co_await in.get();
    co_await out.put(v);
  }
  co_return v;
}

corio::task<> ping_pong(benchmark::State& state) {
  const long rounds = state.range(0) / 2;
  for (auto _ : state) {
    corio::queue<long> a(1);
    corio::queue<long> b(1);
    benchmark::DoNotOptimize(co_await corio::gather(ping(a, b, rounds), pong(a, b, rounds)));
  }
}

// W5: items are hand-offs (one task's put received by the other's get).
void BM_queue_ping_pong(benchmark::State& state) {
  const bench::alloc_counter allocs;
  corio::run(ping_pong(state));
  state.SetItemsProcessed(state.iterations() * state.range(0));
  bench::report_allocs(state, allocs, static_cast<double>(state.iterations() * state.range(0)));
}
BENCHMARK(BM_queue_ping_pong)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

// W5 in debug mode (loop_options::debug): two clock reads per resume step.
void BM_queue_ping_pong_debug(benchmark::State& state) {
  corio::run(ping_pong(state), {.debug = true, .debug_output = bench::discard()});
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_queue_ping_pong_debug)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
