// SPDX-License-Identifier: MIT
// tests/net/buffered_reader_test.cpp: buffered_reader over real TCP sockets on 127.0.0.1, fed
// by a python3 peer and by corio itself.
#include <corio/net/buffered_reader.hpp>

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/net/tcp.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>
#include <corio/wait_for.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/child_process.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace net = corio::net;
using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using corio_test::caught;
using corio_test::ends_in;

namespace {

static_assert(net::readable_stream<net::tcp_stream>);
static_assert(net::readable_stream<net::buffered_reader<net::tcp_stream>>);

// A python3 server on 127.0.0.1 that accepts one connection, sends each piece (hex, or
// "rep:<count>:<hex>" for a repeated one) with its own send, then closes.
constexpr const char* python_sender = R"(
import socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for piece in sys.argv[1:]:
    if piece.startswith("rep:"):
        _, count, unit = piece.split(":")
        conn.sendall(bytes.fromhex(unit) * int(count))
    else:
        conn.sendall(bytes.fromhex(piece))
conn.close()
)";

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out += digits[static_cast<unsigned char>(c) >> 4];
    out += digits[static_cast<unsigned char>(c) & 15];
  }
  return out;
}

// Starts the python sender with these pieces; the port it listens on is known on return.
struct python_peer {
  explicit python_peer(const std::vector<std::string>& pieces)
      : process([&] {
        std::vector<std::string> argv{"python3", "-c", python_sender};
        for (const std::string& p : pieces)
          argv.push_back(p.starts_with("rep:") ? p : hex(p));
        return argv;
      }()) {
    const std::string line = process.read_line();
    REQUIRE(!line.empty());
    port = static_cast<std::uint16_t>(std::stoi(line));
  }

  corio::task<int> exit_status() {
    co_return co_await corio::to_thread([this] { return process.wait(); });
  }

  corio_test::child_process process;
  std::uint16_t port = 0;
};

}  // namespace

TEST_CASE("buffered_reader: read_line splits lines that straddle reads and buffer growth",
          "[net][buffered_reader][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  python_peer peer({"alpha\nbe", "ta\n\ngam", "ma\r\n", "a-much-longer-line-than-the-buffer\n"});
  corio::run([&]() -> corio::task<> {
    auto s = co_await net::tcp_stream::connect("127.0.0.1", peer.port);
    net::buffered_reader reader(s, 4);  // smaller than most lines: forces moves and growth
    std::vector<std::string> lines;
    for (;;) {
      std::string line = co_await reader.read_line();
      if (line.empty())
        break;
      lines.push_back(std::move(line));
    }
    CHECK(lines == std::vector<std::string>{"alpha\n", "beta\n", "\n", "gamma\r\n",
                                            "a-much-longer-line-than-the-buffer\n"});
    const std::string after_end = co_await reader.read_line();
    CHECK(after_end.empty());
    const int status = co_await peer.exit_status();
    CHECK(status == 0);
  }());
}

