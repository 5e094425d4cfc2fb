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

// The kernel caps one read or write at MAX_RW_COUNT (INT_MAX rounded down to
// a page), and the SQE's length field is 32 bits: larger buffers go in pieces.
inline constexpr std::size_t max_io_size = 0x7ffff000;

inline unsigned clamp_io_size(std::size_t n) noexcept {
  return static_cast<unsigned>(std::min(n, max_io_size));
}

// The socket operations (see io_operation.hpp for what each member means).
// Each finish() is the one place its result becomes a value or an exception.

// One IORING_OP_RECV: read_some.
struct recv_some_op {
  using value_type = std::size_t;
  int fd;
  std::span<std::byte> buffer;
  bool ready() const noexcept { return buffer.empty(); }
  void prep(io_uring_sqe* sqe) noexcept {
    io_uring_prep_recv(sqe, fd, buffer.data(), clamp_io_size(buffer.size()), 0);
  }
  std::size_t finish(int res) const {
    return static_cast<std::size_t>(check(res, "corio::net::tcp_stream::read_some"));
  }
};

// IORING_OP_RECV until the buffer is full: read_exact.
struct recv_exact_op {
  using value_type = void;
  int fd;
  std::span<std::byte> buffer;
  std::size_t done = 0;
  bool ready() const noexcept { return buffer.empty(); }
  void prep(io_uring_sqe* sqe) noexcept {
    const auto rest = buffer.subspan(done);
    io_uring_prep_recv(sqe, fd, rest.data(), clamp_io_size(rest.size()), 0);
  }
  bool resubmit(int res) noexcept {
    if (res <= 0)
      return false;
    done += static_cast<std::size_t>(res);
    return done < buffer.size();
  }
  void finish(int res) const;  // after incomplete_read_error is defined
};

