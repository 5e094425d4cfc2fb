// SPDX-License-Identifier: MIT
// bench/baseline_bench.cpp: the floors corio is compared with, in the same
// binary: "bare" hand-rolled coroutines with a FIFO ready queue and no I/O
// (W1, W5), and hand-written liburing loops (W2, W3, W4, W7, W8). None of
// this uses corio.
#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <liburing.h>

#include <sys/eventfd.h>
#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <mutex>
#include <numeric>
#include <optional>
#include <queue>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace {

// ---------------------------------------------------------------------------
// bare: the floor for a coroutine scheduler. Lazy tasks, a FIFO ready queue
// (a power-of-two ring of handles), symmetric transfer, nothing else: no
// cancellation, no exceptions, no I/O.
namespace bare {

class ready_queue {
 public:
  ready_queue() : buffer_(1024) {}
  void push(std::coroutine_handle<> h) {
    if (size_ == buffer_.size()) {
      std::vector<std::coroutine_handle<>> bigger(buffer_.size() * 2);
      for (std::size_t i = 0; i < size_; ++i)
        bigger[i] = buffer_[(head_ + i) & (buffer_.size() - 1)];
      buffer_.swap(bigger);
      head_ = 0;
    }
    buffer_[(head_ + size_) & (buffer_.size() - 1)] = h;
    ++size_;
  }
  std::coroutine_handle<> pop() {
    std::coroutine_handle<> h = buffer_[head_];
    head_ = (head_ + 1) & (buffer_.size() - 1);
    --size_;
    return h;
  }
  bool empty() const { return size_ == 0; }

 private:
  std::vector<std::coroutine_handle<>> buffer_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

ready_queue* ready = nullptr;  // the running scheduler's queue

struct join_counter {
  std::size_t remaining = 0;
  std::coroutine_handle<> waiter;
};

class [[nodiscard]] task {
 public:
  struct promise_type {
    long value = 0;
    std::coroutine_handle<> continuation;
    join_counter* join = nullptr;
    bool done = false;

    task get_return_object() {
      return task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct final_awaiter {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        promise_type& p = h.promise();
        p.done = true;
        if (p.continuation)
          return p.continuation;
        if (p.join != nullptr && --p.join->remaining == 0)
          return p.join->waiter;
        return std::noop_coroutine();
      }
      void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void return_value(long v) noexcept { value = v; }
    void unhandled_exception() { std::terminate(); }
  };

