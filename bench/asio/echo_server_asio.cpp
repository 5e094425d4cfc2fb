// SPDX-License-Identifier: MIT
// bench/asio/echo_server_asio.cpp: a TCP echo server as an Asio user writes it
// (one C++20 awaitable per connection, read_some then write), for W6. Built
// with Asio's epoll reactor (echo_server_asio) and its io_uring backend
// (echo_server_asio_uring).
//
// Usage: echo_server_asio [--host 127.0.0.1] [--port 7000]
#include <asio.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

using asio::ip::tcp;

constexpr std::size_t buffer_size = 16 * 1024;  // the same for every W6 server

asio::awaitable<void> echo(tcp::socket socket) {
  auto buffer = std::make_unique<char[]>(buffer_size);
  try {
    for (;;) {
      const std::size_t n = co_await socket.async_read_some(asio::buffer(buffer.get(), buffer_size),
                                                            asio::use_awaitable);
      co_await asio::async_write(socket, asio::buffer(buffer.get(), n), asio::use_awaitable);
    }
  } catch (const std::exception&) {
    // end of stream or a reset: the connection is over
  }
}

asio::awaitable<void> listen(tcp::acceptor acceptor) {
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(acceptor.get_executor(), echo(std::move(socket)), asio::detached);
  }
}

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  unsigned short port = 7000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--host") == 0)
      host = argv[i + 1];
    if (std::strcmp(argv[i], "--port") == 0)
      port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
  }
  asio::io_context ioc(1);
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address(host), port));
  std::printf("listening on %s:%u\n", host.c_str(),
              static_cast<unsigned>(acceptor.local_endpoint().port()));
  std::fflush(stdout);
  asio::co_spawn(ioc, listen(std::move(acceptor)), asio::detached);
  ioc.run();
}
