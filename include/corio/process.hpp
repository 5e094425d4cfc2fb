// SPDX-License-Identifier: MIT
// corio/process.hpp: child processes with pipes, as asyncio's create_subprocess_exec.
// Its coroutines that need no template parameter are declared `template <class = void>`;
// see CONTRIBUTING.md, "Coroutines in headers".
//
// A child is started with posix_spawnp(3) and watched through a pidfd
// (pidfd_open(2), Linux 5.3) by a spawned task of its own, which reaps it the
// moment it ends, whether anyone waits or not: with IORING_OP_WAITID on
// P_PIDFD where the ring has it (Linux 6.7), else by polling the pidfd for
// readability (IORING_OP_POLL_ADD, or epoll) and then waitid(P_PIDFD). When run()
// ends, that task is cancelled like every spawned task, which kills a child
// still running (SIGKILL) and reaps it. No zombie is left behind.
#pragma once

#include <corio/config.hpp>
#include <corio/error.hpp>
#include <corio/event.hpp>
#include <corio/gather.hpp>
#include <corio/net/unix.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>

#include <corio/detail/awaitable.hpp>
#include <corio/detail/errno.hpp>
#include <corio/detail/io_operation.hpp>
#include <corio/detail/loop_core.hpp>
#include <corio/detail/unique_fd.hpp>

#include <fcntl.h>
#include <liburing.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <poll.h>
#include <signal.h>

#include <spawn.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

extern char** environ;

namespace corio {

/// Where a child's standard stream goes (process_options::in, out, err).
enum class stdio {
  inherit,  ///< the parent's own descriptor
  pipe,     ///< a stream to the parent: process::stdin_pipe() and the others
  null,     ///< /dev/null
};

/// How process::spawn starts a child.
struct process_options {
  stdio in = stdio::inherit;   ///< the child's stdin
  stdio out = stdio::inherit;  ///< the child's stdout
  stdio err = stdio::inherit;  ///< the child's stderr
  /// The child's whole environment; std::nullopt: the parent's.
  std::optional<std::map<std::string, std::string>> environment = std::nullopt;
  /// The child's working directory; empty: the parent's. A relative argv[0]
  /// with a '/' ("./tool") is found from there, as the child changes to it first.
  std::filesystem::path working_directory = {};
};

/// What communicate() collected.
struct process_output {
  int exit_status = 0;  ///< as process::wait()
  std::string out;      ///< everything the child wrote to its stdout pipe
  std::string err;      ///< everything the child wrote to its stderr pipe
};

}  // namespace corio

namespace corio::detail {

inline int pidfd_open(pid_t pid) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}
inline int pidfd_send_signal(int pidfd, int sig) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// Throws for a failed waitid (res = -errno), naming the usual cause of ECHILD.
inline void check_waitid(int res) {
  if (res == -ECHILD) {
    throw_errno(res,
                "corio::process::wait: the child was reaped elsewhere (a waitpid(-1) or "
                "SIGCHLD set to SIG_IGN in this process takes corio's children)");
  }
  if (res < 0)
    throw_errno(res, "corio::process::wait (waitid)");
}

// The exit status (as process::wait) in what waitid reported for an ended child.
inline int exit_status_of(const siginfo_t& info) noexcept {
  return info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
}

// Reaps the child of `pidfd` if it has ended (WNOHANG) or, with `block`,
// once it ends; yields its exit status (as process::wait), or nullopt.
inline std::optional<int> reap(int pidfd, bool block) {
  siginfo_t info{};
  int res;
  while ((res = ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info,
                         WEXITED | (block ? 0 : WNOHANG))) < 0 &&
         errno == EINTR) {
  }
  check_waitid(res < 0 ? -errno : 0);
  if (info.si_pid == 0)
    return std::nullopt;  // still running
  return exit_status_of(info);
}

// Tests turn this off to run the readiness path on a kernel that has
// IORING_OP_WAITID; set it only while no loop runs.
inline bool use_io_uring_waitid = true;

// Waits for the child of a pidfd to end. With `reaps` (a ring that has
// IORING_OP_WAITID), one IORING_OP_WAITID on P_PIDFD waits and reaps, and
// finish() yields the exit status. Otherwise one IORING_OP_POLL_ADD (on epoll,
// readiness) waits for POLLIN, and finish() yields nullopt: reap() follows.
struct child_exit_op {
  using value_type = std::optional<int>;
  static constexpr bool writes = false;
  int fd;            // the pidfd
  bool reaps;        // IORING_OP_WAITID
  siginfo_t info{};  // written by the kernel: lives in the awaiter, as long as the operation

