// SPDX-License-Identifier: MIT
// corio/http/url.hpp: split an http:// URL into host, port and request target.
#pragma once

#include <corio/http/headers.hpp>

#include <arpa/inet.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace corio::http {

namespace detail {

[[noreturn]] inline void throw_bad_url(std::string_view text, std::string_view why) {
  throw std::invalid_argument("corio::http::url: \"" + std::string(text) +
                              "\": " + std::string(why));
}

// reg-name characters we accept in a host: letters, digits and "-._~" (the
// unreserved set of RFC 3986 §2.3), which covers every DNS name and IPv4
// address. Percent-encoded and sub-delim hosts are refused rather than
// passed to the resolver in a form it would misread.
[[nodiscard]] constexpr bool is_host_char(char c) noexcept {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

}  // namespace detail

/// The parts of an `http://` or `https://` URL that a client needs to send a request.
///
/// Thread safety: a plain value type.
/// Example:
///   auto u = corio::http::url::parse("http://[::1]:8080/api/v2/pokemon/25?x=1");
///   // u.host == "::1", u.port == 8080, u.target == "/api/v2/pokemon/25?x=1"
///   // u.authority() == "[::1]:8080"
struct url {
  std::string scheme = "http";  ///< "http" or "https", in lower case.
  std::string host;             ///< A name or numeric address; IPv6 without brackets.
  std::uint16_t port = 80;      ///< The explicit port, or the scheme's (80, 443).
  std::string target = "/";     ///< Path and query, never empty; the fragment is dropped.

  /// The scheme's port when the URL names none: 443 for https, else 80.
  [[nodiscard]] std::uint16_t default_port() const noexcept { return scheme == "https" ? 443 : 80; }

  /// Returns the Host header value: the host (bracketed if IPv6), plus
  /// ":port" when the port is not the scheme's default.
  [[nodiscard]] std::string authority() const {
    std::string out;
    bool ipv6 = host.find(':') != std::string::npos;
    if (ipv6) {
      out.push_back('[');
    }
    out.append(host);
    if (ipv6) {
      out.push_back(']');
    }
    if (port != default_port()) {
      out.push_back(':');
      out.append(std::to_string(port));
    }
    return out;
  }

  /// Parses `http://host[:port][/path][?query][#fragment]`, or the same with
  /// `https://` (fetching it needs corio/tls.hpp and corio::tls; see http::get).
  ///
  /// The scheme is case-insensitive. The host is a DNS name, an IPv4
  /// address, or an IPv6 address in brackets (`http://[::1]:8080/`). An empty
  /// path becomes "/"; the fragment is not part of the target. Path and query
  /// are taken as they are and must already be percent-encoded.
  ///
  /// Throws: std::invalid_argument, with a message naming the URL and the
  ///   fault, for: another or missing scheme, user
  ///   info, an empty or invalid host, a malformed IPv6 literal, a port
  ///   outside 1..65535, or a space or control character. std::bad_alloc.
  /// Example:
  ///   corio::http::url::parse("http://localhost:8080");  // target "/"
  [[nodiscard]] static url parse(std::string_view text) {
    std::size_t colon = text.find(':');
    std::string_view scheme = text.substr(0, colon == std::string_view::npos ? 0 : colon);
    const bool https = detail::iequals(scheme, "https");
    if ((!https && !detail::iequals(scheme, "http")) || text.substr(colon + 1, 2) != "//") {
      detail::throw_bad_url(text,
                            "expected a URL of the form http://host[:port]/path or https://...");
    }
    std::string_view rest = text.substr(colon + 3);
    for (char c : rest) {
      auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u >= 0x7f) {
        detail::throw_bad_url(
            text, "spaces, control characters and non-ASCII bytes must be percent-encoded");
      }
    }
    if (std::size_t hash = rest.find('#'); hash != std::string_view::npos) {
      rest = rest.substr(0, hash);
    }
    std::size_t path_start = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, path_start);
    std::string_view target =
        path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
    if (authority.find('@') != std::string_view::npos) {
      detail::throw_bad_url(text, "user information (user@host) is not supported");
    }

    url out;
    if (https) {
      out.scheme = "https";
      out.port = 443;
    }
    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
      std::size_t close = authority.find(']');
      if (close == std::string_view::npos) {
        detail::throw_bad_url(text, "an IPv6 address must end with ']'");
      }
      std::string literal(authority.substr(1, close - 1));
      in6_addr address{};
      if (literal.find('%') != std::string::npos) {
        detail::throw_bad_url(text, "IPv6 zone identifiers are not supported");
      }
      if (inet_pton(AF_INET6, literal.c_str(), &address) != 1) {
        detail::throw_bad_url(text, "invalid IPv6 address in brackets");
      }
      out.host = std::move(literal);
      std::string_view after = authority.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':') {
          detail::throw_bad_url(text, "unexpected characters after the IPv6 address");
        }
        port_text = after.substr(1);
      }
    } else {
      std::size_t port_colon = authority.find(':');
      std::string_view host = authority.substr(0, port_colon);
      if (host.empty()) {
        detail::throw_bad_url(text, "the host is empty");
      }
      for (char c : host) {
        if (!detail::is_host_char(c)) {
          detail::throw_bad_url(text, "invalid character in the host (IPv6 needs [brackets])");
        }
      }
      out.host.assign(host);
      if (port_colon != std::string_view::npos) {
        port_text = authority.substr(port_colon + 1);
      }
    }
    // An empty port after ':' means the default (RFC 3986 §3.2.3).
    if (!port_text.empty()) {
      unsigned value = 0;
      for (char c : port_text) {
        if (!detail::is_digit(c) || value > 65535) {
          detail::throw_bad_url(text, "the port must be a number from 1 to 65535");
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
      }
      if (value == 0 || value > 65535) {
        detail::throw_bad_url(text, "the port must be a number from 1 to 65535");
      }
      out.port = static_cast<std::uint16_t>(value);
    }
    if (target.empty()) {
      out.target = "/";
    } else if (target.front() == '?') {
      out.target = "/";
      out.target.append(target);
    } else {
      out.target.assign(target);
    }
    return out;
  }
};

}  // namespace corio::http
