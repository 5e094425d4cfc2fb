// SPDX-License-Identifier: MIT
#include <corio/error.hpp>

#include <catch2/catch_test_macros.hpp>

#include <string>

TEST_CASE("cancelled_error: says that the task was cancelled", "[error]") {
  corio::cancelled_error e;
  CHECK(std::string(e.what()).find("cancelled") != std::string::npos);
}

TEST_CASE("timeout_error: names wait_for", "[error]") {
  corio::timeout_error e;
  CHECK(std::string(e.what()).find("wait_for") != std::string::npos);
}
