// SPDX-License-Identifier: MIT
#include <corio/event_loop.hpp>

#include <corio/event.hpp>
#include <corio/file.hpp>
#include <corio/gather.hpp>
#include <corio/net/tcp.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>
#include <corio/wait_for.hpp>
#include <corio/yield.hpp>

#include <corio/detail/io_operation.hpp>

#include <stdlib.h>

#include <liburing.h>
#include <sys/resource.h>
#include <unistd.h>
#include <sched.h>

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <ctime>
#include <filesystem>
#include <future>
#include <memory>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "support/backend.hpp"
#include "support/counted.hpp"
#include "support/ends_in.hpp"
#include "support/handler_capture.hpp"
#include "support/io_uring_available.hpp"
#include "support/leaks_expected.hpp"

using namespace std::chrono_literals;
using corio_test::counted;
using corio_test::ends_in;
using corio_test::handler_capture;

namespace {

struct test_error : std::runtime_error {
  test_error() : std::runtime_error("test_error") {}
};

std::size_t count_entries(const char* dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir))
    ++n;
  return n;
}

// CPU time this process has used, user and system.
std::chrono::microseconds process_cpu_time() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return std::chrono::seconds(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         std::chrono::microseconds(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

corio::task<int> value(int v) {
  co_return v;
}

corio::task<> throw_test_error() {
  co_await corio::sleep(0ms);
  throw test_error();
}

struct shutdown_record {
  int started = 0;
  int cancelled = 0;
  int finished = 0;
};

corio::task<> sleep_forever(shutdown_record* r, counted c) {
  (void)c;  // its copy lives in the frame: counted checks the frame is freed
  ++r->started;
  try {
    co_await corio::sleep(24h);
  } catch (const corio::cancelled_error&) {
    ++r->cancelled;
    ++r->finished;
    throw;
  }
}

corio::task<> wait_forever(shutdown_record* r, corio::event* ev, counted c) {
  (void)c;
  ++r->started;
  try {
    co_await ev->wait();
  } catch (const corio::cancelled_error&) {
    ++r->cancelled;
  }
  ++r->finished;
}

corio::task<int> spawn_and_return(shutdown_record* r, corio::event* ev) {
  corio::spawn(sleep_forever(r, counted()));
  corio::spawn(wait_forever(r, ev, counted()));
  corio::join_handle<void> kept = corio::spawn(sleep_forever(r, counted()));
  co_await corio::sleep(0ms);  // let them start
  co_await corio::sleep(0ms);
  co_return 7;
}

// Cancelled at shutdown, its handler spawns a successor that sleeps for a
// minute; `generations` more of them, each spawned by the last one's handler.
// The successors are spawned while run() is cancelling the spawned tasks.
corio::task<> respawn_on_cancel(shutdown_record* r, int generations, counted c) {
  (void)c;
  ++r->started;
  try {
    co_await corio::sleep(60s);
  } catch (const corio::cancelled_error&) {
    ++r->cancelled;
    if (generations > 0)
      corio::spawn(respawn_on_cancel(r, generations - 1, counted()));
  }
  ++r->finished;
}

// Its destructor spawns: a cleanup path that runs when the frame is destroyed.
struct spawns_on_destruction {
  shutdown_record* r;
  ~spawns_on_destruction() { corio::spawn(respawn_on_cancel(r, 0, counted())); }
};

corio::task<> sleep_then_cleanup(shutdown_record* r, counted c) {
  (void)c;
  spawns_on_destruction cleanup{r};
  co_await corio::sleep(60s);
}

corio::task<int> spawn_respawning(shutdown_record* r) {
  corio::spawn(respawn_on_cancel(r, 2, counted()));
  corio::spawn(sleep_then_cleanup(r, counted()));
  co_await corio::sleep(0ms);  // let them start
  co_return 8;
}

corio::task<> uses_everything() {
  // A kernel operation, a timer and a to_thread call: ring, eventfd and workers.
  auto f = co_await corio::file::open("/dev/null", corio::open_mode::read);
  co_await f.close();
  co_await corio::sleep(1ms);
  co_await corio::to_thread([] { return 1; });
}

corio::task<> nested_run(std::string* what) {
  try {
    corio::run(value(1));
  } catch (const std::logic_error& e) {
    *what = e.what();
  }
  co_return;
}

corio::task<> wait_on(corio::event* ev) {
  co_await ev->wait();
}

corio::task<> deadlock() {
  corio::event never_set;
  co_await never_set.wait();
}

corio::task<> deadlock_via_join() {
  corio::event never_set;
  co_await corio::spawn(wait_on(&never_set));
}

corio::task<> deadlock_in_gather() {
  corio::event never_set;
  co_await corio::gather(wait_on(&never_set), wait_on(&never_set));
}

corio::task<int> nop() {
  co_return co_await corio::detail::io_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
}

corio::task<std::size_t> many_nops(std::size_t n) {
  std::vector<corio::task<int>> ops;
  ops.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    ops.push_back(nop());
  std::vector<int> results = co_await corio::gather(std::move(ops));
  std::size_t zeros = 0;
  for (int r : results)
    zeros += r == 0 ? 1 : 0;
  co_return zeros;
}

corio::task<> sleep_for(std::chrono::milliseconds d) {
  co_await corio::sleep(d);
}

corio::task<std::size_t> worker_count_after_use() {
  co_await corio::to_thread([] {});
  co_return corio::event_loop::current().worker_count();
}

}  // namespace

TEST_CASE("run: returns the main task's value", "[event_loop][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(value(42)) == 42);
}

TEST_CASE("run: rethrows the main task's exception", "[event_loop][io_uring][exceptions]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK_THROWS_AS(corio::run(throw_test_error()), test_error);
}

TEST_CASE("run: cancels every task still pending on the way out, and they finish",
          "[event_loop][io_uring][cancellation][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  shutdown_record r;
  corio::event never_set;
  const auto start = std::chrono::steady_clock::now();
  CHECK(corio::run(spawn_and_return(&r, &never_set)) == 7);
  CHECK(std::chrono::steady_clock::now() - start < 5s);  // the 24h sleeps did not hold it
  CHECK(r.started == 3);
  CHECK(r.cancelled == 3);
  CHECK(r.finished == 3);
  CHECK(counted::active_count() == 0);
}

TEST_CASE("run: a task spawned while the spawned tasks are being cancelled is cancelled too",
          "[event_loop][io_uring][cancellation][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counted::reset_counts();
  shutdown_record r;
  const auto start = std::chrono::steady_clock::now();
  CHECK(corio::run(spawn_respawning(&r)) == 8);
  CHECK(std::chrono::steady_clock::now() - start < 30s);  // no 60 s sleep held it
  // Three generations of respawn_on_cancel, the cleanup task and what its destructor spawned.
  CHECK(r.started == 4);
  CHECK(r.cancelled == 4);
  CHECK(r.finished == 4);
  CHECK(counted::active_count() == 0);
}

TEST_CASE("run: releases every file descriptor it opened",
          "[event_loop][io_uring][threads][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t before = count_entries("/proc/self/fd");
  corio::run(uses_everything());
  CHECK(count_entries("/proc/self/fd") == before);
}

TEST_CASE("run: joins the to_thread worker threads on the way out",
          "[event_loop][io_uring][threads][lifetime]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t before = count_entries("/proc/self/task");
  corio::run(uses_everything());
  CHECK(count_entries("/proc/self/task") == before);
}

TEST_CASE("run: two runs in a row both work", "[event_loop][io_uring][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(value(1)) == 1);
  corio::run(uses_everything());
  CHECK(corio::run(value(2)) == 2);
  CHECK(corio::event_loop::current_or_null() == nullptr);
}

TEST_CASE("run: inside a running loop throws std::logic_error", "[event_loop][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::string what;
  corio::run(nested_run(&what));
  CHECK(what.find("nested") != std::string::npos);
}

TEST_CASE("run: a deadlock (awaiting an event nobody sets) throws std::logic_error, not a hang",
          "[event_loop][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  try {
    corio::run(deadlock());
    FAIL("no exception");
  } catch (const std::logic_error& e) {
    CHECK(std::string(e.what()).find("deadlock") != std::string::npos);
  }
  CHECK_THROWS_AS(corio::run(deadlock_in_gather()), std::logic_error);
  CHECK_THROWS_AS(corio::run(deadlock_via_join()), std::logic_error);
  CHECK(corio::run(value(3)) == 3);  // the loop after a deadlock is a fresh one
}

