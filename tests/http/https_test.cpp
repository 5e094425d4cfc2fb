// SPDX-License-Identifier: MIT
// tests/http/https_test.cpp: http::get and http::client over https://, against a Python
// http.server wrapped in ssl; http::server serving https to Python's http.client over ssl
// and to corio's client; certificates from a throwaway CA.
#include <corio/http/client.hpp>
#include <corio/http/server.hpp>
#include <corio/tls.hpp>

#include <corio/event_loop.hpp>
#include <corio/net/tcp.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>
#include <corio/wait_for.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/bytes_and_fds.hpp"
#include "support/child_process.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"
#include "support/test_pki.hpp"

#include <openssl/x509_vfy.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace http = corio::http;
namespace tls = corio::tls;
using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;
using corio_test::caught;
using corio_test::ends_in;

namespace {

// HTTP/1.1 over TLS: GET /x answers "hello over tls /x" with a Content-Length; GET /close
// answers without one and ends the body by closing, with no close_notify (as many servers do).
constexpr const char* python_https_server = R"(
import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("hello over tls " + self.path).encode()
        self.send_response(200)
        if self.path == "/close":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
)";

struct https_server {
  https_server()
      : process({"python3", "-c", python_https_server,
                 corio_test::test_pki::get().file("server.pem"),
                 corio_test::test_pki::get().file("server.key")}) {
    const std::string line = process.read_line();
    REQUIRE(!line.empty());
    url = "https://localhost:" + line;
  }
  corio_test::child_process process;  // killed by its destructor
  std::string url;
};

}  // namespace

TEST_CASE("http::get: fetches https:// with the server's certificate checked",
          "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  https_server server;
  corio::run([&]() -> corio::task<> {
    // client_options::ca_file is a view: the file name lives here, for both calls.
    const std::string ca_file = corio_test::test_pki::get().file("ca.pem");
    const http::client_options options{.ca_file = ca_file};
    const http::response res = co_await http::get(server.url + "/pokemon/25", options);
    CHECK(res.status == 200);
    CHECK(res.body == "hello over tls /pokemon/25");
    // A body ended by the close, with no close_notify, is the whole body.
    const http::response closed = co_await http::get(server.url + "/close", options);
    CHECK(closed.status == 200);
    CHECK(closed.body == "hello over tls /close");
  }());
}

TEST_CASE("http::client: reuses one TLS connection for several https requests",
          "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  https_server server;
  corio::run([&]() -> corio::task<> {
    const std::string ca_file = corio_test::test_pki::get().file("ca.pem");
    http::client client({.ca_file = ca_file});
    for (int i = 0; i < 3; ++i) {
      const http::response res = co_await client.get(server.url + "/" + std::to_string(i));
      CHECK(res.body == "hello over tls /" + std::to_string(i));
      CHECK(client.idle_connections() == 1);
    }
  }());
}

TEST_CASE("http::get: an https server the trust store does not know is refused",
          "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  https_server server;
  corio::run([&]() -> corio::task<> {
    const auto error = co_await caught<std::system_error>(http::get(server.url + "/"));
    REQUIRE(error);
    CHECK(error->code() == std::error_code(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                                           corio::tls::verify_category()));
    CHECK_THAT(error->what(), ContainsSubstring("pass a CA file"));
  }());
}

TEST_CASE("http::get: without corio/tls.hpp, https:// is refused with what to do",
          "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // This program includes corio/tls.hpp: take its hook away, as a program without it has none.
  const auto installed = std::exchange(corio::detail::connect_secure_stream, nullptr);
  corio::run([]() -> corio::task<> {
    const auto e = co_await caught<std::invalid_argument>(http::get("https://127.0.0.1:1/"));
    const std::string message = e ? e->what() : "";
    CHECK_THAT(message, ContainsSubstring("include <corio/tls.hpp>") &&
                            ContainsSubstring("corio::tls") && ContainsSubstring("libcurl"));
  }());
  corio::detail::connect_secure_stream = installed;
}

