// SPDX-License-Identifier: MIT
// corio/tls.hpp: TLS over corio's TCP streams, with OpenSSL 3 (CMake target corio::tls).
// Its coroutines that need no template parameter, and the functions that call them, are
// declared `template <class = void>` so that g++ compiles them only where they are used;
// see CONTRIBUTING.md, "Coroutines in headers".
//
// - tls::context: client or server settings (trust store or CA file, certificate and
//   key, ALPN, peer verification), shared by the streams made from it.
// - tls::stream: a TLS session over a net::tcp_stream; connect(), accept(), read_some(),
//   write_all(), shutdown() (close_notify).
// - tls::error_category(), tls::verify_category(): OpenSSL's errors and certificate
//   verification results as std::error_code values.
//
// OpenSSL never touches the socket: it reads and writes a BIO pair in memory, and every
// byte moves through tcp_stream's own read_some and write_some, so cancellation and
// timeouts work at every point, the handshake included. Received bytes land straight
// in the BIO's buffer and records go from the BIO's buffer straight to the send.
//
// The core target corio::corio does not link OpenSSL: only this header needs it, and
// corio/corio.hpp does not include it.
#pragma once

#if !__has_include(<openssl/ssl.h>)
#  error "corio/tls.hpp needs OpenSSL 3 (Debian: libssl-dev); link the CMake target corio::tls"
#endif

#include <corio/error.hpp>
#include <corio/mutex.hpp>
#include <corio/net/address.hpp>
#include <corio/net/tcp.hpp>
#include <corio/task.hpp>

#include <corio/detail/secure_stream.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#if OPENSSL_VERSION_MAJOR < 3
#  error "corio/tls.hpp needs OpenSSL 3 or newer"
#endif

namespace corio::tls {

/// The category of OpenSSL's own errors: the error_code's value is OpenSSL's
/// packed error code (ERR_get_error), and its message is OpenSSL's reason text
/// followed, where one is known, by what to do in parentheses.
///
/// Thread safety: may be used from any thread.
/// Example:
///   catch (const std::system_error& e) {
///     if (e.code().category() == corio::tls::error_category()) ...
///   }
inline const std::error_category& error_category() noexcept;

/// The category of certificate verification failures: the error_code's value
/// is the X509_V_ERR_* result (X509_V_ERR_CERT_HAS_EXPIRED, ...), and its
/// message is OpenSSL's text followed by what to do.
///
/// Thread safety: may be used from any thread.
/// Example:
///   catch (const std::system_error& e) {
///     if (e.code() == std::error_code(X509_V_ERR_HOSTNAME_MISMATCH,
///     corio::tls::verify_category()))
///   }
inline const std::error_category& verify_category() noexcept;

}  // namespace corio::tls

namespace corio::detail {

inline std::string openssl_hint(int library, int reason) {
  if (library == ERR_LIB_X509 && reason == X509_R_KEY_VALUES_MISMATCH)
    return "the private key does not belong to the certificate";
  if (library != ERR_LIB_SSL)
    return {};
  switch (reason) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
      return "the peer does not speak TLS 1.2 or newer here: check the port, and that the "
             "server has TLS on";
    case SSL_R_HTTP_REQUEST:
      return "the client sent plain HTTP to a TLS port: it should use https://";
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return "the peer closed the connection without a TLS close_notify: it may have refused "
             "the handshake, or what it sent is truncated";
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_LENGTH_MISMATCH:
    case SSL_R_BAD_PACKET_LENGTH:
      return "the peer sent bytes that are not valid TLS: is it a TLS peer?";
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return "the peers share no TLS version or cipher; corio requires TLS 1.2 or newer";
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return "this server requires a client certificate: the client must present one, "
             "with tls::context::use_certificate";
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return "the peer rejected this side's certificate, or its absence: see the peer's log";
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:  // the client's side
    case SSL_R_NO_APPLICATION_PROTOCOL:              // the server's side
      return "the peers share no ALPN protocol: check tls::context::set_alpn on both sides";
    case SSL_R_TLSV1_UNRECOGNIZED_NAME:
      return "the server has no certificate for the name given to connect()";
    default:
      return {};
  }
}

class tls_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio.tls"; }
  std::string message(int code) const override {
    const auto e = static_cast<unsigned long>(code);
    const char* reason = ERR_reason_error_string(e);
    std::string text = reason != nullptr ? reason : "OpenSSL error " + std::to_string(code);
    const std::string hint = openssl_hint(ERR_GET_LIB(e), ERR_GET_REASON(e));
    return hint.empty() ? text : text + " (" + hint + ")";
  }
};

