// SPDX-License-Identifier: MIT
// corio/net/detail/socket_stream.hpp: what every connected stream socket shares
// (tcp_stream, unix_stream): the RECV/SEND operations, read_some, read_exact,
// write_some, write_all, shutdown_write and close; connecting a new socket, and
// accepting on a listener. Each is an awaiter on the operation layer
// (io_operation.hpp): no coroutine frame, no allocation.
#pragma once

#include <corio/config.hpp>
#include <corio/error.hpp>
#include <corio/net/incomplete_read_error.hpp>

#include <corio/detail/close_op.hpp>
#include <corio/detail/errno.hpp>
#include <corio/detail/io_operation.hpp>
#include <corio/detail/unique_fd.hpp>

#include <fcntl.h>
#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace corio::detail {

// A string literal as a template argument: stream_names<"corio::net::tcp_stream">.
template <std::size_t N>
struct string_literal {
  constexpr string_literal(const char (&text)[N]) noexcept { std::copy_n(text, N, chars); }
  char chars[N];
};

// `A` then `B`, joined at compile time into one NUL-terminated string in static storage.
template <string_literal A, string_literal B>
inline constexpr auto joined = [] {
  std::array<char, sizeof A.chars + sizeof B.chars - 1> out{};
  std::copy_n(B.chars, sizeof B.chars, std::copy_n(A.chars, sizeof A.chars - 1, out.begin()));
  return out;
}();

// Each stream type names its operations in its errors through a Names type made from
// its full name: tcp_stream's read_some is "corio::net::tcp_stream::read_some". The
// stream's Names derives from stream_names and adds peer(address, length), the
// connected address in connect's errors.
template <string_literal Stream>
struct stream_names {
  static constexpr const char* read_some = joined<Stream, "::read_some">.data();
  static constexpr const char* read_exact = joined<Stream, "::read_exact">.data();
  static constexpr const char* write_some = joined<Stream, "::write_some">.data();
  static constexpr const char* write_all = joined<Stream, "::write_all">.data();
  static constexpr const char* shutdown_write = joined<Stream, "::shutdown_write">.data();
  static constexpr const char* close = joined<Stream, "::close">.data();
  static constexpr const char* not_open = joined<Stream, ": the stream is not open">.data();
  static constexpr const char* connect = joined<Stream, "::connect">.data();
};

// The same for a listener's accept (accept_op's Names).
template <string_literal Listener>
struct listener_names {
  static constexpr const char* accept = joined<Listener, "::accept">.data();
  static constexpr const char* not_open =
      joined<Listener, "::accept: the listener is not open">.data();
  static constexpr const char* destroyed =
      joined<Listener, " was closed or destroyed while accept() is pending">.data();
};

// The kernel caps one read or write at MAX_RW_COUNT (INT_MAX rounded down to
// a page), and the SQE's length field is 32 bits: larger buffers go in pieces.
inline constexpr std::size_t max_io_size = 0x7ffff000;

inline unsigned clamp_io_size(std::size_t n) noexcept {
  return static_cast<unsigned>(std::min(n, max_io_size));
}

// The socket operations (see io_operation.hpp for what each member means).
// Each finish() is the one place its result becomes a value or an exception.
// On epoll they pass MSG_DONTWAIT, so a socket in blocking mode (from
// from_native_handle or accept) never blocks the loop either.

inline int nonblocking_recv(int fd, std::span<std::byte> buffer) noexcept {
  const ssize_t n = ::recv(fd, buffer.data(), clamp_io_size(buffer.size()), MSG_DONTWAIT);
  return n >= 0 ? static_cast<int>(n) : -errno;
}

// An errno-carrying system_error whose `what` names the operation and the peer.
[[noreturn]] inline void throw_socket_error(int negative_errno, const char* operation,
                                            const std::string& circumstances) {
  throw std::system_error(-negative_errno, std::system_category(),
                          std::string(operation) + " " + circumstances);
}

