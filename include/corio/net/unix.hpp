// SPDX-License-Identifier: MIT
// corio/net/unix.hpp: Unix-domain stream sockets on io_uring.
// Its coroutines that need no template parameter are declared `template <class = void>`;
// see CONTRIBUTING.md, "Coroutines in headers".
//
// - unix_stream: a connected socket; connect(path), pair(), and the same
//   reading and writing as tcp_stream (shared in net/detail/socket_stream.hpp).
// - unix_listener: a listening socket; bind(path) and accept().
//
// A path names a file in the file system, or, when it starts with '@' or
// '\0', a name in Linux's abstract namespace (unix(7)): "@corio-demo" and
// std::string_view("\0corio-demo", 11) are the same name. Abstract names
// leave no file behind and need no directory.
#pragma once

#include <corio/config.hpp>
#include <corio/net/detail/socket_stream.hpp>
#include <corio/net/incomplete_read_error.hpp>
#include <corio/task.hpp>

#include <corio/detail/errno.hpp>
#include <corio/detail/unique_fd.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace corio::detail {

// unix_stream's names in its errors (see socket_stream.hpp).
struct unix_stream_names : stream_names<"corio::net::unix_stream"> {
  static std::string peer(const sockaddr_storage& address, socklen_t length);
};

// unix_listener's names in its errors.
struct unix_listener_names : listener_names<"corio::net::unix_listener"> {};

// `path` as a sockaddr_un and its length; '@' or '\0' first means the abstract
// namespace (no terminating NUL, as unix(7) says).
struct unix_address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  bool abstract = false;

  unix_address(std::string_view path, const char* who) {
    if (path.empty())
      throw std::invalid_argument(std::string(who) + ": the path is empty");
    auto* un = reinterpret_cast<sockaddr_un*>(&storage);
    un->sun_family = AF_UNIX;
    abstract = path.front() == '@' || path.front() == '\0';
    // A file name needs room for its NUL; an abstract name has none.
    const std::size_t room = sizeof un->sun_path - (abstract ? 0 : 1);
    if (path.size() > room) {
      throw std::invalid_argument(
          std::string(who) + ": the path is " + std::to_string(path.size()) +
          " bytes long; a Unix socket "
          "address holds at most " +
          std::to_string(room) + " (use a shorter path, e.g. relative to a nearby directory)");
    }
    if (!abstract && path.find('\0') != std::string_view::npos)
      throw std::invalid_argument(std::string(who) + ": the path contains a NUL byte");
    std::memcpy(un->sun_path, path.data(), path.size());
    if (abstract)
      un->sun_path[0] = '\0';
    length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  }
};

// A path for errors: the abstract namespace's NUL shown as '@'.
inline std::string printable_unix_path(std::string_view path) {
  std::string out(path);
  if (!out.empty() && out.front() == '\0')
    out.front() = '@';
  return '"' + out + '"';
}

// The peer in connect's errors (the path of a unix_address), made only when one is thrown.
inline std::string unix_stream_names::peer(const sockaddr_storage& address, socklen_t length) {
  const auto* un = reinterpret_cast<const sockaddr_un*>(&address);
  std::string_view path(un->sun_path, length - offsetof(sockaddr_un, sun_path));
  if (!path.empty() && path.front() != '\0')
    path = path.substr(0, path.find('\0'));  // a file name ends at its NUL
  return printable_unix_path(path);
}

}  // namespace corio::detail

namespace corio::net {

class unix_listener;

/// A connected Unix-domain stream socket (AF_UNIX, SOCK_STREAM), as asyncio's
/// open_unix_connection.
///
/// Made by connect(), pair() or unix_listener::accept(). It reads and writes
/// exactly as tcp_stream (read_some, read_exact, write_some, write_all,
/// shutdown_write, close, is_open, native_handle: documented in
/// corio/net/detail/socket_stream.hpp), with "corio::net::unix_stream::..."
/// in its errors. The destructor closes the socket. Sockets are SOCK_CLOEXEC.
///
/// Lifetime: an operation refers to the stream and to the caller's buffer;
///   both must stay valid until its co_await completes.
/// Thread safety: use only on the loop's thread; one read and one write may
///   be pending at once.
/// Example:
///   auto s = co_await corio::net::unix_stream::connect("/run/demo.sock");
///   co_await s.write_all("ping\n");
class unix_stream : public corio::detail::socket_stream<corio::detail::unix_stream_names> {
 public:
  /// A stream with no socket; is_open() is false.
  unix_stream() noexcept = default;
  unix_stream(unix_stream&&) noexcept = default;
  unix_stream& operator=(unix_stream&&) noexcept = default;
  unix_stream(const unix_stream&) = delete;
  unix_stream& operator=(const unix_stream&) = delete;
  ~unix_stream() = default;

