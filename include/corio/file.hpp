// SPDX-License-Identifier: MIT
// corio/file.hpp: files read and written through io_uring, and read_file/write_file.
// Its coroutines that need no template parameter, and the functions that call them, are
// declared `template <class = void>` so that g++ compiles them only where they are used;
// see CONTRIBUTING.md, "Coroutines in headers".
#pragma once

#include <corio/config.hpp>
#include <corio/error.hpp>
#include <corio/gather.hpp>
#include <corio/task.hpp>

#include <corio/detail/close_op.hpp>
#include <corio/detail/errno.hpp>
#include <corio/detail/io_operation.hpp>
#include <corio/detail/unique_fd.hpp>

#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace corio {

/// How file::open opens a file: flags combined with `|`.
///
/// - read: for reading (O_RDONLY).
/// - write: for writing (O_WRONLY).
/// - read_write: both, the same as `read | write` (O_RDWR).
/// - create: create the file if it does not exist (O_CREAT), with permissions
///   0666 less the process umask. Needs write.
/// - truncate: empty the file on opening (O_TRUNC). Needs write.
/// - append: every write goes to the end of the file, whatever offset
///   write_at is given (O_APPEND; see pwrite(2), BUGS). Needs write.
/// - exclusive: with create, fail with EEXIST if the file exists (O_EXCL).
///
/// Files are always opened O_CLOEXEC. Example:
///   corio::open_mode::write | corio::open_mode::create | corio::open_mode::truncate
enum class open_mode : unsigned {
  read = 1u << 0,
  write = 1u << 1,
  read_write = read | write,
  create = 1u << 2,
  truncate = 1u << 3,
  append = 1u << 4,
  exclusive = 1u << 5,
};