// IORING_OP_CONNECT of a new socket; on epoll a non-blocking connect(2),
// asked again once the socket is writable. The address lives here, where
// the kernel reads it, and so does the socket until it is connected: a
// connect that fails or is cancelled closes it with the awaiter. Yields the
// connected Stream (see Stream::from_native_handle).
template <class Stream, class Names>
struct connect_op {
  using value_type = Stream;
  static constexpr bool writes = true;
  // On epoll, how long a connect to a unix listener whose backlog is full
  // waits before it tries again (io_uring's blocking connect waits in the
  // kernel instead).
  static constexpr auto retry_delay = std::chrono::milliseconds(5);
  int family;
  int protocol;
  sockaddr_storage address;
  socklen_t length;
  unique_fd socket{};
  int fd = -1;  // socket's descriptor, which the epoll backend reads here
  int start(bool epoll) noexcept {
    // On epoll the socket connects without blocking (io_uring needs it
    // blocking: with O_NONBLOCK the kernel would answer EAGAIN instead of waiting).
    const int s =
        ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | (epoll ? SOCK_NONBLOCK : 0), protocol);
    if (s < 0)
      return -errno;
    socket.reset(s);
    fd = s;
    return 0;
  }
  void prep(io_uring_sqe* sqe) noexcept {
    io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&address), length);
  }
  // connect(2) answers for the connection in progress too: 0 (or EISCONN)
  // once it is made, EINPROGRESS, then EALREADY while it is not (a wake-up
  // of the socket proves nothing: Go checks getpeername for the same reason),
  // its error once it failed.
  int attempt() noexcept {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), length) == 0 || errno == EISCONN)
      return 0;
    return -errno;
  }
  // In progress: asked again once the socket is writable.
  static bool would_block(int res) noexcept { return res == -EINPROGRESS || res == -EALREADY; }
  // A unix listener with a full backlog gives EAGAIN, which for connect means
  // "no room, nothing started" (and the socket then polls writable at once,
  // so SO_ERROR's 0 would claim a connection that is not there): asked again
  // after retry_delay.
  bool retry_later(int res) const noexcept { return res == -EAGAIN; }
  Stream finish(int res) {
    if (!socket)
      throw_socket_error(res, Names::connect, "(socket)");
    if (res < 0)
      throw_socket_error(res, Names::connect, "to " + Names::peer(address, length));
    return Stream::from_native_handle(socket.release());
  }
};

// One IORING_OP_RECV: read_some.
template <class Names>
struct recv_some_op {
  using value_type = std::size_t;
  int fd;
  std::span<std::byte> buffer;
  bool ready() const noexcept { return buffer.empty(); }
  static constexpr bool writes = false;
  void prep(io_uring_sqe* sqe) noexcept {
    io_uring_prep_recv(sqe, fd, buffer.data(), clamp_io_size(buffer.size()), 0);
  }
  int attempt() noexcept { return nonblocking_recv(fd, buffer); }
  std::size_t finish(int res) const {
    return static_cast<std::size_t>(check(res, Names::read_some));
  }
};

// IORING_OP_RECV until the buffer is full: read_exact.
template <class Names>
struct recv_exact_op {
  using value_type = void;
  int fd;
  std::span<std::byte> buffer;
  std::size_t done = 0;
  bool ready() const noexcept { return buffer.empty(); }
  static constexpr bool writes = false;
  void prep(io_uring_sqe* sqe) noexcept {
    const auto rest = buffer.subspan(done);
    io_uring_prep_recv(sqe, fd, rest.data(), clamp_io_size(rest.size()), 0);
  }
  int attempt() noexcept { return nonblocking_recv(fd, buffer.subspan(done)); }
  bool resubmit(int res) noexcept {
    if (res <= 0)
      return false;
    done += static_cast<std::size_t>(res);
    return done < buffer.size();
  }
  void finish(int res) const {
    check(res, Names::read_exact);
    if (done < buffer.size())
      throw net::incomplete_read_error(Names::read_exact, done, buffer.size());
  }
};

// One IORING_OP_SEND (write_some), or IORING_OP_SEND until everything is
// sent (write_all). MSG_NOSIGNAL: a send to a peer that has gone fails with
// EPIPE instead of raising SIGPIPE.
template <class Names, bool All>
struct send_op {
  using value_type = std::conditional_t<All, void, std::size_t>;
  int fd;
  std::span<const std::byte> data;
  bool ready() const noexcept { return data.empty(); }
  static constexpr bool writes = true;
  void prep(io_uring_sqe* sqe) noexcept {
    io_uring_prep_send(sqe, fd, data.data(), clamp_io_size(data.size()), MSG_NOSIGNAL);
  }
  int attempt() noexcept {
    const ssize_t n =
        ::send(fd, data.data(), clamp_io_size(data.size()), MSG_NOSIGNAL | MSG_DONTWAIT);
    return n >= 0 ? static_cast<int>(n) : -errno;
  }
  bool resubmit(int res) noexcept requires All {
    if (res <= 0)
      return false;
    data = data.subspan(static_cast<std::size_t>(res));
    return !data.empty();
  }
  value_type finish(int res) const {
    if constexpr (All) {
      check(res, Names::write_all);
      // send(2) on a stream socket never sends 0 of a non-empty buffer; if it
      // ever did, looping would never end: EIO.
      if (!data.empty())
        throw_errno(-EIO, Names::write_all);
    } else {
      return static_cast<std::size_t>(check(res, Names::write_some));
    }
  }
};

