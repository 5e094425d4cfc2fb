// SPDX-License-Identifier: MIT
// corio/call_graph.hpp: capture_call_graph() and print_call_graph(), every
// live task with where it waits and who waits for it (asyncio 3.14's
// capture_call_graph and print_call_graph).
#pragma once

#include <corio/event_loop.hpp>
#include <corio/source_location.hpp>
#include <corio/spawn.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/loop_core.hpp>
#include <corio/detail/signal_watch.hpp>
#include <corio/detail/spawned_task.hpp>
#include <corio/detail/wait_info.hpp>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace corio {

/// One live task of a call graph (see capture_call_graph).
struct task_info {
  /// The task's identity while it lives (the address of its context): the
  /// value other entries' awaited_by refer to.
  const void* id = nullptr;
  /// Its name: the one given to spawn(), else the function that created it.
  std::string name;
  /// Where it was created (run, spawn, task_group::spawn); line 0 when
  /// unknown (a gather's or wait_for's child, which carries its parent's place).
  source_location location;
  /// Where it is suspended now ("sleep, due in 1.000 s", "recv on fd 7",
  /// "queue get", "to_thread call", "await task 'worker'", "gather of 3
  /// children", ...); empty when it is running or ready to run.
  std::string awaiting;
  /// The file and line of the co_await that waits there (no function name).
  /// Line 0 when it is running, when the wait was awaited inside corio
  /// (gather, to_thread, wait_for, ...: their own co_await), and with g++,
  /// which cannot record it at no cost (see CORIO_DETAIL_AWAIT_LOCATION in
  /// config.hpp); clang records it.
  source_location awaiting_location;
  /// The id of the task that waits for this one to finish (through a
  /// join_handle, gather, wait_for or task_group::wait), or nullptr.
  const void* awaited_by = nullptr;
};

namespace detail {

class call_graph_builder {
 public:
  std::vector<task_info> tasks;

  void visit(const task_context& context, std::string name, source_location where,
             const void* awaited_by) {
    task_info info;
    info.id = &context;
    info.name = std::move(name);
    info.location = where;
    info.awaited_by = awaited_by;
    wait_info wait;
    if (const suspension* leaf = context.leaf()) {
      if (leaf->describer() != nullptr)
        leaf->describer()(*leaf, wait);
      else
        wait.what = "a wait that does not describe itself";
      if (!inside_corio(leaf->awaited_file()))
        info.awaiting_location =
            source_location::current(leaf->awaited_file(), "", leaf->awaited_line());
    }
    info.awaiting = std::move(wait.what);
    tasks.push_back(std::move(info));
    for (auto& child : wait.children) {
      const source_location child_where = child.where.line() != 0 ? child.where : where;
      visit(*child.context, std::move(child.name), child_where, &context);
    }
  }

  // A co_await in corio's own headers (inside gather, to_thread, ...) says
  // nothing to the reader: those are left out. This header's directory is
  // theirs, spelled the same way by the same include path.
  static bool inside_corio(std::string_view file) noexcept {
    constexpr std::string_view self = __FILE__;
    constexpr std::string_view dir = self.substr(0, self.size() - sizeof("call_graph.hpp") + 1);
    return file.substr(0, dir.size()) == dir;
  }

  // The task that waits for `t`: its joiner, else its group's wait().
  static const void* awaiter_of(const spawned_task& t) noexcept {
    const suspension* joiner = t.joiner();
    if (joiner == nullptr && t.group() != nullptr)
      joiner = t.group()->group_waiter();
    return joiner != nullptr ? joiner->context() : nullptr;
  }
};

}  // namespace detail

/// Every live task of the loop running on this thread: run()'s main task,
/// each spawned task, and the children of gathers and wait_for calls; each
/// with its name, where it was created, where it is suspended and who waits
/// for it. Depth first from the main task, then the spawned tasks in the order
/// they were spawned (each followed by the children it waits for).
///
/// It walks the links the loop keeps anyway (the list of spawned tasks, the
/// wait each task is parked on), so it costs nothing until it is called.
/// Throws: std::logic_error if no loop runs on this thread.
/// Thread safety: call on the loop's thread (from a task).
/// Example:
///   for (const corio::task_info& t : corio::capture_call_graph())
///     std::printf("%s: %s\n", t.name.c_str(), t.awaiting.c_str());
inline std::vector<task_info> capture_call_graph() {
  detail::loop_core& loop = detail::loop_core::current();
  detail::call_graph_builder builder;
  if (const detail::root_task& root = loop.root(); root.context != nullptr)
    builder.visit(*root.context, root.where.function_name(), root.where, nullptr);
  loop.for_each_live_task([&](detail::live_task& t) {
    auto& spawned = static_cast<detail::spawned_task&>(t);
    builder.visit(t, t.name(), t.where(), detail::call_graph_builder::awaiter_of(spawned));
  });
  return std::move(builder.tasks);
}

/// Prints capture_call_graph() to `out`, in the shape of asyncio's
/// print_call_graph:
///
///   * Task(name='worker', id=0x5581e2a0c2d0)
///     + Created at: File 'server.cpp', line 42, in serve
///     + Suspended at: recv on fd 7
///     + Awaited by:
///        * Task(name='main', id=0x7ffd1c4a9e40)
///
/// Throws: std::logic_error if no loop runs on this thread.
/// Thread safety: call on the loop's thread (from a task).
inline void print_call_graph(std::FILE* out = stderr) {
  const std::vector<task_info> tasks = capture_call_graph();
  for (const task_info& t : tasks) {
    std::fprintf(out, "* Task(name='%s', id=%p)\n", t.name.c_str(), t.id);
    if (t.location.line() != 0) {
      std::fprintf(out, "  + Created at: File '%s', line %u, in %s\n", t.location.file_name(),
                   t.location.line(), t.location.function_name());
    }
    if (t.awaiting.empty())
      std::fputs("  + Running or ready to run\n", out);
    else
      std::fprintf(out, "  + Suspended at: %s\n", t.awaiting.c_str());
    if (t.awaiting_location.line() != 0) {
      std::fprintf(out, "  + Awaited at: File '%s', line %u\n", t.awaiting_location.file_name(),
                   t.awaiting_location.line());
    }
    if (t.awaited_by != nullptr) {
      std::fputs("  + Awaited by:\n", out);
      for (const task_info& by : tasks) {
        if (by.id == t.awaited_by)
          std::fprintf(out, "     * Task(name='%s', id=%p)\n", by.name.c_str(), by.id);
      }
    }
  }
  std::fflush(out);
}

namespace detail {
// Lets loop_options::call_graph_on_sigusr1 print from the loop's headers.
inline const bool call_graph_printer_installed = (call_graph_printer = &print_call_graph, true);
}  // namespace detail

}  // namespace corio
