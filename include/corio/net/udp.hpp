// SPDX-License-Identifier: MIT
// corio/net/udp.hpp: UDP sockets on io_uring, IPv4 and IPv6.
// Its coroutines that need no template parameter are declared `template <class = void>`;
// see CONTRIBUTING.md, "Coroutines in headers".
//
// Every operation that waits is an io_uring operation (IORING_OP_SENDMSG,
// RECVMSG, SEND, RECV); socket, bind and connect never block for UDP and are
// plain system calls.
#pragma once

#include <corio/config.hpp>
#include <corio/net/address.hpp>
#include <corio/net/detail/socket_stream.hpp>
#include <corio/net/tcp.hpp>
#include <corio/task.hpp>

#include <corio/detail/errno.hpp>
#include <corio/detail/io_operation.hpp>
#include <corio/detail/unique_fd.hpp>

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace corio::net {

/// What udp_socket::receive_from yields: the datagram's size (its bytes are
/// at the start of the caller's buffer) and who sent it.
struct datagram {
  std::size_t size = 0;
  endpoint peer;
};

}  // namespace corio::net

namespace corio::detail {

// A datagram longer than the buffer: MSG_TRUNC makes the kernel report its
// real length, and the read says so instead of returning a cut datagram.
[[noreturn]] inline void throw_truncated(const char* who, std::size_t length, std::size_t room) {
  throw std::system_error(EMSGSIZE, std::system_category(),
                          std::string(who) + ": a datagram of " + std::to_string(length) +
                              " bytes did not fit the " + std::to_string(room) +
                              "-byte buffer; its first " + std::to_string(room) +
                              " bytes are in the buffer and the rest is lost (use a buffer of "
                              "65535 bytes to receive any UDP datagram whole)");
}

// IORING_OP_SENDMSG with the destination in the message: send_to.
struct send_to_op {
  using value_type = std::size_t;
  int fd;
  std::span<const std::byte> data;
  sockaddr_storage address;
  socklen_t length;
  iovec iov{};
  msghdr message{};
  static constexpr bool writes = true;
  // The kernel reads these when it runs the operation: they live in the awaiter.
  void build() noexcept {
    iov = {const_cast<std::byte*>(data.data()), data.size()};
    message = {};
    message.msg_name = &address;
    message.msg_namelen = length;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
  }
  void prep(io_uring_sqe* sqe) noexcept {
    build();
    io_uring_prep_sendmsg(sqe, fd, &message, 0);
  }
  int attempt() noexcept {
    build();
    const ssize_t n = ::sendmsg(fd, &message, MSG_DONTWAIT);
    return n >= 0 ? static_cast<int>(n) : -errno;
  }
  std::size_t finish(int res) const {
    return static_cast<std::size_t>(check(res, "corio::net::udp_socket::send_to"));
  }
};

// IORING_OP_RECVMSG with MSG_TRUNC: receive_from.
struct receive_from_op {
  using value_type = net::datagram;
  int fd;
  std::span<std::byte> buffer;
  sockaddr_storage address{};
  iovec iov{};
  msghdr message{};
  static constexpr bool writes = false;
  void build() noexcept {
    iov = {buffer.data(), buffer.size()};
    message = {};
    message.msg_name = &address;
    message.msg_namelen = sizeof address;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
  }
  void prep(io_uring_sqe* sqe) noexcept {
    build();
    io_uring_prep_recvmsg(sqe, fd, &message, MSG_TRUNC);
  }
  int attempt() noexcept {
    build();
    const ssize_t n = ::recvmsg(fd, &message, MSG_TRUNC | MSG_DONTWAIT);
    return n >= 0 ? static_cast<int>(n) : -errno;
  }
  net::datagram finish(int res) const {
    const char* const who = "corio::net::udp_socket::receive_from";
    const auto length = static_cast<std::size_t>(check(res, who));
    if (length > buffer.size() || (message.msg_flags & MSG_TRUNC) != 0)
      throw_truncated(who, length, buffer.size());
    net::endpoint peer = net::endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&address),
                                                      message.msg_namelen);
    // A dual-stack socket sees IPv4 peers as ::ffff:a.b.c.d; give them as IPv4.
    if (peer.address().is_v6() && peer.address().v6().is_v4_mapped()) {
      const auto b = peer.address().v6().bytes();
      peer = net::endpoint(net::ipv4_address({b[12], b[13], b[14], b[15]}), peer.port());
    }
    return {length, peer};
  }
};

