// SPDX-License-Identifier: MIT
// tests/detail/backend/epoll_test.cpp: the epoll backend's queues of tasks waiting on one
// descriptor, on loops forced to epoll (so both passes of the suite test it).
#include <corio/detail/backend/epoll.hpp>

#include <corio/event_loop.hpp>
#include <corio/net/unix.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/wait_for.hpp>
#include <corio/yield.hpp>

#include <catch2/catch_test_macros.hpp>

#include "support/backend.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// What one reader got, and how many readiness waits were left when it resumed.
struct reading {
  char byte = 0;
  std::size_t still_waiting = 0;
};

corio::task<reading> read_one(int fd) {
  reading r;
  const int res = co_await corio_test::read_byte(fd, &r.byte);
  if (res != 1)
    r.byte = '?';
  r.still_waiting = corio::event_loop::current().statistics().operations_in_flight;
  co_return r;
}

// Eight readers wait on one pipe; `first` then the rest of "abcdefgh" is
// written at once while they wait. Returns what each reader got, in the order
// they started waiting.
corio::task<std::vector<reading>> eight_readers(int read_end, int write_end, std::size_t first) {
  std::vector<corio::join_handle<reading>> readers;
  for (int i = 0; i < 8; ++i)
    readers.push_back(corio::spawn(read_one, read_end));
  co_await corio::yield();  // all eight wait for readiness, in this order
  const std::string bytes = "abcdefgh";
  std::vector<reading> got;
  REQUIRE(::write(write_end, bytes.data(), first) == static_cast<ssize_t>(first));
  for (std::size_t i = 0; i < first; ++i)
    got.push_back(co_await corio::wait_for(std::move(readers[i]), 5s));
  REQUIRE(::write(write_end, bytes.data() + first, 8 - first) == static_cast<ssize_t>(8 - first));
  for (std::size_t i = first; i < 8; ++i)
    got.push_back(co_await corio::wait_for(std::move(readers[i]), 5s));
  co_return got;
}

struct pipe_pair {
  std::array<int, 2> fds{-1, -1};
  pipe_pair() { REQUIRE(::pipe2(fds.data(), O_CLOEXEC | O_NONBLOCK) == 0); }
  ~pipe_pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

// eight_readers on a fresh pipe, in a loop forced to epoll.
std::vector<reading> eight_readers_on_epoll(std::size_t first) {
  pipe_pair p;
  corio::event_loop loop(corio::loop_options{.backend = corio::backend::epoll});
  std::vector<reading> got = loop.run_until_complete(eight_readers(p.fds[0], p.fds[1], first));
  REQUIRE(got.size() == 8);
  return got;
}

}  // namespace

TEST_CASE("epoll_backend: one readiness event serves every queued waiter in the order they came",
          "[epoll]") {
  const std::vector<reading> got = eight_readers_on_epoll(8);
  for (std::size_t i = 0; i < 8; ++i) {
    INFO("reader " << i);
    CHECK(got[i].byte == "abcdefgh"[i]);
    // Each resumed in the turn after the one epoll_wait that found the pipe
    // readable: none of the others was still waiting.
    CHECK(got[i].still_waiting == 0);
  }
}

TEST_CASE(
    "epoll_backend: a waiter that would block again stays first; the ones behind it keep waiting",
    "[epoll]") {
  const std::vector<reading> got = eight_readers_on_epoll(3);
  for (std::size_t i = 0; i < 8; ++i) {
    INFO("reader " << i);
    CHECK(got[i].byte == "abcdefgh"[i]);  // the fourth, woken for nothing, still went next
    CHECK(got[i].still_waiting == (i < 3 ? 5u : 0u));
  }
}

namespace {

corio::task<> write_all_of(corio::net::unix_stream* s, std::vector<std::byte> data) {
  co_await s->write_all(data);
}

// Two tasks write 1 MiB each on one socket, far more than its buffer holds:
// what the peer reads. (A stream's contract is one write at a time; this is
// about the order of the backend's queue.)
corio::task<std::vector<std::byte>> two_writers() {
  auto [out, in] = corio::net::unix_stream::pair();
  constexpr std::size_t size = 1 << 20;
  auto first = corio::spawn(write_all_of, &out, std::vector<std::byte>(size, std::byte{'a'}));
  auto second = corio::spawn(write_all_of, &out, std::vector<std::byte>(size, std::byte{'b'}));
  co_await corio::yield();  // both wait until the socket has room, in this order
  std::vector<std::byte> got(2 * size);
  co_await corio::wait_for(in.read_exact(got), 10s);
  co_await first;
  co_await second;
  co_return got;
}

}  // namespace

TEST_CASE("epoll_backend: a write_all that would block again stays ahead of the next writer",
          "[epoll][net]") {
  corio::event_loop loop(corio::loop_options{.backend = corio::backend::epoll});
  const std::vector<std::byte> got = loop.run_until_complete(two_writers());
  REQUIRE(got.size() == 2 << 20);
  const auto half = got.begin() + (1 << 20);
  // Before, the first went to the back of the queue each time it filled the
  // socket, and the second's bytes came in between.
  CHECK(std::all_of(got.begin(), half, [](std::byte b) { return b == std::byte{'a'}; }));
  CHECK(std::all_of(half, got.end(), [](std::byte b) { return b == std::byte{'b'}; }));
}
