// SPDX-License-Identifier: MIT
// corio/net/address.hpp: IPv4 and IPv6 addresses and endpoints, as value types.
//
// Numeric parsing and formatting only: nothing here does I/O or name
// resolution (for names, see net::resolve in <corio/net/tcp.hpp>).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

namespace corio::detail {

// inet_pton wants a NUL-terminated string; numeric addresses are short, so a
// longer text is simply not one (INET6_ADDRSTRLEN counts the NUL).
inline bool address_c_string(std::string_view text,
                             std::array<char, INET6_ADDRSTRLEN>& out) noexcept {
  if (text.size() >= out.size() || text.find('\0') != std::string_view::npos)
    return false;
  std::memcpy(out.data(), text.data(), text.size());
  out[text.size()] = '\0';
  return true;
}

// Parses all of `text` as a decimal number <= max; no sign, no spaces.
template <class Int>
std::optional<Int> parse_bounded_decimal(std::string_view text, Int max) noexcept {
  if (text.empty() || text.size() > 10)
    return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max)
    return std::nullopt;
  return static_cast<Int>(value);
}

// Orders two addresses' bytes. WORKAROUND(libc++ < 16, which clang 14 ships): std::array has
// no operator<=> there, so a defaulted one on a class holding an array is deleted.
template <std::size_t N>
constexpr std::strong_ordering compare_bytes(const std::array<std::uint8_t, N>& a,
                                             const std::array<std::uint8_t, N>& b) noexcept {
  for (std::size_t i = 0; i < N; ++i) {
    if (a[i] != b[i])
      return a[i] <=> b[i];
  }
  return std::strong_ordering::equal;
}

[[noreturn]] inline void throw_invalid_address(const char* who, std::string_view text,
                                               const char* expected) {
  throw std::invalid_argument(std::string(who) + ": \"" + std::string(text) + "\" is not " +
                              expected);
}

}  // namespace corio::detail

namespace corio::net {

/// An IPv4 address, such as 127.0.0.1.
///
/// A plain value (four bytes, network order), ordered and comparable.
/// Thread safety: a value type; distinct objects may be used from any thread.
/// Example:
///   auto a = corio::net::ipv4_address::parse("192.168.0.1");
///   assert(a.to_string() == "192.168.0.1");
class ipv4_address {
 public:
  using bytes_type = std::array<std::uint8_t, 4>;

  /// The unspecified address 0.0.0.0.
  constexpr ipv4_address() noexcept = default;
  constexpr explicit ipv4_address(bytes_type bytes) noexcept : bytes_(bytes) {}

  /// 0.0.0.0: bind to every interface.
  static constexpr ipv4_address any() noexcept { return {}; }
  /// 127.0.0.1.
  static constexpr ipv4_address loopback() noexcept { return ipv4_address({127, 0, 0, 1}); }

  /// Parses the dotted-decimal form ("127.0.0.1"): exactly four numbers
  /// 0-255, no leading zeros, nothing around them (inet_pton(3) rules).
  /// Throws: std::invalid_argument naming the text.
  static ipv4_address parse(std::string_view text) {
    if (auto a = try_parse(text))
      return *a;
    detail::throw_invalid_address(
        "corio::net::ipv4_address::parse", text,
        "a numeric IPv4 address (four decimal numbers 0-255, such as 127.0.0.1)");
  }
  /// As parse, but returns std::nullopt for invalid text.
  static std::optional<ipv4_address> try_parse(std::string_view text) noexcept {
    std::array<char, INET6_ADDRSTRLEN> buf;
    in_addr addr{};
    if (!detail::address_c_string(text, buf) || ::inet_pton(AF_INET, buf.data(), &addr) != 1) {
      return std::nullopt;
    }
    ipv4_address result;
    std::memcpy(result.bytes_.data(), &addr, 4);
    return result;
  }

  constexpr const bytes_type& bytes() const noexcept { return bytes_; }
  /// True for 127.0.0.0/8.
  constexpr bool is_loopback() const noexcept { return bytes_[0] == 127; }
  /// True for 0.0.0.0.
  constexpr bool is_unspecified() const noexcept { return *this == any(); }

  /// The dotted-decimal form.
  std::string to_string() const {
    std::array<char, INET_ADDRSTRLEN> buf{};
    ::inet_ntop(AF_INET, bytes_.data(), buf.data(), buf.size());
    return buf.data();
  }

