// SPDX-License-Identifier: MIT
// tests/support/child_process.hpp: an independent peer process for protocol tests (python3,
// openssl), with its stdout on a pipe.
//
// Usage:
//   corio_test::child_process peer({"python3", "-c", script, arg});
//   std::string port = peer.read_line();             // blocking: before the loop runs
//   int status = co_await corio::to_thread([&] { return peer.wait(); });
// The destructor kills (SIGKILL) and reaps a child that has not been waited for.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spawn.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string>
#include <system_error>
#include <vector>

extern char** environ;

namespace corio_test {

class child_process {
 public:
  // Starts argv[0], looked up in PATH, with stdin from /dev/null and stdout on a pipe;
  // stderr goes to the test's own.
  explicit child_process(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0)
      throw std::system_error(errno, std::system_category(), "child_process: pipe2");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      throw std::system_error(rc, std::system_category(), "child_process: spawn " + argv[0]);
    }
    out_ = ::fdopen(fds[0], "r");
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
    if (out_ != nullptr)
      std::fclose(out_);
  }

  // One line of the child's stdout without its "\n"; "" at its end. Blocks.
  std::string read_line() {
    std::string line;
    for (int c; (c = std::fgetc(out_)) != EOF && c != '\n';)
      line += static_cast<char>(c);
    return line;
  }

  // Everything left on the child's stdout. Blocks until the child closes it.
  std::string read_all() {
    std::string all;
    for (int c; (c = std::fgetc(out_)) != EOF;)
      all += static_cast<char>(c);
    return all;
  }

  // Waits for the child to exit: its exit code, or 128 + the signal that ended it. Blocks.
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  std::FILE* out_ = nullptr;
};

}  // namespace corio_test
