#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/demo.sh: install what corio needs, build the examples in Release and run them.
#
# Usage: scripts/demo.sh
# Builds with the CMake preset "release" (g++, Ninja) into build/release, which is kept:
# a second run rebuilds only what changed. Then runs, offline and without arguments,
# count (asyncio's count demo), pokemon and next_level (the to_thread demos).
# Environment: those of scripts/install-deps.sh (CORIO_SKIP_INSTALL, CORIO_ALLOW_NO_IO_URING).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/install-deps.sh

echo
echo "==> configure and build (cmake --preset release: g++ Release, build/release)"
cmake --preset release
cmake --build --preset release

for example in count pokemon next_level; do
  binary="build/release/examples/${example}"
  echo
  if [[ -x "$binary" ]]; then
    echo "==> ${binary}"
    "$binary"
  elif [[ -e "examples/${example}.cpp" ]]; then
    echo "demo.sh: examples/${example}.cpp exists but ${binary} was not built;" \
      "is it missing from examples/CMakeLists.txt?" >&2
    exit 1
  else
    echo "==> ${example}: not written yet (no examples/${example}.cpp); skipped."
  fi
done
