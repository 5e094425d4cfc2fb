// SPDX-License-Identifier: MIT
// corio/http/headers.hpp: an ordered HTTP header collection with case-insensitive lookup.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corio::http {

namespace detail {

// ASCII-only character classes from RFC 9110 §5.6. They never consult the C
// locale: HTTP syntax is bytes, and a locale-dependent isalpha would be a bug.

[[nodiscard]] constexpr char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) {
      return false;
    }
  }
  return true;
}

[[nodiscard]] constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

[[nodiscard]] constexpr bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// tchar: the characters of a token (method, field name, transfer coding).
[[nodiscard]] constexpr bool is_tchar(char c) noexcept {
  if (is_alpha(c) || is_digit(c)) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

[[nodiscard]] constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!is_tchar(c)) {
      return false;
    }
  }
  return true;
}

// field-vchar / SP / HTAB: everything but the control characters (NUL, CR, LF,
// ... and DEL). Bytes >= 0x80 (obs-text) are allowed, as RFC 9110 §5.5 says.
[[nodiscard]] constexpr bool is_field_value_char(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

[[nodiscard]] constexpr bool is_field_value(std::string_view s) noexcept {
  for (char c : s) {
    if (!is_field_value_char(c)) {
      return false;
    }
  }
  return true;
}

[[nodiscard]] constexpr bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

[[nodiscard]] constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_ows(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// Calls fn(element) for each non-empty element of a comma-separated list
// (RFC 9110 §5.6.1), with optional whitespace trimmed; stops early when fn
// returns false. Returns false if it stopped early.
template <typename Fn>
constexpr bool for_each_list_element(std::string_view list, Fn fn) {
  while (true) {
    std::size_t comma = list.find(',');
    std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && !fn(element)) {
      return false;
    }
    if (comma == std::string_view::npos) {
      return true;
    }
    list.remove_prefix(comma + 1);
  }
}

template <typename Message>
class parser_core;  // corio/http/parser.hpp

}  // namespace detail

/// One header field: a name and its value, both viewing the owning `headers`.
struct field {
  std::string_view name;
  std::string_view value;
};

/// An ordered list of HTTP header fields with case-insensitive name lookup.
///
/// Fields keep the order in which they were added, and repeated names are
/// kept as separate fields (as received). Names and values live in one
/// contiguous buffer, so a typical message costs two allocations however many
/// fields it has.
///
/// Throws: `add`, `set` and the list constructor throw std::invalid_argument
///   when a name is not an HTTP token or a value holds a control character
///   (CR, LF, NUL, ...): such a field could never be sent safely. They may
///   also throw std::bad_alloc.
/// Lifetime: the string_views that `get`, `operator[]` and iteration return
///   stay valid until the collection is next modified or destroyed.
/// Thread safety: a plain value type; concurrent reads are safe, a write
///   needs exclusive access.
/// Example:
///   corio::http::headers h{{"Content-Type", "application/json"}};
///   h.add("Set-Cookie", "a=1");
///   std::optional<std::string_view> type = h.get("content-type");  // "application/json"
class headers {
 public:
  class const_iterator;

  headers() = default;

  /// Adds each `{name, value}` pair in order, as `add` does.
  headers(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    for (const auto& [name, value] : fields) {
      add(name, value);
    }
  }

  /// Appends a field, keeping any earlier field with the same name.
  ///
  /// Leading and trailing spaces and tabs of `value` are dropped, as a
  /// receiver would drop them.
  /// Throws: std::invalid_argument if `name` is not a token or `value` holds
  ///   a control character other than HTAB.
  void add(std::string_view name, std::string_view value) {
    value = detail::trim_ows(value);
    if (!detail::is_token(name)) {
      throw std::invalid_argument("corio::http::headers: invalid field name \"" +
                                  std::string(name) + "\"");
    }
    if (!detail::is_field_value(value)) {
      throw std::invalid_argument("corio::http::headers: control character in the value of " +
                                  std::string(name));
    }
    add_unchecked(name, value);
  }

  /// Replaces every field named `name` with a single field at the end.
  ///
  /// Throws: as `add`.
  void set(std::string_view name, std::string_view value) {
    std::string name_copy(name);  // either view may point into this collection's buffer
    std::string value_copy(value);
    remove(name_copy);
    add(name_copy, value_copy);
  }

