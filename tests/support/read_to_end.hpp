// SPDX-License-Identifier: MIT
// tests/support/read_to_end.hpp: what a stream sends until its end, as text.
#pragma once

#include <corio/task.hpp>

#include "support/bytes_and_fds.hpp"

#include <array>
#include <cstddef>
#include <span>
#include <string>

namespace corio_test {

// Reads `s` (a tcp_stream, unix_stream, tls::stream: anything whose
// read_some returns 0 at its end) to its end. `s` must outlive the await.
template <class Stream>
corio::task<std::string> read_to_end(Stream& s) {
  std::string text;
  std::array<std::byte, 4096> buf;
  for (std::size_t n; (n = co_await s.read_some(buf)) != 0;)
    text += text_of(std::span(buf).first(n));
  co_return text;
}

}  // namespace corio_test
