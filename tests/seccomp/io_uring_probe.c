// SPDX-License-Identifier: MIT
// tests/seccomp/io_uring_probe.c: calls the three io_uring syscalls directly (no liburing) and
// prints what each answered, so that a test can check what seccomp_launcher's filter does.
//
// Output, one line: "setup=<r> enter=<r> register=<r>", where <r> is "ok" or the errno's name
// (EPERM, ENOSYS, EBADF, ...). enter and register are called on the ring that setup made, or
// on fd -1 when setup failed: the kernel answers EBADF there, a filter its own errno first.
#define _GNU_SOURCE  // syscall()

#include <unistd.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "io_uring_syscalls.h"

// struct io_uring_params is 120 bytes; setup reads it and writes the offsets back. A zeroed
// buffer asks for a default ring, so the probe needs no kernel headers newer than libc's.
enum { io_uring_params_size = 120, unregister_buffers = 1 };

static const char* name_of(long res, int err) {
  if (res >= 0)
    return "ok";
  switch (err) {
    case EPERM:
      return "EPERM";
    case ENOSYS:
      return "ENOSYS";
    case EBADF:
      return "EBADF";
    case ENXIO:
      return "ENXIO";
    case EINVAL:
      return "EINVAL";
    case EACCES:
      return "EACCES";
    default:
      return strerror(err);
  }
}

int main(void) {
  unsigned char params[io_uring_params_size];
  memset(params, 0, sizeof(params));
  const long fd = syscall(__NR_io_uring_setup, 4u, params);
  const char* setup = name_of(fd, errno);
  const int ring = fd >= 0 ? (int)fd : -1;
  // Nothing to submit, nothing to wait for: an unfiltered kernel answers 0 at once.
  const long entered = syscall(__NR_io_uring_enter, ring, 0u, 0u, 0u, NULL, 0ul);
  const char* enter = name_of(entered, errno);
  // No buffers are registered: an unfiltered kernel answers ENXIO.
  const long registered = syscall(__NR_io_uring_register, ring, unregister_buffers, NULL, 0u);
  const char* reg = name_of(registered, errno);
  printf("setup=%s enter=%s register=%s\n", setup, enter, reg);
  if (ring >= 0)
    close(ring);
  return 0;
}