class tls_verify_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio.tls.verify"; }
  std::string message(int code) const override {
    const std::string text = X509_verify_cert_error_string(code);
    const std::string hint = verify_hint(code);
    return hint.empty() ? text : text + " (" + hint + ")";
  }

 private:
  static std::string verify_hint(int code) {
    switch (code) {
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return "pass a CA file with the certificate that issued the peer's: "
               "tls::context::client(ca_file) or load_ca_file(); for a public server, check "
               "that the system trust store is installed (Debian: ca-certificates)";
      case X509_V_ERR_CERT_HAS_EXPIRED:
        return "the peer's certificate has expired: renew it, or check this machine's clock";
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return "the peer's certificate is not valid yet: check this machine's clock";
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return "the certificate was not issued for the name given to connect(): pass a name "
               "it was issued for";
      default:
        return {};
    }
  }
};

// The error the thread's OpenSSL error queue holds (its earliest entry), as a
// system_error whose `what` starts with `who`; clears the queue. With `ssl`, a
// failed certificate verification reports its X509_V_ERR_* result instead.
inline std::system_error openssl_error(const std::string& who, const SSL* ssl = nullptr) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (ssl != nullptr && ERR_GET_LIB(e) == ERR_LIB_SSL &&
      ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    const long result = SSL_get_verify_result(ssl);
    if (result != X509_V_OK) {
      return std::system_error(static_cast<int>(result), tls::verify_category(),
                               who + ": certificate verify failed");
    }
  }
  if (e == 0) {
    // SSL_ERROR_SYSCALL with nothing queued: with memory BIOs, the stream ended.
    return std::system_error(ECONNRESET, std::system_category(),
                             who + ": the TLS session ended with no OpenSSL reason");
  }
  if (ERR_SYSTEM_ERROR(e))
    return std::system_error(ERR_GET_REASON(e), std::system_category(), who);
  return std::system_error(static_cast<int>(e), tls::error_category(), who);
}

// What a context's streams share: the OpenSSL context, and the server's ALPN list,
// which OpenSSL's selection callback reads.
struct tls_context_state {
  tls_context_state(SSL_CTX* context, bool is_server) noexcept : ctx(context), server(is_server) {}
  tls_context_state(const tls_context_state&) = delete;
  tls_context_state& operator=(const tls_context_state&) = delete;
  ~tls_context_state() { SSL_CTX_free(ctx); }

  SSL_CTX* ctx;
  bool server;
  bool verify_peer = false;
  std::string alpn_wire;  // RFC 7301 wire format: length-prefixed names
};

}  // namespace corio::detail

namespace corio::tls {

inline const std::error_category& error_category() noexcept {
  static const corio::detail::tls_error_category category;
  return category;
}

inline const std::error_category& verify_category() noexcept {
  static const corio::detail::tls_verify_category category;
  return category;
}

/// TLS settings for clients or for servers, as Python's ssl.SSLContext.
///
/// A client context verifies the server's certificate against the system
/// trust store (or the CA file given) and checks that it was issued for the
/// name given to stream::connect; a server context presents a certificate
/// chain and its key. Both negotiate TLS 1.2 or newer and refuse
/// renegotiation.
///
/// Copies share one OpenSSL context (SSL_CTX), and streams keep it alive:
/// configure a context fully before the first connect or accept.
/// Errors: std::system_error with error_category() (OpenSSL's reason) or
///   std::system_category() (a file that cannot be opened), whose `what`
///   names the call and the file; std::invalid_argument for a wrong argument.
/// Thread safety: configure on one thread; a configured context may then be
///   used by streams on any thread.
/// Example:
///   auto ctx = corio::tls::context::client();          // system trust store
///   auto tls = co_await corio::tls::stream::connect("example.com", 443, ctx);
///   auto srv = corio::tls::context::server("cert.pem", "key.pem");
class context {
 public:
  /// A client context. With no `ca_file` it trusts the system's store (on
  /// Debian, /etc/ssl/certs from ca-certificates); with one, only the PEM
  /// certificates in that file.
  ///
  /// Throws: std::system_error if the CA file cannot be loaded (its `what`
  ///   names the file).
  /// Example:
  ///   auto ctx = corio::tls::context::client("test-ca.pem");
  static context client(std::string_view ca_file = {}) {
    context c(make(TLS_client_method(), false));
    c.state_->verify_peer = true;
    SSL_CTX_set_verify(c.native_handle(), SSL_VERIFY_PEER, nullptr);
    if (ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(c.native_handle()) != 1)
        throw corio::detail::openssl_error("corio::tls::context::client (system trust store)");
    } else {
      c.load_ca_file(ca_file);
    }
    return c;
  }