  void prep(io_uring_sqe* sqe) noexcept {
    if (!reaps) {
      io_uring_prep_poll_add(sqe, fd, POLLIN);
      return;
    }
    // io_uring_prep_waitid (liburing 2.5) by hand: the id type in len, the id in
    // fd, the options in file_index and the siginfo in addr2.
    io_uring_prep_rw(io_uring_backend::op_waitid, sqe, fd, nullptr, P_PIDFD, 0);
    sqe->file_index = WEXITED;
    sqe->addr2 = reinterpret_cast<std::uintptr_t>(&info);
  }
  // On epoll: readable (the child ended) or not yet.
  int attempt() noexcept {
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, 0);
    return n > 0 ? static_cast<int>(p.revents) : n == 0 ? -EAGAIN : -errno;
  }
  std::optional<int> finish(int res) const {
    if (!reaps) {
      check(res, "corio::process::wait");
      return std::nullopt;
    }
    check_waitid(res);
    return exit_status_of(info);
  }
};

// What a process shares with the task that watches its child.
struct child_state {
  unique_fd pidfd;
  std::optional<int> exit_status;
  std::exception_ptr error;  // the watcher failed: wait() rethrows it
  event exited;
};

// process::wait(): the wait for the child's `exited` event, then its status
// or the watcher's error. An awaiter (no frame, no allocation) that keeps
// the child's state alive while it waits, as the process may go meanwhile.
class [[nodiscard]] exit_awaiter {
 public:
  explicit exit_awaiter(std::shared_ptr<child_state> child) noexcept
      : child_(std::move(child)), wait_(child_->exited.wait()) {}
  // Only an awaiter not yet awaited is moved (into as_task's frame).
  exit_awaiter(exit_awaiter&& other) noexcept
      : child_(std::move(other.child_)), wait_(child_->exited.wait()) {}
  exit_awaiter& operator=(exit_awaiter&&) = delete;

  bool await_ready() const noexcept { return wait_.await_ready(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    return wait_.await_suspend(h);
  }
  int await_resume() const {
    wait_.await_resume();
    if (child_->error)
      std::rethrow_exception(child_->error);
    return *child_->exit_status;
  }

  /// For APIs that take tasks: `corio::wait_for(p.wait(), 1s)`. A template,
  /// so that as_task's coroutine is compiled only where it is used.
  template <class = void>
  operator task<int>() && {
    return as_task(std::move(*this));
  }

 private:
  std::shared_ptr<child_state> child_;
  event::wait_awaiter wait_;
};

// Reaps the child as soon as it ends; when cancelled (run() ending), kills it first.
template <class = void>
task<> watch_child(std::shared_ptr<child_state> child) {
  bool cancelled = false;
  const loop_core& loop = loop_core::current();
  const bool reaps = use_io_uring_waitid && loop.uses_io_uring() && loop.io_uring().has_waitid();
  try {
    child->exit_status = co_await io_operation(child_exit_op{child->pidfd.get(), reaps});
  } catch (const cancelled_error&) {
    cancelled = true;
    pidfd_send_signal(child->pidfd.get(), SIGKILL);
  } catch (...) {
    child->error = std::current_exception();
  }
  if (!child->error && !child->exit_status) {
    try {
      // The child has ended (or was just killed): this waits no longer than its exit.
      child->exit_status = reap(child->pidfd.get(), true);
    } catch (...) {
      child->error = std::current_exception();
    }
  }
  child->exited.set();
  if (cancelled)
    throw cancelled_error();
}

// Reads `s` to its end into `out`.
template <class = void>
task<> read_to_end(net::unix_stream& s, std::string& out) {
  std::array<std::byte, 64 * 1024> buf;
  for (;;) {
    const std::size_t n = co_await s.read_some(buf);
    if (n == 0)
      break;
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  co_await s.close();
}

// Writes `input` to the child's stdin and closes it; a child that exits or
// closes its stdin without reading everything is not an error (as asyncio).
template <class = void>
task<> write_and_close(net::unix_stream& s, std::string_view input) {
  try {
    co_await s.write_all(std::as_bytes(std::span(input.data(), input.size())));
  } catch (const std::system_error& e) {
    if (e.code() != std::errc::broken_pipe && e.code() != std::errc::connection_reset)
      throw;
  }
  co_await s.close();
}

}  // namespace corio::detail

namespace corio {

/// A child process, as asyncio's Process.
///
/// spawn() starts it; wait() awaits its end; stdin_pipe(), stdout_pipe() and
/// stderr_pipe() are the streams to it (for the streams spawned with
/// stdio::pipe), with read_some, read_exact, write_all, shutdown_write and
/// close as tcp_stream, and usable with net::buffered_reader.
///
/// The pipes are Unix stream sockets (socketpair), not FIFOs: a write to a
/// child that has closed its end fails with EPIPE instead of raising SIGPIPE
/// in this process. The child sees ordinary descriptors 0, 1 and 2. A child
/// that fills a pipe nobody reads stops until it is read: reading only its
/// stdout while it fills stderr waits forever; read both at once, or communicate().
///
/// Exit status: the child's exit code (0-255), or minus the signal that
/// ended it (-9 for SIGKILL), as asyncio's returncode.
///
/// Lifetime: each child has a spawned task of its own that reaps it the
///   moment it ends, so destroying the object, or cancelling a wait(), never
///   leaves a zombie and does not stop the child. When run() ends it cancels
///   that task like every spawned task, which kills (SIGKILL) and reaps a
///   child still running then. The pipes close with the object.
/// Thread safety: use only on the loop's thread.
/// Example:
///   auto p = corio::process::spawn({"sh", "-c", "echo hi"}, {.out = corio::stdio::pipe});
///   corio::process_output r = co_await p.communicate();
///   // r.out == "hi\n", r.exit_status == 0
class process {
 public:
  /// An object with no child; pid() is -1.
  process() noexcept = default;
  process(process&&) noexcept = default;
  process& operator=(process&&) noexcept = default;
  process(const process&) = delete;
  process& operator=(const process&) = delete;
  ~process() = default;

