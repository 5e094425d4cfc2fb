// SPDX-License-Identifier: MIT
// A user's first program, with corio found by `pkg-config --cflags --libs corio`.
#include <corio/corio.hpp>

corio::task<int> answer() {
  co_return 42;
}

int main() {
  return corio::run(answer()) == 42 ? 0 : 1;
}
