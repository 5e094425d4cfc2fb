// SPDX-License-Identifier: MIT
// tests/seccomp/backend_smoke.cpp: a small corio program that touches every kind of work the
// loop drives (a TCP round trip on 127.0.0.1, a file written and read back, timers, to_thread)
// and exits 0 when all of it behaved. The seccomp tests run it under seccomp_launcher, where
// io_uring is refused, with no environment variable set.
//
// Usage: backend_smoke <scratch file path> [io_uring|epoll]
// With a backend named, the loop must run on that one (it exits 1 otherwise). Output on
// success: "backend: <the one that ran>" and "backend_smoke passed".
#include <corio/corio.hpp>

#include <corio/net/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "backend_smoke: FAILED: %s\n", what);
    ++failures;
  }
}

corio::task<> echo_once(corio::net::tcp_listener& listener) {
  corio::net::tcp_stream peer = co_await listener.accept();
  std::vector<std::byte> buffer(4096);
  for (;;) {
    const std::size_t n = co_await peer.read_some(buffer);
    if (n == 0)
      break;
    co_await peer.write_all(std::span<const std::byte>(buffer).first(n));
  }
}

corio::task<> tcp_round_trip() {
  auto listener = corio::net::tcp_listener::bind("127.0.0.1", 0);
  corio::join_handle<void> server = corio::spawn(echo_once(listener));
  auto stream = co_await corio::net::tcp_stream::connect("127.0.0.1", listener.local_port());
  const std::string message(100'000, 'x');  // more than one socket buffer's worth at once
  std::string reply(message.size(), '\0');
  co_await corio::gather(stream.write_all(message),
                         stream.read_exact(std::as_writable_bytes(std::span(reply))));
  stream.shutdown_write();
  co_await server;
  check(reply == message, "the TCP echo came back unchanged");
}

corio::task<> file_round_trip(std::filesystem::path path) {
  const std::string text = "written by backend_smoke\n";
  co_await corio::write_file(path, text);
  const std::string back = co_await corio::read_file(path);
  std::filesystem::remove(path);
  check(back == text, "the file read back what was written");
}

corio::task<> timers() {
  const auto start = std::chrono::steady_clock::now();
  co_await corio::gather(corio::sleep(std::chrono::milliseconds(30)),
                         corio::sleep(std::chrono::milliseconds(10)));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  check(elapsed >= std::chrono::milliseconds(30), "the longer sleep lasted its 30 ms");
  check(elapsed < std::chrono::seconds(5), "the sleeps ended");
}

corio::task<> worker_thread() {
  const std::thread::id loop_thread = std::this_thread::get_id();
  const std::thread::id worker =
      co_await corio::to_thread([] { return std::this_thread::get_id(); });
  check(worker != loop_thread, "to_thread ran the call on another thread");
}

const char* name_of(corio::backend b) {
  switch (b) {
    case corio::backend::io_uring:
      return "io_uring";
    case corio::backend::epoll:
      return "epoll";
    case corio::backend::automatic:
      break;
  }
  return "automatic";  // never what runs
}

std::string ran_on;

corio::task<> smoke(std::filesystem::path path) {
  ran_on = name_of(corio::event_loop::current().backend());
  co_await corio::gather(tcp_round_trip(), file_round_trip(std::move(path)), timers(),
                         worker_thread());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: backend_smoke <scratch file path> [io_uring|epoll]\n");
    return 2;
  }
  try {
    corio::run(smoke(argv[1]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "backend_smoke: %s\n", e.what());
    return 1;
  }
  std::printf("backend: %s\n", ran_on.c_str());
  if (argc == 3)
    check(ran_on == argv[2], "the loop ran on the backend the test expects");
  if (failures != 0)
    return 1;
  std::puts("backend_smoke passed");
  return 0;
}
