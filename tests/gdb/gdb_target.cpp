// SPDX-License-Identifier: MIT
// The program `corio tasks` (tools/corio-gdb.py) is tested against: it spawns
// tasks that park on known waits, then calls corio_gdb_stop_here(), where the
// test's breakpoint stops it.
#include <corio/corio.hpp>

#include <chrono>

// The breakpoint's target; noinline and with a side effect, so it stays a call.
extern "C" __attribute__((noinline)) void corio_gdb_stop_here() {
  asm volatile("" ::: "memory");
}

namespace {

corio::task<void> nap() {
  co_await corio::sleep(std::chrono::hours(1));
}

corio::task<void> take(corio::queue<int>& q) {
  (void)co_await q.get();
}

corio::task<void> accept_one(corio::net::tcp_listener& listener) {
  (void)co_await listener.accept();
}

corio::task<void> join(corio::join_handle<void>& h) {
  co_await h;
}

corio::task<void> gather_two(corio::queue<int>& q) {
  co_await corio::gather(nap(), take(q));
}

corio::task<void> nap_with_timeout() {
  co_await corio::wait_for(nap(), std::chrono::hours(2));
}

template <class T>
corio::task<void> cancel_and_wait(corio::join_handle<T>& h) {
  h.cancel();
  try {
    co_await h;
  } catch (const corio::cancelled_error&) {
  }
}

corio::task<void> main_task() {
  corio::queue<int> q;
  auto sleeper = corio::spawn(nap(), "sleeper");
  auto getter = corio::spawn(take(q), "getter");
  auto listener = corio::net::tcp_listener::bind("127.0.0.1", 0);
  auto reader = corio::spawn(accept_one(listener), "reader");
  auto joiner = corio::spawn(join(sleeper), "joiner");
  corio::queue<int> q2;
  auto gatherer = corio::spawn(gather_two(q2), "gatherer");
  auto timed = corio::spawn(nap_with_timeout(), "timed");
  for (int i = 0; i < 3; ++i)
    co_await corio::yield();
  corio_gdb_stop_here();
  co_await cancel_and_wait(getter);
  co_await cancel_and_wait(reader);
  co_await cancel_and_wait(joiner);  // cancels the sleeper it awaits too
  co_await cancel_and_wait(gatherer);
  co_await cancel_and_wait(timed);
}

}  // namespace

int main() {
  corio::run(main_task());
  return 0;
}