  /// A server context presenting the PEM certificate chain in
  /// `certificate_chain_file` (the server's certificate first) with the PEM
  /// private key in `private_key_file`. It does not ask clients for
  /// certificates unless set_verify_peer(true).
  ///
  /// Throws: std::system_error if a file cannot be loaded or the key does
  ///   not match the certificate (its `what` names the files).
  /// Example:
  ///   auto ctx = corio::tls::context::server("server.pem", "server.key");
  static context server(std::string_view certificate_chain_file,
                        std::string_view private_key_file) {
    context c(make(TLS_server_method(), true));
    c.use_certificate(certificate_chain_file, private_key_file);
    return c;
  }

  /// Trusts the PEM certificates in `ca_file` too (for a client: servers'
  /// issuers; for a server with set_verify_peer(true): clients' issuers).
  /// Throws: std::system_error naming the file.
  context& load_ca_file(std::string_view ca_file) {
    const std::string path(ca_file);
    if (SSL_CTX_load_verify_locations(native_handle(), path.c_str(), nullptr) != 1) {
      throw corio::detail::openssl_error(
          "corio::tls::context::load_ca_file: cannot load CA "
          "certificates from \"" +
          path + "\"");
    }
    return *this;
  }

  /// Presents the PEM certificate chain in `certificate_chain_file` with the
  /// PEM private key in `private_key_file` (a server's, or a client's for
  /// servers that ask for one).
  /// Throws: std::system_error naming the file, or saying the key does not
  ///   match the certificate.
  context& use_certificate(std::string_view certificate_chain_file,
                           std::string_view private_key_file) {
    const char* const who = "corio::tls::context::use_certificate: ";
    const std::string chain(certificate_chain_file);
    const std::string key(private_key_file);
    if (SSL_CTX_use_certificate_chain_file(native_handle(), chain.c_str()) != 1) {
      throw corio::detail::openssl_error(
          who + ("cannot load a PEM certificate chain from \"" + chain + "\""));
    }
    if (SSL_CTX_use_PrivateKey_file(native_handle(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw corio::detail::openssl_error(who +
                                         ("cannot load a PEM private key from \"" + key + "\""));
    }
    if (SSL_CTX_check_private_key(native_handle()) != 1) {
      throw corio::detail::openssl_error(who + ("the private key in \"" + key +
                                                "\" does not belong to the certificate in \"" +
                                                chain + "\""));
    }
    return *this;
  }

  /// Offers (client) or accepts (server) these ALPN protocols, most
  /// preferred first, e.g. {"h2", "http/1.1"}. A server picks the first of
  /// its own that the client offers, and ends the handshake with the
  /// no_application_protocol alert when there is none (RFC 7301); a client
  /// reads the choice from stream::alpn_protocol().
  /// Throws: std::invalid_argument for an empty list, or a name that is
  ///   empty or longer than 255 bytes.
  context& set_alpn(const std::vector<std::string>& protocols) {
    if (protocols.empty())
      throw std::invalid_argument("corio::tls::context::set_alpn: the protocol list is empty");
    std::string wire;
    for (const std::string& p : protocols) {
      if (p.empty() || p.size() > 255) {
        throw std::invalid_argument("corio::tls::context::set_alpn: \"" + p +
                                    "\" is not an ALPN protocol name (1 to 255 bytes)");
      }
      wire += static_cast<char>(p.size());
      wire += p;
    }
    state_->alpn_wire = std::move(wire);
    if (state_->server) {
      SSL_CTX_set_alpn_select_cb(native_handle(), &select_alpn, state_.get());
    } else if (SSL_CTX_set_alpn_protos(
                   native_handle(),
                   reinterpret_cast<const unsigned char*>(state_->alpn_wire.data()),
                   static_cast<unsigned>(state_->alpn_wire.size())) != 0) {  // 0 is success
      throw corio::detail::openssl_error("corio::tls::context::set_alpn");
    }
    return *this;
  }

  /// Turns verification of the peer's certificate on or off. On for clients
  /// by default: turning it off accepts any server, an attacker's included,
  /// so do it only for tests. Off for servers by default: on, a server
  /// requires a client certificate issued by a CA from load_ca_file().
  context& set_verify_peer(bool on) {
    state_->verify_peer = on;
    int mode = SSL_VERIFY_NONE;
    if (on)
      mode = state_->server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER;
    SSL_CTX_set_verify(native_handle(), mode, nullptr);
    return *this;
  }

  /// True for a server context.
  bool is_server() const noexcept { return state_->server; }
  /// True if the peer's certificate is verified.
  bool verifies_peer() const noexcept { return state_->verify_peer; }
  /// The OpenSSL context, for settings this class does not cover (ciphers, ...).
  SSL_CTX* native_handle() const noexcept { return state_->ctx; }

 private:
  friend class stream;
  explicit context(std::shared_ptr<corio::detail::tls_context_state> state) noexcept
      : state_(std::move(state)) {}

  static std::shared_ptr<corio::detail::tls_context_state> make(const SSL_METHOD* method,
                                                                bool server) {
    SSL_CTX* ctx = SSL_CTX_new(method);
    if (ctx == nullptr)
      throw corio::detail::openssl_error("corio::tls::context (SSL_CTX_new)");
    auto state = std::make_shared<corio::detail::tls_context_state>(ctx, server);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    // write_all retries with the rest of the caller's buffer, not the same pointer.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return state;
  }

  static int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length,
                         const unsigned char* offered, unsigned offered_length, void* arg) {
    const auto* state = static_cast<const corio::detail::tls_context_state*>(arg);
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, out_length,
                              reinterpret_cast<const unsigned char*>(state->alpn_wire.data()),
                              static_cast<unsigned>(state->alpn_wire.size()), offered,
                              offered_length) != OPENSSL_NPN_NEGOTIATED) {
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
  }

