// SPDX-License-Identifier: MIT
#include <corio/http/headers.hpp>

#include <catch2/catch_test_macros.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using corio::http::headers;

TEST_CASE("headers: looks names up ignoring case", "[http][headers]") {
  headers h{{"Content-Length", "12"}, {"X-Custom", "a b"}};
  CHECK(h.get("content-length") == "12");
  CHECK(h.get("CONTENT-LENGTH") == "12");
  CHECK(h.get("x-custom") == "a b");
  CHECK_FALSE(h.get("content-type").has_value());
  CHECK(h.contains("X-CUSTOM"));
}

TEST_CASE("headers: keeps fields in order and repeated names apart", "[http][headers]") {
  headers h;
  h.add("Set-Cookie", "a=1");
  h.add("Host", "h");
  h.add("set-cookie", "b=2");
  REQUIRE(h.size() == 3);
  CHECK(h[0].name == "Set-Cookie");
  CHECK(h[2].value == "b=2");
  CHECK(h.count("SET-COOKIE") == 2);
  CHECK(h.get("set-cookie") == "a=1");
  std::vector<std::string> names;
  for (corio::http::field f : h) {
    names.emplace_back(f.name);
  }
  CHECK(names == std::vector<std::string>{"Set-Cookie", "Host", "set-cookie"});
}

TEST_CASE("headers: set replaces every field of that name", "[http][headers]") {
  headers h{{"A", "1"}, {"b", "2"}, {"a", "3"}};
  h.set("A", "4");
  CHECK(h.count("a") == 1);
  CHECK(h.get("a") == "4");
  CHECK(h[0].name == "b");
  CHECK(h.remove("B") == 1);
  CHECK(h.size() == 1);
  CHECK(h.remove("missing") == 0);
}

TEST_CASE("headers: set accepts a view of its own contents", "[http][headers]") {
  headers h{{"Alpha", "value-of-alpha-long-enough-to-allocate"}};
  std::string_view value = *h.get("alpha");
  h.set("Beta", value);
  h.set("Alpha", *h.get("beta"));
  CHECK(h.get("alpha") == "value-of-alpha-long-enough-to-allocate");
}

TEST_CASE("headers: finds a token in comma-separated lists", "[http][headers]") {
  headers h{{"Connection", "keep-alive, Upgrade"}, {"Connection", " ,TE"}};
  CHECK(h.has_token("connection", "upgrade"));
  CHECK(h.has_token("connection", "te"));
  CHECK_FALSE(h.has_token("connection", "close"));
  CHECK_FALSE(h.has_token("connection", "keep"));
}

TEST_CASE("headers: trims value whitespace on add", "[http][headers]") {
  headers h;
  h.add("X", " \t v \t");
  CHECK(h.get("x") == "v");
}

TEST_CASE("headers: rejects names that are not tokens and values with control characters",
          "[http][headers][errors]") {
  headers h;
  CHECK_THROWS_AS(h.add("Bad Name", "v"), std::invalid_argument);
  CHECK_THROWS_AS(h.add("", "v"), std::invalid_argument);
  CHECK_THROWS_AS(h.add("X", "a\r\nInjected: yes"), std::invalid_argument);
  using namespace std::string_literals;
  CHECK_THROWS_AS(h.add("X", "a\0b"s), std::invalid_argument);
  CHECK(h.empty());
}

TEST_CASE("headers: compares equal ignoring name case only", "[http][headers]") {
  CHECK(headers{{"A", "x"}} == headers{{"a", "x"}});
  CHECK_FALSE(headers{{"A", "x"}} == headers{{"A", "X"}});
}
