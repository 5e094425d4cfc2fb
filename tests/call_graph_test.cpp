// SPDX-License-Identifier: MIT
#include <corio/call_graph.hpp>

#include <corio/event_loop.hpp>
#include <corio/file.hpp>
#include <corio/gather.hpp>
#include <corio/net/tcp.hpp>
#include <corio/queue.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/task_group.hpp>
#include <corio/to_thread.hpp>
#include <corio/yield.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <filesystem>
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

// The first task named `name` in `graph`; the test stops if there is none.
const corio::task_info* require_task(const std::vector<corio::task_info>& graph,
                                     std::string_view name) {
  const auto it =
      std::ranges::find_if(graph, [name](const corio::task_info& t) { return t.name == name; });
  INFO("the call graph has a task named '" << name << "'");
  REQUIRE(it != graph.end());
  return &*it;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Awaits `h`, which was cancelled.
template <class T>
corio::task<> reap(corio::join_handle<T>& h) {
  try {
    co_await h;
  } catch (const corio::cancelled_error&) {
  }
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
    const corio::task_info* gathering = require_task(graph, "gatherer");
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
    co_await reap(j);
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

  const corio::task_info* gathering = require_task(graph, "gatherer");
  const corio::task_info* joining = require_task(graph, "joiner");
  const corio::task_info* blocking = require_task(graph, "blocker");
  const corio::task_info* grouped = require_task(graph, "grouped");
  const corio::task_info* child0 = require_task(graph, "gather child 0");
  const corio::task_info* child1 = require_task(graph, "gather child 1");

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
  const corio::task_info* child = require_task(graph, "child");
  REQUIRE(!graph.empty());
  CHECK(graph[0].awaiting == "task_group wait for 2 children");
  CHECK(child->awaited_by == graph[0].id);
}

TEST_CASE(
    "capture_call_graph: names the socket or file operation a task waits for, on each backend",
    "[call_graph][net][file][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::filesystem::path fifo = std::filesystem::temp_directory_path() /
                                     ("corio_call_graph_fifo_" + std::to_string(::getpid()));
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::vector<corio::task_info> graph;
  int listener_fd = -1;
  int client_fd = -1;
  int fifo_fd = -1;
  corio::loop_options options;
  options.worker_threads = 1;  // so that the blocker keeps a file call on epoll queued
  corio::run(
      [&]() -> corio::task<> {
        // A listener whose accept queue (backlog 0: one connection) is full, so a
        // second connection's SYN goes unanswered and its connect waits.
        auto listener = corio::net::tcp_listener::bind("127.0.0.1", 0, 0);
        listener_fd = listener.native_handle();
        auto client = co_await corio::net::tcp_stream::connect("127.0.0.1", listener.local_port());
        client_fd = client.native_handle();
        // A FIFO opened for reading and writing: a read of it waits for data.
        auto pipe =
            co_await corio::file::open(fifo, corio::open_mode::read | corio::open_mode::write);
        fifo_fd = pipe.native_handle();
        std::binary_semaphore release(0);
        auto blocker = corio::spawn(corio::to_thread([&release] { release.acquire(); }));

        std::array<std::byte, 16> in{};
        std::vector<std::byte> out(64 << 20);  // more than the socket buffers take
        std::array<std::byte, 16> from_fifo{};
        auto connector = corio::spawn(
            corio::net::tcp_stream::connect("127.0.0.1", listener.local_port()), "connector");
        auto reader = corio::spawn(client.read_some(in), "reader");
        auto writer = corio::spawn(client.write_all(out), "writer");
        // On epoll the read runs on the worker pool, queued behind the blocker.
        auto file_reader = corio::spawn(pipe.read_at(0, from_fifo), "file reader");
        for (int i = 0; i < 3; ++i)
          co_await corio::yield();
        graph = corio::capture_call_graph();

        connector.cancel();
        reader.cancel();
        writer.cancel();
        file_reader.cancel();
        // A queued file call hands its cancellation back once a worker reaches it.
        release.release();
        co_await blocker;
        co_await reap(connector);
        co_await reap(reader);
        co_await reap(writer);
        co_await reap(file_reader);
        // The accept queue still holds the first connection; an accept takes it.
        auto acceptor = corio::spawn(listener.accept(), "acceptor");
        co_await acceptor;
        auto idle_acceptor = corio::spawn(listener.accept(), "idle acceptor");
        co_await corio::yield();
        for (const corio::task_info& t : corio::capture_call_graph()) {
          if (t.name == "idle acceptor")
            graph.push_back(t);
        }
        idle_acceptor.cancel();
        co_await reap(idle_acceptor);
      }(),
      options);
  std::filesystem::remove(fifo);

  const corio::task_info* connector = require_task(graph, "connector");
  const corio::task_info* reader = require_task(graph, "reader");
  const corio::task_info* writer = require_task(graph, "writer");
  const corio::task_info* file_reader = require_task(graph, "file reader");
  const corio::task_info* acceptor = require_task(graph, "idle acceptor");
  CHECK(starts_with(connector->awaiting, "connect on fd "));
  CHECK(reader->awaiting == "recv on fd " + std::to_string(client_fd));
  CHECK(writer->awaiting == "send on fd " + std::to_string(client_fd));
  CHECK(file_reader->awaiting == "read on fd " + std::to_string(fifo_fd));
  CHECK(acceptor->awaiting == "accept on fd " + std::to_string(listener_fd));
}