  std::shared_ptr<corio::detail::tls_context_state> state_;
};

/// A TLS session over a TCP stream, as asyncio's streams opened with ssl=.
///
/// Made by connect() (client) or accept() (server), which run the handshake;
/// it then reads and writes as a tcp_stream does, and is a
/// net::readable_stream, so a net::buffered_reader reads lines from it.
/// The destructor frees the session and closes the socket without a
/// close_notify: call shutdown() first for a clean end.
///
/// Errors: TLS failures as std::system_error with error_category() or, for a
///   certificate the client or server refuses, verify_category(); its `what`
///   names the operation and the peer, then OpenSSL's reason and what to do,
///   e.g. `corio::tls::stream::connect to "localhost": certificate verify
///   failed: unable to get local issuer certificate (pass a CA file ...)`.
///   The socket's own errors as tcp_stream reports them; cancelled_error.
///   After a TLS failure the session is unusable: close the stream (reads
///   and writes then throw ENOTCONN).
/// Cancellation: every wait is a read or write on the TCP stream, so a
///   cancelled connect, accept, read_some or write_all returns at once with
///   cancelled_error (wait_for puts timeouts on handshakes). A cancelled
///   read_some loses no byte. A cancelled handshake leaves the session in
///   an unknown state: close the stream. A cancelled write_all sends an
///   unknown part of its data, in whole records, so shutdown() still ends
///   the session cleanly.
/// Lifetime: an operation's task refers to the stream and to the caller's
///   buffer; both must stay valid until its co_await completes.
/// Thread safety: use only on the loop's thread. One read and one write may be
///   pending at the same time (from two tasks), as on a tcp_stream.
/// Example:
///   auto ctx = corio::tls::context::client();
///   auto tcp = co_await corio::net::tcp_stream::connect("example.com", 443);
///   auto s = co_await corio::tls::stream::connect(std::move(tcp), ctx, "example.com");
///   co_await s.write_all("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
///   std::array<std::byte, 4096> buf;
///   std::size_t n = co_await s.read_some(buf);
class stream {
 public:
  /// A stream with no session; is_open() is false.
  stream() noexcept = default;
  stream(stream&&) noexcept = default;
  stream& operator=(stream&&) noexcept = default;
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() = default;

  /// Runs a client handshake over `tcp` and returns the session.
  ///
  /// `server_name` is sent as SNI (unless it is an IP address) and, when
  /// `ctx` verifies the peer, is the name (or IP address) the server's
  /// certificate must be issued for.
  ///
  /// Throws: std::invalid_argument for a server context, a closed `tcp`, or
  ///   an empty `server_name` with verification on; std::system_error for a
  ///   failed handshake (verify_category() for a refused certificate:
  ///   unknown issuer, expired, wrong name; error_category() for the rest),
  ///   or the socket's errors; cancelled_error. On any of them `tcp` is
  ///   closed.
  /// Cancellation: the handshake stops at once; `tcp` is closed.
  /// Lifetime: `ctx` and `server_name` are copied; `tcp` is moved in.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   auto s = co_await corio::wait_for(
  ///       corio::tls::stream::connect(std::move(tcp), ctx, "localhost"), 10s);
  template <class = void>
  [[nodiscard]] static task<stream> connect(net::tcp_stream tcp, const context& ctx,
                                            std::string_view server_name) {
    return handshake(std::move(tcp), ctx, std::string(server_name), false);
  }