// A Stream connected to `address` (a sockaddr of `family`), on a new socket.
template <class Stream, class Names>
[[nodiscard]] io_operation<connect_op<Stream, Names>> connect_socket(
    int family, int protocol, const sockaddr_storage& address, socklen_t length) {
  return io_operation(connect_op<Stream, Names>{family, protocol, address, length});
}

// accept(2), "Error handling": pending network errors of the new connection
// are reported by accept; retry as for EAGAIN.
inline bool is_transient_accept_error(int err) noexcept {
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

// Out of descriptors or memory: waiting lets closing connections free some.
inline constexpr std::chrono::milliseconds accept_exhaustion_retry{100};
inline bool is_exhaustion_accept_error(int err) noexcept {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

// Makes the listener `fd` non-blocking for the epoll backend, which attempts
// accept4 before it waits for readiness: a blocking listener would block the
// loop whenever the connection it was woken for is gone (another task,
// thread or process took it, or the peer reset it). Only corio's own
// listeners get here: tcp_listener::bind and unix_listener::bind make every
// one (there is no from_native_handle for listeners), and the io_uring
// backend leaves them blocking. The flag belongs to the open file
// description, which only native_handle(), a dup or a forked child share;
// for corio it is harmless: the streams accept4 returns do not inherit it,
// and an io_uring loop that later accepts on the same listener still waits
// (the kernel polls the listener; an EAGAIN it may answer from its io-wq
// workers makes accept_op submit again). The listener records that it was
// made non-blocking, so that this costs its two system calls once, not on
// every accept.
inline void make_listener_nonblocking(int fd) noexcept {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK) == 0)
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// IORING_OP_ACCEPT, again at once after a transient error and after
// accept_exhaustion_retry when out of descriptors or memory; yields the
// connection as a Stream (see tcp_listener::accept). The retries use this copy
// of the descriptor, never the listener: one destroyed under a pending accept
// (a misuse) must not be read after it is freed. Names gives accept (the
// operation), not_open and destroyed (closed or destroyed while accept() is
// pending). `nonblocking` is the listener's record of whether
// make_listener_nonblocking ran on it, read at the start only.
template <class Stream, class Names>
struct accept_op {
  using value_type = Stream;
  static constexpr bool writes = false;
  static constexpr auto retry_delay = accept_exhaustion_retry;
  int fd;
  bool* nonblocking;
  int start(bool epoll) noexcept {
    if (epoll && !*nonblocking) {
      make_listener_nonblocking(fd);
      *nonblocking = true;
    }
    return 0;
  }
  void prep(io_uring_sqe* sqe) noexcept {
    io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  int attempt() noexcept {
    const int res = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    return res >= 0 ? res : -errno;
  }
  // On io_uring, -EAGAIN too: the listener is non-blocking if an epoll loop used it.
  bool resubmit(int res) const noexcept {
    return res == -EAGAIN || (res < 0 && is_transient_accept_error(-res));
  }
  bool retry_later(int res) const noexcept { return res < 0 && is_exhaustion_accept_error(-res); }
  Stream finish(int res) const {
    if (res < 0) {
      CORIO_ASSERT(res != -EBADF, Names::destroyed);
      throw_errno(res, Names::accept);
    }
    return Stream::from_native_handle(res);
  }
};

// The next connection on listening socket `fd` (see accept_op for `nonblocking`).
template <class Stream, class Names>
[[nodiscard]] io_operation<accept_op<Stream, Names>> accept_socket(int fd, bool& nonblocking) {
  CORIO_ASSERT(fd >= 0, Names::not_open);
  return io_operation(accept_op<Stream, Names>{fd, &nonblocking});
}

// The reading and writing of a connected stream socket, as tcp_stream
// documents them; a stream type derives from it with its own Names.
template <class Names>
class socket_stream {
 public:
  /// Reads what is available, up to `buffer.size()` bytes, waiting until at
  /// least one byte has arrived.
  ///
  /// Completes with the number of bytes read; `0` means the peer ended the
  /// stream (and an empty `buffer` completes with `0` at once).
  /// Uses IORING_OP_RECV; see io_uring_prep_recv(3) and recv(2).
  ///
  /// Throws: std::system_error (ECONNRESET, ...); corio::cancelled_error.
  /// Cancellation: the receive is cancelled in the kernel; no byte is lost
  ///   (data that arrived first completes the read, and the cancellation then
  ///   reaches the task at its next suspension point), and the stream stays
  ///   usable for later reads.
  /// Lifetime: the stream and `buffer` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread; one read at a time.
  /// Example:
  ///   std::array<std::byte, 4096> buf;
  ///   std::size_t n = co_await s.read_some(buf);
  [[nodiscard]] io_operation<recv_some_op<Names>> read_some(std::span<std::byte> buffer) {
    if (!buffer.empty())
      assert_open();
    return io_operation(recv_some_op<Names>{fd_.get(), buffer});
  }

  /// Reads exactly `buffer.size()` bytes, as asyncio's readexactly.
  ///
  /// Uses IORING_OP_RECV, repeated until the buffer is full; see io_uring_prep_recv(3).
  ///
  /// Throws: net::incomplete_read_error if the peer ends the stream first (the
  ///   bytes that did arrive are at the start of `buffer`);
  ///   std::system_error; corio::cancelled_error.
  /// Cancellation: as read_some; the bytes already read are in `buffer` but
  ///   their count is lost, so after a cancelled read_exact the stream's
  ///   position is unknown: close it unless the protocol can resynchronise.
  /// Lifetime: the stream and `buffer` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread; one read at a time.
  /// Example:
  ///   std::array<std::byte, 4> header;
  ///   co_await s.read_exact(header);
  [[nodiscard]] io_operation<recv_exact_op<Names>> read_exact(std::span<std::byte> buffer) {
    if (!buffer.empty())
      assert_open();
    return io_operation(recv_exact_op<Names>{fd_.get(), buffer});
  }

  /// Sends some of `data`, waiting until the socket accepts at least one byte;
  /// completes with the number of bytes sent.
  ///
  /// Uses IORING_OP_SEND with MSG_NOSIGNAL; see io_uring_prep_send(3) and send(2).
  ///
  /// Throws: std::system_error (EPIPE or ECONNRESET when the peer has gone:
  ///   MSG_NOSIGNAL means no SIGPIPE ever reaches the process); corio::cancelled_error.
  /// Cancellation: the send is cancelled in the kernel; bytes it had queued
  ///   stay sent.
  /// Lifetime: the stream and `data` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread; one write at a time.
  /// Example:
  ///   std::size_t n = co_await s.write_some(std::as_bytes(std::span(text)));
  [[nodiscard]] io_operation<send_op<Names, false>> write_some(std::span<const std::byte> data) {
    if (!data.empty())
      assert_open();
    return io_operation(send_op<Names, false>{fd_.get(), data});
  }

  /// Sends all of `data`, continuing after short sends.
  ///
  /// Uses IORING_OP_SEND with MSG_NOSIGNAL, repeated; see io_uring_prep_send(3).
  ///
  /// Throws: std::system_error (EPIPE or ECONNRESET when the peer has gone,
  ///   never a SIGPIPE); corio::cancelled_error.
  /// Cancellation: the pending send is cancelled in the kernel. How much of
  ///   `data` went out is unknown, so the stream is no longer in a known
  ///   state: close it.
  /// Lifetime: the stream and `data` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread; one write at a time.
  /// Example:
  ///   co_await s.write_all(std::as_bytes(std::span(payload)));
  [[nodiscard]] io_operation<send_op<Names, true>> write_all(std::span<const std::byte> data) {
    if (!data.empty())
      assert_open();
    return io_operation(send_op<Names, true>{fd_.get(), data});
  }

  /// Sends all of `text`; as write_all(std::span<const std::byte>).
  /// Example:
  ///   co_await s.write_all("GET / HTTP/1.1\r\n\r\n");
  [[nodiscard]] io_operation<send_op<Names, true>> write_all(std::string_view text) {
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
      throw_errno(-errno, Names::shutdown_write);
  }

  /// Closes the socket; does nothing if it is not open.
  ///
  /// Uses IORING_OP_CLOSE; see io_uring_prep_close(3). The stream is empty
  /// (is_open() false) from the moment the call starts.
  ///
  /// Throws: std::system_error (the socket is closed even then, as with close(2));
  ///   corio::cancelled_error (the socket is closed synchronously first).
  /// Thread safety: await only on the loop's thread, with no other operation
  ///   pending on the stream.
  /// Example:
  ///   co_await s.close();
  [[nodiscard]] io_operation<close_op<false>> close() {
    return close_descriptor<false>(fd_, Names::close);
  }

  /// True if the stream owns a socket.
  bool is_open() const noexcept { return fd_.valid(); }
  /// The socket's file descriptor (-1 if none); the stream keeps owning it.
  int native_handle() const noexcept { return fd_.get(); }

 protected:
  socket_stream() noexcept = default;
  explicit socket_stream(unique_fd fd) noexcept : fd_(std::move(fd)) {}
  socket_stream(socket_stream&&) noexcept = default;
  socket_stream& operator=(socket_stream&&) noexcept = default;
  ~socket_stream() = default;

  void assert_open() const { CORIO_ASSERT(fd_.valid(), Names::not_open); }

  // Data that only the loop's thread touches.
  unique_fd fd_;
};

}  // namespace corio::detail
