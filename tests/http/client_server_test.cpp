// SPDX-License-Identifier: MIT
// tests/http/client_server_test.cpp: corio::http's client against its server (and
// against raw sockets), over the loopback interface, on a real kernel.
#include <corio/http/client.hpp>
#include <corio/http/server.hpp>

#include <corio/error.hpp>
#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/http/message.hpp>
#include <corio/http/parser.hpp>
#include <corio/net/tcp.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/wait_for.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/bytes_and_fds.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace http = corio::http;
namespace net = corio::net;
using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using corio_test::caught;
using corio_test::ends_in;

namespace {

using clock_type = std::chrono::steady_clock;

// The routes every test server answers.
//   /slow         sleeps 2 s first
//   /boom         throws
//   /old          302 to /new;  /new: "new"
//   /loop         302 to itself
//   /see-other    303 to /echo
//   /a            answers after 50 ms (so that /b, sent after it, would overtake it)
//   anything else echoes "<method> <target> <body>"
corio::task<http::response> routes(http::request req) {
  if (req.target == "/slow") {
    co_await corio::sleep(2s);
  }
  if (req.target == "/boom") {
    throw std::runtime_error("handler failure");
  }
  if (req.target == "/old") {
    co_return http::response{302, {{"Location", "/new"}}};
  }
  if (req.target == "/new") {
    co_return http::response{200, {}, "new"};
  }
  if (req.target == "/loop") {
    co_return http::response{302, {{"Location", "/loop"}}};
  }
  if (req.target == "/see-other") {
    co_return http::response{303, {{"Location", "/echo"}}};
  }
  if (req.target == "/a") {
    co_await corio::sleep(50ms);
  }
  co_return http::response{
      200, {{"Content-Type", "text/plain"}}, req.method + " " + req.target + " " + req.body};
}

std::string base_url(const http::server& srv) {
  return "http://127.0.0.1:" + std::to_string(srv.port());
}

// Reads until the peer ends the stream (or 5 s pass).
corio::task<std::string> read_to_end(net::tcp_stream& s) {
  std::string out;
  std::array<std::byte, 4096> buf;
  const auto deadline = clock_type::now() + 5s;
  while (clock_type::now() < deadline) {
    const std::size_t n = co_await corio::wait_for(s.read_some(buf), 5s);
    if (n == 0) {
      break;
    }
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  co_return out;
}

// Reads `count` responses from a raw stream.
corio::task<std::vector<http::response>> read_responses(net::tcp_stream& s, std::size_t count) {
  http::response_parser parser;
  std::vector<http::response> out;
  std::array<std::byte, 4096> buf;
  std::span<const std::byte> pending;
  while (out.size() < count) {
    if (pending.empty()) {
      const std::size_t n = co_await corio::wait_for(s.read_some(buf), 5s);
      if (n == 0) {
        break;
      }
      pending = std::span<const std::byte>(buf).first(n);
    }
    const http::parse_result r = parser.feed(pending);
    pending = pending.subspan(r.consumed);
    if (r.status == http::parse_status::complete) {
      out.push_back(parser.take());
    }
    if (r.status == http::parse_status::error) {
      break;
    }
  }
  co_return out;
}

corio::task<> joined(corio::join_handle<void>& h) {
  co_await h;
}

// Waits, 5 s at most, until the server has `n` connections open. It accepts
// and closes them in later loop turns, which a loaded machine can delay past
// any fixed sleep.
corio::task<> open_connections_become(const http::server& srv, std::size_t n) {
  const auto deadline = clock_type::now() + 5s;
  while (srv.open_connections() != n && clock_type::now() < deadline)
    co_await corio::sleep(1ms);
}

// Reads a request head from a raw stream; false if the peer closed first.
corio::task<bool> read_head(net::tcp_stream& s) {
  std::string head;
  std::array<std::byte, 1024> buf;
  while (head.find("\r\n\r\n") == std::string::npos) {
    const std::size_t n = co_await s.read_some(buf);
    if (n == 0) {
      co_return false;
    }
    head.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  co_return true;
}

// Accepts one connection, reads one request head, writes `reply` and closes.
corio::task<> raw_reply_once(net::tcp_listener& listener, std::string reply) {
  net::tcp_stream s = co_await listener.accept();
  const bool got_head = co_await read_head(s);
  if (got_head) {
    co_await s.write_all(reply);
    s.shutdown_write();
  }
}

}  // namespace

TEST_CASE("http::get: returns status, header fields (Date among them) and a Content-Length body",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    http::response res = co_await http::get(base_url(srv) + "/hello?x=1");
    CHECK(res.status == 200);
    CHECK(res.body == "GET /hello?x=1 ");
    CHECK(res.headers.get("content-type") == "text/plain");
    CHECK(res.headers.get("content-length") == "15");
    const std::string date(res.headers.get("date").value_or(""));
    CHECK(date.size() == 29);  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    CHECK_THAT(date, Catch::Matchers::EndsWith(" GMT"));
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::get: decodes a chunked body", "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    const std::string url =
        "http://127.0.0.1:" + std::to_string(listener.local_port()) + "/chunked";
    corio::join_handle<void> server = corio::spawn(
        raw_reply_once(listener,
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"));
    http::response res = co_await http::get(url);
    co_await server;
    CHECK(res.status == 200);
    CHECK(res.body == "hello world");
    CHECK(res.trailers.get("x-trailer") == "yes");
  }());
}

TEST_CASE("http::get: reads a body that ends when the server closes", "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    const std::string url = "http://127.0.0.1:" + std::to_string(listener.local_port()) + "/";
    corio::join_handle<void> server =
        corio::spawn(raw_reply_once(listener, "HTTP/1.0 200 OK\r\n\r\nuntil the end"));
    http::response res = co_await http::get(url);
    co_await server;
    CHECK(res.body == "until the end");
  }());
}