  /// Starts `argv[0]` (looked up in PATH when it has no '/') with arguments
  /// `argv`, as `options` say. The PATH is this process's, even when
  /// `options.environment` gives the child another (Python's subprocess
  /// searches the child's): name the program with a '/' to be sure. The
  /// child starts with no signal blocked and every signal at its default
  /// action, and inherits no descriptor but 0, 1 and 2 (corio's own are
  /// O_CLOEXEC).
  ///
  /// Uses posix_spawnp(3), which does not wait for the child, and pidfd_open(2).
  ///
  /// Throws: std::invalid_argument for an empty argv, a NUL byte in an
  ///   argument, a value or the working directory, or an environment name
  ///   that is empty or holds '='; std::logic_error if no loop runs on this
  ///   thread; std::system_error naming the program (ENOENT: not found;
  ///   EACCES: not executable; ENOEXEC: no known format, e.g. a script
  ///   without a "#!" line, which posix_spawnp does not hand to /bin/sh;
  ///   ENOENT or ENOTDIR for a missing working directory; EMFILE).
  /// Thread safety: call on the loop's thread (the child's watcher is spawned there).
  /// Example:
  ///   auto p = corio::process::spawn({"cat"}, {.in = corio::stdio::pipe, .out =
  ///   corio::stdio::pipe});
  template <class = void>
  static process spawn(const std::vector<std::string>& argv, const process_options& options = {}) {
    if (argv.empty())
      throw std::invalid_argument(
          "corio::process::spawn: argv is empty; argv[0] names the program");
    if (detail::loop_core::current_or_null() == nullptr)
      throw std::logic_error(
          "corio::process::spawn: no loop runs on this thread (call it in a task)");
    check_strings(argv, options);
    process p;
    spawn_files files;
    net::unix_stream parent_ends[3];
    const stdio modes[3] = {options.in, options.out, options.err};
    for (int fd = 0; fd < 3; ++fd) {
      if (modes[fd] == stdio::pipe) {
        auto [parent, child] = net::unix_stream::pair();
        files.dup(files.keep(std::move(child)), fd);
        parent_ends[fd] = std::move(parent);
      } else if (modes[fd] == stdio::null) {
        files.null(fd);
      }
    }
    if (!options.working_directory.empty())
      files.chdir(options.working_directory.c_str());

    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_strings;
    std::vector<char*> env;
    if (options.environment) {
      for (const auto& [name, value] : *options.environment)
        env_strings.push_back(name + "=" + value);
      for (std::string& e : env_strings)
        env.push_back(e.data());
      env.push_back(nullptr);
    }

    spawn_attributes attributes;
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, args[0], &files.actions, &attributes.attributes,
                                  args.data(), options.environment ? env.data() : environ);
    if (rc != 0) {
      throw std::system_error(rc, std::system_category(),
                              "corio::process::spawn: cannot run \"" + argv[0] + "\"" +
                                  (options.working_directory.empty()
                                       ? std::string()
                                       : " in \"" + options.working_directory.string() + "\""));
    }
    // The child cannot have been reaped yet (only its watcher reaps it), so
    // the pid is still its own.
    auto child = std::make_shared<detail::child_state>();
    child->pidfd.reset(detail::pidfd_open(pid));
    if (!child->pidfd) {
      const int err = errno;
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      detail::throw_errno(-err, "corio::process::spawn (pidfd_open needs Linux 5.3)");
    }
    p.pid_ = pid;
    p.child_ = child;
    corio::spawn(detail::watch_child(std::move(child)));
    p.stdin_ = std::move(parent_ends[0]);
    p.stdout_ = std::move(parent_ends[1]);
    p.stderr_ = std::move(parent_ends[2]);
    return p;
  }

