// SPDX-License-Identifier: MIT
// tests/net/address_test.cpp: parsing, formatting and sockaddr conversion of addresses.
#include <corio/net/address.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace net = corio::net;
using Catch::Matchers::ContainsSubstring;

TEST_CASE("ipv4_address: parses and formats dotted-decimal text", "[net][address]") {
  const auto a = net::ipv4_address::parse("192.168.0.1");
  CHECK(a.bytes() == net::ipv4_address::bytes_type{192, 168, 0, 1});
  CHECK(a.to_string() == "192.168.0.1");
  CHECK(net::ipv4_address::parse("127.0.0.1") == net::ipv4_address::loopback());
  CHECK(net::ipv4_address::parse("127.0.0.1").is_loopback());
  CHECK(net::ipv4_address::parse("0.0.0.0").is_unspecified());
  CHECK(net::ipv4_address::any().to_string() == "0.0.0.0");
}

TEST_CASE("ipv4_address: rejects text that is not four numbers 0-255, naming it",
          "[net][address]") {
  for (const char* text : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", " 1.2.3.4", "1.2.3.4 ", "a.b.c.d",
                           "::1", "1.2.3.4:80", "localhost"}) {
    INFO(text);
    CHECK_FALSE(net::ipv4_address::try_parse(text));
    CHECK_THROWS_MATCHES(
        net::ipv4_address::parse(text), std::invalid_argument,
        Catch::Matchers::MessageMatches(ContainsSubstring(std::string("\"") + text + "\"") &&
                                        ContainsSubstring("ipv4_address::parse")));
  }
}

TEST_CASE("ipv4_address: rejects text with an embedded NUL or beyond any address length",
          "[net][address]") {
  CHECK_FALSE(net::ipv4_address::try_parse(std::string_view("1.2.3.4\0", 8)));
  CHECK_FALSE(net::ipv4_address::try_parse(std::string(200, '1')));
}

TEST_CASE("ipv6_address: parses plain, bracketed and scoped forms", "[net][address]") {
  CHECK(net::ipv6_address::parse("::1") == net::ipv6_address::loopback());
  CHECK(net::ipv6_address::parse("[::1]") == net::ipv6_address::loopback());
  CHECK(net::ipv6_address::parse("::1").is_loopback());
  CHECK(net::ipv6_address::parse("::").is_unspecified());

  const auto scoped = net::ipv6_address::parse("fe80::1%3");
  CHECK(scoped.scope_id() == 3);
  CHECK(scoped.to_string() == "fe80::1%3");
  CHECK(net::ipv6_address::parse("[fe80::1%3]") == scoped);

  const auto mapped = net::ipv6_address::parse("::ffff:192.0.2.1");
  CHECK(mapped.is_v4_mapped());
  CHECK(mapped.to_string() == "::ffff:192.0.2.1");
}

TEST_CASE("ipv6_address: formats in the RFC 5952 compressed form", "[net][address]") {
  CHECK(net::ipv6_address::parse("2001:0db8:0000:0000:0000:0000:0000:0001").to_string() ==
        "2001:db8::1");
  CHECK(net::ipv6_address::loopback().to_string() == "::1");
  CHECK(net::ipv6_address::any().to_string() == "::");
}

TEST_CASE("ipv6_address: rejects malformed text and interface-name scopes, naming the text",
          "[net][address]") {
  for (const char* text : {"", ":::", "::g", "[::1", "::1]", "1.2.3.4", "fe80::1%eth0", "fe80::1%",
                           "[::1]:80", "1:2:3:4:5:6:7:8:9"}) {
    INFO(text);
    CHECK_FALSE(net::ipv6_address::try_parse(text));
    CHECK_THROWS_MATCHES(
        net::ipv6_address::parse(text), std::invalid_argument,
        Catch::Matchers::MessageMatches(ContainsSubstring(std::string("\"") + text + "\"")));
  }
}

