// SPDX-License-Identifier: MIT
// tests/process_test.cpp: corio::process against /bin/sh, /bin/cat and python3 on a real kernel.
// Each test checks that no descriptor and no child process is left behind.
#include <corio/process.hpp>

#include <corio/detail/awaitable.hpp>

#include <corio/call_graph.hpp>
#include <corio/error.hpp>
#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/net/buffered_reader.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/wait_for.hpp>
#include <corio/yield.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/bytes_and_fds.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

using corio::stdio;
using corio_test::ends_in;
using corio_test::open_fd_count;
using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

// wait() is an awaiter (no coroutine frame per call); it converts to a task where one is needed.
static_assert(!corio::detail::is_task_v<decltype(std::declval<corio::process&>().wait())>);
static_assert(
    std::is_convertible_v<decltype(std::declval<corio::process&>().wait()), corio::task<int>>);

namespace {

// True when this process has no child left, running or zombie.
bool no_children_left() {
  int status = 0;
  return ::waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD;
}

// Counts descriptors before a test and checks them, and the children, after it.
struct leak_check {
  std::size_t fds = open_fd_count();
  ~leak_check() {
    CHECK(open_fd_count() == fds);
    CHECK(no_children_left());
  }
};

}  // namespace

TEST_CASE("process: wait gives the exit code, or minus the signal", "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  corio::run([]() -> corio::task<> {
    auto exits = corio::process::spawn({"/bin/sh", "-c", "exit 3"});
    const int three = co_await exits.wait();
    CHECK(three == 3);
    CHECK(exits.exit_status() == 3);
    const int again = co_await exits.wait();
    CHECK(again == 3);
    auto killed = corio::process::spawn({"sh", "-c", "kill -TERM $$"});
    const int term = co_await killed.wait();
    CHECK(term == -SIGTERM);
  }());
}

TEST_CASE("process: cat through its pipes, line by line with buffered_reader",
          "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  corio::run([]() -> corio::task<> {
    auto cat = corio::process::spawn(
        {"/bin/cat"}, {.in = stdio::pipe, .out = stdio::pipe, .err = stdio::inherit});
    corio::net::buffered_reader reader(cat.stdout_pipe());
    co_await cat.stdin_pipe().write_all("first line\n");
    const std::string first = co_await reader.read_line();
    CHECK(first == "first line\n");
    co_await cat.stdin_pipe().write_all("second\n");
    co_await cat.stdin_pipe().close();
    const std::string second = co_await reader.read_line();
    CHECK(second == "second\n");
    const std::string end = co_await reader.read_line();
    CHECK(end.empty());
    const int status = co_await cat.wait();
    CHECK(status == 0);
  }());
}

TEST_CASE("process: communicate moves 20 MB through cat and python without deadlock",
          "[process][io_uring][python]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  corio::run([]() -> corio::task<> {
    const auto bytes = corio_test::pattern(20 * 1024 * 1024);
    const std::string input = corio_test::text_of(bytes);
    auto cat = corio::process::spawn(
        {"cat"}, {.in = stdio::pipe, .out = stdio::pipe, .err = stdio::inherit});
    const corio::process_output echoed = co_await cat.communicate(input);
    CHECK(echoed.exit_status == 0);
    CHECK(echoed.out.size() == input.size());
    CHECK(echoed.out == input);
    // Both stdout and stderr large at once, with no input.
    auto py = corio::process::spawn({"python3", "-c",
                                     "import sys\n"
                                     "for i in range(200):\n"
                                     "    sys.stdout.write('o' * 50000)\n"
                                     "    sys.stderr.write('e' * 50000)\n"
                                     "sys.exit(7)\n"},
                                    {.out = stdio::pipe, .err = stdio::pipe});
    const corio::process_output both = co_await py.communicate();
    CHECK(both.exit_status == 7);
    CHECK(both.out == std::string(10'000'000, 'o'));
    CHECK(both.err == std::string(10'000'000, 'e'));
  }());
}

