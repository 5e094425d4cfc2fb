// SPDX-License-Identifier: MIT
// expect: pass std::move(it)
#include <corio/gather.hpp>

#include <utility>

corio::task<int> one() {
  co_return 1;
}

corio::task<> f() {
  corio::task<int> t = one();
#ifdef CORIO_FIXED
  co_await corio::gather(std::move(t), one());
#else
  co_await corio::gather(t, one());
#endif
}
