// SPDX-License-Identifier: MIT
// tests/net/udp_test.cpp: udp_socket over the loopback interface, against Python's socket module
// as the independent peer.
#include <corio/net/udp.hpp>

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/task.hpp>
#include <corio/wait_for.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/bytes_and_fds.hpp"
#include "support/child_process.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

#include <poll.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
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

// Python's socket module: binds a UDP socket to argv[1] port 0, prints the
// port, then answers two datagrams with their upper-cased bytes.
const char* const python_udp_echo = R"(
import socket, sys
family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
print(s.getsockname()[1], flush=True)
for _ in range(2):
    data, peer = s.recvfrom(65535)
    s.sendto(data.upper(), peer)
)";

// Python's socket module as a client of a corio server at argv[1]:argv[2]:
// sends "ping from python", prints the reply and the address it came from.
const char* const python_udp_client = R"(
import socket, sys
family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.settimeout(20)
s.sendto(b'ping from python', (sys.argv[1], int(sys.argv[2])))
data, peer = s.recvfrom(65535)
print(data.decode(), flush=True)
)";

}  // namespace

TEST_CASE("udp_socket (python peer): send_to and receive_from over IPv4 and IPv6",
          "[net][udp][io_uring][python][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds_before = open_fd_count();
  for (const std::string host : {"127.0.0.1", "::1"}) {
    INFO(host);
    corio_test::child_process peer({"python3", "-c", python_udp_echo, host});
    const auto port = static_cast<std::uint16_t>(std::stoi(peer.read_line()));
    corio::run([](std::string host, std::uint16_t port) -> corio::task<> {
      const net::endpoint server(net::ip_address::parse(host), port);
      // Unconnected: send_to and receive_from, with the peer's endpoint.
      auto s = net::udp_socket::bind(host, 0);
      const std::size_t sent = co_await s.send_to(server, "hello over udp");
      CHECK(sent == 14);
      std::array<std::byte, 65535> buf;
      const net::datagram d = co_await s.receive_from(buf);
      CHECK(text_of(std::span(buf).first(d.size)) == "HELLO OVER UDP");
      CHECK(d.peer == server);
      // Connected: send and receive.
      auto c = co_await net::udp_socket::connect(host, port);
      co_await c.send("second");
      const std::size_t n = co_await c.receive(buf);
      CHECK(text_of(std::span(buf).first(n)) == "SECOND");
    }(host, port));
    CHECK(peer.wait() == 0);
  }
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("udp_socket (python peer): a dual-stack socket serves IPv4 and IPv6 clients",
          "[net][udp][io_uring][python][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds_before = open_fd_count();
  {
    auto server = net::udp_socket::bind("", 0);
    const std::string port = std::to_string(server.local_endpoint().port());
    corio_test::child_process v4({"python3", "-c", python_udp_client, "127.0.0.1", port});
    corio_test::child_process v6({"python3", "-c", python_udp_client, "::1", port});
    corio::run([](net::udp_socket& server) -> corio::task<> {
      std::array<std::byte, 2048> buf;
      std::vector<net::endpoint> peers;
      for (int i = 0; i < 2; ++i) {
        const net::datagram d = co_await server.receive_from(buf);
        CHECK(text_of(std::span(buf).first(d.size)) == "ping from python");
        peers.push_back(d.peer);
        co_await server.send_to(d.peer, "pong to " + d.peer.address().to_string());
      }
      // The IPv4 client appears as an IPv4 endpoint, not as ::ffff:127.0.0.1.
      const bool v4_seen = peers[0].address().is_v4() || peers[1].address().is_v4();
      const bool v6_seen = peers[0].address().is_v6() || peers[1].address().is_v6();
      CHECK(v4_seen);
      CHECK(v6_seen);
    }(server));
    CHECK(v4.read_line() == "pong to 127.0.0.1");
    CHECK(v6.read_line() == "pong to ::1");
    CHECK(v4.wait() == 0);
    CHECK(v6.wait() == 0);
  }
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("udp_socket: a datagram longer than the buffer is an EMSGSIZE error, not cut silently",
          "[net][udp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto a = net::udp_socket::bind("127.0.0.1", 0);
    auto b = net::udp_socket::bind("127.0.0.1", 0);
    const auto big = corio_test::pattern(3000);
    co_await a.send_to(b.local_endpoint(), big);
    co_await a.send_to(b.local_endpoint(), "next");
    std::array<std::byte, 100> small;
    const auto truncated = co_await caught<std::system_error>(b.receive_from(small));
    REQUIRE(truncated);
    CHECK(truncated->code() == std::errc::message_size);
    CHECK_THAT(truncated->what(), ContainsSubstring("3000 bytes"));
    CHECK_THAT(truncated->what(), ContainsSubstring("100-byte buffer"));
    CHECK(std::equal(small.begin(), small.end(), big.begin()));
    // The socket stays usable: the next datagram arrives whole.
    const net::datagram d = co_await b.receive_from(small);
    CHECK(text_of(std::span(small).first(d.size)) == "next");
    // The same through a connected socket's receive.
    b.connect_to(a.local_endpoint());
    co_await a.send_to(b.local_endpoint(), big);
    const auto again = co_await caught<std::system_error>(b.receive(small));
    const bool truncated_again = again && again->code() == std::errc::message_size;
    CHECK(truncated_again);
    // An empty datagram is a datagram of size 0.
    co_await a.send_to(b.local_endpoint(), std::span<const std::byte>());
    const std::size_t n = co_await b.receive(small);
    CHECK(n == 0);
  }());
}

