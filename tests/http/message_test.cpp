// SPDX-License-Identifier: MIT
#include <corio/http/message.hpp>

#include <catch2/catch_test_macros.hpp>

#include <string>
#include <type_traits>

using corio::http::headers;
using corio::http::version;

TEST_CASE("response: has the fields status and body of the API contract", "[http][message]") {
  corio::http::response res{404, {{"Content-Type", "text/plain"}}, "not found\n"};
  static_assert(std::is_same_v<decltype(res.status), int>);
  static_assert(std::is_same_v<decltype(res.body), std::string>);
  CHECK(res.status == 404);
  CHECK(res.body == "not found\n");
  CHECK(res.headers.get("content-type") == "text/plain");
}

TEST_CASE("request: defaults to GET / over HTTP/1.1", "[http][message]") {
  corio::http::request req;
  CHECK(req.method == "GET");
  CHECK(req.target == "/");
  CHECK(req.version == version::http_1_1);
}

TEST_CASE("keep_alive: HTTP/1.1 keeps the connection unless Connection says close",
          "[http][message][keep-alive]") {
  CHECK(corio::http::keep_alive(version::http_1_1, {}));
  CHECK_FALSE(corio::http::keep_alive(version::http_1_1, {{"Connection", "close"}}));
  CHECK_FALSE(corio::http::keep_alive(version::http_1_1, {{"Connection", "Keep-Alive, Close"}}));
}

TEST_CASE("keep_alive: HTTP/1.0 closes the connection unless Connection says keep-alive",
          "[http][message][keep-alive]") {
  CHECK_FALSE(corio::http::keep_alive(version::http_1_0, {}));
  CHECK(corio::http::keep_alive(version::http_1_0, {{"Connection", "Keep-Alive"}}));
}

TEST_CASE("reason_phrase: names registered codes and says Unknown otherwise", "[http][message]") {
  CHECK(corio::http::reason_phrase(200) == "OK");
  CHECK(corio::http::reason_phrase(404) == "Not Found");
  CHECK(corio::http::reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(corio::http::reason_phrase(799) == "Unknown");
}

TEST_CASE("to_string: spells versions as on the wire", "[http][message]") {
  CHECK(corio::http::to_string(version::http_1_0) == "HTTP/1.0");
  CHECK(corio::http::to_string(version::http_1_1) == "HTTP/1.1");
}
