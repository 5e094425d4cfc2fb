// SPDX-License-Identifier: MIT
// A user's program, shared by every consumer test: each test builds it against corio one
// way (find_package, add_subdirectory, FetchContent, pkg-config, -I) with the strict
// warnings -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Werror in the
// user's own target. It touches most of the public API so that corio's templates are
// instantiated under those flags, then runs it all on one loop, over 127.0.0.1.
#include <corio/corio.hpp>

#include <unistd.h>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;

corio::task<int> square(int x) {
  co_await corio::sleep(1ms);
  co_return x* x;
}

corio::task<> producer(corio::queue<long>& q) {
  for (long i = 1; i <= 3; ++i)
    co_await q.put(i);
}

corio::task<long> synchronisation() {
  corio::queue<long> q(1);
  corio::join_handle<void> produced = corio::spawn(producer(q));
  long sum = 0;
  for (int i = 0; i < 3; ++i)
    sum += co_await q.get();
  co_await produced;

  corio::mutex m;
  { auto guard = co_await m.lock(); }
  corio::semaphore sem(1);
  co_await sem.acquire();
  sem.release();
  corio::event ready;
  ready.set();
  co_await ready.wait();
  co_return sum;
}

corio::task<std::size_t> files(std::filesystem::path path) {
  co_await corio::write_file(path, "hello from a consumer");
  std::string text = co_await corio::read_file(path);
  corio::file f = co_await corio::file::open(path, corio::open_mode::read);
  std::array<std::byte, 5> head{};
  const std::size_t n = co_await f.read_at(0, head);
  co_await f.close();
  std::filesystem::remove(path);
  co_return text.size() + n;
}

corio::task<> echo_once(corio::net::tcp_listener& listener) {
  corio::net::tcp_stream conn = co_await listener.accept();
  std::array<std::byte, 64> buf{};
  const std::size_t n = co_await conn.read_some(buf);
  co_await conn.write_all(std::span(buf).first(n));
  co_await conn.close();
}

corio::task<std::size_t> tcp() {
  auto listener = corio::net::tcp_listener::bind("127.0.0.1", 0);
  corio::join_handle<void> server = corio::spawn(echo_once(listener));
  corio::net::tcp_stream conn =
      co_await corio::net::tcp_stream::connect("127.0.0.1", listener.local_port());
  const std::array<std::byte, 4> ping{std::byte{'p'}, std::byte{'i'}, std::byte{'n'},
                                      std::byte{'g'}};
  co_await conn.write_all(ping);
  std::array<std::byte, 4> pong{};
  co_await conn.read_exact(pong);
  co_await server;
  co_return pong == ping ? pong.size() : 0;
}

corio::task<corio::http::response> hello(corio::http::request req) {
  co_return corio::http::response(200, {{"content-type", "text/plain"}}, "hello " + req.target);
}

corio::task<int> http() {
  auto srv = corio::http::server::bind("127.0.0.1", 0, hello);
  corio::join_handle<void> serving = corio::spawn(srv.serve());
  corio::http::response res =
      co_await corio::http::get("http://127.0.0.1:" + std::to_string(srv.port()) + "/x");
  srv.stop();
  co_await serving;
  co_return res.body == "hello /x" ? res.status : 0;
}

corio::task<bool> program(std::filesystem::path dir) {
  auto [a, b] = co_await corio::gather(square(2), square(3));
  std::vector<corio::task<int>> many;
  for (int i = 0; i < 4; ++i)
    many.push_back(square(i));
  std::vector<int> squares = co_await corio::gather(std::move(many));
  const int on_worker = co_await corio::to_thread([](int x) { return x + 1; }, 41);
  const int in_time = co_await corio::wait_for(square(5), 10s);
  const long summed = co_await synchronisation();
  const std::size_t file_bytes = co_await files(dir / "corio_consumer.txt");
  const std::size_t echoed = co_await tcp();
  const int status = co_await http();
  const bool ok = a == 4 && b == 9 && squares.size() == 4 && squares[3] == 9 && on_worker == 42 &&
                  in_time == 25 && summed == 6 && file_bytes == 26 && echoed == 4 && status == 200;
  if (!ok)
    std::fprintf(stderr, "consumer: a wrong result\n");
  co_return ok;
}

}  // namespace

int main() {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("corio_consumer_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  bool ok = false;
  try {
    ok = corio::run(program(dir));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
  }
  std::filesystem::remove_all(dir);
  return ok ? 0 : 1;
}
