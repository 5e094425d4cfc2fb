// SPDX-License-Identifier: MIT
#include <corio/error.hpp>

#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

TEST_CASE("cancelled_error: says that the task was cancelled", "[error]") {
  corio::cancelled_error e;
  CHECK(std::string(e.what()).find("cancelled") != std::string::npos);
}

TEST_CASE("timeout_error: names wait_for", "[error]") {
  corio::timeout_error e;
  CHECK(std::string(e.what()).find("wait_for") != std::string::npos);
}

TEST_CASE("cancelled_error: is not a std::exception; timeout_error is a std::runtime_error",
          "[error]") {
  STATIC_CHECK_FALSE(std::is_base_of_v<std::exception, corio::cancelled_error>);
  STATIC_CHECK(std::is_base_of_v<std::runtime_error, corio::timeout_error>);
}

namespace {

// A task that catches every std::exception around its wait: on 0.1 that swallowed the
// cancellation, and the loop around it never stopped.
corio::task<int> catches_std_exceptions(corio::event* never) {
  int swallowed = 0;
  for (int i = 0; i < 3; ++i) {
    try {
      co_await never->wait();
    } catch (const std::exception&) {
      ++swallowed;
    }
  }
  co_return swallowed;
}

corio::task<bool> cancel_through_std_exception_handler() {
  corio::event never;
  corio::join_handle<int> h = corio::spawn(catches_std_exceptions(&never));
  co_await corio::sleep(std::chrono::milliseconds(0));
  h.cancel();
  co_return co_await corio_test::ends_in<corio::cancelled_error>(h);
}

}  // namespace

TEST_CASE("cancelled_error: passes through catch (const std::exception&) and stops the task",
          "[error][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(cancel_through_std_exception_handler()));
}
