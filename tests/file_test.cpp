// SPDX-License-Identifier: MIT
// tests/file_test.cpp: file, read_file and write_file on a real file system.
#include <corio/file.hpp>

#include <corio/error.hpp>
#include <corio/event_loop.hpp>
#include <corio/gather.hpp>
#include <corio/sleep.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/to_thread.hpp>
#include <corio/wait_for.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/backend.hpp"
#include "support/bytes_and_fds.hpp"
#include "support/ends_in.hpp"
#include "support/io_uring_available.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <semaphore>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace fs = std::filesystem;
using Catch::Matchers::ContainsSubstring;
using corio_test::caught;

namespace {

// A fresh directory under the system's temporary directory, removed with its contents.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "corio-file-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::system_error(errno, std::system_category(), "mkdtemp");
    path_ = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fs::path operator/(std::string_view name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text));
}

// Deterministic text whose chunks all differ, so misplaced chunks show.
std::string pattern(std::size_t n) {
  std::string out(n, '\0');
  std::uint32_t x = 2463534242u;
  for (char& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return out;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("write_file and read_file: round-trip a small text", "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  const fs::path path = dir / "small.txt";
  const std::string text = corio::run([](fs::path path) -> corio::task<std::string> {
    co_await corio::write_file(path, "hello, corio\n");
    co_return co_await corio::read_file(path);
  }(path));
  CHECK(text == "hello, corio\n");
  CHECK(slurp(path) == "hello, corio\n");
}

TEST_CASE("write_file and read_file: round-trip several MiB in many concurrent chunks",
          "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  const fs::path path = dir / "big.bin";
  const std::string data = pattern(5 * 1024 * 1024 + 12345);  // 21 chunks, the last one partial
  const std::string back =
      corio::run([](fs::path path, const std::string& data) -> corio::task<std::string> {
        co_await corio::write_file(path, data);
        co_return co_await corio::read_file(path);
      }(path, data));
  CHECK(fs::file_size(path) == data.size());
  CHECK(back.size() == data.size());
  CHECK(back == data);
  CHECK(slurp(path) == data);
}

TEST_CASE("write_file and read_file: round-trip an empty file", "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  const fs::path path = dir / "empty";
  const std::string back = corio::run([](fs::path path) -> corio::task<std::string> {
    co_await corio::write_file(path, "");
    co_return co_await corio::read_file(path);
  }(path));
  CHECK(fs::exists(path));
  CHECK(fs::file_size(path) == 0);
  CHECK(back.empty());
}

TEST_CASE("write_file: replaces the contents of a longer existing file", "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  const fs::path path = dir / "existing";
  std::ofstream(path) << pattern(100000);
  corio::run(
      [](fs::path path) -> corio::task<> { co_await corio::write_file(path, "short"); }(path));
  CHECK(slurp(path) == "short");
}

TEST_CASE("read_file: reads a /proc file whose reported size is 0 to its end", "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  REQUIRE(fs::file_size("/proc/self/status") == 0);
  const std::string status = corio::run([]() -> corio::task<std::string> {
    co_return co_await corio::read_file("/proc/self/status");
  }());
  CHECK_THAT(status, ContainsSubstring("Name:") && ContainsSubstring("Pid:"));
}

namespace {

// read_file(path, max_bytes)'s outcome: the text, or the error code it threw.
corio::task<std::pair<std::string, std::error_code>> read_bounded(fs::path path,
                                                                  std::size_t max_bytes) {
  try {
    co_return std::pair{co_await corio::read_file(path, max_bytes), std::error_code{}};
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(), ContainsSubstring(path.string()) && ContainsSubstring("max_bytes"));
    co_return std::pair{std::string{}, e.code()};
  }
}

}  // namespace

TEST_CASE("read_file: max_bytes refuses a larger file with EFBIG and reads one that fits",
          "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  const fs::path path = dir / "sized";
  const std::string data = pattern(300 * 1024);
  std::ofstream(path, std::ios::binary) << data;
  const std::error_code efbig(EFBIG, std::system_category());
  corio::run([](fs::path path, const std::string& data, std::error_code efbig) -> corio::task<> {
    const auto exact = co_await read_bounded(path, data.size());
    CHECK(exact.first == data);
    CHECK_FALSE(exact.second);
    const auto over = co_await read_bounded(path, data.size() - 1);
    CHECK(over.second == efbig);
    const auto none = co_await read_bounded(path, 0);
    CHECK(none.second == efbig);
  }(path, data, efbig));
}

TEST_CASE("read_file: max_bytes stops a file that never ends, /dev/zero and /proc alike",
          "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  const std::error_code efbig(EFBIG, std::system_category());
  corio::run([](std::error_code efbig) -> corio::task<> {
    for (std::size_t limit : {std::size_t{0}, std::size_t{1}, std::size_t{300 * 1024 + 7}}) {
      const auto zero = co_await read_bounded("/dev/zero", limit);
      CHECK(zero.second == efbig);
    }
    // A size-0 /proc file within the bound is read whole; past it, refused.
    const auto status = co_await read_bounded("/proc/self/status", 1024 * 1024);
    CHECK_THAT(status.first, ContainsSubstring("Pid:"));
    const auto cut = co_await read_bounded("/proc/self/status", 10);
    CHECK(cut.second == efbig);
  }(efbig));
}

TEST_CASE("read_file: a missing file throws system_error ENOENT naming the path",
          "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  const fs::path path = dir / "does-not-exist";
  corio::run([](fs::path path) -> corio::task<> {
    const auto e = co_await caught<std::system_error>(corio::read_file(path));
    if (!e)
      FAIL("read_file succeeded on a missing file");
    CHECK(e->code() == std::error_code(ENOENT, std::system_category()));
    CHECK_THAT(e->what(),
               ContainsSubstring(path.string()) && ContainsSubstring("corio::file::open"));
  }(path));
}

TEST_CASE("file: opening a directory for writing throws system_error EISDIR naming the path",
          "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // Deterministic even as root, who bypasses permission bits (see the EACCES case).
  temp_dir dir;
  corio::run([](fs::path path) -> corio::task<> {
    const auto open_error =
        co_await caught<std::system_error>(corio::file::open(path, corio::open_mode::write));
    if (!open_error)
      FAIL("a directory opened for writing");
    CHECK(open_error->code() == std::error_code(EISDIR, std::system_category()));
    CHECK_THAT(open_error->what(), ContainsSubstring(path.string()));
    const auto write_error = co_await caught<std::system_error>(corio::write_file(path, "x"));
    if (!write_error)
      FAIL("write_file wrote to a directory");
    CHECK(write_error->code() == std::error_code(EISDIR, std::system_category()));
  }(dir.path()));
}

TEST_CASE("file: opening a file with mode 000 throws system_error EACCES", "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  if (::geteuid() == 0)
    SKIP("running as root, which bypasses permission bits (EISDIR is tested instead)");
  temp_dir dir;
  const fs::path path = dir / "locked";
  std::ofstream(path) << "secret";
  fs::permissions(path, fs::perms::none);
  corio::run([](fs::path path) -> corio::task<> {
    const auto e = co_await caught<std::system_error>(corio::read_file(path));
    if (!e)
      FAIL("a mode-000 file was readable");
    CHECK(e->code() == std::error_code(EACCES, std::system_category()));
    CHECK_THAT(e->what(), ContainsSubstring(path.string()));
  }(path));
}

TEST_CASE("file: exclusive create fails with EEXIST when the file exists", "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  const fs::path path = dir / "once";
  corio::run([](fs::path path) -> corio::task<> {
    using corio::open_mode;
    const auto mode = open_mode::write | open_mode::create | open_mode::exclusive;
    auto f = co_await corio::file::open(path, mode);
    co_await f.close();
    const auto e = co_await caught<std::system_error>(corio::file::open(path, mode));
    if (!e)
      FAIL("exclusive create opened an existing file");
    CHECK(e->code() == std::error_code(EEXIST, std::system_category()));
  }(path));
}

TEST_CASE("file: open rejects contradictory open_mode flags with invalid_argument",
          "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  corio::run([](fs::path path) -> corio::task<> {
    using corio::open_mode;
    for (const auto mode :
         {open_mode::create, open_mode::read | open_mode::truncate,
          open_mode::read | open_mode::append, open_mode::write | open_mode::exclusive,
          static_cast<open_mode>(0x100 | 1)}) {
      // co_await stays outside Catch2's macros: g++ 12 evaluates a co_await inside them more than
      // once.
      // open() refuses the mode before it makes its task, so caught() could not see it.
      std::string message;
      try {
        co_await corio::file::open(path, mode);
      } catch (const std::invalid_argument& e) {
        message = e.what();
      }
      CHECK_THAT(message, ContainsSubstring("invalid open_mode"));
    }
  }(dir / "x"));
}