  /// Waits for the child to end; completes with its exit status (see the
  /// class). Once it ended, wait() returns the same status at once. Several
  /// tasks may wait at once.
  ///
  /// Throws: std::logic_error for an object with no child; std::system_error
  ///   if the child could not be reaped (ECHILD: something else in the
  ///   process reaped it); cancelled_error.
  /// Cancellation: the child runs on and can be waited for again.
  /// Thread safety: await only on the loop's thread.
  /// Example:
  ///   int status = co_await p.wait();
  [[nodiscard]] detail::exit_awaiter wait() {
    CORIO_ASSERT(child_ != nullptr,
                 "corio::process::wait: no child (a default or moved-from process)");
    return detail::exit_awaiter(child_);
  }

  /// Writes `input` to the child's stdin (then closes it) while reading its
  /// stdout and stderr to their ends, all at once, then waits for the child:
  /// no deadlock however much either side writes. Pipes not spawned with
  /// stdio::pipe are skipped (`input` must then be empty). A child that
  /// exits or closes stdin without reading all of `input` is not an error.
  ///
  /// Throws: std::invalid_argument for input without a stdin pipe;
  ///   std::system_error; cancelled_error.
  /// Cancellation: the reads, the write and the wait are cancelled; the
  ///   child runs on (kill() it if it must stop).
  /// Lifetime: the process and `input` must stay valid until the co_await completes.
  /// Thread safety: await only on the loop's thread, with no other operation
  ///   pending on the pipes.
  /// Example:
  ///   auto r = co_await p.communicate("some input\n");
  template <class T = void>
  [[nodiscard]] task<process_output> communicate(std::string_view input = {}) {
    if (!input.empty() && !stdin_.is_open()) {
      throw std::invalid_argument(
          "corio::process::communicate: input given, but stdin is not a pipe (spawn with "
          "process_options::in = corio::stdio::pipe)");
    }
    process_output result;
    // <T>: a dependent call, so that gather is compiled only where communicate is used.
    co_await gather(write_stdin<T>(input), read_pipe<T>(stdout_, result.out),
                    read_pipe<T>(stderr_, result.err));
    result.exit_status = co_await wait();
    co_return result;
  }

  /// Sends signal `sig` to the child (pidfd_send_signal(2): never to another
  /// process that reused the pid). Does nothing once the child was reaped.
  ///
  /// Throws: std::invalid_argument for an invalid signal (EINVAL);
  ///   std::system_error (EPERM).
  /// Example:
  ///   p.kill(SIGTERM);
  void kill(int sig = SIGKILL) {
    CORIO_ASSERT(child_ != nullptr,
                 "corio::process::kill: no child (a default or moved-from process)");
    if (child_->exit_status)
      return;
    if (detail::pidfd_send_signal(child_->pidfd.get(), sig) < 0 && errno != ESRCH) {
      if (errno == EINVAL)
        throw std::invalid_argument("corio::process::kill: " + std::to_string(sig) +
                                    " is not a signal");
      detail::throw_errno(-errno, "corio::process::kill");
    }
  }

  /// The stream to the child's stdin (not open unless spawned with stdio::pipe).
  net::unix_stream& stdin_pipe() noexcept { return stdin_; }
  /// The stream from the child's stdout (not open unless spawned with stdio::pipe).
  net::unix_stream& stdout_pipe() noexcept { return stdout_; }
  /// The stream from the child's stderr (not open unless spawned with stdio::pipe).
  net::unix_stream& stderr_pipe() noexcept { return stderr_; }

