// SPDX-License-Identifier: MIT
// tests/signal_test.cpp: wait_signal with real signals (kill, tgkill) on a real kernel.
// Every case leaves the thread's signal mask as it found it and no signal pending.
#include <corio/signal.hpp>

#include <corio/call_graph.hpp>
#include <corio/error.hpp>
#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/net/tcp.hpp>
#include <corio/race.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/testing.hpp>
#include <corio/to_thread.hpp>
#include <corio/wait_for.hpp>
#include <corio/yield.hpp>

#include <catch2/catch_test_macros.hpp>

#include "support/bytes_and_fds.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

#include <sys/syscall.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using corio_test::ends_in;
using corio_test::open_fd_count;

namespace {

bool blocked_here(int sig) {
  sigset_t mask;
  ::pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, sig) == 1;
}

bool pending_here(int sig) {
  sigset_t pending;
  ::sigpending(&pending);
  return sigismember(&pending, sig) == 1;
}

// Sends `sig` to this thread alone (as raise(3)).
void send_to_this_thread(int sig) {
  ::syscall(SYS_tgkill, ::getpid(), ::syscall(SYS_gettid), sig);
}

// Blocks `sig` in this thread for a test that leaves it pending on purpose,
// and takes any pending one back before restoring the mask.
class blocked_for_test {
 public:
  explicit blocked_for_test(int sig) : sig_(sig) {
    sigemptyset(&set_);
    sigaddset(&set_, sig);
    ::pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  ~blocked_for_test() {
    const timespec zero{};
    while (::sigtimedwait(&set_, nullptr, &zero) == sig_) {
    }
    ::pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
  }
  blocked_for_test(const blocked_for_test&) = delete;
  blocked_for_test& operator=(const blocked_for_test&) = delete;

 private:
  int sig_;
  sigset_t set_;
};

corio::task<> send_later(int sig, bool to_process) {
  co_await corio::yield();  // the waiter is parked by now
  if (to_process)
    ::kill(::getpid(), sig);
  else
    send_to_this_thread(sig);
}

// Awaits `wait` while another task sends `sig` (to the process, or to this thread).
corio::task<int> wait_while_sent(corio::task<int> wait, int sig, bool to_process) {
  auto sender = corio::spawn(send_later(sig, to_process));
  const int got = co_await std::move(wait);
  co_await sender;
  co_return got;
}

}  // namespace

TEST_CASE("wait_signal: returns a signal sent to the process, and restores the mask", "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  REQUIRE_FALSE(blocked_here(SIGUSR2));
  const std::size_t fds = open_fd_count();
  const int got = corio::run(wait_while_sent(corio::wait_signal(SIGUSR2), SIGUSR2, true));
  CHECK(got == SIGUSR2);
  CHECK_FALSE(blocked_here(SIGUSR2));
  CHECK_FALSE(pending_here(SIGUSR2));
  CHECK(open_fd_count() == fds);
}

TEST_CASE("wait_signal: one of several signals, sent to the loop's thread", "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const int got = corio::run(
      wait_while_sent(corio::wait_signal(SIGUSR2, SIGWINCH, SIGRTMIN + 1), SIGWINCH, false));
  CHECK(got == SIGWINCH);
  CHECK_FALSE(blocked_here(SIGWINCH));
  CHECK_FALSE(blocked_here(SIGUSR2));
}

TEST_CASE(
    "wait_signal: a signal pending before the wait is returned at once, and a mask "
    "blocked before stays blocked",
    "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  blocked_for_test blocked(SIGUSR2);
  ::kill(::getpid(), SIGUSR2);
  REQUIRE(pending_here(SIGUSR2));
  const int got = corio::run(corio::wait_signal({SIGUSR2}));
  CHECK(got == SIGUSR2);
  CHECK(blocked_here(SIGUSR2));
  CHECK_FALSE(pending_here(SIGUSR2));
}

TEST_CASE(
    "wait_signal: two waits for the same signal in one thread; the mask is restored "
    "after the last",
    "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto first = corio::spawn(corio::wait_signal({SIGUSR2}));
    auto second = corio::spawn(corio::wait_signal({SIGUSR2, SIGWINCH}));
    co_await corio::yield();
    co_await corio::yield();
    send_to_this_thread(SIGUSR2);
    // Standard signals do not queue: the second arrives once the first was taken.
    while (!first.done() && !second.done())
      co_await corio::sleep(1ms);
    CHECK(blocked_here(SIGUSR2));  // one wait is still on
    send_to_this_thread(SIGUSR2);
    const int a = co_await first;
    const int b = co_await second;
    CHECK(a == SIGUSR2);
    CHECK(b == SIGUSR2);
  }());
  CHECK_FALSE(blocked_here(SIGUSR2));
  CHECK_FALSE(blocked_here(SIGWINCH));
}

