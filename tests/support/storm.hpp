// SPDX-License-Identifier: MIT
// tests/support/storm.hpp: a cancellation storm's cast: tasks parked on every
// kind of leaf (a sleep, each primitive, a kernel read, a to_thread call, a
// gather, a wait_for, a join_handle), for the tests that cancel them all at once.
#pragma once

#include <corio/error.hpp>
#include <corio/event.hpp>
#include <corio/gather.hpp>
#include <corio/mutex.hpp>
#include <corio/queue.hpp>
#include <corio/semaphore.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>
#include <corio/wait_for.hpp>

#include <corio/detail/io_operation.hpp>

#include <chrono>
#include <latch>

#include "support/backend.hpp"
#include "support/counted.hpp"

namespace corio_test {

using namespace std::chrono_literals;

struct storm {
  corio::event never;
  corio::mutex held;
  corio::semaphore no_permits{0};
  corio::queue<int> empty_queue;
  corio::queue<int> full_queue{1};
  int pipe_fds[2] = {-1, -1};
  std::latch release_calls{1};
  int cancelled = 0;
};

// Named callables rather than lambdas: a lambda in a header has no linkage,
// and g++ rejects such a type in a coroutine frame (-Wsubobject-linkage).
struct wait_for_release {
  storm* s;
  void operator()() const { s->release_calls.wait(); }
};

inline corio::task<> wait_event(corio::event* e) {
  co_await e->wait();
}

inline corio::task<> sleep_a_day() {
  co_await corio::sleep(24h);
}

inline corio::task<> leaf(storm* s, int kind, counted c) {
  (void)c;
  try {
    switch (kind) {
      case 0:
        co_await corio::sleep(24h);
        break;
      case 1:
        co_await s->never.wait();
        break;
      case 2: {
        auto guard = co_await s->held.lock();
        break;
      }
      case 3:
        co_await s->no_permits.acquire();
        break;
      case 4:
        co_await s->empty_queue.get();
        break;
      case 5:
        co_await s->full_queue.put(1);
        break;
      case 6: {
        char byte = 0;
        co_await corio_test::read_byte(s->pipe_fds[0], &byte);
        break;
      }
      case 7:
        co_await corio::to_thread(wait_for_release{s});
        break;
      case 8:
        co_await corio::gather(corio::sleep(24h), wait_event(&s->never));
        break;
      case 9:
        co_await corio::wait_for(wait_event(&s->never), 24h);
        break;
      case 10: {
        co_await corio::spawn(sleep_a_day());
        break;
      }
    }
  } catch (const corio::cancelled_error&) {
    ++s->cancelled;
    throw;
  }
}

inline constexpr int leaf_kinds = 11;

}  // namespace corio_test
