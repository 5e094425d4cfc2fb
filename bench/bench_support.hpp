// SPDX-License-Identifier: MIT
// bench/bench_support.hpp: helpers shared by the benchmark files: running a case
// in a fresh child process (so peak RSS figures do not mix), clocks, and the
// ring flags every raw liburing baseline uses, and heap allocation counts.
#pragma once

#include <benchmark/benchmark.h>

#include <liburing.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <stdexcept>
#include <string>

namespace bench {

using clock = std::chrono::steady_clock;

// Heap allocations (global operator new) so far by this thread and by every
// thread that has exited; defined in alloc_count.cpp.
std::uint64_t allocations();

// Counts the allocations from its construction: `per(items)` gives them per
// item. Put it around corio::run() to include the worker threads it joins.
class alloc_counter {
 public:
  alloc_counter() : start_(allocations()) {}
  double per(double items) const {
    return items > 0 ? static_cast<double>(allocations() - start_) / items : 0.0;
  }

 private:
  std::uint64_t start_;
};

// A stream that discards what is written to it: debug mode's output in the
// debug-mode variants of W1 and W5, which measure its cost, not the terminal's.
inline std::FILE* discard() {
  static std::FILE* const sink = std::fopen("/dev/null", "w");
  return sink;
}

inline double seconds_since(clock::time_point start) {
  return std::chrono::duration<double>(clock::now() - start).count();
}

// What a case run in a child process reports back: up to 8 figures of its own
// choosing (seconds, counts), and the growth of its peak resident set.
struct child_report {
  double values[8] = {};
  double peak_rss_mb = 0;  // ru_maxrss at the end minus the resident set at the start
  double allocations = 0;  // heap allocations made by fn
  bool ok = false;
  char error[200] = {};
};

inline long resident_kb() {
  long pages_total = 0;
  long pages_resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2)
      pages_resident = 0;
    std::fclose(f);
  }
  return pages_resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// Runs `fn(double* values)` in a forked child and returns what it wrote, with
