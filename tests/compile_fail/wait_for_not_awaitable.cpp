// SPDX-License-Identifier: MIT
// expect: corio: this argument is not awaitable
#include <corio/sleep.hpp>
#include <corio/wait_for.hpp>

#include <chrono>

corio::task<> f() {
#ifdef CORIO_FIXED
  co_await corio::wait_for(corio::sleep(std::chrono::seconds(1)), std::chrono::seconds(2));
#else
  co_await corio::wait_for(std::chrono::seconds(1), std::chrono::seconds(2));
#endif
}
