// SPDX-License-Identifier: MIT
// corio/net/tcp.hpp: TCP streams and listeners on io_uring, and name resolution.
// Its coroutines that need no template parameter, and the functions that call them, are
// declared `template <class = void>` so that g++ compiles them only where they are used;
// see CONTRIBUTING.md, "Coroutines in headers".
//
// - tcp_stream: a connected socket; connect(), read_some(), read_exact(),
//   write_all(), shutdown_write(), close().
// - tcp_listener: a listening socket; bind() and accept().
// - resolve(): host name to endpoints, on the to_thread pool.
// - incomplete_read_error, resolve_category(): the errors that are not errno values.
//
// Every operation that waits is an io_uring operation (IORING_OP_ACCEPT,
// CONNECT, RECV, SEND, CLOSE); the calls that never block (socket, bind,
// listen, setsockopt, shutdown, getsockname) are plain system calls.
#pragma once

#include <corio/config.hpp>
#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/net/detail/socket_stream.hpp>
#include <corio/net/incomplete_read_error.hpp>
#include <corio/sleep.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>

#include <corio/detail/errno.hpp>
#include <corio/detail/io_operation.hpp>
#include <corio/detail/unique_fd.hpp>

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <netdb.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace corio::net {

/// The error category of getaddrinfo(3) failures: the error_code's value is
/// the EAI_* code (EAI_NONAME, EAI_AGAIN, ...) and its message is
/// gai_strerror's.
///
/// Thread safety: may be used from any thread.
/// Example:
///   catch (const std::system_error& e) {
///     if (e.code() == std::error_code(EAI_NONAME, corio::net::resolve_category())) ...
///   }
inline const std::error_category& resolve_category() noexcept;

}  // namespace corio::net

namespace corio::detail {

class resolve_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio.resolve"; }
  std::string message(int code) const override { return ::gai_strerror(code); }
};

// Runs on a to_thread worker: getaddrinfo blocks (DNS, /etc/hosts, NSS).
inline std::vector<net::endpoint> resolve_blocking(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  // No AI_ADDRCONFIG: it ignores loopback addresses, so "localhost" would not
  // resolve on a machine whose only interface is lo.
  hints.ai_flags = AI_NUMERICSERV;
  const std::string service = std::to_string(port);
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    const std::string what = "corio::net::resolve: cannot resolve \"" + host + "\"";
    if (rc == EAI_SYSTEM)
      throw std::system_error(errno, std::system_category(), what);
    throw std::system_error(rc, net::resolve_category(), what);
  }
  std::vector<net::endpoint> endpoints;
  try {
    for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
        continue;
      const auto ep = net::endpoint::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
      if (std::find(endpoints.begin(), endpoints.end(), ep) == endpoints.end())
        endpoints.push_back(ep);
    }
  } catch (...) {
    ::freeaddrinfo(list);
    throw;
  }
  ::freeaddrinfo(list);
  if (endpoints.empty()) {
    throw std::system_error(EAI_NONAME, net::resolve_category(),
                            "corio::net::resolve: \"" + host + "\" has no IPv4 or IPv6 address");
  }
  return endpoints;
}

template <class = void>
inline task<std::vector<net::endpoint>> resolve_host(std::string host, std::uint16_t port) {
  if (auto numeric = net::ip_address::try_parse(host))
    co_return std::vector{net::endpoint(*numeric, port)};
  if (host.empty())
    throw std::invalid_argument("corio::net::resolve: the host name is empty");
  co_return co_await to_thread(&resolve_blocking, std::move(host), port);
}

}  // namespace corio::detail

namespace corio::net {

inline const std::error_category& resolve_category() noexcept {
  static const corio::detail::resolve_error_category category;
  return category;
}

/// Resolves `host` to the endpoints to try for `port`, in the order
/// getaddrinfo(3) prefers (RFC 6724).
///
/// A numeric address ("127.0.0.1", "::1", "[::1]") is returned at once;
/// anything else is looked up with getaddrinfo on the loop's to_thread pool,
/// so the loop keeps running during a slow DNS query.
///
/// Throws: std::system_error with resolve_category() and the EAI_* code
///   (std::system_category() for EAI_SYSTEM), whose `what` names the host,
///   when the name does not resolve; std::invalid_argument for an empty host;
///   cancelled_error.
/// Cancellation: the caller resumes at once with cancelled_error; the
///   getaddrinfo call itself runs to its end on its worker (see to_thread).
/// Lifetime: `host` is copied; it need not outlive the call.
/// Thread safety: await only on the loop's thread.
/// Example:
///   std::vector<corio::net::endpoint> eps = co_await corio::net::resolve("example.com", 80);
template <class = void>
[[nodiscard]] inline task<std::vector<endpoint>> resolve(std::string_view host,
                                                         std::uint16_t port) {
  return corio::detail::resolve_host(std::string(host), port);
}

class tcp_listener;

}  // namespace corio::net

