// SPDX-License-Identifier: MIT
// bench/epoll_echo_server.cpp: W6's epoll reference, a TCP echo server written
// directly on epoll, as raw_echo_server.cpp is on liburing. Non-blocking
// sockets, each registered once, edge-triggered, for input and output; on
// input it reads until a short read (the socket is then drained: more data
// brings a new edge) and writes each chunk straight back; a write the socket
// cannot take whole waits for the output edge, with reading paused until it
// is flushed. 16 KiB buffer per connection, as every W6 server.
//
// Usage: epoll_echo_server [--host 127.0.0.1] [--port 7000]
#include "echo_listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

namespace {

constexpr std::size_t buffer_size = 16 * 1024;

struct connection {
  int fd = -1;
  std::size_t length = 0;  // bytes received, being echoed
  std::size_t sent = 0;
  char buffer[buffer_size];
};

void drop(connection* c) {
  close(c->fd);  // also removes it from the epoll set
  delete c;
}

// Sends what is pending. Returns false when the connection is over; leaves
// `sent < length` when the socket is full (the output edge resumes it).
bool flush(connection* c) {
  while (c->sent < c->length) {
    const ssize_t n = send(c->fd, c->buffer + c->sent, c->length - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno == EAGAIN;
    }
    c->sent += static_cast<std::size_t>(n);
  }
  c->length = c->sent = 0;
  return true;
}

// Reads and echoes until the socket is drained or full. Returns false when
// the connection is over.
bool pump(connection* c) {
  for (;;) {
    if (c->sent < c->length) {  // reading paused until the last chunk is out
      if (!flush(c))
        return false;
      if (c->sent < c->length)
        return true;  // still no room: the next output edge brings us back
    }
    const ssize_t n = recv(c->fd, c->buffer, buffer_size, 0);
    if (n == 0)
      return false;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno == EAGAIN;
    }
    c->length = static_cast<std::size_t>(n);
    c->sent = 0;
    if (!flush(c))
      return false;
    if (c->length == 0 && static_cast<std::size_t>(n) < buffer_size)
      return true;  // a short read drained the socket: wait for the next edge
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int listener = bench::open_echo_listener(argc, argv, "epoll_echo_server", SOCK_NONBLOCK);
  const int one = 1;
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event listen_event{};
  listen_event.events = EPOLLIN;
  listen_event.data.ptr = nullptr;  // the listener; connections carry their connection*
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &listen_event) != 0) {
    std::perror("epoll_echo_server: epoll");
    return 1;
  }

  epoll_event events[256];
  for (;;) {
    const int ready = epoll_wait(ep, events, 256, -1);
    if (ready < 0) {
      if (errno == EINTR)
        continue;
      std::perror("epoll_echo_server: epoll_wait");
      return 1;
    }
    for (int i = 0; i < ready; ++i) {
      auto* c = static_cast<connection*>(events[i].data.ptr);
      if (c == nullptr) {
        for (;;) {
          const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0)
            break;  // EAGAIN: no more waiting; other errors: the client is gone
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto* fresh = new connection;
          fresh->fd = fd;
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
          ev.data.ptr = fresh;
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            drop(fresh);
        }
        continue;
      }
      const std::uint32_t what = events[i].events;
      if ((what & (EPOLLERR | EPOLLHUP)) != 0) {
        drop(c);
      } else if ((what & (EPOLLIN | EPOLLRDHUP)) != 0 || c->sent < c->length) {
        if (!pump(c))  // (room alone, with nothing pending, needs no work)
          drop(c);
      }
    }
  }
}
