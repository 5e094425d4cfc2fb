// SPDX-License-Identifier: MIT
// tests/seccomp/seccomp_launcher.c: runs a program the way a container runtime that blocks
// io_uring would, so that the tests can check where corio lands without a container.
//
// Usage: seccomp_launcher <mode> <program> [args...]
//   eperm        io_uring_setup, io_uring_enter and io_uring_register fail with EPERM
//                (what Docker's and Podman's default seccomp profiles answer)
//   enosys       the same three fail with ENOSYS (a filter that pretends the kernel lacks them)
//   enter-eperm  only io_uring_enter fails with EPERM: setup and register succeed (profiles
//                seen in the wild that allow a ring to be created but not used)
// It sets no_new_privs (so no privilege is needed to install the filter), installs a
// hand-written BPF filter with prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) and execs the
// program; the filter is inherited across exec and by every thread and child. Exit status
// 125 means the launcher itself failed (bad usage, or the kernel refused the filter); 127
// means the program could not be executed.
//
// C, with no libseccomp, so that it builds wherever the tests build. Build by hand:
//   cc -O2 -o seccomp_launcher tests/seccomp/seccomp_launcher.c
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "io_uring_syscalls.h"

#if defined(__x86_64__)
#  define LAUNCHER_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#  define LAUNCHER_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#  error "seccomp_launcher knows the audit architecture of x86_64 and aarch64 only"
#endif

// x32 processes share AUDIT_ARCH_X86_64 and mark their syscall numbers with this bit; the
// filter clears it so that an x32 io_uring_setup is refused too instead of slipping through.
#define LAUNCHER_X32_SYSCALL_BIT 0x40000000u

enum { exit_launcher_failed = 125, exit_exec_failed = 127 };

static void usage(void) {
  fprintf(stderr,
          "usage: seccomp_launcher eperm|enosys|enter-eperm <program> [args...]\n"
          "  eperm        io_uring_setup/enter/register fail with EPERM (Docker's default)\n"
          "  enosys       the same three fail with ENOSYS\n"
          "  enter-eperm  only io_uring_enter fails with EPERM\n");
}

// Installs the filter: a syscall of a foreign architecture kills the process (the numbers
// below mean something else there); each of the `count` syscalls in `refused` returns -1
// with errno `err`; every other syscall is allowed.
static int install_filter(const unsigned* refused, size_t count, int err) {
  struct sock_filter program[16];
  size_t n = 0;
  program[n++] =
      (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  program[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, LAUNCHER_AUDIT_ARCH, 1, 0);
  program[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  program[n++] =
      (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  program[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~LAUNCHER_X32_SYSCALL_BIT);
  for (size_t i = 0; i < count; ++i) {
    // On a match fall through to the refusal; otherwise skip it.
    program[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, refused[i], 0, 1);
    program[n++] = (struct sock_filter)BPF_STMT(
        BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA));
  }
  program[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog fprog = {
      .len = (unsigned short)n,
      .filter = program,
  };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fprintf(stderr, "seccomp_launcher: prctl(PR_SET_NO_NEW_PRIVS): %s\n", strerror(errno));
    return -1;
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0) {
    fprintf(stderr,
            "seccomp_launcher: prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER): %s (a kernel "
            "without CONFIG_SECCOMP_FILTER cannot run these tests)\n",
            strerror(errno));
    return -1;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    usage();
    return exit_launcher_failed;
  }
  static const unsigned all_three[] = {__NR_io_uring_setup, __NR_io_uring_enter,
                                       __NR_io_uring_register};
  static const unsigned enter_only[] = {__NR_io_uring_enter};
  if (strcmp(argv[1], "eperm") == 0) {
    if (install_filter(all_three, 3, EPERM) != 0)
      return exit_launcher_failed;
  } else if (strcmp(argv[1], "enosys") == 0) {
    if (install_filter(all_three, 3, ENOSYS) != 0)
      return exit_launcher_failed;
  } else if (strcmp(argv[1], "enter-eperm") == 0) {
    if (install_filter(enter_only, 1, EPERM) != 0)
      return exit_launcher_failed;
  } else {
    fprintf(stderr, "seccomp_launcher: unknown mode '%s'\n", argv[1]);
    usage();
    return exit_launcher_failed;
  }
  execvp(argv[2], argv + 2);
  fprintf(stderr, "seccomp_launcher: cannot execute %s: %s\n", argv[2], strerror(errno));
  return exit_exec_failed;
}