  task(task&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  ~task() {
    if (h_)
      h_.destroy();
  }

  auto operator co_await() noexcept {
    struct awaiter {
      std::coroutine_handle<promise_type> h;
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept {
        h.promise().continuation = parent;
        return h;
      }
      long await_resume() noexcept { return h.promise().value; }
    };
    return awaiter{h_};
  }
  std::coroutine_handle<promise_type> handle() const { return h_; }

 private:
  explicit task(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

// Schedules every task on the ready queue; resumes the caller when the last
// one has finished. Yields their values in order.
struct gather_all {
  std::vector<task>& tasks;
  join_counter join;
  bool await_ready() const noexcept { return tasks.empty(); }
  void await_suspend(std::coroutine_handle<> parent) {
    join.remaining = tasks.size();
    join.waiter = parent;
    for (task& t : tasks) {
      t.handle().promise().join = &join;
      ready->push(t.handle());
    }
  }
  std::vector<long> await_resume() {
    std::vector<long> values;
    values.reserve(tasks.size());
    for (task& t : tasks)
      values.push_back(t.handle().promise().value);
    return values;
  }
};

// A one-slot channel, as corio::queue<long>(1): a put hands the item straight
// to a waiting getter (scheduling it), else stores it, else waits.
struct channel {
  std::optional<long> slot;
  std::coroutine_handle<> getter;
  long* getter_value = nullptr;
  std::coroutine_handle<> putter;
  long putter_value = 0;

  struct put_awaiter {
    channel& c;
    long v;
    bool await_ready() {
      if (c.getter) {
        *c.getter_value = v;
        ready->push(std::exchange(c.getter, nullptr));
        return true;
      }
      if (!c.slot) {
        c.slot = v;
        return true;
      }
      return false;
    }
    void await_suspend(std::coroutine_handle<> h) {
      c.putter = h;
      c.putter_value = v;
    }
    void await_resume() {}
  };
  struct get_awaiter {
    channel& c;
    long v = 0;
    bool await_ready() {
      if (!c.slot)
        return false;
      v = *c.slot;
      c.slot.reset();
      if (c.putter) {
        c.slot = c.putter_value;
        ready->push(std::exchange(c.putter, nullptr));
      }
      return true;
    }
    void await_suspend(std::coroutine_handle<> h) {
      c.getter = h;
      c.getter_value = &v;
    }
    long await_resume() { return v; }
  };
  put_awaiter put(long v) { return {*this, v}; }
  get_awaiter get() { return {*this}; }
};

// Runs `main` and everything it schedules until the ready queue is empty.
inline long run(task main) {
  ready_queue queue;
  ready = &queue;
  queue.push(main.handle());
  while (!queue.empty())
    queue.pop().resume();
  ready = nullptr;
  return main.handle().promise().value;
}

task index_task(long i) {
  co_return i;
}

task w1_round(long n, double* seconds) {
  const auto start = bench::clock::now();
  std::vector<task> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i)
    tasks.push_back(index_task(i));
  const std::vector<long> values = co_await gather_all{tasks, {}};
  const long sum = std::accumulate(values.begin(), values.end(), 0L);
  tasks.clear();
  *seconds = bench::seconds_since(start);
  co_return sum;
}

task w1_two_rounds(long n, double* values) {
  long a = co_await w1_round(n, &values[0]);
  long b = co_await w1_round(n, &values[1]);
  co_return a + b;
}

task ping(channel& out, channel& in, long rounds) {
  long v = 0;
  for (long i = 0; i < rounds; ++i) {
    co_await out.put(i);
    v = co_await in.get();
  }
  co_return v;
}
task pong(channel& in, channel& out, long rounds) {
  long v = 0;
  for (long i = 0; i < rounds; ++i) {
    v = co_await in.get();
    co_await out.put(v);
  }
  co_return v;
}
// Bare spawn: the task goes on the ready queue; a join resumes the joiner
// from the task's final suspension, or at once if it is done.
struct join {
  task& t;
  bool await_ready() noexcept { return t.handle().promise().done; }
  void await_suspend(std::coroutine_handle<> h) noexcept { t.handle().promise().continuation = h; }
  long await_resume() noexcept { return t.handle().promise().value; }
};

task spawn_round(long n, double* seconds) {
  const auto start = bench::clock::now();
  long sum = 0;
  {
    std::vector<task> spawned;
    spawned.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) {
      spawned.push_back(index_task(i));
      ready->push(spawned.back().handle());
    }
    for (task& t : spawned)
      sum += co_await join{t};
  }
  *seconds = bench::seconds_since(start);
  co_return sum;
}

task spawn_two_rounds(long n, double* values) {
  long a = co_await spawn_round(n, &values[0]);
  long b = co_await spawn_round(n, &values[1]);
  co_return a + b;
}

// A yield: back of the ready queue, resumed by run()'s loop.
struct yield_awaiter {
  bool await_ready() noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { ready->push(h); }
  void await_resume() noexcept {}
};

task yielder(long rounds) {
  for (long i = 0; i < rounds; ++i)
    co_await yield_awaiter{};
  co_return rounds;
}

task yield_all(long tasks, long rounds) {
  std::vector<task> all;
  for (long i = 0; i < tasks; ++i)
    all.push_back(yielder(rounds));
  const std::vector<long> values = co_await gather_all{all, {}};
  co_return std::accumulate(values.begin(), values.end(), 0L);
}

task ping_pong(long rounds) {
  channel a, b;
  std::vector<task> pair;
  pair.push_back(ping(a, b, rounds));
  pair.push_back(pong(a, b, rounds));
  const std::vector<long> values = co_await gather_all{pair, {}};
  co_return values[0];
}

}  // namespace bare

// W1 floor: bare spawn + gather of n trivial tasks, in a fresh child process.
void BM_baseline_bare_gather(benchmark::State& state) {
  bench::run_two_rounds_in_child(state, [](long n, double* v) {
    if (bare::run(bare::w1_two_rounds(n, v)) != n * (n - 1))
      throw std::runtime_error("bare W1: wrong sum");
  });
}
BENCHMARK(BM_baseline_bare_gather)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Spawn + await floor: n bare tasks put on the ready queue, then joined in order.
void BM_baseline_bare_spawn_await(benchmark::State& state) {
  bench::run_two_rounds_in_child(state, [](long n, double* v) {
    if (bare::run(bare::spawn_two_rounds(n, v)) != n * (n - 1))
      throw std::runtime_error("bare spawn + await: wrong sum");
  });
}
BENCHMARK(BM_baseline_bare_spawn_await)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// W5 floor: two bare tasks pass a token through two one-slot channels; one
// item is one hand-off.
void BM_baseline_bare_ping_pong(benchmark::State& state) {
  const long handoffs = state.range(0);
  const bench::alloc_counter allocs;
  for (auto _ : state)
    benchmark::DoNotOptimize(bare::run(bare::ping_pong(handoffs / 2)));
  state.SetItemsProcessed(state.iterations() * handoffs);
  bench::report_allocs(state, allocs, static_cast<double>(state.iterations() * handoffs));
}
BENCHMARK(BM_baseline_bare_ping_pong)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

// Bare yield: `tasks` tasks each yield 65,536 / tasks times; items are yields.
void BM_baseline_bare_yield(benchmark::State& state) {
  const long tasks = state.range(0);
  const long rounds = 65'536 / tasks;
  for (auto _ : state)
    benchmark::DoNotOptimize(bare::run(bare::yield_all(tasks, rounds)));
  state.SetItemsProcessed(state.iterations() * tasks * rounds);
}
BENCHMARK(BM_baseline_bare_yield)->Arg(1)->Arg(64);

// ---------------------------------------------------------------------------
// W2: n sleeps of 100 ms, with the kernel's timers.

constexpr std::int64_t w2_sleep_ns = 100'000'000;

// Reaps every available completion; returns how many.
unsigned reap(io_uring& ring) {
  unsigned seen = 0;
  unsigned head;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring, head, cqe) {
    ++seen;
  }
  io_uring_cq_advance(&ring, seen);
  return seen;
}

// One IORING_OP_TIMEOUT per sleep.
void w2_raw_timeout_each(long n, double* values) {
  io_uring ring;
  bench::init_raw_ring(ring, 4096, 65536);
  const auto start = bench::clock::now();
  __kernel_timespec ts{0, w2_sleep_ns};
  for (long i = 0; i < n; ++i) {
    io_uring_sqe* sqe = bench::get_sqe(ring);
    io_uring_prep_timeout(sqe, &ts, 0, 0);
    io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(i));
  }
  long done = 0;
  while (done < n) {
    io_uring_submit_and_wait(&ring, 1);
    done += reap(ring);
  }
  values[0] = bench::seconds_since(start);
  io_uring_queue_exit(&ring);
}

// A user-space heap of deadlines and one kernel timeout for the earliest.
void w2_raw_heap(long n, double* values) {
  io_uring ring;
  bench::init_raw_ring(ring);
  using entry = std::pair<std::int64_t, std::uint32_t>;  // deadline (ns), id
  const auto start = bench::clock::now();
  std::priority_queue<entry, std::vector<entry>, std::greater<>> heap;
  auto now_ns = [] {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
  };
  for (long i = 0; i < n; ++i)
    heap.emplace(now_ns() + w2_sleep_ns, static_cast<std::uint32_t>(i));
  long fired = 0;
  while (!heap.empty()) {
    const std::int64_t now = now_ns();
    while (!heap.empty() && heap.top().first <= now) {
      heap.pop();
      ++fired;
    }
    if (heap.empty())
      break;
    const std::int64_t deadline = heap.top().first;
    __kernel_timespec ts{deadline / 1'000'000'000, deadline % 1'000'000'000};
    io_uring_sqe* sqe = bench::get_sqe(ring);
    io_uring_prep_timeout(sqe, &ts, 0, IORING_TIMEOUT_ABS);
    io_uring_submit_and_wait(&ring, 1);
    reap(ring);
  }
  if (fired != n)
    throw std::runtime_error("raw heap: lost timers");
  values[0] = bench::seconds_since(start);
  io_uring_queue_exit(&ring);
}

template <void (*Case)(long, double*)>
void w2_case(benchmark::State& state) {
  const long n = state.range(0);
  for (auto _ : state) {
    const bench::child_report r = bench::run_in_child([n](double* v) { Case(n, v); });
    if (bench::skip_if_failed(state, r))
      return;
    bench::report_sleep_fan_out(state, r, n);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
void BM_baseline_liburing_timeout_each(benchmark::State& state) {
  w2_case<w2_raw_timeout_each>(state);
}
void BM_baseline_liburing_timer_heap(benchmark::State& state) {
  w2_case<w2_raw_heap>(state);
}
BENCHMARK(BM_baseline_liburing_timeout_each)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_baseline_liburing_timer_heap)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// W3 floor: three 1 s timeouts in flight at once; wall time of the wait.
void BM_baseline_liburing_count_demo(benchmark::State& state) {
  io_uring ring;
  bench::init_raw_ring(ring);
  for (auto _ : state) {
    __kernel_timespec ts{1, 0};
    for (int i = 0; i < 3; ++i)
      io_uring_prep_timeout(bench::get_sqe(ring), &ts, 0, 0);
    unsigned done = 0;
    while (done < 3) {
      io_uring_submit_and_wait(&ring, 1);
      done += reap(ring);
    }
  }
  io_uring_queue_exit(&ring);
}
BENCHMARK(BM_baseline_liburing_count_demo)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------
// W4: a trivial call on a worker thread and back to a ring.

int trivial_call(int x) {
  return x + 1;
}

// W4a floor: one worker blocked in read(eventfd); the loop writes its eventfd,
// the worker calls the function and writes the loop's eventfd, on which the
// ring has a read armed.
void BM_baseline_eventfd_roundtrip(benchmark::State& state) {
  io_uring ring;
  bench::init_raw_ring(ring);
  const int to_worker = eventfd(0, EFD_CLOEXEC);
  const int to_loop = eventfd(0, EFD_CLOEXEC);
  int argument = 0;
  int result = 0;
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    std::uint64_t v;
    for (;;) {
      if (read(to_worker, &v, sizeof v) != sizeof v)
        continue;
      if (stop)
        return;
      result = trivial_call(argument);
      const std::uint64_t one = 1;
      if (write(to_loop, &one, sizeof one) != sizeof one)
        std::abort();
    }
  });
  std::uint64_t value = 0;
  const std::uint64_t one = 1;
  for (auto _ : state) {
    ++argument;
    if (write(to_worker, &one, sizeof one) != sizeof one)
      std::abort();
    io_uring_prep_read(bench::get_sqe(ring), to_loop, &value, sizeof value, 0);
    io_uring_submit_and_wait(&ring, 1);
    reap(ring);
    benchmark::DoNotOptimize(result);
  }
  stop = true;
  if (write(to_worker, &one, sizeof one) != sizeof one)
    std::abort();
  worker.join();
  close(to_worker);
  close(to_loop);
  io_uring_queue_exit(&ring);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_eventfd_roundtrip)->UseRealTime()->Unit(benchmark::kMicrosecond);

