// SPDX-License-Identifier: MIT
// expect: corio: this argument is not awaitable
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>

#include <chrono>

corio::task<> f() {
#ifdef CORIO_FIXED
  corio::join_handle<void> h = corio::spawn(corio::sleep(std::chrono::seconds(1)));
#else
  corio::join_handle<void> h = corio::spawn(std::chrono::seconds(1));
#endif
  co_await h;
}
