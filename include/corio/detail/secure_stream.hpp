// SPDX-License-Identifier: MIT
// corio/detail/secure_stream.hpp: how corio/http reaches TLS without linking OpenSSL.
//
// corio/http/client.hpp speaks https through connect_secure_stream, and
// corio/http/server.hpp serves it through make_secure_acceptor. Both are empty unless the
// program includes corio/tls.hpp: that header sets them when the program starts. So the
// core stays OpenSSL-free, and https works wherever corio::tls is linked.
#pragma once

#include <corio/net/tcp.hpp>
#include <corio/task.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace corio::tls {
class context;
}  // namespace corio::tls

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
  task<> write_all(std::string_view text) {
    return write_all(std::as_bytes(std::span(text.data(), text.size())));
  }
  // Ends the sending direction: a close_notify, then the TCP FIN.
  virtual task<> shutdown() = 0;
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

// TLS server handshakes with one server context, for http::server.
class secure_acceptor {
 public:
  secure_acceptor() = default;
  secure_acceptor(const secure_acceptor&) = delete;
  secure_acceptor& operator=(const secure_acceptor&) = delete;
  virtual ~secure_acceptor() = default;

  // Runs the server handshake over `tcp`, an accepted connection.
  virtual task<std::unique_ptr<secure_stream>> accept(net::tcp_stream tcp) = 0;
};

// Makes an acceptor that keeps a copy of `ctx`; throws std::invalid_argument for a
// client context.
using secure_acceptor_maker = std::unique_ptr<secure_acceptor> (*)(const tls::context& ctx);

// Set by corio/tls.hpp during static initialisation; null without it.
inline secure_acceptor_maker make_secure_acceptor = nullptr;

}  // namespace corio::detail