TEST_CASE("run: an empty (moved-from) main task throws std::logic_error",
          "[event_loop][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::task<int> t = value(1);
  corio::task<int> other = std::move(t);
  CHECK_THROWS_AS(corio::run(std::move(t)), std::logic_error);  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("event_loop: a thread has one loop at most", "[event_loop][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::event_loop loop;
  CHECK(&corio::event_loop::current() == &loop);
  CHECK(loop.is_current());
  CHECK_THROWS_AS(corio::event_loop(), std::logic_error);
  CHECK(&corio::event_loop::current() == &loop);
  CHECK(loop.run_until_complete(value(5)) == 5);
}

TEST_CASE("event_loop: one loop runs several main tasks in a row", "[event_loop][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::event_loop loop;
  CHECK(loop.run_until_complete(value(1)) == 1);
  CHECK_THROWS_AS(loop.run_until_complete(throw_test_error()), test_error);
  shutdown_record r;
  corio::event never_set;
  CHECK(loop.run_until_complete(spawn_and_return(&r, &never_set)) == 7);
  CHECK(r.cancelled == 3);
  CHECK(loop.run_until_complete(value(2)) == 2);
}

TEST_CASE("event_loop: current() outside a loop throws std::logic_error", "[event_loop][misuse]") {
  CHECK(corio::event_loop::current_or_null() == nullptr);
  CHECK_THROWS_AS(corio::event_loop::current(), std::logic_error);
}

TEST_CASE("event_loop: queue_depth 0 throws std::invalid_argument",
          "[event_loop][io_uring][misuse]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK_THROWS_AS(corio::run(value(1), corio::loop_options{.queue_depth = 0}),
                  std::invalid_argument);
  CHECK(corio::event_loop::current_or_null() == nullptr);
}

