// SPDX-License-Identifier: MIT
// corio/detail/secure_stream.hpp: how corio/http reaches TLS without linking OpenSSL.
//
// corio/http/client.hpp speaks https through connect_secure_stream, which is empty unless
// the program includes corio/tls.hpp: that header sets it when the program starts. So the
// core stays OpenSSL-free, and https works wherever corio::tls is linked.
#pragma once

#include <corio/net/tcp.hpp>
#include <corio/task.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace corio::detail {

// A TLS session over a TCP connection, seen through the calls HTTP needs.
class secure_stream {
 public:
  secure_stream() = default;
  secure_stream(const secure_stream&) = delete;
  secure_stream& operator=(const secure_stream&) = delete;
  virtual ~secure_stream() = default;

  virtual task<std::size_t> read_some(std::span<std::byte> buffer) = 0;
  virtual task<> write_all(std::span<const std::byte> data) = 0;
  // The socket underneath, for a peek that never waits.
  virtual int native_handle() const noexcept = 0;
};

// Runs a TLS client handshake over `tcp` for `host`, trusting the PEM file
// `ca_file` (empty: the system trust store).
using secure_stream_connector = task<std::unique_ptr<secure_stream>> (*)(net::tcp_stream tcp,
                                                                         std::string host,
                                                                         std::string ca_file);

// Set by corio/tls.hpp during static initialisation; null without it.
inline secure_stream_connector connect_secure_stream = nullptr;

}  // namespace corio::detail
