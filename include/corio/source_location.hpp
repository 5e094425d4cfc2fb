// SPDX-License-Identifier: MIT
// corio/source_location.hpp: source_location, where a task was created.
#pragma once

namespace corio {

/// A place in the source: file, line and function, as std::source_location.
///
/// corio's own type because clang before 15 with libstdc++ has no
/// std::source_location; it is filled by the compiler builtins that every
/// supported g++ and clang++ provide. It holds pointers to static strings
/// and a line, so it is free to copy and needs no allocation.
/// Example:
///   void log(corio::source_location where = corio::source_location::current());
class source_location {
 public:
  constexpr source_location() noexcept = default;

  /// The place of the call: as a defaulted argument, the caller's place.
  static constexpr source_location current(const char* file = __builtin_FILE(),
                                           const char* function = __builtin_FUNCTION(),
                                           unsigned line = __builtin_LINE()) noexcept {
    source_location where;
    where.file_ = file;
    where.function_ = function;
    where.line_ = line;
    return where;
  }

  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }
  /// The line; 0 for a default-made (unknown) location.
  constexpr unsigned line() const noexcept { return line_; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  unsigned line_ = 0;
};

}  // namespace corio
