// SPDX-License-Identifier: MIT
// tests/seccomp/io_uring_syscalls.h: the io_uring syscall numbers, for C headers too old to
// name them. They are the same on every architecture (they came after the numbering was
// unified in Linux 5.1).
#pragma once

#include <sys/syscall.h>

#ifndef __NR_io_uring_setup
#  define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#  define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#  define __NR_io_uring_register 427
#endif