namespace {

// Python's http.client over ssl against a corio https server at argv[1]: two GETs and a
// POST of 100 kB on one connection, printed on one line. A mode first misbehaves on
// another connection: "garbage" sends a TLS handshake record whose content is not a
// ClientHello and prints the first byte of what comes back ("15" is a TLS alert record);
// "silent" sends nothing and prints how the server ended it.
constexpr const char* python_https_client = R"(
import http.client, socket, ssl, sys
port, cafile, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if mode in ("garbage", "silent"):
    raw = socket.create_connection(("127.0.0.1", port), timeout=60)
    if mode == "garbage":
        junk = b"this is not a ClientHello " * 8
        raw.sendall(b"\x16\x03\x01" + len(junk).to_bytes(2, "big") + junk)
    reply = b""
    while True:
        more = raw.recv(65536)
        if not more:
            break
        reply += more
    print(mode, "answered", reply[:1].hex() or "with a close", flush=True)
    raw.close()
ctx = ssl.create_default_context(cafile=cafile)
conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=60)
out = []
for path in ("/a", "/b"):
    conn.request("GET", path)
    r = conn.getresponse()
    out.append("%d %s" % (r.status, r.read().decode()))
conn.request("POST", "/echo", body=b"x" * 100000)
r = conn.getresponse()
out.append("%d %s" % (r.status, r.read().decode()))
conn.close()
print(" | ".join(out), flush=True)
)";

corio::task<http::response> tls_routes(http::request req) {
  if (req.method == "POST") {
    co_return http::response{200, {}, std::to_string(req.body.size()) + " bytes"};
  }
  co_return http::response{200, {{"Content-Type", "text/plain"}}, "secure " + req.target};
}

tls::context server_context() {
  const auto& pki = corio_test::test_pki::get();
  return tls::context::server(pki.file("server.pem"), pki.file("server.key"));
}

// What a corio https server did for one Python client (python_https_client).
struct python_session {
  int status = -1;     // the client's exit status
  std::string output;  // its stdout
  std::uint64_t accepted = 0;
  std::uint64_t served = 0;
};

// Serves https with `options` (tls set to the test server's context) until a Python
// client in `mode` exits; checks that no descriptor is left open.
python_session serve_python_client(const char* mode, http::server_options options,
                                   corio::loop_options loop = {}) {
  const std::size_t fds = corio_test::open_fd_count();
  python_session r;
  {
    const tls::context ctx = server_context();
    options.tls = &ctx;
    auto srv = http::server::bind("127.0.0.1", 0, options, tls_routes);
    corio_test::child_process peer({"python3", "-c", python_https_client,
                                    std::to_string(srv.port()),
                                    corio_test::test_pki::get().file("ca.pem"), mode});
    r.status = corio::run(
        [&]() -> corio::task<int> {
          corio::join_handle<void> running = corio::spawn(srv.serve());
          const int status = co_await corio::to_thread([&peer] { return peer.wait(); });
          srv.stop();
          co_await running;
          co_return status;
        }(),
        loop);
    r.output = peer.read_all();
    r.accepted = srv.connections_accepted();
    r.served = srv.requests_served();
  }
  CHECK(corio_test::open_fd_count() == fds);
  return r;
}

constexpr const char* python_requests_answered =
    "200 secure /a | 200 secure /b | 200 100000 bytes\n";

}  // namespace

TEST_CASE("http::server: serves https to Python's http.client over ssl", "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const python_session r = serve_python_client("plain", {});
  CHECK(r.status == 0);
  CHECK(r.output == python_requests_answered);
  CHECK(r.accepted == 1);
  CHECK(r.served == 3);
}

TEST_CASE(
    "http::server: a client that sends garbage for a ClientHello gets an alert, and the "
    "server goes on",
    "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const python_session r = serve_python_client("garbage", {});
  CHECK(r.status == 0);
  CHECK(r.output == std::string("garbage answered 15\n") + python_requests_answered);
  CHECK(r.accepted == 2);
  CHECK(r.served == 3);
}

namespace {

// What a Python client in `mode` made the server write to the debug output, with
// loop_options::debug as given (and no slow-step warnings from a loaded machine).
std::string debug_lines_for(const char* mode, bool debug) {
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  const python_session r = serve_python_client(
      mode, {}, {.debug = debug, .slow_step = std::chrono::hours(1), .debug_output = out});
  CHECK(r.status == 0);
  CHECK(r.served == 3);
  std::rewind(out);
  std::string lines;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, out)) > 0;)
    lines.append(buffer, n);
  std::fclose(out);
  return lines;
}

}  // namespace

