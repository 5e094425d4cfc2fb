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

using corio::detail::frame_arena;

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
// the second frame reuses the first's block. (The tasks live in a vector, so
// no compiler can put their frames on the stack.)
corio::task<bool> second_frame_reuses_the_first() {
  std::vector<corio::task<int>> tasks;
  tasks.push_back(leaf(1));
  void* const first = frame_address(tasks.back());
  tasks.clear();
  tasks.push_back(leaf(2));
  const bool same = frame_address(tasks.back()) == first;
  co_return same&& co_await std::move(tasks.back()) == 3;
}

// Makes a task inside the loop and hands it out of run() unstarted.
corio::task<corio::task<int>> make_inside() {
  co_return leaf(41);
}

// Frees `n` frames on another thread while the loop runs, then makes `n` more.
corio::task<int> free_on_another_thread(int n) {
  std::vector<corio::task<int>> tasks;
  for (int i = 0; i < n; ++i)
    tasks.push_back(leaf(i));
  std::thread([&tasks] { tasks.clear(); }).join();
  int sum = 0;
  for (int i = 0; i < n; ++i)
    sum += co_await leaf(i);
  co_return sum;
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

TEST_CASE("frame_arena: a freed frame's block serves the next frame of its size",
          "[frame_allocator][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  if (!frame_arena::enabled)
    SKIP("no frame arena under AddressSanitizer");
  CHECK(corio::run(second_frame_reuses_the_first()));
}

// The arena counts are taken against the count before each case: a case
// run earlier in the same process may leave an arena behind on purpose (the
// frames of a task still pending at a deadlocked shutdown are leaked, never
// destroyed, so their arena stays).
TEST_CASE("frame_arena: one per running loop, gone when the loop ends with its blocks freed",
          "[frame_allocator][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t before = frame_arena::arenas();
  CHECK(corio::run(spawn_and_await(1000)) == 1000 * 1001 / 2);
  CHECK(frame_arena::arenas() == before);
  // A frame made before the loop, freed inside it.
  corio::task<int> early = leaf(1);
  CHECK(corio::run(std::move(early)) == 2);
  CHECK(frame_arena::arenas() == before);
  // Without a loop, blocks are the heap's.
  void* b = frame_arena::allocate(100);
  frame_arena::deallocate(b, 100);
  CHECK(frame_arena::arenas() == before);
}

TEST_CASE("frame_arena: a frame made in the loop can outlive it; the arena goes with it",
          "[frame_allocator][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t before = frame_arena::arenas();
  corio::task<int> late = corio::run(make_inside());
  CHECK(frame_arena::arenas() == before + (frame_arena::enabled ? 1u : 0u));
  const int v = corio::run(std::move(late));  // awaited on a second loop, freed there
  CHECK(v == 42);
  CHECK(frame_arena::arenas() == before);
}

TEST_CASE("frame_arena: frames freed on another thread while the loop runs are reused",
          "[frame_allocator][io_uring][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t before = frame_arena::arenas();
  CHECK(corio::run(free_on_another_thread(1000)) == 1000 * 1001 / 2);
  CHECK(frame_arena::arenas() == before);
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
