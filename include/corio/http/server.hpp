// SPDX-License-Identifier: MIT
// corio/http/server.hpp: an HTTP/1.1 server that answers each request with a handler's task.
// Its coroutines that need no template parameter, and the functions that call them, are
// declared `template <class = void>` so that g++ compiles them only where they are used;
// see CONTRIBUTING.md, "Coroutines in headers".
//
// - server: bind(), serve(), stop(); one coroutine per connection, keep-alive,
//   pipelined requests answered in order.
// - server_options: idle timeout, size limits, and TLS (https).
//
// https needs TLS: include corio/tls.hpp somewhere in the program, link corio::tls
// (OpenSSL) and set server_options::tls. This header itself never needs OpenSSL.
//
// Hostile or broken input is answered, never fatal: a malformed request gets
// 400 (414, 431, 413, 501 or 505 where they fit) and the connection is
// closed; a client that stalls is disconnected after the idle timeout (408 if
// it had sent part of a request); a handler that throws gets its client a 500
// and the server goes on.
#pragma once

#include <corio/config.hpp>
#include <corio/error.hpp>
#include <corio/http/headers.hpp>
#include <corio/http/message.hpp>
#include <corio/http/parser.hpp>
#include <corio/http/serialize.hpp>
#include <corio/net/address.hpp>
#include <corio/net/tcp.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/task_group.hpp>
#include <corio/wait_for.hpp>

#include <corio/detail/loop_core.hpp>
#include <corio/detail/secure_stream.hpp>
#include <corio/detail/timer_heap.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <functional>
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

/// Settings of a server.
///
/// Thread safety: a plain value type.
/// Example:
///   using namespace std::chrono_literals;
///   auto srv = corio::http::server::bind("127.0.0.1", 8080, {.idle_timeout = 5s}, handler);
struct server_options {
  /// How long the server waits for a whole request: from accepting the
  /// connection, or from sending the previous response, until the request's
  /// last byte. A connection that stays silent that long is closed; one that
  /// sent part of a request gets 408 first. Also bounds each response write.
  /// Zero or negative: wait forever.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
  /// Bytes of request line plus header fields; more is answered with 431
  /// (414 if the request line alone is too long).
  std::size_t max_header_bytes = 64 * 1024;
  /// Bytes of a decoded request body; more is answered with 413.
  std::size_t max_body_bytes = 1024 * 1024;
  /// The listen(2) backlog.
  int backlog = 1024;
  /// Connections served at once. A connection accepted past it gets
  /// 503 Service Unavailable with `Connection: close` and is closed (closed
  /// at once, without an answer, when 64 such refusals are already under way).
  /// Each idle connection costs about 4 KiB (see the class description).
  std::size_t max_connections = 10'000;
  /// Serve https: each connection runs a TLS server handshake with this
  /// context (tls::context::server, from corio/tls.hpp) before its first
  /// request. bind() keeps a copy, and copies share one OpenSSL context, so
  /// the pointee need only live until bind() returns. A server context has
  /// no ALPN list unless given one: `ctx.set_alpn({"http/1.1"})` for clients
  /// that insist on ALPN. Null (the default): plain HTTP.
  const tls::context* tls = nullptr;
  /// How long a TLS handshake may take, from accepting the connection; a
  /// client that has not finished it by then is disconnected (idle_timeout
  /// starts after it). Zero or negative: wait forever. Unused without `tls`.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
};