TEST_CASE("wait_signal: a signal sent by another thread ends a wait that keeps the loop alive",
          "[signal][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const pthread_t loop_thread = ::pthread_self();
  std::thread sender([loop_thread] {
    std::this_thread::sleep_for(50ms);
    ::pthread_kill(loop_thread, SIGUSR2);
  });
  // Nothing else is pending: a deadlock it is not, the signal will come.
  const int got = corio::run(corio::wait_signal({SIGUSR2}));
  sender.join();
  CHECK(got == SIGUSR2);
}

TEST_CASE("wait_signal: cancelled while waiting; a signal sent afterwards is not lost",
          "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  blocked_for_test blocked(SIGUSR2);
  corio::run([]() -> corio::task<> {
    const bool timed_out =
        co_await ends_in<corio::timeout_error>(corio::wait_for(corio::wait_signal(SIGUSR2), 20ms));
    CHECK(timed_out);
    send_to_this_thread(SIGUSR2);
    CHECK(pending_here(SIGUSR2));  // nobody waits: it waits for the next waiter
    const int sig = co_await corio::wait_signal(SIGUSR2);
    CHECK(sig == SIGUSR2);
  }());
  CHECK_FALSE(pending_here(SIGUSR2));
}

TEST_CASE("wait_signal: a signal read just before the cancellation is given back", "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  blocked_for_test blocked(SIGUSR2);
  corio::run([]() -> corio::task<> {
    // The waiter's read completes in the loop turn after the signal, before
    // the waiter resumes; this task runs first in the next turn and cancels it.
    auto waiter = corio::spawn(corio::wait_signal({SIGUSR2}));
    co_await corio::yield();
    send_to_this_thread(SIGUSR2);
    co_await corio::yield();
    waiter.cancel();
    const bool cancelled = co_await ends_in<corio::cancelled_error>(waiter);
    CHECK(cancelled);
    CHECK(pending_here(SIGUSR2));  // queued again, not lost
    const int sig = co_await corio::wait_signal(SIGUSR2);
    CHECK(sig == SIGUSR2);
  }());
  CHECK_FALSE(pending_here(SIGUSR2));
}

TEST_CASE("wait_signal: cancelled in the turn the signal arrives, the signal is not lost",
          "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  blocked_for_test blocked(SIGUSR2);
  corio::run([]() -> corio::task<> {
    // Whether the kernel cancels the read or completes it first, the signal
    // ends up pending and the waiter cancelled.
    auto waiter = corio::spawn(corio::wait_signal({SIGUSR2}));
    co_await corio::yield();
    send_to_this_thread(SIGUSR2);
    waiter.cancel();
    const bool cancelled = co_await ends_in<corio::cancelled_error>(waiter);
    CHECK(cancelled);
    CHECK(pending_here(SIGUSR2));
  }());
}

TEST_CASE("wait_signal: losing a race loses no signal", "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  blocked_for_test blocked(SIGUSR2);
  corio::run([]() -> corio::task<> {
    auto first = co_await corio::race(corio::sleep(5ms), corio::wait_signal(SIGUSR2));
    CHECK(first.index() == 0);
    send_to_this_thread(SIGUSR2);
    auto second = co_await corio::race(corio::wait_signal(SIGUSR2), corio::sleep(10s));
    CHECK(second.index() == 0);
    CHECK(std::get<0>(second) == SIGUSR2);
  }());
}

TEST_CASE("wait_signal: invalid signal numbers, SIGKILL and SIGSTOP are refused", "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  for (const std::vector<int>& bad : std::vector<std::vector<int>>{
           {}, {0}, {-1}, {NSIG}, {1000}, {SIGKILL}, {SIGUSR2, SIGSTOP}}) {
    CHECK_THROWS_AS(corio::run(corio::wait_signal(bad)), std::invalid_argument);
  }
  CHECK_FALSE(blocked_here(SIGUSR2));
}

namespace {

// SIGINT with its default action for one test (Catch2 installs a handler while a test
// runs, and run() leaves a handler alone).
class default_sigint {
 public:
  default_sigint() {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGINT, &dfl, &before_);
  }
  ~default_sigint() { ::sigaction(SIGINT, &before_, nullptr); }
  default_sigint(const default_sigint&) = delete;
  default_sigint& operator=(const default_sigint&) = delete;

