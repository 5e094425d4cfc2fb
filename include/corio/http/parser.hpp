// SPDX-License-Identifier: MIT
// corio/http/parser.hpp: incremental HTTP/1.1 request and response parsers.
#pragma once

#include <corio/http/headers.hpp>
#include <corio/http/message.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace corio::http {

/// Size limits a parser enforces, so that a peer cannot make it buffer without bound.
struct parser_limits {
  /// Bytes of the start line plus header fields (and, for a chunked body, of
  /// the trailer fields), counting line ends. Exceeding it is error 431
  /// (414 while still in the request line).
  std::size_t max_header_bytes = 64 * 1024;
  /// Bytes of the decoded body. Exceeding it, or announcing a larger
  /// Content-Length or chunk, is error 413.
  std::size_t max_body_bytes = 8 * 1024 * 1024;
};

/// What a call to `feed` or `on_eof` found.
enum class parse_status {
  need_more,  ///< Every byte was consumed; the message is not complete yet.
  complete,   ///< A message is complete; bytes after `consumed` belong to the next one.
  closed,     ///< End of stream between messages: the peer closed cleanly.
  error,      ///< The input is not acceptable HTTP; see the parser's error().
};

/// The outcome of one `feed` or `on_eof` call.
struct parse_result {
  parse_status status;
  /// Bytes of the input that were used. All of them for need_more; for
  /// complete, the rest (pipelined data) must be fed again for the next message.
  std::size_t consumed;
};

/// Why a parser rejected its input.
struct parse_error {
  /// The status a server answers with: 400, 413, 414, 431, 501 or 505 (0: no
  /// error). The response parser uses the same numbers to classify the fault.
  int status = 0;
  /// A fixed English sentence naming the fault; it never holds input bytes.
  std::string_view message;
};

