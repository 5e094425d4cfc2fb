// SPDX-License-Identifier: MIT
// examples/next_level.cpp: async to the next level. gather runs two tasks at
// once: send_async_request makes a blocking HTTP request (libcurl) on a worker
// thread through corio::to_thread, and counter sleeps 10 ms ten times,
// printing how long each sleep really took. The sleeps stay close to 10 ms and
// all ten lines come before the response: the loop is never blocked by the
// request.
//
// Offline by default: the same process starts a local corio::http::server on
// 127.0.0.1 (a free port) that answers like PokéAPI after 250 ms, standing in
// for a slow network.
//
// Run:
//   build/release/examples/next_level                   (offline, local server)
//   build/release/examples/next_level --url https://pokeapi.co/api/v2/pokemon/1
//   options: --data-dir DIR (where pokemon.json is)
// Expected output (the times vary a little):
//   0: Was asleep for 0.0101s
//   1: Was asleep for 0.0101s
//   2: Was asleep for 0.0101s
//   3: Was asleep for 0.0101s
//   4: Was asleep for 0.0101s
//   5: Was asleep for 0.0101s
//   6: Was asleep for 0.0101s
//   7: Was asleep for 0.0101s
//   8: Was asleep for 0.0101s
//   9: Was asleep for 0.0101s
//   Got HTTP response with status 200.
#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/sleep.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>

#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pokemon_server.hpp"

std::size_t discard_body(char*, std::size_t size, std::size_t count, void*) {
  return size * count;
}

// Blocks until the response has arrived; returns its status code.
long http_get_status_sync(std::string url) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) {
    throw std::runtime_error("curl_easy_init failed");
  }
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &discard_body);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);  // required when curl runs on threads
  if (const CURLcode rc = curl_easy_perform(curl.get()); rc != CURLE_OK) {
    throw std::runtime_error("GET " + url + ": " + curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  return status;
}

corio::task<> send_async_request(std::string url) {
  const long status = co_await corio::to_thread(http_get_status_sync, url);
  std::printf("Got HTTP response with status %ld.\n", status);
}

corio::task<> counter() {
  using clock = std::chrono::steady_clock;
  clock::time_point now = clock::now();
  for (int i = 0; i < 10; ++i) {
    const clock::time_point last = now;
    co_await corio::sleep(std::chrono::milliseconds(10));
    now = clock::now();
    std::printf("%d: Was asleep for %.4fs\n", i, std::chrono::duration<double>(now - last).count());
  }
}

struct settings {
  std::string url;  // empty: start the local server
  std::string data_dir = CORIO_EXAMPLES_DATA_DIR;
};

corio::task<> main_task(settings s) {
  std::optional<pokemon_demo::local_api> local;
  if (s.url.empty()) {
    local = pokemon_demo::local_api::start(s.data_dir, std::chrono::milliseconds(250));
    s.url = local->base_url() + "/pokemon/1";
  }
  co_await corio::gather(send_async_request(s.url), counter());
  if (local) {
    co_await local->stop();
  }
}

int main(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--url" && i + 1 < argc) {
      s.url = argv[++i];
    } else if (arg == "--data-dir" && i + 1 < argc) {
      s.data_dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--url URL] [--data-dir DIR]\n", argv[0]);
      return 2;
    }
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);  // once, before any thread uses curl
  int status = 0;
  try {
    corio::run(main_task(s));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "next_level: %s\n", e.what());
    status = 1;
  }
  curl_global_cleanup();
  return status;
}
