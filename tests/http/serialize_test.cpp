// SPDX-License-Identifier: MIT
#include <corio/http/serialize.hpp>

#include <corio/http/parser.hpp>

#include <catch2/catch_test_macros.hpp>

#include <stdexcept>
#include <string>

using corio::http::request;
using corio::http::response;

TEST_CASE("serialize: writes a response with status line, Content-Length and Connection",
          "[http][serialize]") {
  response res{200, {{"Content-Type", "application/json"}}, "{\"id\":1}"};
  CHECK(corio::http::serialize(res) ==
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n"
        "Connection: keep-alive\r\n\r\n{\"id\":1}");
  CHECK(corio::http::serialize(res, {.keep_alive = false}).find("Connection: close\r\n") !=
        std::string::npos);
}

TEST_CASE("serialize: replaces framing fields the caller put in headers", "[http][serialize]") {
  response res{200, {{"Content-Length", "999"}, {"Transfer-Encoding", "chunked"}}, "ab"};
  std::string wire = corio::http::serialize(res);
  CHECK(wire.find("999") == std::string::npos);
  CHECK(wire.find("chunked") == std::string::npos);
  CHECK(wire.find("Content-Length: 2\r\n") != std::string::npos);
}

TEST_CASE("serialize: writes the head only for a HEAD response, with the body's length",
          "[http][serialize]") {
  response res{200, {}, "hello"};
  CHECK(corio::http::serialize(res, {.omit_body = true}) ==
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n");
}

TEST_CASE("serialize: a HEAD response with no body keeps the Content-Length it states",
          "[http][serialize]") {
  response res{200, {{"Content-Length", "12345"}}, ""};
  CHECK(corio::http::serialize(res, {.omit_body = true}) ==
        "HTTP/1.1 200 OK\r\nContent-Length: 12345\r\nConnection: keep-alive\r\n\r\n");
  // Without omit_body, or with a body, the writer's own length wins.
  CHECK(corio::http::serialize(res).find("Content-Length: 0\r\n") != std::string::npos);
  res.body = "ab";
  CHECK(corio::http::serialize(res, {.omit_body = true}).find("Content-Length: 2\r\n") !=
        std::string::npos);
  response bad{200, {{"Content-Length", "12, 13"}}, ""};
  CHECK_THROWS_AS(corio::http::serialize(bad, {.omit_body = true}), std::invalid_argument);
}

TEST_CASE("serialize: gives 204 and 304 neither Content-Length nor body", "[http][serialize]") {
  CHECK(corio::http::serialize(response{204, {}, "ignored"}) ==
        "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
  CHECK(corio::http::serialize(response{304, {}, ""}).find("Content-Length") == std::string::npos);
}

TEST_CASE("serialize: uses a custom reason phrase when one is set", "[http][serialize]") {
  response res{299, {}, ""};
  res.reason = "Fine";
  CHECK(corio::http::serialize(res).starts_with("HTTP/1.1 299 Fine\r\n"));
  CHECK(corio::http::serialize(response{299, {}, ""}).starts_with("HTTP/1.1 299 Unknown\r\n"));
}

TEST_CASE("serialize: writes a GET request without Content-Length", "[http][serialize]") {
  request req{"GET", "/api/v2/pokemon/1", {{"Host", "localhost:8080"}}};
  CHECK(corio::http::serialize(req) ==
        "GET /api/v2/pokemon/1 HTTP/1.1\r\nHost: localhost:8080\r\n\r\n");
  CHECK(corio::http::serialize(req, {.keep_alive = false}) ==
        "GET /api/v2/pokemon/1 HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\n\r\n");
}

TEST_CASE("serialize: writes Content-Length for a POST, even an empty one", "[http][serialize]") {
  CHECK(corio::http::serialize(request{"POST", "/", {{"Host", "h"}}, "xy"}) ==
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy");
  CHECK(corio::http::serialize(request{"POST", "/", {{"Host", "h"}}}).find("Content-Length: 0") !=
        std::string::npos);
}

TEST_CASE("serialize: asks an HTTP/1.0 peer to keep the connection", "[http][serialize]") {
  request req{"GET", "/", {}};
  req.version = corio::http::version::http_1_0;
  CHECK(corio::http::serialize(req) == "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
}

TEST_CASE("serialize: rejects a method, target, status or reason that would corrupt the stream",
          "[http][serialize][errors]") {
  CHECK_THROWS_AS(corio::http::serialize(request{"GE T", "/", {}}), std::invalid_argument);
  CHECK_THROWS_AS(corio::http::serialize(request{"GET", "/a b", {}}), std::invalid_argument);
  CHECK_THROWS_AS(corio::http::serialize(request{"GET", "/\r\nX: y", {}}), std::invalid_argument);
  CHECK_THROWS_AS(corio::http::serialize(request{"GET", "", {}}), std::invalid_argument);
  CHECK_THROWS_AS(corio::http::serialize(response{42, {}, ""}), std::invalid_argument);
  response res;
  res.reason = "OK\r\nX: y";
  CHECK_THROWS_AS(corio::http::serialize(res), std::invalid_argument);
}

TEST_CASE("serialize: appends to an existing buffer", "[http][serialize]") {
  std::string out = "prefix|";
  corio::http::serialize_to(out, response{200, {}, "a"});
  corio::http::serialize_to(out, response{200, {}, "b"});
  CHECK(out.starts_with("prefix|HTTP/1.1 200 OK\r\n"));
  CHECK(out.ends_with("\r\n\r\nb"));
}

TEST_CASE("serialize: round-trips through the parsers", "[http][serialize][parser]") {
  request req{"PUT", "/x?y=1", {{"Host", "h"}, {"X-A", "1"}}, "payload"};
  corio::http::request_parser rp;
  REQUIRE(rp.feed(corio::http::serialize(req)).status == corio::http::parse_status::complete);
  request got = rp.take();
  CHECK(got.method == req.method);
  CHECK(got.target == req.target);
  CHECK(got.body == req.body);
  CHECK(got.headers.get("x-a") == "1");

  response res{418, {{"X-B", "2"}}, "teapot"};
  corio::http::response_parser sp;
  REQUIRE(sp.feed(corio::http::serialize(res)).status == corio::http::parse_status::complete);
  response back = sp.take();
  CHECK(back.status == 418);
  CHECK(back.body == "teapot");
  CHECK(back.headers.get("x-b") == "2");
}