  /// The child's process id; -1 for an object with no child.
  pid_t pid() const noexcept { return pid_; }
  /// The exit status once wait() has seen the child end; std::nullopt before.
  std::optional<int> exit_status() const noexcept {
    return child_ ? child_->exit_status : std::nullopt;
  }

 private:
  // posix_spawn's file actions and attributes, destroyed on every path.
  struct spawn_files {
    posix_spawn_file_actions_t actions;
    std::vector<net::unix_stream> child_ends;  // closed in the parent after the spawn
    spawn_files() { posix_spawn_file_actions_init(&actions); }
    ~spawn_files() { posix_spawn_file_actions_destroy(&actions); }
    spawn_files(const spawn_files&) = delete;
    spawn_files& operator=(const spawn_files&) = delete;
    void dup(int from, int to) { check(posix_spawn_file_actions_adddup2(&actions, from, to)); }
    // Keeps a child end until the spawn; yields its descriptor, 3 or above: one
    // on 0, 1 or 2 (free when this process closed them) would be replaced by
    // another stream's dup2 or /dev/null before its own dup2 ran.
    int keep(net::unix_stream s) {
      if (s.native_handle() < 3) {
        const int moved = ::fcntl(s.native_handle(), F_DUPFD_CLOEXEC, 3);
        if (moved < 0)
          detail::throw_errno(-errno, "corio::process::spawn (fcntl)");
        s = net::unix_stream::from_native_handle(moved);
      }
      child_ends.push_back(std::move(s));
      return child_ends.back().native_handle();
    }
    void null(int fd) {
      check(posix_spawn_file_actions_addopen(&actions, fd, "/dev/null",
                                             fd == 0 ? O_RDONLY : O_WRONLY, 0));
    }
    void chdir(const char* dir) { check(posix_spawn_file_actions_addchdir_np(&actions, dir)); }
    static void check(int rc) {
      if (rc != 0)
        throw std::system_error(rc, std::system_category(), "corio::process::spawn");
    }
  };
  struct spawn_attributes {
    posix_spawnattr_t attributes;
    spawn_attributes() {
      posix_spawnattr_init(&attributes);
      sigset_t none;
      sigemptyset(&none);
      sigset_t all;
      sigfillset(&all);
      posix_spawnattr_setsigmask(&attributes, &none);
      posix_spawnattr_setsigdefault(&attributes, &all);
      posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    }
    ~spawn_attributes() { posix_spawnattr_destroy(&attributes); }
    spawn_attributes(const spawn_attributes&) = delete;
    spawn_attributes& operator=(const spawn_attributes&) = delete;
  };

  // The child gets C strings: a NUL would cut one short, and a '=' in a
  // name would move the rest of it into the value.
  static void check_strings(const std::vector<std::string>& argv, const process_options& options) {
    const std::string who = "corio::process::spawn: ";
    for (std::size_t i = 0; i < argv.size(); ++i) {
      if (argv[i].find('\0') != std::string::npos)
        throw std::invalid_argument(who + "argument " + std::to_string(i) +
                                    " contains a NUL byte, which would end it there");
    }
    if (options.environment) {
      for (const auto& [name, value] : *options.environment) {
        if (name.empty() || name.find_first_of(std::string_view("=\0", 2)) != std::string::npos)
          throw std::invalid_argument(who + "\"" + name +
                                      "\" is not an environment variable name (it must be "
                                      "non-empty, with no '=' and no NUL byte)");
        if (value.find('\0') != std::string::npos)
          throw std::invalid_argument(who + "the value of " + name +
                                      " contains a NUL byte, which would end it there");
      }
    }
    if (options.working_directory.native().find('\0') != std::string::npos)
      throw std::invalid_argument(who + "the working directory contains a NUL byte");
  }

  template <class = void>
  task<> write_stdin(std::string_view input) {
    if (stdin_.is_open())
      co_await detail::write_and_close(stdin_, input);
  }
  template <class = void>
  static task<> read_pipe(net::unix_stream& s, std::string& out) {
    if (s.is_open())
      co_await detail::read_to_end(s, out);
  }

  pid_t pid_ = -1;
  std::shared_ptr<detail::child_state> child_;
  net::unix_stream stdin_;
  net::unix_stream stdout_;
  net::unix_stream stderr_;
};

}  // namespace corio
