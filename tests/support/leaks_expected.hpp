// SPDX-License-Identifier: MIT
// tests/support/leaks_expected.hpp: for a test whose tasks deadlock on purpose.
//
// run() leaves the frames of deadlocked tasks suspended rather than destroying
// them under whatever they wait for; LeakSanitizer would report them. Objects
// allocated while a leaks_expected is alive are not reported.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#  define CORIO_TEST_LSAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define CORIO_TEST_LSAN 1
#  endif
#endif

#ifdef CORIO_TEST_LSAN
#  include <sanitizer/lsan_interface.h>
#endif

namespace corio_test {

class leaks_expected {
 public:
#ifdef CORIO_TEST_LSAN
  leaks_expected() noexcept {
    __lsan_disable();
  }
  ~leaks_expected() {
    __lsan_enable();
  }
#else
  leaks_expected() noexcept {
  }  // user-provided, so a named guard is not "unused"
  ~leaks_expected() {
  }
#endif
  leaks_expected(const leaks_expected&) = delete;
  leaks_expected& operator=(const leaks_expected&) = delete;
};

}  // namespace corio_test