TEST_CASE("file: write_at and read_at work at explicit offsets; read_at at the end returns 0",
          "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  const fs::path path = dir / "offsets";
  corio::run([](fs::path path) -> corio::task<> {
    using corio::open_mode;
    auto f = co_await corio::file::open(path, open_mode::read_write | open_mode::create);
    CHECK(f.is_open());
    // co_await stays outside Catch2's macros: g++ 12 evaluates a co_await inside them more than
    // once.
    const std::uint64_t initial_size = co_await f.size();
    CHECK(initial_size == 0);

    // Two writes in flight at once, at different offsets.
    auto [a, b] =
        co_await corio::gather(f.write_at(6, bytes_of("world")), f.write_at(0, bytes_of("hello ")));
    CHECK(a == 5);
    CHECK(b == 6);
    const std::uint64_t final_size = co_await f.size();
    CHECK(final_size == 11);
    co_await f.fsync();

    std::array<std::byte, 5> buf{};
    const std::size_t full = co_await f.read_at(6, buf);
    CHECK(full == 5);
    CHECK(corio_test::text_of(buf) == "world");
    const std::size_t short_read = co_await f.read_at(8, buf);
    CHECK(short_read == 3);  // only three bytes left
    const std::size_t at_end = co_await f.read_at(11, buf);
    CHECK(at_end == 0);
    const std::size_t beyond_end = co_await f.read_at(1000, buf);
    CHECK(beyond_end == 0);
    const std::size_t into_nothing = co_await f.read_at(0, std::span<std::byte>());
    CHECK(into_nothing == 0);

    co_await f.close();
    CHECK_FALSE(f.is_open());
    co_await f.close();  // closing again does nothing
  }(path));
  CHECK(slurp(path) == "hello world");
}