namespace detail {

// Longest chunk-size line (size, extensions, CRLF). Extensions are also counted
// against max_header_bytes per message, so tiny chunks with long extensions
// cannot make the parser do unbounded work per body byte.
inline constexpr std::size_t max_chunk_line = 4096;

// Host = uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2): an IP
// literal in brackets, or a reg-name / IPv4 address of unreserved, pct-encoded
// and sub-delim characters, without ",": a comma reads as two Host fields
// once an intermediary joins repeated lines. An empty value is allowed.
[[nodiscard]] inline bool is_host_value(std::string_view v) noexcept {
  auto is_hex = [](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  std::size_t i = 0;
  if (!v.empty() && v.front() == '[') {
    const std::size_t close = v.find(']');
    if (close == std::string_view::npos || close == 1) {
      return false;
    }
    for (char c : v.substr(1, close - 1)) {
      if (!is_hex(c) && c != ':' && c != '.') {
        return false;
      }
    }
    i = close + 1;
  } else {
    for (; i < v.size() && v[i] != ':'; ++i) {
      const char c = v[i];
      if (c == '%') {
        if (i + 2 >= v.size() || !is_hex(v[i + 1]) || !is_hex(v[i + 2])) {
          return false;
        }
        i += 2;
      } else if (!is_alpha(c) && !is_digit(c) &&
                 std::string_view("-._~!$&'()*+;=").find(c) == std::string_view::npos) {
        return false;
      }
    }
  }
  if (i == v.size()) {
    return true;
  }
  if (v[i] != ':') {
    return false;
  }
  return std::all_of(v.begin() + static_cast<std::ptrdiff_t>(i) + 1, v.end(), is_digit);
}

// The state machine both parsers share; Message is request or response, and
// only the start line and the body-framing rules differ.
template <typename Message>
class parser_core {
 public:
  explicit parser_core(parser_limits limits) : limits_(limits) {}

  parse_result feed(std::string_view data) {
    if (state_ == state::complete || state_ == state::taken) {
      start_next();
    }
    if (state_ == state::error) {
      return {parse_status::error, 0};
    }
    std::size_t pos = 0;
    while (pos < data.size() && state_ != state::complete && state_ != state::error) {
      std::string_view rest = data.substr(pos);
      switch (state_) {
        case state::body_length:
        case state::chunk_data: {
          std::size_t n = static_cast<std::size_t>(
              std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(rest.size())));
          msg_.body.append(rest.substr(0, n));
          pos += n;
          remaining_ -= n;
          if (remaining_ == 0) {
            state_ = state_ == state::body_length ? state::complete : state::chunk_data_end;
          }
          break;
        }
        case state::body_until_eof:
          if (rest.size() > limits_.max_body_bytes - msg_.body.size()) {
            fail(413, "the body exceeds the size limit");
            break;
          }
          msg_.body.append(rest);
          pos = data.size();
          break;
        default:
          pos += feed_line(rest);
          break;
      }
    }
    if (state_ == state::error) {
      return {parse_status::error, pos};
    }
    return {state_ == state::complete ? parse_status::complete : parse_status::need_more, pos};
  }

  parse_result on_eof() {
    if (state_ == state::complete || state_ == state::taken) {
      start_next();
    }
    switch (state_) {
      case state::error:
        return {parse_status::error, 0};
      case state::start_line:
        if (line_.empty()) {
          return {parse_status::closed, 0};
        }
        break;
      case state::body_until_eof:
        state_ = state::complete;
        return {parse_status::complete, 0};
      default:
        break;
    }
    fail(400, "the connection closed in the middle of a message");
    return {parse_status::error, 0};
  }

  void reset() {
    state_ = state::start_line;  // leaves the error state, which start_next keeps
    error_ = {};
    start_next();
  }

  [[nodiscard]] const Message& message() const noexcept { return msg_; }

  Message take() {
    if (state_ != state::complete) {
      throw std::logic_error("corio::http parser: take() called before a message was complete");
    }
    Message out = std::move(msg_);
    msg_ = Message{};
    state_ = state::taken;
    return out;
  }

  [[nodiscard]] bool keep_alive() const noexcept { return keep_alive_; }
  [[nodiscard]] const parse_error& error() const noexcept { return error_; }
  [[nodiscard]] bool expects_continue() const noexcept { return expects_continue_; }

  // Response parser only: the response answers a HEAD request, so it has no body.
  void set_head_request(bool head) noexcept { head_request_ = head; }

 private:
  enum class state {
    start_line,
    fields,
    body_length,
    chunk_line,
    chunk_data,
    chunk_data_end,
    trailers,
    body_until_eof,
    complete,
    taken,  // complete, and the message has been moved out
    error,
  };

  static constexpr bool is_request = std::is_same_v<Message, request>;

  void start_next() {
    if (state_ == state::error) {
      return;
    }
    msg_ = Message{};
    state_ = state::start_line;
    line_.clear();
    head_bytes_ = 0;
    remaining_ = 0;
    extension_bytes_ = 0;
    keep_alive_ = false;
    expects_continue_ = false;
  }

  bool fail(int status, std::string_view message) {
    state_ = state::error;
    error_ = {status, message};
    keep_alive_ = false;
    expects_continue_ = false;
    return false;
  }

  [[nodiscard]] bool in_head() const noexcept {
    return state_ == state::start_line || state_ == state::fields || state_ == state::trailers;
  }

  // Largest number of bytes (CRLF included) the current line may have.
  [[nodiscard]] std::size_t line_limit() const noexcept {
    switch (state_) {
      case state::chunk_line:
        return max_chunk_line;
      case state::chunk_data_end:
        return 2;
      default:
        return limits_.max_header_bytes - std::min(head_bytes_, limits_.max_header_bytes);
    }
  }

  bool fail_line_too_long() {
    switch (state_) {
      case state::start_line:
        if constexpr (is_request) {
          return fail(414, "the request line exceeds the header size limit");
        } else {
          return fail(431, "the status line exceeds the header size limit");
        }
      case state::chunk_line:
        return fail(400, "a chunk-size line is too long");
      case state::chunk_data_end:
        return fail(400, "chunk data is not followed by CRLF");
      default:
        return fail(431, "the header section exceeds the size limit");
    }
  }

  // Consumes bytes of `rest` up to and including the next LF, processing the
  // line once it is whole. Lines split across feeds are carried in line_; a
  // line that arrives whole is processed in place, without a copy.
  std::size_t feed_line(std::string_view rest) {
    std::size_t limit = line_limit();
    std::size_t lf = rest.find('\n');
    if (lf == std::string_view::npos) {
      if (rest.size() > limit || line_.size() > limit - rest.size()) {
        fail_line_too_long();
        return rest.size();
      }
      line_.append(rest);
      return rest.size();
    }
    std::size_t taken = lf + 1;
    if (taken > limit || line_.size() > limit - taken) {
      fail_line_too_long();
      return taken;
    }
    std::string_view line;
    if (line_.empty()) {
      line = rest.substr(0, taken);
    } else {
      line_.append(rest.substr(0, taken));
      line = line_;
    }
    if (in_head()) {
      head_bytes_ += line.size();
    }
    // RFC 9112 §2.2 lets a recipient accept a bare LF; we do not, because
    // disagreeing about line ends is a request-smuggling vector.
    if (line.size() < 2 || line[line.size() - 2] != '\r') {
      fail(400, "a line does not end in CRLF");
    } else {
      process_line(line.substr(0, line.size() - 2));
    }
    line_.clear();
    return taken;
  }

  void process_line(std::string_view line) {
    switch (state_) {
      case state::start_line:
        // RFC 9112 §2.2: ignore empty lines before a request line (some clients
        // send an extra CRLF after a POST body). head_bytes_ bounds how many.
        if (!line.empty()) {
          parse_start_line(line);
        }
        return;
      case state::fields:
        if (line.empty()) {
          end_of_head();
        } else {
          parse_field(line, msg_.headers);
        }
        return;
      case state::trailers:
        if (line.empty()) {
          state_ = state::complete;
        } else {
          parse_field(line, msg_.trailers);
        }
        return;
      case state::chunk_line:
        parse_chunk_line(line);
        return;
      case state::chunk_data_end:
        if (!line.empty()) {
          fail(400, "chunk data is not followed by CRLF");
        } else {
          state_ = state::chunk_line;
        }
        return;
      default:
        return;
    }
  }

  // "HTTP/" DIGIT "." DIGIT, RFC 9112 §2.3. Returns false after fail().
  bool parse_version(std::string_view text) {
    if (text.size() != 8 || text.substr(0, 5) != "HTTP/" || !is_digit(text[5]) || text[6] != '.' ||
        !is_digit(text[7])) {
      return fail(400, "malformed HTTP version");
    }
    if (text[5] != '1') {
      return fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
    }
    msg_.version = text[7] == '0' ? version::http_1_0 : version::http_1_1;
    return true;
  }

  void parse_start_line(std::string_view line) {
    if constexpr (is_request) {
      // method SP request-target SP HTTP-version (RFC 9112 §3)
      std::size_t sp1 = line.find(' ');
      if (sp1 == std::string_view::npos) {
        fail(400, "malformed request line");
        return;
      }
      std::string_view method = line.substr(0, sp1);
      std::string_view rest = line.substr(sp1 + 1);
      std::size_t sp2 = rest.find(' ');
      if (sp2 == std::string_view::npos || !is_token(method)) {
        fail(400, "malformed request line");
        return;
      }
      std::string_view target = rest.substr(0, sp2);
      if (target.empty()) {
        fail(400, "malformed request line");
        return;
      }
      for (char c : target) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) {
          fail(400, "invalid character in the request target");
          return;
        }
      }
      if (!parse_version(rest.substr(sp2 + 1))) {
        return;
      }
      msg_.method.assign(method);
      msg_.target.assign(target);
    } else {
      // HTTP-version SP 3DIGIT SP [ reason-phrase ] (RFC 9112 §4); a missing
      // SP before an empty reason is accepted, as browsers do.
      if (line.size() < 12 || line[8] != ' ' || !parse_version(line.substr(0, 8))) {
        if (state_ != state::error) {
          fail(400, "malformed status line");
        }
        return;
      }
      std::string_view code = line.substr(9, 3);
      if (code[0] < '1' || !is_digit(code[0]) || !is_digit(code[1]) || !is_digit(code[2]) ||
          (line.size() > 12 && line[12] != ' ')) {
        fail(400, "malformed status line");
        return;
      }
      std::string_view reason = line.size() > 13 ? line.substr(13) : std::string_view{};
      if (!is_field_value(reason)) {
        fail(400, "control character in the reason phrase");
        return;
      }
      msg_.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
      msg_.reason.assign(reason);
    }
    state_ = state::fields;
  }

  // field-name ":" OWS field-value OWS (RFC 9112 §5)
  void parse_field(std::string_view line, headers& into) {
    if (is_ows(line.front())) {
      // Obsolete line folding (§5.2), or whitespace before the first field
      // (§2.2). A server may reject a fold, and does; a user agent must
      // replace it with SP, so the response parser joins it to the field.
      if (is_request || into.empty()) {
        fail(400, "obsolete line folding is not accepted");
        return;
      }
      std::string_view more = trim_ows(line);
      if (!is_field_value(more)) {
        fail(400, "control character in a header field value");
        return;
      }
      if (!more.empty()) {
        if (!into[into.size() - 1].value.empty()) {
          into.extend_last_unchecked(" ");
        }
        into.extend_last_unchecked(more);
      }
      return;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      fail(400, "malformed header field");
      return;
    }
    std::string_view name = line.substr(0, colon);
    if (!is_token(name)) {
      // Also catches whitespace between name and colon, which §5.1 forbids.
      fail(400, "malformed header field name");
      return;
    }
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (!is_field_value(value)) {
      fail(400, "control character in a header field value");
      return;
    }
    into.add_unchecked(name, value);
  }

  // Reads every Content-Length field; they must agree (RFC 9110 §8.6), and
  // each must list at least one value. Returns false after fail().
  bool content_length(std::uint64_t& length) {
    bool seen = false;
    bool too_big = false;
    std::uint64_t value = 0;
    for (field f : msg_.headers) {
      if (!iequals(f.name, "content-length")) {
        continue;
      }
      std::size_t elements = 0;
      bool valid = for_each_list_element(f.value, [&](std::string_view element) {
        std::uint64_t v = 0;
        bool big = false;
        for (char c : element) {
          if (!is_digit(c)) {
            return false;
          }
          if (v > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) {
            big = true;  // saturates: past every limit, the exact value does not matter
          } else {
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
          }
        }
        if (seen && (big != too_big || (!big && v != value))) {
          return false;
        }
        seen = true;
        value = v;
        too_big = big;
        ++elements;
        return true;
      });
      if (!valid || elements == 0) {
        return fail(400, "invalid or conflicting Content-Length");
      }
    }
    if (too_big || value > limits_.max_body_bytes) {
      return fail(413, "the body exceeds the size limit");
    }
    length = value;
    return true;
  }

  void end_of_head() {
    keep_alive_ = msg_.keep_alive();
    frame_body();
    if constexpr (is_request) {
      expects_continue_ = (state_ == state::body_length || state_ == state::chunk_line) &&
                          msg_.version == version::http_1_1 &&
                          msg_.headers.has_token("expect", "100-continue");
    }
  }

  // Decides how the body is framed once the header section ends (RFC 9112 §6.3).
  void frame_body() {
    bool has_te = msg_.headers.contains("transfer-encoding");
    bool has_cl = msg_.headers.contains("content-length");
    if constexpr (is_request) {
      std::size_t hosts = msg_.headers.count("host");
      if (hosts > 1 || (hosts == 0 && msg_.version == version::http_1_1)) {
        fail(400, "an HTTP/1.1 request needs exactly one Host field");
        return;
      }
      if (hosts == 1 && !is_host_value(*msg_.headers.get("host"))) {
        fail(400, "invalid Host field");
        return;
      }
    } else {
      if (msg_.status >= 100 && msg_.status < 200 && msg_.status != 101) {
        // An interim response (100 Continue, 103 Early Hints): skip it, the
        // final response follows on the same connection (RFC 9110 §15.2).
        msg_ = Message{};
        state_ = state::start_line;
        return;
      }
      if (head_request_ || !status_allows_body(msg_.status)) {
        state_ = state::complete;
        return;
      }
    }
    if (has_te) {
      if (has_cl) {
        // Either could be right; a smuggling attempt looks exactly like this.
        fail(400, "both Transfer-Encoding and Content-Length are present");
        return;
      }
      if (msg_.version == version::http_1_0) {
        fail(400, "Transfer-Encoding in an HTTP/1.0 message");
        return;
      }
      start_chunked();
      return;
    }
    if (has_cl) {
      std::uint64_t length = 0;
      if (!content_length(length)) {
        return;
      }
      remaining_ = length;
      msg_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(length, 64 * 1024)));
      state_ = length == 0 ? state::complete : state::body_length;
      return;
    }
    if constexpr (is_request) {
      state_ = state::complete;  // no framing fields: no body (RFC 9112 §6.3 rule 6)
    } else {
      state_ = state::body_until_eof;  // the body ends when the server closes (rule 8)
      keep_alive_ = false;
    }
  }

  // Only "chunked", applied once and last, is supported (RFC 9112 §6.1).
  void start_chunked() {
    int codings = 0;
    bool chunked_last = false;
    bool chunked_earlier = false;
    bool malformed = false;
    for (field f : msg_.headers) {
      if (!iequals(f.name, "transfer-encoding")) {
        continue;
      }
      for_each_list_element(f.value, [&](std::string_view coding) {
        if (!is_token(coding)) {
          malformed = true;
          return false;
        }
        ++codings;
        chunked_earlier = chunked_earlier || chunked_last;
        chunked_last = iequals(coding, "chunked");
        return true;
      });
    }
    if (malformed || codings == 0) {
      fail(400, "malformed Transfer-Encoding");
      return;
    }
    if constexpr (!is_request) {
      if (!chunked_last) {
        // RFC 9112 §6.3 rule 4: the body, in the codings listed, ends when
        // the server closes. The caller sees the codings in the field.
        state_ = state::body_until_eof;
        keep_alive_ = false;
        return;
      }
    }
    if (!chunked_last || chunked_earlier) {
      fail(400, "Transfer-Encoding must end in chunked, applied once");
      return;
    }
    if (codings > 1) {
      fail(501, "unsupported transfer coding (only chunked is implemented)");
      return;
    }
    state_ = state::chunk_line;
  }

  // chunk-size [ chunk-ext ] (RFC 9112 §7.1), with
  // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] )
  void parse_chunk_line(std::string_view line) {
    std::size_t i = 0;
    std::uint64_t size = 0;
    bool too_big = false;
    for (; i < line.size(); ++i) {
      char c = line[i];
      int digit = is_digit(c)              ? c - '0'
                  : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                           : -1;
      if (digit < 0) {
        break;
      }
      if (size > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
        too_big = true;
      } else {
        size = size * 16 + static_cast<std::uint64_t>(digit);
      }
    }
    if (i == 0) {
      fail(400, "malformed chunk size");
      return;
    }
    std::string_view ext = line.substr(i);
    extension_bytes_ += ext.size();
    if (extension_bytes_ > limits_.max_header_bytes) {
      fail(400, "chunk extensions exceed the header size limit");
      return;
    }
    if (!valid_chunk_extensions(ext)) {
      fail(400, "malformed chunk extension");
      return;
    }
    if (too_big || size > limits_.max_body_bytes - msg_.body.size()) {
      fail(413, "the body exceeds the size limit");
      return;
    }
    remaining_ = size;
    state_ = size == 0 ? state::trailers : state::chunk_data;
  }

  static bool valid_chunk_extensions(std::string_view ext) noexcept {
    std::size_t i = 0;
    auto skip_bws = [&] {
      while (i < ext.size() && is_ows(ext[i])) {
        ++i;
      }
    };
    auto token = [&] {
      std::size_t start = i;
      while (i < ext.size() && is_tchar(ext[i])) {
        ++i;
      }
      return i > start;
    };
    while (true) {
      // BWS only ever precedes a ";": "5 \r\n" and "5;a \r\n" are malformed.
      if (i == ext.size()) {
        return true;
      }
      skip_bws();
      if (i == ext.size() || ext[i] != ';') {
        return false;
      }
      ++i;
      skip_bws();
      if (!token()) {
        return false;
      }
      const std::size_t name_end = i;
      skip_bws();
      if (i == ext.size() || ext[i] != '=') {
        i = name_end;  // the BWS belongs to the next extension, if one follows
        continue;
      }
      ++i;
      skip_bws();
      if (i < ext.size() && ext[i] == '"') {
        // quoted-string: qdtext / quoted-pair, RFC 9110 §5.6.4
        ++i;
        bool closed = false;
        while (i < ext.size()) {
          char c = ext[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i == ext.size() || !is_field_value_char(ext[i])) {
              return false;
            }
            ++i;
          } else if (!is_field_value_char(c)) {
            return false;
          }
        }
        if (!closed) {
          return false;
        }
      } else if (!token()) {
        return false;
      }
    }
  }

  // Data that does not change once constructed.
  parser_limits limits_;
  // The message being parsed, and where the parser is in it.
  Message msg_;
  state state_ = state::start_line;
  std::string line_;             // a line split across feeds; capacity is reused
  std::size_t head_bytes_ = 0;   // start line + fields + trailers so far
  std::uint64_t remaining_ = 0;  // body or chunk bytes still to come
  std::size_t extension_bytes_ = 0;
  bool keep_alive_ = false;
  bool expects_continue_ = false;
  bool head_request_ = false;
  parse_error error_;
};

}  // namespace detail

