// SPDX-License-Identifier: MIT
// examples/pokemon_server.hpp: a local stand-in for PokéAPI, shared by the Pokémon examples.
//
// It is a corio::http::server on 127.0.0.1 (a free port) that answers
//   GET /api/v2/pokemon/{id or name}
// with JSON shaped like PokéAPI's for the fields the examples read,
// {"id": 25, "name": "pikachu"}, and 404 for an unknown Pokémon. The names
// come from examples/data/pokemon.json (index 0 is id 1). An optional delay
// before each answer stands in for the network, so that the examples show
// what overlapping waits buys.
//
// Usage, inside a running loop:
//   auto api = pokemon_demo::local_api::start(data_dir, std::chrono::milliseconds(20));
//   std::string url = api.base_url() + "/pokemon/25";  // http://127.0.0.1:PORT/api/v2/pokemon/25
//   ...
//   co_await api.stop();
#pragma once

#include <corio/http/message.hpp>
#include <corio/http/server.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The directory of pokemon.json; CMake passes the source tree's examples/data.
#ifndef CORIO_EXAMPLES_DATA_DIR
#  define CORIO_EXAMPLES_DATA_DIR "examples/data"
#endif

namespace pokemon_demo {

using names_ptr = std::shared_ptr<const std::vector<std::string>>;

// Reads the names of Pokémon 1..898 from <data_dir>/pokemon.json.
inline names_ptr load_names(const std::string& data_dir) {
  const std::string path = data_dir + "/pokemon.json";
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot open " + path + " (use --data-dir DIR)");
  }
  return std::make_shared<const std::vector<std::string>>(
      nlohmann::json::parse(in).get<std::vector<std::string>>());
}

// The id of the Pokémon that `key` (a number or a name) names, or 0.
inline std::size_t find_pokemon(const std::vector<std::string>& names, std::string_view key) {
  if (!key.empty() && key.find_first_not_of("0123456789") == std::string_view::npos &&
      key.size() < 6) {
    const std::size_t id = std::stoul(std::string(key));
    return id >= 1 && id <= names.size() ? id : 0;
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == key) {
      return i + 1;
    }
  }
  return 0;
}

// Answers one request, after `delay`.
inline corio::task<corio::http::response> answer(names_ptr names, std::chrono::milliseconds delay,
                                                 corio::http::request req) {
  if (delay > std::chrono::milliseconds::zero()) {
    co_await corio::sleep(delay);
  }
  constexpr std::string_view prefix = "/api/v2/pokemon/";
  std::string_view target = req.target;
  target = target.substr(0, target.find('?'));
  if (req.method != "GET" || target.substr(0, prefix.size()) != prefix) {
    co_return corio::http::response{404, {{"Content-Type", "text/plain"}}, "Not Found"};
  }
  std::string_view key = target.substr(prefix.size());
  if (!key.empty() && key.back() == '/') {
    key.remove_suffix(1);
  }
  const std::size_t id = find_pokemon(*names, key);
  if (id == 0) {
    co_return corio::http::response{404, {{"Content-Type", "text/plain"}}, "Not Found"};
  }
  const nlohmann::json body = {{"id", id}, {"name", (*names)[id - 1]}};
  co_return corio::http::response{
      200, {{"Content-Type", "application/json; charset=utf-8"}}, body.dump()};
}

// The running stand-in: a server and the task that serves it.
class local_api {
 public:
  // Binds 127.0.0.1 on a free port and starts serving (needs a running loop).
  static local_api start(std::string data_dir, std::chrono::milliseconds delay) {
    names_ptr names = load_names(data_dir);
    auto handler = [names, delay](corio::http::request req) {
      return answer(names, delay, std::move(req));
    };
    local_api api(corio::http::server::bind("127.0.0.1", 0, handler));
    api.serving_ = corio::spawn(api.server_.serve());
    return api;
  }

  // "http://127.0.0.1:PORT/api/v2", the counterpart of https://pokeapi.co/api/v2.
  std::string base_url() const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + "/api/v2";
  }

  // Stops the server and waits until it has closed every connection.
  corio::task<> stop() {
    server_.stop();
    co_await serving_;
  }

 private:
  explicit local_api(corio::http::server s) : server_(std::move(s)) {}

  corio::http::server server_;
  corio::join_handle<void> serving_;
};

}  // namespace pokemon_demo
