// SPDX-License-Identifier: MIT
// examples/first_mirror.cpp: download from whichever of several mirrors
// answers first, with race. Three local HTTP "mirrors" on 127.0.0.1 answer
// after different delays; race fetches from all three, keeps the first
// answer, and cancels the two slower fetches, which have finished (their
// connections closed) by the time race returns.
//
// Run: build/release/examples/first_mirror
// Expected output:
//   racing 3 mirrors: slow (400 ms), fast (20 ms), medium (200 ms)
//   fast won: corio-0.2.tar.gz from fast
//   cancelled before race returned: medium slow
#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/http/client.hpp>
#include <corio/http/server.hpp>
#include <corio/race.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

struct mirror {
  std::string name;
  std::chrono::milliseconds delay;
};

// A mirror's answer, after its delay.
corio::task<corio::http::response> answer(mirror m, corio::http::request req) {
  co_await corio::sleep(m.delay);
  co_return corio::http::response{200, {}, req.target.substr(1) + " from " + m.name};
}

// One fetch; a cancelled one notes its mirror and goes on being cancelled.
corio::task<std::string> fetch(std::string url, std::string name,
                               std::vector<std::string>* cancelled) {
  try {
    corio::http::response res = co_await corio::http::get(url);
    co_return res.body;
  } catch (const corio::cancelled_error&) {
    cancelled->push_back(name);
    throw;
  }
}

corio::task<> main_task() {
  const std::vector<mirror> mirrors = {{"slow", std::chrono::milliseconds(400)},
                                       {"fast", std::chrono::milliseconds(20)},
                                       {"medium", std::chrono::milliseconds(200)}};
  std::vector<corio::http::server> servers;
  std::vector<corio::join_handle<void>> serving;
  for (const mirror& m : mirrors) {
    // The handler is kept in the server; it copies `m` into each answer.
    servers.push_back(corio::http::server::bind(
        "127.0.0.1", 0, [m](corio::http::request req) { return answer(m, std::move(req)); }));
    serving.push_back(corio::spawn(servers.back().serve()));
  }

  std::printf("racing %zu mirrors:", mirrors.size());
  for (std::size_t i = 0; i < mirrors.size(); ++i) {
    std::printf("%s %s (%lld ms)", i == 0 ? "" : ",", mirrors[i].name.c_str(),
                static_cast<long long>(mirrors[i].delay.count()));
  }
  std::printf("\n");

  std::vector<std::string> cancelled;
  std::vector<corio::task<std::string>> fetches;
  for (std::size_t i = 0; i < mirrors.size(); ++i) {
    const std::string url =
        "http://127.0.0.1:" + std::to_string(servers[i].port()) + "/corio-0.2.tar.gz";
    fetches.push_back(fetch(url, mirrors[i].name, &cancelled));
  }
  auto [winner, body] = co_await corio::race(std::move(fetches));
  std::printf("%s won: %s\n", mirrors[winner].name.c_str(), body.c_str());

  std::sort(cancelled.begin(), cancelled.end());  // they finish in no fixed order
  std::printf("cancelled before race returned:");
  for (const std::string& name : cancelled)
    std::printf(" %s", name.c_str());
  std::printf("\n");

  for (std::size_t i = 0; i < servers.size(); ++i) {
    servers[i].stop();
    co_await serving[i];
  }
}

int main() {
  corio::run(main_task());
}
