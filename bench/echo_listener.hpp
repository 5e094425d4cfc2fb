// SPDX-License-Identifier: MIT
// bench/echo_listener.hpp: the command line and listening socket shared by W6's
// hand-written echo servers (raw_echo_server.cpp, epoll_echo_server.cpp).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bench {

// Parses [--host 127.0.0.1] [--port 7000], binds and listens (SO_REUSEADDR,
// backlog 1024) with `socket_flags` added to SOCK_STREAM | SOCK_CLOEXEC, and
// prints the "listening on" line run_all.py waits for. Returns the listener,
// or exits with a message naming `program`.
inline int open_echo_listener(int argc, char** argv, const char* program, int socket_flags) {
  std::string host = "127.0.0.1";
  int port = 7000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--host") == 0)
      host = argv[i + 1];
    if (std::strcmp(argv[i], "--port") == 0)
      port = std::atoi(argv[i + 1]);
  }
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | socket_flags, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "%s: --host must be a numeric IPv4 address\n", program);
    std::exit(2);
  }
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 1024) != 0) {
    std::fprintf(stderr, "%s: bind/listen: %s\n", program, std::strerror(errno));
    std::exit(1);
  }
  std::printf("listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);
  return listener;
}

}  // namespace bench