// IORING_OP_RECV with MSG_TRUNC on a connected socket: receive.
struct receive_op {
  using value_type = std::size_t;
  int fd;
  std::span<std::byte> buffer;
  static constexpr bool writes = false;
  void prep(io_uring_sqe* sqe) noexcept {
    io_uring_prep_recv(sqe, fd, buffer.data(), clamp_io_size(buffer.size()), MSG_TRUNC);
  }
  int attempt() noexcept {
    const ssize_t n =
        ::recv(fd, buffer.data(), clamp_io_size(buffer.size()), MSG_TRUNC | MSG_DONTWAIT);
    return n >= 0 ? static_cast<int>(n) : -errno;
  }
  std::size_t finish(int res) const {
    const char* const who = "corio::net::udp_socket::receive";
    const auto length = static_cast<std::size_t>(check(res, who));
    if (length > buffer.size())
      throw_truncated(who, length, buffer.size());
    return length;
  }
};

// IORING_OP_SEND on a connected socket: send.
struct send_datagram_op {
  using value_type = std::size_t;
  int fd;
  std::span<const std::byte> data;
  static constexpr bool writes = true;
  void prep(io_uring_sqe* sqe) noexcept {
    io_uring_prep_send(sqe, fd, data.data(), clamp_io_size(data.size()), 0);
  }
  int attempt() noexcept {
    const ssize_t n = ::send(fd, data.data(), clamp_io_size(data.size()), MSG_DONTWAIT);
    return n >= 0 ? static_cast<int>(n) : -errno;
  }
  std::size_t finish(int res) const {
    return static_cast<std::size_t>(check(res, "corio::net::udp_socket::send"));
  }
};

}  // namespace corio::detail

namespace corio::net {

/// A UDP socket, as asyncio's create_datagram_endpoint: datagrams to and from
/// any peer (send_to, receive_from), or, once connected, to and from one
/// (send, receive).
///
/// A datagram is never cut silently: one longer than the buffer given to
/// receive_from or receive makes it throw std::system_error EMSGSIZE, saying
/// how long the datagram was (its first bytes are in the buffer; the rest is
/// lost, as the kernel drops it). A 65535-byte buffer holds any datagram.
///
/// Errors: std::system_error (errno) naming the operation; std::invalid_argument
///   for a host bind() cannot use; cancelled_error.
/// Cancellation: a pending send or receive is cancelled in the kernel; no
///   datagram is lost (one that arrived first completes the receive).
/// Lifetime: the socket and the caller's buffer must stay valid until an
///   operation's co_await completes.
/// Thread safety: use only on the loop's thread. Several sends and receives
///   may be pending at once; each datagram goes to exactly one receive.
/// Example:
///   auto s = corio::net::udp_socket::bind("127.0.0.1", 0);
///   std::array<std::byte, 65535> buf;
///   corio::net::datagram d = co_await s.receive_from(buf);
///   co_await s.send_to(d.peer, std::span(buf).first(d.size));
class udp_socket {
 public:
  /// A socket with no descriptor; is_open() is false.
  udp_socket() noexcept = default;
  udp_socket(udp_socket&&) noexcept = default;
  udp_socket& operator=(udp_socket&&) noexcept = default;
  udp_socket(const udp_socket&) = delete;
  udp_socket& operator=(const udp_socket&) = delete;
  ~udp_socket() = default;

