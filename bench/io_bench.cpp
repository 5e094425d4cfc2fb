// SPDX-License-Identifier: MIT
// bench/io_bench.cpp: the corio sides of W9 (HTTPS GET round trip), W10 (TLS echo
// throughput) and W11 (UDP ping-pong, beside a raw socket loop), for bench/run_all.py.
// Each client mode prints one JSON object; each server mode prints
// "listening on 127.0.0.1:PORT (BACKEND)" and serves until killed.
//
// Usage:
//   io_bench https-server --port P --cert server.pem --key server.key
//   io_bench https-get --port P --ca ca.pem --path /hello.txt --seconds S [--new-connection]
//   io_bench tls-echo-server --port P --cert server.pem --key server.key
//   io_bench tls-echo --port P --ca ca.pem --seconds S
//   io_bench udp --seconds S [--size 64]
#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/http/client.hpp>
#include <corio/http/server.hpp>
#include <corio/net/tcp.hpp>
#include <corio/net/udp.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/tls.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace {

namespace http = corio::http;
namespace net = corio::net;
namespace tls = corio::tls;
using clock_type = std::chrono::steady_clock;

// What every W9 server answers, byte for byte (run_all.py gives the references the same).
constexpr std::string_view w9_body = "hello over https, from the W9 benchmark\n";

// TLS writes and reads of 64 KiB, as the Python reference's recv(65536).
constexpr std::size_t tls_chunk = 64 * 1024;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

void print_listening(std::uint16_t port) {
  const bool on_epoll = corio::event_loop::current().backend() == corio::backend::epoll;
  std::printf("listening on 127.0.0.1:%u (%s)\n", static_cast<unsigned>(port),
              on_epoll ? "epoll" : "io_uring");
  std::fflush(stdout);
}

// W9's server: corio's http::server over TLS.
corio::task<> https_server(std::uint16_t port, std::string cert, std::string key) {
  const tls::context ctx = tls::context::server(cert, key);
  auto srv = http::server::bind(
      "127.0.0.1", port, {.tls = &ctx}, [](http::request) -> corio::task<http::response> {
        co_return http::response{200, {{"Content-Type", "text/plain"}}, std::string(w9_body)};
      });
  print_listening(srv.port());
  co_await srv.serve();
}

// W9's client: GET `path` for `seconds`, on one kept-alive connection or on a new
// connection (a full handshake) each time; µs per request.
corio::task<> https_get(std::uint16_t port, std::string ca, std::string path, double seconds,
                        bool new_connection) {
  const std::string url = "https://localhost:" + std::to_string(port) + path;
  const http::client_options options{.max_idle_per_host = new_connection ? 0u : 1u, .ca_file = ca};
  http::client client(options);
  auto one = [&]() -> corio::task<> {
    const http::response res = co_await client.get(url);
    if (res.status != 200 || res.body != w9_body)
      throw std::runtime_error("https-get: unexpected answer " + std::to_string(res.status) + ": " +
                               res.body);
  };
  co_await one();  // warm-up: the client context, the first connection
  long requests = 0;
  const auto start = clock_type::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  while (clock_type::now() < deadline) {
    co_await one();
    ++requests;
  }
  const double elapsed = seconds_since(start);
  std::printf("{\"requests\": %ld, \"seconds\": %.6f, \"us_per_request\": %.3f}\n", requests,
              elapsed, elapsed * 1e6 / static_cast<double>(requests));
}

// W10's server: echoes each connection's bytes until its close_notify, then ends with one.
corio::task<> echo_one(tls::stream s) {
  std::vector<std::byte> buffer(tls_chunk);
  try {
    for (;;) {
      const std::size_t n = co_await s.read_some(buffer);
      if (n == 0)
        break;
      co_await s.write_all(std::span(buffer).first(n));
    }
    co_await s.shutdown();
  } catch (const std::system_error&) {
    // this connection is over; the server goes on
  }
}

corio::task<> tls_echo_server(std::uint16_t port, std::string cert, std::string key) {
  const tls::context ctx = tls::context::server(cert, key);
  auto listener = net::tcp_listener::bind("127.0.0.1", port);
  print_listening(listener.local_port());
  for (;;) {
    net::tcp_stream tcp = co_await listener.accept();
    tcp.set_nodelay(true);
    try {
      corio::spawn(echo_one(co_await tls::stream::accept(std::move(tcp), ctx)));
    } catch (const std::system_error&) {
      // a failed handshake ends that connection only
    }
  }
}

// W10's client: writes 64 KiB chunks for `seconds` while reading the echo, then sends
// close_notify and reads to the server's; MB/s echoed.
corio::task<> tls_echo(std::uint16_t port, std::string ca, double seconds) {
  const tls::context ctx = tls::context::client(ca);
  tls::stream s = co_await tls::stream::connect("localhost", port, ctx);
  s.next_layer().set_nodelay(true);
  const std::vector<std::byte> chunk(tls_chunk, std::byte{'x'});
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  const auto start = clock_type::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  auto writer = [&]() -> corio::task<> {
    while (clock_type::now() < deadline) {
      co_await s.write_all(chunk);
      sent += chunk.size();
    }
    co_await s.shutdown();
  };
  auto reader = [&]() -> corio::task<> {
    std::vector<std::byte> buffer(tls_chunk);
    for (;;) {
      const std::size_t n = co_await s.read_some(buffer);
      if (n == 0)
        break;
      received += n;
    }
  };
  co_await corio::gather(writer(), reader());
  const double elapsed = seconds_since(start);
  if (received != sent)
    throw std::runtime_error("tls-echo: sent " + std::to_string(sent) + " bytes, got " +
                             std::to_string(received) + " back");
  std::printf("{\"bytes\": %llu, \"seconds\": %.6f, \"mb_per_s\": %.3f}\n",
              static_cast<unsigned long long>(received), elapsed,
              static_cast<double>(received) / elapsed / 1e6);
}

