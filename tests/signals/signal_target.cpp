// SPDX-License-Identifier: MIT
// tests/signals/signal_target.cpp: the program signals_test.py sends real signals to. It
// prints "ready" on stdout once its tasks wait, then:
//   --slow-unwind  catches the cancellation of Ctrl-C and takes 30 s to unwind, so that a
//                  second SIGINT arrives while it does (it must end the process by SIGINT);
//   --sigusr1      runs with loop_options::call_graph_on_sigusr1: each SIGUSR1 prints the
//                  call graph on stderr; a SIGINT then ends it with status 130.
//   --spin         only yields, never waiting for the kernel: a SIGINT must still end it
//                  with status 130 (the loop polls its signal watch between steps).
#include <corio/corio.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>

using namespace std::chrono_literals;

namespace {

corio::task<> nap() {
  co_await corio::sleep(1h);
}

corio::task<> slow_unwind() {
  std::puts("ready");
  std::fflush(stdout);
  try {
    co_await corio::sleep(1h);
  } catch (const corio::cancelled_error&) {
    std::puts("unwinding");
    std::fflush(stdout);
  }
  co_await corio::sleep(30s);  // the cancellation was delivered once; this sleep runs
}

corio::task<> wait_in_graph() {
  auto worker = corio::spawn(nap(), "sigusr1_worker");
  corio::event never;
  std::puts("ready");
  std::fflush(stdout);
  co_await never.wait();
}

corio::task<> spin() {
  std::puts("ready");
  std::fflush(stdout);
  for (;;)
    co_await corio::yield();
}

}  // namespace

int main(int argc, char** argv) {
  const bool sigusr1 = argc > 1 && std::strcmp(argv[1], "--sigusr1") == 0;
  const bool spinning = argc > 1 && std::strcmp(argv[1], "--spin") == 0;
  corio::loop_options options;
  options.call_graph_on_sigusr1 = sigusr1;
  try {
    corio::run(sigusr1 ? wait_in_graph() : spinning ? spin() : slow_unwind(), options);
  } catch (const corio::interrupted&) {
    return 130;
  }
  return 0;
}
