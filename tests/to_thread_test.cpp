// SPDX-License-Identifier: MIT
#include <corio/to_thread.hpp>

#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/wait_for.hpp>

#include <corio/detail/io_operation.hpp>

#include <liburing.h>
#include <unistd.h>
#include <pthread.h>
#include <sched.h>

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "support/backend.hpp"
#include "support/counted.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;
using corio_test::caught;
using corio_test::counted;
using corio_test::ends_in;

namespace {

struct test_error : std::runtime_error {
  explicit test_error(int code) : std::runtime_error("test_error"), code(code) {}
  int code;
};

// A pipe whose read end a task awaits through io_uring: how a worker thread
// tells the loop "I have started" without the test sleeping.
class signal_pipe {
 public:
  signal_pipe() { REQUIRE(::pipe(fds_) == 0); }
  ~signal_pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  signal_pipe(const signal_pipe&) = delete;
  signal_pipe& operator=(const signal_pipe&) = delete;

  // Any thread.
  void notify() const {
    const char byte = 1;
    [[maybe_unused]] const auto n = ::write(fds_[1], &byte, 1);
  }
  int read_fd() const { return fds_[0]; }

 private:
  int fds_[2];
};

corio::task<> wait_for_signal(const signal_pipe* p) {
  char byte = 0;
  const int res = co_await corio_test::read_byte(p->read_fd(), &byte);
  REQUIRE(res == 1);
}

struct thread_ids {
  std::thread::id loop;
  std::thread::id call;
  std::thread::id after_value;
  std::thread::id after_exception;
};

corio::task<int> value_and_exception_on_loop_thread(thread_ids* ids) {
  ids->loop = std::this_thread::get_id();
  const int v = co_await corio::to_thread([ids] {
    ids->call = std::this_thread::get_id();
    return 21 * 2;
  });
  ids->after_value = std::this_thread::get_id();
  const std::optional<test_error> e =
      co_await caught<test_error>(corio::to_thread([]() -> int { throw test_error(5); }));
  ids->after_exception = std::this_thread::get_id();
  co_return v + (e ? e->code : 0);
}

corio::task<std::size_t> worker_count_after_use() {
  const std::size_t before = corio::event_loop::current().worker_count();
  co_await corio::to_thread([] {});
  CHECK(before == 0);
  co_return corio::event_loop::current().worker_count();
}

// Holds a worker until every one of `workers` calls has started, then records
// the most that ran at once.
corio::task<int> at_most_n_at_once(int calls) {
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::vector<corio::task<>> tasks;
  for (int i = 0; i < calls; ++i) {
    tasks.push_back(corio::to_thread([&running, &most] {
      const int now = ++running;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(5ms);  // overlap with the other calls, if allowed
      --running;
    }));
  }
  co_await corio::gather(std::move(tasks));
  co_return most.load();
}

corio::task<> count_down(std::latch* l) {
  co_await corio::sleep(1ms);
  l->count_down();
}

corio::task<bool> loop_runs_during_call() {
  std::latch released(1);
  // The call blocks until a task on the loop releases it: the loop must keep running.
  auto [r, unused] = co_await corio::gather(corio::to_thread([&released] {
                                              released.wait();
                                              return true;
                                            }),
                                            count_down(&released));
  (void)unused;
  co_return r;
}

struct cancel_state {
  signal_pipe started;
  std::latch release{1};
  std::atomic<bool> call_finished{false};
  bool finished_at_cancel = true;
};

corio::task<int> await_blocking_call(cancel_state* s) {
  counted c = co_await corio::to_thread([s] {
    s->started.notify();
    s->release.wait();
    s->call_finished = true;
    return counted(7);
  });
  co_return c.id;
}

corio::task<bool> cancel_during_call(cancel_state* s) {
  corio::join_handle<int> h = corio::spawn(await_blocking_call(s));
  co_await wait_for_signal(&s->started);  // the call is running now
  h.cancel();
  const bool cancelled = co_await ends_in<corio::cancelled_error>(h);
  s->finished_at_cancel = s->call_finished.load();
  s->release.count_down();  // the call ends after the task has moved on
  co_return cancelled;
}

corio::task<bool> cancel_then_drain(cancel_state* s) {
  const bool cancelled = co_await cancel_during_call(s);
  // With one worker, this call runs after the abandoned one, whose result the
  // loop receives first and drops.
  co_await corio::to_thread([] {});
  CHECK(counted::active_count() == 0);
  co_return cancelled;
}

corio::task<int> sum_of_calls(int n) {
  std::vector<corio::task<int>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    tasks.push_back(corio::to_thread([i] { return i; }));
  int sum = 0;
  for (int v : co_await corio::gather(std::move(tasks)))
    sum += v;
  co_return sum;
}

corio::task<int> move_only_arguments() {
  auto p = std::make_unique<int>(3);
  std::unique_ptr<int> back = co_await corio::to_thread(
      [](std::unique_ptr<int> q, int add) {
        *q += add;
        return q;
      },
      std::move(p), 4);
  co_return *back;
}

corio::task<int> counted_arguments_and_results() {
  int sum = 0;
  for (int i = 0; i < 10; ++i) {
    counted r = co_await corio::to_thread([](counted c) { return counted(c.id * 2); }, counted(i));
    sum += r.id;
  }
  const std::optional<test_error> e = co_await caught<test_error>(
      corio::to_thread([](counted c) -> counted { throw test_error(c.id); }, counted(100)));
  co_return sum + (e ? e->code : 0);
}

corio::task<bool> never_runs_when_cancel_pending(std::atomic<bool>* ran) {
  co_await corio::sleep(0ms);  // cancelled here, while not parked
  co_return co_await ends_in<corio::cancelled_error>(corio::to_thread([ran] { *ran = true; }));
}

corio::task<bool> pending_cancel_skips_call(std::atomic<bool>* ran) {
  corio::join_handle<bool> h = corio::spawn(never_runs_when_cancel_pending(ran));
  co_await corio::sleep(0ms);
  h.cancel();
  co_return co_await h;
}

corio::task<> blocked_call_at_shutdown(cancel_state* s) {
  corio::spawn(await_blocking_call(s));  // still in to_thread when main returns
  co_await wait_for_signal(&s->started);
  s->release.count_down();
}

// Sends what this process writes to stderr to a temporary file until text().
class stderr_capture {
 public:
  stderr_capture() : file_(std::tmpfile()), saved_(::dup(STDERR_FILENO)) {
    REQUIRE(file_ != nullptr);
    REQUIRE(saved_ >= 0);
    std::fflush(stderr);
    REQUIRE(::dup2(::fileno(file_), STDERR_FILENO) >= 0);
  }
  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;
  ~stderr_capture() {
    restore();
    std::fclose(file_);
  }
  std::string text() {
    restore();
    std::rewind(file_);
    std::string out;
    for (int c; (c = std::fgetc(file_)) != EOF;)
      out.push_back(static_cast<char>(c));
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0)
      return;
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_;
  int saved_;
};

// Leaves a call that takes `how_long` running when main returns.
corio::task<> slow_call_at_shutdown(signal_pipe* started, std::chrono::milliseconds how_long) {
  corio::spawn(corio::to_thread([started, how_long] {
    started->notify();
    std::this_thread::sleep_for(how_long);
  }));
  co_await wait_for_signal(started);
}

// Blocks, without polling, until its token is signalled; returns whether it was.
bool block_until_stopped(std::stop_token token, signal_pipe* started, std::atomic<bool>* stopped) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  started->notify();
  cv.wait(lock, token, [] { return false; });
  *stopped = token.stop_requested();
  return *stopped;
}