/// Parses HTTP/1.1 requests incrementally, for a server.
///
/// Feed it bytes as they arrive, in pieces of any size (one byte at a time
/// works). `feed` consumes what it is given and answers need_more until a
/// request is complete; then `consumed` tells where that request ended, and
/// the bytes after it (a pipelined request) must be fed again. After an error
/// the parser stays failed: answer with `error().status` and close.
///
/// Rules it enforces: CRLF line ends; a token method and a visible-ASCII
/// target; HTTP/1.0 or 1.1 (other majors are 505); exactly one Host in
/// HTTP/1.1, whose value is `uri-host [":" port]` without a comma (400); no
/// obsolete line folding and no control characters in fields
/// (400); Content-Length values that agree (400); Transfer-Encoding "chunked"
/// only, never together with Content-Length (400; other codings 501); the
/// limits in `parser_limits` (413, 414, 431); chunk-size lines as RFC 9112
/// §7.1 writes them (whitespace only before a `;`). A request without
/// Content-Length or Transfer-Encoding has no body.
///
/// Throws: std::bad_alloc; take() throws std::logic_error if no request is complete.
/// Lifetime: the parser copies what it keeps, so each fed buffer may be
///   reused as soon as feed returns.
/// Thread safety: a plain value; use one parser per connection.
/// Example:
///   corio::http::request_parser parser;
///   auto r = parser.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
///   // r.status == parse_status::complete, r.consumed == 27
///   corio::http::request req = parser.take();
///
///   // A server's connection loop, on a corio::net::tcp_stream:
///   std::array<std::byte, 16384> buffer;
///   std::span<const std::byte> pending;
///   while (true) {
///     if (pending.empty()) {
///       std::size_t n = co_await stream.read_some(buffer);
///       if (n == 0) {
///         break;  // on_eof() tells a clean close from a cut-short request
///       }
///       pending = std::span(buffer).first(n);
///     }
///     auto r = parser.feed(pending);
///     pending = pending.subspan(r.consumed);
///     if (r.status == parse_status::error) {
///       // write {parser.error().status, {}, ...} with keep_alive = false, then close
///     }
///     if (r.status != parse_status::complete) {
///       continue;
///     }
///     bool keep = parser.keep_alive();
///     corio::http::response res = co_await handler(parser.take());
///     co_await stream.write_all(corio::http::serialize(res, {.keep_alive = keep}));
///     if (!keep) {
///       break;
///     }
///   }
class request_parser {
 public:
  explicit request_parser(parser_limits limits = {}) : core_(limits) {}