TEST_CASE("process: a child that closes its pipes early is not an error", "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  corio::run([]() -> corio::task<> {
    auto p = corio::process::spawn({"/bin/sh", "-c", "exec <&- >&-; echo gone >&2"},
                                   {.in = stdio::pipe, .out = stdio::pipe, .err = stdio::pipe});
    const corio::process_output r = co_await p.communicate(std::string(4 * 1024 * 1024, 'x'));
    CHECK(r.exit_status == 0);
    CHECK(r.out.empty());
    CHECK(r.err == "gone\n");
  }());
}

TEST_CASE("process: a child that never exits is cancelled and killed", "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  corio::run([]() -> corio::task<> {
    auto p = corio::process::spawn({"sleep", "1000"}, {.out = stdio::pipe});
    const bool timed_out = co_await ends_in<corio::timeout_error>(corio::wait_for(p.wait(), 50ms));
    CHECK(timed_out);
    p.kill(SIGKILL);
    const int status = co_await p.wait();
    CHECK(status == -SIGKILL);
    p.kill(SIGTERM);  // reaped: nothing to do
  }());
}

TEST_CASE("process: a cancelled communicate leaves the child running; two waiters see one status",
          "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  corio::run([]() -> corio::task<> {
    auto p = corio::process::spawn({"/bin/sh", "-c", "echo started; exec sleep 1000"},
                                   {.in = stdio::pipe, .out = stdio::pipe});
    const bool timed_out =
        co_await ends_in<corio::timeout_error>(corio::wait_for(p.communicate("ignored"), 50ms));
    CHECK(timed_out);
    CHECK_FALSE(p.exit_status().has_value());
    auto first = corio::spawn(p.wait());
    auto second = corio::spawn(p.wait());
    p.kill(SIGTERM);
    const int a = co_await first;
    const int b = co_await second;
    CHECK(a == -SIGTERM);
    CHECK(b == -SIGTERM);
  }());
}

TEST_CASE("process: a cancelled waiter leaves no zombie: the child is reaped in the background",
          "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  corio::run([]() -> corio::task<> {
    // The child ends on its own after its waiter was cancelled: reaped in the background.
    corio::event waiting;
    auto short_lived = corio::spawn([](corio::event& waiting) -> corio::task<> {
      auto p = corio::process::spawn({"python3", "-c", "import sys; sys.stdin.read()"},
                                     {.in = stdio::pipe});
      waiting.set();
      co_await p.wait();
    }(waiting));
    co_await waiting.wait();
    short_lived.cancel();
    const bool cancelled = co_await ends_in<corio::cancelled_error>(short_lived);
    CHECK(cancelled);  // its process closed stdin, so python ends, and nobody waits for it
    // This one never ends: run() kills and reaps it on the way out.
    corio::event started;
    auto forever = corio::spawn([](corio::event& started) -> corio::task<> {
      auto p = corio::process::spawn({"sleep", "1000"});
      started.set();
      co_await p.wait();
    }(started));
    co_await started.wait();
    forever.cancel();
  }());
}

TEST_CASE("process: environment and working directory", "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  corio::run([]() -> corio::task<> {
    const std::filesystem::path dir = std::filesystem::temp_directory_path();
    auto p = corio::process::spawn(
        {"/bin/sh", "-c", "echo \"$GREETING\"; pwd; echo \"${HOME-unset}\""},
        {.out = stdio::pipe,
         .environment = std::map<std::string, std::string>{{"GREETING", "hello from env"}},
         .working_directory = dir});
    const corio::process_output r = co_await p.communicate();
    CHECK(r.exit_status == 0);
    CHECK(r.out == "hello from env\n" + std::filesystem::canonical(dir).string() + "\nunset\n");
  }());
}

TEST_CASE("process: spawn refusals say what failed", "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  CHECK_THROWS_AS(corio::process::spawn({"true"}), std::logic_error);  // no loop runs
  corio::run([]() -> corio::task<> {
    CHECK_THROWS_AS(corio::process::spawn({}), std::invalid_argument);
    try {
      corio::process::spawn({"corio-no-such-program"}, {.out = stdio::pipe});
      FAIL("spawned a missing program");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::no_such_file_or_directory);
      CHECK_THAT(e.what(), ContainsSubstring("corio-no-such-program"));
    }
    try {
      corio::process::spawn({"/bin/sh", "-c", "true"},
                            {.working_directory = "/corio/no/such/directory"});
      FAIL("spawned in a missing directory");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::no_such_file_or_directory);
      CHECK_THAT(e.what(), ContainsSubstring("/corio/no/such/directory"));
    }
    // A child still running when run() ends is killed and reaped.
    auto p = corio::process::spawn({"sleep", "1000"});
    co_return;
  }());
}

