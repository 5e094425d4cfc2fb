// SPDX-License-Identifier: MIT
// examples/pokemon_many.cpp: beyond the article. It fetches N Pokémon with
// corio's own async HTTP client (corio::http::client, which keeps connections
// open and reuses them), first one after the other, then all at once with
// gather, at most --concurrency requests in flight (a corio::semaphore caps
// them). Both runs must get the same names; it prints both times and the
// speed-up. No worker threads are involved: every wait is on the io_uring loop.
//
// Offline by default: the same process starts a local corio::http::server on
// 127.0.0.1 (a free port) that answers like PokéAPI after 20 ms per request,
// standing in for the network.
//
// Run:
//   build/release/examples/pokemon_many                 (offline, 100 Pokémon)
//   build/release/examples/pokemon_many -n 300 --concurrency 50
//   options: --base-url http://HOST[:PORT]/api/v2 (plain http only: corio::http
//   does not speak TLS), --delay-ms MS (local server), --data-dir DIR
// Expected output (times vary):
//   fetched 100 Pokémon: bulbasaur ... voltorb
//   sequential: 2.14 s
//   concurrent: 0.12 s
//   speed-up: 17.5×
#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/http/client.hpp>
#include <corio/semaphore.hpp>
#include <corio/task.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pokemon_server.hpp"

// What the fetches share: one client (its pool of connections) and the cap.
struct fetcher {
  explicit fetcher(std::size_t concurrency) : limit(concurrency) {}
  corio::http::client http;
  corio::semaphore limit;
};

corio::task<std::string> fetch_name(std::shared_ptr<fetcher> f, std::string url) {
  const corio::http::response res = co_await f->http.get(url);
  if (res.status != 200) {
    throw std::runtime_error("GET " + url + ": status " + std::to_string(res.status));
  }
  co_return nlohmann::json::parse(res.body).at("name").get<std::string>();
}

// fetch_name, once a permit is free.
corio::task<std::string> fetch_name_limited(std::shared_ptr<fetcher> f, std::string url) {
  co_await f->limit.acquire();
  std::optional<std::string> name;
  std::exception_ptr failure;
  try {
    name = co_await fetch_name(f, std::move(url));
  } catch (...) {
    failure = std::current_exception();
  }
  f->limit.release();
  if (failure) {
    std::rethrow_exception(failure);
  }
  co_return std::move(*name);
}

corio::task<std::vector<std::string>> fetch_one_by_one(std::shared_ptr<fetcher> f,
                                                       std::string base_url, int n) {
  std::vector<std::string> names;
  for (int id = 1; id <= n; ++id) {
    names.push_back(co_await fetch_name(f, base_url + "/pokemon/" + std::to_string(id)));
  }
  co_return names;
}

corio::task<std::vector<std::string>> fetch_all_at_once(std::shared_ptr<fetcher> f,
                                                        std::string base_url, int n) {
  std::vector<corio::task<std::string>> fetches;
  for (int id = 1; id <= n; ++id) {
    fetches.push_back(fetch_name_limited(f, base_url + "/pokemon/" + std::to_string(id)));
  }
  co_return co_await corio::gather(std::move(fetches));
}

struct settings {
  std::string base_url;  // empty: start the local server
  std::string data_dir = CORIO_EXAMPLES_DATA_DIR;
  int count = 100;
  int concurrency = 20;
  int delay_ms = 20;
};

corio::task<int> main_task(settings s) {
  std::optional<pokemon_demo::local_api> local;
  if (s.base_url.empty()) {
    local = pokemon_demo::local_api::start(s.data_dir, std::chrono::milliseconds(s.delay_ms));
    s.base_url = local->base_url();
  }
  auto f = std::make_shared<fetcher>(static_cast<std::size_t>(s.concurrency));
  using seconds = std::chrono::duration<double>;

  auto start = std::chrono::steady_clock::now();
  const std::vector<std::string> one_by_one = co_await fetch_one_by_one(f, s.base_url, s.count);
  const seconds sequential = std::chrono::steady_clock::now() - start;

  start = std::chrono::steady_clock::now();
  const std::vector<std::string> at_once = co_await fetch_all_at_once(f, s.base_url, s.count);
  const seconds concurrent = std::chrono::steady_clock::now() - start;

  std::printf("fetched %d Pokémon: %s ... %s\n", s.count, at_once.front().c_str(),
              at_once.back().c_str());
  std::printf("sequential: %.2f s\n", sequential.count());
  std::printf("concurrent: %.2f s\n", concurrent.count());
  std::printf("speed-up: %.1f×\n", sequential / concurrent);
  if (local) {
    co_await local->stop();
  }
  if (one_by_one != at_once) {
    std::fprintf(stderr, "pokemon_many: the two runs got different names\n");
    co_return 1;
  }
  co_return 0;
}

int main(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if ((arg == "-n" || arg == "--count") && has_value) {
      s.count = std::atoi(argv[++i]);
    } else if (arg == "--concurrency" && has_value) {
      s.concurrency = std::atoi(argv[++i]);
    } else if (arg == "--delay-ms" && has_value) {
      s.delay_ms = std::atoi(argv[++i]);
    } else if (arg == "--base-url" && has_value) {
      s.base_url = argv[++i];
    } else if (arg == "--data-dir" && has_value) {
      s.data_dir = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: %s [-n COUNT] [--concurrency K] [--delay-ms MS] [--base-url URL] "
                   "[--data-dir DIR]\n",
                   argv[0]);
      return 2;
    }
  }
  if (s.count < 1 || s.count > 898 || s.concurrency < 1) {
    std::fprintf(stderr, "pokemon_many: -n must be 1..898 and --concurrency at least 1\n");
    return 2;
  }
  try {
    return corio::run(main_task(s));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pokemon_many: %s\n", e.what());
    return 1;
  }
}
