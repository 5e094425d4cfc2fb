// SPDX-License-Identifier: MIT
// corio/http/serialize.hpp: write HTTP/1.1 requests and responses to their wire form.
#pragma once

#include <corio/http/headers.hpp>
#include <corio/http/message.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace corio::http {

/// How a writer frames a message.
struct write_options {
  /// Keeps the connection open after this message (`Connection: keep-alive`)
  /// or asks to close it (`Connection: close`).
  bool keep_alive = true;
  /// Writes the head only, for a response to HEAD: `Content-Length` still
  /// states the size of `body`, which is not written. When `body` is empty,
  /// a Content-Length in the response's `headers` is written instead, so
  /// that a HEAD handler can state the size of the GET body without making it.
  bool omit_body = false;
};

namespace detail {

// The writer owns the framing: these fields in a message's `headers` are not
// copied, because a stale Content-Length or a Transfer-Encoding the writer
// does not apply would corrupt the stream for the peer.
[[nodiscard]] inline bool is_framing_field(std::string_view name) noexcept {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection");
}

inline void append_fields(std::string& out, const headers& h) {
  for (field f : h) {
    if (is_framing_field(f.name)) {
      continue;
    }
    out.append(f.name);
    out.append(": ");
    out.append(f.value);
    out.append("\r\n");
  }
}

inline void append_content_length(std::string& out, std::size_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  (void)ec;  // 24 digits always hold a size_t
  out.append("Content-Length: ");
  out.append(digits, end);
  out.append("\r\n");
}

// Methods whose requests carry no body unless one is given; RFC 9110 §8.6
// says a user agent should not send Content-Length: 0 for them.
[[nodiscard]] inline bool method_defines_no_body(std::string_view method) noexcept {
  return method == "GET" || method == "HEAD" || method == "DELETE" || method == "OPTIONS" ||
         method == "TRACE" || method == "CONNECT";
}

[[nodiscard]] inline bool is_request_target(std::string_view target) noexcept {
  if (target.empty()) {
    return false;
  }
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return false;
    }
  }
  return true;
}

}  // namespace detail

/// Appends the wire form of `r` to `out`: request line, header fields,
/// framing fields, blank line and body.
///
/// `Content-Length` is written when the body is not empty, or always for a
/// method other than GET, HEAD, DELETE, OPTIONS, TRACE and CONNECT.
/// `Connection: close` is written when `options.keep_alive` is false, and
/// `Connection: keep-alive` for an HTTP/1.0 request that keeps it.
/// The writer never adds `Host`: HTTP/1.1 requires it, so put it in `r.headers`.
/// `options.omit_body` is ignored for requests.
///
/// Throws: std::invalid_argument if `r.method` is not a token or `r.target`
///   is empty or holds a space or control character; std::bad_alloc.
/// Example:
///   std::string wire;
///   corio::http::serialize_to(wire, {"GET", "/", {{"Host", "example.org"}}});
inline void serialize_to(std::string& out, const request& r, write_options options = {}) {
  if (!detail::is_token(r.method)) {
    throw std::invalid_argument("corio::http::serialize: invalid method \"" + r.method + "\"");
  }
  if (!detail::is_request_target(r.target)) {
    throw std::invalid_argument(
        "corio::http::serialize: the request target must be non-empty visible ASCII "
        "(percent-encode spaces and other bytes)");
  }
  out.append(r.method);
  out.push_back(' ');
  out.append(r.target);
  out.push_back(' ');
  out.append(to_string(r.version));
  out.append("\r\n");
  detail::append_fields(out, r.headers);
  if (!r.body.empty() || !detail::method_defines_no_body(r.method)) {
    detail::append_content_length(out, r.body.size());
  }
  if (!options.keep_alive) {
    out.append("Connection: close\r\n");
  } else if (r.version == version::http_1_0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  out.append(r.body);
}

/// Appends the wire form of `r` to `out`: status line, header fields, framing
/// fields, blank line and body.
///
/// The status line carries `r.reason`, or the standard phrase when it is
/// empty. `Content-Length` is `r.body.size()` (or, with `options.omit_body`
/// and an empty body, the one in `r.headers`), except for 1xx, 204 and 304,
/// which get neither `Content-Length` nor a body. `Connection` is always
/// written, `keep-alive` or `close` per `options.keep_alive`, so that HTTP/1.0
/// and HTTP/1.1 clients both read it the same way.
///
/// Throws: std::invalid_argument if `r.status` is outside 100..999,
///   `r.reason` holds a control character, or a Content-Length that is
///   written from `r.headers` is not a decimal number; std::bad_alloc.
/// Example:
///   std::string wire;
///   corio::http::serialize_to(wire, {404, {}, "no such pokemon\n"}, {.keep_alive = false});
inline void serialize_to(std::string& out, const response& r, write_options options = {}) {
  if (r.status < 100 || r.status > 999) {
    throw std::invalid_argument("corio::http::serialize: status " + std::to_string(r.status) +
                                " is not a three-digit code");
  }
  if (!detail::is_field_value(r.reason)) {
    throw std::invalid_argument("corio::http::serialize: control character in the reason phrase");
  }
  out.append(to_string(r.version));
  out.push_back(' ');
  char digits[4];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, r.status);
  (void)ec;  // 100..999 fits
  out.append(digits, end);
  out.push_back(' ');
  out.append(r.reason.empty() ? reason_phrase(r.status) : std::string_view(r.reason));
  out.append("\r\n");
  detail::append_fields(out, r.headers);
  bool has_body = status_allows_body(r.status);
  if (has_body) {
    const std::optional<std::string_view> stated =
        options.omit_body && r.body.empty() ? r.headers.get("content-length") : std::nullopt;
    if (!stated) {
      detail::append_content_length(out, r.body.size());
    } else if (!stated->empty() && std::all_of(stated->begin(), stated->end(), detail::is_digit)) {
      out.append("Content-Length: ");
      out.append(*stated);
      out.append("\r\n");
    } else {
      throw std::invalid_argument("corio::http::serialize: Content-Length \"" +
                                  std::string(*stated) + "\" is not a decimal number");
    }
  }
  out.append(options.keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
  out.append("\r\n");
  if (has_body && !options.omit_body) {
    out.append(r.body);
  }
}

/// Returns the wire form of `r`; see serialize_to(std::string&, const request&, write_options).
///
/// Throws: as serialize_to.
[[nodiscard]] inline std::string serialize(const request& r, write_options options = {}) {
  std::string out;
  out.reserve(128 + r.target.size() + r.body.size());
  serialize_to(out, r, options);
  return out;
}

/// Returns the wire form of `r`; see serialize_to(std::string&, const response&, write_options).
///
/// Throws: as serialize_to.
[[nodiscard]] inline std::string serialize(const response& r, write_options options = {}) {
  std::string out;
  out.reserve(128 + r.body.size());
  serialize_to(out, r, options);
  return out;
}

}  // namespace corio::http