  friend constexpr bool operator==(const ipv4_address&, const ipv4_address&) = default;
  friend constexpr std::strong_ordering operator<=>(const ipv4_address& a,
                                                    const ipv4_address& b) noexcept {
    return detail::compare_bytes(a.bytes_, b.bytes_);
  }

 private:
  bytes_type bytes_{};
};

/// An IPv6 address, such as ::1, with an optional scope id (the interface
/// index of a link-local address: fe80::1%2).
///
/// Thread safety: a value type; distinct objects may be used from any thread.
/// Example:
///   auto a = corio::net::ipv6_address::parse("[::1]");
///   assert(a.is_loopback() && a.to_string() == "::1");
class ipv6_address {
 public:
  using bytes_type = std::array<std::uint8_t, 16>;

  /// The unspecified address ::.
  constexpr ipv6_address() noexcept = default;
  constexpr explicit ipv6_address(bytes_type bytes, std::uint32_t scope_id = 0) noexcept
      : bytes_(bytes), scope_id_(scope_id) {}

  /// ::, bind to every interface.
  static constexpr ipv6_address any() noexcept { return {}; }
  /// ::1.
  static constexpr ipv6_address loopback() noexcept {
    bytes_type b{};
    b[15] = 1;
    return ipv6_address(b);
  }

  /// Parses the textual forms of RFC 4291 ("::1", "2001:db8::2", and
  /// "::ffff:192.0.2.1"), optionally in brackets ("[::1]") and optionally with
  /// a numeric scope id ("fe80::1%2"). Interface names as scope ids
  /// ("fe80::1%eth0") are not accepted: looking them up is not pure parsing;
  /// use the index (if_nametoindex(3)).
  /// Throws: std::invalid_argument naming the text.
  static ipv6_address parse(std::string_view text) {
    if (auto a = try_parse(text))
      return *a;
    detail::throw_invalid_address("corio::net::ipv6_address::parse", text,
                                  "a numeric IPv6 address (such as ::1, [::1] or fe80::1%2)");
  }
  /// As parse, but returns std::nullopt for invalid text.
  static std::optional<ipv6_address> try_parse(std::string_view text) noexcept {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
      text = text.substr(1, text.size() - 2);
    }
    std::uint32_t scope = 0;
    if (const auto percent = text.find('%'); percent != std::string_view::npos) {
      auto parsed =
          detail::parse_bounded_decimal<std::uint32_t>(text.substr(percent + 1), UINT32_MAX);
      if (!parsed)
        return std::nullopt;
      scope = *parsed;
      text = text.substr(0, percent);
    }
    std::array<char, INET6_ADDRSTRLEN> buf;
    in6_addr addr{};
    if (!detail::address_c_string(text, buf) || ::inet_pton(AF_INET6, buf.data(), &addr) != 1) {
      return std::nullopt;
    }
    ipv6_address result;
    std::memcpy(result.bytes_.data(), &addr, 16);
    result.scope_id_ = scope;
    return result;
  }

  constexpr const bytes_type& bytes() const noexcept { return bytes_; }
  constexpr std::uint32_t scope_id() const noexcept { return scope_id_; }
  /// True for ::1.
  constexpr bool is_loopback() const noexcept { return bytes_ == loopback().bytes_; }
  /// True for ::.
  constexpr bool is_unspecified() const noexcept { return bytes_ == bytes_type{}; }
  /// True for ::ffff:a.b.c.d, an IPv4 address seen through an IPv6 socket.
  constexpr bool is_v4_mapped() const noexcept {
    for (std::size_t i = 0; i < 10; ++i) {
      if (bytes_[i] != 0)
        return false;
    }
    return bytes_[10] == 0xff && bytes_[11] == 0xff;
  }

  /// The RFC 5952 form, without brackets ("::1", "fe80::1%2").
  std::string to_string() const {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    ::inet_ntop(AF_INET6, bytes_.data(), buf.data(), buf.size());
    std::string text = buf.data();
    if (scope_id_ != 0)
      text += '%' + std::to_string(scope_id_);
    return text;
  }

