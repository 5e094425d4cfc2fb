// SPDX-License-Identifier: MIT
// tests/net/tcp_test.cpp: tcp_stream and tcp_listener over the loopback interface, on a real
// kernel.
#include <corio/net/tcp.hpp>

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/wait_for.hpp>
#include <corio/yield.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/bytes_and_fds.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <netdb.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace net = corio::net;
using corio_test::caught;
using corio_test::ends_in;
using corio_test::open_fd_count;
using corio_test::pattern;
using corio_test::text_of;
using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

namespace {

// Echoes everything it reads until the peer ends its side, then ends its own.
corio::task<> echo(net::tcp_stream s) {
  std::vector<std::byte> buf(64 * 1024);
  for (;;) {
    const std::size_t n = co_await s.read_some(buf);
    if (n == 0)
      break;
    co_await s.write_all(std::span(buf).first(n));
  }
  s.shutdown_write();
}

}  // namespace

TEST_CASE("tcp_stream: echoes 8 MiB in both directions at once", "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    const std::vector<std::byte> sent = pattern(8 * 1024 * 1024 + 13);
    std::vector<std::byte> received(sent.size());
    std::size_t after_end = 1;

    auto server = [&]() -> corio::task<> { co_await echo(co_await listener.accept()); };
    auto client = [&]() -> corio::task<> {
      auto s = co_await net::tcp_stream::connect("127.0.0.1", listener.local_port());
      // Neither side could finish alone: the echo stalls once the socket
      // buffers fill unless reading goes on while writing.
      auto writer = [&]() -> corio::task<> {
        co_await s.write_all(sent);
        s.shutdown_write();
      };
      auto reader = [&]() -> corio::task<> {
        co_await s.read_exact(received);
        std::array<std::byte, 16> extra;
        after_end = co_await s.read_some(extra);
      };
      co_await corio::gather(writer(), reader());
    };
    co_await corio::wait_for(corio::gather(server(), client()), 20s);
    CHECK(received == sent);
    CHECK(after_end == 0);
  }());
}

TEST_CASE("tcp_stream: read_some returns 0 once the peer has shut down its sending side",
          "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto client = co_await net::tcp_stream::connect("127.0.0.1", listener.local_port());
    auto server = co_await listener.accept();
    co_await server.write_all("last words");
    server.shutdown_write();

    std::array<std::byte, 64> buf;
    std::string got;
    for (int i = 0; i < 16; ++i) {
      const std::size_t n = co_await client.read_some(buf);
      if (n == 0)
        break;
      got += text_of(std::span(buf).first(n));
    }
    CHECK(got == "last words");
    const std::size_t again = co_await client.read_some(buf);
    CHECK(again == 0);  // the end is sticky

    // The other direction is still open.
    co_await client.write_all("reply");
    std::array<std::byte, 5> reply;
    co_await server.read_exact(reply);
    CHECK(text_of(reply) == "reply");
  }());
}

TEST_CASE("tcp_stream: read_exact throws incomplete_read_error when the stream ends early",
          "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto client = co_await net::tcp_stream::connect("127.0.0.1", listener.local_port());
    auto server = co_await listener.accept();
    co_await server.write_all("0123456789");
    server.shutdown_write();

    std::array<std::byte, 100> buf{};
    const auto e = co_await caught<net::incomplete_read_error>(client.read_exact(buf));
    if (!e)
      FAIL("read_exact returned although only 10 of 100 bytes were sent");
    CHECK(e->bytes_read() == 10);
    CHECK(e->bytes_expected() == 100);
    CHECK_THAT(e->what(), ContainsSubstring("read_exact") && ContainsSubstring("10 of 100"));
    CHECK(text_of(std::span(buf).first(10)) == "0123456789");
  }());
}

