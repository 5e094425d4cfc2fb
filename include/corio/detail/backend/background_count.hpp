// SPDX-License-Identifier: MIT
// corio/detail/backend/background_count.hpp: how many of a backend's operations do
// not keep the loop waiting (the loop's own signal watch), for both backends.
#pragma once

namespace corio::detail {

// A backend derives from this; its busy() and operations() leave background_ out.
class background_count {
 public:
  // An operation that does not keep the loop waiting starts (`waiting` true) or
  // stops being one (it completed, or is being cancelled and the loop must now
  // wait for its end).
  void count_background(bool waiting) noexcept {
    if (waiting)
      ++background_;
    else
      --background_;
  }
  bool has_background() const noexcept { return background_ > 0; }

 protected:
  unsigned background_ = 0;
};

}  // namespace corio::detail
