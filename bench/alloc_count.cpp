// SPDX-License-Identifier: MIT
// bench/alloc_count.cpp: a counting global operator new, linked into every
// benchmark binary so each case can report heap allocations per item beside
// its time (bench::allocations() in bench_support.hpp).
//
// Each thread counts in a thread_local (no atomic on the hot path, so the
// count costs the measured code almost nothing); a thread adds its count to a
// shared total when it exits. bench::allocations() is therefore exact for the
// calling thread plus every thread that has exited: measure around a
// corio::run() (which joins its worker pool) to include worker threads.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

extern "C" void* __libc_memalign(std::size_t alignment, std::size_t size);

namespace bench {
namespace {

std::atomic<std::uint64_t> exited_threads_total{0};

struct thread_count {
  std::uint64_t n = 0;
  ~thread_count() { exited_threads_total.fetch_add(n, std::memory_order_relaxed); }
};

thread_local thread_count this_thread;

}  // namespace

std::uint64_t allocations() {
  return exited_threads_total.load(std::memory_order_relaxed) + this_thread.n;
}

}  // namespace bench

void* operator new(std::size_t size) {
  ++bench::this_thread.n;
  if (void* p = std::malloc(size != 0 ? size : 1))
    return p;
  throw std::bad_alloc();
}

extern "C" void* aligned_alloc(std::size_t alignment, std::size_t size) {
  ++bench::this_thread.n;
  return __libc_memalign(alignment, size);
}

void* operator new(std::size_t size, std::align_val_t align) {
  ++bench::this_thread.n;
  if (void* p = __libc_memalign(static_cast<std::size_t>(align), size != 0 ? size : 1))
    return p;
  throw std::bad_alloc();
}

void operator delete(void* p) noexcept {
  std::free(p);
}

void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}

void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