  /// Removes every field whose name equals `name` (ignoring case); returns how many.
  std::size_t remove(std::string_view name) {
    std::string kept;
    std::vector<entry> kept_entries;
    std::size_t removed = 0;
    for (const entry& e : entries_) {
      if (detail::iequals(view(e.name_offset, e.name_size), name)) {
        ++removed;
        continue;
      }
      entry moved = e;
      moved.name_offset = kept.size();
      kept.append(view(e.name_offset, e.name_size));
      moved.value_offset = kept.size();
      kept.append(view(e.value_offset, e.value_size));
      kept_entries.push_back(moved);
    }
    if (removed != 0) {
      data_ = std::move(kept);
      entries_ = std::move(kept_entries);
    }
    return removed;
  }

  /// Returns the value of the first field named `name` (ignoring case), if any.
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const noexcept {
    for (const entry& e : entries_) {
      if (detail::iequals(view(e.name_offset, e.name_size), name)) {
        return view(e.value_offset, e.value_size);
      }
    }
    return std::nullopt;
  }

  /// Returns whether a field named `name` is present (ignoring case).
  [[nodiscard]] bool contains(std::string_view name) const noexcept {
    return get(name).has_value();
  }

  /// Returns how many fields are named `name` (ignoring case).
  [[nodiscard]] std::size_t count(std::string_view name) const noexcept {
    std::size_t n = 0;
    for (const entry& e : entries_) {
      n += detail::iequals(view(e.name_offset, e.name_size), name) ? 1U : 0U;
    }
    return n;
  }

  /// Returns whether any field named `name` lists `token` among its
  /// comma-separated elements, both compared ignoring case.
  ///
  /// Example:
  ///   // "Connection: keep-alive, Upgrade"
  ///   h.has_token("connection", "upgrade");  // true
  [[nodiscard]] bool has_token(std::string_view name, std::string_view token) const noexcept {
    for (const entry& e : entries_) {
      if (!detail::iequals(view(e.name_offset, e.name_size), name)) {
        continue;
      }
      bool found = !detail::for_each_list_element(
          view(e.value_offset, e.value_size),
          [token](std::string_view element) { return !detail::iequals(element, token); });
      if (found) {
        return true;
      }
    }
    return false;
  }

  /// Returns the field at position `index` (in the order added); `index` must be < size().
  [[nodiscard]] field operator[](std::size_t index) const noexcept {
    const entry& e = entries_[index];
    return {view(e.name_offset, e.name_size), view(e.value_offset, e.value_size)};
  }

  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }

  /// Removes every field, keeping the allocated capacity for reuse.
  void clear() noexcept {
    data_.clear();
    entries_.clear();
  }

  [[nodiscard]] const_iterator begin() const noexcept;
  [[nodiscard]] const_iterator end() const noexcept;

  friend bool operator==(const headers& a, const headers& b) noexcept {
    if (a.size() != b.size()) {
      return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!detail::iequals(a[i].name, b[i].name) || a[i].value != b[i].value) {
        return false;
      }
    }
    return true;
  }

 private:
  template <typename Message>
  friend class detail::parser_core;

  struct entry {
    std::size_t name_offset;
    std::size_t name_size;
    std::size_t value_offset;
    std::size_t value_size;
  };

  // For the parsers, which have validated name and value already.
  void add_unchecked(std::string_view name, std::string_view value) {
    entry e{data_.size(), name.size(), 0, value.size()};
    data_.append(name);
    e.value_offset = data_.size();
    data_.append(value);
    entries_.push_back(e);
  }

  // For the response parser: continues the value of the last field, which
  // ends data_, with `more` (an obsolete line fold, RFC 9112 §5.2).
  void extend_last_unchecked(std::string_view more) {
    data_.append(more);
    entries_.back().value_size += more.size();
  }

  [[nodiscard]] std::string_view view(std::size_t offset, std::size_t size) const noexcept {
    return std::string_view(data_).substr(offset, size);
  }

  std::string data_;  // every name and value, back to back
  std::vector<entry> entries_;
};

/// Iterates the fields of a `headers` in order, yielding `field` values.
class headers::const_iterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = field;
  using difference_type = std::ptrdiff_t;
  using reference = field;
  using pointer = void;

  const_iterator() = default;

  [[nodiscard]] field operator*() const noexcept { return (*owner_)[index_]; }
  const_iterator& operator++() noexcept {
    ++index_;
    return *this;
  }
  const_iterator operator++(int) noexcept {
    const_iterator old = *this;
    ++index_;
    return old;
  }
  friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept {
    return a.owner_ == b.owner_ && a.index_ == b.index_;
  }

 private:
  friend class headers;
  const_iterator(const headers* owner, std::size_t index) noexcept : owner_(owner), index_(index) {}

  const headers* owner_ = nullptr;
  std::size_t index_ = 0;
};

inline headers::const_iterator headers::begin() const noexcept {
  return {this, 0};
}
inline headers::const_iterator headers::end() const noexcept {
  return {this, entries_.size()};
}

}  // namespace corio::http
