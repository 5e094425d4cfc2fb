// SPDX-License-Identifier: MIT
// tests/support/bytes_and_fds.hpp: test data that shows misplaced chunks, bytes read back as
// text, and the process's open file descriptor count for leak checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <span>
#include <string>
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

// The bytes as a string, to compare what was read with what was sent.
inline std::string text_of(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// How many file descriptors this process has open (/proc/self/fd).
inline std::size_t open_fd_count() {
  return static_cast<std::size_t>(std::distance(
      std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator()));
}

}  // namespace corio_test