TEST_CASE("ip_address: parses either family and reports which", "[net][address]") {
  const auto v4 = net::ip_address::parse("10.0.0.1");
  CHECK(v4.is_v4());
  CHECK(v4.family() == AF_INET);
  CHECK(v4.v4() == net::ipv4_address({10, 0, 0, 1}));
  CHECK_THROWS_AS(v4.v6(), std::logic_error);

  const auto v6 = net::ip_address::parse("[::1]");
  CHECK(v6.is_v6());
  CHECK(v6.family() == AF_INET6);
  CHECK(v6.is_loopback());
  CHECK(v6.to_string() == "::1");
  CHECK_THROWS_AS(v6.v4(), std::logic_error);

  CHECK_THROWS_AS(net::ip_address::parse("example.com"), std::invalid_argument);
}

TEST_CASE("ip_address: orders IPv4 before IPv6 and compares by value", "[net][address]") {
  CHECK(net::ip_address(net::ipv4_address::parse("255.255.255.255")) <
        net::ip_address(net::ipv6_address::any()));
  CHECK(net::ip_address::parse("10.0.0.1") < net::ip_address::parse("10.0.0.2"));
  CHECK(net::ip_address::parse("::1") == net::ip_address(net::ipv6_address::loopback()));
}

TEST_CASE("endpoint: parses and formats address:port, with brackets for IPv6", "[net][address]") {
  const auto v4 = net::endpoint::parse("127.0.0.1:8080");
  CHECK(v4.address() == net::ip_address(net::ipv4_address::loopback()));
  CHECK(v4.port() == 8080);
  CHECK(v4.to_string() == "127.0.0.1:8080");

  const auto v6 = net::endpoint::parse("[::1]:443");
  CHECK(v6.address() == net::ip_address(net::ipv6_address::loopback()));
  CHECK(v6.port() == 443);
  CHECK(v6.to_string() == "[::1]:443");
  CHECK(net::endpoint::parse(v6.to_string()) == v6);

  CHECK(net::endpoint::parse("0.0.0.0:0").port() == 0);
  CHECK(net::endpoint::parse("1.2.3.4:65535").port() == 65535);
}

TEST_CASE("endpoint: rejects missing or out-of-range ports and unbracketed IPv6",
          "[net][address]") {
  for (const char* text : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:+80",
                           "1.2.3.4:8 0", "::1:80", "[::1]", "[::1]:", "localhost:80", ":80"}) {
    INFO(text);
    CHECK_FALSE(net::endpoint::try_parse(text));
    CHECK_THROWS_MATCHES(
        net::endpoint::parse(text), std::invalid_argument,
        Catch::Matchers::MessageMatches(ContainsSubstring(std::string("\"") + text + "\"")));
  }
}

TEST_CASE("endpoint: converts an IPv4 endpoint to sockaddr_in and back", "[net][address]") {
  const auto ep = net::endpoint::parse("192.0.2.7:1234");
  const sockaddr_storage storage = ep.to_sockaddr();
  REQUIRE(ep.sockaddr_length() == sizeof(sockaddr_in));
  sockaddr_in in{};
  std::memcpy(&in, &storage, sizeof in);
  CHECK(in.sin_family == AF_INET);
  CHECK(in.sin_port == htons(1234));
  CHECK(in.sin_addr.s_addr == inet_addr("192.0.2.7"));
  CHECK(net::endpoint::from_sockaddr(storage) == ep);
}

TEST_CASE("endpoint: converts an IPv6 endpoint with a scope to sockaddr_in6 and back",
          "[net][address]") {
  const net::endpoint ep(net::ipv6_address::parse("fe80::2%5"), 9);
  const sockaddr_storage storage = ep.to_sockaddr();
  REQUIRE(ep.sockaddr_length() == sizeof(sockaddr_in6));
  sockaddr_in6 in6{};
  std::memcpy(&in6, &storage, sizeof in6);
  CHECK(in6.sin6_family == AF_INET6);
  CHECK(in6.sin6_port == htons(9));
  CHECK(in6.sin6_scope_id == 5);
  CHECK(net::endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage),
                                     ep.sockaddr_length()) == ep);
}

TEST_CASE("endpoint: from_sockaddr rejects other families and short lengths", "[net][address]") {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  CHECK_THROWS_AS(net::endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&un), sizeof un),
                  std::invalid_argument);
  const sockaddr_storage v4 = net::endpoint::parse("1.2.3.4:5").to_sockaddr();
  CHECK_THROWS_AS(net::endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&v4), 4),
                  std::invalid_argument);
  CHECK_THROWS_AS(net::endpoint::from_sockaddr(nullptr, 0), std::invalid_argument);
}