  friend constexpr bool operator==(const ipv6_address&, const ipv6_address&) = default;
  friend constexpr std::strong_ordering operator<=>(const ipv6_address& a,
                                                    const ipv6_address& b) noexcept {
    if (const auto order = detail::compare_bytes(a.bytes_, b.bytes_); order != 0)
      return order;
    return a.scope_id_ <=> b.scope_id_;
  }

 private:
  bytes_type bytes_{};
  std::uint32_t scope_id_ = 0;
};

/// An IPv4 or an IPv6 address.
///
/// Converts implicitly from either; IPv4 addresses order before IPv6 ones.
/// Thread safety: a value type; distinct objects may be used from any thread.
/// Example:
///   corio::net::ip_address a = corio::net::ip_address::parse("::1");
///   assert(a.is_v6());
class ip_address {
 public:
  /// 0.0.0.0.
  constexpr ip_address() noexcept = default;
  constexpr ip_address(ipv4_address a) noexcept : value_(a) {}
  constexpr ip_address(ipv6_address a) noexcept : value_(a) {}

  /// Parses an IPv4 address, or else an IPv6 one (in any form ipv6_address::parse takes).
  /// Throws: std::invalid_argument naming the text.
  static ip_address parse(std::string_view text) {
    if (auto a = try_parse(text))
      return *a;
    detail::throw_invalid_address("corio::net::ip_address::parse", text,
                                  "a numeric IP address (such as 127.0.0.1, ::1 or [::1])");
  }
  /// As parse, but returns std::nullopt for invalid text.
  static std::optional<ip_address> try_parse(std::string_view text) noexcept {
    // WORKAROUND(g++ 12 -O3): moving a variant into an optional raises a false
    // -Wmaybe-uninitialized for the inactive alternative; emplace builds it in place.
    std::optional<ip_address> result;
    if (auto v4 = ipv4_address::try_parse(text)) {
      result.emplace(*v4);
    } else if (auto v6 = ipv6_address::try_parse(text)) {
      result.emplace(*v6);
    }
    return result;
  }

  constexpr bool is_v4() const noexcept { return std::holds_alternative<ipv4_address>(value_); }
  constexpr bool is_v6() const noexcept { return std::holds_alternative<ipv6_address>(value_); }
  /// The IPv4 address. Throws: std::logic_error if this is an IPv6 address.
  ipv4_address v4() const {
    if (!is_v4())
      throw std::logic_error("corio::net::ip_address::v4: " + to_string() + " is IPv6");
    return std::get<ipv4_address>(value_);
  }
  /// The IPv6 address. Throws: std::logic_error if this is an IPv4 address.
  ipv6_address v6() const {
    if (!is_v6())
      throw std::logic_error("corio::net::ip_address::v6: " + to_string() + " is IPv4");
    return std::get<ipv6_address>(value_);
  }
  /// AF_INET or AF_INET6.
  constexpr int family() const noexcept { return is_v4() ? AF_INET : AF_INET6; }
  constexpr bool is_loopback() const noexcept {
    return std::visit([](const auto& a) { return a.is_loopback(); }, value_);
  }
  constexpr bool is_unspecified() const noexcept {
    return std::visit([](const auto& a) { return a.is_unspecified(); }, value_);
  }

  /// The address alone, without brackets.
  std::string to_string() const {
    return std::visit([](const auto& a) { return a.to_string(); }, value_);
  }

  friend constexpr bool operator==(const ip_address&, const ip_address&) = default;
  friend constexpr auto operator<=>(const ip_address& a, const ip_address& b) noexcept {
    if (a.value_.index() != b.value_.index())
      return a.value_.index() <=> b.value_.index();
    if (a.is_v4())
      return std::get<0>(a.value_) <=> std::get<0>(b.value_);
    return std::get<1>(a.value_) <=> std::get<1>(b.value_);
  }

 private:
  std::variant<ipv4_address, ipv6_address> value_;
};

/// An IP address and a port: where a TCP socket is bound or connected.
///
/// Converts to and from sockaddr_storage for the socket calls.
/// Thread safety: a value type; distinct objects may be used from any thread.
/// Example:
///   auto ep = corio::net::endpoint::parse("[::1]:8080");
///   assert(ep.port() == 8080 && ep.to_string() == "[::1]:8080");
class endpoint {
 public:
  /// 0.0.0.0:0.
  constexpr endpoint() noexcept = default;
  constexpr endpoint(ip_address address, std::uint16_t port) noexcept
      : address_(address), port_(port) {}

