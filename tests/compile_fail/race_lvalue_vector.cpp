// SPDX-License-Identifier: MIT
// expect: pass std::move(v)
#include <corio/race.hpp>

#include <utility>
#include <vector>

corio::task<int> one() {
  co_return 1;
}

corio::task<> f() {
  std::vector<corio::task<int>> v;
  v.push_back(one());
#ifdef CORIO_FIXED
  auto [index, value] = co_await corio::race(std::move(v));
#else
  auto [index, value] = co_await corio::race(v);
#endif
  (void)index;
  (void)value;
}
