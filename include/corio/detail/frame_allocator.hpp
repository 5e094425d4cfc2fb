// SPDX-License-Identifier: MIT
// corio/detail/frame_allocator.hpp: where corio's coroutine frames and spawned-task
// states come from.
//
// While an event loop runs, blocks of up to 1 KiB come from the loop's frame
// arena: one reservation of address space (8 GiB, MAP_NORESERVE: pages are
// only backed once touched) carved by a bump pointer into blocks of 16-byte
// size classes, with one free list per class. A block costs no malloc call
// and no malloc header; a freed block is the next one of its class handed out,
// so a task that awaits, spawns or sleeps in a loop reuses the same few
// blocks, and a million frames alive at once cost their size and nothing more.
// The free lists hold at most what the loop's peak of live frames left behind,
// and the whole reservation goes back to the system when the loop ends and
// its last block has been freed.
//
// Frames are made before the loop exists (run()'s main task), freed after it
// ends (a task returned from run()) or freed on another thread (a task moved
// there): a block is found by its address. The owner thread frees into its
// own arena without a lock; any other free takes a process-wide registry
// lock, finds the arena whose range holds the block (or none: then it is an
// ordinary ::operator new block), and hands it back under the arena's mutex.
// An arena whose loop has ended lives on until its last block is freed.
//
// Under AddressSanitizer there is no arena (every block is an ::operator new
// block), so leaks and uses after free of frames are reported as usual.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#  define CORIO_DETAIL_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define CORIO_DETAIL_ASAN 1
#  endif
#endif

namespace corio::detail {

class frame_arena {
 public:
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t largest = 1024;  // bigger blocks come from ::operator new
  static constexpr std::size_t reservation = std::size_t{8} << 30;
  static constexpr std::size_t dump_step = std::size_t{4} << 20;
#if defined(CORIO_DETAIL_ASAN)
  static constexpr bool enabled = false;
#else
  static constexpr bool enabled = true;
#endif

  // A block of at least n bytes, aligned to 16.
  static void* allocate(std::size_t n) {
    frame_arena* a = active_;
    if (a != nullptr && n <= largest) [[likely]] {
      const std::size_t k = class_of(n);
      if (free_block* b = a->heads_[k]) [[likely]] {
        a->heads_[k] = b->next;
        ++a->live_;
        return b;
      }
    }
    return allocate_slow(n);
  }

  // `n` is the size given to allocate().
  static void deallocate(void* p, std::size_t n) noexcept {
    frame_arena* a = active_;
    if (a != nullptr && a->holds(p)) [[likely]] {  // never true for blocks > largest
      const std::size_t k = class_of(n);
      auto* b = static_cast<free_block*>(p);
      b->next = a->heads_[k];
      a->heads_[k] = b;
      --a->live_;
      return;
    }
    deallocate_slow(p, n);
  }

