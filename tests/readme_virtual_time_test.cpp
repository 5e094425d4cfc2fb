// SPDX-License-Identifier: MIT
// The README's virtual-time example (tests/readme_sync.cmake keeps them equal).
#include <corio/corio.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>

using namespace std::chrono_literals;

TEST_CASE("readme: a 30-second timeout, tested in milliseconds", "[testing]") {
  corio::testing::run_virtual([]() -> corio::task<> {
    const auto start = corio::now();
    bool timed_out = false;
    try {
      co_await corio::wait_for(corio::sleep(1h), 30s);  // a reply that never comes
    } catch (const corio::timeout_error&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(corio::now() - start == 30s);  // exact, on every run
  }());
}
