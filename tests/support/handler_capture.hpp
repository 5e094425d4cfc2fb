// SPDX-License-Identifier: MIT
// tests/support/handler_capture.hpp: collects what reaches the unhandled-exception
// handler while it lives, and puts the previous handler back.
#pragma once

#include <corio/detail/spawned_task.hpp>

#include <exception>
#include <utility>
#include <vector>

namespace corio_test {

class handler_capture {
 public:
  handler_capture()
      : previous_(corio::set_unhandled_exception_handler(
            [this](std::exception_ptr e) { reported.push_back(std::move(e)); })) {}
  ~handler_capture() { corio::set_unhandled_exception_handler(std::move(previous_)); }
  handler_capture(const handler_capture&) = delete;
  handler_capture& operator=(const handler_capture&) = delete;

  std::vector<std::exception_ptr> reported;  // in the order they were reported

 private:
  corio::unhandled_exception_handler previous_;
};

}  // namespace corio_test
