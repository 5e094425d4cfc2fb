// SPDX-License-Identifier: MIT
// tests/net/unix_test.cpp: unix_stream and unix_listener on a real kernel, against Python's
// socket module as the independent peer.
#include <corio/net/unix.hpp>

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/wait_for.hpp>
#include <corio/yield.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/bytes_and_fds.hpp"
#include "support/child_process.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"
#include "support/read_to_end.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace net = corio::net;
using corio_test::caught;
using corio_test::ends_in;
using corio_test::open_fd_count;
using corio_test::text_of;
using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

namespace {

// A socket path of its own for each test, in a fresh directory.
std::string socket_path(std::string_view name) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("corio-unix-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// Python's socket module serving one connection on `address` (a path, or
// "\0name" for the abstract namespace): prints "ready", then echoes what it
// reads, upper-cased, until the client ends its side.
const char* const python_echo_server = R"(
import socket, sys
address = sys.argv[1].replace('@', '\0', 1) if sys.argv[1].startswith('@') else sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(address)
s.listen(1)
print('ready', flush=True)
c, _ = s.accept()
while True:
    data = c.recv(65536)
    if not data:
        break
    c.sendall(data.upper())
c.close()
)";

// Python's socket module as a client: sends argv[2], ends its side, prints what came back.
const char* const python_client = R"(
import socket, sys
address = sys.argv[1].replace('@', '\0', 1) if sys.argv[1].startswith('@') else sys.argv[1]
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(address)
c.sendall(sys.argv[2].encode())
c.shutdown(socket.SHUT_WR)
reply = b''
while True:
    data = c.recv(65536)
    if not data:
        break
    reply += data
print(reply.decode())
)";

corio::task<std::string> talk_to(std::string path, std::string message) {
  auto s = co_await net::unix_stream::connect(path);
  co_await s.write_all(message);
  s.shutdown_write();
  co_return co_await corio_test::read_to_end(s);
}

corio::task<> echo_once(net::unix_listener& listener) {
  net::unix_stream s = co_await listener.accept();
  const std::string got = co_await corio_test::read_to_end(s);
  co_await s.write_all("corio heard: " + got);
  co_await s.close();
}

}  // namespace