  /// Takes ownership of `fd`, a connected AF_UNIX SOCK_STREAM socket.
  static unix_stream from_native_handle(int fd) noexcept {
    return unix_stream(corio::detail::unique_fd(fd));
  }

  /// Connects to the socket at `path` (a file, or an abstract name starting
  /// with '@' or '\0'; see the header's comment).
  ///
  /// Uses IORING_OP_CONNECT; see io_uring_prep_connect(3) and unix(7).
  ///
  /// Throws: std::invalid_argument for an empty path, one too long for
  ///   sockaddr_un (107 bytes for a file, 108 for an abstract name) or a file
  ///   path with a NUL byte; std::system_error (ENOENT: nothing at that path;
  ///   ECONNREFUSED: no one listens there; EACCES) naming the path;
  ///   cancelled_error.
  /// Cancellation: the connect is cancelled and its socket closed.
  /// Lifetime: `path` is copied; it need not outlive the call.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   auto s = co_await corio::net::unix_stream::connect("@corio-demo");
  [[nodiscard]] static corio::detail::io_operation<
      corio::detail::connect_op<unix_stream, corio::detail::unix_stream_names>>
  connect(std::string_view path) {
    const corio::detail::unix_address address(path, corio::detail::unix_stream_names::connect);
    return corio::detail::connect_socket<unix_stream, corio::detail::unix_stream_names>(
        AF_UNIX, 0, address.storage, address.length);
  }

  /// Two streams connected to each other (socketpair(2)); what one writes,
  /// the other reads.
  ///
  /// Throws: std::system_error (EMFILE, ENFILE).
  /// Thread safety: may be called on any thread.
  /// Example:
  ///   auto [a, b] = corio::net::unix_stream::pair();
  static std::pair<unix_stream, unix_stream> pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
      corio::detail::throw_errno(-errno, "corio::net::unix_stream::pair (socketpair)");
    return {from_native_handle(fds[0]), from_native_handle(fds[1])};
  }

 private:
  explicit unix_stream(corio::detail::unique_fd fd) noexcept : socket_stream(std::move(fd)) {}
};

/// A listening Unix-domain stream socket, as asyncio's start_unix_server.
///
/// bind() opens it synchronously; accept() waits for connections through
/// io_uring, exactly as tcp_listener::accept (the same skipping of failed
/// connections and waiting out EMFILE/ENFILE). For a file path, close() and
/// the destructor remove the socket file bind() created (unless something
/// else has replaced it since), as asyncio's cleanup_socket.
///
/// Errors: std::system_error (errno) naming the operation and the path;
///   std::invalid_argument for a path bind() cannot use.
/// Lifetime: the listener must outlive its pending accept() (cancel first).
/// Thread safety: use only on the loop's thread. Several tasks may accept at once.
/// Example:
///   auto listener = corio::net::unix_listener::bind("/tmp/demo.sock");
///   corio::net::unix_stream conn = co_await listener.accept();
class unix_listener {
 public:
  /// A listener with no socket; is_open() is false.
  unix_listener() noexcept = default;
  unix_listener(unix_listener&& other) noexcept
      : path_(std::move(other.path_))
      , file_(std::exchange(other.file_, {}))
      , fd_(std::move(other.fd_)) {}
  unix_listener& operator=(unix_listener&& other) noexcept {
    if (this != &other) {
      close();
      path_ = std::move(other.path_);
      file_ = std::exchange(other.file_, {});
      fd_ = std::move(other.fd_);
    }
    return *this;
  }
  unix_listener(const unix_listener&) = delete;
  unix_listener& operator=(const unix_listener&) = delete;
  ~unix_listener() { close(); }

