// SPDX-License-Identifier: MIT
// corio/http/client.hpp: an HTTP/1.1 client for http:// and https:// URLs, with keep-alive.
// Its coroutines that need no template parameter, and the functions that call them, are
// declared `template <class = void>` so that g++ compiles them only where they are used;
// see CONTRIBUTING.md, "Coroutines in headers".
//
// - get(url), get(url, options): one request on a connection of its own.
// - client: reuses connections per host and port (a pool of idle ones).
// - client_options: timeout, redirects, body limit, pool size.
// - response_error: the server's answer cannot be used (malformed, cut short,
//   too large, too many redirects).
//
// https:// needs TLS: include corio/tls.hpp somewhere in the program and link
// corio::tls (OpenSSL); without them an https:// URL is refused with
// std::invalid_argument. This header itself never needs OpenSSL.
#pragma once

#include <corio/config.hpp>
#include <corio/error.hpp>
#include <corio/http/headers.hpp>
#include <corio/http/message.hpp>
#include <corio/http/parser.hpp>
#include <corio/http/serialize.hpp>
#include <corio/http/url.hpp>
#include <corio/net/tcp.hpp>
#include <corio/task.hpp>
#include <corio/wait_for.hpp>

#include <corio/detail/secure_stream.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace corio::http {

/// Settings of get() and of a client.
///
/// Thread safety: a plain value type.
/// Example:
///   using namespace std::chrono_literals;
///   auto res = co_await corio::http::get(url, {.timeout = 5s, .follow_redirects = true});
struct client_options {
  /// Longest time one call may take, from connecting to the last body byte,
  /// redirects included; then it is cancelled and throws corio::timeout_error.
  /// Zero or negative: no limit.
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  /// Follows 301, 302, 303, 307 and 308 responses that carry a Location;
  /// off by default, so the caller sees the redirect itself.
  bool follow_redirects = false;
  /// Redirects followed at most in one call; one more throws response_error.
  int max_redirects = 5;
  /// Largest decoded response body accepted; a larger one throws response_error.
  std::size_t max_body_bytes = 64 * 1024 * 1024;
  /// Idle connections a client keeps per host and port for reuse. Zero turns
  /// keep-alive off: each request is sent with `Connection: close`.
  std::size_t max_idle_per_host = 8;
  /// For https: a PEM file of the CA certificates to trust instead of the
  /// system's store (empty: the system's store). Servers are always verified,
  /// host name included. The name is not copied: it must outlive the calls
  /// (and the client) given these options. A view, not a std::string, so the
  /// options stay trivially destructible: g++ 12 destroys a braced temporary
  /// inside a co_await expression twice (`co_await get(url, {...})`).
  std::string_view ca_file{};
};

/// Thrown when a server's answer cannot be used: a malformed or truncated
/// response, a connection closed before any answer, a body over
/// client_options::max_body_bytes, or more redirects than allowed.
///
/// `what()` names the URL and the fault; `url()` is the URL that failed (after
/// redirects, the last one requested). Connection failures are not
/// response_errors: they are std::system_error.
///
/// Thread safety: a plain value type.
/// Example:
///   try {
///     auto res = co_await corio::http::get(url);
///   } catch (const corio::http::response_error& e) {
///     std::fprintf(stderr, "%s\n", e.what());  // "corio::http: http://...: malformed response:
///     ..."
///   }
class response_error : public std::runtime_error {
 public:
  response_error(std::string url, const std::string& fault)
      : std::runtime_error("corio::http: " + url + ": " + fault), url_(std::move(url)) {}

  /// The URL whose response failed.
  [[nodiscard]] const std::string& url() const noexcept { return url_; }

 private:
  std::string url_;
};

namespace detail {

// One connection of the client: TCP, and the TLS session over it for https.
struct client_connection {
  net::tcp_stream tcp;                                   // moved into `secure` for https
  std::unique_ptr<corio::detail::secure_stream> secure;  // https only