// `started` outlives run(), which waits for the call that writes to it.
corio::task<bool> cancel_signals_the_token(signal_pipe* started, std::atomic<bool>* stopped) {
  corio::join_handle<bool> h =
      corio::spawn(corio::to_thread(block_until_stopped, started, stopped));
  co_await wait_for_signal(started);  // the call is running now
  h.cancel();
  co_return co_await ends_in<corio::cancelled_error>(h);
}

// The timeout must find the call running: one still queued when it comes is
// dropped and never runs. On a loaded machine the worker may take longer than
// the timeout to start it, so such an attempt is made again with twice the time.
corio::task<bool> timeout_signals_the_token(signal_pipe* started, std::atomic<bool>* stopped,
                                            std::atomic<int>* calls) {
  for (auto timeout = 20ms; timeout <= 10s; timeout *= 2) {
    const int before = *calls;
    try {
      co_await corio::wait_for(corio::to_thread([=](std::stop_token token) {
                                 ++*calls;
                                 return block_until_stopped(token, started, stopped);
                               }),
                               timeout);
      co_return false;  // the call ended by itself
    } catch (const corio::timeout_error&) {
    }
    if (*calls != before)
      co_return true;  // it ran, so the timeout's cancel reached its token
  }
  co_return false;
}

corio::task<> token_call_left_at_shutdown(signal_pipe* started, std::atomic<bool>* stopped) {
  corio::spawn(corio::to_thread(block_until_stopped, started, stopped));
  co_await wait_for_signal(started);  // main returns while the call blocks on its token
}