TEST_CASE("unix_stream (python peer): connects to a file path and an abstract name",
          "[net][unix][io_uring][python][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds_before = open_fd_count();
  for (const std::string& path :
       {socket_path("py-server.sock"), "@corio-unix-test-" + std::to_string(::getpid())}) {
    INFO(path);
    corio_test::child_process peer({"python3", "-c", python_echo_server, path});
    REQUIRE(peer.read_line() == "ready");
    const std::string reply = corio::run(talk_to(path, std::string(100'000, 'x') + "end"));
    CHECK(reply == std::string(100'000, 'X') + "END");
    CHECK(peer.wait() == 0);
    if (path.front() != '@')
      std::filesystem::remove(path);  // Python's server leaves its socket file
  }
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("unix_listener (python peer): accepts on a file path and an abstract name",
          "[net][unix][io_uring][python][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds_before = open_fd_count();
  const std::string file = socket_path("corio-server.sock");
  for (const std::string& path :
       {file, std::string("\0corio-unix-listen-", 19) + std::to_string(::getpid())}) {
    auto listener = net::unix_listener::bind(path);
    CHECK(listener.path() == path);
    corio_test::child_process peer({"python3", "-c", python_client,
                                    path.front() == '\0' ? "@" + path.substr(1) : path, "hello"});
    corio::run(echo_once(listener));
    CHECK(peer.read_line() == "corio heard: hello");
    CHECK(peer.wait() == 0);
  }
  // The destructor removed the socket file bind() made.
  CHECK_FALSE(std::filesystem::exists(file));
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("unix_stream: pair, read_exact and the errors name unix_stream",
          "[net][unix][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds_before = open_fd_count();
  corio::run([]() -> corio::task<> {
    auto [a, b] = net::unix_stream::pair();
    co_await a.write_all("abc");
    a.shutdown_write();
    std::array<std::byte, 2> two;
    co_await b.read_exact(two);
    CHECK(text_of(two) == "ab");
    std::array<std::byte, 4> four;
    const auto incomplete = co_await caught<net::incomplete_read_error>(b.read_exact(four));
    REQUIRE(incomplete);
    CHECK(incomplete->bytes_read() == 1);
    CHECK_THAT(incomplete->what(), ContainsSubstring("corio::net::unix_stream::read_exact"));
    co_await b.close();
    const auto failed = co_await caught<std::system_error>(a.write_all("after the peer closed"));
    REQUIRE(failed);
    CHECK(failed->code() == std::errc::broken_pipe);
    CHECK_THAT(failed->what(), ContainsSubstring("corio::net::unix_stream::write_all"));
  }());
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("unix_listener: a corio client and server, cancellation of a pending accept",
          "[net][unix][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds_before = open_fd_count();
  corio::run([]() -> corio::task<> {
    auto listener = net::unix_listener::bind("@corio-unix-self-" + std::to_string(::getpid()));
    const bool timed_out =
        co_await ends_in<corio::timeout_error>(corio::wait_for(listener.accept(), 20ms));
    CHECK(timed_out);
    // The listener is still usable after the cancelled accept.
    auto [reply, ignored] =
        co_await corio::gather(talk_to(listener.path(), "ping"), echo_once(listener));
    CHECK(reply == "corio heard: ping");
  }());
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("unix_listener: close() removes a relative path's socket file after a chdir",
          "[net][unix]") {
  const std::filesystem::path dir = std::filesystem::path(socket_path("relative")).parent_path();
  const std::filesystem::path before = std::filesystem::current_path();
  struct back_to {
    std::filesystem::path dir;
    ~back_to() { std::filesystem::current_path(dir); }
  } restore{before};
  std::filesystem::current_path(dir);
  auto listener = net::unix_listener::bind("relative.sock");
  CHECK(listener.path() == "relative.sock");  // as given
  REQUIRE(std::filesystem::exists(dir / "relative.sock"));
  std::filesystem::current_path(std::filesystem::temp_directory_path());
  listener.close();
  CHECK_FALSE(std::filesystem::exists(dir / "relative.sock"));
}

TEST_CASE("unix_listener: refusals name the path and say what to do", "[net][unix][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::string path = socket_path("taken.sock");
  {
    auto first = net::unix_listener::bind(path);
    try {
      auto second = net::unix_listener::bind(path);
      FAIL("bound twice");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::address_in_use);
      CHECK_THAT(e.what(), ContainsSubstring(path));
    }
  }
  CHECK_THROWS_AS(net::unix_listener::bind(""), std::invalid_argument);
  CHECK_THROWS_AS(net::unix_listener::bind("/tmp/" + std::string(200, 'n')), std::invalid_argument);
  CHECK_THROWS_AS(net::unix_listener::bind(std::string("a\0b", 3)), std::invalid_argument);
  corio::run([](std::string missing) -> corio::task<> {
    const auto refused = co_await caught<std::system_error>(net::unix_stream::connect(missing));
    REQUIRE(refused);
    CHECK(refused->code() == std::errc::no_such_file_or_directory);
    CHECK_THAT(refused->what(), ContainsSubstring("corio::net::unix_stream::connect"));
  }(socket_path("nobody.sock")));
}

TEST_CASE("unix_stream: connect to a listener whose backlog is full waits until it has room",
          "[net][unix][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds_before = open_fd_count();
  corio::run([]() -> corio::task<> {
    // Linux queues backlog + 1 connections; the next connect finds no room.
    auto listener =
        net::unix_listener::bind("@corio-unix-backlog-" + std::to_string(::getpid()), 1);
    std::vector<net::unix_stream> queued;
    queued.push_back(co_await net::unix_stream::connect(listener.path()));
    queued.push_back(co_await net::unix_stream::connect(listener.path()));
    // No room: the connect waits (it must not claim a connection it does not have).
    const bool waited = co_await ends_in<corio::timeout_error>(
        corio::wait_for(net::unix_stream::connect(listener.path()), 50ms));
    CHECK(waited);
    // Room is made while a connect waits: it connects, and the connection works.
    auto late = [](const std::string& path) -> corio::task<std::string> {
      net::unix_stream s = co_await net::unix_stream::connect(path);
      co_await s.write_all("late");
      std::array<std::byte, 4> reply;
      co_await s.read_exact(reply);
      co_return text_of(reply);
    };
    auto make_room = [](net::unix_listener& l) -> corio::task<> {
      net::unix_stream first = co_await l.accept();  // one of the two queued ones
      co_await first.close();
      net::unix_stream second = co_await l.accept();
      co_await second.close();
      net::unix_stream third = co_await l.accept();  // the late one
      std::array<std::byte, 4> got;
      co_await third.read_exact(got);
      co_await third.write_all(text_of(got));
      co_await third.close();
    };
    auto [reply, ignored] =
        co_await corio::wait_for(corio::gather(late(listener.path()), make_room(listener)), 10s);
    CHECK(reply == "late");
  }());
  CHECK(open_fd_count() == fds_before);
}

namespace {

// One accept; how many operations were still in flight when it resumed.
corio::task<std::size_t> accept_and_count(net::unix_listener* listener) {
  net::unix_stream s = co_await listener->accept();
  const std::size_t in_flight = corio::event_loop::current().statistics().operations_in_flight;
  std::array<std::byte, 1> byte;
  co_await s.read_exact(byte);  // the client's, so this is its connection, working
  co_return in_flight;
}

}  // namespace

TEST_CASE(
    "unix_listener: eight tasks accepting and eight clients connecting at once are all served",
    "[net][unix][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds_before = open_fd_count();
  corio::run([]() -> corio::task<> {
    auto listener = net::unix_listener::bind("@corio-unix-eight-" + std::to_string(::getpid()));
    std::vector<corio::join_handle<std::size_t>> acceptors;
    for (int i = 0; i < 8; ++i)
      acceptors.push_back(corio::spawn(accept_and_count, &listener));
    co_await corio::yield();  // all eight wait in accept
    // A unix connect(2) has queued its connection on the listener when it
    // returns: all eight are there before the loop looks at the kernel again.
    const corio::detail::unix_address address(listener.path(), "test client");
    std::vector<corio::detail::unique_fd> clients;
    for (int i = 0; i < 8; ++i) {
      clients.emplace_back(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      REQUIRE(::connect(clients.back().get(), reinterpret_cast<const sockaddr*>(&address.storage),
                        address.length) == 0);
      REQUIRE(::send(clients.back().get(), "x", 1, MSG_NOSIGNAL) == 1);
    }
    std::vector<std::size_t> in_flight;
    for (auto& h : acceptors)
      in_flight.push_back(co_await corio::wait_for(std::move(h), 5s));
    CHECK(in_flight.size() == 8);
    // On epoll the one readiness event served all eight accepts in one turn,
    // so none saw another accept still waiting (one turn per accept before).
    if (corio::event_loop::current().backend() == corio::backend::epoll) {
      for (std::size_t n : in_flight)
        CHECK(n == 0);
    }
  }());
  CHECK(open_fd_count() == fds_before);
}