TEST_CASE("file: append mode writes at the end whatever the offset", "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  const fs::path path = dir / "log";
  std::ofstream(path) << "one\n";
  corio::run([](fs::path path) -> corio::task<> {
    using corio::open_mode;
    auto f = co_await corio::file::open(path, open_mode::write | open_mode::append);
    const std::size_t written = co_await f.write_at(0, bytes_of("two\n"));
    CHECK(written == 4);
  }(path));
  CHECK(slurp(path) == "one\ntwo\n");
}

TEST_CASE("file: reading a file opened only for writing throws system_error EBADF",
          "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  corio::run([](fs::path path) -> corio::task<> {
    using corio::open_mode;
    auto f = co_await corio::file::open(path, open_mode::write | open_mode::create);
    std::array<std::byte, 4> buf;
    const auto e = co_await caught<std::system_error>(f.read_at(0, buf));
    if (!e)
      FAIL("read_at succeeded on a write-only file");
    CHECK(e->code() == std::error_code(EBADF, std::system_category()));
    CHECK_THAT(e->what(), ContainsSubstring("corio::file::read_at"));
  }(dir / "write-only"));
}

TEST_CASE("file: an open blocked in the kernel's workers and cancelled by wait_for is a timeout",
          "[file][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  CORIO_TEST_IO_URING_ONLY(
      "epoll runs file operations on the worker pool, where a blocked open cannot be interrupted");
  temp_dir dir;
  const fs::path fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // With no reader, open(O_WRONLY) of a FIFO sleeps in an io-wq worker; the
  // cancel interrupts it, and the kernel answers EINTR or ERESTARTSYS (512).
  const std::string outcome = corio::run([](fs::path path) -> corio::task<std::string> {
    using corio::open_mode;
    try {
      co_await corio::wait_for(corio::file::open(path, open_mode::write | open_mode::create),
                               std::chrono::milliseconds(100));
      co_return "opened";
    } catch (const corio::timeout_error&) {
      co_return "timeout";
    } catch (const std::system_error& e) {
      co_return std::string("system_error: ") + e.what();
    }
  }(fifo));
  CHECK(outcome == "timeout");
}

TEST_CASE("file: an operation cancelled while queued behind a blocking to_thread call ends at once",
          "[file][io_uring][cancellation][threads]") {
  CORIO_TEST_REQUIRE_IO_URING();
  temp_dir dir;
  const fs::path path = dir / "data";
  std::ofstream(path) << "corio";
  // One worker, held by a call until the test lets it go (at most 10 s). On
  // epoll the open then queues behind it on the pool; on io_uring it is a
  // kernel operation. Either way wait_for's cancel must end it at once.
  struct worker_state {
    std::binary_semaphore release{0};
    std::atomic<bool> running{false};
    std::atomic<bool> gave_up{false};
  } worker;
  const auto outcome = corio::run(
      [](fs::path path, worker_state& worker) -> corio::task<std::string> {
        auto blocker = corio::spawn(corio::to_thread([&worker] {
          worker.running = true;
          if (!worker.release.try_acquire_for(std::chrono::seconds(10)))
            worker.gave_up = true;  // the test failed
        }));
        while (!worker.running)  // the open must queue behind a call that runs
          co_await corio::sleep(std::chrono::milliseconds(1));
        std::string result;
        try {
          co_await corio::wait_for(corio::file::open(path, corio::open_mode::read),
                                   std::chrono::milliseconds(50));
          result = "opened";
        } catch (const corio::timeout_error&) {
          result = worker.gave_up ? "timeout after the worker gave up" : "timeout";
        }
        worker.release.release();
        co_await blocker;
        co_return result;
      }(path, worker),
      corio::loop_options{.worker_threads = 1});
  // On io_uring the open may finish within 50 ms: that is not what is tested.
  CHECK((outcome == "timeout" || (outcome == "opened" && !corio_test::epoll_pass())));
}