namespace detail {

// After a response that ends the connection, the server shuts its side and
// reads what the client still sends, for at most this long (or the idle
// timeout if shorter) and at most linger_max_bytes: closing a socket with
// unread input makes the kernel send a reset, which can destroy the response
// before the client reads it (RFC 9112 §9.6).
inline constexpr std::chrono::milliseconds linger_timeout{2000};
inline constexpr std::size_t linger_max_bytes = 1024 * 1024;

// A connection's read buffer starts small, so that idle connections stay
// cheap, and grows (x4) up to the largest size when a read fills it.
inline constexpr std::size_t read_buffer_first = 1024;
inline constexpr std::size_t read_buffer_largest = 16 * 1024;

// Refusals (503, then a brief linger) in progress at most; past it, a
// connection over server_options::max_connections is closed at once.
inline constexpr std::size_t max_refusing = 64;

using clock = std::chrono::steady_clock;

// The Date field (RFC 9110 §6.6.1) in IMF-fixdate form, formatted once per
// second. Written by hand: strftime's %a and %b follow the C locale.
class date_cache {
 public:
  std::string_view now() {
    const std::time_t t = std::time(nullptr);
    if (t != last_) {
      static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
      static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
      std::tm tm{};
      gmtime_r(&t, &tm);
      auto two = [](int v) {
        return std::string{static_cast<char>('0' + v / 10), static_cast<char>('0' + v % 10)};
      };
      value_ = std::string(days[tm.tm_wday]) + ", " + two(tm.tm_mday) + ' ' + months[tm.tm_mon] +
               ' ' + std::to_string(tm.tm_year + 1900) + ' ' + two(tm.tm_hour) + ':' +
               two(tm.tm_min) + ':' + two(tm.tm_sec) + " GMT";
      last_ = t;
    }
    return value_;
  }

 private:
  std::time_t last_ = -1;
  std::string value_;
};

struct connection_entry {
  join_handle<void> handle;
  bool busy = false;     // between a complete request and the end of its response
  bool refused = false;  // over max_connections: answered with 503, then closed
};

struct server_state {
  server_state(server_options o, std::function<task<response>(request)> h, net::tcp_listener l,
               std::unique_ptr<corio::detail::secure_acceptor> t)
      : options(o)
      , handler(std::move(h))
      , tls(std::move(t))
      , listener(std::move(l))
      , local(listener.local_endpoint()) {
    options.tls = nullptr;  // the caller's context may be gone: `tls` holds a copy
  }

  // Data that does not change once initialised.
  server_options options;
  std::function<task<response>(request)> handler;
  std::unique_ptr<corio::detail::secure_acceptor> tls;  // https only
  // Data that only the loop's thread touches.
  net::tcp_listener listener;
  net::endpoint local;
  task_group children;  // the accept loop and every connection
  join_handle<void> acceptor;
  std::unordered_map<std::uint64_t, connection_entry> connections;
  date_cache dates;
  std::uint64_t accepted = 0;
  std::uint64_t requests = 0;
  std::size_t refusing = 0;  // entries of `connections` with refused set
  bool serving = false;
  bool stopping = false;
  bool orphaned = false;  // the server object was destroyed; serve() holds the state
};

// A connection's read buffer, allocated without zero-filling: the kernel
// writes what arrives, and only those pages become resident.
class read_buffer {
 public:
  [[nodiscard]] std::span<std::byte> bytes() noexcept { return {data_.get(), size_}; }

  // Called with the count of a read into bytes(); grows the buffer when that
  // read filled it, before the next read (nothing in it is pending then).
  void after_read(std::size_t n) {
    if (n == size_ && size_ < read_buffer_largest) {
      grow_to_ = std::min(size_ * 4, read_buffer_largest);
    }
  }
  void grow_if_asked() {
    if (grow_to_ != 0) {
      data_ = std::unique_ptr<std::byte[]>(new std::byte[grow_to_]);
      size_ = std::exchange(grow_to_, 0);
    }
  }

