// SPDX-License-Identifier: MIT
#include <corio/detail/backend/io_uring.hpp>

#include <liburing.h>
#include <sys/utsname.h>

#include <catch2/catch_test_macros.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "support/io_uring_available.hpp"

namespace {

bool contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("describe_setup_error: ENOSYS names the kernel and the seccomp profile", "[ring]") {
  const std::string m = corio::detail::describe_setup_error(ENOSYS, -1);
  CHECK(contains(m, "ENOSYS"));
  CHECK(contains(m, "seccomp"));
  CHECK(contains(m, "io_uring_setup"));
  CHECK(contains(m, "5.15"));
}

TEST_CASE("describe_setup_error: EPERM with kernel.io_uring_disabled=2 says how to enable it",
          "[ring]") {
  const std::string m = corio::detail::describe_setup_error(EPERM, 2);
  CHECK(contains(m, "io_uring_disabled=2"));
  CHECK(contains(m, "sysctl -w kernel.io_uring_disabled=0"));
}

TEST_CASE("describe_setup_error: EPERM with kernel.io_uring_disabled=1 names io_uring_group",
          "[ring]") {
  const std::string m = corio::detail::describe_setup_error(EPERM, 1);
  CHECK(contains(m, "io_uring_disabled=1"));
  CHECK(contains(m, "kernel.io_uring_group"));
}

TEST_CASE("describe_setup_error: EPERM with the sysctl at 0 or absent blames a seccomp filter",
          "[ring]") {
  for (const int sysctl : {0, -1}) {
    const std::string m = corio::detail::describe_setup_error(EPERM, sysctl);
    CHECK(contains(m, "EPERM"));
    CHECK(contains(m, "seccomp"));
    CHECK_FALSE(contains(m, "io_uring_disabled="));
  }
}

TEST_CASE("describe_setup_error: ENOMEM names RLIMIT_MEMLOCK, its value and queue_depth",
          "[ring]") {
  const std::string m = corio::detail::describe_setup_error(ENOMEM, 0);
  CHECK(contains(m, "ENOMEM"));
  CHECK(contains(m, "RLIMIT_MEMLOCK is "));
  CHECK((contains(m, "KiB") || contains(m, "unlimited")));
  CHECK(contains(m, "ulimit -l"));
  CHECK(contains(m, "queue_depth"));
}

TEST_CASE("describe_setup_error: another errno names the call, without strerror's text", "[ring]") {
  // std::system_error appends strerror itself: "Invalid argument: Invalid argument" otherwise.
  const std::string m = corio::detail::describe_setup_error(EINVAL, 0);
  CHECK(contains(m, "io_uring_queue_init"));
  CHECK_FALSE(contains(m, std::strerror(EINVAL)));
}

TEST_CASE("io_uring_disabled_sysctl: reads -1 (absent) or 0, 1, 2", "[ring]") {
  const int v = corio::detail::io_uring_disabled_sysctl();
  CHECK(v >= -1);
  CHECK(v <= 2);
}

TEST_CASE("ring: sets up with the fastest flags the kernel accepts", "[ring][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::detail::ring r;
  REQUIRE(r.init(8, false) == 0);
  const unsigned flags = r.setup_flags();
  CHECK((flags & IORING_SETUP_SQPOLL) == 0);
  if ((flags & IORING_SETUP_DEFER_TASKRUN) != 0) {
    CHECK((flags & IORING_SETUP_SINGLE_ISSUER) != 0);
    CHECK(r.defers_task_work());
  }
  // A NOP round trip works on it.
  io_uring_sqe* sqe = io_uring_get_sqe(r.get());
  REQUIRE(sqe != nullptr);
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, 7);
  REQUIRE(io_uring_submit_and_wait(r.get(), 1) == 1);
  io_uring_cqe* cqe = nullptr;
  REQUIRE(io_uring_peek_cqe(r.get(), &cqe) == 0);
  CHECK(cqe->user_data == 7);
  CHECK(cqe->res == 0);
  io_uring_cqe_seen(r.get(), cqe);
}

TEST_CASE("ring: enters through a registered ring fd on Linux 5.18 and later", "[ring][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  utsname u{};
  REQUIRE(uname(&u) == 0);
  int major = 0;
  int minor = 0;
  REQUIRE(std::sscanf(u.release, "%d.%d", &major, &minor) == 2);
  corio::detail::ring r;
  REQUIRE(r.init(8, false) == 0);
  if (major > 5 || (major == 5 && minor >= 18))
    CHECK(r.ring_fd_registered());
  // Submitting and waiting work through it, twice (a second ring registers too).
  corio::detail::ring second;
  REQUIRE(second.init(8, false) == 0);
  for (corio::detail::ring* each : {&r, &second}) {
    io_uring_prep_nop(io_uring_get_sqe(each->get()));
    REQUIRE(io_uring_submit_and_wait(each->get(), 1) == 1);
    io_uring_cqe* cqe = nullptr;
    REQUIRE(io_uring_peek_cqe(each->get(), &cqe) == 0);
    io_uring_cqe_seen(each->get(), cqe);
  }
}

TEST_CASE("ring: a depth above the kernel's maximum is clamped, not refused", "[ring][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::detail::ring r;
  REQUIRE(r.init(1u << 20, false) == 0);  // above IORING_MAX_ENTRIES (32768)
  CHECK(r.sq_entries() == 32768);
  CHECK(r.cq_entries() == 65536);
}

TEST_CASE("ring: the kernel keeps completions that do not fit the CQ (IORING_FEAT_NODROP)",
          "[ring][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  corio::detail::ring r;
  REQUIRE(r.init(8, false) == 0);
  CHECK((r.features() & IORING_FEAT_NODROP) != 0);
}

TEST_CASE("setup_refusal_cause: names what refused io_uring_setup in a few words", "[ring]") {
  CHECK(corio::detail::setup_refusal_cause(EPERM, 2) == "kernel.io_uring_disabled=2");
  CHECK(contains(corio::detail::setup_refusal_cause(EPERM, 1), "kernel.io_uring_group"));
  for (const int sysctl : {0, -1})
    CHECK(contains(corio::detail::setup_refusal_cause(EPERM, sysctl), "seccomp"));
  CHECK(contains(corio::detail::setup_refusal_cause(ENOSYS, -1), "without io_uring"));
  CHECK(contains(corio::detail::setup_refusal_cause(ENOMEM, 0), "RLIMIT_MEMLOCK, "));
  CHECK(corio::detail::setup_refusal_cause(EMFILE, 0).empty());
}