TEST_CASE("tcp_stream: connect to a port nobody listens on throws system_error ECONNREFUSED",
          "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::uint16_t port = 0;
  {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    port = listener.local_port();
  }  // closed: connecting now is refused
  corio::run([](std::uint16_t port) -> corio::task<> {
    const auto e = co_await caught<std::system_error>(net::tcp_stream::connect("127.0.0.1", port));
    if (!e)
      FAIL("connect succeeded on a closed port");
    CHECK(e->code() == std::error_code(ECONNREFUSED, std::system_category()));
    CHECK_THAT(e->what(), ContainsSubstring("corio::net::tcp_stream::connect") &&
                              ContainsSubstring("127.0.0.1:" + std::to_string(port)));
  }(port));
}

TEST_CASE("tcp_stream: connect to a name that does not resolve throws an error naming the host",
          "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    const auto e = co_await caught<std::system_error>(
        corio::wait_for(net::tcp_stream::connect("no-such-host.invalid", 80), 30s));
    if (!e)
      FAIL("connect succeeded for a name in the .invalid domain");
    CHECK_THAT(e->what(), ContainsSubstring("\"no-such-host.invalid\""));
    // EAI_NONAME normally; EAI_AGAIN where no DNS server answers; EAI_SYSTEM maps to errno.
    const bool resolve_error = e->code().category() == net::resolve_category();
    const bool system_error = e->code().category() == std::system_category();
    CHECK((resolve_error || system_error));
    if (resolve_error)
      CHECK((e->code().value() == EAI_NONAME || e->code().value() == EAI_AGAIN));
  }());
}

TEST_CASE("tcp_stream: connect resolves localhost and reaches a listener on 127.0.0.1",
          "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("localhost", 0);
    CHECK(listener.local_endpoint().address() == net::ip_address(net::ipv4_address::loopback()));
    auto [client, server] = co_await corio::gather(
        net::tcp_stream::connect("localhost", listener.local_port()), listener.accept());
    CHECK(client.remote_endpoint() == server.local_endpoint());
    CHECK(client.local_endpoint() == server.remote_endpoint());
    CHECK(client.remote_endpoint().address().is_loopback());
  }());
}

TEST_CASE("net::resolve: returns a numeric address at once and resolves localhost",
          "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    const auto numeric = co_await net::resolve("[::1]", 7);
    REQUIRE(numeric.size() == 1);
    CHECK(numeric[0] == net::endpoint::parse("[::1]:7"));

    const auto local = co_await net::resolve("localhost", 8);
    REQUIRE_FALSE(local.empty());
    for (const auto& ep : local) {
      CHECK(ep.address().is_loopback());
      CHECK(ep.port() == 8);
    }
  }());
}

TEST_CASE("tcp_listener: accepts IPv6 connections on ::1", "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  net::tcp_listener listener;
  try {
    listener = net::tcp_listener::bind("::1", 0);
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::address_not_available ||
        e.code() == std::errc::address_family_not_supported) {
      SKIP("this machine has no IPv6 loopback: " << e.what());
    }
    throw;
  }
  corio::run([](net::tcp_listener& listener) -> corio::task<> {
    auto [client, server] = co_await corio::gather(
        net::tcp_stream::connect("[::1]", listener.local_port()), listener.accept());
    CHECK(server.remote_endpoint().address() == net::ip_address(net::ipv6_address::loopback()));
    co_await client.write_all("over v6");
    std::array<std::byte, 7> buf;
    co_await server.read_exact(buf);
    CHECK(text_of(buf) == "over v6");
  }(listener));
}

TEST_CASE("tcp_listener: bind to \"\" accepts on every interface", "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("", 0);
    CHECK(listener.local_endpoint().address().is_unspecified());
    auto [client, server] = co_await corio::gather(
        net::tcp_stream::connect("127.0.0.1", listener.local_port()), listener.accept());
    CHECK(client.is_open());
    CHECK(server.is_open());
  }());
}

TEST_CASE(
    "tcp_listener: bind rejects a host name with invalid_argument that says how to resolve it",
    "[net][tcp]") {
  CHECK_THROWS_MATCHES(net::tcp_listener::bind("example.com", 0), std::invalid_argument,
                       Catch::Matchers::MessageMatches(ContainsSubstring("\"example.com\"") &&
                                                       ContainsSubstring("corio::net::resolve")));
  CHECK_THROWS_AS(net::tcp_listener::bind("127.0.0.1", 0, -1), std::invalid_argument);
}