corio::task<std::string> token_and_arguments() {
  std::string s = co_await corio::to_thread(
      [](std::stop_token token, int n, std::string text) {
        return text + std::to_string(n) + (token.stop_possible() ? " possible" : " impossible") +
               (token.stop_requested() ? " requested" : "");
      },
      7, std::string("call "));
  co_return s;
}

corio::task<> yield_until(const bool* stop) {
  while (!*stop)
    co_await corio::sleep(0ms);
}

corio::task<int> result_beside_a_busy_task() {
  bool stop = false;
  corio::join_handle<void> busy = corio::spawn(yield_until(&stop));
  const int v = co_await corio::to_thread([] { return 5; });  // the loop never blocks meanwhile
  stop = true;
  co_await busy;
  co_return v;
}

corio::task<int*> reference_result(int* target) {
  int& r = co_await corio::to_thread([target]() -> int& { return *target; });
  co_return &r;
}

corio::task<bool> slow_call_times_out(std::atomic<int>* ran) {
  auto slow = [ran] {
    ++*ran;
    std::this_thread::sleep_for(1s);
  };
  co_return co_await ends_in<corio::timeout_error>(corio::wait_for(corio::to_thread(slow), 10ms));
}

// Five 1 s calls on one worker, each abandoned by wait_for after 10 ms:
// the first may be running already, the queued ones must never start.
corio::task<std::size_t> abandon_queued_calls(std::atomic<int>* ran) {
  std::vector<corio::task<bool>> calls;
  for (int i = 0; i < 5; ++i)
    calls.push_back(slow_call_times_out(ran));
  std::vector<bool> timed_out = co_await corio::gather(std::move(calls));
  co_return static_cast<std::size_t>(std::count(timed_out.begin(), timed_out.end(), true));
}

}  // namespace

TEST_CASE("to_thread: a result arrives while another task keeps the loop busy",
          "[to_thread][io_uring][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(result_beside_a_busy_task()) == 5);
}

TEST_CASE("to_thread: a call returning a reference gives that very object back",
          "[to_thread][io_uring][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  int target = 0;
  CHECK(corio::run(reference_result(&target)) == &target);
}

TEST_CASE(
    "to_thread: the call runs on a worker; its result and exception come back on the loop's thread",
    "[to_thread][io_uring][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  thread_ids ids;
  CHECK(corio::run(value_and_exception_on_loop_thread(&ids)) == 47);
  CHECK(ids.loop == std::this_thread::get_id());
  CHECK(ids.call != ids.loop);
  CHECK(ids.after_value == ids.loop);
  CHECK(ids.after_exception == ids.loop);
}

TEST_CASE("to_thread: the default pool has one worker per CPU the loop's thread may use",
          "[to_thread][io_uring][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  cpu_set_t all;
  REQUIRE(pthread_getaffinity_np(pthread_self(), sizeof all, &all) == 0);
  CHECK(corio::run(worker_count_after_use()) == std::min<std::size_t>(32, CPU_COUNT(&all)));
  // Pinned to one CPU (as `taskset -c 0` does), the pool has one worker.
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &all)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  REQUIRE(pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0);
  const std::size_t pinned = corio::run(worker_count_after_use());
  REQUIRE(pthread_setaffinity_np(pthread_self(), sizeof all, &all) == 0);
  CHECK(pinned == 1);
}

TEST_CASE("to_thread: loop_options::worker_threads sets the pool size",
          "[to_thread][io_uring][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(worker_count_after_use(), corio::loop_options{.worker_threads = 3}) == 3);
  CHECK(corio::run(at_most_n_at_once(8), corio::loop_options{.worker_threads = 2}) <= 2);
  CHECK(corio::run(at_most_n_at_once(4), corio::loop_options{.worker_threads = 1}) == 1);
}

TEST_CASE("to_thread: the loop keeps running other tasks during the call",
          "[to_thread][io_uring][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(loop_runs_during_call()));
}

