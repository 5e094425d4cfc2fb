// SPDX-License-Identifier: MIT
// bench/raw_echo_server.cpp: W6's reference, a TCP echo server written
// directly on liburing with IORING_SETUP_SINGLE_ISSUER + DEFER_TASKRUN: a
// multishot accept, then per connection recv -> send (all of it) -> recv.
// 16 KiB buffer per connection, as every W6 server.
//
// Usage: raw_echo_server [--host 127.0.0.1] [--port 7000]
#include <liburing.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr std::size_t buffer_size = 16 * 1024;

enum op : std::uint64_t { op_accept = 1, op_recv = 2, op_send = 3 };

struct connection {
  int fd = -1;
  unsigned length = 0;  // bytes received, being echoed
  unsigned sent = 0;
  char buffer[buffer_size];
};

io_uring ring;

io_uring_sqe* sqe() {
  for (;;) {
    if (io_uring_sqe* s = io_uring_get_sqe(&ring))
      return s;
    io_uring_submit(&ring);
  }
}

void tag(io_uring_sqe* s, connection* c, op o) {
  io_uring_sqe_set_data64(s, reinterpret_cast<std::uint64_t>(c) | o);
}

void post_recv(connection* c) {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv(s, c->fd, c->buffer, buffer_size, 0);
  tag(s, c, op_recv);
}

void post_send(connection* c) {
  io_uring_sqe* s = sqe();
  io_uring_prep_send(s, c->fd, c->buffer + c->sent, c->length - c->sent, MSG_NOSIGNAL);
  tag(s, c, op_send);
}

void post_accept(int listener) {
  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, listener, nullptr, nullptr, SOCK_CLOEXEC);
  tag(s, nullptr, op_accept);
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 7000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--host") == 0)
      host = argv[i + 1];
    if (std::strcmp(argv[i], "--port") == 0)
      port = std::atoi(argv[i + 1]);
  }
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "raw_echo_server: --host must be a numeric IPv4 address\n");
    return 2;
  }
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 1024) != 0) {
    std::perror("raw_echo_server: bind/listen");
    return 1;
  }

  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  params.cq_entries = 16384;
  if (const int res = io_uring_queue_init_params(1024, &ring, &params); res < 0) {
    std::fprintf(stderr, "raw_echo_server: io_uring_queue_init_params: %s\n", std::strerror(-res));
    return 1;
  }
  std::printf("listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);

  post_accept(listener);
  for (;;) {
    io_uring_submit_and_wait(&ring, 1);
    unsigned seen = 0;
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const std::uint64_t data = io_uring_cqe_get_data64(cqe);
      auto* c = reinterpret_cast<connection*>(data & ~std::uint64_t{7});
      const int res = cqe->res;
      switch (static_cast<op>(data & 7)) {
        case op_accept:
          if (res >= 0) {
            setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto* fresh = new connection;
            fresh->fd = res;
            post_recv(fresh);
          }
          if (!(cqe->flags & IORING_CQE_F_MORE))
            post_accept(listener);
          break;
        case op_recv:
          if (res <= 0) {
            close(c->fd);
            delete c;
          } else {
            c->length = static_cast<unsigned>(res);
            c->sent = 0;
            post_send(c);
          }
          break;
        case op_send:
          if (res < 0) {
            close(c->fd);
            delete c;
          } else {
            c->sent += static_cast<unsigned>(res);
            if (c->sent < c->length) {
              post_send(c);
            } else {
              post_recv(c);
            }
          }
          break;
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}