constexpr open_mode operator|(open_mode a, open_mode b) noexcept {
  return static_cast<open_mode>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr open_mode operator&(open_mode a, open_mode b) noexcept {
  return static_cast<open_mode>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
constexpr open_mode& operator|=(open_mode& a, open_mode b) noexcept {
  return a = a | b;
}

class file;

namespace detail {

inline constexpr bool has_flag(open_mode mode, open_mode flag) noexcept {
  return (mode & flag) == flag;
}

// The open(2) flags for `mode`, or std::invalid_argument for a combination
// open(2) would reject or leave undefined.
inline int open_flags(open_mode mode) {
  const auto fail = [](const char* why) -> int {
    throw std::invalid_argument(std::string("corio::file::open: invalid open_mode: ") + why);
  };
  const bool r = has_flag(mode, open_mode::read);
  const bool w = has_flag(mode, open_mode::write);
  if (static_cast<unsigned>(mode) & ~0x3fu)
    return fail("unknown flag bits");
  if (!r && !w)
    return fail("it needs read, write or read_write");
  if (!w && (has_flag(mode, open_mode::create) || has_flag(mode, open_mode::truncate) ||
             has_flag(mode, open_mode::append))) {
    return fail("create, truncate and append need write");
  }
  if (has_flag(mode, open_mode::exclusive) && !has_flag(mode, open_mode::create)) {
    return fail("exclusive needs create");
  }
  int flags = O_CLOEXEC | (r && w ? O_RDWR : w ? O_WRONLY : O_RDONLY);
  if (has_flag(mode, open_mode::create))
    flags |= O_CREAT;
  if (has_flag(mode, open_mode::truncate))
    flags |= O_TRUNC;
  if (has_flag(mode, open_mode::append))
    flags |= O_APPEND;
  if (has_flag(mode, open_mode::exclusive))
    flags |= O_EXCL;
  return flags;
}

// The kernel caps one read or write at MAX_RW_COUNT, and an SQE's length is
// 32 bits; bigger buffers are served in several operations.
inline unsigned file_io_size(std::size_t n) noexcept {
  return static_cast<unsigned>(std::min<std::size_t>(n, 0x7ffff000));
}

// The file operations (see io_operation.hpp for what each member means).
// Each finish() is the one place its result becomes a value or an exception.

// One IORING_OP_READ / IORING_OP_WRITE at an explicit offset: read_at, write_at.
template <bool Write>
struct file_rw_op {
  using value_type = std::size_t;
  using span_type = std::span<std::conditional_t<Write, const std::byte, std::byte>>;
  int fd;
  std::uint64_t offset;
  span_type buffer;
  bool ready() const noexcept { return buffer.empty(); }
  void prep(io_uring_sqe* sqe) noexcept {
    if constexpr (Write)
      io_uring_prep_write(sqe, fd, buffer.data(), file_io_size(buffer.size()), offset);
    else
      io_uring_prep_read(sqe, fd, buffer.data(), file_io_size(buffer.size()), offset);
  }
  int blocking() noexcept {
    const auto off = static_cast<off_t>(offset);
    ssize_t n;
    if constexpr (Write)
      n = ::pwrite(fd, buffer.data(), file_io_size(buffer.size()), off);
    else
      n = ::pread(fd, buffer.data(), file_io_size(buffer.size()), off);
    return n >= 0 ? static_cast<int>(n) : -errno;
  }
  // epoll: a read the page cache can serve runs at once on the loop's thread
  // (preadv2 with RWF_NOWAIT fails with EAGAIN where it would wait for the
  // device, or EOPNOTSUPP where the file system cannot tell; the pool reads
  // then). It may return fewer bytes than asked where only part is cached,
  // which read_at allows. Buffers over nowait_read_limit go to the pool at
  // once, so that no copy holds up the loop for long.
  static constexpr std::size_t nowait_read_limit = 1024 * 1024;
  int attempt_nowait() noexcept requires(!Write) {
    if (buffer.size() > nowait_read_limit)
      return -EAGAIN;
    iovec iov{buffer.data(), buffer.size()};
    const ssize_t n = ::preadv2(fd, &iov, 1, static_cast<off_t>(offset), RWF_NOWAIT);
    return n >= 0 ? static_cast<int>(n) : -errno;
  }
  std::size_t finish(int res) const {
    return static_cast<std::size_t>(
        check(res, Write ? "corio::file::write_at" : "corio::file::read_at"));
  }
};

// The chunk reads and writes of read_file and write_file: the raw result,
// which their loops turn into errors naming the path.
template <bool Write>
struct file_chunk_op : file_rw_op<Write> {
  using value_type = int;
  int finish(int res) const noexcept { return res; }
};
inline auto file_read_op(int fd, std::uint64_t offset, std::span<std::byte> buffer) {
  return io_operation(file_chunk_op<false>{{fd, offset, buffer}});
}
inline auto file_write_op(int fd, std::uint64_t offset, std::span<const std::byte> data) {
  return io_operation(file_chunk_op<true>{{fd, offset, data}});
}

[[noreturn]] inline void throw_path_error(int negative_errno, const char* operation,
                                          const std::filesystem::path& path);

// IORING_OP_OPENAT; the path lives here, where the kernel reads it.
struct open_op {
  using value_type = file;
  std::filesystem::path path;
  int flags;
  void prep(io_uring_sqe* sqe) noexcept {
    io_uring_prep_openat(sqe, AT_FDCWD, path.c_str(), flags, 0666);
  }
  int blocking() noexcept {
    const int res = ::openat(AT_FDCWD, path.c_str(), flags, 0666);
    return res >= 0 ? res : -errno;
  }
  file finish(int res) const;  // after file is defined
};

// IORING_OP_STATX of the open file's size; the kernel writes `info` here.
struct size_op {
  using value_type = std::uint64_t;
  int fd;
  struct statx info {};
  void prep(io_uring_sqe* sqe) noexcept {
    io_uring_prep_statx(sqe, fd, "", AT_EMPTY_PATH, STATX_SIZE, &info);
  }
  int blocking() noexcept {
    return ::statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &info) == 0 ? 0 : -errno;
  }
  std::uint64_t finish(int res) const {
    check(res, "corio::file::size");
    return info.stx_size;
  }
};

// IORING_OP_FSYNC.
struct fsync_op {
  using value_type = void;
  int fd;
  void prep(io_uring_sqe* sqe) noexcept { io_uring_prep_fsync(sqe, fd, 0); }
  int blocking() noexcept { return ::fsync(fd) == 0 ? 0 : -errno; }
  void finish(int res) const { check(res, "corio::file::fsync"); }
};

[[noreturn]] inline void throw_path_error(int negative_errno, const char* operation,
                                          const std::filesystem::path& path) {
  throw std::system_error(-negative_errno, std::system_category(),
                          std::string(operation) + " \"" + path.string() + "\"");
}

}  // namespace detail

/// An open file read and written at explicit offsets through io_uring, as
/// pread/pwrite: there is no file position, so several reads and writes of
/// one file may be in flight at once.
///
/// Made by open(). The destructor closes a file still open with ::close
/// (synchronous); close() does it through io_uring and reports errors.
///
/// Errors: std::system_error with the errno and std::system_category(),
///   whose `what` names the operation ("corio::file::read_at"), and for
///   open() the path; std::invalid_argument for a bad open_mode.
/// Cancellation: every operation is an io_uring request cancelled in the
///   kernel (IORING_OP_ASYNC_CANCEL); note that the kernel may finish a
///   regular-file read or write before the cancellation reaches it, in which
///   case the operation completes normally and the task sees cancelled_error
///   at its next suspension point.
/// Lifetime: an operation's task refers to the file and to the caller's
///   buffer; both must stay valid until its co_await completes.
/// Thread safety: use only on the loop's thread.
/// Example:
///   corio::file f = co_await corio::file::open("data.bin", corio::open_mode::read);
///   std::array<std::byte, 4096> buf;
///   std::size_t n = co_await f.read_at(0, buf);
class file {
 public:
  /// A file object with no file; is_open() is false.
  file() noexcept = default;
  file(file&&) noexcept = default;
  file& operator=(file&&) noexcept = default;
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  ~file() = default;

  /// Opens `path` (relative paths from the current directory) as `mode` says.
  ///
  /// Uses IORING_OP_OPENAT; see io_uring_prep_openat(3) and openat(2).
  ///
  /// Throws: std::system_error with the errno (ENOENT, EACCES, EISDIR when
  ///   opening a directory for writing, EEXIST with exclusive, ...), whose
  ///   `what` names the path; std::invalid_argument for a bad `mode`;
  ///   cancelled_error.
  /// Cancellation: the open is cancelled in the kernel; a file the kernel
  ///   opened before the cancellation reached it is returned (not leaked).
  /// Lifetime: `path` is copied into the operation.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   auto f = co_await corio::file::open("out.txt", corio::open_mode::write |
  ///   corio::open_mode::create);
  [[nodiscard]] static detail::io_operation<detail::open_op> open(std::filesystem::path path,
                                                                  open_mode mode) {
    const int flags = detail::open_flags(mode);
    return detail::io_operation(detail::open_op{std::move(path), flags});
  }

  /// Reads up to `buffer.size()` bytes at `offset` into `buffer`.
  ///
  /// Completes with the number of bytes read; `0` means end of file (and an
  /// empty `buffer` completes with `0` at once). A short count is not an
  /// error: read again from `offset + n`.
  /// Uses IORING_OP_READ; see io_uring_prep_read(3) and pread(2).
  ///
  /// Throws: std::system_error (EBADF if not opened for reading, EISDIR, EIO);
  ///   cancelled_error.
  /// Lifetime: the file and `buffer` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   std::array<std::byte, 4096> buf;
  ///   std::size_t n = co_await f.read_at(0, buf);
  [[nodiscard]] detail::io_operation<detail::file_rw_op<false>> read_at(
      std::uint64_t offset, std::span<std::byte> buffer) {
    CORIO_ASSERT(buffer.empty() || fd_.valid(), "corio::file::read_at: the file is not open");
    return detail::io_operation(detail::file_rw_op<false>{fd_.get(), offset, buffer});
  }

  /// Writes up to `data.size()` bytes of `data` at `offset` (at the end of the
  /// file instead if it was opened with open_mode::append).
  ///
  /// Completes with the number of bytes written, which may be short (a full
  /// disk, a signal); write the rest from `offset + n`, or use write_file.
  /// Uses IORING_OP_WRITE; see io_uring_prep_write(3) and pwrite(2).
  ///
  /// Throws: std::system_error (EBADF if not opened for writing, ENOSPC,
  ///   EFBIG, EIO); cancelled_error.
  /// Lifetime: the file and `data` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   std::string_view text = "hello\n";
  ///   std::size_t n = co_await f.write_at(0, std::as_bytes(std::span(text)));
  [[nodiscard]] detail::io_operation<detail::file_rw_op<true>> write_at(
      std::uint64_t offset, std::span<const std::byte> data) {
    CORIO_ASSERT(data.empty() || fd_.valid(), "corio::file::write_at: the file is not open");
    return detail::io_operation(detail::file_rw_op<true>{fd_.get(), offset, data});
  }

  /// The file's size in bytes, now.
  ///
  /// Uses IORING_OP_STATX (AT_EMPTY_PATH, STATX_SIZE); see io_uring_prep_statx(3)
  /// and statx(2).
  ///
  /// Throws: std::system_error; cancelled_error.
  /// Lifetime: the file must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   std::uint64_t n = co_await f.size();
  [[nodiscard]] detail::io_operation<detail::size_op> size() {
    CORIO_ASSERT(fd_.valid(), "corio::file::size: the file is not open");
    return detail::io_operation(detail::size_op{fd_.get()});
  }

  /// Flushes the file's data and metadata to its storage device.
  ///
  /// Uses IORING_OP_FSYNC; see io_uring_prep_fsync(3) and fsync(2).
  ///
  /// Throws: std::system_error (EIO, ENOSPC); cancelled_error.
  /// Lifetime: the file must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   co_await f.fsync();
  [[nodiscard]] detail::io_operation<detail::fsync_op> fsync() {
    CORIO_ASSERT(fd_.valid(), "corio::file::fsync: the file is not open");
    return detail::io_operation(detail::fsync_op{fd_.get()});
  }

  /// Closes the file; does nothing if it is not open.
  ///
  /// Uses IORING_OP_CLOSE; see io_uring_prep_close(3) and close(2). The file
  /// object is empty (is_open() false) from the moment the call starts.
  ///
  /// Throws: std::system_error (EIO: a delayed write error; the file is closed
  ///   anyway, as with close(2)); cancelled_error (the file is then closed
  ///   synchronously).
  /// Thread safety: await only on the loop's thread, with no other operation
  ///   on the file pending.
  /// Example:
  ///   co_await f.close();
  [[nodiscard]] detail::io_operation<detail::close_op<true>> close() {
    return detail::close_descriptor<true>(fd_, "corio::file::close");
  }

  /// True if the object owns an open file.
  bool is_open() const noexcept { return fd_.valid(); }
  /// The file descriptor (-1 if none); the file keeps owning it.
  int native_handle() const noexcept { return fd_.get(); }

 private:
  friend struct detail::open_op;
  explicit file(detail::unique_fd fd) noexcept : fd_(std::move(fd)) {}

  // Data that only the loop's thread touches.
  detail::unique_fd fd_;
};

namespace detail {

inline file open_op::finish(int res) const {
  if (res < 0)
    throw_path_error(res, "corio::file::open: cannot open", path);
  return file(unique_fd(res));
}

// read_file and write_file move data in chunks of this size, with up to
// file_io_window of them in flight at once: the kernel's io-wq then works on
// several at a time, which is what makes io_uring fast on large files.
inline constexpr std::size_t file_io_chunk = 256 * 1024;
inline constexpr std::size_t file_io_window = 8;

// The state the chunk workers share; it lives in the frame of read_file or
// write_file, which waits in gather until every worker has finished.
struct chunked_io {
  int fd;
  std::size_t size;      // bytes to move
  std::size_t next = 0;  // start of the next chunk no worker has claimed
  std::size_t end_of_file = std::numeric_limits<std::size_t>::max();  // first offset that read 0
  const std::filesystem::path* path;
};

// Claims chunks in order until none is left, reading each one in full
// (several reads if the kernel returns short counts).
template <class = void>
inline task<> read_chunks(chunked_io& io, std::span<std::byte> out) {
  for (;;) {
    const std::size_t begin = io.next;
    if (begin >= io.size || begin >= io.end_of_file)
      co_return;
    const std::size_t end = std::min(begin + file_io_chunk, io.size);
    io.next = end;
    for (std::size_t pos = begin; pos < end;) {
      const int res = co_await file_read_op(io.fd, pos, out.subspan(pos, end - pos));
      if (res < 0)
        throw_path_error(res, "corio::read_file: cannot read", *io.path);
      if (res == 0) {  // the file is shorter than its size said: it shrank
        io.end_of_file = std::min(io.end_of_file, pos);
        co_return;
      }
      pos += static_cast<std::size_t>(res);
    }
  }
}

// Claims chunks in order until none is left, writing each one in full.
template <class = void>
inline task<> write_chunks(chunked_io& io, std::span<const std::byte> data) {
  for (;;) {
    const std::size_t begin = io.next;
    if (begin >= io.size)
      co_return;
    const std::size_t end = std::min(begin + file_io_chunk, io.size);
    io.next = end;
    for (std::size_t pos = begin; pos < end;) {
      const int res = co_await file_write_op(io.fd, pos, data.subspan(pos, end - pos));
      if (res < 0)
        throw_path_error(res, "corio::write_file: cannot write", *io.path);
      // write(2) of a regular file never returns 0 for a non-empty buffer; if
      // it did, retrying would never end.
      if (res == 0)
        throw_path_error(-EIO, "corio::write_file: the kernel wrote nothing to", *io.path);
      pos += static_cast<std::size_t>(res);
    }
  }
}

// Runs `worker(io, buffer)` on min(file_io_window, chunk count) concurrent
// tasks; the first failure cancels the others (gather's policy).
template <class Span, class Worker>
task<> run_chunk_workers(chunked_io& io, Span buffer, Worker worker) {
  const std::size_t chunks = (io.size + file_io_chunk - 1) / file_io_chunk;
  std::vector<task<>> workers;
  for (std::size_t i = 0; i < std::min(chunks, file_io_window); ++i)
    workers.push_back(worker(io, buffer));
  co_await gather(std::move(workers));
}

}  // namespace detail

/// Reads the whole file at `path` into a string, as Python's
/// `open(path, "rb").read()`.
///
/// The file is read in 256 KiB chunks with up to 8 reads in flight at once
/// (IORING_OP_READ; see io_uring_prep_read(3)), after IORING_OP_OPENAT and
/// IORING_OP_STATX; reading then continues until a read returns 0, so files
/// whose size is not known in advance (/proc) or that grow are read to their end.
///
/// `max_bytes` bounds the result: a file larger than that, by its size or
/// by what the reads return, is refused, so a file that never ends
/// (/dev/zero, a FIFO fed forever) or an unexpectedly large one cannot make
/// the string grow without bound. Pass it whenever the path is not trusted;
/// by default there is no bound.
///
/// Throws: std::system_error with the errno (ENOENT, EACCES, EISDIR, EIO),
///   whose `what` names the path; std::system_error EFBIG if the file holds
///   more than `max_bytes`; std::length_error if the file cannot fit in a
///   string; cancelled_error.
/// Cancellation: the reads in flight are cancelled in the kernel and the file
///   is closed.
/// Lifetime: `path` is copied.
/// Thread safety: await only on the loop's thread.
/// Example:
///   std::string text = co_await corio::read_file("config.toml");
///   std::string upload = co_await corio::read_file(untrusted, 1024 * 1024);  // EFBIG past 1 MiB
template <class = void>
[[nodiscard]] inline task<std::string> read_file(
    std::filesystem::path path, std::size_t max_bytes = std::numeric_limits<std::size_t>::max()) {
  file f = co_await file::open(path, open_mode::read);
  const std::uint64_t expected = co_await f.size();
  const auto too_large = [&] {
    throw std::system_error(EFBIG, std::system_category(),
                            "corio::read_file: \"" + path.string() + "\" holds more than " +
                                std::to_string(max_bytes) + " bytes (the max_bytes argument)");
  };
  if (expected > max_bytes)
    too_large();
  std::string out;
  if (expected > out.max_size()) {
    throw std::length_error("corio::read_file: \"" + path.string() +
                            "\" is too large for a std::string");
  }
  out.resize(static_cast<std::size_t>(expected));
  detail::chunked_io io{f.native_handle(), out.size(), 0, std::numeric_limits<std::size_t>::max(),
                        &path};
  co_await detail::run_chunk_workers(io, std::as_writable_bytes(std::span(out)),
                                     &detail::read_chunks<>);
  std::size_t length = std::min(io.end_of_file, out.size());
  if (length == out.size()) {
    // Read on to the real end: the size was 0 (a /proc file) or the file grew.
    // Up to one byte past max_bytes, to tell a file of exactly max_bytes.
    for (;;) {
      if (length > max_bytes)
        too_large();
      const std::size_t room = max_bytes - length < detail::file_io_chunk ? max_bytes - length + 1
                                                                          : detail::file_io_chunk;
      out.resize(length + room);
      const std::size_t n =
          co_await f.read_at(length, std::as_writable_bytes(std::span(out)).subspan(length));
      if (n == 0)
        break;
      length += n;
    }
  }
  out.resize(length);
  co_await f.close();
  co_return out;
}

/// Replaces the contents of the file at `path` with `data`, creating it if
/// needed (permissions 0666 less the umask), as Python's
/// `open(path, "wb").write(data)`.
///
/// The data goes in 256 KiB chunks with up to 8 writes in flight at once
/// (IORING_OP_WRITE; see io_uring_prep_write(3)), each continued after a short
/// write, after IORING_OP_OPENAT with O_TRUNC; then IORING_OP_CLOSE. The data
/// is not fsync'ed: open a file and call fsync() where durability matters.
///
/// Throws: std::system_error with the errno (ENOENT for a missing directory,
///   EACCES, EISDIR, ENOSPC), whose `what` names the path; cancelled_error.
///   After a failure or a cancellation the file may hold part of `data`.
/// Cancellation: the writes in flight are cancelled in the kernel and the file
///   is closed.
/// Lifetime: `data` must stay valid until the co_await completes (it is not
///   copied); `path` is copied.
/// Thread safety: await only on the loop's thread.
/// Example:
///   co_await corio::write_file("out.txt", "hello\n");
template <class = void>
[[nodiscard]] inline task<> write_file(std::filesystem::path path, std::string_view data) {
  file f = co_await file::open(path, open_mode::write | open_mode::create | open_mode::truncate);
  detail::chunked_io io{f.native_handle(), data.size(), 0, std::numeric_limits<std::size_t>::max(),
                        &path};
  co_await detail::run_chunk_workers(io, std::as_bytes(std::span(data.data(), data.size())),
                                     &detail::write_chunks<>);
  co_await f.close();
}

}  // namespace corio