TEST_CASE(
    "process: the child is awaited by IORING_OP_WAITID where the ring has it, else by "
    "pidfd readiness, with the same results",
    "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  for (const bool use_waitid : {true, false}) {
    corio::detail::use_io_uring_waitid = use_waitid;
    corio::run([](bool use_waitid) -> corio::task<> {
      const auto& loop = corio::detail::loop_core::current();
      const bool kernel_reaps = use_waitid && loop.uses_io_uring() && loop.io_uring().has_waitid();
      auto p = corio::process::spawn({"sleep", "1000"});
      co_await corio::yield();  // the watcher starts its wait
      std::string watcher_waits;
      for (const corio::task_info& t : corio::capture_call_graph()) {
        if (t.awaiting.find(" on fd ") != std::string::npos)
          watcher_waits = t.awaiting;
      }
      if (loop.uses_io_uring())
        CHECK_THAT(watcher_waits, ContainsSubstring(kernel_reaps ? "waitid on fd" : "poll on fd"));
      p.kill(SIGTERM);
      const int killed = co_await p.wait();
      CHECK(killed == -SIGTERM);
      auto exits = corio::process::spawn({"/bin/sh", "-c", "exit 7"});
      const int status = co_await exits.wait();
      CHECK(status == 7);
      // Never awaited and never ending: run() kills and reaps it on the way out.
      auto forever = corio::process::spawn({"sleep", "1000"});
    }(use_waitid));
  }
  corio::detail::use_io_uring_waitid = true;
}

TEST_CASE("process: pipes still reach the child when this process has closed 0 and 1",
          "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  // 0 and 1 are closed while the loop runs (as in a daemon), and put back once it ended;
  // nothing may write to stdout meanwhile.
  struct stdio_aside {
    int flushed = (std::cout.flush(), std::fflush(stdout));
    int in = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
    int out = ::fcntl(1, F_DUPFD_CLOEXEC, 3);
    ~stdio_aside() {
      ::dup3(in, 0, 0);
      ::dup3(out, 1, 0);
      ::close(in);
      ::close(out);
    }
  };
  corio::process_output r;
  {
    const stdio_aside aside;
    if (aside.in < 0 || aside.out < 0)
      FAIL("cannot keep stdin and stdout aside");
    r = corio::run([]() -> corio::task<corio::process_output> {
      // Closed only now: the loop's own descriptors would take 0 and 1 otherwise.
      ::close(0);
      ::close(1);
      // The stderr pipe's child end lands on 1, which the child's /dev/null stdout replaces
      // unless spawn moves it out of the way first.
      auto p = corio::process::spawn({"/bin/sh", "-c", "echo to stderr >&2"},
                                     {.out = stdio::null, .err = stdio::pipe});
      co_return co_await p.communicate();
    }());
  }
  CHECK(r.exit_status == 0);
  CHECK(r.err == "to stderr\n");
}

TEST_CASE("process: 100 short-lived children at once, each with its own pipe and status",
          "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  corio::run([]() -> corio::task<> {
    auto one = [](int i) -> corio::task<corio::process_output> {
      auto p = corio::process::spawn(
          {"/bin/sh", "-c", "echo $0; exit $(($0 % 7))", std::to_string(i)}, {.out = stdio::pipe});
      co_return co_await p.communicate();
    };
    std::vector<corio::task<corio::process_output>> children;
    for (int i = 0; i < 100; ++i)
      children.push_back(one(i));
    const std::vector<corio::process_output> results =
        co_await corio::wait_for(corio::gather(std::move(children)), 60s);
    int right = 0;
    for (int i = 0; i < 100; ++i) {
      const auto& r = results[static_cast<std::size_t>(i)];
      if (r.out == std::to_string(i) + "\n" && r.exit_status == i % 7)
        ++right;
    }
    CHECK(right == 100);
  }());
}

