#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/docs.sh: build corio's API reference from the /// comments of its public headers
# with Doxygen (configuration: docs/Doxyfile). Open build/docs/html/index.html.
#
# Fails, printing each warning, if Doxygen reports any: a broken comment is a build error,
# and scripts/test.sh runs this script. Needs doxygen (Debian: apt-get install doxygen;
# scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v doxygen >/dev/null 2>&1; then
  echo "docs.sh: doxygen is not installed (Debian/Ubuntu: apt-get install doxygen, or run" \
    "scripts/install-deps.sh)" >&2
  exit 1
fi
rm -rf build/docs
mkdir -p build/docs
doxygen docs/Doxyfile
echo "docs.sh: the API reference is in build/docs/html/index.html"
