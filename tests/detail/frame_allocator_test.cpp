// SPDX-License-Identifier: MIT
#include <corio/detail/frame_allocator.hpp>

#include <corio/event_loop.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "support/io_uring_available.hpp"

using corio::detail::frame_cache;

// g++ 12 at -O0 takes the templated placement operator new of a coroutine
// declared with std::allocator_arg_t and its usual operator delete for a
// mismatched pair (-Wmismatched-new-delete); the standard pairs them so.
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {

corio::task<int> leaf(int i) {
  co_return i + 1;
}

void* frame_address(const corio::task<int>& t) {
  return corio::detail::task_access::handle(t).address();
}

// Drops a task that never ran, then makes another of the same coroutine:
// the second frame reuses the first's block.
corio::task<bool> second_frame_reuses_the_first() {
  void* first = nullptr;
  {
    corio::task<int> t = leaf(1);
    first = frame_address(t);
  }
  corio::task<int> again = leaf(2);
  const bool same = frame_address(again) == first;
  co_return same&& co_await std::move(again) == 3;
}

corio::task<std::size_t> cache_after_many_frees(std::size_t n) {
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < n; ++i)
    blocks.push_back(frame_cache::allocate(64));
  for (void* b : blocks)
    frame_cache::deallocate(b, 64);
  co_return frame_cache::cached_blocks();
}

corio::task<long> spawn_and_await(long n) {
  long sum = 0;
  for (long i = 0; i < n; ++i)
    sum += co_await corio::spawn(leaf(static_cast<int>(i)));
  co_return sum;
}

// An allocator that counts what it hands out and takes back.
struct counts {
  std::atomic<long> allocated{0};
  std::atomic<long> freed{0};
};
template <class T>
struct counting_allocator {
  using value_type = T;
  counts* c;
  explicit counting_allocator(counts* c) noexcept : c(c) {}
  template <class U>
  counting_allocator(const counting_allocator<U>& o) noexcept : c(o.c) {}
  T* allocate(std::size_t n) {
    c->allocated += static_cast<long>(n * sizeof(T));
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    c->freed += static_cast<long>(n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const counting_allocator<U>& o) const noexcept {
    return c == o.c;
  }
};

corio::task<int> with_allocator(std::allocator_arg_t, counting_allocator<char>, int x) {
  co_return x * 2;
}

struct widget {
  int base = 40;
  corio::task<int> add(std::allocator_arg_t, const counting_allocator<int>&, int x) const {
    co_return base + x;
  }
};

corio::task<int> await_allocator_frames(counts* c) {
  const int a = co_await with_allocator(std::allocator_arg, counting_allocator<char>(c), 21);
  const widget w;
  const int b = co_await w.add(std::allocator_arg, counting_allocator<int>(c), 2);
  co_return a + b;
}

}  // namespace

TEST_CASE("frame_cache: a freed frame's block serves the next frame of its size",
          "[frame_allocator][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(second_frame_reuses_the_first()));
}

TEST_CASE("frame_cache: holds a bounded number of blocks per size class",
          "[frame_allocator][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t cached = corio::run(cache_after_many_frees(100'000));
  CHECK(cached > 8);
  CHECK(cached <= frame_cache::bytes_per_class / 64);
}

TEST_CASE("frame_cache: empties when the loop ends and caches nothing without a loop",
          "[frame_allocator][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(corio::run(spawn_and_await(1000)) == 1000 * 1001 / 2);
  CHECK(frame_cache::cached_blocks() == 0);
  void* b = frame_cache::allocate(100);
  frame_cache::deallocate(b, 100);
  CHECK(frame_cache::cached_blocks() == 0);
  // A frame made before the loop, freed inside it; one made inside, freed after.
  corio::task<int> early = leaf(1);
  CHECK(corio::run(std::move(early)) == 2);
  CHECK(frame_cache::cached_blocks() == 0);
}

TEST_CASE(
    "frame_allocator: a coroutine taking std::allocator_arg_t gets its frame from "
    "that allocator",
    "[frame_allocator][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  counts c;
  CHECK(corio::run(await_allocator_frames(&c)) == 84);
  CHECK(c.allocated > 0);
  CHECK(c.freed == c.allocated);
}

TEST_CASE(
    "frame_allocator: an allocator frame freed on another thread goes back to its "
    "allocator",
    "[frame_allocator][threads]") {
  counts c;
  corio::task<int> t = with_allocator(std::allocator_arg, counting_allocator<char>(&c), 1);
  CHECK(c.allocated > 0);
  std::thread([t = std::move(t)]() mutable { t = {}; }).join();
  CHECK(c.freed == c.allocated);
}