  /// Connects a TCP stream to `host`:`port` (tcp_stream::connect) and runs
  /// the client handshake with `host` as the server name.
  /// Throws: as tcp_stream::connect and connect(tcp, ctx, server_name).
  /// Example:
  ///   auto s = co_await corio::tls::stream::connect("example.com", 443, ctx);
  template <class = void>
  [[nodiscard]] static task<stream> connect(std::string_view host, std::uint16_t port,
                                            const context& ctx) {
    return connect_to_host(std::string(host), port, ctx);
  }

  /// Runs a server handshake over `tcp`, an accepted connection.
  ///
  /// Throws: std::invalid_argument for a client context or a closed `tcp`;
  ///   std::system_error for a failed handshake (a client that does not speak
  ///   TLS, offers no shared version, or, with set_verify_peer(true), has no
  ///   acceptable certificate) or the socket's errors; cancelled_error. On any
  ///   of them `tcp` is closed.
  /// Cancellation: the handshake stops at once; `tcp` is closed.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   auto s = co_await corio::tls::stream::accept(co_await listener.accept(), ctx);
  template <class = void>
  [[nodiscard]] static task<stream> accept(net::tcp_stream tcp, const context& ctx) {
    return handshake(std::move(tcp), ctx, std::string(), true);
  }

  /// Reads and decrypts what is available, up to `buffer.size()` bytes,
  /// waiting until at least one byte has arrived.
  ///
  /// Completes with the count; 0 means the peer ended the session with a
  /// close_notify (and an empty `buffer` completes with 0 at once). Bytes are
  /// decrypted straight into `buffer`.
  ///
  /// Throws: std::system_error with error_category() when the peer closes the
  ///   TCP connection without a close_notify ("unexpected eof while reading":
  ///   what was sent may be truncated) or sends a bad record; the socket's
  ///   errors; cancelled_error.
  /// Cancellation: no byte is lost; the stream stays usable.
  /// Lifetime: the stream and `buffer` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread; one read at a time.
  /// Example:
  ///   std::array<std::byte, 16384> buf;
  ///   std::size_t n = co_await s.read_some(buf);
  template <class = void>
  [[nodiscard]] task<std::size_t> read_some(std::span<std::byte> buffer) {
    if (buffer.empty())
      co_return 0;
    session& s = open_session("corio::tls::stream::read_some");
    for (;;) {
      ERR_clear_error();
      std::size_t n = 0;
      const int rc = SSL_read_ex(s.ssl, buffer.data(), buffer.size(), &n);
      const int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(s.ssl, rc);
      if (err == SSL_ERROR_ZERO_RETURN)
        co_return 0;
      if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        throw s.fail("corio::tls::stream::read_some");
      // Reading can produce records to send (a TLS 1.3 KeyUpdate reply). A write
      // in progress sends them with its own: waiting for it could deadlock, unless
      // OpenSSL cannot go on before they are sent.
      if (err == SSL_ERROR_WANT_WRITE ||
          (BIO_ctrl_pending(s.network) > 0 && !s.send_lock.is_locked()))
        co_await s.flush();
      if (err == SSL_ERROR_NONE)
        co_return n;
      if (err == SSL_ERROR_WANT_READ)
        co_await s.receive();
    }
  }

  /// Encrypts and sends all of `data`.
  ///
  /// OpenSSL writes records into the BIO pair's buffer, and they go from
  /// there straight to the socket, several records per send.
  ///
  /// Throws: std::system_error (the socket's EPIPE or ECONNRESET when the
  ///   peer has gone; TLS failures with error_category()); cancelled_error.
  /// Cancellation: the pending send is cancelled. How much of `data` goes
  ///   out is unknown, but no record is cut: the records already made go out
  ///   before whatever a later write_all or shutdown() sends.
  /// Lifetime: the stream and `data` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread; one write at a time.
  /// Example:
  ///   co_await s.write_all(std::as_bytes(std::span(payload)));
  template <class = void>
  [[nodiscard]] task<> write_all(std::span<const std::byte> data) {
    if (data.empty())
      co_return;
    session& s = open_session("corio::tls::stream::write_all");
    while (!data.empty()) {
      ERR_clear_error();
      std::size_t n = 0;
      const int rc = SSL_write_ex(s.ssl, data.data(), data.size(), &n);
      const int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(s.ssl, rc);
      if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        throw s.fail("corio::tls::stream::write_all");
      if (err == SSL_ERROR_NONE)
        data = data.subspan(n);
      co_await s.flush();
      if (err == SSL_ERROR_WANT_READ)
        co_await s.receive();
    }
  }

