// SPDX-License-Identifier: MIT
// corio/detail/result.hpp: storage for a task's value (void and references too).
#pragma once

#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <variant>

namespace corio::detail {

// What gather, tuples and outcome<T> store for a T: void becomes std::monostate
// so positions in a tuple still match the arguments.
template <class T>
using non_void_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
class value_storage;

// Holds a value of T once set; T may be a reference (kept as a pointer) or void.
// A trivially destructible T needs no flag saying whether it was set, which
// keeps task<long>'s frame in a smaller malloc size class (W1: a million frames).
template <class T>
requires std::is_trivially_destructible_v<T>
class value_storage<T> {
 public:
  template <class U>
  void set_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    ::new (static_cast<void*>(&storage_)) T(std::forward<U>(value));
  }
  T take_value() noexcept(std::is_nothrow_move_constructible_v<T>) {
    return std::move(*std::launder(reinterpret_cast<T*>(&storage_)));
  }

 private:
  alignas(T) unsigned char storage_[sizeof(T)];
};

template <class T>
class value_storage {
 public:
  value_storage() noexcept {}
  value_storage(const value_storage&) = delete;
  value_storage& operator=(const value_storage&) = delete;
  ~value_storage() {
    if (has_value_)
      std::destroy_at(pointer());
  }

  template <class U>
  void set_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    ::new (static_cast<void*>(&storage_)) T(std::forward<U>(value));
    has_value_ = true;
  }
  T take_value() noexcept(std::is_nothrow_move_constructible_v<T>) { return std::move(*pointer()); }

 private:
  T* pointer() noexcept { return std::launder(reinterpret_cast<T*>(&storage_)); }

  alignas(T) unsigned char storage_[sizeof(T)];
  bool has_value_ = false;
};

template <class T>
class value_storage<T&> {
 public:
  void set_value(T& value) noexcept { value_ = std::addressof(value); }
  T& take_value() noexcept { return *value_; }

 private:
  T* value_ = nullptr;
};

template <>
class value_storage<void> {
 public:
  void take_value() noexcept {}
};

}  // namespace corio::detail