 private:
  std::unique_ptr<std::byte[]> data_ =
      std::unique_ptr<std::byte[]>(new std::byte[read_buffer_first]);
  std::size_t size_ = read_buffer_first;
  std::size_t grow_to_ = 0;
};

[[nodiscard]] inline std::optional<clock::time_point> deadline_in(std::chrono::milliseconds d) {
  if (d <= std::chrono::milliseconds::zero()) {
    return std::nullopt;
  }
  return corio::detail::loop_now() + d;
}

// A connection is a net::tcp_stream (http) or a corio::detail::secure_stream (https),
// so that plain HTTP pays for no virtual call and no extra coroutine per read.

// Reads what is available; nullopt when `deadline` passes first.
template <class Stream>
inline task<std::optional<std::size_t>> read_before(Stream& stream, std::span<std::byte> buffer,
                                                    std::optional<clock::time_point> deadline) {
  if (!deadline) {
    co_return co_await stream.read_some(buffer);
  }
  const clock::duration left = *deadline - corio::detail::loop_now();
  if (left <= clock::duration::zero()) {
    co_return std::nullopt;
  }
  try {
    co_return co_await wait_for(stream.read_some(buffer), left);
  } catch (const timeout_error&) {
  }
  co_return std::nullopt;
}

// Writes all of `data`; false when `deadline` passes first (the stream is then
// in an unknown state and must be closed).
template <class Stream>
inline task<bool> write_before(Stream& stream, std::string_view data,
                               std::optional<clock::time_point> deadline) {
  if (!deadline) {
    co_await stream.write_all(data);
    co_return true;
  }
  const clock::duration left = *deadline - corio::detail::loop_now();
  if (left <= clock::duration::zero()) {
    co_return false;
  }
  try {
    co_await wait_for(stream.write_all(data), left);
    co_return true;
  } catch (const timeout_error&) {
  }
  co_return false;
}

// Ends the sending direction: a FIN (after a close_notify for https).
template <class = void>
inline task<> end_sending(net::tcp_stream& stream) {
  stream.shutdown_write();
  co_return;
}
inline task<> end_sending(corio::detail::secure_stream& stream) {
  return stream.shutdown();
}

// Ends the connection from the server's side: FIN first, then drain the
// client's remaining input briefly so that the close does not reset it.
template <class Stream>
inline task<> close_gracefully(Stream& stream, std::span<std::byte> buffer,
                               std::chrono::milliseconds idle_timeout) {
  co_await end_sending(stream);
  std::chrono::milliseconds limit = linger_timeout;
  if (idle_timeout > std::chrono::milliseconds::zero()) {
    limit = std::min(limit, idle_timeout);
  }
  const std::optional<clock::time_point> deadline = deadline_in(limit);
  std::size_t drained = 0;
  while (drained < linger_max_bytes) {
    const std::optional<std::size_t> n = co_await read_before(stream, buffer, deadline);
    if (!n || *n == 0) {
      break;
    }
    drained += *n;
  }
}

[[nodiscard]] inline response error_response(int status, std::string_view text) {
  std::string body = std::to_string(status) + ' ' + std::string(reason_phrase(status));
  if (!text.empty()) {
    body += ": ";
    body += text;
  }
  body += '\n';
  return {status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
}

// The wire form of `res`, with a Date field unless the handler set one; a
// response the writer refuses (a status outside 100..999, a control character
// in the reason) becomes a 500.
[[nodiscard]] inline std::string to_wire(server_state* s, response res, write_options options) {
  if (!res.headers.contains("date")) {
    res.headers.add("Date", s->dates.now());
  }
  try {
    return serialize(res, options);
  } catch (const std::invalid_argument&) {
    response fallback = error_response(500, {});
    fallback.headers.add("Date", s->dates.now());
    return serialize(fallback, options);
  }
}

// Runs the handler; any exception but cancellation becomes a 500, and so
// does a 1xx status: an interim response is not a final one, and the
// server never sends one for the handler (to an HTTP/1.0 client least of all).
template <class = void>
inline task<response> call_handler(server_state* s, request req) {
  try {
    response res = co_await s->handler(std::move(req));
    if (res.status < 100 || res.status >= 200) {
      co_return res;
    }
  } catch (const cancelled_error&) {
    throw;
  } catch (...) {
    // The client gets no detail: an exception's text may hold internals.
  }
  co_return error_response(500, {});
}

// Serves requests on one connection until it ends. Returns normally when the
// connection is over; throws std::system_error when it fails.
template <class Stream>
inline task<> connection_loop(server_state* s, std::uint64_t id, Stream& stream) {
  const server_options& options = s->options;
  request_parser parser(parser_limits{.max_header_bytes = options.max_header_bytes,
                                      .max_body_bytes = options.max_body_bytes});
  read_buffer buffer;
  std::span<const std::byte> pending;  // received, not yet parsed: pipelined requests
  for (;;) {
    if (s->stopping) {
      co_return;
    }
    // Read one request.
    const std::optional<clock::time_point> deadline = deadline_in(options.idle_timeout);
    bool started = !pending.empty();
    bool sent_continue = false;
    parse_result r{parse_status::need_more, 0};
    while (r.status == parse_status::need_more) {
      if (pending.empty()) {
        buffer.grow_if_asked();
        const std::optional<std::size_t> n = co_await read_before(stream, buffer.bytes(), deadline);
        if (!n) {
          if (started) {
            co_await write_before(stream,
                                  to_wire(s, error_response(408, {}), {.keep_alive = false}),
                                  deadline_in(linger_timeout));
          }
          co_return;
        }
        if (*n == 0) {
          r = parser.on_eof();
          break;
        }
        pending = buffer.bytes().first(*n);
        buffer.after_read(*n);
        started = true;
      }
      r = parser.feed(pending);
      pending = pending.subspan(r.consumed);
      if (r.status == parse_status::need_more && parser.expects_continue() && !sent_continue) {
        sent_continue = true;
        const bool sent = co_await write_before(stream, "HTTP/1.1 100 Continue\r\n\r\n", deadline);
        if (!sent)
          co_return;
      }
    }
    if (r.status == parse_status::closed) {
      co_return;
    }
    if (r.status == parse_status::error) {
      const parse_error& e = parser.error();
      const std::string wire = to_wire(s, error_response(e.status == 0 ? 400 : e.status, e.message),
                                       {.keep_alive = false});
      const bool sent = co_await write_before(stream, wire, deadline_in(linger_timeout));
      if (sent)
        co_await close_gracefully(stream, buffer.bytes(), options.idle_timeout);
      co_return;
    }

    // Answer it.
    const bool client_keeps = parser.keep_alive();
    request req = parser.take();
    const bool head = req.method == "HEAD";
    s->connections.at(id).busy = true;
    response res = co_await call_handler(s, std::move(req));
    // A handler ends the connection with `Connection: close`.
    const bool keep = client_keeps && !s->stopping && !res.headers.has_token("connection", "close");
    const std::string wire = to_wire(s, std::move(res), {.keep_alive = keep, .omit_body = head});
    const bool written = co_await write_before(stream, wire, deadline_in(options.idle_timeout));
    s->connections.at(id).busy = false;
    if (!written) {
      co_return;
    }
    ++s->requests;
    if (!keep) {
      if (s->stopping) {
        co_await end_sending(stream);
      } else {
        co_await close_gracefully(stream, buffer.bytes(), options.idle_timeout);
      }
      co_return;
    }
  }
}

// Answers a connection over max_connections with 503 and closes it.
template <class Stream>
inline task<> refuse_connection(server_state* s, Stream& stream) {
  std::array<std::byte, 512> drain;
  const std::string wire =
      to_wire(s, error_response(503, "too many connections"), {.keep_alive = false});
  const bool sent = co_await write_before(stream, wire, deadline_in(linger_timeout));
  if (sent)
    co_await close_gracefully(stream, drain, s->options.idle_timeout);
}

// Answers on `stream` (503 and close when `refused`) until the connection ends.
template <class Stream>
inline task<> serve_stream(server_state* s, std::uint64_t id, Stream& stream, bool refused) {
  if (refused) {
    co_await refuse_connection(s, stream);
  } else {
    co_await connection_loop(s, id, stream);
  }
}

// The peer of `tcp` as "address:port", for a debug line.
inline std::string peer_name(const net::tcp_stream& tcp) {
  try {
    return tcp.remote_endpoint().to_string();
  } catch (const std::system_error& e) {
    return "an unknown peer (" + e.code().message() + ")";  // it reset the connection already
  }
}

// In debug mode, one line saying why a handshake with `peer` failed: the
// client got OpenSSL's alert, the server's operator would hear nothing else.
inline void report_failed_handshake(std::FILE* out, const std::string& peer,
                                    const std::exception& e) {
  const auto* system = dynamic_cast<const std::system_error*>(&e);
  const std::string reason = system != nullptr ? system->code().message() : e.what();
  std::fprintf(out, "corio: debug: http::server: TLS handshake with %s failed: %s\n", peer.c_str(),
               reason.c_str());
  std::fflush(out);
}

// The TLS session over `tcp`, or null when the client did not complete the
// handshake within handshake_timeout; throws when the handshake fails.
template <class = void>
inline task<std::unique_ptr<corio::detail::secure_stream>> handshake(server_state* s,
                                                                     net::tcp_stream tcp) {
  const corio::detail::loop_core& loop = corio::detail::loop_core::current();
  std::FILE* const debug = loop.options().debug ? loop.debug_output() : nullptr;
  const std::string peer = debug != nullptr ? peer_name(tcp) : std::string();
  const std::chrono::milliseconds limit = s->options.handshake_timeout;
  try {
    if (limit <= std::chrono::milliseconds::zero()) {
      co_return co_await s->tls->accept(std::move(tcp));
    }
    co_return co_await wait_for(s->tls->accept(std::move(tcp)), limit);
  } catch (const timeout_error&) {
  } catch (const std::exception& e) {
    if (debug != nullptr)
      report_failed_handshake(debug, peer, e);
    throw;
  }
  co_return nullptr;  // the socket was closed with the handshake's task
}

template <class = void>
inline task<> serve_connection(server_state* s, std::uint64_t id, net::tcp_stream stream,
                               bool refused) {
  struct unregister {
    server_state* s;
    std::uint64_t id;
    bool refused;
    // Dropping our own join_handle while running is allowed: the group still
    // owns the task, and frees it when it finishes.
    ~unregister() {
      s->connections.erase(id);
      s->refusing -= refused ? 1 : 0;
    }
  } guard{s, id, refused};
  try {
    if (s->tls) {
      // A failed handshake has sent the client OpenSSL's alert, which says why
      // (and, in debug mode, written one line saying so).
      const std::unique_ptr<corio::detail::secure_stream> secure =
          co_await handshake(s, std::move(stream));
      if (secure) {
        co_await serve_stream(s, id, *secure, refused);
      }
    } else {
      co_await serve_stream(s, id, stream, refused);
    }
  } catch (const cancelled_error&) {
    throw;
  } catch (const std::exception&) {
    // A reset, a broken pipe or an allocation failure ends this connection
    // only; it must not cancel the others through the group.
  }
}

template <class = void>
inline task<> accept_loop(server_state* s) {
  while (!s->stopping) {
    // Out of descriptors or memory, accept waits and retries by itself.
    net::tcp_stream stream = co_await s->listener.accept();
    ++s->accepted;
    try {
      stream.set_nodelay(true);
    } catch (const std::system_error&) {
      continue;  // the peer reset it already
    }
    const bool refused = s->connections.size() - s->refusing >= s->options.max_connections;
    if (refused && s->refusing >= max_refusing) {
      continue;  // closes it: refusing more would cost without bound
    }
    const std::uint64_t id = s->accepted;
    join_handle<void> h = s->children.spawn(serve_connection(s, id, std::move(stream), refused));
    s->connections.emplace(id, connection_entry{std::move(h), false, refused});
    s->refusing += refused ? 1 : 0;
  }
}

// `keep` holds the state while serve() runs, also if the server is destroyed.
template <class = void>
inline task<> serve(std::shared_ptr<server_state> keep) {
  server_state* s = keep.get();
  if (s->serving) {
    throw std::logic_error("corio::http::server::serve: the server is already serving");
  }
  s->serving = true;
  struct finish {
    server_state* s;
    ~finish() {
      s->listener.close();
      s->serving = false;
      s->stopping = true;  // a server serves once
    }
  } guard{s};
  if (!s->stopping) {
    s->acceptor = s->children.spawn(accept_loop(s));
    co_await s->children.wait();
  }
  CORIO_ASSERT(!s->orphaned, "corio::http::server was destroyed while serve() is pending");
}

}  // namespace detail

/// An HTTP/1.1 server: it accepts connections and answers each request with
/// the task that a handler returns.
///
/// Each connection is served by a coroutine of its own. Requests on one
/// connection are read and answered one at a time, in order, so pipelined
/// requests get their responses in the order sent; the connection stays open
/// while the client wants it (HTTP/1.1 keep-alive). A handler that throws
/// (anything but cancelled_error) makes the response a 500; the connection
/// and the server go on. Responses carry Content-Length; a response to HEAD
/// omits the body. `Expect: 100-continue` is answered with 100 Continue.
///
/// A handler ends the connection after its response by setting
/// `Connection: close`; for HEAD it may set the Content-Length of the GET
/// body and leave the body empty (see write_options::omit_body). A handler
/// that returns a 1xx status gets its client a 500: interim responses are
/// not supported.
///
/// At most server_options::max_connections connections are served at once;
/// one more is answered with 503 and closed. An idle connection holds a
/// 1 KiB read buffer (it grows to 16 KiB when reads fill it) besides its
/// coroutine frame and parser, about 4 KiB in all.
///
/// Input the server refuses is answered with a status and the connection is
/// closed: 400 (malformed request, e.g. a bad request line or a missing Host),
/// 414 (request line too long), 431 (header fields over
/// server_options::max_header_bytes), 413 (body over max_body_bytes), 501
/// (a transfer coding other than chunked), 505 (not HTTP/1.x), 408 (part of a
/// request, then silence for idle_timeout). A silent connection is closed
/// after idle_timeout without an answer.
///
/// https: with server_options::tls set, each connection first runs a TLS
/// server handshake (in its own coroutine, so a slow client delays no other)
/// and then is served as above over the TLS session; a response that ends
/// the connection is followed by a close_notify. A client that is not a TLS
/// client, or whose handshake fails, gets OpenSSL's alert and is closed; one
/// that has not finished the handshake after handshake_timeout is closed.
/// stop() and cancellation close handshaking connections at once. A failed
/// handshake is silent unless the loop runs in debug mode (loop_options::debug
/// or CORIO_DEBUG=1): then it writes one line to loop_options::debug_output,
///   corio: debug: http::server: TLS handshake with 127.0.0.1:51234 failed:
///   <OpenSSL's reason>
/// (a timeout or a cancellation writes nothing).
///
/// Throws: bind: std::invalid_argument for an empty handler, a host that
///   is not a numeric address or "localhost", or a client context in
///   server_options::tls; std::system_error (EADDRINUSE,
///   ...). serve: std::system_error if accepting fails for a reason other
///   than running out of descriptors or memory (then it waits and retries);
///   std::logic_error if already serving.
/// Cancellation: cancelling the task in serve() cancels every connection at
///   once (handlers included), closes the listener, and throws cancelled_error.
/// Lifetime: the server must outlive serve() (see ~server for what happens
///   otherwise). The handler is kept in the server, so what it captures
///   lives as long as the server; the request it receives is its own (by
///   value).
/// Thread safety: use only on the loop's thread.
/// Example:
///   corio::task<corio::http::response> hello(corio::http::request req) {
///     co_return corio::http::response{200, {{"Content-Type", "text/plain"}}, "hello " +
///     req.target};
///   }
///   auto srv = corio::http::server::bind("127.0.0.1", 0, hello);
///   corio::join_handle<void> running = corio::spawn(srv.serve());
///   auto res = co_await corio::http::get("http://127.0.0.1:" + std::to_string(srv.port()) + "/x");
///   srv.stop();
///   co_await running;
/// Example (https; the program includes <corio/tls.hpp> and links corio::tls):
///   auto ctx = corio::tls::context::server("server.pem", "server.key");
///   auto srv = corio::http::server::bind("127.0.0.1", 8443, {.tls = &ctx}, hello);
class server {
 public:
  /// What answers a request: called once per request, on the loop's thread.
  using handler_type = std::function<task<response>(request)>;

