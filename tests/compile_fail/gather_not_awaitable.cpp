// SPDX-License-Identifier: MIT
// expect: corio: this argument is not awaitable
#include <corio/gather.hpp>

corio::task<int> one() {
  co_return 1;
}

corio::task<> f() {
#ifdef CORIO_FIXED
  co_await corio::gather(one(), one());
#else
  co_await corio::gather(one(), 42);
#endif
}