TEST_CASE("http::get: joins obsolete line folds and reads a gzip transfer coding until close",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    const std::string url = "http://127.0.0.1:" + std::to_string(listener.local_port()) + "/";
    corio::join_handle<void> server = corio::spawn(
        raw_reply_once(listener,
                       "HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\nTransfer-Encoding: gzip\r\n\r\n"
                       "\x1f\x8b not really gzip"));
    http::response res = co_await http::get(url);
    co_await server;
    CHECK(res.status == 200);
    CHECK(res.headers.get("x-folded") == "a b");
    CHECK(res.headers.get("transfer-encoding") == "gzip");
    CHECK(res.body == "\x1f\x8b not really gzip");
  }());
}

namespace {

// Answers the first connection's request with 101 and keeps that connection
// open without reading it; answers every later connection's request with 200.
corio::task<> upgrade_then_ok(net::tcp_listener& listener, int connections) {
  net::tcp_stream upgraded;
  for (int i = 0; i < connections; ++i) {
    net::tcp_stream s = co_await listener.accept();
    const bool got_head = co_await read_head(s);
    if (!got_head)
      co_return;
    if (i == 0) {
      co_await s.write_all(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n");
      upgraded = std::move(s);
    } else {
      co_await s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
  }
}

}  // namespace

TEST_CASE("http::client: never pools a connection after 101 Switching Protocols",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    const std::string url = "http://127.0.0.1:" + std::to_string(listener.local_port()) + "/";
    corio::join_handle<void> server = corio::spawn(upgrade_then_ok(listener, 2));
    http::client client({.timeout = 5s});
    http::response up = co_await client.get(url);
    CHECK(up.status == 101);
    CHECK(client.idle_connections() == 0);
    http::response next = co_await client.get(url);  // on a new connection, not the upgraded one
    CHECK(next.status == 200);
    CHECK(next.body == "ok");
    co_await server;
  }());
}