  /// Parses "a.b.c.d:port" or "[ipv6]:port" (brackets required for IPv6,
  /// since its colons would make the port ambiguous).
  /// Throws: std::invalid_argument naming the text.
  static endpoint parse(std::string_view text) {
    if (auto e = try_parse(text))
      return *e;
    detail::throw_invalid_address(
        "corio::net::endpoint::parse", text,
        "a numeric endpoint (address:port, such as 127.0.0.1:80 or [::1]:80)");
  }
  /// As parse, but returns std::nullopt for invalid text.
  static std::optional<endpoint> try_parse(std::string_view text) noexcept {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return std::nullopt;
    const auto port = detail::parse_bounded_decimal<std::uint16_t>(text.substr(colon + 1), 65535);
    if (!port)
      return std::nullopt;
    const std::string_view host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      if (auto v6 = ipv6_address::try_parse(host))
        return endpoint(*v6, *port);
      return std::nullopt;
    }
    if (auto v4 = ipv4_address::try_parse(host))
      return endpoint(*v4, *port);
    return std::nullopt;
  }

  /// The endpoint a socket call reported. An AF_INET6 address stays IPv6,
  /// even when it is v4-mapped.
  /// Throws: std::invalid_argument if the family is neither AF_INET nor
  ///   AF_INET6, or `length` is too short for it.
  static endpoint from_sockaddr(const sockaddr* addr, socklen_t length) {
    if (addr != nullptr && length >= static_cast<socklen_t>(sizeof(sa_family_t))) {
      if (addr->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        sockaddr_in in{};
        std::memcpy(&in, addr, sizeof in);
        ipv4_address::bytes_type b;
        std::memcpy(b.data(), &in.sin_addr, 4);
        return endpoint(ipv4_address(b), ntohs(in.sin_port));
      }
      if (addr->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        sockaddr_in6 in6{};
        std::memcpy(&in6, addr, sizeof in6);
        ipv6_address::bytes_type b;
        std::memcpy(b.data(), &in6.sin6_addr, 16);
        return endpoint(ipv6_address(b, in6.sin6_scope_id), ntohs(in6.sin6_port));
      }
    }
    throw std::invalid_argument(
        "corio::net::endpoint::from_sockaddr: not an AF_INET or AF_INET6 address of full length");
  }
  static endpoint from_sockaddr(const sockaddr_storage& storage) {
    return from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), sizeof storage);
  }

  /// The sockaddr_in or sockaddr_in6 for bind(2), connect(2) and their
  /// io_uring forms; its length is sockaddr_length().
  sockaddr_storage to_sockaddr() const noexcept {
    sockaddr_storage storage{};
    if (address_.is_v4()) {
      sockaddr_in in{};
      in.sin_family = AF_INET;
      in.sin_port = htons(port_);
      std::memcpy(&in.sin_addr, address_.v4().bytes().data(), 4);
      std::memcpy(&storage, &in, sizeof in);
    } else {
      sockaddr_in6 in6{};
      in6.sin6_family = AF_INET6;
      in6.sin6_port = htons(port_);
      std::memcpy(&in6.sin6_addr, address_.v6().bytes().data(), 16);
      in6.sin6_scope_id = address_.v6().scope_id();
      std::memcpy(&storage, &in6, sizeof in6);
    }
    return storage;
  }
  /// sizeof(sockaddr_in) or sizeof(sockaddr_in6).
  socklen_t sockaddr_length() const noexcept {
    return address_.is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  }

  constexpr const ip_address& address() const noexcept { return address_; }
  constexpr std::uint16_t port() const noexcept { return port_; }
  /// AF_INET or AF_INET6.
  constexpr int family() const noexcept { return address_.family(); }

  /// "127.0.0.1:80" or "[::1]:80"; endpoint::parse reads it back.
  std::string to_string() const {
    std::string text = address_.is_v6() ? '[' + address_.to_string() + ']' : address_.to_string();
    return text + ':' + std::to_string(port_);
  }

  friend constexpr bool operator==(const endpoint&, const endpoint&) = default;
  friend constexpr auto operator<=>(const endpoint&, const endpoint&) = default;

 private:
  ip_address address_;
  std::uint16_t port_ = 0;
};

}  // namespace corio::net