TEST_CASE("event_loop: a queue_depth above the kernel's maximum is clamped, not refused",
          "[event_loop][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY("NOPs and submission-queue depth");
  // 20,000 asks for an 80,000-entry CQ, and 1 << 20 for more SQ entries than
  // IORING_MAX_ENTRIES (32768): both run on the kernel's maxima.
  CHECK(corio::run(many_nops(100), corio::loop_options{.queue_depth = 20'000}) == 100);
  CHECK(corio::run(many_nops(100), corio::loop_options{.queue_depth = 1u << 20}) == 100);
}

TEST_CASE("run: more operations in flight than queue_depth are all submitted and completed",
          "[event_loop][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY("NOPs and submission-queue depth");
  CHECK(corio::run(many_nops(1000), corio::loop_options{.queue_depth = 4}) == 1000);
}

TEST_CASE(
    "run: twenty thousand completions at once (more than the completion ring holds) are all reaped",
    "[event_loop][io_uring][slow]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY("NOPs and submission-queue depth");
  CHECK(corio::run(many_nops(20'000)) == 20'000);
}

TEST_CASE("run: loop_options::sqpoll gives a working loop", "[event_loop][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY("ring setup flags");
  try {
    corio::event_loop loop(corio::loop_options{.sqpoll = true});
    CHECK((loop.ring_setup_flags() & IORING_SETUP_SQPOLL) != 0);
    CHECK(loop.run_until_complete(many_nops(100)) == 100);
  } catch (const std::system_error& e) {
    SKIP("SQPOLL refused here: " << e.what());
  }
}

TEST_CASE("run: the loop waits in the kernel, not by busy polling",
          "[event_loop][io_uring][timing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const auto cpu_before = process_cpu_time();
  const auto start = std::chrono::steady_clock::now();
  corio::run(sleep_for(300ms));
  const auto wall = std::chrono::steady_clock::now() - start;
  const auto cpu = process_cpu_time() - cpu_before;
  CHECK(wall >= 300ms);
  CHECK(cpu < 150ms);  // a spinning loop would use about 300ms
}

TEST_CASE("event_loop: the to_thread pool starts on first use, one worker per usable CPU",
          "[event_loop][io_uring][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  cpu_set_t set;
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  CHECK(corio::run(worker_count_after_use()) == std::min<std::size_t>(32, CPU_COUNT(&set)));
  corio::event_loop loop;
  CHECK(loop.worker_count() == 0);
}

namespace {

// What debug mode wrote to its sink, a temporary file; `deadlock` says
// whether run() must end in a deadlock (std::logic_error).
std::string debug_output_of(corio::task<void> main, bool deadlock = false) {
  std::FILE* sink = std::tmpfile();
  REQUIRE(sink != nullptr);
  corio::loop_options options;
  options.debug = true;
  options.debug_output = sink;
  if (deadlock)
    CHECK_THROWS_AS(corio::run(std::move(main), options), std::logic_error);
  else
    corio::run(std::move(main), options);
  std::string text;
  std::rewind(sink);
  for (int c = std::fgetc(sink); c != EOF; c = std::fgetc(sink))
    text.push_back(static_cast<char>(c));
  std::fclose(sink);
  return text;
}

corio::task<void> block_for(std::chrono::milliseconds d) {
  std::this_thread::sleep_for(d);  // a step that never suspends
  co_return;
}

}  // namespace

TEST_CASE("loop_options::debug: warns of a 150 ms step, not of a quick one",
          "[event_loop][io_uring][debug]") {
  const std::string out = debug_output_of([]() -> corio::task<void> {
    auto slow = corio::spawn(block_for(150ms), "slow");
    // No sleep at all: on a loaded machine a 50 ms sleep_for was seen to take
    // 136 ms, past the 100 ms mark; even a 1 ms one could.
    auto quick = corio::spawn(block_for(0ms), "quick");
    co_await slow;
    co_await quick;
  }());
  INFO(out);
  CHECK(out.find("corio: debug: task 'slow' (created at ") != std::string::npos);
  CHECK(out.find("event_loop_test.cpp:") != std::string::npos);
  CHECK(out.find(" ms without suspending") != std::string::npos);
  CHECK(out.find("'quick'") == std::string::npos);
  // One warning, and the statistics line (the epoll pass also names its
  // backend on a line of its own).
  const long backend_line = out.find("; using epoll\n") != std::string::npos ? 1 : 0;
  CHECK(std::count(out.begin(), out.end(), '\n') == 2 + backend_line);
}

TEST_CASE("loop_options::debug: the main task's slow step names it",
          "[event_loop][io_uring][debug]") {
  const std::string out = debug_output_of([]() -> corio::task<void> {
    std::this_thread::sleep_for(150ms);
    co_return;
  }());
  CHECK(out.find("corio: debug: task 'debug_output_of'") != std::string::npos);
}

namespace {

// Catches every cancellation and waits again: on a deadlock it stays pending.
corio::task<> stubborn(corio::event* never) {
  for (;;) {
    try {
      co_await never->wait();
      co_return;
    } catch (const corio::cancelled_error&) {
    }
  }
}

corio::task<> stubborn_with_a_stubborn_child(corio::event* never) {
  corio::spawn(stubborn(never), "stubborn child");
  co_await stubborn(never);
}

}  // namespace

TEST_CASE("loop_options::debug: names each task still pending at shutdown",
          "[event_loop][io_uring][debug]") {
  // Both frames stay suspended on the event for good: it must outlive them.
  corio_test::leaks_expected leaks;
  auto* never = new corio::event;
  const std::string out = debug_output_of(stubborn_with_a_stubborn_child(never), true);
  INFO(out);
  CHECK(out.find("corio: debug: task 'stubborn child' (created at ") != std::string::npos);
  CHECK(out.find("corio: debug: task 'debug_output_of' (created at ") != std::string::npos);
  CHECK(out.find("event_loop_test.cpp:") != std::string::npos);
  const std::string tail =
      " is still pending at shutdown: it did not finish when cancelled, so its frame is left "
      "suspended (leaked) at: event wait\n";
  std::size_t lines = 0;
  for (std::size_t at = out.find(tail); at != std::string::npos; at = out.find(tail, at + 1))
    ++lines;
  CHECK(lines == 2);
}

namespace {

// A known program: the main task, two sleepers, an accept in flight, one
// to_thread call running on the pool's one worker and one queued behind it.
corio::task<corio::loop_statistics> known_load(corio::loop_statistics* idle) {
  *idle = corio::event_loop::current().statistics();
  std::binary_semaphore started(0);
  std::binary_semaphore gate(0);
  auto listener = corio::net::tcp_listener::bind("127.0.0.1", 0);
  auto sleeper1 = corio::spawn(corio::sleep(1h));
  auto sleeper2 = corio::spawn(corio::sleep(2h));
  auto acceptor = corio::spawn(listener.accept());
  auto running = corio::spawn(corio::to_thread([&] {
    started.release();
    gate.acquire();
  }));
  // The spawned tasks start in this turn, which ends by handing the call to
  // the pool; the next turn resumes us.
  co_await corio::yield();
  co_await corio::yield();
  started.acquire();  // (blocks the loop's thread) the worker runs the first call
  auto queued = corio::spawn(corio::to_thread([] {}));
  co_await corio::yield();  // the second call is handed over, and waits for the worker
  co_await corio::yield();
  const corio::loop_statistics busy = corio::event_loop::current().statistics();
  gate.release();
  sleeper1.cancel();
  sleeper2.cancel();
  acceptor.cancel();
  co_await running;
  co_await queued;
  for (auto* h : {&sleeper1, &sleeper2}) {
    try {
      co_await *h;
    } catch (const corio::cancelled_error&) {
    }
  }
  try {
    co_await acceptor;
  } catch (const corio::cancelled_error&) {
  }
  co_return busy;
}

}  // namespace

TEST_CASE("event_loop::statistics: counts tasks, operations, timers and to_thread calls",
          "[event_loop][io_uring][threads]") {
  corio::loop_statistics idle;
  const corio::loop_statistics s =
      corio::run(known_load(&idle), corio::loop_options{.worker_threads = 1});
  CHECK(idle.tasks == 1);  // the main task
  CHECK(idle.operations_in_flight == 0);
  CHECK(idle.timers == 0);
  CHECK(idle.to_thread_queued == 0);
  CHECK(idle.to_thread_running == 0);
  CHECK(idle.worker_threads == 0);
  CHECK(s.tasks == 6);
  CHECK(s.operations_in_flight == 1);
  CHECK(s.timers == 2);
  CHECK(s.to_thread_queued == 1);
  CHECK(s.to_thread_running == 1);
  CHECK(s.worker_threads == 1);
}

TEST_CASE("loop_options::debug: prints the loop statistics as the main task ends",
          "[event_loop][io_uring][debug]") {
  const std::string out = debug_output_of([]() -> corio::task<void> {
    auto h = corio::spawn(corio::sleep(1h));
    co_await corio::yield();
  }());
  CHECK(out.find("corio: debug: loop statistics as the main task ended: 2 task(s) alive, 0 "
                 "operation(s) in flight, 1 timer(s), to_thread 0 queued and 0 running on 0 "
                 "worker thread(s)\n") != std::string::npos);
}

TEST_CASE("loop_options::debug: off by default, no warning", "[event_loop][io_uring][debug]") {
  corio::event_loop loop;
  CHECK_FALSE(loop.options().debug);
}

TEST_CASE("loop_options::debug: CORIO_DEBUG=1 turns it on", "[event_loop][io_uring][debug]") {
  REQUIRE(::setenv("CORIO_DEBUG", "1", 1) == 0);
  bool debug = false;
  {
    corio::event_loop loop;
    debug = loop.options().debug;
  }
  ::unsetenv("CORIO_DEBUG");
  CHECK(debug);
}

TEST_CASE("event_loop: loop_options::backend epoll runs on epoll; backend() says so",
          "[event_loop][backend]") {
  corio::event_loop loop(corio::loop_options{.backend = corio::backend::epoll});
  CHECK(loop.backend() == corio::backend::epoll);
  CHECK(loop.ring_setup_flags() == 0);
  loop.run_until_complete(uses_everything());
}

TEST_CASE("event_loop: a forced io_uring backend knows the optional opcodes",
          "[event_loop][backend][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // What the kernel says, through a ring of our own.
  io_uring ring;
  REQUIRE(io_uring_queue_init(4, &ring, 0) == 0);
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  REQUIRE(probe != nullptr);
  const bool kernel_has_waitid =
      io_uring_opcode_supported(probe, corio::detail::io_uring_backend::op_waitid) != 0;
  io_uring_free_probe(probe);
  io_uring_queue_exit(&ring);
  // process::wait reaps through IORING_OP_WAITID where the kernel has it
  // (Linux 6.7), also when io_uring was forced rather than chosen.
  corio::event_loop loop(corio::loop_options{.backend = corio::backend::io_uring});
  CHECK(corio::detail::loop_core::current().io_uring().has_waitid() == kernel_has_waitid);
}

TEST_CASE("loop_options::debug: on epoll, one line says why io_uring is not used",
          "[event_loop][backend][debug]") {
  std::FILE* sink = std::tmpfile();
  REQUIRE(sink != nullptr);
  {
    corio::event_loop loop(
        corio::loop_options{.debug = true, .debug_output = sink, .backend = corio::backend::epoll});
  }
  std::string text;
  std::rewind(sink);
  for (int c = std::fgetc(sink); c != EOF; c = std::fgetc(sink))
    text.push_back(static_cast<char>(c));
  std::fclose(sink);
  CHECK(text == "corio: debug: loop_options::backend is epoll; using epoll\n");
}

TEST_CASE("event_loop: CORIO_BACKEND picks the default backend; an explicit choice wins",
          "[event_loop][backend]") {
  const char* old = std::getenv("CORIO_BACKEND");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("CORIO_BACKEND", "epoll", 1);
  {
    corio::event_loop loop;
    CHECK(loop.backend() == corio::backend::epoll);
  }
  if (corio_test::io_uring_available()) {
    corio::event_loop loop(corio::loop_options{.backend = corio::backend::io_uring});
    CHECK(loop.backend() == corio::backend::io_uring);
  }
  ::setenv("CORIO_BACKEND", "kqueue", 1);
  CHECK_THROWS_AS(corio::event_loop(), std::invalid_argument);
  if (old != nullptr)
    ::setenv("CORIO_BACKEND", saved.c_str(), 1);
  else
    ::unsetenv("CORIO_BACKEND");
}

// Crossing threads: call_soon_threadsafe and submit. Catch2's macros are not
// thread-safe, so the other threads only record, and the test checks after.
namespace {

// Awaits the end of `threads` through to_thread, which also keeps the loop
// from taking the wait for their calls for a deadlock.
corio::task<> join_all(std::vector<std::thread>& threads) {
  co_await corio::to_thread([&threads] {
    for (std::thread& t : threads)
      t.join();
  });
}

corio::task<> calls_in_order(std::vector<int>* seen, bool* on_other_thread) {
  corio::event_loop& loop = corio::event_loop::current();
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::vector<std::thread> threads;
  threads.emplace_back([&loop, seen, on_other_thread, loop_thread] {
    for (int i = 0; i < 5000; ++i) {
      loop.call_soon_threadsafe([seen, on_other_thread, loop_thread, i] {
        *on_other_thread = *on_other_thread || std::this_thread::get_id() != loop_thread;
        seen->push_back(i);
      });
    }
  });
  co_await join_all(threads);
}

}  // namespace

TEST_CASE(
    "event_loop::call_soon_threadsafe: calls from another thread all run, in order, on the "
    "loop's thread",
    "[event_loop][threads]") {
  std::vector<int> seen;
  bool on_other_thread = false;
  corio::run(calls_in_order(&seen, &on_other_thread));
  REQUIRE(seen.size() == 5000);
  for (int i = 0; i < 5000; ++i)
    REQUIRE(seen[static_cast<std::size_t>(i)] == i);
  CHECK_FALSE(on_other_thread);
}

namespace {

// The loop sleeps on a long timer alone (no to_thread call out): the call
// must wake it at once.
corio::task<bool> woken_from_sleep() {
  corio::event_loop& loop = corio::event_loop::current();
  corio::event ready;
  std::thread t([&loop, &ready] { loop.call_soon_threadsafe([&ready] { ready.set(); }); });
  const auto start = std::chrono::steady_clock::now();
  const bool timed_out = co_await ends_in<corio::timeout_error>(corio::wait_for(ready.wait(), 20s));
  t.join();
  co_return !timed_out && std::chrono::steady_clock::now() - start < 10s;
}

}  // namespace

TEST_CASE("event_loop::call_soon_threadsafe: wakes a loop that sleeps on a timer",
          "[event_loop][threads]") {
  CHECK(corio::run(woken_from_sleep()));
}

namespace {

// Two threads each post a call and wait for it to have run before posting
// the next, so the loop goes back to sleep between calls, and a push races
// with the loop saying it sleeps: every call must wake it.
corio::task<int> ping_pong_calls(int rounds) {
  corio::event_loop& loop = corio::event_loop::current();
  // Shared with the calls, which may outlive this frame if a wake-up is lost.
  struct state {
    corio::event done;
    int ran = 0;
    int finished = 0;
    std::binary_semaphore back[2]{std::binary_semaphore(0), std::binary_semaphore(0)};
  };
  auto shared = std::make_shared<state>();
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&loop, shared, rounds, t] {
      for (int i = 0; i < rounds; ++i) {
        const bool last = i + 1 == rounds;
        loop.call_soon_threadsafe([shared, last, t] {
          ++shared->ran;
          if (last && ++shared->finished == 2)
            shared->done.set();
          shared->back[t].release();
        });
        if (!shared->back[t].try_acquire_for(20s))
          return;  // the loop slept through the call
      }
    });
  }
  try {
    co_await corio::wait_for(shared->done.wait(), 20s);
  } catch (const corio::timeout_error&) {
  }
  for (std::thread& t : threads)
    t.join();
  co_return shared->ran;
}

}  // namespace

TEST_CASE(
    "event_loop::call_soon_threadsafe: calls one at a time from two threads each wake the "
    "sleeping loop",
    "[event_loop][threads]") {
  CHECK(corio::run(ping_pong_calls(2000)) == 4000);
}

namespace {

corio::task<int> a_throwing_call_is_reported() {
  corio::event_loop& loop = corio::event_loop::current();
  int after = 0;
  std::vector<std::thread> threads;
  threads.emplace_back([&loop, &after] {
    loop.call_soon_threadsafe([] { throw test_error(); });
    loop.call_soon_threadsafe([&after] { ++after; });
  });
  co_await join_all(threads);
  co_return after;
}

}  // namespace

TEST_CASE(
    "event_loop::call_soon_threadsafe: an exception from the callable goes to the "
    "unhandled-exception handler and the loop runs on",
    "[event_loop][threads]") {
  handler_capture capture;
  CHECK(corio::run(a_throwing_call_is_reported()) == 1);
  REQUIRE(capture.reported.size() == 1);
  CHECK_THROWS_AS(std::rethrow_exception(capture.reported[0]), test_error);
}

namespace {

corio::task<> void_after_yield(int* ran) {
  co_await corio::sleep(0ms);
  ++*ran;
}

struct submit_outcomes {
  int value = 0;
  std::string error;
  int void_ran = 0;
  bool void_ok = false;
};

corio::task<> submits_from_another_thread(submit_outcomes* out) {
  corio::event_loop& loop = corio::event_loop::current();
  std::vector<std::thread> threads;
  threads.emplace_back([&loop, out] {
    std::future<int> v = loop.submit(value(42));
    // shared: get() leaves this thread a reference to the exception's state
    // until after the read below (see detail::fulfil on thread sanitizers).
    std::shared_future<void> e = loop.submit(throw_test_error()).share();
    std::future<void> done = loop.submit(void_after_yield(&out->void_ran));
    out->value = v.get();
    try {
      e.get();
    } catch (const test_error& ex) {
      out->error = ex.what();
    }
    done.get();
    out->void_ok = true;
  });
  co_await join_all(threads);
}

}  // namespace

TEST_CASE("event_loop::submit: from another thread, the future gets the task's value or exception",
          "[event_loop][threads]") {
  submit_outcomes out;
  corio::run(submits_from_another_thread(&out));
  CHECK(out.value == 42);
  CHECK(out.error == "test_error");
  CHECK(out.void_ok);
  CHECK(out.void_ran == 1);
}

namespace {

corio::task<> set_and_sleep(corio::event* started, shutdown_record* r) {
  started->set();
  co_await sleep_forever(r, counted());
}

// Returns once the submitted task runs: run() must cancel it on the way out.
corio::task<> ends_while_submitted_task_runs(std::future<void>* f, shutdown_record* r) {
  corio::event_loop& loop = corio::event_loop::current();
  corio::event started;
  std::thread t([&] { *f = loop.submit(set_and_sleep(&started, r)); });
  co_await corio::wait_for(started.wait(), 20s);  // the timer keeps the loop waiting
  t.join();
}

}  // namespace

TEST_CASE(
    "event_loop::submit: run() cancels a submitted task still running; its future gets "
    "cancelled_error",
    "[event_loop][threads]") {
  counted::reset_counts();
  std::future<void> f;
  shutdown_record r;
  corio::run(ends_while_submitted_task_runs(&f, &r));
  CHECK(r.started == 1);
  CHECK(r.cancelled == 1);
  CHECK_THROWS_AS(f.get(), corio::cancelled_error);
  CHECK(counted::active_count() == 0);
}

namespace {

corio::task<int> sets_flag(bool* ran, int v) {
  *ran = true;
  co_return v;
}

// Cancelled by run()'s shutdown, it has another thread submit a task, then
// gives the loop two turns to take it.
corio::task<> submits_during_shutdown(std::future<int>* f, bool* ran, corio::event* started) {
  corio::event_loop& loop = corio::event_loop::current();
  try {
    started->set();
    co_await corio::sleep(24h);
  } catch (const corio::cancelled_error&) {
    std::thread([&] { *f = loop.submit(sets_flag(ran, 3)); }).join();
  }
  co_await corio::sleep(0ms);
  co_await corio::sleep(0ms);
}

corio::task<> spawn_then_return(std::future<int>* f, bool* ran) {
  corio::event started;
  corio::spawn(submits_during_shutdown(f, ran, &started));
  co_await started.wait();
}

}  // namespace

TEST_CASE(
    "event_loop::submit: a task submitted while run() shuts down never starts; its future "
    "gets cancelled_error",
    "[event_loop][threads]") {
  std::future<int> f;
  bool ran = false;
  corio::run(spawn_then_return(&f, &ran));
  REQUIRE(f.valid());
  CHECK_THROWS_AS(f.get(), corio::cancelled_error);
  CHECK_FALSE(ran);
}

namespace {

corio::task<int> waits_for_submitted(corio::event* ev) {
  co_await corio::wait_for(ev->wait(), 20s);
  co_return 1;
}

corio::task<> set_event(corio::event* ev) {
  ev->set();
  co_return;
}

}  // namespace

TEST_CASE(
    "event_loop::submit and call_soon_threadsafe: on a loop that is not running, they wait "
    "for its next run, or its destruction",
    "[event_loop][threads]") {
  bool ran_late = false;
  bool called = false;
  std::future<int> late;
  std::future<void> early;
  corio::event ev;
  {
    corio::event_loop loop;
    // Before the loop runs: the task starts in run_until_complete.
    std::thread([&] { early = loop.submit(set_event(&ev)); }).join();
    CHECK(loop.run_until_complete(waits_for_submitted(&ev)) == 1);
    CHECK_NOTHROW(early.get());
    // After it ran: the task never starts; the call runs in the destructor.
    std::thread([&] {
      late = loop.submit(sets_flag(&ran_late, 5));
      loop.call_soon_threadsafe([&called] { called = true; });
    }).join();
  }
  CHECK_THROWS_AS(late.get(), corio::cancelled_error);
  CHECK_FALSE(ran_late);
  CHECK(called);
}

TEST_CASE(
    "event_loop::call_soon_threadsafe: a call made while the loop is being destroyed throws "
    "std::logic_error",
    "[event_loop][threads][misuse]") {
  handler_capture capture;
  {
    corio::event_loop loop;
    std::thread([&loop] {
      loop.call_soon_threadsafe([&loop] { loop.call_soon_threadsafe([] {}); });
    }).join();
  }
  REQUIRE(capture.reported.size() == 1);
  CHECK_THROWS_AS(std::rethrow_exception(capture.reported[0]), std::logic_error);
}

namespace {

corio::task<int> plus_one(int v) {
  co_await corio::sleep(0ms);
  co_return v + 1;
}

struct thread_record {
  std::vector<int> calls;  // touched on the loop's thread only
  long sum = 0;            // touched by its own thread only
};

corio::task<> many_threads(std::vector<thread_record>* records) {
  corio::event_loop& loop = corio::event_loop::current();
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < records->size(); ++k) {
    threads.emplace_back([&loop, &rec = (*records)[k]] {
      std::vector<std::future<int>> results;
      for (int i = 0; i < 300; ++i) {
        loop.call_soon_threadsafe([&rec, i] { rec.calls.push_back(i); });
        if (i % 10 == 0)
          results.push_back(loop.submit(plus_one(i)));
      }
      for (std::future<int>& f : results)
        rec.sum += f.get();
    });
  }
  co_await join_all(threads);
}

}  // namespace

TEST_CASE(
    "event_loop: many threads call and submit at once; nothing is lost, each thread's calls "
    "run in order",
    "[event_loop][threads]") {
  std::vector<thread_record> records(8);
  corio::run(many_threads(&records));
  long want_sum = 0;
  for (int i = 0; i < 300; i += 10)
    want_sum += i + 1;
  for (const thread_record& rec : records) {
    REQUIRE(rec.calls.size() == 300);
    for (int i = 0; i < 300; ++i)
      REQUIRE(rec.calls[static_cast<std::size_t>(i)] == i);
    CHECK(rec.sum == want_sum);
  }
}