  /// Consumes bytes of `data`; see the class description.
  ///
  /// After complete, the next feed starts a new request (the completed one
  /// is discarded if it was not taken).
  parse_result feed(std::string_view data) { return core_.feed(data); }

  /// Consumes bytes of `data`, as feed(std::string_view).
  parse_result feed(std::span<const std::byte> data) {
    // Reading bytes through a char pointer is always allowed (basic.lval).
    return core_.feed({reinterpret_cast<const char*>(data.data()), data.size()});
  }

  /// Reports that the peer closed its sending side.
  ///
  /// Returns closed if no part of a request was pending (a clean close), or
  /// error (400) if a request was cut short.
  parse_result on_eof() { return core_.on_eof(); }

  /// Returns the request parsed so far; whole once feed returned complete.
  [[nodiscard]] const request& message() const noexcept { return core_.message(); }

  /// Moves the completed request out.
  ///
  /// Throws: std::logic_error unless the last feed returned complete and the
  ///   request was not taken yet.
  [[nodiscard]] request take() { return core_.take(); }

  /// Returns whether the connection may serve another request after this
  /// one (version and Connection rules); valid once complete.
  [[nodiscard]] bool keep_alive() const noexcept { return core_.keep_alive(); }

  /// Returns whether the client waits for "100 Continue" before sending the
  /// body: true from the end of the header section of an HTTP/1.1 request
  /// with `Expect: 100-continue`. A server answers with
  /// "HTTP/1.1 100 Continue\r\n\r\n" once, then keeps feeding.
  [[nodiscard]] bool expects_continue() const noexcept { return core_.expects_continue(); }