TEST_CASE("http::client: sends two requests to one host on one connection",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    http::client c;
    http::response first = co_await c.get(base_url(srv) + "/one");
    http::response second = co_await c.get(base_url(srv) + "/two");
    CHECK(first.body == "GET /one ");
    CHECK(second.body == "GET /two ");
    CHECK(srv.connections_accepted() == 1);
    CHECK(c.idle_connections() == 1);

    // The free get() uses a connection of its own each time.
    co_await http::get(base_url(srv) + "/three");
    CHECK(srv.connections_accepted() == 2);
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::client: replaces a pooled connection the server has closed",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, {.idle_timeout = 100ms}, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    http::client c;
    co_await c.get(base_url(srv) + "/one");
    co_await open_connections_become(srv, 0);  // the server's idle timeout closed it
    http::response again = co_await c.get(base_url(srv) + "/two");
    CHECK(again.status == 200);
    CHECK(again.body == "GET /two ");
    CHECK(srv.connections_accepted() == 2);
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::client: request() sends method, fields and body", "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    http::client c;
    // Built before the co_await: g++ 12 rejects an initializer list inside one ("array used as
    // initializer").
    http::request req("POST", base_url(srv) + "/items", {{"Content-Type", "text/plain"}},
                      "payload");
    http::response res = co_await c.request(std::move(req));
    CHECK(res.status == 200);
    CHECK(res.body == "POST /items payload");
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::server: answers pipelined requests in the order they were sent",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    net::tcp_stream s = co_await net::tcp_stream::connect("127.0.0.1", srv.port());
    co_await s.write_all(
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz");
    std::vector<http::response> got = co_await read_responses(s, 3);
    REQUIRE(got.size() == 3);
    CHECK(got[0].body == "GET /a ");
    CHECK(got[1].body == "GET /b ");
    CHECK(got[2].body == "POST /c xyz");
    CHECK(srv.connections_accepted() == 1);
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::server: answers a malformed request line with 400 and closes",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    net::tcp_stream s = co_await net::tcp_stream::connect("127.0.0.1", srv.port());
    co_await s.write_all("nonsense-without-spaces\r\n\r\n");
    const std::string reply = co_await read_to_end(s);
    CHECK_THAT(reply, StartsWith("HTTP/1.1 400 Bad Request\r\n"));
    CHECK_THAT(reply, ContainsSubstring("Connection: close"));
    CHECK_THAT(reply, ContainsSubstring("malformed request line"));
    // The server goes on.
    http::response ok = co_await http::get(base_url(srv) + "/after");
    CHECK(ok.status == 200);
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::server: answers header fields over 64 KiB with 431", "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    net::tcp_stream s = co_await net::tcp_stream::connect("127.0.0.1", srv.port());
    const std::string request =
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n";
    co_await s.write_all(request);
    std::vector<http::response> got = co_await read_responses(s, 1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].status == 431);
    CHECK_FALSE(got[0].keep_alive());
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::server: answers a body over max_body_bytes with 413", "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, {.max_body_bytes = 1024}, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());

    // Announced too large.
    net::tcp_stream s = co_await net::tcp_stream::connect("127.0.0.1", srv.port());
    co_await s.write_all("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n" +
                         std::string(4096, 'b'));
    std::vector<http::response> got = co_await read_responses(s, 1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].status == 413);

    // Chunked, found too large on the way.
    net::tcp_stream t = co_await net::tcp_stream::connect("127.0.0.1", srv.port());
    co_await t.write_all("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                         std::string("800\r\n") + std::string(2048, 'c') + "\r\n0\r\n\r\n");
    got = co_await read_responses(t, 1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].status == 413);
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::server: closes a connection that sends nothing after idle_timeout",
          "[http][net][io_uring][timing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, {.idle_timeout = 200ms}, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    const auto start = clock_type::now();
    net::tcp_stream s = co_await net::tcp_stream::connect("127.0.0.1", srv.port());
    const std::string reply = co_await read_to_end(s);
    const auto elapsed = clock_type::now() - start;
    CHECK(reply.empty());
    CHECK(elapsed >= 200ms);
    CHECK(elapsed < 200ms + 3s);
    CHECK(srv.open_connections() == 0);
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::server: answers a request cut short by silence with 408",
          "[http][net][io_uring][timing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, {.idle_timeout = 200ms}, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    const auto start = clock_type::now();
    net::tcp_stream s = co_await net::tcp_stream::connect("127.0.0.1", srv.port());
    co_await s.write_all("GET / HTTP/1.1\r\nHo");
    const std::string reply = co_await read_to_end(s);
    const auto elapsed = clock_type::now() - start;
    CHECK_THAT(reply, StartsWith("HTTP/1.1 408 Request Timeout\r\n"));
    CHECK(elapsed >= 200ms);
    CHECK(elapsed < 200ms + 3s);
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::server: answers 500 when the handler throws, and goes on",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    http::client c;
    http::response boom = co_await c.get(base_url(srv) + "/boom");
    http::response after = co_await c.get(base_url(srv) + "/after");
    CHECK(boom.status == 500);
    CHECK_THAT(boom.body, !ContainsSubstring("handler failure"));  // no internals leak
    CHECK(after.status == 200);
    CHECK(srv.connections_accepted() == 1);  // the connection survived too
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::server: answers HEAD without a body and Expect: 100-continue with 100",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    net::tcp_stream s = co_await net::tcp_stream::connect("127.0.0.1", srv.port());
    co_await s.write_all("HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const std::string head = co_await read_to_end(s);
    CHECK_THAT(head, StartsWith("HTTP/1.1 200 OK\r\n"));
    CHECK_THAT(head, ContainsSubstring("Content-Length: 8\r\n"));
    CHECK(head.substr(head.size() - 4) == "\r\n\r\n");  // nothing after the head

    net::tcp_stream t = co_await net::tcp_stream::connect("127.0.0.1", srv.port());
    co_await t.write_all(
        "PUT /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    std::array<std::byte, 25> interim;
    co_await corio::wait_for(t.read_exact(interim), 5s);
    CHECK(corio_test::text_of(interim) == "HTTP/1.1 100 Continue\r\n\r\n");
    co_await t.write_all("data");
    std::vector<http::response> got = co_await read_responses(t, 1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].body == "PUT /p data");
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::server: stop() closes idle connections and serve() returns",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    http::client c;
    co_await c.get(base_url(srv) + "/one");  // leaves an idle keep-alive connection
    net::tcp_stream raw = co_await net::tcp_stream::connect("127.0.0.1", srv.port());
    co_await raw.write_all("GET / HTTP/1.1\r\nHo");  // and one halfway through a request
    co_await open_connections_become(srv, 2);
    CHECK(srv.open_connections() == 2);
    srv.stop();
    co_await corio::wait_for(joined(running), 5s);
    CHECK(srv.open_connections() == 0);
    const std::string rest = co_await read_to_end(raw);
    CHECK(rest.empty());
    // The listener is closed: nobody accepts any more.
    const auto e =
        co_await caught<std::system_error>(net::tcp_stream::connect("127.0.0.1", srv.port()));
    const bool refused = e && e->code() == std::error_code(ECONNREFUSED, std::system_category());
    CHECK(refused);
  }());
}