// W11, corio: two connected UDP sockets on one loop, a datagram back and forth; µs per
// round trip (two datagrams).
corio::task<double> udp_corio(double seconds, std::size_t size) {
  auto a = net::udp_socket::bind("127.0.0.1", 0);
  auto b = net::udp_socket::bind("127.0.0.1", 0);
  a.connect_to(b.local_endpoint());
  b.connect_to(a.local_endpoint());
  const std::vector<std::byte> message(size, std::byte{'p'});
  auto pong = [&]() -> corio::task<> {
    std::vector<std::byte> buffer(65535);
    for (;;) {
      const std::size_t n = co_await b.receive(buffer);
      co_await b.send(std::span(buffer).first(n));
    }
  };
  corio::join_handle<void> echo = corio::spawn(pong());
  std::vector<std::byte> buffer(65535);
  long trips = 0;
  const auto start = clock_type::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  for (;;) {
    co_await a.send(message);
    co_await a.receive(buffer);
    if ((++trips & 255) == 0 && clock_type::now() >= deadline)
      break;
  }
  const double elapsed = seconds_since(start);
  echo.cancel();
  try {
    co_await std::move(echo);
  } catch (const corio::cancelled_error&) {
  }
  co_return elapsed * 1e6 / static_cast<double>(trips);
}

// W11, the reference: the same exchange with plain blocking send(2)/recv(2) in one
// thread. On loopback a datagram is queued at the receiver before send returns, so no
// recv blocks: four system calls a round trip, the floor for any event loop.
double udp_raw(double seconds, std::size_t size) {
  auto open_bound = [] {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0)
      throw std::system_error(errno, std::system_category(), "udp raw: socket/bind");
    return fd;
  };
  auto connect_to = [](int fd, int peer) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    ::getsockname(peer, reinterpret_cast<sockaddr*>(&address), &length);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), length) < 0)
      throw std::system_error(errno, std::system_category(), "udp raw: connect");
  };
  const int a = open_bound();
  const int b = open_bound();
  connect_to(a, b);
  connect_to(b, a);
  std::vector<char> message(size, 'p');
  std::vector<char> buffer(65535);
  long trips = 0;
  const auto start = clock_type::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  for (;;) {
    if (::send(a, message.data(), message.size(), 0) < 0)
      throw std::system_error(errno, std::system_category(), "udp raw: send");
    const ssize_t n = ::recv(b, buffer.data(), buffer.size(), 0);
    if (n < 0 || ::send(b, buffer.data(), static_cast<std::size_t>(n), 0) < 0 ||
        ::recv(a, buffer.data(), buffer.size(), 0) < 0)
      throw std::system_error(errno, std::system_category(), "udp raw: recv/send");
    if ((++trips & 255) == 0 && clock_type::now() >= deadline)
      break;
  }
  const double elapsed = seconds_since(start);
  ::close(a);
  ::close(b);
  return elapsed * 1e6 / static_cast<double>(trips);
}

corio::task<> udp(double seconds, std::size_t size) {
  const double corio_us = co_await udp_corio(seconds, size);
  const double raw_us = udp_raw(seconds, size);
  const bool on_epoll = corio::event_loop::current().backend() == corio::backend::epoll;
  std::printf("{\"backend\": \"%s\", \"size\": %zu, \"corio_us\": %.4f, \"raw_us\": %.4f}\n",
              on_epoll ? "epoll" : "io_uring", size, corio_us, raw_us);
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: io_bench https-server|tls-echo-server --port P --cert C --key K\n"
               "       io_bench https-get --port P --ca CA --path PATH --seconds S "
               "[--new-connection]\n"
               "       io_bench tls-echo --port P --ca CA --seconds S\n"
               "       io_bench udp --seconds S [--size BYTES]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    usage();
  const std::string_view mode = argv[1];
  std::map<std::string, std::string, std::less<>> args;
  bool new_connection = false;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--new-connection") {
      new_connection = true;
    } else if (arg.starts_with("--") && i + 1 < argc) {
      args[std::string(arg.substr(2))] = argv[++i];
    } else {
      usage();
    }
  }
  auto get = [&](const char* name, const char* fallback = nullptr) -> std::string {
    const auto it = args.find(name);
    if (it != args.end())
      return it->second;
    if (fallback == nullptr) {
      std::fprintf(stderr, "io_bench %s: --%s is required\n", argv[1], name);
      usage();
    }
    return fallback;
  };
  try {
    const auto port = static_cast<std::uint16_t>(std::stoul(get("port", "0")));
    const double seconds = std::stod(get("seconds", "2"));
    if (mode == "https-server")
      corio::run(https_server(port, get("cert"), get("key")));
    else if (mode == "https-get")
      corio::run(https_get(port, get("ca"), get("path", "/"), seconds, new_connection));
    else if (mode == "tls-echo-server")
      corio::run(tls_echo_server(port, get("cert"), get("key")));
    else if (mode == "tls-echo")
      corio::run(tls_echo(port, get("ca"), seconds));
    else if (mode == "udp")
      corio::run(udp(seconds, std::stoul(get("size", "64"))));
    else
      usage();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "io_bench %s: %s\n", argv[1], e.what());
    return 1;
  }
  return 0;
}
