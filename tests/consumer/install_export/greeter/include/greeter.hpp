// SPDX-License-Identifier: MIT
// greeter.hpp: a library header built on corio (see ../CMakeLists.txt).
#pragma once

#include <corio/sleep.hpp>
#include <corio/task.hpp>

#include <chrono>
#include <string>

namespace greeter {

inline corio::task<std::string> greet(std::string name) {
  co_await corio::sleep(std::chrono::milliseconds(1));
  co_return "hello, " + name;
}

}  // namespace greeter