  /// A socket bound to `host`:`port`; port 0 picks a free port (see local_endpoint()).
  ///
  /// `host` is as for tcp_listener::bind: a numeric IPv4 or IPv6 address,
  /// "localhost" (127.0.0.1), or "" for every interface, IPv6 and IPv4 on one
  /// dual-stack socket (IPv4 peers then appear as IPv4 endpoints, and
  /// send_to takes IPv4 endpoints).
  ///
  /// Throws: std::invalid_argument for any other host; std::system_error
  ///   (EADDRINUSE, EACCES, EADDRNOTAVAIL) naming the endpoint.
  /// Thread safety: may be called on any thread.
  /// Example:
  ///   auto s = corio::net::udp_socket::bind("::1", 5353);
  static udp_socket bind(std::string_view host, std::uint16_t port) {
    if (host.empty()) {
      udp_socket s = open(AF_INET6, "corio::net::udp_socket::bind", false);
      if (s.is_open()) {
        const int zero = 0;
        if (::setsockopt(s.fd_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0) {
          corio::detail::throw_socket_error(-errno, "corio::net::udp_socket::bind",
                                            "(IPV6_V6ONLY)");
        }
        s.bind_to(endpoint(ipv6_address::any(), port));
        return s;
      }
      return bind(endpoint(ipv4_address::any(), port));
    }
    if (host == "localhost")
      return bind(endpoint(ipv4_address::loopback(), port));
    if (auto numeric = ip_address::try_parse(host))
      return bind(endpoint(*numeric, port));
    throw std::invalid_argument("corio::net::udp_socket::bind: \"" + std::string(host) +
                                "\" is not a numeric address; bind takes a numeric IPv4 or IPv6 "
                                "address, \"localhost\" or \"\" (every interface). To bind a name, "
                                "resolve it first: co_await corio::net::resolve(host, port)");
  }

  /// A socket bound to `local`; as bind(host, port).
  static udp_socket bind(const endpoint& local) {
    udp_socket s = open(local.family(), "corio::net::udp_socket::bind", true);
    s.bind_to(local);
    return s;
  }

  /// A socket connected to `host`:`port` (a numeric address or a name,
  /// resolved with resolve(); the first address is used). A connected socket
  /// sends to that peer with send() and receives only its datagrams.
  ///
  /// Throws: resolve()'s errors; std::system_error (ENETUNREACH, ...) naming
  ///   the peer; cancelled_error.
  /// Lifetime: `host` is copied.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   auto s = co_await corio::net::udp_socket::connect("localhost", 5353);
  template <class = void>
  [[nodiscard]] static task<udp_socket> connect(std::string_view host, std::uint16_t port) {
    return connect_to_host(std::string(host), port);
  }

  /// A socket connected to `remote`; connect(2) on a UDP socket does not wait.
  /// Throws: std::system_error naming `remote`.
  static udp_socket connect(const endpoint& remote) {
    udp_socket s = open(remote.family(), "corio::net::udp_socket::connect", true);
    s.connect_to(remote);
    return s;
  }

  /// Connects this socket (bound or not) to `remote`: send() then goes there,
  /// and only its datagrams are received.
  /// Throws: std::system_error naming `remote`.
  void connect_to(const endpoint& remote) {
    assert_open();
    const sockaddr_storage address = mapped(remote).to_sockaddr();
    if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address),
                  mapped(remote).sockaddr_length()) < 0) {
      corio::detail::throw_socket_error(-errno, "corio::net::udp_socket::connect",
                                        "to " + remote.to_string());
    }
  }

  /// Sends `data` as one datagram to `peer`; completes with its size.
  ///
  /// Uses IORING_OP_SENDMSG; see io_uring_prep_sendmsg(3) and sendmsg(2).
  ///
  /// Throws: std::system_error (EMSGSIZE for more than 65507 bytes over IPv4,
  ///   ENETUNREACH, EAFNOSUPPORT for an IPv6 peer on an IPv4 socket;
  ///   ECONNREFUSED on a connected socket when an earlier datagram met an
  ///   ICMP port unreachable that no receive reported: this one is not sent);
  ///   cancelled_error.
  /// Lifetime: the socket and `data` must stay valid until the co_await
  ///   completes; `peer` is copied.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   co_await s.send_to(corio::net::endpoint::parse("127.0.0.1:9"), bytes);
  [[nodiscard]] corio::detail::io_operation<corio::detail::send_to_op> send_to(
      const endpoint& peer, std::span<const std::byte> data) {
    assert_open();
    const endpoint to = mapped(peer);
    return corio::detail::io_operation(
        corio::detail::send_to_op{fd_.get(), data, to.to_sockaddr(), to.sockaddr_length()});
  }
  /// Sends `text` as one datagram to `peer`; as send_to(peer, bytes).
  [[nodiscard]] corio::detail::io_operation<corio::detail::send_to_op> send_to(
      const endpoint& peer, std::string_view text) {
    return send_to(peer, std::as_bytes(std::span(text.data(), text.size())));
  }

  /// Waits for the next datagram; its bytes go to the start of `buffer`, and
  /// the result says how many and who sent them.
  ///
  /// Uses IORING_OP_RECVMSG with MSG_TRUNC; see io_uring_prep_recvmsg(3).
  ///
  /// Throws: std::system_error EMSGSIZE if the datagram was longer than
  ///   `buffer` (see the class); other std::system_error (ECONNREFUSED after
  ///   an ICMP port-unreachable on a connected socket); cancelled_error.
  /// Lifetime: the socket and `buffer` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   corio::net::datagram d = co_await s.receive_from(buf);
  [[nodiscard]] corio::detail::io_operation<corio::detail::receive_from_op> receive_from(
      std::span<std::byte> buffer) {
    assert_open();
    return corio::detail::io_operation(corio::detail::receive_from_op{fd_.get(), buffer});
  }

  /// Sends `data` as one datagram to the connected peer; completes with its size.
  /// Uses IORING_OP_SEND. Throws: as send_to (EDESTADDRREQ if not connected).
  [[nodiscard]] corio::detail::io_operation<corio::detail::send_datagram_op> send(
      std::span<const std::byte> data) {
    assert_open();
    return corio::detail::io_operation(corio::detail::send_datagram_op{fd_.get(), data});
  }
  /// Sends `text` as one datagram; as send(bytes).
  [[nodiscard]] corio::detail::io_operation<corio::detail::send_datagram_op> send(
      std::string_view text) {
    return send(std::as_bytes(std::span(text.data(), text.size())));
  }

  /// Waits for the next datagram from the connected peer; completes with its size.
  /// Uses IORING_OP_RECV with MSG_TRUNC. Throws: as receive_from.
  [[nodiscard]] corio::detail::io_operation<corio::detail::receive_op> receive(
      std::span<std::byte> buffer) {
    assert_open();
    return corio::detail::io_operation(corio::detail::receive_op{fd_.get(), buffer});
  }

  /// The local address and port (getsockname(2)); for a dual-stack socket, "[::]:port".
  /// Throws: std::system_error.
  endpoint local_endpoint() const {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&storage), &length) < 0)
      corio::detail::throw_errno(-errno, "corio::net::udp_socket::local_endpoint");
    return endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
  }

  /// True if the socket owns a descriptor.
  bool is_open() const noexcept { return fd_.valid(); }
  /// The socket's file descriptor (-1 if none); the socket keeps owning it.
  int native_handle() const noexcept { return fd_.get(); }
  /// Closes the socket now (::close, which does not wait for UDP); no
  /// operation may be pending on it.
  void close() noexcept { fd_.reset(); }

 private:
  // A socket of `family`; with `required` false, an unsupported family
  // (a machine without IPv6) gives a closed socket instead of an error.
  static udp_socket open(int family, const char* who, bool required) {
    udp_socket s;
    s.fd_.reset(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
    if (!s.fd_ && (required || errno != EAFNOSUPPORT))
      corio::detail::throw_socket_error(-errno, who, "(socket)");
    s.family_ = family;
    return s;
  }

  void bind_to(const endpoint& local) {
    const sockaddr_storage address = local.to_sockaddr();
    if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), local.sockaddr_length()) <
        0) {
      corio::detail::throw_socket_error(-errno, "corio::net::udp_socket::bind",
                                        "to " + local.to_string());
    }
  }

  // An IPv4 peer of an IPv6 socket, as ::ffff:a.b.c.d.
  endpoint mapped(const endpoint& peer) const {
    if (family_ != AF_INET6 || !peer.address().is_v4())
      return peer;
    const auto b = peer.address().v4().bytes();
    return endpoint(
        ipv6_address({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, b[0], b[1], b[2], b[3]}),
        peer.port());
  }

  void assert_open() const {
    CORIO_ASSERT(fd_.valid(), "corio::net::udp_socket: the socket is not open");
  }

  template <class = void>
  static task<udp_socket> connect_to_host(std::string host, std::uint16_t port) {
    const std::vector<endpoint> candidates = co_await resolve(host, port);
    co_return connect(candidates.front());
  }

  // Data that only the loop's thread touches.
  corio::detail::unique_fd fd_;
  int family_ = AF_UNSPEC;
};

}  // namespace corio::net
