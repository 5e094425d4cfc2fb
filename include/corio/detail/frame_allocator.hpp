// SPDX-License-Identifier: MIT
// corio/detail/frame_allocator.hpp: where corio's coroutine frames and spawned-task
// states come from.
//
// Freed blocks of up to 1 KiB wait in a per-thread cache of free lists, one per
// 16-byte size class, and the next allocation of that class takes one back
// without a trip through the global heap: a task that awaits, spawns or sleeps
// in a loop reuses the same few blocks. The cache is bounded (64 KiB of blocks
// per class, and at least 8 blocks), works only while an event loop lives on
// the thread, and the loop's destructor hands every cached block back to
// ::operator delete. The blocks themselves are ordinary ::operator new blocks,
// so a frame made before the loop exists, freed after it, or freed on another
// thread is simply a heap block there.
//
// Cached blocks are poisoned for AddressSanitizer, so a use after free of a
// frame is still reported; leaks are reported too, as the cache empties when
// the loop ends.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>

#if defined(__SANITIZE_ADDRESS__)
#  define CORIO_DETAIL_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define CORIO_DETAIL_ASAN 1
#  endif
#endif
#if defined(CORIO_DETAIL_ASAN)
#  include <sanitizer/asan_interface.h>
#  define CORIO_DETAIL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#  define CORIO_DETAIL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#  define CORIO_DETAIL_POISON(p, n) ((void)(p), (void)(n))
#  define CORIO_DETAIL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace corio::detail {

// One thread's cached blocks. Trivially destructible and constant-initialised,
// so reaching it costs no thread_local guard; the loop's destructor empties it.
struct frame_cache_lists {
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t largest = 1024;  // bigger blocks bypass the cache
  static constexpr std::size_t classes = largest / granule;
  struct free_block {
    free_block* next;
  };
  free_block* heads[classes] = {};
  std::uint32_t counts[classes] = {};
  bool active = false;  // an event loop lives on this thread
};
inline thread_local constinit frame_cache_lists frame_cache_local{};

class frame_cache {
 public:
  static constexpr std::size_t granule = frame_cache_lists::granule;
  static constexpr std::size_t largest = frame_cache_lists::largest;
  static constexpr std::size_t bytes_per_class = 64 * 1024;

  static void* allocate(std::size_t n) {
    if (n > largest)
      return ::operator new(n);
    const std::size_t k = class_of(n);
    frame_cache_lists& c = frame_cache_local;
    if (free_block* b = c.heads[k]) {
      CORIO_DETAIL_UNPOISON(b, block_size(k));
      c.heads[k] = b->next;
      --c.counts[k];
      return b;
    }
    return ::operator new(block_size(k));
  }

  // `n` is the size given to allocate().
  static void deallocate(void* p, std::size_t n) noexcept {
    if (n > largest) {
      ::operator delete(p);
      return;
    }
    const std::size_t k = class_of(n);
    frame_cache_lists& c = frame_cache_local;
    if (!c.active || c.counts[k] >= limit(k)) {
      ::operator delete(p);
      return;
    }
    auto* b = static_cast<free_block*>(p);
    b->next = c.heads[k];
    c.heads[k] = b;
    ++c.counts[k];
    CORIO_DETAIL_POISON(b, block_size(k));
  }

  // An event loop starts or ends on this thread (one at most at a time).
  static void loop_started() noexcept { frame_cache_local.active = true; }
  static void loop_ended() noexcept {
    frame_cache_lists& c = frame_cache_local;
    c.active = false;
    for (std::size_t k = 0; k < classes; ++k) {
      while (free_block* b = c.heads[k]) {
        CORIO_DETAIL_UNPOISON(b, block_size(k));
        c.heads[k] = b->next;
        ::operator delete(b);
      }
      c.counts[k] = 0;
    }
  }

  // Blocks cached on this thread now (for tests).
  static std::size_t cached_blocks() noexcept {
    std::size_t total = 0;
    for (std::uint32_t n : frame_cache_local.counts)
      total += n;
    return total;
  }

