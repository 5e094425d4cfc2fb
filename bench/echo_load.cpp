// SPDX-License-Identifier: MIT
// bench/echo_load.cpp: the W6 load generator. Opens C connections to an echo
// server and keeps K messages of B bytes in flight on each (K = 1: ping-pong)
// for T seconds, then prints messages per second and the p50/p99 latency
// (from a message's send to the last byte of its echo). One thread, epoll,
// non-blocking sockets, TCP_NODELAY; pin it to a core the server does not use.
//
// Usage: echo_load [--host 127.0.0.1] [--port 7000] [--connections 50]
//                  [--size 64] [--inflight 1] [--seconds 5] [--warmup 0.5]
//                  [--cpu N] [--json]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch())
      .count();
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "echo_load: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

struct connection {
  int fd = -1;
  std::vector<std::int64_t> sent_at;  // send times of the messages in flight (a ring)
  std::size_t head = 0;               // oldest message in flight
  std::size_t count = 0;              // messages in flight
  std::size_t to_send = 0;            // bytes queued but not yet written
  std::size_t received = 0;           // bytes of the oldest message received so far
  bool want_write = false;
};

struct options {
  std::string host = "127.0.0.1";
  int port = 7000;
  int connections = 50;
  std::size_t size = 64;
  std::size_t inflight = 1;
  double seconds = 5;
  double warmup = 0.5;
  int cpu = -1;
  bool json = false;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "echo_load: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--host")
      o.host = value();
    else if (arg == "--port")
      o.port = std::atoi(value());
    else if (arg == "--connections")
      o.connections = std::atoi(value());
    else if (arg == "--size")
      o.size = static_cast<std::size_t>(std::atol(value()));
    else if (arg == "--inflight")
      o.inflight = static_cast<std::size_t>(std::atol(value()));
    else if (arg == "--seconds")
      o.seconds = std::atof(value());
    else if (arg == "--warmup")
      o.warmup = std::atof(value());
    else if (arg == "--cpu")
      o.cpu = std::atoi(value());
    else if (arg == "--json")
      o.json = true;
    else {
      std::fprintf(stderr,
                   "echo_load: unknown argument %s (see the comment at the top of echo_load.cpp)\n",
                   arg.c_str());
      std::exit(2);
    }
  }
  if (o.connections < 1 || o.size < 1 || o.inflight < 1 || o.seconds <= 0) {
    std::fprintf(stderr, "echo_load: connections, size, inflight and seconds must be positive\n");
    std::exit(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse(argc, argv);
  if (opt.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(opt.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
      die("sched_setaffinity");
  }

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(opt.port));
  if (inet_pton(AF_INET, opt.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "echo_load: --host must be a numeric IPv4 address\n");
    return 2;
  }

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    die("epoll_create1");
  std::vector<connection> conns(static_cast<std::size_t>(opt.connections));
  for (std::size_t i = 0; i < conns.size(); ++i) {
    connection& c = conns[i];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0)
      die("socket");
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      die("connect");
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    c.sent_at.resize(opt.inflight);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) != 0)
      die("epoll_ctl");
  }

  std::vector<char> out(std::max<std::size_t>(opt.size * opt.inflight, 64 * 1024), 'x');
  std::vector<char> in(256 * 1024);
  std::vector<std::uint32_t> latencies;  // ns, of messages completed in the window
  latencies.reserve(1 << 22);

  auto flush = [&](std::size_t i) {
    connection& c = conns[i];
    while (c.to_send > 0) {
      const ssize_t n = send(c.fd, out.data(), std::min(c.to_send, out.size()), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN)
          break;
        die("send");
      }
      c.to_send -= static_cast<std::size_t>(n);
    }
    const bool want = c.to_send > 0;
    if (want != c.want_write) {
      c.want_write = want;
      epoll_event ev{};
      ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
      ev.data.u64 = i;
      epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
    }
  };
  auto queue_message = [&](connection& c, std::int64_t t) {
    c.sent_at[(c.head + c.count) % opt.inflight] = t;
    ++c.count;
    c.to_send += opt.size;
  };

  const std::int64_t start = now_ns();
  for (std::size_t i = 0; i < conns.size(); ++i) {
    for (std::size_t k = 0; k < opt.inflight; ++k)
      queue_message(conns[i], start);
    flush(i);
  }

  const std::int64_t window_start = start + static_cast<std::int64_t>(opt.warmup * 1e9);
  const std::int64_t window_end = window_start + static_cast<std::int64_t>(opt.seconds * 1e9);
  std::uint64_t messages = 0;        // completed inside the measuring window
  std::uint64_t messages_total = 0;  // completed over the whole run, warm-up included
  std::vector<epoll_event> events(1024);
  std::int64_t now = start;
  while (now < window_end) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      die("epoll_wait");
    }
    now = now_ns();
    for (int e = 0; e < n; ++e) {
      const std::size_t i = events[static_cast<std::size_t>(e)].data.u64;
      connection& c = conns[i];
      if (events[static_cast<std::size_t>(e)].events & EPOLLOUT)
        flush(i);
      if (!(events[static_cast<std::size_t>(e)].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        continue;
      for (;;) {
        const ssize_t got = recv(c.fd, in.data(), in.size(), 0);
        if (got < 0) {
          if (errno == EAGAIN)
            break;
          die("recv");
        }
        if (got == 0) {
          std::fprintf(stderr, "echo_load: the server closed a connection\n");
          return 1;
        }
        std::size_t bytes = static_cast<std::size_t>(got);
        while (bytes > 0) {
          const std::size_t take = std::min(bytes, opt.size - c.received);
          c.received += take;
          bytes -= take;
          if (c.received == opt.size) {  // the oldest message is back
            c.received = 0;
            const std::int64_t sent = c.sent_at[c.head];
            c.head = (c.head + 1) % opt.inflight;
            --c.count;
            ++messages_total;
            if (now >= window_start && now < window_end) {
              ++messages;
              latencies.push_back(
                  static_cast<std::uint32_t>(std::min<std::int64_t>(now - sent, UINT32_MAX)));
            }
            queue_message(c, now);
          }
        }
        if (static_cast<std::size_t>(got) < in.size())
          break;
      }
      flush(i);
    }
  }
  const double window = static_cast<double>(std::min(now, window_end) - window_start) / 1e9;
  std::sort(latencies.begin(), latencies.end());
  auto percentile = [&](double p) {
    if (latencies.empty())
      return 0.0;
    const auto idx = static_cast<std::size_t>(p * static_cast<double>(latencies.size() - 1));
    return latencies[idx] / 1e3;
  };
  const double rate = static_cast<double>(messages) / window;
  if (opt.json) {
    std::printf(
        "{\"connections\": %d, \"size\": %zu, \"inflight\": %zu, \"seconds\": %.3f, \"messages\": "
        "%llu, "
        "\"messages_total\": %llu, \"msgs_per_s\": %.1f, \"p50_us\": %.2f, \"p99_us\": %.2f}\n",
        opt.connections, opt.size, opt.inflight, window, static_cast<unsigned long long>(messages),
        static_cast<unsigned long long>(messages_total), rate, percentile(0.50), percentile(0.99));
  } else {
    std::printf(
        "%d connections x %zu B x %zu in flight, %.2f s: %llu messages, %.0f msg/s, p50 %.1f us, "
        "p99 %.1f us\n",
        opt.connections, opt.size, opt.inflight, window, static_cast<unsigned long long>(messages),
        rate, percentile(0.50), percentile(0.99));
  }
  for (connection& c : conns)
    close(c.fd);
  close(ep);
}
