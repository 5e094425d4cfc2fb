// SPDX-License-Identifier: MIT
#include <corio/http/url.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <stdexcept>
#include <string>

using Catch::Matchers::ContainsSubstring;
using corio::http::url;

TEST_CASE("url: splits host, port and target", "[http][url]") {
  url u = url::parse("http://example.org:8080/api/v2/pokemon/25?lang=en#top");
  CHECK(u.host == "example.org");
  CHECK(u.port == 8080);
  CHECK(u.target == "/api/v2/pokemon/25?lang=en");
  CHECK(u.authority() == "example.org:8080");
}

TEST_CASE("url: defaults to port 80 and target /", "[http][url]") {
  url u = url::parse("HTTP://localhost");
  CHECK(u.host == "localhost");
  CHECK(u.port == 80);
  CHECK(u.target == "/");
  CHECK(u.authority() == "localhost");
  CHECK(url::parse("http://localhost:/").port == 80);
}

TEST_CASE("url: puts a query without a path after /", "[http][url]") {
  CHECK(url::parse("http://h?q=1").target == "/?q=1");
}

TEST_CASE("url: reads IPv6 literals in brackets", "[http][url]") {
  url u = url::parse("http://[::1]:8080/x");
  CHECK(u.host == "::1");
  CHECK(u.port == 8080);
  CHECK(u.target == "/x");
  CHECK(u.authority() == "[::1]:8080");
  url v = url::parse("http://[2001:db8::7]");
  CHECK(v.host == "2001:db8::7");
  CHECK(v.authority() == "[2001:db8::7]");
}

TEST_CASE("url: parses https with its default port 443", "[http][url]") {
  url u = url::parse("HTTPS://pokeapi.co/api/v2/pokemon/1");
  CHECK(u.scheme == "https");
  CHECK(u.port == 443);
  CHECK(u.authority() == "pokeapi.co");
  CHECK(u.target == "/api/v2/pokemon/1");
  url v = url::parse("https://localhost:8443");
  CHECK(v.port == 8443);
  CHECK(v.authority() == "localhost:8443");
  CHECK(url::parse("http://x/").scheme == "http");
  CHECK(url::parse("http://x:443/").authority() == "x:443");
}

TEST_CASE("url: rejects malformed URLs with std::invalid_argument", "[http][url][errors]") {
  for (const char* text : {"",
                           "example.org/",
                           "ftp://h/",
                           "http:/h/",
                           "http://",
                           "http:///x",
                           "http://h:0/",
                           "http://h:65536/",
                           "http://h:8o/",
                           "http://u@h/",
                           "http://[::1/",
                           "http://[::g]/",
                           "http://[]/",
                           "http://[::1]x/",
                           "http://[fe80::1%25eth0]/",
                           "http://::1/",
                           "http://h/a b",
                           "http://h/\x01",
                           "http://h\xc3\xa9/",
                           "http://h:99999999999/"}) {
    INFO(text);
    CHECK_THROWS_AS(url::parse(text), std::invalid_argument);
  }
}

TEST_CASE("url: names the URL and the fault in its error message", "[http][url][errors]") {
  CHECK_THROWS_WITH(url::parse("http://h:70000/"),
                    ContainsSubstring("http://h:70000/") && ContainsSubstring("port"));
}
