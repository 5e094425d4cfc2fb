// SPDX-License-Identifier: MIT
#include <corio/http/parser.hpp>

#include <catch2/catch_test_macros.hpp>

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using corio::http::parse_status;
using corio::http::parser_limits;
using corio::http::request;
using corio::http::request_parser;
using corio::http::response;
using corio::http::response_parser;

namespace {

// Feeds `wire` in pieces of `piece` bytes until the parser stops asking for
// more; returns the last status and the total bytes consumed.
template <typename Parser>
std::pair<parse_status, std::size_t> feed_in_pieces(Parser& parser, std::string_view wire,
                                                    std::size_t piece) {
  std::size_t offset = 0;
  while (offset < wire.size()) {
    auto r = parser.feed(wire.substr(offset, piece));
    offset += r.consumed;
    if (r.status != parse_status::need_more) {
      return {r.status, offset};
    }
  }
  return {parse_status::need_more, offset};
}

// Parses one request, fed whole; the pieces variant checks the same outcome
// for every piece size from 1 byte up.
request parse_request(std::string_view wire) {
  request_parser parser;
  auto r = parser.feed(wire);
  REQUIRE(r.status == parse_status::complete);
  REQUIRE(r.consumed == wire.size());
  return parser.take();
}

int request_error(std::string_view wire, parser_limits limits = {}) {
  request_parser parser(limits);
  auto [status, consumed] = feed_in_pieces(parser, wire, wire.size());
  REQUIRE(status == parse_status::error);
  // Splitting the input must not change the verdict.
  request_parser bytewise(limits);
  auto [status1, consumed1] = feed_in_pieces(bytewise, wire, 1);
  CHECK(status1 == parse_status::error);
  CHECK(bytewise.error().status == parser.error().status);
  return parser.error().status;
}

}  // namespace

TEST_CASE("request_parser: parses a GET request with headers", "[http][parser]") {
  request req = parse_request(
      "GET /api/v2/pokemon/25?x=1 HTTP/1.1\r\nHost: localhost\r\n"
      "Accept: */*\r\nX-Empty:\r\n\r\n");
  CHECK(req.method == "GET");
  CHECK(req.target == "/api/v2/pokemon/25?x=1");
  CHECK(req.version == corio::http::version::http_1_1);
  CHECK(req.headers.size() == 3);
  CHECK(req.headers.get("host") == "localhost");
  CHECK(req.headers.get("ACCEPT") == "*/*");
  CHECK(req.headers.get("x-empty") == "");
  CHECK(req.body.empty());
}

TEST_CASE("request_parser: trims optional whitespace around field values", "[http][parser]") {
  request req = parse_request("GET / HTTP/1.1\r\nHost:\t  example.org \t\r\n\r\n");
  CHECK(req.headers.get("host") == "example.org");
}

TEST_CASE("request_parser: gives the same request whatever the split of its bytes",
          "[http][parser][incremental]") {
  const std::string wire =
      "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4;name=\"v a\\\"l\";flag\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Checksum: 42\r\n\r\n";
  for (std::size_t piece = 1; piece <= wire.size(); ++piece) {
    request_parser parser;
    auto [status, consumed] = feed_in_pieces(parser, wire, piece);
    INFO("piece size " << piece);
    REQUIRE(status == parse_status::complete);
    CHECK(consumed == wire.size());
    request req = parser.take();
    CHECK(req.method == "POST");
    CHECK(req.body == "Wikipedia");
    CHECK(req.trailers.get("x-checksum") == "42");
  }
}

TEST_CASE("request_parser: reads a request fed one byte at a time", "[http][parser][incremental]") {
  const std::string wire = "PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  request_parser parser;
  for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
    auto r = parser.feed(std::string_view(wire).substr(i, 1));
    REQUIRE(r.status == parse_status::need_more);
    REQUIRE(r.consumed == 1);
  }
  auto r = parser.feed(std::string_view(wire).substr(wire.size() - 1));
  REQUIRE(r.status == parse_status::complete);
  CHECK(parser.take().body == "hello");
}