  /// Returns why the last feed returned error.
  [[nodiscard]] const parse_error& error() const noexcept { return core_.error(); }

  /// Forgets any partial or completed request and any error; keeps the limits.
  void reset() { core_.reset(); }

 private:
  detail::parser_core<request> core_;
};

/// Parses HTTP/1.1 responses incrementally, for a client.
///
/// Used like request_parser: feed bytes as they arrive until complete, then
/// take() the response; bytes after `consumed` belong to the next response.
/// When the connection reaches end of stream, call on_eof(): a response
/// without Content-Length or Transfer-Encoding ends there (RFC 9112 §6.3),
/// and that is the only way it completes.
///
/// Framing: a response to HEAD (see set_request_method) and every 1xx, 204
/// and 304 response has no body. Interim 1xx responses other than 101 are
/// skipped: the parser returns the final response that follows them.
/// Otherwise chunked, Content-Length or until-EOF, with the checks of
/// request_parser, except two that RFC 9112 sets for user agents: an
/// obsolete line fold is replaced with one space (§5.2), and a
/// Transfer-Encoding whose last coding is not chunked (e.g. gzip) makes the
/// body end at EOF (§6.3 rule 4), still encoded as that field says; `error().status` classifies a
/// fault with the same numbers (400 malformed, 413 body too large, 431 head too large, 501
/// unsupported transfer coding, 505 unsupported version).
///
/// Throws: std::bad_alloc; take() throws std::logic_error if no response is complete.
/// Lifetime: the parser copies what it keeps, so each fed buffer may be
///   reused as soon as feed returns.
/// Thread safety: a plain value; use one parser per connection.
/// Example:
///   corio::http::response_parser parser;
///   parser.feed("HTTP/1.0 200 OK\r\n\r\nhello");  // need_more: the body ends at EOF
///   parser.on_eof();                                 // complete
///   corio::http::response res = parser.take();       // res.body == "hello"
///
///   // A client, after writing the request on `stream`:
///   parser.set_request_method(req.method);
///   while (true) {
///     std::size_t n = co_await stream.read_some(buffer);
///     auto r = n == 0 ? parser.on_eof() : parser.feed(std::span(buffer).first(n));
///     if (r.status == parse_status::complete) {
///       co_return parser.take();  // reuse `stream` only if parser.keep_alive()
///     }
///     if (r.status != parse_status::need_more) {
///       // closed: a stale keep-alive connection, retry; error: throw
///     }
///   }
class response_parser {
 public:
  explicit response_parser(parser_limits limits = {}) : core_(limits) {}