 private:
  struct sigaction before_ {};
};

corio::task<> accept_forever() {
  auto listener = corio::net::tcp_listener::bind("127.0.0.1", 0);
  auto sender = corio::spawn(send_later(SIGINT, false));
  for (;;)
    (void)co_await listener.accept();
}

}  // namespace

TEST_CASE("run: Ctrl-C cancels the main task waiting in accept; run throws interrupted",
          "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  default_sigint dfl;
  const std::size_t fds = open_fd_count();
  CHECK_THROWS_AS(corio::run(accept_forever()), corio::interrupted);
  CHECK_FALSE(blocked_here(SIGINT));
  CHECK_FALSE(pending_here(SIGINT));
  CHECK(open_fd_count() == fds);
}

TEST_CASE("run: Ctrl-C reaches a main task that never waits for the kernel", "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  default_sigint dfl;
  long turns = 0;
  CHECK_THROWS_AS(corio::run([](long& n) -> corio::task<> {
                    send_to_this_thread(SIGINT);
                    for (;;) {
                      co_await corio::yield();
                      ++n;
                    }
                  }(turns)),
                  corio::interrupted);
  CHECK(turns <= 2048);  // the signal watch is polled every 1024 busy turns
}

TEST_CASE("run: a main task that handles the Ctrl-C cancellation returns its value", "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  default_sigint dfl;
  const int got = corio::run([]() -> corio::task<int> {
    auto sender = corio::spawn(send_later(SIGINT, true));
    try {
      co_await corio::sleep(1h);
    } catch (const corio::cancelled_error&) {
      co_return 7;
    }
    co_return 0;
  }());
  CHECK(got == 7);
  CHECK_FALSE(blocked_here(SIGINT));
}

TEST_CASE("run: SIGINT belongs to run(); wait_signal(SIGINT) needs handle_sigint off", "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  default_sigint dfl;
  CHECK_THROWS_AS(corio::run(corio::wait_signal({SIGINT})), std::logic_error);
  corio::loop_options options;
  options.handle_sigint = false;
  const int got = corio::run(wait_while_sent(corio::wait_signal(SIGINT), SIGINT, false), options);
  CHECK(got == SIGINT);
  CHECK_FALSE(blocked_here(SIGINT));
}

TEST_CASE("run: the signal watch keeps no deadlock alive and leaves event_loop alone", "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  default_sigint dfl;
  CHECK_THROWS_AS(corio::run([]() -> corio::task<> {
                    corio::event never;
                    co_await never.wait();
                  }()),
                  std::logic_error);
  corio::event_loop loop;
  const bool blocked =
      loop.run_until_complete([]() -> corio::task<bool> { co_return blocked_here(SIGINT); }());
  CHECK_FALSE(blocked);  // as asyncio's loop.run_until_complete, no Ctrl-C handling
}

TEST_CASE("run: SIGUSR1 prints the call graph with call_graph_on_sigusr1", "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  corio::loop_options options;
  options.call_graph_on_sigusr1 = true;
  options.debug_output = out;
  CHECK_THROWS_AS(corio::run(corio::wait_signal({SIGUSR1}), options), std::logic_error);
  const long written_before = std::ftell(out);
  corio::run(
      [](std::FILE* written, long before) -> corio::task<> {
        auto napper = corio::spawn(corio::sleep(1h), "napper");
        send_to_this_thread(SIGUSR1);
        // Until the graph is written, not a fixed 50 ms a loaded machine may outlast.
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::ftell(written) == before && std::chrono::steady_clock::now() < deadline)
          co_await corio::sleep(1ms);
        napper.cancel();
      }(out, written_before),
      options);
  CHECK_FALSE(blocked_here(SIGUSR1));
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;)
    text.push_back(static_cast<char>(c));
  std::fclose(out);
  CHECK(text.find("corio: SIGUSR1: the call graph of the loop") != std::string::npos);
  CHECK(text.find("name='napper'") != std::string::npos);
  CHECK(text.find("Suspended at: sleep") != std::string::npos);
}

TEST_CASE("run_virtual: the SIGUSR1 watch does not hold the virtual clock", "[signal]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::loop_options options;
  options.call_graph_on_sigusr1 = true;
  const auto start = std::chrono::steady_clock::now();
  corio::testing::run_virtual([]() -> corio::task<> { co_await corio::sleep(1h); }(), options);
  CHECK(std::chrono::steady_clock::now() - start < 10s);
}
