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
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string>
#include <system_error>
#include <vector>

namespace corio_test {

class child_process {
 public:
  // Starts argv[0], looked up in PATH, with stdin from /dev/null and stdout on a pipe;
  // stderr goes to the test's own.
  explicit child_process(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0)
      throw std::system_error(errno, std::system_category(), "child_process: pipe2");
    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls until exec. The child dies with the test, even
      // when a crash skips the destructor (PR_SET_PDEATHSIG: start children on the main
      // thread, whose exit it follows), so no peer outlives the test holding its pipes.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent)
        ::_exit(127);
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, 0);
      ::dup2(fds[1], 1);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(fds[1]);
    if (pid_ < 0) {
      ::close(fds[0]);
      throw std::system_error(fork_errno, std::system_category(), "child_process: fork");
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