TEST_CASE("buffered_reader: read_until finds a delimiter split across reads",
          "[net][buffered_reader][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  python_peer peer({"GET / HTTP/1.1\r\nHost: x\r", "\n\r", "\nbody"});
  corio::run([&]() -> corio::task<> {
    auto s = co_await net::tcp_stream::connect("127.0.0.1", peer.port);
    net::buffered_reader reader(s, 3);
    const std::string head = co_await reader.read_until("\r\n\r\n");
    CHECK(head == "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string body = co_await reader.read_exactly(4);
    CHECK(body == "body");
    co_await peer.exit_status();
  }());
}

TEST_CASE("buffered_reader: a line longer than max throws and leaves its bytes buffered",
          "[net][buffered_reader][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  python_peer peer({"rep:100:" + hex("x"), "yz\nnext\n"});
  corio::run([&]() -> corio::task<> {
    auto s = co_await net::tcp_stream::connect("127.0.0.1", peer.port);
    net::buffered_reader reader(s, 16);
    const auto error = co_await caught<net::limit_overrun_error>(reader.read_line(64));
    REQUIRE(error);
    CHECK(error->max() == 64);
    CHECK_THAT(error->what(), ContainsSubstring("read_line") &&
                                  ContainsSubstring("no delimiter \"\\n\" in the first 64 bytes") &&
                                  ContainsSubstring("Raise max"));
    CHECK(reader.buffered().size() >= 64);
    // Nothing was consumed: the whole line is still there, for a larger max.
    const std::string line = co_await reader.read_line(1000);
    CHECK(line == std::string(100, 'x') + "yz\n");
    const std::string next = co_await reader.read_line(5);
    CHECK(next == "next\n");
    co_await peer.exit_status();
  }());
}

TEST_CASE("buffered_reader: a line of 1 MiB grows the buffer within max",
          "[net][buffered_reader][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  python_peer peer({"rep:1048576:" + hex("q"), "\n"});
  corio::run([&]() -> corio::task<> {
    auto s = co_await net::tcp_stream::connect("127.0.0.1", peer.port);
    net::buffered_reader reader(s, 1024);
    const std::string line = co_await reader.read_line(2 * 1024 * 1024);
    CHECK(line.size() == 1048577);
    CHECK(line == std::string(1048576, 'q') + "\n");
    co_await peer.exit_status();
  }());
}

TEST_CASE("buffered_reader: the end of the stream inside a line is incomplete_read_error",
          "[net][buffered_reader][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  python_peer peer({"whole\npart", "ial"});
  corio::run([&]() -> corio::task<> {
    auto s = co_await net::tcp_stream::connect("127.0.0.1", peer.port);
    net::buffered_reader reader(s);
    const std::string first = co_await reader.read_line();
    CHECK(first == "whole\n");
    const auto error = co_await caught<net::incomplete_read_error>(reader.read_line());
    REQUIRE(error);
    CHECK(error->partial() == "partial");
    CHECK(error->bytes_read() == 7);
    CHECK(error->bytes_expected() == 0);
    CHECK_THAT(error->what(), ContainsSubstring("read_line: the stream ended after 7 bytes"));
    // The partial line was consumed: what follows is the plain end.
    const std::string end = co_await reader.read_line();
    CHECK(end.empty());
    // read_until has no "" result: at the end it throws, with nothing partial.
    const auto at_end = co_await caught<net::incomplete_read_error>(reader.read_until(";"));
    REQUIRE(at_end);
    CHECK(at_end->partial().empty());
    co_await peer.exit_status();
  }());
}

TEST_CASE("buffered_reader: read_exactly takes buffered bytes, then reads the rest directly",
          "[net][buffered_reader][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  python_peer peer({"len=10\n0123", "rep:1000:" + hex("ab"), "456789", "tail"});
  corio::run([&]() -> corio::task<> {
    auto s = co_await net::tcp_stream::connect("127.0.0.1", peer.port);
    net::buffered_reader reader(s, 8);
    const std::string header = co_await reader.read_line();
    CHECK(header == "len=10\n");
    std::string expected = "0123";
    for (int i = 0; i < 1000; ++i)
      expected += "ab";
    expected += "456789";
    const std::string block = co_await reader.read_exactly(expected.size());
    CHECK(block == expected);
    const std::string none = co_await reader.read_exactly(0);
    CHECK(none.empty());
    const auto error = co_await caught<net::incomplete_read_error>(reader.read_exactly(10));
    REQUIRE(error);
    CHECK(error->partial() == "tail");
    CHECK(error->bytes_expected() == 10);
    CHECK_THAT(error->what(), ContainsSubstring("read_exactly: the stream ended after 4 of 10"));
    co_await peer.exit_status();
  }());
}

TEST_CASE("buffered_reader: read_some hands out buffered bytes before reading again",
          "[net][buffered_reader][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  python_peer peer({"one\ntwo three", "rep:5000:" + hex("z")});
  corio::run([&]() -> corio::task<> {
    auto s = co_await net::tcp_stream::connect("127.0.0.1", peer.port);
    net::buffered_reader reader(s, 64);
    const std::string line = co_await reader.read_line();
    CHECK(line == "one\n");
    std::string rest(reader.buffered().size(), '\0');
    const std::size_t n = co_await reader.read_some(std::as_writable_bytes(std::span(rest)));
    CHECK(n == rest.size());
    CHECK(rest.starts_with("two"));
    CHECK(reader.buffered().empty());
    // A buffer larger than the reader's is filled by the stream directly.
    std::vector<std::byte> big(1 << 16);
    std::size_t total = rest.size();
    for (;;) {
      const std::size_t got = co_await reader.read_some(big);
      if (got == 0)
        break;
      total += got;
    }
    CHECK(total == std::string_view("two three").size() + 5000);
    co_await peer.exit_status();
  }());
}

TEST_CASE("buffered_reader: a cancelled read loses no byte", "[net][buffered_reader][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto client = co_await net::tcp_stream::connect("127.0.0.1", listener.local_port());
    auto server = co_await listener.accept();
    net::buffered_reader reader(server, 4);

    co_await client.write_all("hal");
    const bool line_timed_out =
        co_await ends_in<corio::timeout_error>(corio::wait_for(reader.read_line(), 50ms));
    CHECK(line_timed_out);
    co_await client.write_all("f\n123");
    const std::string line = co_await reader.read_line();
    CHECK(line == "half\n");

    const bool exact_timed_out =
        co_await ends_in<corio::timeout_error>(corio::wait_for(reader.read_exactly(6), 50ms));
    CHECK(exact_timed_out);
    co_await client.write_all("456");
    const std::string six = co_await reader.read_exactly(6);
    CHECK(six == "123456");
  }());
}

TEST_CASE("buffered_reader: refuses an empty delimiter, a max below it and no buffer",
          "[net][buffered_reader][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    net::tcp_stream s;
    net::buffered_reader reader(s);
    const auto e1 = co_await caught<std::invalid_argument>(reader.read_until(""));
    REQUIRE(e1);
    CHECK_THAT(e1->what(), ContainsSubstring("the delimiter is empty"));
    const auto e2 = co_await caught<std::invalid_argument>(reader.read_until("\r\n", 1));
    REQUIRE(e2);
    CHECK_THAT(e2->what(), ContainsSubstring("max (1) is shorter than the delimiter"));
  }());
  net::tcp_stream s;
  CHECK_THROWS_AS(net::buffered_reader(s, 0), std::invalid_argument);
}