  // The event loop of this thread starts or ends; one at most at a time.
  static void loop_started() noexcept {
    if constexpr (enabled) {
      void* base = ::mmap(nullptr, reservation, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (base == MAP_FAILED)
        return;  // e.g. strict overcommit: frames come from the heap
      // Out of core dumps (gcore's too), but for the part handed out so far
      // (see allocate_slow): else a core of any corio program is 8 GiB.
      ::madvise(base, reservation, MADV_DONTDUMP);
      auto* a = new (std::nothrow) frame_arena(static_cast<char*>(base));
      if (a == nullptr) {
        ::munmap(base, reservation);
        return;
      }
      {
        std::lock_guard lock(registry_mutex());
        if (!registry_insert(a)) {
          delete a;
          return;
        }
        arena_count_.fetch_add(1, std::memory_order_relaxed);
      }
      active_ = a;
    }
  }
  static void loop_ended() noexcept {
    frame_arena* a = active_;
    if (a == nullptr)
      return;
    active_ = nullptr;
    bool empty;
    {
      std::lock_guard registry(registry_mutex());
      std::lock_guard lock(a->mutex_);
      a->drain_remote();
      a->orphaned_ = true;
      empty = a->live_ == 0;
      if (empty)
        registry_erase(a);
    }
    if (empty)
      delete a;
  }

  // Arenas in existence (for tests): one per running loop, plus ended loops'
  // arenas whose blocks are not all freed yet.
  static std::size_t arenas() noexcept {
    std::lock_guard lock(registry_mutex());
    return registry().size();
  }

 private:
  struct free_block {
    free_block* next;
  };
  static constexpr std::size_t classes = largest / granule;
  static constexpr std::size_t class_of(std::size_t n) noexcept {
    return n == 0 ? 0 : (n - 1) / granule;
  }
  static constexpr std::size_t block_size(std::size_t k) noexcept {
    return (k + 1) * granule;
  }

  explicit frame_arena(char* base) noexcept : base_(base), bump_(base) {
  }
  ~frame_arena() {
    ::munmap(base_, reservation);
  }

  bool holds(const void* p) const noexcept {
    return reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(base_) <
           reservation;
  }

  // An empty free list, no arena, or a big block.
  [[gnu::noinline]] static void* allocate_slow(std::size_t n) {
    frame_arena* a = active_;
    if (a == nullptr || n > largest)
      return ::operator new(n);
    const std::size_t k = class_of(n);
    if (a->has_remote_.load(std::memory_order_acquire)) {
      std::lock_guard lock(a->mutex_);
      a->drain_remote();
      if (free_block* b = a->heads_[k]) {
        a->heads_[k] = b->next;
        ++a->live_;
        return b;
      }
    }
    const std::size_t size = block_size(k);
    if (static_cast<std::size_t>(a->bump_ - a->base_) + size > reservation)
      return ::operator new(n);  // the reservation is used up: the heap takes over
    void* p = a->bump_;
    a->bump_ += size;
    if (a->bump_ > a->dumped_end_) {
      // Blocks go into core dumps (for gdb's `corio tasks`) a few MiB at a
      // time: one system call per dump_step of new blocks.
      char* end = a->base_ + (static_cast<std::size_t>(a->bump_ - a->base_) + dump_step - 1) /
                                 dump_step * dump_step;
      ::madvise(a->dumped_end_, static_cast<std::size_t>(end - a->dumped_end_), MADV_DODUMP);
      a->dumped_end_ = end;
    }
    ++a->live_;
    return p;
  }
  // Not a block of this thread's running arena.
  [[gnu::noinline]] static void deallocate_slow(void* p, std::size_t n) noexcept {
    if (n <= largest && arena_count_.load(std::memory_order_relaxed) != 0 &&
        foreign_free(p, class_of(n))) {
      return;
    }
    ::operator delete(p);
  }

  // Any free that is not the owner's, while its loop runs or after it ended.
  static bool foreign_free(void* p, std::size_t k) noexcept {
    frame_arena* gone = nullptr;
    {
      std::lock_guard registry(registry_mutex());
      frame_arena* a = registry_find(p);
      if (a == nullptr)
        return false;
      std::lock_guard lock(a->mutex_);
      if (a->orphaned_) {
        if (--a->live_ == 0) {
          registry_erase(a);
          gone = a;
        }
      } else {
        auto* b = static_cast<free_block*>(p);
        b->next = a->remote_heads_[k];
        a->remote_heads_[k] = b;
        ++a->remote_count_;
        a->has_remote_.store(true, std::memory_order_release);
      }
    }
    delete gone;
    return true;
  }
  // Under mutex_: moves the blocks other threads freed onto the free lists.
  void drain_remote() noexcept {
    for (std::size_t k = 0; k < classes; ++k) {
      while (free_block* b = remote_heads_[k]) {
        remote_heads_[k] = b->next;
        b->next = heads_[k];
        heads_[k] = b;
      }
    }
    live_ -= remote_count_;
    remote_count_ = 0;
    has_remote_.store(false, std::memory_order_relaxed);
  }

  // The process-wide list of arenas, for frees that are not their owner's.
  // Never destroyed: frames may be freed during static destruction.
  static std::mutex& registry_mutex() noexcept {
    static auto* m = new std::mutex;
    return *m;
  }
  static std::vector<frame_arena*>& registry() noexcept {
    static auto* r = new std::vector<frame_arena*>;
    return *r;
  }
  static bool registry_insert(frame_arena* a) noexcept {
    try {
      registry().push_back(a);
      return true;
    } catch (...) {
      return false;
    }
  }
  static void registry_erase(frame_arena* a) noexcept {
    arena_count_.fetch_sub(1, std::memory_order_relaxed);
    auto& r = registry();
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (r[i] == a) {
        r[i] = r.back();
        r.pop_back();
        return;
      }
    }
  }
  static frame_arena* registry_find(const void* p) noexcept {
    for (frame_arena* a : registry()) {
      if (a->holds(p))
        return a;
    }
    return nullptr;
  }

  // Owner thread only (the mutex too once orphaned_).
  char* const base_;
  char* bump_;
  char* dumped_end_ = base_;  // [base_, dumped_end_) is in core dumps
  free_block* heads_[classes] = {};
  std::size_t live_ = 0;  // blocks handed out and not given back
  // Under mutex_.
  std::mutex mutex_;
  free_block* remote_heads_[classes] = {};
  std::size_t remote_count_ = 0;
  bool orphaned_ = false;  // its loop has ended
  std::atomic<bool> has_remote_{false};

  static inline thread_local constinit frame_arena* active_ = nullptr;
  // Arenas in the registry: while there is none, a free never takes its lock.
  static inline std::atomic<std::size_t> arena_count_{0};
};

// Coroutine frames. A frame comes from the frame arena, unless its coroutine
// was declared with (std::allocator_arg_t, const Alloc&, ...): such a frame
// comes from that allocator, keeps a copy of it after the frame, and is listed
// in a process-wide table so that its deallocation finds its way back. While
// no such frame exists, freeing a frame costs one relaxed atomic load more
// than the arena itself; nothing is added to the frames.
class frame_allocator {
 public:
  static void* allocate(std::size_t n) { return frame_arena::allocate(n); }

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
    frame_arena::deallocate(frame, n);
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
