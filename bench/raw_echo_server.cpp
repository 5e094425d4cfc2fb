// SPDX-License-Identifier: MIT
// bench/raw_echo_server.cpp: W6's reference, a TCP echo server written
// directly on liburing with IORING_SETUP_SINGLE_ISSUER + DEFER_TASKRUN: a
// multishot accept, then per connection recv -> send (all of it) -> recv.
// 16 KiB buffer per connection, as every W6 server.
//
// Usage: raw_echo_server [--host 127.0.0.1] [--port 7000]
#include "echo_listener.hpp"

#include <liburing.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

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
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  params.cq_entries = 16384;
  if (const int res = io_uring_queue_init_params(1024, &ring, &params); res < 0) {
    std::fprintf(stderr, "raw_echo_server: io_uring_queue_init_params: %s\n", std::strerror(-res));
    return 1;
  }
  const int listener = bench::open_echo_listener(argc, argv, "raw_echo_server", 0);
  const int one = 1;

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