  /// Opens a socket listening at `path`: a file (created by bind; it must not
  /// exist yet) or an abstract name starting with '@' or '\0'.
  ///
  /// Uses socket(2), bind(2) and listen(2), which do not block.
  ///
  /// Throws: std::invalid_argument for an empty or too long path, a file path
  ///   with a NUL byte, or a negative backlog; std::system_error naming the
  ///   path (EADDRINUSE: the file exists, e.g. left by a process that
  ///   crashed: remove it first; or the abstract name is taken; ENOENT: no
  ///   such directory; EACCES).
  /// Thread safety: may be called on any thread; accept only on the loop's.
  /// Example:
  ///   auto listener = corio::net::unix_listener::bind("@corio-demo");
  static unix_listener bind(std::string_view path, int backlog = 1024) {
    const char* const who = "corio::net::unix_listener::bind";
    if (backlog < 0)
      throw std::invalid_argument(std::string(who) + ": the backlog must not be negative");
    const corio::detail::unix_address address(path, who);
    corio::detail::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd)
      corio::detail::throw_socket_error(-errno, who, "(socket)");
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) < 0) {
      corio::detail::throw_socket_error(-errno, who,
                                        "to " + corio::detail::printable_unix_path(path));
    }
    unix_listener listener;
    listener.path_ = std::string(path);
    if (!address.abstract) {
      // Absolute now, so that a chdir before close() neither leaves the file
      // behind nor looks for it in the wrong directory.
      std::error_code no_cwd;
      std::string file = std::filesystem::absolute(listener.path_, no_cwd).string();
      struct stat st {};
      if (!no_cwd && ::stat(file.c_str(), &st) == 0)
        listener.file_ = {st.st_dev, st.st_ino, std::move(file)};
    }
    if (::listen(fd.get(), backlog) < 0) {
      const int err = errno;
      listener.fd_ = std::move(fd);
      listener.close();
      corio::detail::throw_socket_error(-err, who, "(listen)");
    }
    listener.fd_ = std::move(fd);
    return listener;
  }

  /// Waits for the next connection; as tcp_listener::accept, with
  /// "corio::net::unix_listener::accept" in its errors.
  ///
  /// Throws: std::system_error; cancelled_error.
  /// Cancellation: the accept is cancelled in the kernel; no connection is lost.
  /// Lifetime: the listener must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   auto conn = co_await listener.accept();
  [[nodiscard]] corio::detail::io_operation<
      corio::detail::accept_op<unix_stream, corio::detail::unix_listener_names>>
  accept() {
    return corio::detail::accept_socket<unix_stream, corio::detail::unix_listener_names>(
        fd_.get(), nonblocking_);
  }

  /// The path given to bind() (an abstract name keeps its leading '@' or '\0').
  const std::string& path() const noexcept { return path_; }
  /// True if the listener owns a socket.
  bool is_open() const noexcept { return fd_.valid(); }
  /// The socket's file descriptor (-1 if none); the listener keeps owning it.
  int native_handle() const noexcept { return fd_.get(); }

  /// Closes the socket now (::close) and removes the socket file bind()
  /// made, if it is still the same file (a relative path is resolved at
  /// bind(), so a chdir in between does not matter); does nothing if not open.
  void close() noexcept {
    if (!fd_)
      return;
    fd_.reset();
    if (file_.inode != 0) {
      struct stat st {};
      if (::stat(file_.path.c_str(), &st) == 0 && st.st_dev == file_.device &&
          st.st_ino == file_.inode) {
        ::unlink(file_.path.c_str());
      }
      file_ = {};
    }
  }

 private:
  struct file_id {
    dev_t device = 0;
    ino_t inode = 0;   // 0: no file to remove (abstract, or not known)
    std::string path;  // absolute
  };

  // Data that does not change once initialised.
  std::string path_;
  file_id file_;
  // Data that only the loop's thread touches.
  corio::detail::unique_fd fd_;
  bool nonblocking_ = false;  // made so for an epoll loop's accept (see accept_op)
};

}  // namespace corio::net
