// SPDX-License-Identifier: MIT
// expect: pass std::move(v)
#include <corio/gather.hpp>

#include <utility>
#include <vector>

corio::task<int> one() {
  co_return 1;
}

corio::task<> f() {
  std::vector<corio::task<int>> v;
  v.push_back(one());
#ifdef CORIO_FIXED
  std::vector<int> r = co_await corio::gather(std::move(v));
#else
  std::vector<int> r = co_await corio::gather(v);
#endif
  (void)r;
}
