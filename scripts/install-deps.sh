#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/install-deps.sh: check that this machine can build and run corio, then
# install (with apt-get) only the Debian/Ubuntu packages that are missing.
#
# Called by scripts/demo.sh and scripts/test.sh; safe to run by hand. A second run
# finds everything installed and does no apt work at all (not even apt-get update).
#
# Environment:
#   CORIO_SKIP_INSTALL=1       only run the checks; install nothing (other distributions,
#                              hand-built toolchains).
#   CORIO_ALLOW_NO_IO_URING=1  turn "io_uring is unavailable" into a warning: the build
#                              still works and the I/O tests skip (unless
#                              CORIO_REQUIRE_IO_URING=1, which makes them fail instead).
set -euo pipefail

log() { printf 'install-deps: %s\n' "$*"; }

# Prints a one-paragraph explanation and stops. The paragraph is the whole message:
# it says what is wrong and what to do about it.
fail() {
  printf '\ninstall-deps: ERROR\n%s\n\n' "$*" | fold -s -w 100 >&2
  exit 1
}

warn() { printf 'install-deps: warning: %s\n' "$*" | fold -s -w 100 >&2; }

# --- Platform checks (no installs yet) ---------------------------------------------

if [[ "$(uname -s)" != Linux ]]; then
  fail "corio runs only on Linux: it is built on io_uring, which no other kernel has. \
This machine runs $(uname -s). Use a Linux machine or VM with kernel 5.15 or newer."
fi

kernel_release="$(uname -r)"
kernel_major="${kernel_release%%.*}"
kernel_minor="${kernel_release#*.}"
kernel_minor="${kernel_minor%%[!0-9]*}"
if ((kernel_major < 5 || (kernel_major == 5 && kernel_minor < 15))); then
  fail "corio needs Linux 5.15 or newer for the io_uring operations it uses; this kernel \
is ${kernel_release}. Linux 6.1 or newer is recommended, because it adds \
IORING_SETUP_DEFER_TASKRUN, which lets the loop's own thread run the completion work \
when it asks for it instead of being interrupted. Upgrade the kernel (on Debian 12 the stock 6.1 kernel is enough)."
fi
if ((kernel_major < 6 || (kernel_major == 6 && kernel_minor < 1))); then
  warn "kernel ${kernel_release} works, but 6.1+ is recommended (IORING_SETUP_DEFER_TASKRUN)."
fi

# Reports why io_uring cannot be used by this process, or nothing when it can.
io_uring_sysctl_problem() {
  local setting=/proc/sys/kernel/io_uring_disabled value group
  [[ -r "$setting" ]] || return 0 # older kernels have no such switch: io_uring is on
  value="$(<"$setting")"
  case "$value" in
    2)
      echo "io_uring is disabled for every process on this machine: the sysctl \
kernel.io_uring_disabled is 2. corio cannot run without io_uring. Enable it with \
'sudo sysctl -w kernel.io_uring_disabled=0' (and to keep it across reboots, add the line \
'kernel.io_uring_disabled = 0' to /etc/sysctl.d/99-io_uring.conf)."
      ;;
    1)
      # 1 still allows processes with CAP_SYS_ADMIN and members of kernel.io_uring_group.
      group="$(cat /proc/sys/kernel/io_uring_group 2>/dev/null || echo -1)"
      if [[ "$(id -u)" != 0 ]] && ! id -G | tr ' ' '\n' | grep -qx -- "$group"; then
        echo "io_uring is disabled for unprivileged processes on this machine: the sysctl \
kernel.io_uring_disabled is 1, and you are neither root nor in the group whose id is in \
kernel.io_uring_group (${group}). corio's tests and examples need io_uring. Enable it with \
'sudo sysctl -w kernel.io_uring_disabled=0' (persist it in /etc/sysctl.d/99-io_uring.conf), \
or add yourself to that group."
      fi
      ;;
  esac
}

io_uring_refused() {
  local problem
  problem="$1"
  if [[ "${CORIO_ALLOW_NO_IO_URING:-}" == 1 ]]; then
    warn "$problem (Continuing because CORIO_ALLOW_NO_IO_URING=1: the I/O tests will skip.)"
  else
    fail "$problem Set CORIO_ALLOW_NO_IO_URING=1 to build anyway and let the I/O tests skip."
  fi
}

problem="$(io_uring_sysctl_problem)"
[[ -z "$problem" ]] || io_uring_refused "$problem"

# --- What is missing ---------------------------------------------------------------

# shellcheck disable=SC1091
[[ -r /etc/os-release ]] && . /etc/os-release
os_id="${ID:-unknown}"
os_like="${ID_LIKE:-}"
os_version="${VERSION_ID:-}"
os_codename="${VERSION_CODENAME:-}"

