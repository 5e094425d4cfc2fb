// SPDX-License-Identifier: MIT
// corio/net/incomplete_read_error.hpp: the end of a stream before a read was satisfied.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace corio::net {

/// Thrown by tcp_stream::read_exact (and unix_stream::read_exact) when the peer ends the stream
/// before the buffer is full, and by buffered_reader when the stream ends inside a line or before n
/// bytes, as asyncio's IncompleteReadError.
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
      : incomplete_read_error("corio::net::tcp_stream::read_exact", bytes_read, bytes_expected) {}

  /// An error saying that `operation` (e.g. "corio::net::unix_stream::read_exact")
  /// got `bytes_read` of `bytes_expected` bytes before the end of the stream.
  incomplete_read_error(const char* operation, std::size_t bytes_read, std::size_t bytes_expected)
      : std::runtime_error(std::string(operation) + ": the peer ended the stream after " +
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

}  // namespace corio::net