namespace {
http::server* stop_target = nullptr;
corio::task<http::response> stop_from_handler(http::request) {
  co_await corio::sleep(10ms);
  stop_target->stop();
  co_await corio::sleep(10ms);
  co_return http::response{200, {}, "bye"};
}
}  // namespace

TEST_CASE("http::server: stop() from a handler still answers that request",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, stop_from_handler);
    stop_target = &srv;
    corio::join_handle<void> running = corio::spawn(srv.serve());
    http::client c;
    http::response res = co_await c.get(base_url(srv) + "/stop");
    co_await corio::wait_for(joined(running), 5s);
    CHECK(res.status == 200);
    CHECK(res.body == "bye");
    CHECK_FALSE(res.keep_alive());
    CHECK(c.idle_connections() == 0);
    stop_target = nullptr;
  }());
}

TEST_CASE("http::server: cancelling serve() ends every connection, handlers included",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    corio::event entered;
    auto srv = http::server::bind("127.0.0.1", 0,
                                  [&entered](http::request req) -> corio::task<http::response> {
                                    entered.set();
                                    co_return co_await routes(std::move(req));
                                  });
    corio::join_handle<void> running = corio::spawn(srv.serve());
    net::tcp_stream s = co_await net::tcp_stream::connect("127.0.0.1", srv.port());
    co_await s.write_all("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    co_await entered.wait();  // the handler runs: not a fixed sleep a slow machine may outlast
    const auto start = clock_type::now();
    running.cancel();
    const bool cancelled = co_await corio_test::ends_in<corio::cancelled_error>(running);
    CHECK(cancelled);
    CHECK(clock_type::now() - start < 1s);  // the 2 s handler did not finish
    CHECK(srv.open_connections() == 0);
    const std::string rest = co_await read_to_end(s);
    CHECK(rest.empty());
  }());
}