TEST_CASE(
    "to_thread: cancelling the awaiting task gives cancelled_error at once; the call runs on and "
    "its result is dropped",
    "[to_thread][io_uring][threads][cancellation][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  SECTION("dropped when the loop shuts down") {
    counted::reset_counts();
    cancel_state s;
    CHECK(corio::run(cancel_during_call(&s), corio::loop_options{.worker_threads = 2}));
    CHECK_FALSE(s.finished_at_cancel);
    CHECK(s.call_finished);  // run() waited for the call
    CHECK(counted::active_count() == 0);
  }
  SECTION("dropped while the loop runs on") {
    counted::reset_counts();
    cancel_state s;
    CHECK(corio::run(cancel_then_drain(&s), corio::loop_options{.worker_threads = 1}));
    CHECK_FALSE(s.finished_at_cancel);
    CHECK(counted::active_count() == 0);
  }
}

TEST_CASE("to_thread: a cancellation pending before the call means the call never runs",
          "[to_thread][io_uring][threads][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::atomic<bool> ran{false};
  CHECK(corio::run(pending_cancel_skips_call(&ran)));
  CHECK_FALSE(ran);
}

TEST_CASE("to_thread: a task parked in to_thread when run() ends is cancelled and the call awaited",
          "[to_thread][io_uring][threads][cancellation][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  cancel_state s;
  corio::run(blocked_call_at_shutdown(&s));
  CHECK(s.call_finished);
  CHECK(counted::active_count() == 0);
}

TEST_CASE(
    "to_thread: run()'s shutdown waits for a running call, and says so after "
    "loop_options::shutdown_warning",
    "[to_thread][io_uring][threads][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  signal_pipe started;
  corio::loop_options options;
  options.shutdown_warning = 50ms;
  stderr_capture err;
  const auto start = std::chrono::steady_clock::now();
  corio::run(slow_call_at_shutdown(&started, 500ms), options);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(err.text() == "corio: run() is waiting for 1 to_thread call(s) still running\n");
  CHECK(elapsed >= 500ms);  // it waited for the call, past the warning
}

TEST_CASE(
    "to_thread: run()'s shutdown prints nothing when the calls finish within "
    "shutdown_warning",
    "[to_thread][io_uring][threads][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  signal_pipe started;
  stderr_capture err;
  corio::run(slow_call_at_shutdown(&started, 20ms));  // the default: 5 s
  CHECK(err.text().empty());
}

TEST_CASE(
    "to_thread: a callable taking a std::stop_token first gets one, with the arguments "
    "after it",
    "[to_thread][io_uring][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(token_and_arguments()) == "call 7 possible");
}

TEST_CASE("to_thread: cancelling the awaiting task signals the call's std::stop_token",
          "[to_thread][io_uring][threads][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  signal_pipe started;
  std::atomic<bool> stopped{false};
  CHECK(corio::run(cancel_signals_the_token(&started, &stopped)));
  CHECK(stopped);  // run() waited for the call, which saw the request and returned
}

TEST_CASE("to_thread: run()'s shutdown signals the token of a call left running, and waits for it",
          "[to_thread][io_uring][threads][cancellation][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  signal_pipe started;
  std::atomic<bool> stopped{false};
  corio::run(token_call_left_at_shutdown(&started, &stopped));
  CHECK(stopped);
}

TEST_CASE("to_thread: a wait_for timeout signals the call's std::stop_token",
          "[to_thread][io_uring][threads][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  signal_pipe started;
  std::atomic<bool> stopped{false};
  std::atomic<int> calls{0};
  CHECK(corio::run(timeout_signals_the_token(&started, &stopped, &calls)));
  CHECK(stopped);  // run() waited for the call, which saw the request and returned
}

TEST_CASE("to_thread: arguments are moved into the call, move-only ones too",
          "[to_thread][io_uring][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(move_only_arguments()) == 7);
}

TEST_CASE("to_thread: arguments, results and exceptions are freed (counted returns to 0)",
          "[to_thread][io_uring][threads][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  CHECK(corio::run(counted_arguments_and_results()) == 90 + 100);
  CHECK(counted::active_count() == 0);
}

TEST_CASE("to_thread: ten thousand calls all come back", "[to_thread][io_uring][threads][slow]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(sum_of_calls(10'000)) == 10'000 * 9'999 / 2);
}

TEST_CASE("to_thread: calls cancelled while still queued never run",
          "[to_thread][io_uring][threads][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::atomic<int> ran{0};
  const auto start = std::chrono::steady_clock::now();
  CHECK(corio::run(abandon_queued_calls(&ran), {.worker_threads = 1}) == 5);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(ran.load() < 5);  // on 0.1 all five ran,
  CHECK(elapsed < 4s);    // and run() took five times as long as one call
}