TEST_CASE("process: stdout ends when the child closes it, while the child runs on",
          "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  corio::run([]() -> corio::task<> {
    auto p = corio::process::spawn({"/bin/sh", "-c", "echo last; exec >&-; read line; exit 4"},
                                   {.in = stdio::pipe, .out = stdio::pipe});
    corio::net::buffered_reader reader(p.stdout_pipe());
    const std::string last = co_await reader.read_line();
    CHECK(last == "last\n");
    const std::string end = co_await reader.read_line();
    CHECK(end.empty());
    CHECK_FALSE(p.exit_status().has_value());  // it waits for its line
    const bool still_running =
        co_await ends_in<corio::timeout_error>(corio::wait_for(p.wait(), 50ms));
    CHECK(still_running);
    co_await p.stdin_pipe().write_all("go on\n");
    const int status = co_await p.wait();
    CHECK(status == 4);
  }());
}

TEST_CASE("process: where argv[0] is looked for; a script needs #!", "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("corio-process-cwd-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream script(dir / "tool");
    script << "#!/bin/sh\necho found in \"$(pwd -P)\"\n";
  }
  {
    std::ofstream script(dir / "no-interpreter");
    script << "echo never run\n";
  }
  std::filesystem::permissions(dir / "tool", std::filesystem::perms::owner_all);
  std::filesystem::permissions(dir / "no-interpreter", std::filesystem::perms::owner_all);
  const corio::process_output r =
      corio::run([](std::filesystem::path dir) -> corio::task<corio::process_output> {
        try {
          corio::process::spawn({(dir / "no-interpreter").string()});
          FAIL("spawned a script without #!");
        } catch (const std::system_error& e) {
          CHECK(e.code() == std::errc::executable_format_error);
          CHECK_THAT(e.what(), ContainsSubstring("no-interpreter"));
        }
        // The PATH searched is this process's, not the one given to the child.
        try {
          corio::process::spawn(
              {"tool"},
              {.environment = std::map<std::string, std::string>{{"PATH", dir.string()}}});
          FAIL("found tool in the child's PATH");
        } catch (const std::system_error& e) {
          CHECK(e.code() == std::errc::no_such_file_or_directory);
        }
        auto p = corio::process::spawn({"./tool"}, {.out = stdio::pipe, .working_directory = dir});
        co_return co_await p.communicate();
      }(dir));
  const std::string expected = "found in " + std::filesystem::canonical(dir).string() + "\n";
  std::filesystem::remove_all(dir);
  CHECK(r.exit_status == 0);
  CHECK(r.out == expected);
}

TEST_CASE("process: spawn refuses strings the child would see cut or split",
          "[process][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  leak_check leaks;
  corio::run([]() -> corio::task<> {
    using env = std::map<std::string, std::string>;
    auto refusal = [](const std::vector<std::string>& argv,
                      const corio::process_options& options) -> std::string {
      try {
        corio::process::spawn(argv, options);
      } catch (const std::invalid_argument& e) {
        return e.what();
      }
      return "spawned";
    };
    const std::string nul_arg = refusal({"echo", std::string("a\0b", 3)}, {});
    CHECK_THAT(nul_arg, ContainsSubstring("argument 1 contains a NUL byte"));
    // "A=B" = "C" would reach the child as A = "B=C".
    const std::string equals = refusal({"true"}, {.environment = env{{"A=B", "C"}}});
    CHECK_THAT(equals, ContainsSubstring("\"A=B\" is not an environment variable name"));
    const std::string empty = refusal({"true"}, {.environment = env{{"", "C"}}});
    CHECK_THAT(empty, ContainsSubstring("\"\" is not an environment variable name"));
    const std::string nul_value =
        refusal({"true"}, {.environment = env{{"A", std::string("x\0y", 3)}}});
    CHECK_THAT(nul_value, ContainsSubstring("the value of A contains a NUL byte"));
    const std::string nul_dir =
        refusal({"true"}, {.working_directory = std::string("/tmp\0/x", 7)});
    CHECK_THAT(nul_dir, ContainsSubstring("working directory contains a NUL byte"));
    co_return;
  }());
}