is_installed() { # package: true when dpkg has it fully installed
  [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" == "ii " ]]
}

installed_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }

candidate_version() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }

major_at_least_3() { # Debian version string, e.g. 3.7.1-0.4~bpo12+1 or 1:3.4.0-1
  [[ "$1" =~ ^([0-9]+:)?([0-9]+) ]] && ((BASH_REMATCH[2] >= 3))
}

# Catch2 v3 (Debian 12's main archive has only v2, in the package "catch2").
catch2_v3_installed() {
  local pkg
  for pkg in libcatch2-dev catch2; do
    if is_installed "$pkg" && major_at_least_3 "$(installed_version "$pkg")"; then
      return 0
    fi
  done
  return 1
}

clang_major() { clang++ -dumpversion 2>/dev/null | cut -d. -f1; }

# clang-19 with libc++ 19 is test.sh's second compiler and standard library (Debian's
# libc++-N-dev packages conflict with each other: one libc++ per machine). doxygen builds the
# API reference (scripts/docs.sh), gnuplot-nox the benchmark plot (scripts/bench.sh), gdb the test
# of tools/corio-gdb.py.
packages=(g++ clang clang-format cmake ninja-build pkg-config liburing-dev libbenchmark-dev
  libasio-dev libcurl4-openssl-dev nlohmann-json3-dev python3 netcat-openbsd libssl-dev openssl
  clang-19 libc++-19-dev libc++abi-19-dev doxygen gnuplot-nox gdb)

have_dpkg=1
command -v dpkg-query >/dev/null 2>&1 || have_dpkg=0

missing=()       # plain package names, installed in one apt-get call
missing_names=() # everything missing, for messages
need_catch2=0
need_clang_rt=0
if ((have_dpkg)); then
  for pkg in "${packages[@]}"; do
    is_installed "$pkg" || { missing+=("$pkg") && missing_names+=("$pkg"); }
  done
  catch2_v3_installed || { need_catch2=1 && missing_names+=("libcatch2-dev(v3)"); }
  # The sanitizer and libFuzzer runtimes must match the clang major version, which is
  # known only once clang is installed.
  if command -v clang++ >/dev/null 2>&1; then
    is_installed "libclang-rt-$(clang_major)-dev" || need_clang_rt=1
  else
    need_clang_rt=1
  fi
  ((!need_clang_rt)) || missing_names+=("libclang-rt-N-dev")
fi

# --- Installs (only when something is missing) --------------------------------------

if [[ "${CORIO_SKIP_INSTALL:-}" == 1 ]]; then
  log "CORIO_SKIP_INSTALL=1: installing nothing."