namespace corio::detail {

// tcp_stream's names in its errors (see socket_stream.hpp).
struct tcp_stream_names : stream_names<"corio::net::tcp_stream"> {
  // The peer in connect's errors, made only when one is thrown.
  static std::string peer(const sockaddr_storage& address, socklen_t length) {
    return net::endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&address), length)
        .to_string();
  }
};

// tcp_listener's names in its errors.
struct tcp_listener_names : listener_names<"corio::net::tcp_listener"> {};

}  // namespace corio::detail

namespace corio::net {

/// A connected TCP socket, as asyncio's StreamReader and StreamWriter in one.
///
/// Made by connect() or tcp_listener::accept(). The destructor closes the
/// socket with ::close (which does not block: no SO_LINGER is set); close()
/// does it through io_uring. Sockets are SOCK_CLOEXEC.
///
/// Errors: the operating system's as std::system_error (errno value,
///   std::system_category()), whose `what` names the operation
///   ("corio::net::tcp_stream::read_some"); a premature end in read_exact as
///   incomplete_read_error; cancellation as cancelled_error.
/// Lifetime: an operation's task refers to the stream and to the caller's
///   buffer; both must stay valid until its co_await completes.
/// Thread safety: use only on the loop's thread. One read and one write may be
///   pending at the same time (from two tasks, e.g. under gather); two
///   concurrent reads, or two concurrent writes, interleave their bytes
///   unpredictably.
/// Example:
///   auto s = co_await corio::net::tcp_stream::connect("localhost", 8080);
///   co_await s.write_all("ping\n");
///   std::array<std::byte, 512> buf;
///   std::size_t n = co_await s.read_some(buf);
///
/// Reading and writing (read_some, read_exact, write_some, write_all,
/// shutdown_write, close, is_open, native_handle) are shared with unix_stream;
/// their documentation is in corio/net/detail/socket_stream.hpp.
class tcp_stream : public corio::detail::socket_stream<corio::detail::tcp_stream_names> {
 public:
  /// A stream with no socket; is_open() is false.
  tcp_stream() noexcept = default;
  tcp_stream(tcp_stream&&) noexcept = default;
  tcp_stream& operator=(tcp_stream&&) noexcept = default;
  tcp_stream(const tcp_stream&) = delete;
  tcp_stream& operator=(const tcp_stream&) = delete;
  ~tcp_stream() = default;

  /// Takes ownership of `fd`, a connected SOCK_STREAM socket (blocking or not).
  static tcp_stream from_native_handle(int fd) noexcept {
    return tcp_stream(corio::detail::unique_fd(fd));
  }

  /// Connects to `host`:`port`, where `host` is a numeric address ("127.0.0.1",
  /// "::1", "[::1]") or a name; a name is resolved with resolve() (on the
  /// to_thread pool, never blocking the loop) and each of its addresses is
  /// tried in turn until one accepts.
  ///
  /// Uses IORING_OP_CONNECT; see io_uring_prep_connect(3) and connect(2).
  ///
  /// Throws: std::system_error with the errno of the last address tried
  ///   (ECONNREFUSED, ETIMEDOUT, ENETUNREACH, ...), whose `what` names the
  ///   host, port and addresses tried; resolve()'s errors when the name does
  ///   not resolve (resolve_category(), naming the host); cancelled_error.
  /// Cancellation: the pending connect is cancelled in the kernel and its
  ///   socket closed; nothing is left half-open.
  /// Lifetime: `host` is copied; it need not outlive the call.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   auto s = co_await corio::net::tcp_stream::connect("127.0.0.1", 8080);
  template <class = void>
  [[nodiscard]] static task<tcp_stream> connect(std::string_view host, std::uint16_t port) {
    return connect_to_host(std::string(host), port);
  }

  /// Connects to `remote`. Uses IORING_OP_CONNECT; see io_uring_prep_connect(3).
  ///
  /// Throws: std::system_error (ECONNREFUSED, ...) naming `remote`; cancelled_error.
  /// Cancellation: as connect(host, port).
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   auto s = co_await corio::net::tcp_stream::connect(corio::net::endpoint::parse("[::1]:80"));
  [[nodiscard]] static corio::detail::io_operation<
      corio::detail::connect_op<tcp_stream, corio::detail::tcp_stream_names>>
  connect(const endpoint& remote) {
    return corio::detail::connect_socket<tcp_stream, corio::detail::tcp_stream_names>(
        remote.family(), IPPROTO_TCP, remote.to_sockaddr(), remote.sockaddr_length());
  }