  /// Encrypts and sends all of `text`; as write_all(std::span<const std::byte>).
  /// Example:
  ///   co_await s.write_all("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  template <class = void>
  [[nodiscard]] task<> write_all(std::string_view text) {
    return write_all(std::as_bytes(std::span(text)));
  }

  /// Ends the sending direction with a TLS close_notify; the peer's reads
  /// then end cleanly. Reading stays possible: read_some returns 0 once the
  /// peer's close_notify arrives, which a caller that wants the two-way
  /// shutdown awaits. After a TLS failure there is no session to end, and
  /// shutdown does nothing; called again, it only sends what is still queued.
  ///
  /// Throws: the socket's errors (EPIPE when the peer has gone); cancelled_error.
  /// Thread safety: await only on the loop's thread, with no write pending.
  /// Example:
  ///   co_await s.shutdown();
  ///   co_await s.close();
  template <class = void>
  [[nodiscard]] task<> shutdown() {
    session& s = open_session("corio::tls::stream::shutdown");
    if (s.failed)
      co_return;
    // Once ours is queued, SSL_shutdown would wait for the peer's close_notify
    // (a read, which is read_some's to make): a second shutdown only sends.
    while (!s.close_notify_queued) {
      ERR_clear_error();
      const int rc = SSL_shutdown(s.ssl);  // 0: ours is queued in the BIO, theirs not seen
      if (rc >= 0)
        s.close_notify_queued = true;
      else if (SSL_get_error(s.ssl, rc) != SSL_ERROR_WANT_WRITE)
        throw s.fail("corio::tls::stream::shutdown");
      else
        co_await s.flush();  // the BIO is full: make room for the close_notify
    }
    co_await s.flush();
  }

  /// Closes the TCP stream (tcp_stream::close); the session ends without a
  /// close_notify unless shutdown() ran first. Does nothing if not open.
  /// Throws: as tcp_stream::close.
  template <class = void>
  [[nodiscard]] task<> close() {
    if (!session_)
      co_return;
    co_await session_->tcp.close();
  }

  /// The ALPN protocol the handshake chose, or "" if none.
  std::string_view alpn_protocol() const noexcept {
    if (!session_)
      return {};
    const unsigned char* name = nullptr;
    unsigned length = 0;
    SSL_get0_alpn_selected(session_->ssl, &name, &length);
    return {reinterpret_cast<const char*>(name), length};
  }

  /// True if the stream holds a session over an open socket.
  bool is_open() const noexcept { return session_ && session_->tcp.is_open(); }
  /// The TCP stream underneath (for its endpoints and options: reading or
  /// writing it directly corrupts the session).
  net::tcp_stream& next_layer() noexcept { return session_->tcp; }
  const net::tcp_stream& next_layer() const noexcept { return session_->tcp; }
  /// The OpenSSL session (peer certificate, cipher, ...).
  SSL* native_handle() const noexcept { return session_ ? session_->ssl : nullptr; }

 private:
  // The session: OpenSSL's state, the network half of the BIO pair and the
  // socket. On the heap, so that moving a stream never moves what pending
  // operations refer to.
  struct session {
    // OpenSSL writes records to send here; a send takes up to this much at once.
    static constexpr std::size_t send_buffer = 64 * 1024;
    // Received bytes wait here for OpenSSL (a TLS record is at most ~16.7 KiB).
    static constexpr std::size_t receive_buffer = 32 * 1024;

    session(net::tcp_stream socket, std::shared_ptr<corio::detail::tls_context_state> ctx)
        : context(std::move(ctx)), tcp(std::move(socket)) {
      ssl = SSL_new(context->ctx);
      if (ssl == nullptr)
        throw corio::detail::openssl_error("corio::tls::stream (SSL_new)");
      BIO* internal = nullptr;
      if (BIO_new_bio_pair(&internal, send_buffer, &network, receive_buffer) != 1) {
        SSL_free(ssl);
        throw corio::detail::openssl_error("corio::tls::stream (BIO_new_bio_pair)");
      }
      SSL_set_bio(ssl, internal, internal);  // the session owns the internal half
    }
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session() {
      SSL_free(ssl);
      BIO_free(network);
    }

    // The error OpenSSL has queued, for `who` and this peer; the session is unusable after.
    std::system_error fail(const char* who) {
      if (failed) {
        // OpenSSL queues no reason after its fatal error; guessing one would mislead.
        ERR_clear_error();
        return std::system_error(ENOTCONN, std::system_category(),
                                 who + peer + ": the TLS session failed before; close the stream");
      }
      failed = true;
      return corio::detail::openssl_error(who + peer, ssl);
    }

