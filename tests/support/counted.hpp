// SPDX-License-Identifier: MIT
// tests/support/counted.hpp: a value that counts its constructions and destructions, so a
// test can check that every frame, result and item it made was freed (adapted from
// cppcoro's test/counted.hpp).
//
// Usage:
//   corio_test::counted::reset_counts();
//   ... run code that makes and drops counted objects ...
//   CHECK(corio_test::counted::active_count() == 0);
//
// The counters are atomic because to_thread builds results on worker threads.
#pragma once

#include <atomic>

namespace corio_test {

struct counted {
  static inline std::atomic<int> default_construction_count{0};
  static inline std::atomic<int> copy_construction_count{0};
  static inline std::atomic<int> move_construction_count{0};
  static inline std::atomic<int> destruction_count{0};

  static void reset_counts() noexcept {
    default_construction_count = 0;
    copy_construction_count = 0;
    move_construction_count = 0;
    destruction_count = 0;
  }
  static int construction_count() noexcept {
    return default_construction_count + copy_construction_count + move_construction_count;
  }
  // Objects alive now: constructions minus destructions.
  static int active_count() noexcept { return construction_count() - destruction_count; }

  counted() noexcept : id(default_construction_count++) {}
  explicit counted(int id) noexcept : id(id) { ++default_construction_count; }
  counted(const counted& other) noexcept : id(other.id) { ++copy_construction_count; }
  counted(counted&& other) noexcept : id(other.id) {
    ++move_construction_count;
    other.id = -1;
  }
  counted& operator=(const counted&) noexcept = default;
  counted& operator=(counted&&) noexcept = default;
  ~counted() { ++destruction_count; }

  int id;
};

}  // namespace corio_test