  /// The local address and port (getsockname(2)).
  /// Throws: std::system_error.
  endpoint local_endpoint() const { return socket_name(false); }
  /// The peer's address and port (getpeername(2)).
  /// Throws: std::system_error (ENOTCONN once the peer has reset the connection).
  endpoint remote_endpoint() const { return socket_name(true); }

  /// Turns Nagle's algorithm off (`true`: small writes go out at once) or on.
  /// Uses setsockopt(2) TCP_NODELAY.
  /// Throws: std::system_error.
  void set_nodelay(bool enabled) {
    const int value = enabled ? 1 : 0;
    if (::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &value, sizeof value) < 0) {
      corio::detail::throw_errno(-errno, "corio::net::tcp_stream::set_nodelay");
    }
  }

 private:
  friend class tcp_listener;
  explicit tcp_stream(corio::detail::unique_fd fd) noexcept : socket_stream(std::move(fd)) {}

  endpoint socket_name(bool peer) const {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    auto* addr = reinterpret_cast<sockaddr*>(&storage);
    const int rc =
        peer ? ::getpeername(fd_.get(), addr, &length) : ::getsockname(fd_.get(), addr, &length);
    if (rc < 0) {
      corio::detail::throw_errno(-errno, peer ? "corio::net::tcp_stream::remote_endpoint"
                                              : "corio::net::tcp_stream::local_endpoint");
    }
    return endpoint::from_sockaddr(addr, length);
  }

  template <class = void>
  static task<tcp_stream> connect_to_host(std::string host, std::uint16_t port) {
    const std::vector<endpoint> candidates = co_await resolve(host, port);
    std::error_code last_error;
    std::string tried;
    for (const endpoint& candidate : candidates) {
      try {
        co_return co_await connect(candidate);
      } catch (const std::system_error& e) {
        last_error = e.code();  // try the next address, as asyncio's open_connection
      }
      tried += (tried.empty() ? "" : ", ") + candidate.to_string();
    }
    throw std::system_error(last_error, "corio::net::tcp_stream::connect to \"" + host +
                                            "\" port " + std::to_string(port) + " (tried " + tried +
                                            ")");
  }
};

/// A listening TCP socket, as the server side of asyncio's start_server.
///
/// bind() opens it synchronously (socket, bind and listen never block);
/// accept() waits for connections through io_uring. The destructor closes it.
///
/// Errors: std::system_error (errno, std::system_category()) naming the
///   operation; std::invalid_argument for a host bind() cannot use.
/// Lifetime: the listener must outlive its pending accept(). io_uring holds
///   its own reference to the socket while an accept is pending, so a
///   listener closed under a pending accept keeps its port until that accept
///   is cancelled or completes: cancel first (e.g. the accepting task).
/// Thread safety: use only on the loop's thread. Several tasks may accept on
///   one listener at once; each connection goes to exactly one of them.
/// Example:
///   auto listener = corio::net::tcp_listener::bind("127.0.0.1", 0);
///   std::uint16_t port = listener.local_port();
///   corio::net::tcp_stream conn = co_await listener.accept();
class tcp_listener {
 public:
  /// A listener with no socket; is_open() is false.
  tcp_listener() noexcept = default;
  tcp_listener(tcp_listener&&) noexcept = default;
  tcp_listener& operator=(tcp_listener&&) noexcept = default;
  tcp_listener(const tcp_listener&) = delete;
  tcp_listener& operator=(const tcp_listener&) = delete;
  ~tcp_listener() = default;

