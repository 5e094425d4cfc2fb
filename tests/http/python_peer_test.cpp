// SPDX-License-Identifier: MIT
// tests/http/python_peer_test.cpp: corio::http::server checked by an independent peer,
// Python's http.client and raw sockets (tests/http/peer.py), over the loopback interface.
#include <corio/http/client.hpp>
#include <corio/http/server.hpp>

#include <corio/event_loop.hpp>
#include <corio/http/message.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>

#include <catch2/catch_test_macros.hpp>

#include "support/io_uring_available.hpp"

#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>

namespace http = corio::http;
using namespace std::chrono_literals;

namespace {

struct peer_outcome {
  int exit_status = -1;
  std::string output;
};

std::filesystem::path peer_script() {
  return std::filesystem::path(__FILE__).replace_filename("peer.py");
}

// Runs `python3 peer.py PORT CASE` (blocking: call it through to_thread).
peer_outcome run_peer_blocking(std::uint16_t port, std::string which) {
  const std::string command =
      "python3 '" + peer_script().string() + "' " + std::to_string(port) + ' ' + which + " 2>&1";
  peer_outcome out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    out.output = "popen failed";
    return out;
  }
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    out.output.append(buffer, n);
  }
  const int status = ::pclose(pipe);
  out.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// `python3 peer.py serve CONNECTIONS`: a server for corio's client.
struct python_server {
  FILE* pipe = nullptr;
  std::uint16_t port = 0;
};

python_server start_python_server_blocking(int connections) {
  const std::string command =
      "python3 '" + peer_script().string() + "' serve " + std::to_string(connections);
  python_server out;
  out.pipe = ::popen(command.c_str(), "r");
  char line[64];
  if (out.pipe != nullptr && std::fgets(line, sizeof line, out.pipe) != nullptr) {
    out.port = static_cast<std::uint16_t>(std::strtoul(line, nullptr, 10));
  }
  return out;
}

// Waits for the server to exit; returns its exit status.
int wait_python_server_blocking(FILE* pipe) {
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The routes peer.py asks for:
//   /status/NNN  answers with status NNN
//   /sized       a 12345-byte body; to HEAD, only its Content-Length
//   /close       "bye" with Connection: close
//   anything else echoes "<method> <target>"
corio::task<http::response> answer(http::request req) {
  if (req.target.starts_with("/status/")) {
    co_return http::response{std::stoi(req.target.substr(8)), {}, {}};
  }
  if (req.target == "/sized") {
    if (req.method == "HEAD") {
      co_return http::response{200, {{"Content-Length", "12345"}}, {}};
    }
    co_return http::response{200, {}, std::string(12345, 'x')};
  }
  if (req.target == "/close") {
    co_return http::response{200, {{"Connection", "close"}}, "bye"};
  }
  co_return http::response{200, {{"Content-Type", "text/plain"}}, req.method + ' ' + req.target};
}

// Serves `handler` with `options` while peer.py runs `which` against the
// server, and checks that the peer saw what it expected.
void check_with_python(std::string which, http::server_options options = {},
                       http::server::handler_type handler = answer) {
  const peer_outcome out =
      corio::run([](std::string which, http::server_options options,
                    http::server::handler_type handler) -> corio::task<peer_outcome> {
        auto srv = http::server::bind("127.0.0.1", 0, options, std::move(handler));
        corio::join_handle<void> running = corio::spawn(srv.serve());
        peer_outcome result = co_await corio::to_thread(&run_peer_blocking, srv.port(), which);
        srv.stop();
        co_await running;
        co_return result;
      }(which, options, std::move(handler)));
  INFO("python3 peer.py PORT " << which << ":\n" << out.output);
  CHECK(out.exit_status == 0);
}

}  // namespace

TEST_CASE("http::server (python peer): answers 400 to invalid Host values",
          "[http][net][io_uring][python][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  check_with_python("host-values");
}

TEST_CASE("http::server (python peer): answers 400 to whitespace ending a chunk-size line",
          "[http][net][io_uring][python][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  check_with_python("chunk-whitespace");
}

TEST_CASE("http::server (python peer): answers 500 for a handler's 1xx status, on 1.1 and 1.0",
          "[http][net][io_uring][python][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  check_with_python("interim-status");
}

TEST_CASE("http::server (python peer): a HEAD handler states the GET body's Content-Length",
          "[http][net][io_uring][python][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  check_with_python("head-length");
}

TEST_CASE("http::server (python peer): a handler's Connection: close ends the connection",
          "[http][net][io_uring][python][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  check_with_python("handler-close");
}

TEST_CASE("http::server (python peer): answers 503 past max_connections, and recovers",
          "[http][net][io_uring][python][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  check_with_python("max-connections", {.max_connections = 2});
}

TEST_CASE("http::client (python peer): joins obs-fold, reads gzip until close, no reuse after 101",
          "[http][net][io_uring][python][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const int exit_status = corio::run([]() -> corio::task<int> {
    const python_server py = co_await corio::to_thread(&start_python_server_blocking, 3);
    REQUIRE(py.pipe != nullptr);
    REQUIRE(py.port != 0);
    const std::string base = "http://127.0.0.1:" + std::to_string(py.port);
    {
      http::client client({.timeout = 5s});
      const http::response fold = co_await client.get(base + "/fold");  // connection 1, pooled
      CHECK(fold.headers.get("x-folded") == "a b c");
      CHECK(fold.body == "fold");
      const http::response gzip = co_await http::get(base + "/gzip");  // connection 2
      CHECK(gzip.headers.get("transfer-encoding") == "gzip");
      CHECK(gzip.body == "\x1f\x8b\x08 until close");
      const http::response up = co_await client.get(base + "/upgrade");  // connection 1 again
      CHECK(up.status == 101);
      CHECK(client.idle_connections() == 0);
      const http::response ok =
          co_await client.get(base + "/ok");  // connection 3, not the upgraded
      CHECK(ok.body == "ok");
    }
    co_return co_await corio::to_thread(&wait_python_server_blocking, py.pipe);
  }());
  CHECK(exit_status == 0);
}
