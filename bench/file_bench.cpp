// SPDX-License-Identifier: MIT
// bench/file_bench.cpp: W7, a file in the page cache read in 64 KiB chunks
// with file::read_at at queue depth 1 and 32 (32 tasks, each reading every
// 32nd chunk); floors: BM_baseline_liburing_read and BM_baseline_pread.
#if __has_include(<corio/file.hpp>)
#  include <corio/file.hpp>

#  include <corio/event_loop.hpp>
#  include <corio/gather.hpp>
#  include <corio/task.hpp>

#  include "bench_support.hpp"

#  include <benchmark/benchmark.h>

#  include <cstddef>
#  include <span>
#  include <stdexcept>
#  include <vector>

namespace {

corio::task<> read_stripe(corio::file& f, std::size_t first, std::size_t stride, std::size_t size) {
  std::vector<std::byte> buffer(bench::w7_chunk);
  for (std::size_t off = first * bench::w7_chunk; off < size; off += stride * bench::w7_chunk) {
    const std::size_t n = co_await f.read_at(off, buffer);  // not in the if (g++ 12)
    if (n == 0)
      throw std::runtime_error("W7: short file");
  }
}

corio::task<> read_file_rounds(benchmark::State& state, std::size_t depth, std::size_t size) {
  corio::file f = co_await corio::file::open(bench::page_cache_file(), corio::open_mode::read);
  for (auto _ : state) {
    std::vector<corio::task<>> readers;
    for (std::size_t i = 0; i < depth; ++i)
      readers.push_back(read_stripe(f, i, depth, size));
    co_await corio::gather(std::move(readers));
  }
  co_await f.close();
}

void BM_file_read_at(benchmark::State& state) {
  const auto depth = static_cast<std::size_t>(state.range(0));
  const std::size_t size = bench::file_size(bench::page_cache_file());
  const bench::alloc_counter allocs;
  corio::run(read_file_rounds(state, depth, size));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  bench::report_allocs(state, allocs,  // per 64 KiB read
                       static_cast<double>(state.iterations()) * static_cast<double>(size) /
                           static_cast<double>(bench::w7_chunk));
}
BENCHMARK(BM_file_read_at)->Arg(1)->Arg(32)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
#endif
