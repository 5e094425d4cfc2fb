// SPDX-License-Identifier: MIT
// corio/net/buffered_reader.hpp: line- and delimiter-oriented reading over any corio
// stream, as asyncio's StreamReader.
//
// - readable_stream: what a stream needs to be read through a buffered_reader.
// - buffered_reader<Stream>: read_line(), read_until(), read_exactly(), read_some().
// - limit_overrun_error: no delimiter within `max` bytes (the bytes stay buffered).
//
// The end of the stream inside a line, or before n bytes, is incomplete_read_error
// (corio/net/tcp.hpp), which carries the bytes that did arrive.
#pragma once

#include <corio/error.hpp>
#include <corio/net/tcp.hpp>
#include <corio/task.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace corio::net {

/// A stream a buffered_reader can read: `co_await s.read_some(buffer)` reads
/// at least one byte into `buffer` and yields how many, or 0 at the end of
/// the stream. tcp_stream and tls::stream are readable streams.
template <class S>
concept readable_stream = requires(S& s, std::span<std::byte> buffer) {
  { corio::detail::as_task(s.read_some(buffer)) } -> std::same_as<task<std::size_t>>;
};

/// Thrown by buffered_reader::read_line and read_until when `max` bytes have
/// arrived without the delimiter, as asyncio's LimitOverrunError.
///
/// Nothing is consumed: the bytes stay in the reader's buffer, for
/// read_some(), read_exactly() or a read_until() with a larger `max`.
/// Thread safety: an exception object; copy it freely.
/// Example:
///   try { line = co_await reader.read_line(1024); }
///   catch (const corio::net::limit_overrun_error&) { co_await s.write_all("line too long\n"); }
class limit_overrun_error : public std::runtime_error {
 public:
  limit_overrun_error(const std::string& message, std::size_t max)
      : std::runtime_error(message), max_(max) {}

  /// The `max` the read was given.
  std::size_t max() const noexcept { return max_; }

 private:
  std::size_t max_;
};

/// Reads a stream through a buffer, so that lines, delimited records and
/// exact counts come out whole, as asyncio's StreamReader.
///
/// The reader refers to `stream` and reads only through its read_some(); write
/// to the stream directly. The buffer is allocated at the first read, grows
/// (doubling) when a line longer than it is allowed by `max`, and never
/// shrinks.
///
/// Errors: the stream's own (std::system_error, ...); the end of the stream
///   inside a record as incomplete_read_error, with the bytes in partial();
///   no delimiter within `max` bytes as limit_overrun_error;
///   std::invalid_argument for an empty delimiter or a `max` shorter than it.
/// Cancellation: no byte is lost. Bytes are buffered only once the stream's
///   read_some has returned them, and a cancelled read consumes nothing, so
///   the next call sees every byte that arrived.
/// Lifetime: `stream` must outlive the reader and every pending operation.
/// Thread safety: use only on the loop's thread, one read at a time.
/// Example:
///   auto s = co_await corio::net::tcp_stream::connect("127.0.0.1", 6379);
///   corio::net::buffered_reader reader(s);
///   co_await s.write_all("PING\r\n");
///   std::string reply = co_await reader.read_until("\r\n");   // "+PONG\r\n"
template <readable_stream Stream>
class buffered_reader {
 public:
  /// The default `max` of read_line and read_until, as asyncio's limit.
  static constexpr std::size_t default_max = 64 * 1024;

  /// A reader of `stream` whose buffer starts at `buffer_size` bytes.
  /// Throws: std::invalid_argument if `buffer_size` is 0.
  explicit buffered_reader(Stream& stream, std::size_t buffer_size = 64 * 1024)
      : stream_(&stream), capacity_(buffer_size) {
    if (buffer_size == 0)
      throw std::invalid_argument("corio::net::buffered_reader: the buffer size must not be 0");
  }

  buffered_reader(buffered_reader&&) noexcept = default;
  buffered_reader& operator=(buffered_reader&&) noexcept = default;
  buffered_reader(const buffered_reader&) = delete;
  buffered_reader& operator=(const buffered_reader&) = delete;
  ~buffered_reader() = default;