TEST_CASE("tcp_listener: bind to a port in use throws system_error EADDRINUSE", "[net][tcp]") {
  auto first = net::tcp_listener::bind("127.0.0.1", 0);
  try {
    auto second = net::tcp_listener::bind("127.0.0.1", first.local_port());
    FAIL("a second listener bound to the same port");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::error_code(EADDRINUSE, std::system_category()));
    CHECK_THAT(e.what(), ContainsSubstring("tcp_listener::bind"));
  }
}

TEST_CASE("tcp_listener: a cancelled accept leaves the listener usable and loses no connection",
          "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    const bool timed_out =
        co_await ends_in<corio::timeout_error>(corio::wait_for(listener.accept(), 20ms));
    CHECK(timed_out);

    // The next connection reaches the next accept.
    auto client = co_await net::tcp_stream::connect("127.0.0.1", listener.local_port());
    auto server = co_await corio::wait_for(listener.accept(), 5s);
    co_await client.write_all("hi");
    std::array<std::byte, 2> buf;
    co_await server.read_exact(buf);
    CHECK(text_of(buf) == "hi");
  }());
}

TEST_CASE(
    "tcp_listener: an accept cancelled as a connection arrives either returns it or leaves it "
    "queued",
    "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    int returned_despite_timeout = 0;
    for (int i = 0; i < 50; ++i) {
      auto client = co_await net::tcp_stream::connect("127.0.0.1", listener.local_port());
      // The accept and its cancellation reach the kernel together: the
      // connection is either accepted (and returned) or stays queued.
      net::tcp_stream server;
      bool timed_out = false;
      try {
        server = co_await corio::wait_for(listener.accept(), 0ms);
        ++returned_despite_timeout;
      } catch (const corio::timeout_error&) {
        timed_out = true;
      }
      if (timed_out)
        server = co_await corio::wait_for(listener.accept(), 5s);
      const std::string message = "connection " + std::to_string(i);
      co_await client.write_all(message);
      std::string got(message.size(), '\0');
      co_await server.read_exact(std::as_writable_bytes(std::span(got)));
      REQUIRE(got == message);
    }
    INFO("accepts that completed although their wait_for expired: " << returned_despite_timeout);
    SUCCEED();
  }());
}

TEST_CASE("tcp_listener: several tasks accepting at once each get one connection",
          "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    const auto accept_one = [](net::tcp_listener* l) -> corio::task<int> {
      net::tcp_stream s = co_await l->accept();
      co_return s.is_open() ? 1 : 0;
    };
    std::vector<corio::join_handle<int>> acceptors;
    for (int i = 0; i < 4; ++i)
      acceptors.push_back(corio::spawn(accept_one, &listener));
    // One more waits among them and is cancelled: the others still get theirs.
    corio::join_handle<int> cancelled = corio::spawn(accept_one, &listener);
    co_await corio::yield();  // all five wait in accept
    cancelled.cancel();
    std::vector<net::tcp_stream> clients;
    for (int i = 0; i < 4; ++i)
      clients.push_back(co_await net::tcp_stream::connect(listener.local_endpoint()));
    int accepted = 0;
    for (auto& h : acceptors)
      accepted += co_await corio::wait_for(std::move(h), 5s);
    CHECK(accepted == 4);
    const bool was_cancelled = co_await ends_in<corio::cancelled_error>(cancelled);
    CHECK(was_cancelled);
  }());
}

TEST_CASE("tcp_stream: a cancelled read leaves the stream usable", "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto client = co_await net::tcp_stream::connect("127.0.0.1", listener.local_port());
    auto server = co_await listener.accept();

    std::array<std::byte, 16> buf;
    const bool timed_out =
        co_await ends_in<corio::timeout_error>(corio::wait_for(client.read_some(buf), 20ms));
    CHECK(timed_out);

    co_await server.write_all("after");
    std::array<std::byte, 5> got;
    co_await corio::wait_for(client.read_exact(got), 5s);
    CHECK(text_of(got) == "after");
  }());
}

