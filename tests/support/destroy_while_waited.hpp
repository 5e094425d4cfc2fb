// SPDX-License-Identifier: MIT
// tests/support/destroy_while_waited.hpp: destroys a primitive (event, mutex, ...) while a task
// is parked on it, which debug builds abort with the reason. Run it in a child (aborts.hpp).
//
// Usage:
//   auto r = corio_test::run_in_child([] {
//     corio::run(corio_test::destroy_while_waited<corio::event>(
//         [](corio::event& e) -> corio::task<> { co_await e.wait(); }));
//   });
#pragma once

#include <corio/event_loop.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <chrono>
#include <memory>

namespace corio_test {

// `wait(p)` is a coroutine that parks on p; args are the primitive's constructor arguments.
template <class Primitive, class Wait, class... Args>
corio::task<> destroy_while_waited(Wait wait, Args&... args) {
  auto p = std::make_unique<Primitive>(args...);
  corio::join_handle<void> waiting = corio::spawn(wait(*p));
  co_await corio::sleep(std::chrono::milliseconds(0));  // it runs, and parks
  p.reset();                                            // debug builds abort here
}

inline constexpr const char* destroyed_while_waited_message =
    "destroyed while tasks still wait on it";

}  // namespace corio_test
