// SPDX-License-Identifier: MIT
// corio/http/message.hpp: HTTP/1.1 request and response values, and the keep-alive rules.
#pragma once

#include <corio/http/headers.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace corio::http {

/// The protocol version on a request or status line.
///
/// A message that says HTTP/1.2 or higher minor versions is read as HTTP/1.1,
/// the highest version corio speaks (RFC 9110 §6.2).
enum class version : std::uint8_t {
  http_1_0,
  http_1_1,
};

/// Returns the version as it appears on the wire: "HTTP/1.0" or "HTTP/1.1".
[[nodiscard]] constexpr std::string_view to_string(version v) noexcept {
  return v == version::http_1_0 ? "HTTP/1.0" : "HTTP/1.1";
}

/// Returns whether a connection stays open after a message with version `v`
/// and header fields `h`, as RFC 9112 §9.3 decides it.
///
/// A `Connection: close` token always closes. Otherwise HTTP/1.1 keeps the
/// connection alive by default and HTTP/1.0 closes it unless the message
/// carries `Connection: keep-alive`.
///
/// Example:
///   corio::http::keep_alive(corio::http::version::http_1_0, {});  // false
[[nodiscard]] inline bool keep_alive(version v, const headers& h) noexcept {
  if (h.has_token("connection", "close")) {
    return false;
  }
  return v == version::http_1_1 || h.has_token("connection", "keep-alive");
}

/// Returns the standard reason phrase for `status` ("Not Found" for 404), or
/// "Unknown" for a code that RFC 9110 does not register.
[[nodiscard]] constexpr std::string_view reason_phrase(int status) noexcept {
  // clang-format off
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
  // clang-format on
}

/// Returns whether a response with `status` may carry a body: false for
/// 1xx, 204 and 304 (RFC 9112 §6.3).
[[nodiscard]] constexpr bool status_allows_body(int status) noexcept {
  return !(status < 200 || status == 204 || status == 304);
}

/// An HTTP request: what a client sends and what the server's handler receives.
///
/// The request parser fills every field; the writer (corio/http/serialize.hpp)
/// sends them. `Content-Length`, `Transfer-Encoding` and `Connection` in
/// `headers` are framing, which the writer computes itself.
///
/// Thread safety: a plain value type.
/// Example:
///   corio::http::request req{"GET", "/api/v2/pokemon/25", {{"Host", "localhost"}}};
struct request {
  /// Makes `GET /` over HTTP/1.1 with no fields.
  request() = default;

  /// Makes a request with method `verb`, target `path`, header `fields` and
  /// body `content`; the version is HTTP/1.1.
  ///
  /// A constructor rather than aggregate initialisation, so that leaving out
  /// the trailing members draws no -Wmissing-field-initializers warning.
  request(std::string verb, std::string path, http::headers fields = {}, std::string content = {})
      : method(std::move(verb))
      , target(std::move(path))
      , headers(std::move(fields))
      , body(std::move(content)) {}

  std::string method = "GET";  ///< Case-sensitive token: "GET", "POST", ...
  std::string target = "/";    ///< Usually origin-form: "/path?query".
  http::headers headers;
  std::string body;  ///< Decoded: chunked framing already removed.
  http::version version = http::version::http_1_1;
  http::headers trailers;  ///< Trailer fields of a chunked body, as received; never sent.

  /// Returns whether the client asked to keep the connection open afterwards.
  [[nodiscard]] bool keep_alive() const noexcept { return http::keep_alive(version, headers); }
};

/// An HTTP response: what a server's handler returns and what a client receives.
///
/// `status` and `body` are the fields that `corio::http::get` users read.
/// `reason` is the phrase as received; when it is empty the writer sends the
/// standard phrase for `status`.
///
/// Thread safety: a plain value type.
/// Example:
///   corio::http::response res{200, {{"Content-Type", "text/plain"}}, "hello\n"};
struct response {
  /// Makes an empty `200 OK`.
  response() = default;

  /// Makes a response with status `code`, header `fields` and body
  /// `content`; the version is HTTP/1.1.
  ///
  /// Implicit, so a handler can write `co_return {404, {}, "not found\n"};`.
  response(int code, http::headers fields = {}, std::string content = {})
      : status(code), headers(std::move(fields)), body(std::move(content)) {}

  int status = 200;
  http::headers headers;
  std::string body;  ///< Decoded: chunked framing already removed.
  http::version version = http::version::http_1_1;
  std::string reason;      ///< The reason phrase; empty means reason_phrase(status).
  http::headers trailers;  ///< Trailer fields of a chunked body, as received; never sent.

  /// Returns whether the server allows the connection to be reused afterwards,
  /// judging by version and headers only (a body that ends at EOF also closes it).
  [[nodiscard]] bool keep_alive() const noexcept { return http::keep_alive(version, headers); }
};

}  // namespace corio::http