// W4b floor: `inflight` calls in flight on one worker thread. The loop hands
// jobs over in batches (mutex + condition variable); the worker returns
// results in batches with one eventfd write per batch, as corio's remote
// queue does.
void BM_baseline_eventfd_throughput(benchmark::State& state) {
  const long total = state.range(0);
  const long inflight = state.range(1);
  io_uring ring;
  bench::init_raw_ring(ring);
  const int to_loop = eventfd(0, EFD_CLOEXEC);
  std::mutex jobs_mutex;
  std::condition_variable jobs_cv;
  std::vector<int> jobs;
  bool stop = false;
  std::mutex done_mutex;
  std::vector<int> done;
  bool signalled = false;
  std::thread worker([&] {
    std::vector<int> mine;
    for (;;) {
      {
        std::unique_lock lock(jobs_mutex);
        jobs_cv.wait(lock, [&] { return stop || !jobs.empty(); });
        if (jobs.empty())
          return;
        mine.swap(jobs);
      }
      for (int& j : mine)
        j = trivial_call(j);
      bool wake;
      {
        std::lock_guard lock(done_mutex);
        done.insert(done.end(), mine.begin(), mine.end());
        wake = !std::exchange(signalled, true);
      }
      mine.clear();
      if (wake) {
        const std::uint64_t one = 1;
        if (write(to_loop, &one, sizeof one) != sizeof one)
          std::abort();
      }
    }
  });
  auto submit = [&](std::vector<int>& batch) {
    {
      std::lock_guard lock(jobs_mutex);
      jobs.insert(jobs.end(), batch.begin(), batch.end());
    }
    jobs_cv.notify_one();
    batch.clear();
  };
  std::uint64_t value = 0;
  std::vector<int> batch;
  std::vector<int> results;
  for (auto _ : state) {
    long issued = 0;
    long completed = 0;
    for (; issued < inflight && issued < total; ++issued)
      batch.push_back(static_cast<int>(issued));
    submit(batch);
    while (completed < total) {
      io_uring_prep_read(bench::get_sqe(ring), to_loop, &value, sizeof value, 0);
      io_uring_submit_and_wait(&ring, 1);
      reap(ring);
      {
        std::lock_guard lock(done_mutex);
        results.swap(done);
        signalled = false;
      }
      for (int r : results) {
        benchmark::DoNotOptimize(r);
        ++completed;
        if (issued < total)
          batch.push_back(static_cast<int>(issued++));
      }
      results.clear();
      if (!batch.empty())
        submit(batch);
    }
  }
  {
    std::lock_guard lock(jobs_mutex);
    stop = true;
  }
  jobs_cv.notify_one();
  worker.join();
  close(to_loop);
  io_uring_queue_exit(&ring);
  state.SetItemsProcessed(state.iterations() * total);
}
BENCHMARK(BM_baseline_eventfd_throughput)
    ->Args({100'000, 64})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------
// W7: a file in the page cache read in 64 KiB chunks.

void BM_baseline_pread(benchmark::State& state) {
  const std::string& path = bench::page_cache_file();
  const std::size_t size = bench::file_size(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::vector<char> buffer(bench::w7_chunk);
  for (auto _ : state) {
    for (std::size_t off = 0; off < size; off += bench::w7_chunk) {
      if (pread(fd, buffer.data(), bench::w7_chunk, static_cast<off_t>(off)) <= 0)
        std::abort();
    }
  }
  close(fd);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}
BENCHMARK(BM_baseline_pread)->UseRealTime()->Unit(benchmark::kMillisecond);

// Keeps `depth` reads in flight, one buffer each.
void BM_baseline_liburing_read(benchmark::State& state) {
  const auto depth = static_cast<std::size_t>(state.range(0));
  const std::string& path = bench::page_cache_file();
  const std::size_t size = bench::file_size(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  io_uring ring;
  bench::init_raw_ring(ring, 256);
  std::vector<char> buffers(depth * bench::w7_chunk);
  for (auto _ : state) {
    std::size_t next = 0;
    std::size_t inflight = 0;
    auto issue = [&](std::size_t slot) {
      io_uring_sqe* sqe = bench::get_sqe(ring);
      io_uring_prep_read(sqe, fd, buffers.data() + slot * bench::w7_chunk,
                         static_cast<unsigned>(bench::w7_chunk), next);
      io_uring_sqe_set_data64(sqe, slot);
      next += bench::w7_chunk;
      ++inflight;
    };
    for (std::size_t slot = 0; slot < depth && next < size; ++slot)
      issue(slot);
    while (inflight > 0) {
      io_uring_submit_and_wait(&ring, 1);
      unsigned seen = 0;
      unsigned head;
      io_uring_cqe* cqe;
      std::size_t reissue[64];
      std::size_t count = 0;
      io_uring_for_each_cqe(&ring, head, cqe) {
        ++seen;
        if (cqe->res <= 0)
          std::abort();
        reissue[count++] = cqe->user_data;
        if (count == 64)
          break;
      }
      io_uring_cq_advance(&ring, seen);
      inflight -= seen;
      for (std::size_t i = 0; i < count && next < size; ++i)
        issue(reissue[i]);
    }
  }
  io_uring_queue_exit(&ring);
  close(fd);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}
BENCHMARK(BM_baseline_liburing_read)->Arg(1)->Arg(32)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------
// W8: IORING_OP_NOP round trips.

void BM_baseline_liburing_nop(benchmark::State& state) {
  const auto batch = static_cast<unsigned>(state.range(0));
  io_uring ring;
  bench::init_raw_ring(ring);
  for (auto _ : state) {
    for (unsigned i = 0; i < batch; ++i)
      io_uring_prep_nop(bench::get_sqe(ring));
    io_uring_submit_and_wait(&ring, batch);
    benchmark::DoNotOptimize(reap(ring));
  }
  io_uring_queue_exit(&ring);
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_baseline_liburing_nop)->Arg(1)->Arg(32)->UseRealTime();

}  // namespace