  server(server&&) noexcept = default;
  server& operator=(server&& other) noexcept {
    if (this != &other) {
      abandon();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  /// Lifetime: destroy the server only after serve() has returned. If serve()
  /// is still pending, every connection is cancelled and serve() ends: with
  /// std::logic_error ("destroyed while serve() is pending") in debug builds,
  /// normally with NDEBUG. Either way nothing is used after it is freed.
  ~server() { abandon(); }

  /// Opens a listening socket on `host`:`port` (port 0 picks a free one, see
  /// port()) with `options`; requests go to `handler` once serve() runs.
  ///
  /// `host` is as for net::tcp_listener::bind: a numeric address,
  /// "localhost" (127.0.0.1) or "" (every interface).
  ///
  /// Throws: std::invalid_argument for an empty handler, an unusable host,
  ///   or a client context in options.tls; std::system_error from bind(2) or
  ///   listen(2).
  /// Example:
  ///   auto srv = corio::http::server::bind("127.0.0.1", 8080, {.idle_timeout = 5s}, handler);
  [[nodiscard]] static server bind(std::string_view host, std::uint16_t port,
                                   server_options options, handler_type handler) {
    if (!handler) {
      throw std::invalid_argument("corio::http::server::bind: the handler is empty");
    }
    std::unique_ptr<corio::detail::secure_acceptor> tls;
    if (options.tls != nullptr) {
      // Only a program that includes corio/tls.hpp can name a tls::context, and that
      // header sets the hook when the program starts: null here means bind() runs
      // before (from a static initialiser).
      if (corio::detail::make_secure_acceptor == nullptr) {
        throw std::logic_error(
            "corio::http::server::bind: server_options::tls is set, but corio/tls.hpp has "
            "not installed TLS yet: call bind() from main, not from a static initialiser");
      }
      tls = corio::detail::make_secure_acceptor(*options.tls);
    }
    net::tcp_listener listener = net::tcp_listener::bind(host, port, options.backlog);
    return server(std::make_shared<detail::server_state>(options, std::move(handler),
                                                         std::move(listener), std::move(tls)));
  }

  /// Opens a listening socket with the default server_options; see above.
  /// Example:
  ///   auto srv = corio::http::server::bind("127.0.0.1", 0, handler);
  [[nodiscard]] static server bind(std::string_view host, std::uint16_t port,
                                   handler_type handler) {
    return bind(host, port, server_options{}, std::move(handler));
  }

  /// The port the server listens on (the one chosen, when bound to port 0).
  [[nodiscard]] std::uint16_t port() const noexcept { return state_->local.port(); }
  /// The address and port the server listens on.
  [[nodiscard]] const net::endpoint& local_endpoint() const noexcept { return state_->local; }

  /// Accepts connections and serves them until stop(); then waits for every
  /// connection to end, closes the listener and returns. A server serves
  /// once: after serve() has returned, calling it again returns at once.
  ///
  /// Throws: std::system_error if accepting fails (not for EMFILE, ENFILE,
  ///   ENOBUFS, ENOMEM: it waits and retries); std::logic_error if the server
  ///   is serving already; cancelled_error when cancelled.
  /// Cancellation: every connection is cancelled at once and awaited, the
  ///   listener is closed, and cancelled_error is thrown.
  /// Lifetime: the server must outlive the returned task.
  /// Example:
  ///   corio::join_handle<void> running = corio::spawn(srv.serve());
  template <class = void>
  [[nodiscard]] task<> serve() {
    return detail::serve(state_);
  }

  /// Stops the server gracefully: no new connection is accepted, connections
  /// waiting for a request are closed, and a request being handled is
  /// answered (with `Connection: close`) before its connection closes; then
  /// serve() returns. May be called from a handler, before serve(), or twice.
  /// A handler that never finishes keeps serve() waiting: cancel serve()'s
  /// task to end everything at once.
  ///
  /// Thread safety: call only on the loop's thread.
  void stop() noexcept {
    detail::server_state& s = *state_;
    s.stopping = true;
    s.acceptor.cancel();
    for (auto& [id, entry] : s.connections) {
      if (!entry.busy) {
        entry.handle.cancel();
      }
    }
    if (!s.serving) {
      s.listener.close();
    }
  }

  /// Connections accepted since bind().
  [[nodiscard]] std::uint64_t connections_accepted() const noexcept { return state_->accepted; }
  /// Connections being served now (not those being refused with 503).
  [[nodiscard]] std::size_t open_connections() const noexcept {
    return state_->connections.size() - state_->refusing;
  }
  /// Responses written completely since bind().
  [[nodiscard]] std::uint64_t requests_served() const noexcept { return state_->requests; }

 private:
  explicit server(std::shared_ptr<detail::server_state> state) noexcept
      : state_(std::move(state)) {}

  // The state lives on in a pending serve() task, which must not be left
  // waiting for a stop() that can no longer come: end everything now.
  void abandon() noexcept {
    if (!state_) {
      return;
    }
    detail::server_state& s = *state_;
    s.orphaned = true;
    s.stopping = true;
    s.children.cancel();
    if (!s.serving) {
      s.listener.close();
    }
    state_.reset();
  }

  std::shared_ptr<detail::server_state> state_;
};

}  // namespace corio::http