// One IORING_OP_SEND (write_some), or IORING_OP_SEND until everything is
// sent (write_all). MSG_NOSIGNAL: a send to a peer that has gone fails with
// EPIPE instead of raising SIGPIPE.
template <bool All>
struct send_op {
  using value_type = std::conditional_t<All, void, std::size_t>;
  int fd;
  std::span<const std::byte> data;
  bool ready() const noexcept { return data.empty(); }
  void prep(io_uring_sqe* sqe) noexcept {
    io_uring_prep_send(sqe, fd, data.data(), clamp_io_size(data.size()), MSG_NOSIGNAL);
  }
  bool resubmit(int res) noexcept requires All {
    if (res <= 0)
      return false;
    data = data.subspan(static_cast<std::size_t>(res));
    return !data.empty();
  }
  value_type finish(int res) const {
    if constexpr (All) {
      check(res, "corio::net::tcp_stream::write_all");
      // send(2) on a stream socket never sends 0 of a non-empty buffer; if it
      // ever did, looping would never end.
      if (!data.empty())
        throw_errno(-EIO, "corio::net::tcp_stream::write_all: send sent nothing");
    } else {
      return static_cast<std::size_t>(check(res, "corio::net::tcp_stream::write_some"));
    }
  }
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

// An errno-carrying system_error whose `what` names the operation and the peer.
[[noreturn]] inline void throw_socket_error(int negative_errno, const char* operation,
                                            const std::string& circumstances) {
  throw std::system_error(-negative_errno, std::system_category(),
                          std::string(operation) + " " + circumstances);
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

/// Thrown by tcp_stream::read_exact when the peer ends the stream before the
/// buffer is full, and by buffered_reader when the stream ends inside a line
/// or before n bytes, as asyncio's IncompleteReadError.
///
/// It is not a std::system_error: the connection did not fail, it ended (an
/// orderly FIN). tcp_stream::read_exact leaves the bytes before the end at the
/// start of its buffer; buffered_reader hands them over in partial().
/// Thread safety: an exception object; copy it freely.
/// Example:
///   try { co_await s.read_exact(header); }
///   catch (const corio::net::incomplete_read_error& e) { if (e.bytes_read() == 0) co_return;
///   throw; }
class incomplete_read_error : public std::runtime_error {
 public:
  incomplete_read_error(std::size_t bytes_read, std::size_t bytes_expected)
      : std::runtime_error("corio::net::tcp_stream::read_exact: the peer ended the stream after " +
                           std::to_string(bytes_read) + " of " + std::to_string(bytes_expected) +
                           " bytes")
      , bytes_read_(bytes_read)
      , bytes_expected_(bytes_expected) {}

  /// An error whose `what` is `message` and that carries the bytes that arrived.
  incomplete_read_error(const std::string& message, std::string partial, std::size_t bytes_expected)
      : std::runtime_error(message)
      , bytes_read_(partial.size())
      , bytes_expected_(bytes_expected)
      , partial_(std::move(partial)) {}

  /// How many bytes arrived.
  std::size_t bytes_read() const noexcept { return bytes_read_; }
  /// How many bytes the read asked for; 0 when it read up to a delimiter
  /// (buffered_reader::read_line and read_until).
  std::size_t bytes_expected() const noexcept { return bytes_expected_; }
  /// The bytes that arrived, when the reader kept them (buffered_reader);
  /// empty for tcp_stream::read_exact, which leaves them in its buffer.
  const std::string& partial() const noexcept { return partial_; }

 private:
  std::size_t bytes_read_;
  std::size_t bytes_expected_;
  std::string partial_;
};

class tcp_listener;

}  // namespace corio::net

namespace corio::detail {

inline void recv_exact_op::finish(int res) const {
  check(res, "corio::net::tcp_stream::read_exact");
  if (done < buffer.size())
    throw net::incomplete_read_error(done, buffer.size());
}

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
class tcp_stream {
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
  template <class = void>
  [[nodiscard]] static task<tcp_stream> connect(endpoint remote) {
    corio::detail::unique_fd fd(::socket(remote.family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
    if (!fd)
      corio::detail::throw_socket_error(-errno, "corio::net::tcp_stream::connect", "(socket)");
    // The kernel reads the address when the SQE is submitted: it lives in this frame.
    const sockaddr_storage address = remote.to_sockaddr();
    const socklen_t length = remote.sockaddr_length();
    const int res = co_await corio::detail::io_op([&](io_uring_sqe* sqe) {
      io_uring_prep_connect(sqe, fd.get(), reinterpret_cast<const sockaddr*>(&address), length);
    });
    if (res < 0) {
      corio::detail::throw_socket_error(res, "corio::net::tcp_stream::connect",
                                        "to " + remote.to_string());
    }
    co_return tcp_stream(std::move(fd));
  }

  /// Reads what is available, up to `buffer.size()` bytes, waiting until at
  /// least one byte has arrived.
  ///
  /// Completes with the number of bytes read; `0` means the peer ended the
  /// stream (and an empty `buffer` completes with `0` at once).
  /// Uses IORING_OP_RECV; see io_uring_prep_recv(3) and recv(2).
  ///
  /// Throws: std::system_error (ECONNRESET, ...); cancelled_error.
  /// Cancellation: the receive is cancelled in the kernel; no byte is lost
  ///   (data that arrived first completes the read, and the cancellation then
  ///   reaches the task at its next suspension point), and the stream stays
  ///   usable for later reads.
  /// Lifetime: the stream and `buffer` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread; one read at a time.
  /// Example:
  ///   std::array<std::byte, 4096> buf;
  ///   std::size_t n = co_await s.read_some(buf);
  [[nodiscard]] corio::detail::io_operation<corio::detail::recv_some_op> read_some(
      std::span<std::byte> buffer) {
    if (!buffer.empty())
      assert_open();
    return corio::detail::io_operation(corio::detail::recv_some_op{fd_.get(), buffer});
  }

  /// Reads exactly `buffer.size()` bytes, as asyncio's readexactly.
  ///
  /// Uses IORING_OP_RECV, repeated until the buffer is full; see io_uring_prep_recv(3).
  ///
  /// Throws: incomplete_read_error if the peer ends the stream first (the
  ///   bytes that did arrive are at the start of `buffer`);
  ///   std::system_error; cancelled_error.
  /// Cancellation: as read_some; the bytes already read are in `buffer` but
  ///   their count is lost, so after a cancelled read_exact the stream's
  ///   position is unknown: close it unless the protocol can resynchronise.
  /// Lifetime: the stream and `buffer` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread; one read at a time.
  /// Example:
  ///   std::array<std::byte, 4> header;
  ///   co_await s.read_exact(header);
  [[nodiscard]] corio::detail::io_operation<corio::detail::recv_exact_op> read_exact(
      std::span<std::byte> buffer) {
    if (!buffer.empty())
      assert_open();
    return corio::detail::io_operation(corio::detail::recv_exact_op{fd_.get(), buffer});
  }

  /// Sends some of `data`, waiting until the socket accepts at least one byte;
  /// completes with the number of bytes sent.
  ///
  /// Uses IORING_OP_SEND with MSG_NOSIGNAL; see io_uring_prep_send(3) and send(2).
  ///
  /// Throws: std::system_error (EPIPE or ECONNRESET when the peer has gone:
  ///   MSG_NOSIGNAL means no SIGPIPE ever reaches the process); cancelled_error.
  /// Cancellation: the send is cancelled in the kernel; bytes it had queued
  ///   stay sent.
  /// Lifetime: the stream and `data` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread; one write at a time.
  /// Example:
  ///   std::size_t n = co_await s.write_some(std::as_bytes(std::span(text)));
  [[nodiscard]] corio::detail::io_operation<corio::detail::send_op<false>> write_some(
      std::span<const std::byte> data) {
    if (!data.empty())
      assert_open();
    return corio::detail::io_operation(corio::detail::send_op<false>{fd_.get(), data});
  }

  /// Sends all of `data`, continuing after short sends.
  ///
  /// Uses IORING_OP_SEND with MSG_NOSIGNAL, repeated; see io_uring_prep_send(3).
  ///
  /// Throws: std::system_error (EPIPE or ECONNRESET when the peer has gone,
  ///   never a SIGPIPE); cancelled_error.
  /// Cancellation: the pending send is cancelled in the kernel. How much of
  ///   `data` went out is unknown, so the stream is no longer in a known
  ///   state: close it.
  /// Lifetime: the stream and `data` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread; one write at a time.
  /// Example:
  ///   co_await s.write_all(std::as_bytes(std::span(payload)));
  [[nodiscard]] corio::detail::io_operation<corio::detail::send_op<true>> write_all(
      std::span<const std::byte> data) {
    if (!data.empty())
      assert_open();
    return corio::detail::io_operation(corio::detail::send_op<true>{fd_.get(), data});
  }

  /// Sends all of `text`; as write_all(std::span<const std::byte>).
  /// Example:
  ///   co_await s.write_all("GET / HTTP/1.1\r\n\r\n");
  [[nodiscard]] corio::detail::io_operation<corio::detail::send_op<true>> write_all(
      std::string_view text) {
    return write_all(std::as_bytes(std::span(text.data(), text.size())));
  }

  /// Ends the sending direction (sends a FIN); the peer's read_some then
  /// returns 0. Reading stays possible. Uses shutdown(2) with SHUT_WR, which
  /// does not block.
  ///
  /// Throws: std::system_error (ENOTCONN if the peer reset the connection).
  /// Thread safety: call only on the loop's thread.
  /// Example:
  ///   co_await s.write_all(request);
  ///   s.shutdown_write();
  void shutdown_write() {
    assert_open();
    if (::shutdown(fd_.get(), SHUT_WR) < 0)
      corio::detail::throw_errno(-errno, "corio::net::tcp_stream::shutdown_write");
  }

  /// Closes the socket; does nothing if it is not open.
  ///
  /// Uses IORING_OP_CLOSE; see io_uring_prep_close(3). The stream is empty
  /// (is_open() false) from the moment the call starts.
  ///
  /// Throws: std::system_error (the socket is closed even then, as with close(2));
  ///   cancelled_error (the socket is closed synchronously first).
  /// Thread safety: await only on the loop's thread, with no other operation
  ///   pending on the stream.
  /// Example:
  ///   co_await s.close();
  template <class = void>
  [[nodiscard]] task<> close() {
    if (!fd_)
      co_return;
    const int fd = fd_.release();
    int res = 0;
    try {
      res =
          co_await corio::detail::io_op([fd](io_uring_sqe* sqe) { io_uring_prep_close(sqe, fd); });
    } catch (const cancelled_error&) {
      ::close(fd);  // cancelled before the close was submitted: do it here
      throw;
    }
    corio::detail::check(res, "corio::net::tcp_stream::close");
  }

  /// True if the stream owns a socket.
  bool is_open() const noexcept { return fd_.valid(); }
  /// The socket's file descriptor (-1 if none); the stream keeps owning it.
  int native_handle() const noexcept { return fd_.get(); }

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
  explicit tcp_stream(corio::detail::unique_fd fd) noexcept : fd_(std::move(fd)) {}

  void assert_open() const {
    CORIO_ASSERT(fd_.valid(), "corio::net::tcp_stream: the stream is not open");
  }

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

  // Data that only the loop's thread touches.
  corio::detail::unique_fd fd_;
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
  // One IORING_OP_ACCEPT, again at once after a transient error; yields the
  // descriptor or -errno, which accept() turns into a stream, a wait or an error.
  struct accept_op {
    using value_type = int;
    int fd;
    void prep(io_uring_sqe* sqe) noexcept {
      io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC);
    }
    bool resubmit(int res) const noexcept { return res < 0 && is_transient_accept_error(-res); }
    int finish(int res) const noexcept { return res; }
  };

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
  template <class = void>
  [[nodiscard]] task<tcp_stream> accept() {
    CORIO_ASSERT(fd_.valid(), "corio::net::tcp_listener::accept: the listener is not open");
    // The retries use this copy, never the listener: one destroyed under a
    // pending accept (a misuse) must not be read after it is freed.
    const int fd = fd_.get();
    for (;;) {
      const int res = co_await corio::detail::io_operation(accept_op{fd});
      if (res >= 0)
        co_return tcp_stream(corio::detail::unique_fd(res));
      CORIO_ASSERT(res != -EBADF,
                   "corio::net::tcp_listener was closed or destroyed while accept() is pending");
      if (!is_exhaustion_accept_error(-res))
        corio::detail::throw_errno(res, "corio::net::tcp_listener::accept");
      co_await sleep(accept_exhaustion_retry);
    }
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

  // Out of descriptors or memory: waiting lets closing connections free some.
  static constexpr std::chrono::milliseconds accept_exhaustion_retry{100};
  static bool is_exhaustion_accept_error(int err) noexcept {
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
  }

  // accept(2), "Error handling": pending network errors of the new connection
  // are reported by accept; retry as for EAGAIN.
  static bool is_transient_accept_error(int err) noexcept {
    switch (err) {
      case ECONNABORTED:
      case ENETDOWN:
      case EPROTO:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
        return true;
      default:
        return false;
    }
  }

  // Data that does not change once initialised.
  endpoint local_;
  // Data that only the loop's thread touches.
  corio::detail::unique_fd fd_;
};

}  // namespace corio::net
