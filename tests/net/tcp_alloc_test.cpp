// SPDX-License-Identifier: MIT
// tests/net/tcp_alloc_test.cpp: the I/O operations (reads, writes, connect,
// accept, close) are awaiters in the caller's frame: awaiting one allocates nothing. This file
// replaces the global operator new of the test binary with one that counts, on this thread, while
// a test asks it to.
#include <corio/event_loop.hpp>
#include <corio/file.hpp>
#include <corio/net/tcp.hpp>
#include <corio/net/unix.hpp>
#include <corio/task.hpp>

#include <corio/detail/awaitable.hpp>

#include "support/io_uring_available.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>

#include <array>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
}  // namespace

// ThreadSanitizer's runtime defines operator new itself, so the TSan build
// (which runs only the [threads] tests) keeps it and this test skips there.
#if defined(__SANITIZE_THREAD__)
#  define CORIO_TEST_COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define CORIO_TEST_COUNTS_ALLOCATIONS 0
#  endif
#endif
#ifndef CORIO_TEST_COUNTS_ALLOCATIONS
#  define CORIO_TEST_COUNTS_ALLOCATIONS 1
#endif

#if CORIO_TEST_COUNTS_ALLOCATIONS
// WORKAROUND(g++ 12 -O3): once corio's `new` and these deletes are inlined
// into one function, -Wmismatched-new-delete sees operator new's block freed
// by std::free, not knowing that this operator new is malloc.
#  if defined(__GNUC__) && !defined(__clang__)
#    pragma GCC diagnostic push
#    pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#  endif
void* operator new(std::size_t n) {
  if (counting)
    ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n))
    return p;
  throw std::bad_alloc();
}
// The nothrow form too, so that every operator new of the binary is malloc.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (counting)
    ++allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

#  if defined(__GNUC__) && !defined(__clang__)
#    pragma GCC diagnostic pop
#  endif
#endif

namespace {

// Allocations made by 100 rounds of write_all, read_some, write_some and
// read_exact on a connected pair, and of write_at and read_at on a file.
corio::task<std::size_t> allocations_in_rounds(int a, int b, const char* path) {
  auto left = corio::net::tcp_stream::from_native_handle(a);
  auto right = corio::net::tcp_stream::from_native_handle(b);
  using corio::open_mode;
  corio::file f = co_await corio::file::open(path, open_mode::read_write | open_mode::create);
  std::array<std::byte, 4> buffer{};
  const std::string_view ping = "ping";
  counting = true;
  allocations = 0;
  for (int i = 0; i < 100; ++i) {
    co_await left.write_all(ping);
    const std::size_t n = co_await right.read_some(buffer);
    co_await right.write_some(std::span(buffer).first(n));
    co_await left.read_exact(std::span(buffer).first(n));
    co_await f.write_at(0, std::span<const std::byte>(buffer));
    co_await f.read_at(0, buffer);
  }
  counting = false;
  co_await f.close();
  co_return allocations;
}

// Nor do they make a coroutine frame (which comes from the loop's frame
// arena, not operator new, so the count below would not see it): none is a task.
template <class T>
constexpr bool is_task = corio::detail::is_task_v<T>;
static_assert(!is_task<decltype(std::declval<corio::net::tcp_listener&>().accept())>);
static_assert(!is_task<decltype(corio::net::tcp_stream::connect(corio::net::endpoint()))>);
static_assert(!is_task<decltype(std::declval<corio::net::tcp_stream&>().close())>);
static_assert(!is_task<decltype(std::declval<corio::net::unix_listener&>().accept())>);
static_assert(!is_task<decltype(corio::net::unix_stream::connect(""))>);
static_assert(!is_task<decltype(std::declval<corio::net::unix_stream&>().close())>);
static_assert(!is_task<decltype(corio::file::open("", corio::open_mode::read))>);
static_assert(!is_task<decltype(std::declval<corio::file&>().close())>);

// Allocations made by 100 rounds of connect, accept and close (of both
// streams and of a file), after one round that lets the backend size its
// tables for these descriptors.
corio::task<std::size_t> allocations_in_connections(const char* path) {
  auto listener = corio::net::tcp_listener::bind("127.0.0.1", 0);
  const corio::net::endpoint at = listener.local_endpoint();
  constexpr int rounds = 100;
  std::vector<corio::file> files(rounds + 1);
  for (corio::file& f : files)
    f = co_await corio::file::open(path, corio::open_mode::read);
  for (int i = 0; i <= rounds; ++i) {
    if (i == 1) {
      counting = true;
      allocations = 0;
    }
    // On loopback the handshake completes in connect: the connection waits
    // in the listen queue for the accept.
    corio::net::tcp_stream client = co_await corio::net::tcp_stream::connect(at);
    corio::net::tcp_stream server = co_await listener.accept();
    co_await client.close();
    co_await server.close();
    co_await files[static_cast<std::size_t>(i)].close();
  }
  counting = false;
  co_return allocations;
}

}  // namespace

TEST_CASE("tcp_stream, tcp_listener and file: connect, accept and close allocate nothing",
          "[tcp][file][io_uring]") {
#if !CORIO_TEST_COUNTS_ALLOCATIONS
  SKIP("ThreadSanitizer's operator new cannot be replaced to count allocations");
#endif
  CORIO_TEST_REQUIRE_IO_URING();
  char path[] = "/tmp/corio-alloc-test-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  const std::size_t n = corio::run(allocations_in_connections(path));
  ::unlink(path);
  CHECK(n == 0);
}

TEST_CASE("tcp_stream and file: awaiting an operation allocates nothing", "[tcp][file][io_uring]") {
#if !CORIO_TEST_COUNTS_ALLOCATIONS
  SKIP("ThreadSanitizer's operator new cannot be replaced to count allocations");
#endif
  CORIO_TEST_REQUIRE_IO_URING();
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  char path[] = "/tmp/corio-alloc-test-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  const std::size_t n = corio::run(allocations_in_rounds(fds[0], fds[1], path));
  ::unlink(path);
  CHECK(n == 0);
}