  /// Reads one line, up to and including its "\n"; as read_until("\n", max).
  ///
  /// Completes with the line, "\n" included ("\r\n" lines keep their "\r"),
  /// or with "" when the stream has ended with no bytes left, so "" means
  /// the end and "\n" an empty line.
  ///
  /// Throws: limit_overrun_error if `max` bytes arrive with no "\n" among
  ///   them (they stay buffered); incomplete_read_error if the stream ends
  ///   inside a line (partial() holds it, and it is consumed); the stream's
  ///   errors; cancelled_error.
  /// Lifetime: the reader and its stream must stay valid until the co_await completes.
  /// Example:
  ///   for (std::string line = co_await reader.read_line(); !line.empty();
  ///        line = co_await reader.read_line())
  ///     handle(line);
  [[nodiscard]] task<std::string> read_line(std::size_t max = default_max) {
    return read_delimited("\n", max, true, "corio::net::buffered_reader::read_line");
  }

  /// Reads up to and including the first `delimiter`, as asyncio's readuntil.
  ///
  /// Completes with the bytes, `delimiter` included. `max` bounds the
  /// result's length, `delimiter` included.
  ///
  /// Throws: std::invalid_argument if `delimiter` is empty or longer than
  ///   `max`; limit_overrun_error if `max` bytes arrive with no `delimiter`
  ///   ending among them (they stay buffered); incomplete_read_error if the
  ///   stream ends first, even with no byte buffered (partial() holds the
  ///   bytes, which are consumed); the stream's errors; cancelled_error.
  /// Lifetime: `delimiter` is copied; the reader and its stream must stay
  ///   valid until the co_await completes.
  /// Example:
  ///   std::string head = co_await reader.read_until("\r\n\r\n", 16 * 1024);
  [[nodiscard]] task<std::string> read_until(std::string_view delimiter,
                                             std::size_t max = default_max) {
    return read_delimited(std::string(delimiter), max, false,
                          "corio::net::buffered_reader::read_until");
  }

  /// Reads exactly `n` bytes, as asyncio's readexactly.
  ///
  /// Bytes beyond what is buffered are read straight into the result, with
  /// no copy through the buffer.
  ///
  /// Throws: incomplete_read_error if the stream ends first (partial() holds
  ///   the bytes that arrived, which are consumed); the stream's errors;
  ///   cancelled_error (the bytes read so far go back into the buffer, so
  ///   none is lost).
  /// Lifetime: the reader and its stream must stay valid until the co_await completes.
  /// Example:
  ///   std::string body = co_await reader.read_exactly(content_length);
  [[nodiscard]] task<std::string> read_exactly(std::size_t n) {
    std::string out(n, '\0');
    std::size_t done = take(std::as_writable_bytes(std::span(out)));
    try {
      while (done < n) {
        const std::size_t got =
            co_await stream_->read_some(std::as_writable_bytes(std::span(out)).subspan(done));
        if (got == 0) {
          out.resize(done);
          throw incomplete_read_error(
              "corio::net::buffered_reader::read_exactly: the stream "
              "ended after " +
                  std::to_string(done) + " of " + std::to_string(n) + " bytes",
              std::move(out), n);
        }
        done += got;
      }
    } catch (const cancelled_error&) {
      unread(std::as_bytes(std::span(out).first(done)));
      throw;
    }
    co_return out;
  }

  /// Reads what is available into `buffer`: the buffered bytes if there are
  /// any, else one read of the stream. Completes with the count, 0 at the end
  /// of the stream (or for an empty `buffer`). A `buffer` at least as large as
  /// the reader's is filled by the stream directly, with no copy.
  ///
  /// This makes a buffered_reader a readable_stream itself.
  /// Throws: the stream's errors; cancelled_error.
  /// Lifetime: the reader, its stream and `buffer` must stay valid until the
  ///   co_await completes.
  /// Example:
  ///   std::array<std::byte, 4096> chunk;
  ///   std::size_t n = co_await reader.read_some(chunk);
  [[nodiscard]] task<std::size_t> read_some(std::span<std::byte> buffer) {
    if (buffer.empty())
      co_return std::size_t{0};
    if (begin_ == end_) {
      if (buffer.size() >= capacity_)
        co_return co_await stream_->read_some(buffer);
      // WORKAROUND(g++ 12): a co_await in an operand of && is miscompiled (SIGILL here).
      const std::size_t n = co_await fill();
      if (n == 0)
        co_return std::size_t{0};
    }
    co_return take(buffer);
  }

  /// The bytes buffered and not yet consumed (valid until the next read).
  std::span<const std::byte> buffered() const noexcept {
    return {buffer_.get() + begin_, end_ - begin_};
  }

  /// The stream the reader reads.
  Stream& stream() const noexcept { return *stream_; }

