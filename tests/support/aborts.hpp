// SPDX-License-Identifier: MIT
// tests/support/aborts.hpp: runs code that must abort (a debug check in a destructor) in a forked
// child, and returns what the child wrote to stderr.
//
// Usage:
//   const corio_test::abort_result r = corio_test::run_in_child([] { corio::run(misuse()); });
//   CHECK(r.aborted);
//   CHECK(r.err.find("destroyed while") != std::string::npos);
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstddef>
#include <string>
#include <system_error>

namespace corio_test {

struct abort_result {
  bool aborted = false;  // the child died of SIGABRT
  std::string err;       // its stderr
};

template <class Fn>
abort_result run_in_child(Fn fn) {
  int out[2];
  if (::pipe(out) != 0)
    throw std::system_error(errno, std::system_category(), "run_in_child: pipe");
  const pid_t pid = ::fork();
  if (pid < 0)
    throw std::system_error(errno, std::system_category(), "run_in_child: fork");
  if (pid == 0) {
    ::dup2(out[1], STDERR_FILENO);
    std::signal(SIGABRT, SIG_DFL);  // not Catch's handler: it would report a failed test
    try {
      fn();
    } catch (...) {
    }
    ::_exit(0);  // reached only if fn did not abort
  }
  ::close(out[1]);
  abort_result r;
  char buffer[256];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;)
    r.err.append(buffer, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid)
    throw std::system_error(errno, std::system_category(), "run_in_child: waitpid");
  r.aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  return r;
}

}  // namespace corio_test