TEST_CASE("request_parser: leaves pipelined requests for the next feed",
          "[http][parser][pipelining]") {
  const std::string wire =
      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
      "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
  request_parser parser;
  std::string_view pending = wire;
  std::vector<request> got;
  while (!pending.empty()) {
    auto r = parser.feed(pending);
    REQUIRE(r.status == parse_status::complete);
    pending.remove_prefix(r.consumed);
    got.push_back(parser.take());
  }
  REQUIRE(got.size() == 3);
  CHECK(got[0].target == "/1");
  CHECK(got[1].target == "/2");
  CHECK(got[1].body == "abc");
  CHECK(got[2].target == "/3");
}

TEST_CASE("request_parser: decodes chunk extensions and trailers", "[http][parser][chunked]") {
  request req = parse_request(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "3 ; a=b ; c = \"d;e\"\r\nabc\r\nA\r\n0123456789\r\n0;last\r\n"
      "Expires: never\r\nX-Two: 2\r\n\r\n");
  CHECK(req.body == "abc0123456789");
  CHECK(req.trailers.size() == 2);
  CHECK(req.trailers.get("expires") == "never");
  CHECK_FALSE(req.headers.contains("expires"));
}

TEST_CASE("request_parser: ignores empty lines before the request line", "[http][parser]") {
  request req = parse_request("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(req.method == "GET");
}

TEST_CASE("request_parser: accepts Content-Length values that agree", "[http][parser]") {
  request req = parse_request(
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok");
  CHECK(req.body == "ok");
}

TEST_CASE("request_parser: applies keep-alive rules of HTTP/1.0 and HTTP/1.1",
          "[http][parser][keep-alive]") {
  auto keep = [](std::string_view wire) {
    request_parser parser;
    REQUIRE(parser.feed(wire).status == parse_status::complete);
    CHECK(parser.keep_alive() == parser.message().keep_alive());
    return parser.keep_alive();
  };
  CHECK(keep("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  CHECK_FALSE(keep("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
  CHECK_FALSE(keep("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n"));
  CHECK_FALSE(keep("GET / HTTP/1.0\r\n\r\n"));
  CHECK(keep("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
}

TEST_CASE("request_parser: reads HTTP/1.2 as HTTP/1.1 and rejects HTTP/2.0 with 505",
          "[http][parser][errors]") {
  CHECK(parse_request("GET / HTTP/1.2\r\nHost: h\r\n\r\n").version ==
        corio::http::version::http_1_1);
  CHECK(request_error("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505);
}

TEST_CASE("request_parser: answers 400 to a malformed request line", "[http][parser][errors]") {
  CHECK(request_error("GET /\r\n\r\n") == 400);
  CHECK(request_error("GET  / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(request_error("GET / HTTP/1.1 \r\nHost: h\r\n\r\n") == 400);
  CHECK(request_error("G(T / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(request_error("GET / HTTX/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(request_error("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
}

TEST_CASE("request_parser: answers 400 to a line ending in a bare LF or CR",
          "[http][parser][errors]") {
  CHECK(request_error("GET / HTTP/1.1\nHost: h\r\n\r\n") == 400);
  CHECK(request_error("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n") == 400);
}

TEST_CASE("request_parser: answers 400 to a malformed header field", "[http][parser][errors]") {
  CHECK(request_error("GET / HTTP/1.1\r\nHost h\r\n\r\n") == 400);
  CHECK(request_error("GET / HTTP/1.1\r\nHost : h\r\n\r\n") == 400);
  CHECK(request_error("GET / HTTP/1.1\r\n: h\r\n\r\n") == 400);
  CHECK(request_error("GET / HTTP/1.1\r\nHo@st: h\r\n\r\n") == 400);
}

TEST_CASE("request_parser: answers 400 to obsolete line folding", "[http][parser][errors]") {
  CHECK(request_error("GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n b\r\n\r\n") == 400);
  CHECK(request_error("GET / HTTP/1.1\r\n Host: h\r\n\r\n") == 400);
}

TEST_CASE("request_parser: answers 400 to NUL and control characters in a header",
          "[http][parser][errors]") {
  using namespace std::string_literals;
  CHECK(request_error("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"s) == 400);
  CHECK(request_error("GET / HTTP/1.1\r\nHost: h\r\nX\0: ab\r\n\r\n"s) == 400);
  CHECK(request_error("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n") == 400);
  CHECK(request_error("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b[0m\r\n\r\n") == 400);
}

TEST_CASE("request_parser: answers 400 to conflicting or invalid Content-Length",
          "[http][parser][errors]") {
  CHECK(request_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                      "Content-Length: 4\r\n\r\nabcd") == 400);
  CHECK(request_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd") == 400);
  CHECK(request_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n") == 400);
  CHECK(request_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n") == 400);
  CHECK(request_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n") == 400);
}

TEST_CASE("request_parser: answers 400 to Transfer-Encoding with Content-Length",
          "[http][parser][errors]") {
  CHECK(request_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400);
}

TEST_CASE(
    "request_parser: answers 501 to an unsupported transfer coding and 400 when chunked is "
    "not last",
    "[http][parser][errors]") {
  CHECK(request_error("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") ==
        501);
  CHECK(request_error("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n") == 400);
  CHECK(request_error(
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n") == 400);
  CHECK(request_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
}

TEST_CASE("request_parser: answers 400 to a bad chunk size or chunk framing",
          "[http][parser][errors][chunked]") {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  CHECK(request_error(head + "xyz\r\nabc\r\n0\r\n\r\n") == 400);
  CHECK(request_error(head + "\r\n") == 400);
  CHECK(request_error(head + "-1\r\n") == 400);
  CHECK(request_error(head + "3 x\r\nabc\r\n0\r\n\r\n") == 400);
  CHECK(request_error(head + "3;=v\r\nabc\r\n0\r\n\r\n") == 400);
  CHECK(request_error(head + "3;a=\"unterminated\r\nabc\r\n0\r\n\r\n") == 400);
  CHECK(request_error(head + "3\r\nabcd\r\n0\r\n\r\n") == 400);
  CHECK(request_error(head + "3\r\nabc\r\n0\r\nbad trailer\r\n\r\n") == 400);
  // RFC 9112 §7.1: BWS only before ";", never at the end of the line.
  CHECK(request_error(head + "5 \r\nhello\r\n0\r\n\r\n") == 400);
  CHECK(request_error(head + "5\t\r\nhello\r\n0\r\n\r\n") == 400);
  CHECK(request_error(head + "5;a \r\nhello\r\n0\r\n\r\n") == 400);
  CHECK(request_error(head + "5;a=b \r\nhello\r\n0\r\n\r\n") == 400);
  CHECK(request_error(head + "0 \r\n\r\n") == 400);
}

TEST_CASE("request_parser: accepts whitespace before a chunk extension and around its =",
          "[http][parser][chunked]") {
  request req = parse_request(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5 ;a = b\t;c\r\nhello\r\n0\r\n\r\n");
  CHECK(req.body == "hello");
}

TEST_CASE("request_parser: answers 400 to an HTTP/1.1 request without exactly one Host",
          "[http][parser][errors]") {
  CHECK(request_error("GET / HTTP/1.1\r\n\r\n") == 400);
  CHECK(request_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
}

TEST_CASE("request_parser: answers 400 to a Host that is not uri-host [ \":\" port ]",
          "[http][parser][errors]") {
  for (std::string_view host : {"a b", "@evil", "a/b", "[::1", "a:b:c", "a,b", "a@b", "[]",
                                "[::1]x", "h:8o", "%zz", "a\\b", "a?b", "a#b"}) {
    INFO(host);
    CHECK(request_error("GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n") == 400);
    CHECK(request_error("GET / HTTP/1.0\r\nHost: " + std::string(host) + "\r\n\r\n") == 400);
  }
}

TEST_CASE("request_parser: accepts every Host form RFC 9112 allows", "[http][parser]") {
  for (std::string_view host :
       {"", "example.org", "example.org:8080", "127.0.0.1:80", "[::1]", "[::1]:8080",
        "[fe80::1.2.3.4]", "a-b_c~d.e", "%41b", "h:", "x!$&'()*+;=y"}) {
    INFO(host);
    request req = parse_request("GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n");
    CHECK(req.headers.get("host") == host);
  }
}

TEST_CASE("request_parser: answers 431 to a header section over 64 KiB", "[http][parser][limits]") {
  std::string wire = "GET / HTTP/1.1\r\nHost: h\r\n";
  while (wire.size() <= 64 * 1024) {
    wire += "X-Filler: " + std::string(100, 'a') + "\r\n";
  }
  wire += "\r\n";
  CHECK(request_error(wire) == 431);
  // One field alone longer than the limit.
  CHECK(request_error("GET / HTTP/1.1\r\nX: " + std::string(70 * 1024, 'a')) == 431);
}

TEST_CASE("request_parser: accepts a header section of exactly the limit",
          "[http][parser][limits]") {
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  std::string wire = head + std::string(1000 - head.size() - 4, 'a') + "\r\n\r\n";
  REQUIRE(wire.size() == 1000);
  request_parser exact(parser_limits{.max_header_bytes = 1000});
  CHECK(exact.feed(wire).status == parse_status::complete);
  request_parser smaller(parser_limits{.max_header_bytes = 999});
  CHECK(smaller.feed(wire).status == parse_status::error);
  CHECK(smaller.error().status == 431);
}

TEST_CASE("request_parser: answers 414 to a request line over the header limit",
          "[http][parser][limits]") {
  CHECK(request_error("GET /" + std::string(70 * 1024, 'a') + " HTTP/1.1\r\n\r\n") == 414);
}

TEST_CASE("request_parser: answers 413 to a body over the limit", "[http][parser][limits]") {
  parser_limits small{.max_body_bytes = 10};
  CHECK(request_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", small) == 413);
  CHECK(request_error(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n") ==
        413);
  const std::string chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  CHECK(request_error(chunked + "6\r\nabcdef\r\n5\r\n", small) == 413);
  CHECK(request_error(chunked + "ffffffffffffffffffffffff\r\n") == 413);
  // Exactly the limit is fine.
  request_parser parser(small);
  CHECK(parser.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789").status ==
        parse_status::complete);
}

TEST_CASE("request_parser: announces the default limits of 64 KiB and 8 MiB",
          "[http][parser][limits]") {
  parser_limits limits;
  CHECK(limits.max_header_bytes == 64 * 1024);
  CHECK(limits.max_body_bytes == 8 * 1024 * 1024);
}

TEST_CASE("request_parser: stays failed after an error until reset", "[http][parser][errors]") {
  request_parser parser;
  CHECK(parser.feed("BAD\r\n").status == parse_status::error);
  CHECK(parser.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status == parse_status::error);
  CHECK(parser.error().status == 400);
  CHECK_FALSE(parser.error().message.empty());
  parser.reset();
  CHECK(parser.error().status == 0);
  CHECK(parser.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status == parse_status::complete);
}

TEST_CASE("request_parser: reports a clean close between requests and a cut-short request",
          "[http][parser][eof]") {
  request_parser idle;
  CHECK(idle.on_eof().status == parse_status::closed);

  request_parser after_one;
  REQUIRE(after_one.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status == parse_status::complete);
  (void)after_one.take();
  CHECK(after_one.on_eof().status == parse_status::closed);

  request_parser cut;
  CHECK(cut.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab").status ==
        parse_status::need_more);
  CHECK(cut.on_eof().status == parse_status::error);
  CHECK(cut.error().status == 400);
}

TEST_CASE("request_parser: take throws unless a request is complete", "[http][parser]") {
  request_parser parser;
  CHECK_THROWS_AS(parser.take(), std::logic_error);
  REQUIRE(parser.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status == parse_status::complete);
  (void)parser.take();
  CHECK_THROWS_AS(parser.take(), std::logic_error);
}

TEST_CASE("request_parser: reports Expect 100-continue while the body is pending",
          "[http][parser]") {
  request_parser parser;
  CHECK(
      parser.feed("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
          .status == parse_status::need_more);
  CHECK(parser.expects_continue());
  CHECK(parser.feed("ok").status == parse_status::complete);

  request_parser no_body;
  CHECK(no_body.feed("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n").status ==
        parse_status::complete);
  CHECK_FALSE(no_body.expects_continue());
}

TEST_CASE("request_parser: accepts bytes as std::span<const std::byte>", "[http][parser]") {
  std::string_view wire = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  std::vector<std::byte> bytes(wire.size());
  for (std::size_t i = 0; i < wire.size(); ++i) {
    bytes[i] = static_cast<std::byte>(wire[i]);
  }
  request_parser parser;
  CHECK(parser.feed(std::span<const std::byte>(bytes)).status == parse_status::complete);
}

// ---------------------------------------------------------------------------

TEST_CASE("response_parser: parses a Content-Length response", "[http][parser]") {
  response_parser parser;
  auto r = parser.feed(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Content-Length: 13\r\n\r\n{\"id\": 25}   ");
  REQUIRE(r.status == parse_status::complete);
  response res = parser.take();
  CHECK(res.status == 200);
  CHECK(res.reason == "OK");
  CHECK(res.headers.get("content-type") == "application/json");
  CHECK(res.body == "{\"id\": 25}   ");
  CHECK(parser.keep_alive());
}

TEST_CASE("response_parser: reads a body that ends at EOF", "[http][parser][eof]") {
  response_parser parser;
  CHECK(parser.feed("HTTP/1.0 200 OK\r\n\r\nhello ").status == parse_status::need_more);
  CHECK(parser.feed("world").status == parse_status::need_more);
  auto r = parser.on_eof();
  REQUIRE(r.status == parse_status::complete);
  CHECK_FALSE(parser.keep_alive());
  CHECK(parser.take().body == "hello world");
}

TEST_CASE("response_parser: a body until EOF is not keep-alive even in HTTP/1.1",
          "[http][parser][keep-alive]") {
  response_parser parser;
  CHECK(parser.feed("HTTP/1.1 200 OK\r\n\r\nabc").status == parse_status::need_more);
  REQUIRE(parser.on_eof().status == parse_status::complete);
  CHECK_FALSE(parser.keep_alive());
  CHECK(parser.take().body == "abc");
}

TEST_CASE("response_parser: applies keep-alive rules of HTTP/1.0 and HTTP/1.1",
          "[http][parser][keep-alive]") {
  auto keep = [](std::string_view wire) {
    response_parser parser;
    REQUIRE(parser.feed(wire).status == parse_status::complete);
    return parser.keep_alive();
  };
  CHECK(keep("HTTP/1.1 204 No Content\r\n\r\n"));
  CHECK_FALSE(keep("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"));
  CHECK_FALSE(keep("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
  CHECK(keep("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"));
}

TEST_CASE("response_parser: a response to HEAD has no body whatever its Content-Length",
          "[http][parser]") {
  response_parser parser;
  parser.set_request_method("HEAD");
  auto r = parser.feed("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 404 Not Found\r\n");
  REQUIRE(r.status == parse_status::complete);
  CHECK(r.consumed == std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n").size());
  CHECK(parser.take().body.empty());
}

TEST_CASE("response_parser: 204 and 304 responses have no body", "[http][parser]") {
  for (std::string_view wire : {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                                "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"}) {
    response_parser parser;
    auto r = parser.feed(wire);
    REQUIRE(r.status == parse_status::complete);
    CHECK(r.consumed == wire.size());
  }
}

TEST_CASE("response_parser: skips interim 1xx responses", "[http][parser]") {
  response_parser parser;
  auto r = parser.feed(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
  REQUIRE(r.status == parse_status::complete);
  response res = parser.take();
  CHECK(res.status == 201);
  CHECK_FALSE(res.headers.contains("link"));
  CHECK(res.body == "ok");
}

TEST_CASE("response_parser: replaces an obsolete line fold with a space", "[http][parser]") {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nX-Long: a\r\n  b \r\n\tc\r\nX-Empty:\r\n d\r\n"
      "Content-Length: 2\r\n\r\nok";
  for (std::size_t piece : {wire.size(), std::size_t{1}}) {
    response_parser parser;
    auto [status, consumed] = feed_in_pieces(parser, wire, piece);
    REQUIRE(status == parse_status::complete);
    response res = parser.take();
    CHECK(res.headers.get("x-long") == "a b c");
    CHECK(res.headers.get("x-empty") == "d");
    CHECK(res.headers.get("content-length") == "2");
    CHECK(res.body == "ok");
  }
  response_parser first;  // a fold with no field before it is whitespace before the first field
  CHECK(first.feed("HTTP/1.1 200 OK\r\n X: a\r\n\r\n").status == parse_status::error);
  response_parser control;
  CHECK(control.feed("HTTP/1.1 200 OK\r\nX: a\r\n b\x01\r\n\r\n").status == parse_status::error);
}

TEST_CASE("response_parser: reads a body whose last transfer coding is not chunked until EOF",
          "[http][parser][eof]") {
  for (std::string_view te : {"gzip", "chunked, gzip", "identity"}) {
    INFO(te);
    response_parser parser;
    const std::string head =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + std::string(te) + "\r\n\r\n";
    CHECK(parser.feed(head + "\x1f\x8b raw").status == parse_status::need_more);
    REQUIRE(parser.on_eof().status == parse_status::complete);
    CHECK_FALSE(parser.keep_alive());
    response res = parser.take();
    CHECK(res.body == "\x1f\x8b raw");
    CHECK(res.headers.get("transfer-encoding") == te);
  }
  response_parser malformed;
  CHECK(malformed.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: g zip\r\n\r\n").status ==
        parse_status::error);
}

TEST_CASE("response_parser: decodes a chunked response fed one byte at a time",
          "[http][parser][chunked][incremental]") {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n";
  response_parser parser;
  auto [status, consumed] = feed_in_pieces(parser, wire, 1);
  REQUIRE(status == parse_status::complete);
  CHECK(consumed == wire.size());
  response res = parser.take();
  CHECK(res.body == "hello world");
  CHECK(res.trailers.get("x-trailer") == "yes");
}

TEST_CASE("response_parser: accepts a status line without a reason phrase", "[http][parser]") {
  response_parser parser;
  REQUIRE(parser.feed("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n").status ==
          parse_status::complete);
  CHECK(parser.message().status == 404);
  CHECK(parser.message().reason.empty());
}

TEST_CASE("response_parser: rejects malformed status lines", "[http][parser][errors]") {
  for (std::string_view wire :
       {"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n",
        "HTTP/1.1\r\n\r\n", "ICY 200 OK\r\n\r\n", "HTTP/1.1 200 O\x01K\r\n\r\n"}) {
    response_parser parser;
    INFO(wire);
    CHECK(parser.feed(wire).status == parse_status::error);
    CHECK(parser.error().status == 400);
  }
}

TEST_CASE("response_parser: reports a connection closed before any response as closed",
          "[http][parser][eof]") {
  response_parser parser;
  CHECK(parser.on_eof().status == parse_status::closed);
  response_parser cut;
  CHECK(cut.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").status ==
        parse_status::need_more);
  CHECK(cut.on_eof().status == parse_status::error);
}

TEST_CASE("response_parser: answers 413 to a body until EOF over the limit",
          "[http][parser][limits]") {
  response_parser parser(parser_limits{.max_body_bytes = 4});
  CHECK(parser.feed("HTTP/1.1 200 OK\r\n\r\nabcd").status == parse_status::need_more);
  CHECK(parser.feed("e").status == parse_status::error);
  CHECK(parser.error().status == 413);
}

TEST_CASE("response_parser: parses pipelined responses in order", "[http][parser][pipelining]") {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc";
  response_parser parser;
  std::string bodies;
  std::string_view pending = wire;
  while (!pending.empty()) {
    auto r = parser.feed(pending);
    REQUIRE(r.status == parse_status::complete);
    pending.remove_prefix(r.consumed);
    bodies += parser.take().body;
  }
  CHECK(bodies == "abc");
}