  /// Tells the parser which request method the next responses answer.
  ///
  /// Only "HEAD" matters: its response carries no body whatever its
  /// Content-Length says. The setting lasts until changed.
  void set_request_method(std::string_view method) noexcept {
    core_.set_head_request(method == "HEAD");
  }

  /// Consumes bytes of `data`; see the class description.
  ///
  /// After complete, the next feed starts a new response (the completed one
  /// is discarded if it was not taken).
  parse_result feed(std::string_view data) { return core_.feed(data); }

  /// Consumes bytes of `data`, as feed(std::string_view).
  parse_result feed(std::span<const std::byte> data) {
    return core_.feed({reinterpret_cast<const char*>(data.data()), data.size()});
  }

  /// Reports that the server closed the connection.
  ///
  /// Returns complete if the pending response ends at EOF (take() it),
  /// closed if no response was pending (a stale keep-alive connection: retry
  /// on a new one), or error (400) if a response was cut short.
  parse_result on_eof() { return core_.on_eof(); }

  /// Returns the response parsed so far; whole once feed returned complete.
  [[nodiscard]] const response& message() const noexcept { return core_.message(); }

  /// Moves the completed response out.
  ///
  /// Throws: std::logic_error unless the last feed or on_eof returned
  ///   complete and the response was not taken yet.
  [[nodiscard]] response take() { return core_.take(); }

  /// Returns whether the connection may carry another request after this
  /// response: false for HTTP/1.0 without keep-alive, `Connection: close`,
  /// or a body that ended at EOF. Valid once complete.
  [[nodiscard]] bool keep_alive() const noexcept { return core_.keep_alive(); }

  /// Returns why the last feed or on_eof returned error.
  [[nodiscard]] const parse_error& error() const noexcept { return core_.error(); }

  /// Forgets any partial or completed response and any error; keeps the
  /// limits and the request method.
  void reset() { core_.reset(); }

 private:
  detail::parser_core<response> core_;
};

}  // namespace corio::http