TEST_CASE("udp_socket: a cancelled receive loses no datagram", "[net][udp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto a = net::udp_socket::bind("::1", 0);
    auto b = net::udp_socket::bind("::1", 0);
    std::array<std::byte, 64> buf;
    const bool timed_out =
        co_await ends_in<corio::timeout_error>(corio::wait_for(b.receive_from(buf), 20ms));
    CHECK(timed_out);
    co_await a.send_to(b.local_endpoint(), "after the cancel");
    const net::datagram d = co_await b.receive_from(buf);
    CHECK(text_of(std::span(buf).first(d.size)) == "after the cancel");
    CHECK(d.peer == a.local_endpoint());
  }());
}

TEST_CASE("udp_socket: bind refuses names and reports a taken port", "[net][udp]") {
  CHECK_THROWS_AS(net::udp_socket::bind("example.com", 0), std::invalid_argument);
  auto a = net::udp_socket::bind("127.0.0.1", 0);
  try {
    auto b = net::udp_socket::bind(a.local_endpoint());
    FAIL("bound twice");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::address_in_use);
    CHECK_THAT(e.what(), ContainsSubstring(a.local_endpoint().to_string()));
  }
}

TEST_CASE("udp_socket: a port unreachable is ECONNREFUSED at a connected socket's next operation",
          "[net][udp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    net::endpoint closed;
    {
      auto gone = net::udp_socket::bind("127.0.0.1", 0);
      closed = gone.local_endpoint();
    }
    auto c = net::udp_socket::connect(closed);
    std::array<std::byte, 64> buf;
    // The kernel's ICMP port unreachable wakes a pending receive with the error.
    co_await c.send("to nobody");
    const auto refused = co_await caught<std::system_error>(corio::wait_for(c.receive(buf), 10s));
    REQUIRE(refused);
    CHECK(refused->code() == std::errc::connection_refused);
    CHECK_THAT(refused->what(), ContainsSubstring("corio::net::udp_socket::receive"));
    // Unreceived, the error fails the next send instead, which then sends nothing.
    co_await c.send("to nobody again");
    pollfd error{c.native_handle(), 0, 0};
    REQUIRE(::poll(&error, 1, 10'000) == 1);  // POLLERR: the ICMP has arrived
    const auto send_refused = co_await caught<std::system_error>(c.send("not sent"));
    REQUIRE(send_refused);
    CHECK(send_refused->code() == std::errc::connection_refused);
    // Reported once: the socket stays usable, here connected to a peer that is there.
    auto peer = net::udp_socket::bind("127.0.0.1", 0);
    c.connect_to(peer.local_endpoint());
    co_await c.send("hello");
    const net::datagram d = co_await peer.receive_from(buf);
    CHECK(text_of(std::span(buf).first(d.size)) == "hello");
    // An unconnected socket is told nothing: its receive waits for the next datagram.
    auto u = net::udp_socket::bind("127.0.0.1", 0);
    co_await u.send_to(closed, "to nobody");
    co_await peer.send_to(u.local_endpoint(), "still listening");
    const net::datagram got = co_await u.receive_from(buf);
    CHECK(text_of(std::span(buf).first(got.size)) == "still listening");
  }());
}
