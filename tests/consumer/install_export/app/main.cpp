// SPDX-License-Identifier: MIT
// Uses greeter, found with find_package(greeter), and corio through it.
#include <corio/event_loop.hpp>
#include <greeter.hpp>

#include <string>

int main() {
  return corio::run(greeter::greet("corio")) == "hello, corio" ? 0 : 1;
}