TEST_CASE("tcp_stream: a cancelled connect leaves no socket open", "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // A listener that never accepts, with the smallest backlog: once its queue
  // is full the kernel drops further SYNs, so a connect stays pending.
  auto listener = net::tcp_listener::bind("127.0.0.1", 0, 0);
  const std::size_t fds_before = open_fd_count();
  const bool saw_pending = corio::run([](std::uint16_t port) -> corio::task<bool> {
    std::vector<net::tcp_stream> established;
    for (int i = 0; i < 16; ++i) {
      try {
        established.push_back(
            co_await corio::wait_for(net::tcp_stream::connect("127.0.0.1", port), 100ms));
      } catch (const corio::timeout_error&) {
        co_return true;
      }
    }
    co_return false;
  }(listener.local_port()));
  if (!saw_pending)
    SKIP("the kernel completed every connect; no connect stayed pending to cancel");
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("tcp_stream: writing to a peer that closed throws EPIPE or ECONNRESET, with no SIGPIPE",
          "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // The default action of SIGPIPE kills the process: if a write raised it, this test run would die.
  const auto previous = std::signal(SIGPIPE, SIG_DFL);
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto client = co_await net::tcp_stream::connect("127.0.0.1", listener.local_port());
    {
      auto server = co_await listener.accept();
      co_await server.close();
    }
    const std::vector<std::byte> chunk = pattern(64 * 1024);
    std::error_code error;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    for (int i = 0; i < 1000 && !error && std::chrono::steady_clock::now() < deadline; ++i) {
      try {
        co_await client.write_all(chunk);
      } catch (const std::system_error& e) {
        error = e.code();
        CHECK_THAT(e.what(), ContainsSubstring("corio::net::tcp_stream::write_all"));
      }
    }
    CHECK((error == std::error_code(EPIPE, std::system_category()) ||
           error == std::error_code(ECONNRESET, std::system_category())));
  }());
  std::signal(SIGPIPE, previous);
}

TEST_CASE("tcp_stream: close through io_uring ends the stream for the peer",
          "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto client = co_await net::tcp_stream::connect("127.0.0.1", listener.local_port());
    auto server = co_await listener.accept();
    client.set_nodelay(true);
    co_await client.close();
    CHECK_FALSE(client.is_open());
    CHECK(client.native_handle() == -1);
    co_await client.close();  // closing again does nothing
    std::array<std::byte, 8> buf;
    const std::size_t n = co_await server.read_some(buf);
    CHECK(n == 0);
  }());
}

TEST_CASE("tcp_stream: a close cancelled before it starts closes the socket at once",
          "[net][tcp][io_uring][cancellation]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto client = co_await net::tcp_stream::connect(listener.local_endpoint());
    auto server = co_await listener.accept();
    const int fd = client.native_handle();
    // Cancelled before it runs: the close meets the pending cancellation at once.
    corio::join_handle<void> closer =
        corio::spawn([](net::tcp_stream* s) -> corio::task<> { co_await s->close(); }, &client);
    closer.cancel();
    const bool cancelled = co_await ends_in<corio::cancelled_error>(closer);
    CHECK(cancelled);
    CHECK_FALSE(client.is_open());
    CHECK(::fcntl(fd, F_GETFD) == -1);
    std::array<std::byte, 8> buf;
    const std::size_t n = co_await server.read_some(buf);
    CHECK(n == 0);  // the peer sees the end of the stream
  }());
}

namespace {

// A low soft limit, filled with /dev/null descriptors: release_one() leaves
// one for a client's socket, after which an accept has none left.
struct descriptor_squeeze {
  rlimit saved{};
  std::vector<int> fds;
  descriptor_squeeze() {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    rlimit low = saved;
    low.rlim_cur = std::min<rlim_t>(saved.rlim_cur, 512);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    for (;;) {
      const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        break;
      fds.push_back(fd);
    }
  }
  descriptor_squeeze(const descriptor_squeeze&) = delete;
  descriptor_squeeze& operator=(const descriptor_squeeze&) = delete;
  void release_one() {
    ::close(fds.back());
    fds.pop_back();
  }
  void release_all() {
    while (!fds.empty())
      release_one();
  }
  ~descriptor_squeeze() {
    release_all();
    ::setrlimit(RLIMIT_NOFILE, &saved);
  }
};

}  // namespace