// the child's peak RSS growth. The child starts from a trimmed copy of this
// process, so the first round of a case meets fresh pages as in a new process,
// and a case's peak is its own.
template <class Fn>
child_report run_in_child(Fn fn) {
  malloc_trim(0);
  std::fflush(nullptr);
  int fds[2];
  if (pipe(fds) != 0)
    throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(fds[0]);
    child_report report;
    const long start_kb = resident_kb();
    const alloc_counter allocs;
    try {
      fn(report.values);
      report.allocations = allocs.per(1);
      report.ok = true;
    } catch (const std::exception& e) {
      std::snprintf(report.error, sizeof report.error, "%s", e.what());
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    report.peak_rss_mb = static_cast<double>(usage.ru_maxrss - start_kb) / 1024.0;
    const char* p = reinterpret_cast<const char*>(&report);
    std::size_t left = sizeof report;
    while (left > 0) {
      const ssize_t n = write(fds[1], p, left);
      if (n <= 0)
        break;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  child_report report;
  char* p = reinterpret_cast<char*>(&report);
  std::size_t got = 0;
  while (got < sizeof report) {
    const ssize_t n = read(fds[0], p + got, sizeof report - got);
    if (n <= 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != sizeof report) {
    report = child_report{};
    std::snprintf(report.error, sizeof report.error, "child died (status %d)", status);
  }
  return report;
}

// Reports a failed child case to Google Benchmark; returns true when it failed.
inline bool skip_if_failed(benchmark::State& state, const child_report& r) {
  if (r.ok)
    return false;
  state.SkipWithError(r.error[0] != '\0' ? r.error : "child case failed");
  return true;
}

// Sets the allocs_per_item counter: allocations since `allocs` per item.
inline void report_allocs(benchmark::State& state, const alloc_counter& allocs, double items) {
  state.counters["allocs_per_item"] = allocs.per(items);
}

// W1's report, the same for corio and each reference: the first round's time
// as the iteration time, ns per task of both rounds, the child's peak RSS, and
// allocations per task over both rounds.
inline void report_spawn_gather(benchmark::State& state, const child_report& r, long n) {
  state.SetIterationTime(r.values[0]);
  state.counters["ns_per_task_1st"] = r.values[0] * 1e9 / static_cast<double>(n);
  state.counters["ns_per_task_2nd"] = r.values[1] * 1e9 / static_cast<double>(n);
  state.counters["peak_rss_MB"] = r.peak_rss_mb;
  state.counters["allocs_per_item"] = r.allocations / (2.0 * static_cast<double>(n));
}

// A case of two rounds over state.range(0) tasks (W1, spawn + await) in a
// fresh child process: `fn(n, values)` stores each round's seconds in
// values[0] and values[1].
template <class Fn>
void run_two_rounds_in_child(benchmark::State& state, Fn fn) {
  const long n = state.range(0);
  for (auto _ : state) {
    const child_report r = run_in_child([&](double* v) { fn(n, v); });
    if (skip_if_failed(state, r))
      return;
    report_spawn_gather(state, r, n);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

// W2's report: the wall time, the overhead over the 100 ms sleep, the child's
// peak RSS and allocations per sleep.
inline void report_sleep_fan_out(benchmark::State& state, const child_report& r, long n) {
  state.SetIterationTime(r.values[0]);
  state.counters["overhead_ms"] = (r.values[0] - 0.1) * 1e3;
  state.counters["peak_rss_MB"] = r.peak_rss_mb;
  state.counters["allocs_per_item"] = r.allocations / static_cast<double>(n);
}

// The ring every raw liburing baseline uses: the flags corio's loop asks for
// (SINGLE_ISSUER + DEFER_TASKRUN, with a large CQ), so a comparison measures
// the library, not the setup.
inline void init_raw_ring(io_uring& ring, unsigned entries = 256, unsigned cq_entries = 4096) {
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  params.cq_entries = cq_entries;
  int res = io_uring_queue_init_params(entries, &ring, &params);
  if (res == -EINVAL) {
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = cq_entries;
    res = io_uring_queue_init_params(entries, &ring, &params);
  }
  if (res < 0)
    throw std::runtime_error(std::string("io_uring_queue_init: ") + std::strerror(-res));
}

// An SQE, submitting first when the submission queue is full.
inline io_uring_sqe* get_sqe(io_uring& ring) {
  for (;;) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring))
      return sqe;
    io_uring_submit(&ring);
  }
}

}  // namespace bench

#include <fcntl.h>
#include <sys/stat.h>

#include <vector>

namespace bench {

// W7's file: CORIO_BENCH_FILE_MB MiB (default 1024) of bytes, written once per
// process under CORIO_BENCH_DIR (default /tmp) to sit in the page cache. It is
// unlinked as soon as it is created and reached through /proc/self/fd, so a
// run that is killed or ends in _exit (the forked cases) leaves no 1 GiB file
// behind; the returned path opens it while the process lives.
inline const std::string& page_cache_file() {
  static const std::string path = [] {
    const char* dir = std::getenv("CORIO_BENCH_DIR");
    const char* mb_env = std::getenv("CORIO_BENCH_FILE_MB");
    const long mb = mb_env != nullptr ? std::atol(mb_env) : 1024;
    std::string p =
        std::string(dir != nullptr ? dir : "/tmp") + "/corio_bench_w7." + std::to_string(getpid());
    const int fd = ::open(p.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
      throw std::runtime_error("cannot create " + p);
    ::unlink(p.c_str());
    std::vector<char> chunk(1 << 20);
    for (std::size_t i = 0; i < chunk.size(); ++i)
      chunk[i] = static_cast<char>(i * 7);
    for (long i = 0; i < mb; ++i) {
      if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
        throw std::runtime_error("cannot write " + p);
      }
    }
    return "/proc/self/fd/" + std::to_string(fd);  // fd stays open for the process
  }();
  return path;
}

inline std::size_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error("cannot stat " + path);
  return static_cast<std::size_t>(st.st_size);
}

constexpr std::size_t w7_chunk = 64 * 1024;

}  // namespace bench
