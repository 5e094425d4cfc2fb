// SPDX-License-Identifier: MIT
// libFuzzer target for corio/http/parser.hpp.
//
// Input layout: byte 0 holds flags, byte 1 seeds the split pattern, the rest
// is the HTTP byte stream.
//   flags & 1: the response parser answers a HEAD request
//   flags & 2: tiny limits (300-byte head, 1000-byte body), to reach the limit paths
// Both parsers read the stream three ways: whole, in pseudo-random pieces of
// 1..64 bytes, and one byte at a time. Beyond the sanitizers' checks, the
// target traps when
//   - the three readings disagree (messages, errors, keep-alive, EOF outcome),
//   - feed breaks its contract (need_more without consuming everything,
//     consuming more than given, complete without progress),
//   - a parsed message, serialised and parsed again, changes.
//
// Build (clang only) and run:
//   cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DCORIO_BUILD_FUZZ=ON
//   cmake --build build/fuzz --target corio_fuzz_http
//   build/fuzz/tests/fuzz/corio_fuzz_http -max_total_time=60 tests/fuzz/corpus

#include <corio/http/parser.hpp>
#include <corio/http/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace {

using corio::http::parse_status;
using corio::http::parser_limits;

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

void put(std::string& log, std::string_view s) {
  log += std::to_string(s.size());
  log += ':';
  log += s;
}

void put_fields(std::string& log, const corio::http::headers& h, bool skip_framing) {
  for (corio::http::field f : h) {
    if (skip_framing && corio::http::detail::is_framing_field(f.name)) {
      continue;
    }
    put(log, f.name);
    put(log, f.value);
  }
  log += '|';
}

// A transcript of a message. With `content_only`, it leaves out what the
// writer does not reproduce: framing fields, trailers and the reason phrase.
std::string describe(const corio::http::request& m, bool content_only) {
  std::string log = "request ";
  put(log, m.method);
  put(log, m.target);
  put(log, to_string(m.version));
  put_fields(log, m.headers, content_only);
  put(log, m.body);
  if (!content_only) {
    put_fields(log, m.trailers, false);
  }
  return log;
}

std::string describe(const corio::http::response& m, bool content_only) {
  std::string log = "response " + std::to_string(m.status);
  put(log, to_string(m.version));
  put_fields(log, m.headers, content_only);
  put(log, m.body);
  if (!content_only) {
    put(log, m.reason);
    put_fields(log, m.trailers, false);
  }
  return log;
}

// Serialises a parsed message and parses it again: the content must survive.
template <typename Parser, typename Message>
void check_round_trip(const Message& m, bool keep_alive, bool head) {
  std::string wire = corio::http::serialize(m, {.keep_alive = keep_alive});
  // The writer adds a space after each colon, so the head may grow past the
  // original limit; allow for it.
  Parser again(parser_limits{.max_header_bytes = 1 << 20, .max_body_bytes = 1 << 24});
  if constexpr (std::is_same_v<Message, corio::http::response>) {
    again.set_request_method(head ? "HEAD" : "GET");
  }
  auto r = again.feed(wire);
  check(r.status == parse_status::complete && r.consumed == wire.size());
  Message back = again.take();
  check(describe(back, true) == describe(m, true));
  check(again.keep_alive() == keep_alive);
}

struct splitter {
  enum class mode { whole, random, bytewise };
  mode how;
  std::uint32_t state;

  std::size_t next(std::size_t left) {
    switch (how) {
      case mode::whole:
        return left;
      case mode::bytewise:
        return 1;
      case mode::random:
      default:
        state = state * 1664525U + 1013904223U;  // LCG: reproducible from the seed byte
        return 1 + (state >> 24) % 64;
    }
  }
};

template <typename Parser>
std::string run(std::string_view input, parser_limits limits, bool head, splitter split) {
  Parser parser(limits);
  if constexpr (std::is_same_v<Parser, corio::http::response_parser>) {
    parser.set_request_method(head ? "HEAD" : "GET");
  }
  std::string log;
  auto on_complete = [&] {
    bool keep = parser.keep_alive();
    auto m = parser.take();
    log += describe(m, false);
    log += keep ? " keep\n" : " close\n";
    check_round_trip<Parser>(m, keep, head);
  };
  std::size_t offset = 0;
  while (offset < input.size()) {
    std::size_t n = split.next(input.size() - offset);
    std::string_view piece = input.substr(offset, n);
    while (!piece.empty()) {
      auto r = parser.feed(piece);
      check(r.consumed <= piece.size());
      piece.remove_prefix(r.consumed);
      offset += r.consumed;
      if (r.status == parse_status::error) {
        check(parser.error().status >= 400 && parser.error().status <= 505);
        check(!parser.error().message.empty());
        log += "error " + std::to_string(parser.error().status) + " ";
        log += parser.error().message;
        return log;
      }
      if (r.status == parse_status::complete) {
        check(r.consumed > 0);
        on_complete();
      } else {
        check(r.status == parse_status::need_more && piece.empty());
      }
    }
  }
  auto r = parser.on_eof();
  switch (r.status) {
    case parse_status::complete:
      on_complete();
      log += "eof-complete";
      break;
    case parse_status::closed:
      log += "eof-closed";
      break;
    case parse_status::error:
      log += "eof-error " + std::to_string(parser.error().status);
      break;
    case parse_status::need_more:
      check(false);
      break;
  }
  return log;
}

template <typename Parser>
void fuzz(std::string_view input, parser_limits limits, bool head, std::uint8_t seed) {
  std::string whole = run<Parser>(input, limits, head, {splitter::mode::whole, 0});
  std::string random = run<Parser>(input, limits, head, {splitter::mode::random, seed});
  check(whole == random);
  if (input.size() <= 4096) {  // byte-at-a-time is slow on big inputs
    std::string bytewise = run<Parser>(input, limits, head, {splitter::mode::bytewise, 0});
    check(whole == bytewise);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  std::uint8_t flags = data[0];
  std::uint8_t seed = data[1];
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  parser_limits limits;
  if ((flags & 2) != 0) {
    limits = {.max_header_bytes = 300, .max_body_bytes = 1000};
  }
  bool head = (flags & 1) != 0;
  fuzz<corio::http::request_parser>(input, limits, head, seed);
  fuzz<corio::http::response_parser>(input, limits, head, seed);
  return 0;
}