    // Sends every byte OpenSSL has queued, from the BIO's buffer itself.
    template <class = void>
    task<> flush() {
      auto guard = co_await send_lock.lock();
      for (;;) {
        char* data = nullptr;
        const int n = BIO_nread0(network, &data);
        if (n <= 0)
          break;
        const std::size_t sent =
            co_await tcp.write_some(std::as_bytes(std::span(data, static_cast<std::size_t>(n))));
        BIO_nread(network, &data, static_cast<int>(sent));
      }
    }

    // Receives once from the socket straight into the BIO's buffer; at the end
    // of the stream, tells OpenSSL so (it then reports a close_notify or an
    // unexpected EOF). Two tasks may want more bytes at once (a read, and a
    // write that needs a handshake message): the second one does not read.
    template <class = void>
    task<> receive() {
      const std::uint64_t seen = receives;
      auto guard = co_await receive_lock.lock();
      if (seen != receives || ended)
        co_return;
      char* room = nullptr;
      const int n = BIO_nwrite0(network, &room);
      // OpenSSL asks for more only when it has used what it holds, and the buffer
      // fits more than a record: it is never full here, so this never spins.
      if (n <= 0)
        throw std::logic_error("corio::tls::stream: the receive buffer is full");
      const std::size_t got = co_await tcp.read_some(
          std::as_writable_bytes(std::span(room, static_cast<std::size_t>(n))));
      ++receives;
      if (got == 0) {
        ended = true;
        BIO_shutdown_wr(network);
        co_return;
      }
      BIO_nwrite(network, &room, static_cast<int>(got));
    }

    // Runs the handshake to its end, sending OpenSSL's alert when it fails.
    template <class = void>
    task<> handshake(const char* who) {
      for (;;) {
        ERR_clear_error();
        const int rc = SSL_do_handshake(ssl);
        const int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, rc);
        if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          const std::system_error error = fail(who);
          try {
            co_await flush();  // the alert tells the peer why
          } catch (const std::exception&) {
            // The peer may have gone; the handshake's own error is the one to report.
          }
          throw error;
        }
        co_await flush();
        if (err == SSL_ERROR_NONE)
          co_return;
        if (err == SSL_ERROR_WANT_READ)
          co_await receive();
      }
    }

    // Data that does not change once the session exists.
    std::shared_ptr<corio::detail::tls_context_state> context;
    SSL* ssl = nullptr;
    BIO* network = nullptr;  // our half of the pair: bytes from and to the socket
    std::string peer;        // " to \"host\"" or " from 1.2.3.4:5", for messages
    // Data that only the loop's thread touches.
    net::tcp_stream tcp;
    mutex send_lock;
    mutex receive_lock;
    std::uint64_t receives = 0;
    bool ended = false;                // the socket reached its end
    bool failed = false;               // OpenSSL reported a fatal error
    bool close_notify_queued = false;  // shutdown() has put ours in the BIO
  };

  explicit stream(std::unique_ptr<session> s) noexcept : session_(std::move(s)) {}

  session& open_session(const char* who) const {
    if (!session_)
      throw std::logic_error(std::string(who) + ": the stream has no TLS session");
    return *session_;
  }

  template <class = void>
  static task<stream> handshake(net::tcp_stream tcp, context ctx, std::string server_name,
                                bool server) {
    const char* const who = server ? "corio::tls::stream::accept" : "corio::tls::stream::connect";
    if (!tcp.is_open())
      throw std::invalid_argument(std::string(who) + ": the TCP stream is not open");
    if (ctx.is_server() != server) {
      throw std::invalid_argument(std::string(who) + (server ? ": accept needs a server context "
                                                               "(tls::context::server)"
                                                             : ": connect needs a client context "
                                                               "(tls::context::client)"));
    }
    if (!server && ctx.verifies_peer() && server_name.empty()) {
      throw std::invalid_argument(std::string(who) +
                                  ": the server name is empty, so the certificate cannot be "
                                  "checked: pass the name the server's certificate is for");
    }
    auto s = std::make_unique<session>(std::move(tcp), ctx.state_);
    if (server) {
      SSL_set_accept_state(s->ssl);
      try {
        s->peer = " from " + s->tcp.remote_endpoint().to_string();
      } catch (const std::system_error&) {
        // The peer has already reset the connection; the handshake will say so.
      }
    } else {
      SSL_set_connect_state(s->ssl);
      s->peer = " to \"" + server_name + "\"";
      name_the_server(*s, server_name, ctx.verifies_peer());
    }
    co_await s->handshake(who);
    co_return stream(std::move(s));
  }

  static void name_the_server(session& s, const std::string& name, bool verify) {
    const char* const who = "corio::tls::stream::connect";
    if (const auto address = net::ip_address::try_parse(name)) {
      // RFC 6066: SNI carries host names only. Certificates name addresses in IP SANs.
      if (verify &&
          X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s.ssl), address->to_string().c_str()) != 1)
        throw corio::detail::openssl_error(who + s.peer);
      return;
    }
    if (!name.empty() && SSL_set_tlsext_host_name(s.ssl, name.c_str()) != 1)
      throw corio::detail::openssl_error(who + s.peer + " (server name)");
    if (verify) {
      SSL_set_hostflags(s.ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set1_host(s.ssl, name.c_str()) != 1)
        throw corio::detail::openssl_error(who + s.peer + " (host name check)");
    }
  }

  template <class = void>
  static task<stream> connect_to_host(std::string host, std::uint16_t port, context ctx) {
    net::tcp_stream tcp = co_await net::tcp_stream::connect(host, port);
    co_return co_await handshake(std::move(tcp), std::move(ctx), std::move(host), false);
  }

  std::unique_ptr<session> session_;
};

}  // namespace corio::tls

