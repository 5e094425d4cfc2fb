// SPDX-License-Identifier: MIT
// tests/tls_test.cpp: tls::context and tls::stream against Python's ssl module (client and
// server) over 127.0.0.1, with a throwaway CA and certificates made by the openssl command.
#include <corio/tls.hpp>

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/net/buffered_reader.hpp>
#include <corio/net/tcp.hpp>
#include <corio/process.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>
#include <corio/wait_for.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/bytes_and_fds.hpp"
#include "support/child_process.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"
#include "support/read_to_end.hpp"
#include "support/test_pki.hpp"

#include <openssl/x509_vfy.h>

#include <cstdlib>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace net = corio::net;
using corio_test::caught;
using corio_test::ends_in;
using corio_test::open_fd_count;
using corio_test::pattern;
namespace tls = corio::tls;
using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

namespace {

static_assert(net::readable_stream<tls::stream>);

// A Python ssl server on 127.0.0.1 for one connection. Modes: "echo" (echoes until the
// client's close_notify, then answers it), "truncate" (after the handshake, half of a
// record, then a TCP close), "split" (half of a record, the rest once the client has sent
// "go", then close_notify), "garbage" (answers the ClientHello with bytes that are not
// TLS), "silent" (reads the ClientHello and never answers).
constexpr const char* python_server = R"(
import socket, ssl, sys
cert, key, mode, alpn = sys.argv[1:5]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
if mode == "garbage":
    conn.recv(65536)
    conn.sendall(b"\x16\x03\x03\x00\x20" + b"\xff" * 32 + b"this is not TLS at all" * 8)
    conn.recv(65536)
    sys.exit(0)
if mode == "silent":
    conn.recv(65536)
    while conn.recv(65536):
        pass
    sys.exit(0)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if alpn:
    ctx.set_alpn_protocols(alpn.split(","))
if mode in ("truncate", "split"):
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            conn.sendall(outgoing.read())
            incoming.write(conn.recv(65536))
    conn.sendall(outgoing.read())
    tls.write(b"x" * 1000)
    record = outgoing.read()
    conn.sendall(record[: len(record) // 2])
    if mode == "truncate":
        conn.close()
        sys.exit(0)
    # split: the rest of the record once the client says "go", then close_notify.
    while True:
        try:
            assert tls.read(2) == b"go"
            break
        except ssl.SSLWantReadError:
            incoming.write(conn.recv(65536))
    conn.sendall(record[len(record) // 2 :])
    try:
        tls.unwrap()
    except ssl.SSLWantReadError:
        pass  # our close_notify is out; the client's is not needed
    conn.sendall(outgoing.read())
    print("split sent", flush=True)
    while conn.recv(65536):
        pass
    sys.exit(0)
try:
    tls = ctx.wrap_socket(conn, server_side=True)
except ssl.SSLError as e:
    print("handshake failed:", e.reason, flush=True)
    sys.exit(0)
print("alpn", tls.selected_alpn_protocol(), flush=True)
while True:
    data = tls.recv(65536)
    if not data:
        break
    tls.sendall(data)
tls.unwrap()
print("clean end", flush=True)
)";

// A Python ssl client: sends `count` bytes in 16 KiB pieces, each echoed back before the
// next, then ends with close_notify and waits for the server's. Mode "http" instead sends
// plain HTTP and reads until the server closes.
constexpr const char* python_client = R"(
import socket, ssl, sys
port, cafile, name, count, alpn, mode = sys.argv[1:7]
raw = socket.create_connection(("127.0.0.1", int(port)))
if mode == "http":
    raw.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    while raw.recv(65536):
        pass
    print("closed", flush=True)
    sys.exit(0)
ctx = ssl.create_default_context(cafile=cafile)
if alpn:
    ctx.set_alpn_protocols(alpn.split(","))
tls = ctx.wrap_socket(raw, server_hostname=name)
print("alpn", tls.selected_alpn_protocol(), flush=True)
piece = bytes(range(256)) * 64
for _ in range(int(count) // len(piece)):
    tls.sendall(piece)
    got = b""
    while len(got) < len(piece):
        more = tls.recv(len(piece) - len(got))
        assert more, "the server ended early"
        got += more
    assert got == piece, "the echo differs"
tls.unwrap()
print("clean end", flush=True)
)";

struct python_tls_server {
  python_tls_server(const std::string& mode, const std::string& certificate = "server.pem",
                    const std::string& alpn = "")
      : process({"python3", "-c", python_server,
                 corio_test::test_pki::get().file(certificate.c_str()),
                 corio_test::test_pki::get().file("server.key"), mode, alpn}) {
    const std::string line = process.read_line();
    REQUIRE(!line.empty());
    port = static_cast<std::uint16_t>(std::stoi(line));
  }
  corio_test::child_process process;
  std::uint16_t port = 0;
};

corio_test::child_process python_tls_client(std::uint16_t port, std::size_t count,
                                            const std::string& alpn = "",
                                            const std::string& mode = "tls") {
  return corio_test::child_process({"python3", "-c", python_client, std::to_string(port),
                                    corio_test::test_pki::get().file("ca.pem"), "localhost",
                                    std::to_string(count), alpn, mode});
}

corio::task<int> exit_status(corio_test::child_process& p) {
  co_return co_await corio::to_thread([&p] { return p.wait(); });
}

// Connects to the python server at `port` and runs the client handshake for `name`.
corio::task<tls::stream> connect_tls(std::uint16_t port, tls::context ctx, std::string name) {
  auto tcp = co_await net::tcp_stream::connect("127.0.0.1", port);
  co_return co_await tls::stream::connect(std::move(tcp), ctx, name);
}

// Writes `sent` while reading the same number of bytes back, then ends with close_notify
// and waits for the peer's.
corio::task<std::vector<std::byte>> echo_through(tls::stream& s,
                                                 const std::vector<std::byte>& sent) {
  std::vector<std::byte> received;
  auto writer = [&]() -> corio::task<> { co_await s.write_all(sent); };
  auto reader = [&]() -> corio::task<> {
    std::vector<std::byte> buf(16 * 1024);
    while (received.size() < sent.size()) {
      const std::size_t n = co_await s.read_some(buf);
      REQUIRE(n > 0);
      received.insert(received.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    }
  };
  co_await corio::gather(writer(), reader());
  co_await s.shutdown();
  std::array<std::byte, 64> rest;
  const std::size_t after_end = co_await s.read_some(rest);
  CHECK(after_end == 0);
  co_return received;
}

}  // namespace

TEST_CASE("tls::stream: a client echoes 1 MiB through a Python ssl server, ALPN and close_notify",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  {
    python_tls_server server("echo", "server.pem", "http/1.1");
    corio::run([&]() -> corio::task<> {
      auto ctx = tls::context::client(corio_test::test_pki::get().file("ca.pem"));
      ctx.set_alpn({"h2", "http/1.1"});
      tls::stream s = co_await connect_tls(server.port, ctx, "localhost");
      CHECK(s.alpn_protocol() == "http/1.1");
      const std::vector<std::byte> sent = pattern(1024 * 1024 + 7);
      const std::vector<std::byte> received = co_await corio::wait_for(echo_through(s, sent), 20s);
      CHECK(received == sent);
      co_await s.close();
      const int status = co_await exit_status(server.process);
      CHECK(status == 0);
    }());
    CHECK(server.process.read_all() == "alpn http/1.1\nclean end\n");
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("tls::stream: a certificate for 127.0.0.1 verifies by IP address, not by SNI",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  python_tls_server server("echo");
  corio::run([&]() -> corio::task<> {
    auto ctx = tls::context::client(corio_test::test_pki::get().file("ca.pem"));
    tls::stream s = co_await connect_tls(server.port, ctx, "127.0.0.1");
    CHECK(s.alpn_protocol().empty());
    const std::vector<std::byte> sent = pattern(1000);
    const std::vector<std::byte> received = co_await echo_through(s, sent);
    CHECK(received == sent);
    co_await exit_status(server.process);
  }());
}

TEST_CASE("tls::stream: a server answers a Python ssl client and ends with close_notify",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto client = python_tls_client(listener.local_port(), 256 * 1024, "h2,http/1.1");
    corio::run([&]() -> corio::task<> {
      auto ctx = tls::context::server(corio_test::test_pki::get().file("server.pem"),
                                      corio_test::test_pki::get().file("server.key"));
      ctx.set_alpn({"http/1.1"});
      tls::stream s = co_await tls::stream::accept(co_await listener.accept(), ctx);
      CHECK(s.alpn_protocol() == "http/1.1");
      std::size_t echoed = 0;
      std::vector<std::byte> buf(64 * 1024);
      for (;;) {
        const std::size_t n = co_await s.read_some(buf);
        if (n == 0)
          break;  // the client's close_notify
        co_await s.write_all(std::span(buf).first(n));
        echoed += n;
      }
      CHECK(echoed == 256 * 1024);
      co_await s.shutdown();
      const int status = co_await exit_status(client);
      CHECK(status == 0);
    }());
    CHECK(client.read_all() == "alpn http/1.1\nclean end\n");
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("tls::stream: a server whose CA is not trusted is refused with what to do",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  {
    python_tls_server server("echo");
    corio::run([&]() -> corio::task<> {
      // The system trust store does not know the test CA.
      auto error = co_await caught<std::system_error>(
          connect_tls(server.port, tls::context::client(), "localhost"));
      REQUIRE(error);
      CHECK(error->code() ==
            std::error_code(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, tls::verify_category()));
      CHECK_THAT(error->what(),
                 ContainsSubstring("corio::tls::stream::connect to \"localhost\": certificate "
                                   "verify failed: unable to get local issuer certificate (pass a "
                                   "CA file"));
      co_await exit_status(server.process);
    }());
    // The alert told the server why.
    CHECK_THAT(server.process.read_all(),
               ContainsSubstring("handshake failed: TLSV1_ALERT_UNKNOWN_CA"));
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("tls::stream: an expired certificate is refused", "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  {
    python_tls_server server("echo", "expired.pem");
    corio::run([&]() -> corio::task<> {
      auto error = co_await caught<std::system_error>(
          connect_tls(server.port, tls::context::client(corio_test::test_pki::get().file("ca.pem")),
                      "localhost"));
      REQUIRE(error);
      CHECK(error->code() == std::error_code(X509_V_ERR_CERT_HAS_EXPIRED, tls::verify_category()));
      CHECK_THAT(error->what(), ContainsSubstring("certificate has expired (the peer's certificate "
                                                  "has expired: renew it"));
      co_await exit_status(server.process);
    }());
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("tls::stream: a certificate for another name or address is refused", "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const auto ca = corio_test::test_pki::get().file("ca.pem");
  {
    python_tls_server server("echo");
    corio::run([&]() -> corio::task<> {
      auto error = co_await caught<std::system_error>(
          connect_tls(server.port, tls::context::client(ca), "corio.invalid"));
      REQUIRE(error);
      CHECK(error->code() == std::error_code(X509_V_ERR_HOSTNAME_MISMATCH, tls::verify_category()));
      CHECK_THAT(error->what(),
                 ContainsSubstring("connect to \"corio.invalid\": certificate verify "
                                   "failed: hostname mismatch (the certificate was "
                                   "not issued for the name given to connect()"));
      co_await exit_status(server.process);
    }());
  }
  {
    python_tls_server server("echo");
    corio::run([&]() -> corio::task<> {
      auto error = co_await caught<std::system_error>(
          connect_tls(server.port, tls::context::client(ca), "127.0.0.2"));
      REQUIRE(error);
      CHECK(error->code() ==
            std::error_code(X509_V_ERR_IP_ADDRESS_MISMATCH, tls::verify_category()));
      co_await exit_status(server.process);
    }());
  }
}

TEST_CASE("tls::stream: a peer that answers the handshake with garbage is a clear error",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  {
    python_tls_server server("garbage");
    corio::run([&]() -> corio::task<> {
      auto error = co_await caught<std::system_error>(corio::wait_for(
          connect_tls(server.port, tls::context::client(corio_test::test_pki::get().file("ca.pem")),
                      "localhost"),
          10s));
      REQUIRE(error);
      CHECK(error->code().category() == tls::error_category());
      CHECK_THAT(error->what(),
                 ContainsSubstring("corio::tls::stream::connect to \"localhost\": ") &&
                     ContainsSubstring("is it a TLS peer?"));
      co_await exit_status(server.process);
    }());
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("tls::stream: a record cut short by the peer's close is an error, not an end",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  {
    python_tls_server server("truncate");
    corio::run([&]() -> corio::task<> {
      auto ctx = tls::context::client(corio_test::test_pki::get().file("ca.pem"));
      tls::stream s = co_await connect_tls(server.port, ctx, "localhost");
      auto error = co_await caught<std::system_error>([&]() -> corio::task<> {
        std::array<std::byte, 4096> buf;
        for (;;)
          co_await s.read_some(buf);
      }());
      REQUIRE(error);
      CHECK(error->code().category() == tls::error_category());
      CHECK_THAT(error->what(),
                 ContainsSubstring("corio::tls::stream::read_some to \"localhost\": unexpected eof "
                                   "while reading (the peer closed the connection without a TLS "
                                   "close_notify"));
      // Used again, the failed session says so rather than guess at a cause.
      std::array<std::byte, 16> more;
      const auto again = co_await caught<std::system_error>(s.read_some(more));
      REQUIRE(again);
      CHECK(again->code() == std::errc::not_connected);
      CHECK_THAT(again->what(),
                 ContainsSubstring("corio::tls::stream::read_some to \"localhost\": "
                                   "the TLS session failed before; close the stream"));
      const auto write = co_await caught<std::system_error>(s.write_all("x"));
      REQUIRE(write);
      CHECK_THAT(write->what(), ContainsSubstring("the TLS session failed before"));
      co_await s.shutdown();  // nothing to end after a failure: does nothing
      co_await exit_status(server.process);
    }());
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("tls::stream: a server refuses a plain HTTP client with what to do", "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto client = python_tls_client(listener.local_port(), 0, "", "http");
    corio::run([&]() -> corio::task<> {
      auto ctx = tls::context::server(corio_test::test_pki::get().file("server.pem"),
                                      corio_test::test_pki::get().file("server.key"));
      auto error =
          co_await caught<std::system_error>(tls::stream::accept(co_await listener.accept(), ctx));
      REQUIRE(error);
      CHECK_THAT(error->what(), ContainsSubstring("corio::tls::stream::accept from 127.0.0.1:") &&
                                    ContainsSubstring("http request (the client sent plain HTTP "
                                                      "to a TLS port"));
      const int status = co_await exit_status(client);
      CHECK(status == 0);  // the connection was closed, so the client ended
    }());
    listener.close();
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("tls::stream: a handshake under a timeout is cancelled, leaking nothing",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  {
    python_tls_server server("silent");
    corio::run([&]() -> corio::task<> {
      const bool timed_out = co_await ends_in<corio::timeout_error>(corio::wait_for(
          connect_tls(server.port, tls::context::client(corio_test::test_pki::get().file("ca.pem")),
                      "localhost"),
          100ms));
      CHECK(timed_out);
      const int status = co_await exit_status(server.process);  // it saw our socket close
      CHECK(status == 0);
    }());
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("tls::stream: corio to corio, 8 MiB both ways at once", "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    const auto& pki = corio_test::test_pki::get();
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    const std::vector<std::byte> sent = pattern(8 * 1024 * 1024 + 13);
    std::vector<std::byte> received;
    auto server = [&]() -> corio::task<> {
      auto ctx = tls::context::server(pki.file("server.pem"), pki.file("server.key"));
      tls::stream s = co_await tls::stream::accept(co_await listener.accept(), ctx);
      std::vector<std::byte> buf(64 * 1024);
      for (;;) {
        const std::size_t n = co_await s.read_some(buf);
        if (n == 0)
          break;
        co_await s.write_all(std::span(buf).first(n));
      }
      co_await s.shutdown();
    };
    auto client = [&]() -> corio::task<> {
      tls::stream s = co_await tls::stream::connect("127.0.0.1", listener.local_port(),
                                                    tls::context::client(pki.file("ca.pem")));
      received = co_await echo_through(s, sent);
    };
    co_await corio::wait_for(corio::gather(server(), client()), 60s);
    CHECK(received == sent);
  }());
}

TEST_CASE("tls::stream: a buffered_reader reads lines from a TLS stream", "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    const auto& pki = corio_test::test_pki::get();
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto server = [&]() -> corio::task<> {
      auto ctx = tls::context::server(pki.file("server.pem"), pki.file("server.key"));
      tls::stream s = co_await tls::stream::accept(co_await listener.accept(), ctx);
      co_await s.write_all("first line\nsecond");
      co_await s.write_all(" line\nno end");
      co_await s.shutdown();
    };
    std::vector<std::string> lines;
    std::string partial;
    auto client = [&]() -> corio::task<> {
      tls::stream s = co_await tls::stream::connect("localhost", listener.local_port(),
                                                    tls::context::client(pki.file("ca.pem")));
      net::buffered_reader reader(s, 8);
      try {
        for (;;)
          lines.push_back(co_await reader.read_line());
      } catch (const net::incomplete_read_error& e) {
        partial = e.partial();
      }
    };
    co_await corio::wait_for(corio::gather(server(), client()), 20s);
    CHECK(lines == std::vector<std::string>{"first line\n", "second line\n"});
    CHECK(partial == "no end");
  }());
}

TEST_CASE("tls::stream: a server that requires a client certificate refuses a client without",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    const auto& pki = corio_test::test_pki::get();
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    std::optional<std::system_error> server_error;
    std::optional<std::system_error> client_error;
    bool client_with_certificate_served = false;
    auto server = [&]() -> corio::task<> {
      auto ctx = tls::context::server(pki.file("server.pem"), pki.file("server.key"));
      ctx.load_ca_file(pki.file("ca.pem")).set_verify_peer(true);
      server_error =
          co_await caught<std::system_error>(tls::stream::accept(co_await listener.accept(), ctx));
      tls::stream s = co_await tls::stream::accept(co_await listener.accept(), ctx);
      co_await s.write_all("welcome\n");
      co_await s.shutdown();
    };
    auto client = [&]() -> corio::task<> {
      auto ctx = tls::context::client(pki.file("ca.pem"));
      client_error = co_await caught<std::system_error>([&]() -> corio::task<> {
        // TLS 1.3: the client's handshake ends before the server has checked it, so the
        // refusal arrives as an alert at the first read.
        tls::stream s = co_await tls::stream::connect("localhost", listener.local_port(), ctx);
        std::array<std::byte, 64> buf;
        co_await s.read_some(buf);
      }());
      ctx.use_certificate(pki.file("client.pem"), pki.file("client.key"));
      tls::stream s = co_await tls::stream::connect("localhost", listener.local_port(), ctx);
      net::buffered_reader reader(s);
      client_with_certificate_served = co_await reader.read_line() == "welcome\n";
    };
    co_await corio::wait_for(corio::gather(server(), client()), 20s);
    REQUIRE(server_error);
    CHECK_THAT(server_error->what(),
               ContainsSubstring("peer did not return a certificate (this server requires a "
                                 "client certificate"));
    REQUIRE(client_error);
    CHECK_THAT(client_error->what(), ContainsSubstring("certificate required"));
    CHECK(client_with_certificate_served);
  }());
}

TEST_CASE("tls::context: bad files and arguments are clear errors", "[tls]") {
  const auto& pki = corio_test::test_pki::get();
  try {
    tls::context::client("/nonexistent/ca.pem");
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(), ContainsSubstring("cannot load CA certificates from "
                                           "\"/nonexistent/ca.pem\": No such file or directory"));
  }
  try {
    tls::context::server(pki.file("server.pem"), pki.file("client.key"));
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(),
               ContainsSubstring(
                   "key values mismatch (the private key does not belong to the certificate"));
  }
  try {
    tls::context::server(pki.file("server.key"), pki.file("server.key"));
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(), ContainsSubstring("cannot load a PEM certificate chain from"));
  }
  auto ctx = tls::context::client();
  CHECK(ctx.verifies_peer());
  CHECK_FALSE(ctx.is_server());
  CHECK_THROWS_AS(ctx.set_alpn({}), std::invalid_argument);
  CHECK_THROWS_AS(ctx.set_alpn({""}), std::invalid_argument);
  CHECK_THROWS_AS(ctx.set_alpn({std::string(256, 'a')}), std::invalid_argument);
}

TEST_CASE("tls::stream: misuse is refused before any byte moves", "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    const auto& pki = corio_test::test_pki::get();
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto tcp = co_await net::tcp_stream::connect("127.0.0.1", listener.local_port());
    const auto client_ctx = tls::context::client(pki.file("ca.pem"));
    const auto server_ctx = tls::context::server(pki.file("server.pem"), pki.file("server.key"));
    const auto e1 = co_await caught<std::invalid_argument>(
        tls::stream::connect(std::move(tcp), client_ctx, ""));
    const bool empty_name = e1 && std::string_view(e1->what()).find("the server name is empty") !=
                                      std::string_view::npos;
    const auto e2 = co_await caught<std::invalid_argument>(
        tls::stream::connect(co_await net::tcp_stream::connect("127.0.0.1", listener.local_port()),
                             server_ctx, "localhost"));
    const bool wrong_context =
        e2 && std::string_view(e2->what()).find("connect needs a client context") !=
                  std::string_view::npos;
    tls::stream none;
    std::array<std::byte, 4> buf;
    const bool no_session = co_await ends_in<std::logic_error>(none.read_some(buf));
    CHECK(empty_name);
    CHECK(wrong_context);
    CHECK(no_session);
    CHECK_FALSE(none.is_open());
  }());
}

TEST_CASE("tls::stream: a read cancelled inside a record loses none of it", "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  {
    python_tls_server server("split");
    corio::run([&]() -> corio::task<> {
      auto ctx = tls::context::client(corio_test::test_pki::get().file("ca.pem"));
      tls::stream s = co_await connect_tls(server.port, ctx, "localhost");
      std::array<std::byte, 4096> buf;
      // Half of the record arrives, and OpenSSL holds it while the read waits for the rest.
      const bool timed_out =
          co_await ends_in<corio::timeout_error>(corio::wait_for(s.read_some(buf), 100ms));
      CHECK(timed_out);
      co_await s.write_all("go");
      const std::string got = co_await corio_test::read_to_end(s);
      CHECK(got == std::string(1000, 'x'));
      co_await s.shutdown();
      co_await s.close();
      const int status = co_await exit_status(server.process);
      CHECK(status == 0);
    }());
    CHECK(server.process.read_all() == "split sent\n");
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("tls::stream: a second shutdown does nothing, and reading goes on to the peer's end",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  {
    python_tls_server server("echo");
    corio::run([&]() -> corio::task<> {
      auto ctx = tls::context::client(corio_test::test_pki::get().file("ca.pem"));
      tls::stream s = co_await connect_tls(server.port, ctx, "localhost");
      co_await s.write_all("sent before the end");
      co_await s.shutdown();
      co_await s.shutdown();
      const std::string echoed = co_await corio_test::read_to_end(s);
      CHECK(echoed == "sent before the end");
      co_await s.shutdown();  // both close_notify have been seen: still nothing to do
      co_await s.close();
      const int status = co_await exit_status(server.process);
      CHECK(status == 0);
    }());
    CHECK(server.process.read_all() == "alpn None\nclean end\n");
  }
  CHECK(open_fd_count() == fds);
}

namespace {

// openssl s_server on 127.0.0.1 for one connection (-naccept 1), under corio::process:
// it takes commands on stdin ("K": a KeyUpdate that asks for the peer's; "r": a TLS 1.2
// renegotiation) and with -msg prints each TLS message it sends (">>>") and receives
// ("<<<"). Make it in a task.
struct openssl_server {
  explicit openssl_server(std::vector<std::string> argv)
      : process(corio::process::spawn(
            with_defaults(std::move(argv)),
            {.in = corio::stdio::pipe, .out = corio::stdio::pipe, .err = corio::stdio::null}))
      , out(process.stdout_pipe()) {}

  static std::vector<std::string> with_defaults(std::vector<std::string> extra) {
    const auto& pki = corio_test::test_pki::get();
    std::vector<std::string> argv{"openssl",  "s_server",
                                  "-accept",  "127.0.0.1:0",
                                  "-cert",    pki.file("server.pem"),
                                  "-key",     pki.file("server.key"),
                                  "-naccept", "1",
                                  "-msg"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  // Lines of its output until one that contains `text`; "" if the output ends first.
  corio::task<std::string> line_with(std::string text) {
    for (;;) {
      std::string line = co_await out.read_line();
      if (line.empty() || line.find(text) != std::string::npos)
        co_return line;
    }
  }
  // The port from its "ACCEPT 127.0.0.1:<port>" line.
  corio::task<std::uint16_t> port() {
    const std::string accept = co_await line_with("ACCEPT ");
    REQUIRE(accept.rfind(':') != std::string::npos);
    co_return static_cast<std::uint16_t>(std::stoi(accept.substr(accept.rfind(':') + 1)));
  }

  corio::process process;
  net::buffered_reader<net::unix_stream> out;
};

}  // namespace

TEST_CASE("tls::stream: openssl s_server's KeyUpdate request is read and answered",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  corio::run([]() -> corio::task<> {
    const auto& pki = corio_test::test_pki::get();
    openssl_server server({});
    const std::uint16_t port = co_await server.port();
    auto body = [&]() -> corio::task<int> {
      tls::stream s = co_await tls::stream::connect("localhost", port,
                                                    tls::context::client(pki.file("ca.pem")));
      co_await server.process.stdin_pipe().write_all("K\n");
      const std::string requested =
          co_await server.line_with(">>> TLS 1.3, Handshake [length 0005], KeyUpdate");
      REQUIRE_FALSE(requested.empty());
      co_await server.process.stdin_pipe().write_all("after the key update\n");
      std::string got;
      std::array<std::byte, 256> buf;
      while (got.find('\n') == std::string::npos) {
        const std::size_t n = co_await s.read_some(buf);
        REQUIRE(n > 0);
        got += corio_test::text_of(std::span(buf).first(n));
      }
      CHECK(got == "after the key update\n");
      // OpenSSL answers with a KeyUpdate of its own before its next application data
      // (RFC 8446, 4.6.3), not at once: the client's write sends both.
      co_await s.write_all("from the client\n");
      const std::string answered =
          co_await server.line_with("<<< TLS 1.3, Handshake [length 0005], KeyUpdate");
      REQUIRE_FALSE(answered.empty());
      const std::string echoed = co_await server.line_with("from the client");
      CHECK(echoed == "from the client\n");
      co_await s.shutdown();
      co_await s.close();
      co_return co_await server.process.wait();  // -naccept 1: it ends with the connection
    };
    const int status = co_await corio::wait_for(body(), 20s);
    CHECK(status == 0);
  }());
  CHECK(open_fd_count() == fds);
}

TEST_CASE("tls::stream: after a cancelled write_all, shutdown still ends whole records cleanly",
          "[tls][io_uring][python]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  // A Python ssl client that reads nothing until a line on stdin, then reads to the end
  // (an end without close_notify raises), checks each byte i is i % 251, and prints the
  // count.
  constexpr const char* late_reader = R"(
import socket, ssl, sys
port, cafile = sys.argv[1:3]
ctx = ssl.create_default_context(cafile=cafile)
raw = socket.create_connection(("127.0.0.1", int(port)))
tls = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
print("connected", flush=True)
sys.stdin.readline()
unit = bytes(range(251))
got, ok = 0, True
while True:
    data = tls.recv(1 << 20)
    if not data:
        break
    start = got % 251
    ok = ok and data == (unit * (len(data) // 251 + 2))[start : start + len(data)]
    got += len(data)
print(got, "in order" if ok else "corrupt", flush=True)
)";
  corio::run([&]() -> corio::task<> {
    const auto& pki = corio_test::test_pki::get();
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto client = corio::process::spawn(
        {"python3", "-c", late_reader, std::to_string(listener.local_port()), pki.file("ca.pem")},
        {.in = corio::stdio::pipe, .out = corio::stdio::pipe});
    net::buffered_reader out(client.stdout_pipe());
    auto body = [&]() -> corio::task<std::string> {
      tls::stream s = co_await tls::stream::accept(
          co_await listener.accept(),
          tls::context::server(pki.file("server.pem"), pki.file("server.key")));
      const std::string connected = co_await out.read_line();
      CHECK(connected == "connected\n");
      // More than the sockets' buffers hold while the client does not read.
      std::vector<std::byte> data(64 * 1024 * 1024);
      for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::byte>(i % 251);
      const bool cut =
          co_await ends_in<corio::timeout_error>(corio::wait_for(s.write_all(data), 200ms));
      CHECK(cut);
      co_await client.stdin_pipe().write_all("read now\n");
      co_await s.shutdown();  // sends the rest of the records already made, then close_notify
      co_await s.close();
      co_return co_await out.read_line();
    };
    const std::string result = co_await corio::wait_for(body(), 60s);
    CHECK_THAT(result, ContainsSubstring(" in order\n"));
    const std::size_t count = std::stoull(result);
    CHECK(count > 0);
    CHECK(count < 64 * 1024 * 1024);
    const int status = co_await client.wait();
    CHECK(status == 0);
  }());
  CHECK(open_fd_count() == fds);
}

TEST_CASE("tls::stream: no shared ALPN protocol is refused on both sides with what to do",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    const auto& pki = corio_test::test_pki::get();
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto server_ctx = tls::context::server(pki.file("server.pem"), pki.file("server.key"));
    server_ctx.set_alpn({"h2"});
    auto client_ctx = tls::context::client(pki.file("ca.pem"));
    client_ctx.set_alpn({"http/1.1"});
    std::optional<std::system_error> server_error;
    std::optional<std::system_error> client_error;
    auto server = [&]() -> corio::task<> {
      server_error = co_await caught<std::system_error>(
          tls::stream::accept(co_await listener.accept(), server_ctx));
    };
    auto client = [&]() -> corio::task<> {
      client_error = co_await caught<std::system_error>(
          tls::stream::connect("localhost", listener.local_port(), client_ctx));
    };
    co_await corio::wait_for(corio::gather(server(), client()), 20s);
    REQUIRE(server_error);
    CHECK_THAT(server_error->what(),
               ContainsSubstring("corio::tls::stream::accept from 127.0.0.1:") &&
                   ContainsSubstring("check tls::context::set_alpn on both sides"));
    REQUIRE(client_error);
    CHECK_THAT(client_error->what(),
               ContainsSubstring("corio::tls::stream::connect to \"localhost\"") &&
                   ContainsSubstring("check tls::context::set_alpn on both sides"));
  }());
}

TEST_CASE("tls::stream: a TLS 1.2 server's renegotiation is refused, ending the session",
          "[tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = open_fd_count();
  corio::run([]() -> corio::task<> {
    const auto& pki = corio_test::test_pki::get();
    openssl_server server({"-tls1_2"});
    const std::uint16_t port = co_await server.port();
    auto body = [&]() -> corio::task<std::optional<std::system_error>> {
      tls::stream s = co_await tls::stream::connect("localhost", port,
                                                    tls::context::client(pki.file("ca.pem")));
      co_await server.process.stdin_pipe().write_all("r\n");
      const std::string hello_request = co_await server.line_with("HelloRequest");
      REQUIRE_FALSE(hello_request.empty());
      // The client answers no_renegotiation, and OpenSSL's server then gives up.
      std::array<std::byte, 256> buf;
      co_return co_await caught<std::system_error>(s.read_some(buf));
    };
    const std::optional<std::system_error> error = co_await corio::wait_for(body(), 20s);
    REQUIRE(error);
    CHECK(error->code().category() == tls::error_category());
    CHECK_THAT(error->what(), ContainsSubstring("corio::tls::stream::read_some to \"localhost\""));
    const int status = co_await corio::wait_for(server.process.wait(), 20s);  // -naccept 1
    CHECK(status == 0);
  }());
  CHECK(open_fd_count() == fds);
}
