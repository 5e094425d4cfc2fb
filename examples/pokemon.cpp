// SPDX-License-Identifier: MIT
// examples/pokemon.cpp: convert a sync program to async. http_get_sync is an
// ordinary blocking HTTP GET (libcurl); `co_await corio::to_thread(http_get_sync, url)`
// runs it on corio's worker pool, so the event loop stays free while it waits.
// The program prints the name of a random Pokémon from PokéAPI.
//
// Offline by default: the same process starts a local corio::http::server on
// 127.0.0.1 (a free port) that answers /api/v2/pokemon/{id} like PokéAPI, from
// examples/data/pokemon.json. The blocking call on the worker thread talks to
// the server running on the loop: neither blocks the other.
//
// --client native swaps libcurl for corio's own HTTP client (corio::http::get), which
// needs no thread: it speaks https:// too when the build has corio::tls (OpenSSL).
//
// Run:
//   build/release/examples/pokemon                     (offline, local server)
//   build/release/examples/pokemon --id 25              (a chosen Pokémon, 1-898)
//   build/release/examples/pokemon --base-url https://pokeapi.co/api/v2   (the real API)
//   build/release/examples/pokemon --client native --base-url https://pokeapi.co/api/v2
//   options: --data-dir DIR (where pokemon.json is), --client curl|native,
//            --ca-file FILE (native https: the CAs to trust instead of the system's)
// Expected output (the Pokémon is random):
//   #25 Pikachu
#include <corio/event_loop.hpp>
#include <corio/http/client.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>
#if CORIO_EXAMPLES_HAVE_TLS
#  include <corio/tls.hpp>  // lets corio::http::get fetch https:// URLs
#endif

#include <curl/curl.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pokemon_server.hpp"

std::size_t append_to_string(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// The synchronous program's building block: blocks until the whole body is here.
std::string http_get_sync(std::string url) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) {
    throw std::runtime_error("curl_easy_init failed");
  }
  std::string body;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &append_to_string);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);  // 4xx and 5xx are errors
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);  // required when curl runs on threads
  if (const CURLcode rc = curl_easy_perform(curl.get()); rc != CURLE_OK) {
    throw std::runtime_error("GET " + url + ": " + curl_easy_strerror(rc));
  }
  return body;
}

// With corio's own client the GET is a coroutine: no worker thread, no libcurl.
corio::task<std::string> http_get_native(std::string url, std::string ca_file) {
  const corio::http::response res =
      co_await corio::http::get(url, {.follow_redirects = true, .ca_file = ca_file});
  if (res.status != 200) {
    throw std::runtime_error("GET " + url + ": HTTP status " + std::to_string(res.status));
  }
  co_return res.body;
}

struct settings {
  std::string base_url;  // empty: start the local server
  std::string data_dir = CORIO_EXAMPLES_DATA_DIR;
  int id = 0;           // 0: random
  bool native = false;  // --client native: corio::http instead of libcurl on a thread
  std::string ca_file;  // --ca-file, for the native client's https
};

// The async version: the same call, awaited on a worker thread (or corio's own client).
corio::task<std::string> fetch_pokemon_name(settings s, int id) {
  const std::string url = s.base_url + "/pokemon/" + std::to_string(id);
  std::string body;
  if (s.native) {
    body = co_await http_get_native(url, s.ca_file);
  } else {
    body = co_await corio::to_thread(http_get_sync, url);
  }
  co_return nlohmann::json::parse(body).at("name").get<std::string>();
}

corio::task<> main_task(settings s) {
  std::optional<pokemon_demo::local_api> local;
  if (s.base_url.empty()) {
    local = pokemon_demo::local_api::start(s.data_dir, std::chrono::milliseconds(0));
    s.base_url = local->base_url();
  }
  int id = s.id;
  if (id == 0) {
    std::mt19937 random(std::random_device{}());
    id = std::uniform_int_distribution<int>(1, 898)(random);
  }
  std::string name = co_await fetch_pokemon_name(s, id);
  if (!name.empty()) {
    name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
  }
  std::printf("#%d %s\n", id, name.c_str());
  if (local) {
    co_await local->stop();
  }
}

int main(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--base-url" && has_value) {
      s.base_url = argv[++i];
    } else if (arg == "--data-dir" && has_value) {
      s.data_dir = argv[++i];
    } else if (arg == "--id" && has_value) {
      s.id = std::atoi(argv[++i]);
    } else if (arg == "--client" && has_value &&
               (argv[i + 1] == std::string_view("curl") ||
                argv[i + 1] == std::string_view("native"))) {
      s.native = argv[++i] == std::string_view("native");
    } else if (arg == "--ca-file" && has_value) {
      s.ca_file = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: %s [--id N] [--base-url URL] [--data-dir DIR] [--client curl|native] "
                   "[--ca-file FILE]\n",
                   argv[0]);
      return 2;
    }
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);  // once, before any thread uses curl
  int status = 0;
  try {
    corio::run(main_task(s));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pokemon: %s\n", e.what());
    status = 1;
  }
  curl_global_cleanup();
  return status;
}