namespace corio::detail {

// corio/http/client.hpp's view of a tls::stream.
class http_tls_stream final : public secure_stream {
 public:
  explicit http_tls_stream(tls::stream s) noexcept : stream_(std::move(s)) {}

  // Many servers end a response framed by the connection's close without a
  // close_notify. The HTTP parser itself notices a body cut short of its
  // Content-Length or chunked framing, so such an end reads as the end.
  task<std::size_t> read_some(std::span<std::byte> buffer) override {
    std::size_t n = 0;
    try {
      n = co_await stream_.read_some(buffer);
    } catch (const std::system_error& e) {
      const auto code = static_cast<unsigned long>(e.code().value());
      if (e.code().category() != tls::error_category() || ERR_GET_LIB(code) != ERR_LIB_SSL ||
          ERR_GET_REASON(code) != SSL_R_UNEXPECTED_EOF_WHILE_READING)
        throw;
    }
    co_return n;
  }
  task<> write_all(std::span<const std::byte> data) override { return stream_.write_all(data); }
  using secure_stream::write_all;
  task<> shutdown() override {
    co_await stream_.shutdown();
    stream_.next_layer().shutdown_write();
  }
  int native_handle() const noexcept override { return stream_.next_layer().native_handle(); }

 private:
  tls::stream stream_;
};

// One client context per CA file (the system store for ""), shared by every
// https request of the program; loading a trust store costs milliseconds.
inline const tls::context& http_tls_context(const std::string& ca_file) {
  static std::mutex lock;
  static std::map<std::string, tls::context> contexts;
  const std::lock_guard guard(lock);
  auto it = contexts.find(ca_file);
  if (it == contexts.end()) {
    tls::context ctx = tls::context::client(ca_file);
    ctx.set_alpn({"http/1.1"});
    it = contexts.emplace(ca_file, std::move(ctx)).first;
  }
  return it->second;
}

inline task<std::unique_ptr<secure_stream>> connect_http_tls(net::tcp_stream tcp, std::string host,
                                                             std::string ca_file) {
  tls::stream s = co_await tls::stream::connect(std::move(tcp), http_tls_context(ca_file), host);
  co_return std::make_unique<http_tls_stream>(std::move(s));
}

// corio/http/server.hpp's view of a server context (server_options::tls).
class http_tls_acceptor final : public secure_acceptor {
 public:
  explicit http_tls_acceptor(tls::context ctx) noexcept : context_(std::move(ctx)) {}

  task<std::unique_ptr<secure_stream>> accept(net::tcp_stream tcp) override {
    tls::stream s = co_await tls::stream::accept(std::move(tcp), context_);
    co_return std::make_unique<http_tls_stream>(std::move(s));
  }

 private:
  tls::context context_;
};

inline std::unique_ptr<secure_acceptor> make_http_tls_acceptor(const tls::context& ctx) {
  if (!ctx.is_server()) {
    throw std::invalid_argument(
        "corio::http::server::bind: server_options::tls needs a server context "
        "(tls::context::server)");
  }
  return std::make_unique<http_tls_acceptor>(ctx);
}

// Including this header is what lets corio/http fetch https:// URLs and serve https.
inline const bool http_tls_installed = (connect_secure_stream = &connect_http_tls,
                                        make_secure_acceptor = &make_http_tls_acceptor, true);

}  // namespace corio::detail
