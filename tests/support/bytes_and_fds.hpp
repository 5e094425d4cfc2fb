// SPDX-License-Identifier: MIT
// tests/support/bytes_and_fds.hpp: test data that shows misplaced chunks, and the
// process's open file descriptor count for leak checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <vector>

namespace corio_test {

// Deterministic bytes that are not all alike (xorshift32), so misplaced chunks show.
inline std::vector<std::byte> pattern(std::size_t n) {
  std::vector<std::byte> out(n);
  std::uint32_t x = 2463534242u;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::byte>(x);
  }
  return out;
}

// How many file descriptors this process has open (/proc/self/fd).
inline std::size_t open_fd_count() {
  return static_cast<std::size_t>(std::distance(
      std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator()));
}

}  // namespace corio_test
