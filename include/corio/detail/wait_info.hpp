// SPDX-License-Identifier: MIT
// corio/detail/wait_info.hpp: what a parked leaf says about its wait, for the
// call graph (call_graph.hpp). Filled only when someone asks.
#pragma once

#include <corio/source_location.hpp>

#include <corio/detail/timer_heap.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace corio::detail {

class task_context;

struct wait_info {
  // A unit this wait waits for that is not a spawned task: a gather child,
  // wait_for's child. (A joined spawned task is listed by the loop itself.)
  struct child {
    const task_context* context;
    std::string name;
    source_location where;
  };
  std::string what;  // "sleep until +1.500 s", "recv on fd 5", "queue get", ...
  std::vector<child> children;
};

// "due in 1.500 s" (or "overdue by ..."), relative to the loop's clock.
inline std::string describe_deadline(std::chrono::steady_clock::time_point deadline) {
  if (deadline == std::chrono::steady_clock::time_point::max())
    return "no deadline";
  const auto left = std::chrono::duration<double>(deadline - loop_now());
  char text[64];
  std::snprintf(text, sizeof text, "%s %.3f s", left.count() >= 0 ? "due in" : "overdue by",
                left.count() >= 0 ? left.count() : -left.count());
  return text;
}

}  // namespace corio::detail