 private:
  task<std::string> read_delimited(std::string delimiter, std::size_t max, bool empty_at_end,
                                   const char* who) {
    if (delimiter.empty())
      throw std::invalid_argument(std::string(who) + ": the delimiter is empty");
    if (max < delimiter.size()) {
      throw std::invalid_argument(std::string(who) + ": max (" + std::to_string(max) +
                                  ") is shorter than the delimiter");
    }
    const std::string_view delim(delimiter);
    std::size_t searched = 0;  // bytes already known to hold no delimiter start
    for (;;) {
      const std::string_view have(reinterpret_cast<const char*>(buffer_.get()) + begin_,
                                  end_ - begin_);
      const std::string_view window = have.substr(0, max);
      const std::size_t at = window.find(delim, searched);
      if (at != std::string_view::npos) {
        std::string line(window.substr(0, at + delim.size()));
        consume(line.size());
        co_return line;
      }
      if (have.size() >= max) {
        throw limit_overrun_error(std::string(who) + ": no " + describe(delim) + " in the first " +
                                      std::to_string(max) +
                                      " bytes; they stay buffered. Raise max, or read them with "
                                      "read_some() or read_exactly()",
                                  max);
      }
      // A delimiter may straddle what is here and what comes next.
      searched = have.size() >= delim.size() ? have.size() - delim.size() + 1 : 0;
      const std::size_t had = have.size();      // `have` dangles once fill() moves the bytes
      const std::size_t got = co_await fill();  // not in the if: g++ 12 (CONTRIBUTING.md)
      if (got == 0) {
        if (had == 0 && empty_at_end)
          co_return std::string();
        std::string partial(reinterpret_cast<const char*>(buffer_.get()) + begin_, had);
        consume(had);
        throw incomplete_read_error(std::string(who) + ": the stream ended after " +
                                        std::to_string(had) + " bytes with no " + describe(delim),
                                    std::move(partial), 0);
      }
    }
  }

  static std::string describe(std::string_view delimiter) {
    std::string out = "delimiter \"";
    for (const char c : delimiter) {
      if (c == '\n')
        out += "\\n";
      else if (c == '\r')
        out += "\\r";
      else
        out += c;
    }
    return out + "\"";
  }

  // Reads once from the stream into the free space at the end of the buffer,
  // first moving the unread bytes to the front, or doubling the buffer when
  // they fill it. Completes with the count read (0 at the end of the stream).
  task<std::size_t> fill() {
    if (!buffer_)
      buffer_ = std::unique_ptr<std::byte[]>(new std::byte[capacity_]);
    if (end_ == capacity_) {
      if (begin_ > 0) {
        std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
      } else {
        auto grown = std::unique_ptr<std::byte[]>(new std::byte[capacity_ * 2]);
        std::memcpy(grown.get(), buffer_.get(), end_);
        buffer_ = std::move(grown);
        capacity_ *= 2;
      }
      end_ -= begin_;
      begin_ = 0;
    }
    const std::size_t n =
        co_await stream_->read_some(std::span(buffer_.get() + end_, capacity_ - end_));
    end_ += n;
    co_return n;
  }

  // Copies as many buffered bytes as fit into `out` and consumes them.
  std::size_t take(std::span<std::byte> out) noexcept {
    const std::size_t n = std::min(out.size(), end_ - begin_);
    if (n > 0)
      std::memcpy(out.data(), buffer_.get() + begin_, n);
    consume(n);
    return n;
  }

  void consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_)
      begin_ = end_ = 0;
  }

  // Puts bytes a cancelled read had taken back in front of the buffered ones.
  void unread(std::span<const std::byte> bytes) {
    if (bytes.empty())
      return;
    const std::size_t kept = end_ - begin_;
    const std::size_t total = kept + bytes.size();
    if (!buffer_ || total > capacity_) {
      const std::size_t size = std::max(capacity_, total);
      auto grown = std::unique_ptr<std::byte[]>(new std::byte[size]);
      if (kept > 0)
        std::memcpy(grown.get() + bytes.size(), buffer_.get() + begin_, kept);
      buffer_ = std::move(grown);
      capacity_ = size;
    } else {
      std::memmove(buffer_.get() + bytes.size(), buffer_.get() + begin_, kept);
    }
    std::memcpy(buffer_.get(), bytes.data(), bytes.size());
    begin_ = 0;
    end_ = total;
  }

  // Data that only the loop's thread touches.
  Stream* stream_;
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t capacity_;
  std::size_t begin_ = 0;  // the first unread byte
  std::size_t end_ = 0;    // one past the last buffered byte
};

}  // namespace corio::net