TEST_CASE("http::server: in debug mode a failed handshake writes one line with the peer and why",
          "[http][tls][io_uring][debug]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // The loop writes lines of its own in debug mode (the backend on epoll, its
  // statistics at the end): the server's are those that name it.
  std::vector<std::string> server_lines;
  const std::string lines = debug_lines_for("garbage", true);
  for (std::size_t at = 0, end; (end = lines.find('\n', at)) != std::string::npos; at = end + 1) {
    if (lines.compare(at, 27, "corio: debug: http::server:") == 0)
      server_lines.push_back(lines.substr(at, end - at));
  }
  REQUIRE(server_lines.size() == 1);  // one line for the one failure
  CHECK_THAT(server_lines[0],
             StartsWith("corio: debug: http::server: TLS handshake with 127.0.0.1:"));
  CHECK_THAT(server_lines[0], ContainsSubstring(" failed: "));
  CHECK_THAT(server_lines[0], !EndsWith("failed: "));  // OpenSSL's reason follows
  // A client that completes its handshake writes nothing.
  CHECK(debug_lines_for("plain", true).find("http::server") == std::string::npos);
}

TEST_CASE("http::server: without debug mode a failed handshake writes nothing",
          "[http][tls][io_uring][debug]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CHECK(debug_lines_for("garbage", false).empty());
}

TEST_CASE(
    "http::server: a client that never finishes the handshake is closed after "
    "handshake_timeout",
    "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // Nothing else would close it (the idle timeout starts after the handshake): without
  // the handshake's limit, the client's 60 s socket timeout fails it. The limit also
  // holds for the client's real handshake, which a loaded machine was seen to take
  // longer than 200 ms for: 2 s.
  const auto start = std::chrono::steady_clock::now();
  const python_session r = serve_python_client("silent", {.handshake_timeout = 2s});
  CHECK(std::chrono::steady_clock::now() - start < 40s);
  CHECK(r.status == 0);
  CHECK(r.output == std::string("silent answered with a close\n") + python_requests_answered);
  CHECK(r.served == 3);
}

TEST_CASE("http::server: stop() ends connections still in their handshake",
          "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::size_t fds = corio_test::open_fd_count();
  corio::run([]() -> corio::task<> {
    const tls::context ctx = server_context();
    auto srv =
        http::server::bind("127.0.0.1", 0, {.tls = &ctx, .handshake_timeout = 0ms}, tls_routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    // A TCP client that never sends a ClientHello: the handshake waits forever.
    auto tcp = co_await corio::net::tcp_stream::connect("127.0.0.1", srv.port());
    while (srv.open_connections() == 0) {
      co_await corio::sleep(1ms);
    }
    srv.stop();
    co_await corio::wait_for(std::move(running), 10s);
    std::array<std::byte, 16> buf;
    const std::size_t n = co_await tcp.read_some(buf);
    CHECK(n == 0);  // the server closed its side
  }());
  CHECK(corio_test::open_fd_count() == fds);
}

TEST_CASE("http::server: corio's client fetches from corio's https server",
          "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    tls::context ctx = server_context();
    ctx.set_alpn({"http/1.1"});
    auto srv = http::server::bind("127.0.0.1", 0, {.tls = &ctx}, tls_routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    const std::string ca_file = corio_test::test_pki::get().file("ca.pem");
    const std::string base = "https://localhost:" + std::to_string(srv.port());
    http::client client({.ca_file = ca_file});
    for (int i = 0; i < 3; ++i) {
      const http::response res = co_await client.get(base + "/" + std::to_string(i));
      CHECK(res.body == "secure /" + std::to_string(i));
    }
    CHECK(srv.connections_accepted() == 1);  // one TLS session, kept alive
    // Plain HTTP to the https port is refused by the handshake; the server goes on.
    const bool refused = co_await ends_in<std::exception>(
        http::get("http://127.0.0.1:" + std::to_string(srv.port()) + "/plain"));
    CHECK(refused);
    const http::response after = co_await http::get(base + "/after", {.ca_file = ca_file});
    CHECK(after.body == "secure /after");
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::server: server_options::tls refuses a client context", "[http][tls]") {
  const tls::context client = tls::context::client(corio_test::test_pki::get().file("ca.pem"));
  CHECK_THROWS_WITH(http::server::bind("127.0.0.1", 0, {.tls = &client}, tls_routes),
                    ContainsSubstring("needs a server context"));
}