  template <class = void>
  task<std::size_t> read_some(std::span<std::byte> buffer) {
    return secure ? secure->read_some(buffer) : tcp.read_some(buffer);
  }
  template <class = void>
  task<> write_all(std::string_view data) {
    return secure ? secure->write_all(std::as_bytes(std::span(data.data(), data.size())))
                  : tcp.write_all(data);
  }
  int native_handle() const noexcept {
    return secure ? secure->native_handle() : tcp.native_handle();
  }
};

// Idle keep-alive connections, keyed by "scheme://host:port"; the most recently used
// is reused first, because it is the least likely to have been closed.
class connection_pool {
 public:
  explicit connection_pool(std::size_t max_idle_per_host) : max_idle_per_host_(max_idle_per_host) {}

  // An idle connection to `key` that still looks open, if any.
  std::optional<client_connection> take(const std::string& key) {
    auto it = idle_.find(key);
    if (it == idle_.end()) {
      return std::nullopt;
    }
    std::optional<client_connection> found;
    while (!it->second.empty() && !found) {
      client_connection s = std::move(it->second.back());
      it->second.pop_back();
      if (looks_open(s)) {
        found = std::move(s);
      }
    }
    if (it->second.empty()) {
      idle_.erase(it);
    }
    return found;
  }

  void put(const std::string& key, client_connection s) {
    std::vector<client_connection>& list = idle_[key];
    if (list.size() < max_idle_per_host_) {
      list.push_back(std::move(s));
    }
  }

  void clear() noexcept { idle_.clear(); }

  [[nodiscard]] std::size_t size() const noexcept {
    std::size_t n = 0;
    for (const auto& [key, list] : idle_) {
      n += list.size();
    }
    return n;
  }