TEST_CASE(
    "tcp_listener: accept waits out EMFILE and returns the connection once a descriptor is free",
    "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    descriptor_squeeze squeeze;
    REQUIRE(!squeeze.fds.empty());
    squeeze.release_one();
    auto client = co_await net::tcp_stream::connect("127.0.0.1", listener.local_port());
    // 0.1 threw system_error EMFILE here; now accept keeps waiting.
    const bool waited =
        co_await ends_in<corio::timeout_error>(corio::wait_for(listener.accept(), 300ms));
    CHECK(waited);
    squeeze.release_all();
    auto server = co_await corio::wait_for(listener.accept(), 5s);
    co_await client.write_all("hi");
    std::array<std::byte, 2> buf;
    co_await server.read_exact(buf);
    CHECK(text_of(buf) == "hi");
  }());
}

TEST_CASE("tcp_listener: an accept retrying after its listener was destroyed reads no freed memory",
          "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = std::make_unique<net::tcp_listener>(net::tcp_listener::bind("127.0.0.1", 0));
    descriptor_squeeze squeeze;
    REQUIRE(!squeeze.fds.empty());
    squeeze.release_one();
    auto client = co_await net::tcp_stream::connect("127.0.0.1", listener->local_port());
    corio::join_handle<net::tcp_stream> pending = corio::spawn(listener->accept());
    co_await corio::yield();  // the accept starts: it meets EMFILE, or EBADF once closed
    listener.reset();         // misuse: destroyed under the pending accept
    squeeze.release_all();
    bool logic_error = false;
    std::error_code code;
    try {
      co_await pending;
    } catch (const std::logic_error& e) {
      logic_error = true;
      CHECK_THAT(e.what(), ContainsSubstring("while accept() is pending"));
    } catch (const std::system_error& e) {
      code = e.code();
    }
#ifdef NDEBUG
    CHECK_FALSE(logic_error);
    CHECK(code == std::error_code(EBADF, std::system_category()));
#else
    CHECK(logic_error);
#endif
  }());
}

TEST_CASE("tcp_listener: serves 2000 concurrent connections", "[net][tcp][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // Each pair costs two descriptors; raise the soft limit to the hard one and
  // scale the count down if even that is too small.
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  const std::size_t pairs = std::min<std::size_t>(2000, (limit.rlim_cur - 64) / 2);
  INFO("connection pairs: " << pairs << " (RLIMIT_NOFILE " << limit.rlim_cur << ")");
  REQUIRE(pairs >= 100);

  const std::size_t served = corio::run([](std::size_t pairs) -> corio::task<std::size_t> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0, 4096);
    const std::uint16_t port = listener.local_port();

    auto server = [&]() -> corio::task<> {
      std::vector<corio::join_handle<void>> handlers;
      handlers.reserve(pairs);
      for (std::size_t i = 0; i < pairs; ++i)
        handlers.push_back(corio::spawn(echo(co_await listener.accept())));
      for (auto& h : handlers)
        co_await h;
    };
    auto client = [port](std::size_t id) -> corio::task<std::size_t> {
      auto s = co_await net::tcp_stream::connect("127.0.0.1", port);
      const std::string message = "hello from client " + std::to_string(id);
      co_await s.write_all(message);
      s.shutdown_write();
      std::string back(message.size(), '\0');
      co_await s.read_exact(std::as_writable_bytes(std::span(back)));
      std::array<std::byte, 1> end;
      const bool ended = co_await s.read_some(end) == 0;
      co_return back == message&& ended ? 1 : 0;
    };

    std::vector<corio::task<std::size_t>> clients;
    for (std::size_t i = 0; i < pairs; ++i)
      clients.push_back(client(i));
    auto [ok, _] =
        co_await corio::wait_for(corio::gather(corio::gather(std::move(clients)), server()), 30s);
    std::size_t total = 0;
    for (std::size_t v : ok)
      total += v;
    co_return total;
  }(pairs));
  CHECK(served == pairs);
}