TEST_CASE("http::server: destroying it while serve() is pending cancels everything, safely",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    corio::event entered;
    std::optional<http::server> srv(http::server::bind(
        "127.0.0.1", 0, [&entered](http::request req) -> corio::task<http::response> {
          if (req.target == "/stuck") {
            entered.set();
            co_await corio::sleep(60s);
          }
          co_return http::response{200, {}, "ok"};
        }));
    corio::join_handle<void> running = corio::spawn(srv->serve());
    net::tcp_stream quiet = co_await net::tcp_stream::connect("127.0.0.1", srv->port());
    co_await quiet.write_all("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    const std::vector<http::response> answered = co_await read_responses(quiet, 1);
    CHECK(answered.size() == 1);  // served, now idle in keep-alive
    net::tcp_stream stuck = co_await net::tcp_stream::connect("127.0.0.1", srv->port());
    co_await stuck.write_all("GET /stuck HTTP/1.1\r\nHost: h\r\n\r\n");
    co_await entered.wait();  // its handler runs
    srv.reset();
    const auto e = co_await caught<std::logic_error>(running);
    if (e)
      CHECK_THAT(e->what(), ContainsSubstring("destroyed while serve() is pending"));
    const bool logic_error = e.has_value();
#ifdef NDEBUG
    CHECK_FALSE(logic_error);
#else
    CHECK(logic_error);
#endif
    // Both connections were closed, the one in a handler too.
    const std::string rest = co_await read_to_end(stuck);
    CHECK(rest.empty());
    const std::string nothing = co_await read_to_end(quiet);
    CHECK(nothing.empty());
  }());
}

TEST_CASE("http::server: reads a request larger than the first read buffer",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    http::client client;
    const std::string body(100 * 1024, 'b');
    for (int i = 0; i < 3; ++i) {  // the grown buffer carries the next requests
      http::response res =
          co_await client.request({"POST", base_url(srv) + "/big", {}, body + std::to_string(i)});
      CHECK(res.body == "POST /big " + body + std::to_string(i));
    }
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::get: returns a redirect as it is unless asked to follow it",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    http::response plain = co_await http::get(base_url(srv) + "/old");
    CHECK(plain.status == 302);
    CHECK(plain.headers.get("location") == "/new");

    http::response followed =
        co_await http::get(base_url(srv) + "/old", {.follow_redirects = true});
    CHECK(followed.status == 200);
    CHECK(followed.body == "new");

    // 303 turns a POST into a GET without a body.
    http::client c({.follow_redirects = true});
    http::request post("POST", base_url(srv) + "/see-other", {}, "data");
    http::response seen = co_await c.request(std::move(post));
    CHECK(seen.body == "GET /echo ");

    const auto e = co_await caught<http::response_error>(
        http::get(base_url(srv) + "/loop", {.follow_redirects = true, .max_redirects = 3}));
    const std::string error = e ? e->what() : "";
    CHECK_THAT(error, ContainsSubstring("more than 3 redirects") && ContainsSubstring("/loop"));
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::get: throws timeout_error when the server answers too late",
          "[http][net][io_uring][timing]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto srv = http::server::bind("127.0.0.1", 0, routes);
    corio::join_handle<void> running = corio::spawn(srv.serve());
    const auto start = clock_type::now();
    const bool timed_out = co_await ends_in<corio::timeout_error>(
        http::get(base_url(srv) + "/slow", {.timeout = 100ms}));
    const auto elapsed = clock_type::now() - start;
    CHECK(timed_out);
    CHECK(elapsed >= 100ms);
    CHECK(elapsed < 100ms + 1500ms);
    srv.stop();
    co_await running;
  }());
}

TEST_CASE("http::get: a refused connection throws system_error ECONNREFUSED",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::uint16_t port = 0;
  {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    port = listener.local_port();
  }
  corio::run([](std::uint16_t port) -> corio::task<> {
    const auto e = co_await caught<std::system_error>(
        http::get("http://127.0.0.1:" + std::to_string(port) + "/"));
    const std::error_code code = e ? e->code() : std::error_code();
    CHECK(code == std::error_code(ECONNREFUSED, std::system_category()));
  }(port));
}

TEST_CASE("http::get: a malformed response throws response_error naming the URL",
          "[http][net][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::run([]() -> corio::task<> {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    const std::string url = "http://127.0.0.1:" + std::to_string(listener.local_port()) + "/bad";
    corio::join_handle<void> server =
        corio::spawn(raw_reply_once(listener, "SPDY/3 200 OK\r\n\r\n"));
    const auto malformed = co_await caught<http::response_error>(http::get(url));
    co_await server;
    REQUIRE(malformed);
    CHECK_THAT(malformed->what(), ContainsSubstring(url) && ContainsSubstring("malformed"));
    CHECK(malformed->url() == url);

    // A server that closes without a word.
    corio::join_handle<void> silent = corio::spawn(raw_reply_once(listener, ""));
    const auto unanswered = co_await caught<http::response_error>(http::get(url));
    co_await silent;
    REQUIRE(unanswered);
    CHECK_THAT(unanswered->what(), ContainsSubstring("closed the connection without answering"));
  }());
}