elif ((!have_dpkg)) || [[ "$os_id" != debian && "$os_id" != ubuntu && "$os_like" != *debian* ]]; then
  fail "this script installs packages only on Debian and Ubuntu (found '${os_id}'). Install \
by hand: g++ >= 12 or clang >= 14 (both for scripts/test.sh, with clang's sanitizer and \
libFuzzer runtimes), CMake >= 3.25, Ninja, pkg-config, liburing >= 2.3 with its headers, \
Catch2 v3, Google Benchmark, Asio, libcurl, nlohmann-json, OpenSSL 3 (headers and the openssl \
command), python3 and netcat; then run \
again with CORIO_SKIP_INSTALL=1."
elif ((${#missing_names[@]} == 0)); then
  log "all packages already installed; no apt work needed."
else
  if [[ "$(id -u)" == 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    fail "some packages are missing (${missing_names[*]}), and installing them needs root, but you \
are not root and sudo is not installed. Run this script as root once (for example \
'su -c ./scripts/install-deps.sh'), or install sudo, or install the packages yourself and \
run with CORIO_SKIP_INSTALL=1."
  fi
  apt_get() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q "$@"; }
  apt_install() { apt_get install -y --no-install-recommends "$@"; }

  # Catch2 v3 is libcatch2-dev 3.x (or, in older packaging, catch2 3.x): in the main
  # archives of Debian 13 and Ubuntu 24.04, and only in bookworm-backports on Debian 12.
  bookworm=0
  [[ "$os_id" == debian && "$os_codename" == bookworm ]] && bookworm=1
  if ((need_catch2 && bookworm)) && ! grep -qsE '^[^#]*bookworm-backports' /etc/apt/sources.list \
    /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
    log "enabling bookworm-backports for Catch2 v3 (/etc/apt/sources.list.d/bookworm-backports.list)"
    echo 'deb http://deb.debian.org/debian bookworm-backports main' |
      "${sudo[@]}" tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
  fi

  log "installing with apt-get: ${missing_names[*]}"
  apt_get update
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"

  if ((need_catch2)); then
    if ((bookworm)); then
      apt_install -t bookworm-backports libcatch2-dev
    elif major_at_least_3 "$(candidate_version libcatch2-dev)"; then
      apt_install libcatch2-dev
    elif major_at_least_3 "$(candidate_version catch2)"; then
      apt_install catch2 # releases packaged before the libcatch2-dev split (Catch2 3.4.0-1)
    else
      fail "Catch2 v3 (package libcatch2-dev 3.x) is not available from this machine's apt \
sources (${PRETTY_NAME:-$os_id $os_version}). On Ubuntu, enable the 'universe' component; \
otherwise install Catch2 v3 by hand (its CMake package must be findable) and run again with \
CORIO_SKIP_INSTALL=1."
    fi
  fi

  if ((need_clang_rt)) && ! is_installed "libclang-rt-$(clang_major)-dev"; then
    apt_install "libclang-rt-$(clang_major)-dev"
  fi
  log "done installing."
fi

# --- libc++ 14, unpacked beside the build (not installed) --------------------------

# scripts/test.sh checks corio against libc++ 14, the oldest libc++ it supports. Debian's
# libc++-N-dev packages conflict with each other and libc++ 19 is the installed one, so
# libc++ 14's packages are downloaded (apt-get download, no root) and unpacked into
# build/libcxx14 instead. Once unpacked, nothing is downloaded again.
libcxx14_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/libcxx14"
if [[ "${CORIO_SKIP_INSTALL:-}" != 1 ]] && ((have_dpkg)) && command -v clang++-14 >/dev/null 2>&1 \
  && [[ ! -r "$libcxx14_dir/usr/lib/llvm-14/include/c++/v1/__config" ]]; then
  download_dir="$(mktemp -d)"
  if (cd "$download_dir" && apt-get download -q libc++-14-dev libc++1-14 libc++abi-14-dev \
    libc++abi1-14) >/dev/null 2>&1; then
    mkdir -p "$libcxx14_dir"
    for deb in "$download_dir"/*.deb; do dpkg-deb -x "$deb" "$libcxx14_dir"; done
    log "unpacked libc++ 14 into build/libcxx14 (for scripts/test.sh's libc++ 14 check)"
  else
    warn "could not download libc++ 14's packages (apt-get download libc++-14-dev ...); \
scripts/test.sh skips its libc++ 14 check."
  fi
  rm -rf "$download_dir"
fi

# --- Toolchain and runtime checks (after the installs) ------------------------------

compiler_major() { "$1" -dumpversion 2>/dev/null | cut -d. -f1; }

gxx_major="$(compiler_major g++ || true)"
clangxx_major="$(compiler_major clang++ || true)"
if [[ -z "$gxx_major" && -z "$clangxx_major" ]]; then
  fail "no C++ compiler found (g++ or clang++). corio needs g++ 12 or newer, or clang 14 or \
newer, for C++20 coroutines. Install g++ (Debian 12 and Ubuntu 24.04 ship a new enough one)."
fi
if [[ -n "$gxx_major" ]] && ((gxx_major < 12)); then
  fail "g++ ${gxx_major} is too old: corio needs g++ 12 or newer (or clang 14 or newer) for \
its C++20 coroutine support; older g++ versions miscompile coroutines or lack the library \
parts corio uses. Install a newer g++ (for example the g++-12 package) and make it the \
'g++' on PATH."
fi
if [[ -n "$clangxx_major" ]] && ((clangxx_major < 14)); then
  fail "clang ${clangxx_major} is too old: corio needs clang 14 or newer (or g++ 12 or newer) \
for its C++20 coroutine support. scripts/test.sh also builds with clang++ for the sanitizer \
runs. Install clang 14 or newer and make it the 'clang++' on PATH."
fi

# The sysctl says nothing about seccomp filters (containers often refuse io_uring_setup),
# so ask the kernel: io_uring_setup(4 entries) must return a descriptor.
if command -v python3 >/dev/null 2>&1; then
  if ! probe="$(
    python3 - <<'EOF' 2>&1
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
fd = libc.syscall(425, 4, params)          # __NR_io_uring_setup (same on x86_64 and arm64)
if fd < 0:
    print(os.strerror(ctypes.get_errno()))
    sys.exit(1)
os.close(fd)
EOF
  )"; then
    io_uring_refused "this process may not use io_uring: io_uring_setup failed with \
'${probe}'. In a container, the default seccomp profile blocks io_uring (Docker: run with \
--security-opt seccomp=unconfined, or a profile that allows io_uring_setup, io_uring_enter \
and io_uring_register); otherwise check kernel.io_uring_disabled."
  fi
fi

log "ready: Linux ${kernel_release}, g++ ${gxx_major:-none}, clang++ ${clangxx_major:-none}."
