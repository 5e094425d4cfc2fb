// SPDX-License-Identifier: MIT
// examples/echo_server.cpp: a TCP echo server, one coroutine per connection:
// read what arrives, write it back, until the client closes. It is the corio
// server of the W6 benchmark (scripts/bench.sh) and one to try with nc.
//
// Run:
//   build/release/examples/echo_server --port 7000 [--host 127.0.0.1]
//   nc 127.0.0.1 7000        (type a line: it comes back)
// Ctrl-C stops it: run() cancels the accept loop and every connection, closes
// their sockets, and throws corio::interrupted; it then exits with status 130
// (128 + SIGINT), as shells report an interrupted command. A second Ctrl-C
// while it shuts down ends it at once.
// Without --port it runs a self-test instead (its CTest entry): it serves on a
// free loopback port, connects three clients at once, checks that each gets
// its message back, and exits with status 0.
// Expected output of the self-test:
//   client 0: hello from client 0
//   client 1: hello from client 1
//   client 2: hello from client 2
//   self-test passed
#include <corio/corio.hpp>

#include <corio/net/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

// Echoes until the client ends the stream or the connection fails.
corio::task<> echo(corio::net::tcp_stream stream) {
  std::vector<std::byte> buffer(16 * 1024);
  try {
    for (;;) {
      const std::size_t n = co_await stream.read_some(buffer);
      if (n == 0)
        break;
      co_await stream.write_all(std::span(buffer).first(n));
    }
  } catch (const std::system_error&) {
    // a reset or a broken pipe: this connection is over, the server goes on
  }
}

// Accepts forever, spawning one echo task per connection. Out of file
// descriptors (EMFILE), accept() waits and retries by itself, so the server
// and its open connections carry on until some close.
corio::task<> serve(corio::net::tcp_listener listener) {
  for (;;) {
    corio::net::tcp_stream stream = co_await listener.accept();
    try {
      stream.set_nodelay(true);
    } catch (const std::system_error&) {
      continue;  // the client reset it already
    }
    corio::spawn(echo(std::move(stream)));
  }
}

corio::task<std::string> client(std::uint16_t port, int id) {
  auto stream = co_await corio::net::tcp_stream::connect("127.0.0.1", port);
  const std::string message = "hello from client " + std::to_string(id);
  co_await stream.write_all(message);
  std::string reply(message.size(), '\0');
  co_await stream.read_exact(std::as_writable_bytes(std::span(reply)));
  co_return reply;
}

corio::task<int> self_test() {
  auto listener = corio::net::tcp_listener::bind("127.0.0.1", 0);
  const std::uint16_t port = listener.local_port();
  corio::join_handle<void> server = corio::spawn(serve(std::move(listener)));
  auto [a, b, c] = co_await corio::gather(client(port, 0), client(port, 1), client(port, 2));
  server.cancel();  // run() would cancel it on the way out anyway
  int failures = 0;
  const std::string replies[] = {a, b, c};
  for (int id = 0; id < 3; ++id) {
    std::printf("client %d: %s\n", id, replies[id].c_str());
    if (replies[id] != "hello from client " + std::to_string(id))
      ++failures;
  }
  std::puts(failures == 0 ? "self-test passed" : "self-test FAILED");
  co_return failures == 0 ? 0 : 1;
}

corio::task<int> run_server(std::string host, std::uint16_t port) {
  auto listener = corio::net::tcp_listener::bind(host, port);
  // The backend in parentheses tells bench/run_all.py which one it measured.
  const bool on_epoll = corio::event_loop::current().backend() == corio::backend::epoll;
  std::printf("listening on %s:%u (%s)\n", host.c_str(),
              static_cast<unsigned>(listener.local_port()), on_epoll ? "epoll" : "io_uring");
  std::fflush(stdout);
  co_await serve(std::move(listener));
  co_return 0;
}

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  long port = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--self-test")
      continue;
    if ((arg == "--host" || arg == "--port") && i + 1 < argc) {
      if (arg == "--host")
        host = argv[++i];
      else
        port = std::strtol(argv[++i], nullptr, 10);
      continue;
    }
    std::fprintf(stderr, "usage: echo_server [--host ADDRESS] [--port PORT] | --self-test\n");
    return 2;
  }
  if (port > 65535) {
    std::fprintf(stderr, "echo_server: --port must be 0 to 65535\n");
    return 2;
  }
  try {
    if (port < 0)
      return corio::run(self_test());
    return corio::run(run_server(host, static_cast<std::uint16_t>(port)));
  } catch (const corio::interrupted&) {
    std::fputs("echo_server: interrupted\n", stderr);
    return 130;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 1;
  }
}
