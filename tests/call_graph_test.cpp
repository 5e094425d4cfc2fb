// SPDX-License-Identifier: MIT
#include <corio/call_graph.hpp>

#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/queue.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/task_group.hpp>
#include <corio/to_thread.hpp>
#include <corio/yield.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstdio>
#include <semaphore>
#include <string>
#include <string_view>
#include <vector>

#include "support/io_uring_available.hpp"

using namespace std::chrono_literals;

namespace {

corio::task<> sleeper() {
  co_await corio::sleep(10s);
}
constexpr unsigned sleep_line = __LINE__ - 2;
corio::task<int> getter(corio::queue<int>& q) {
  co_return co_await q.get();
}
constexpr unsigned get_line = __LINE__ - 2;
corio::task<> gatherer(corio::queue<int>& q) {
  co_await corio::gather(sleeper(), getter(q));
}
corio::task<> joiner(corio::join_handle<void>& h) {
  co_await h;
}
constexpr unsigned join_line = __LINE__ - 2;
corio::task<> blocker(std::binary_semaphore& release) {
  co_await corio::to_thread([&release] { release.acquire(); });
}

const corio::task_info* find(const std::vector<corio::task_info>& graph, std::string_view name) {
  for (const auto& t : graph) {
    if (t.name == name)
      return &t;
  }
  return nullptr;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

corio::task<std::string> spawn_and_name() {
  corio::join_handle<void> h = corio::spawn(corio::task<>(corio::yield()));
  std::string name(h.name());
  co_await h;
  co_return name;
}

}  // namespace

TEST_CASE("join_handle::name: the name given to spawn, else the function that spawned it",
          "[call_graph]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::string default_name = corio::run(spawn_and_name());
  CHECK(default_name == "spawn_and_name");
  corio::run([]() -> corio::task<> {
    auto h = corio::spawn(sleeper(), "named");
    CHECK(h.name() == "named");
    CHECK(h.location().line() == __LINE__ - 2);
    CHECK(std::string_view(h.location().file_name()).ends_with("call_graph_test.cpp"));
    co_await h;
  }());
}

TEST_CASE("capture_call_graph: names the tasks, their waits and who awaits them",
          "[call_graph][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<corio::task_info> graph;
  std::string printed;
  corio::run([&]() -> corio::task<> {
    corio::queue<int> q;
    std::binary_semaphore release(0);
    corio::join_handle<void> g = corio::spawn(gatherer(q), "gatherer");
    const unsigned gatherer_line = __LINE__ - 1;
    corio::join_handle<void> j = corio::spawn(joiner(g), "joiner");
    corio::join_handle<void> b = corio::spawn(blocker(release), "blocker");
    corio::task_group group;
    group.spawn(sleeper(), "grouped");
    for (int i = 0; i < 3; ++i)
      co_await corio::yield();
    graph = corio::capture_call_graph();
    const corio::task_info* gathering = find(graph, "gatherer");
    REQUIRE(gathering != nullptr);
    CHECK(gathering->location.line() == gatherer_line);

    std::FILE* out = std::tmpfile();
    corio::print_call_graph(out);
    std::rewind(out);
    char buffer[4096];
    printed.assign(buffer, std::fread(buffer, 1, sizeof buffer, out));
    std::fclose(out);

    release.release();
    co_await b;
    j.cancel();
    try {
      co_await j;
    } catch (const corio::cancelled_error&) {
    }
    group.cancel();
    try {
      co_await group.wait();
    } catch (const corio::cancelled_error&) {
    }
  }());

  REQUIRE(graph.size() == 7);
  const corio::task_info& root = graph[0];
  CHECK(root.awaiting.empty());  // running: it is the one asking
  CHECK(root.awaited_by == nullptr);

  const corio::task_info* gathering = find(graph, "gatherer");
  const corio::task_info* joining = find(graph, "joiner");
  const corio::task_info* blocking = find(graph, "blocker");
  const corio::task_info* grouped = find(graph, "grouped");
  const corio::task_info* child0 = find(graph, "gather child 0");
  const corio::task_info* child1 = find(graph, "gather child 1");
  REQUIRE(gathering != nullptr);
  REQUIRE(joining != nullptr);
  REQUIRE(blocking != nullptr);
  REQUIRE(grouped != nullptr);
  REQUIRE(child0 != nullptr);
  REQUIRE(child1 != nullptr);

  CHECK(gathering->awaiting == "gather of 2 children");
  CHECK(gathering->awaited_by == joining->id);
  CHECK(joining->awaiting == "await task 'gatherer'");
  CHECK(joining->awaited_by == nullptr);
  CHECK(blocking->awaiting == "to_thread call");
  CHECK(starts_with(child0->awaiting, "sleep, due in "));
  CHECK(child0->awaited_by == gathering->id);
  CHECK(child1->awaiting == "queue get");
  CHECK(child1->awaited_by == gathering->id);
  CHECK(starts_with(grouped->awaiting, "sleep, due in"));
  CHECK(grouped->awaited_by == nullptr);  // nobody is in the group's wait() yet
  // The children follow the task that waits for them.
  CHECK(child0 == gathering + 1);
  CHECK(child1 == gathering + 2);

  CHECK(printed.find("* Task(name='gatherer', id=") != std::string::npos);
  CHECK(printed.find("  + Suspended at: gather of 2 children\n  + Awaited by:\n     * "
                     "Task(name='joiner', id=") != std::string::npos);
  CHECK(printed.find("  + Created at: File '") != std::string::npos);
  CHECK(printed.find("  + Suspended at: to_thread call\n") != std::string::npos);
  CHECK(printed.find("  + Running or ready to run\n") != std::string::npos);

  // Where each wait was awaited: the user's co_await, never one inside corio.
  CHECK(gathering->awaiting_location.line() == 0);  // inside gather
  CHECK(blocking->awaiting_location.line() == 0);   // inside to_thread
#if CORIO_DETAIL_AWAIT_LOCATION
  CHECK(child0->awaiting_location.line() == sleep_line);
  CHECK(child1->awaiting_location.line() == get_line);
  CHECK(joining->awaiting_location.line() == join_line);
  CHECK(std::string_view(joining->awaiting_location.file_name()).ends_with("call_graph_test.cpp"));
  CHECK(printed.find("  + Suspended at: await task 'gatherer'\n  + Awaited at: File '") !=
        std::string::npos);
  CHECK(printed.find("call_graph_test.cpp', line " + std::to_string(join_line) + "\n") !=
        std::string::npos);
#else
  // g++: not recorded (see CORIO_DETAIL_AWAIT_LOCATION in corio/config.hpp).
  CHECK(child1->awaiting_location.line() == 0);
  CHECK(printed.find("  + Awaited at:") == std::string::npos);
  (void)sleep_line;
  (void)get_line;
  (void)join_line;
#endif
}

TEST_CASE("capture_call_graph: a task_group's children are awaited by the task in wait()",
          "[call_graph]") {
  CORIO_TEST_REQUIRE_IO_URING();
  std::vector<corio::task_info> graph;
  corio::run([&]() -> corio::task<> {
    corio::task_group group;
    group.spawn(sleeper(), "child");
    auto watcher = corio::spawn(
        [](std::vector<corio::task_info>& out, corio::task_group& g) -> corio::task<> {
          co_await corio::yield();
          co_await corio::yield();
          out = corio::capture_call_graph();
          g.cancel();
        }(graph, group),
        "watcher");
    group.spawn([](corio::join_handle<void>& w) -> corio::task<> { co_await w; }(watcher));
    co_await group.wait();
  }());
  const corio::task_info* child = find(graph, "child");
  REQUIRE(child != nullptr);
  REQUIRE(!graph.empty());
  CHECK(graph[0].awaiting == "task_group wait for 2 children");
  CHECK(child->awaited_by == graph[0].id);
}