  /// Opens a socket listening on `host`:`port` with SO_REUSEADDR; port 0
  /// picks a free port (see local_port()).
  ///
  /// `host` must be one of: a numeric IPv4 or IPv6 address ("127.0.0.1",
  /// "0.0.0.0", "::1", "[::1]", "::"); "localhost", which means 127.0.0.1;
  /// or "" for every interface, IPv6 and IPv4 on one dual-stack socket (or
  /// IPv4 only where the machine has no IPv6). Binding never resolves a name,
  /// because resolution waits and bind is synchronous: resolve it first with
  /// `co_await corio::net::resolve(host, port)` and bind an endpoint.
  ///
  /// Uses socket(2), bind(2) and listen(2), which do not block.
  ///
  /// Throws: std::invalid_argument for any other host or a negative backlog;
  ///   std::system_error (EADDRINUSE, EACCES for a privileged port,
  ///   EADDRNOTAVAIL) naming the endpoint.
  /// Thread safety: may be called on any thread; accept only on the loop's.
  /// Example:
  ///   auto listener = corio::net::tcp_listener::bind("", 8080);
  static tcp_listener bind(std::string_view host, std::uint16_t port, int backlog = 1024) {
    if (host.empty()) {
      // Dual stack: "::" with IPV6_V6ONLY off also accepts IPv4 (as ::ffff:a.b.c.d).
      corio::detail::unique_fd probe(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
      if (probe)
        return bind(endpoint(ipv6_address::any(), port), backlog, std::move(probe), true);
      return bind(endpoint(ipv4_address::any(), port), backlog);
    }
    if (host == "localhost")
      return bind(endpoint(ipv4_address::loopback(), port), backlog);
    if (auto numeric = ip_address::try_parse(host))
      return bind(endpoint(*numeric, port), backlog);
    throw std::invalid_argument("corio::net::tcp_listener::bind: \"" + std::string(host) +
                                "\" is not a numeric address; bind takes a numeric IPv4 or IPv6 "
                                "address, \"localhost\" or \"\" (every interface). To bind a name, "
                                "resolve it first: co_await corio::net::resolve(host, port)");
  }

  /// Opens a socket listening on `local`; as bind(host, port, backlog).
  static tcp_listener bind(const endpoint& local, int backlog = 1024) {
    corio::detail::unique_fd fd(::socket(local.family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
    if (!fd)
      corio::detail::throw_socket_error(-errno, "corio::net::tcp_listener::bind", "(socket)");
    return bind(local, backlog, std::move(fd), false);
  }

  /// Waits for the next connection and returns it as a stream (SOCK_CLOEXEC).
  ///
  /// Uses IORING_OP_ACCEPT; see io_uring_prep_accept(3) and accept4(2).
  /// Connections that fail between the handshake and the accept (ECONNABORTED
  /// and the network errors accept(2) says to treat like EAGAIN) are skipped,
  /// and accept waits for the next one. When the process or the system is
  /// out of file descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM),
  /// accept waits 100 ms and tries again, as asyncio's servers do: the
  /// connection stays queued, and connections that close free what it needs.
  /// Bound that wait with wait_for if the caller must know.
  ///
  /// Throws: std::system_error for the other errors (EINVAL if the socket is
  ///   not listening, ...); cancelled_error.
  /// Cancellation: the accept is cancelled in the kernel and the listener
  ///   stays usable. No connection is lost: one the kernel accepted before the
  ///   cancellation reached it is returned, and the cancellation reaches the
  ///   task at its next suspension point; otherwise it stays queued for the
  ///   next accept().
  /// Lifetime: the listener must stay valid until the co_await completes.
  ///   A retry (see above) after the listener was closed or destroyed throws
  ///   std::logic_error in debug builds, std::system_error EBADF with NDEBUG.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   auto conn = co_await corio::wait_for(listener.accept(), std::chrono::seconds(5));
  [[nodiscard]] corio::detail::io_operation<
      corio::detail::accept_op<tcp_stream, corio::detail::tcp_listener_names>>
  accept() {
    return corio::detail::accept_socket<tcp_stream, corio::detail::tcp_listener_names>(
        fd_.get(), nonblocking_);
  }

  /// The port the listener is bound to (the one chosen, for port 0).
  std::uint16_t local_port() const noexcept { return local_.port(); }
  /// The address and port the listener is bound to.
  const endpoint& local_endpoint() const noexcept { return local_; }

  /// True if the listener owns a socket.
  bool is_open() const noexcept { return fd_.valid(); }
  /// The socket's file descriptor (-1 if none); the listener keeps owning it.
  int native_handle() const noexcept { return fd_.get(); }
  /// Closes the socket now (::close); see Lifetime about pending accepts.
  void close() noexcept { fd_.reset(); }

 private:
  static tcp_listener bind(const endpoint& local, int backlog, corio::detail::unique_fd fd,
                           bool dual_stack) {
    const char* const who = "corio::net::tcp_listener::bind";
    if (backlog < 0)
      throw std::invalid_argument(std::string(who) + ": the backlog must not be negative");
    const int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
      corio::detail::throw_socket_error(-errno, who, "(SO_REUSEADDR)");
    }
    if (dual_stack) {
      const int zero = 0;
      if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0) {
        corio::detail::throw_socket_error(-errno, who, "(IPV6_V6ONLY)");
      }
    }
    const sockaddr_storage address = local.to_sockaddr();
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), local.sockaddr_length()) <
        0) {
      corio::detail::throw_socket_error(-errno, who, "to " + local.to_string());
    }
    if (::listen(fd.get(), backlog) < 0)
      corio::detail::throw_socket_error(-errno, who, "(listen)");

    tcp_listener listener;
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length) < 0) {
      corio::detail::throw_socket_error(-errno, who, "(getsockname)");
    }
    listener.local_ = endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&bound), length);
    listener.fd_ = std::move(fd);
    return listener;
  }

  // Data that does not change once initialised.
  endpoint local_;
  // Data that only the loop's thread touches.
  corio::detail::unique_fd fd_;
  bool nonblocking_ = false;  // made so for an epoll loop's accept (see accept_op)
};

}  // namespace corio::net