 private:
  using free_block = frame_cache_lists::free_block;
  static constexpr std::size_t classes = frame_cache_lists::classes;
  static constexpr std::size_t class_of(std::size_t n) noexcept {
    return n == 0 ? 0 : (n - 1) / granule;
  }
  static constexpr std::size_t block_size(std::size_t k) noexcept { return (k + 1) * granule; }
  static constexpr std::uint32_t limit(std::size_t k) noexcept {
    const std::size_t by_bytes = bytes_per_class / block_size(k);
    return static_cast<std::uint32_t>(by_bytes > 8 ? by_bytes : 8);
  }
};

// Coroutine frames. A frame comes from the frame cache, unless its coroutine
// was declared with (std::allocator_arg_t, const Alloc&, ...): such a frame
// comes from that allocator, keeps a copy of it after the frame, and is listed
// in a process-wide table so that its deallocation finds its way back. While
// no such frame exists, freeing a frame costs one relaxed atomic load more
// than the cache itself; nothing is added to the frames.
class frame_allocator {
 public:
  static void* allocate(std::size_t n) { return frame_cache::allocate(n); }

  template <class Alloc>
  static void* allocate(std::size_t n, const Alloc& alloc) {
    using bytes = typename layout<Alloc>::bytes;
    bytes a(alloc);
    const std::size_t units = layout<Alloc>::total(n) / sizeof(unit);
    unit* block = std::allocator_traits<bytes>::allocate(a, units);
    auto* p = reinterpret_cast<unsigned char*>(block);
    try {
      registry& r = table();
      std::lock_guard lock(r.mutex);
      r.frames.emplace(p, &free_with<Alloc>);
      allocator_frames_.fetch_add(1, std::memory_order_relaxed);
    } catch (...) {
      std::allocator_traits<bytes>::deallocate(a, block, units);
      throw;
    }
    ::new (static_cast<void*>(p + layout<Alloc>::alloc_offset(n))) bytes(std::move(a));
    return p;
  }

  static void deallocate(void* frame, std::size_t n) noexcept {
    if (allocator_frames_.load(std::memory_order_relaxed) != 0) [[unlikely]] {
      if (free_fn f = take_registered(frame)) {
        f(static_cast<unsigned char*>(frame), n);
        return;
      }
    }
    frame_cache::deallocate(frame, n);
  }

 private:
  using free_fn = void (*)(unsigned char*, std::size_t) noexcept;
  struct alignas(__STDCPP_DEFAULT_NEW_ALIGNMENT__) unit {
    unsigned char bytes[__STDCPP_DEFAULT_NEW_ALIGNMENT__];
  };
  // How many frames the table holds: a global, not a function-local static,
  // so the common check needs no initialisation guard.
  static inline std::atomic<std::size_t> allocator_frames_{0};
  struct registry {
    std::mutex mutex;
    std::unordered_map<const void*, free_fn> frames;
  };
  static registry& table() noexcept {
    static registry r;
    return r;
  }
  static free_fn take_registered(const void* frame) noexcept {
    registry& r = table();
    std::lock_guard lock(r.mutex);
    const auto it = r.frames.find(frame);
    if (it == r.frames.end())
      return nullptr;
    const free_fn f = it->second;
    r.frames.erase(it);
    allocator_frames_.fetch_sub(1, std::memory_order_relaxed);
    return f;
  }

  static constexpr std::size_t align_up(std::size_t n, std::size_t a) noexcept {
    return (n + a - 1) / a * a;
  }
  template <class Alloc>
  struct layout {
    using bytes = typename std::allocator_traits<Alloc>::template rebind_alloc<unit>;
    static_assert(alignof(bytes) <= alignof(unit), "corio: over-aligned frame allocators");
    static constexpr std::size_t alloc_offset(std::size_t n) noexcept {
      return align_up(n, alignof(bytes));
    }
    static constexpr std::size_t total(std::size_t n) noexcept {
      return align_up(alloc_offset(n) + sizeof(bytes), sizeof(unit));
    }
  };

  template <class Alloc>
  static void free_with(unsigned char* p, std::size_t n) noexcept {
    using bytes = typename layout<Alloc>::bytes;
    auto* stored = std::launder(reinterpret_cast<bytes*>(p + layout<Alloc>::alloc_offset(n)));
    bytes a(std::move(*stored));
    stored->~bytes();
    std::allocator_traits<bytes>::deallocate(a, reinterpret_cast<unit*>(p),
                                             layout<Alloc>::total(n) / sizeof(unit));
  }
};

}  // namespace corio::detail