 private:
  // A peek that never waits: an idle connection should have nothing to read.
  // 0 means the server closed it (its keep-alive timeout ran out); data means
  // it sent something unasked, so the stream is out of step. Only "would
  // block" means the connection is still fit for a request. A server can
  // still close it just after this check; the client retries that case.
  static bool looks_open(const client_connection& s) noexcept {
    std::byte probe{};
    const ssize_t n = ::recv(s.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  std::size_t max_idle_per_host_;
  std::unordered_map<std::string, std::vector<client_connection>> idle_;
};

struct client_state {
  explicit client_state(client_options o) : options(o), pool(o.max_idle_per_host) {}
  client_options options;
  connection_pool pool;
};

// How one request/response exchange on a connection ended.
struct exchange_result {
  response res;
  bool reusable = false;  // the connection may carry the next request
  bool stale = false;     // a reused connection was closed before any answer: retry
};

[[nodiscard]] inline bool is_idempotent(std::string_view method) noexcept {
  // RFC 9110 §9.2.2: these may be retried automatically after a connection failure.
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS" || method == "TRACE";
}

[[nodiscard]] inline bool is_stale_connection_error(const std::system_error& e) noexcept {
  return e.code() == std::error_code(EPIPE, std::system_category()) ||
         e.code() == std::error_code(ECONNRESET, std::system_category());
}

// Writes `wire` and reads one response. On a `reused` connection, a failure
// before the first response byte is reported as stale rather than thrown.
template <class = void>
inline task<exchange_result> exchange(client_connection& stream, const std::string& wire,
                                      const std::string& method, const std::string& url_text,
                                      parser_limits limits, bool reused) {
  exchange_result out;
  bool write_failed_stale = false;
  try {
    co_await stream.write_all(wire);
  } catch (const std::system_error& e) {
    if (!reused || !is_stale_connection_error(e)) {
      throw;
    }
    write_failed_stale = true;
  }
  if (write_failed_stale) {
    out.stale = true;
    co_return out;
  }

  response_parser parser(limits);
  parser.set_request_method(method);
  std::vector<std::byte> buffer(16 * 1024);
  bool received_any = false;
  for (;;) {
    std::size_t n = 0;
    bool read_failed_stale = false;
    try {
      n = co_await stream.read_some(buffer);
    } catch (const std::system_error& e) {
      if (!reused || received_any || !is_stale_connection_error(e)) {
        throw;
      }
      read_failed_stale = true;
    }
    if (read_failed_stale) {
      out.stale = true;
      co_return out;
    }
    const std::span<const std::byte> data = std::span(buffer).first(n);
    const parse_result r = n == 0 ? parser.on_eof() : parser.feed(data);
    received_any = received_any || n > 0;
    switch (r.status) {
      case parse_status::need_more:
        continue;
      case parse_status::complete:
        out.res = parser.take();
        // Bytes after the response were never asked for: the stream is out of
        // step. After 101 the connection speaks another protocol (RFC 9110
        // §15.2.2), so it never carries another HTTP request.
        out.reusable = n > 0 && r.consumed == n && parser.keep_alive() && out.res.status != 101;
        co_return out;
      case parse_status::closed:
        if (reused) {
          out.stale = true;
          co_return out;
        }
        throw response_error(url_text, "the server closed the connection without answering");
      case parse_status::error:
        if (parser.error().status == 413) {
          throw response_error(url_text,
                               "the response body exceeds client_options::max_body_bytes (" +
                                   std::to_string(limits.max_body_bytes) + " bytes)");
        }
        throw response_error(url_text,
                             "malformed response: " + std::string(parser.error().message));
    }
  }
}

// Sends `req` (target and Host already set) to `u` and reads the response,
// on a pooled connection when one is idle, else on a new one.
template <class = void>
inline task<response> send_once(client_state& state, const request& req, const url& u,
                                const std::string& url_text) {
  const bool pooling = state.options.max_idle_per_host > 0;
  const parser_limits limits{.max_header_bytes = 64 * 1024,
                             .max_body_bytes = state.options.max_body_bytes};
  const std::string key = u.scheme + "://" + u.host + ':' + std::to_string(u.port);
  const bool https = u.scheme == "https";
  if (https && corio::detail::connect_secure_stream == nullptr) {
    throw std::invalid_argument(
        "corio::http: cannot fetch \"" + url_text +
        "\": https needs TLS: include <corio/tls.hpp> in the program and link the CMake target "
        "corio::tls (OpenSSL 3), or fetch it with a TLS client such as libcurl inside "
        "co_await corio::to_thread(...)");
  }
  const std::string wire = serialize(req, {.keep_alive = pooling});
  if (pooling) {
    while (std::optional<client_connection> pooled = state.pool.take(key)) {
      exchange_result r = co_await exchange(*pooled, wire, req.method, url_text, limits, true);
      if (!r.stale) {
        if (r.reusable) {
          state.pool.put(key, std::move(*pooled));
        }
        co_return std::move(r.res);
      }
      if (!is_idempotent(req.method)) {
        throw response_error(
            url_text,
            "the server closed an idle keep-alive connection while the request was "
            "sent; " +
                req.method + " is not idempotent, so it was not retried");
      }
    }
  }
  // WORKAROUND(g++ 12): temporaries in a braced initializer around a co_await may be
  // destroyed twice; keep the co_await out of it.
  net::tcp_stream tcp = co_await net::tcp_stream::connect(u.host, u.port);
  client_connection stream{std::move(tcp), nullptr};
  stream.tcp.set_nodelay(true);
  if (https) {
    stream.secure = co_await corio::detail::connect_secure_stream(
        std::move(stream.tcp), u.host, std::string(state.options.ca_file));
  }
  exchange_result r = co_await exchange(stream, wire, req.method, url_text, limits, false);
  if (pooling && r.reusable) {
    state.pool.put(key, std::move(stream));
  }
  co_return std::move(r.res);
}

[[nodiscard]] constexpr bool is_redirect(int status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Resolves a Location value against the URL it came from (RFC 3986 §5.2,
// without dot-segment removal, which servers do not depend on in practice).
[[nodiscard]] inline std::string resolve_location(const url& base, std::string_view location) {
  std::size_t i = 0;
  while (i < location.size() &&
         (is_alpha(location[i]) || (i > 0 && (is_digit(location[i]) || location[i] == '+' ||
                                              location[i] == '-' || location[i] == '.')))) {
    ++i;
  }
  if (i > 0 && i < location.size() && location[i] == ':') {
    return std::string(location);  // absolute: url::parse judges the scheme
  }
  if (location.substr(0, 2) == "//") {
    return base.scheme + ':' + std::string(location);
  }
  std::string out = base.scheme + "://" + base.authority();
  const std::string_view target = base.target;
  const std::string_view path = target.substr(0, target.find('?'));
  if (location.empty() || location.front() == '#') {
    out.append(target);
  } else if (location.front() == '/') {
    out.append(location);
  } else if (location.front() == '?') {
    out.append(path);
    out.append(location);
  } else {
    out.append(path.substr(0, path.rfind('/') + 1));
    out.append(location);
  }
  return out;
}

// One call: the request, then the redirects it is allowed to follow.
template <class = void>
inline task<response> fetch(client_state* state, request req, std::string url_text) {
  if (!req.headers.contains("user-agent")) {
    req.headers.set("User-Agent", "corio/" + std::to_string(CORIO_VERSION_MAJOR) + '.' +
                                      std::to_string(CORIO_VERSION_MINOR) + '.' +
                                      std::to_string(CORIO_VERSION_PATCH));
  }
  for (int redirects = 0;; ++redirects) {
    const url u = url::parse(url_text);
    req.target = u.target;
    req.headers.set("Host", u.authority());
    response res = co_await send_once(*state, req, u, url_text);
    if (!state->options.follow_redirects || !is_redirect(res.status)) {
      co_return res;
    }
    const std::optional<std::string_view> location = res.headers.get("location");
    if (!location) {
      co_return res;
    }
    if (redirects >= state->options.max_redirects) {
      throw response_error(url_text, "more than " + std::to_string(state->options.max_redirects) +
                                         " redirects (client_options::max_redirects)");
    }
    std::string next = resolve_location(u, *location);
    // RFC 9110 §15.4: 303 turns the request into a GET; so do 301 and 302
    // after a POST, as every browser does. 307 and 308 repeat it as it was.
    if ((res.status == 303 && req.method != "HEAD") ||
        ((res.status == 301 || res.status == 302) && req.method == "POST")) {
      req.method = "GET";
      req.body.clear();
      req.headers.remove("content-type");
    }
    // Credentials meant for one host are not sent to another (as curl and requests do).
    if (url::parse(next).authority() != u.authority()) {
      req.headers.remove("authorization");
      req.headers.remove("cookie");
    }
    url_text = std::move(next);
  }
}

template <class = void>
inline task<response> with_timeout(task<response> t, std::chrono::milliseconds timeout) {
  if (timeout > std::chrono::milliseconds::zero()) {
    co_return co_await wait_for(std::move(t), timeout);
  }
  co_return co_await std::move(t);
}

template <class = void>
inline task<response> one_shot_get(std::string url_text, client_options options) {
  options.max_idle_per_host = 0;  // Connection: close
  client_state state(options);
  co_return co_await with_timeout(fetch(&state, request{}, std::move(url_text)), options.timeout);
}

}  // namespace detail

/// An HTTP/1.1 client that keeps connections open and reuses them, per host
/// and port, as a requests.Session or an aiohttp.ClientSession does.
///
/// Each call takes an idle connection to the URL's host and port if the pool
/// has one, or opens a new one; after a complete response that allows it, the
/// connection goes back to the pool (at most
/// client_options::max_idle_per_host per host). Concurrent calls (under
/// gather) each get a connection of their own. A pooled connection that the
/// server closed meanwhile is noticed and replaced; an idempotent request
/// (GET, HEAD, PUT, DELETE, ...) that meets one is retried once on a new
/// connection.
///
/// Throws: see get(std::string_view, client_options).
/// Cancellation: a cancelled call closes the connection it was using; the
///   pooled ones stay.
/// Lifetime: the client must outlive every call it started. Moving it is
///   allowed, also during calls.
/// Thread safety: use only on the loop's thread.
/// Example:
///   corio::http::client http;
///   corio::http::response a = co_await http.get("http://127.0.0.1:8080/a");
///   corio::http::response b = co_await http.get("http://127.0.0.1:8080/b");  // same connection
class client {
 public:
  explicit client(client_options options = {})
      : state_(std::make_unique<detail::client_state>(options)) {}

  /// Sends `GET url` and returns the response; as get(url, options) with
  /// this client's options, on a pooled connection.
  ///
  /// Example:
  ///   corio::http::response res = co_await http.get("http://localhost:8080/");
  template <class = void>
  [[nodiscard]] task<response> get(std::string_view url) {
    return detail::with_timeout(detail::fetch(state_.get(), http::request{}, std::string(url)),
                                state_->options.timeout);
  }

  /// Sends `req` and returns the response. `req.target` is the absolute URL
  /// (`http://host[:port]/path?query`); method, header fields and body are
  /// sent as they are. The client sets Host (and User-Agent when absent) and
  /// the framing fields itself.
  ///
  /// Throws: as get(); std::invalid_argument if `req.target` is not an
  ///   http:// URL or `req.method` is not a token.
  /// Example:
  ///   auto res = co_await http.request({"POST", "http://127.0.0.1:8080/items",
  ///                                     {{"Content-Type", "application/json"}}, R"({"id":1})"});
  template <class = void>
  [[nodiscard]] task<response> request(http::request req) {
    std::string target = std::move(req.target);
    return detail::with_timeout(detail::fetch(state_.get(), std::move(req), std::move(target)),
                                state_->options.timeout);
  }

  /// Number of idle connections kept for reuse.
  [[nodiscard]] std::size_t idle_connections() const noexcept { return state_->pool.size(); }

  /// Closes every idle connection; calls in progress keep theirs.
  void close_idle_connections() noexcept { state_->pool.clear(); }

  [[nodiscard]] const client_options& options() const noexcept { return state_->options; }

 private:
  std::unique_ptr<detail::client_state> state_;
};

/// Sends `GET url` on a connection of its own (closed afterwards) and returns
/// the response, whatever its status: a 404 is a response, not an error.
///
/// The body is complete and decoded (Content-Length, chunked, or up to the
/// end of the stream). Redirects are returned as they are unless
/// `options.follow_redirects` is set. A call that takes longer than
/// `options.timeout` (30 s by default) is cancelled. For several requests to
/// one server, a `client` reuses connections.
///
/// https:// works when the program includes <corio/tls.hpp> and links
/// corio::tls: the server's certificate is verified against the system trust
/// store (or `options.ca_file`), host name included.
///
/// Throws: std::invalid_argument if `url` is not a valid http:// or https://
///   URL, or is https:// in a program without corio/tls.hpp (the message
///   says what to include and link). std::system_error when the connection
///   fails (ECONNREFUSED, a name that does not resolve, ECONNRESET, ...) or
///   the TLS handshake does (tls::verify_category() for a refused
///   certificate, with what to do).
///   response_error, naming the URL, for a malformed, cut-short or too large
///   response or too many redirects. corio::timeout_error after
///   `options.timeout`. cancelled_error.
/// Cancellation: the connection is closed; nothing is left running.
/// Lifetime: `url` is copied; it need not outlive the call.
/// Thread safety: await only on the loop's thread.
/// Example:
///   corio::http::response res = co_await
///   corio::http::get("http://127.0.0.1:8080/api/v2/pokemon/25"); if (res.status == 200)
///   std::puts(res.body.c_str());
template <class = void>
[[nodiscard]] inline task<response> get(std::string_view url, client_options options) {
  return detail::one_shot_get(std::string(url), options);
}

/// Sends `GET url` with the default client_options; see get(url, options).
template <class = void>
[[nodiscard]] inline task<response> get(std::string_view url) {
  return detail::one_shot_get(std::string(url), client_options{});
}

}  // namespace corio::http
