#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/bench.sh: build corio's benchmarks in Release and run them beside their
# references (bare/raw liburing floors, Asio epoll and io_uring, Python asyncio; for
# W6 also corio forced onto its epoll backend beside a plain epoll server; for W9-W11
# Python's ssl, openssl s_server and a raw UDP socket loop), then
# print one markdown table (also written to build/bench/results.md) and redraw the
# README's plot, docs/benchmarks.svg, with gnuplot.
#
# Usage: scripts/bench.sh [--full] [--only PARTS] [--report-only] [--no-build]
#   (default)      quick mode: about 5 minutes on 2 cores; W1 at 1M tasks and W2 at
#                  100k and 1M sleeps for the C++ programs; fewer repetitions, a
#                  smaller W6 grid, smaller N for Python
#   --full         5 repetitions (--benchmark_repetitions=5
#                  --benchmark_report_aggregates_only=true), the whole W6 grid at
#                  5 s a point, 3 runs of everything else (about 30 minutes)
#   --only PARTS   comma-separated subset of corio,asio,python,w3,w6,io,c1
#   --report-only  rebuild the table from the results of the last run
#   --no-build     skip configure and build (use build/bench as it is)
# Workloads, references and targets: bench/README.md. Run it on an idle machine:
# the table records the load average at the start.
# Environment: those of scripts/install-deps.sh (CORIO_SKIP_INSTALL, ...);
#   CORIO_BENCH_DIR  where W7's 1 GiB file is written (default /tmp)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=1
run_args=()
while (($#)); do
  case "$1" in
    --full | --report-only) run_args+=("$1") ;;
    --only)
      [[ $# -ge 2 ]] || { echo "bench.sh: --only needs a list (corio,asio,python,w3,w6,io,c1)" >&2; exit 2; }
      run_args+=("--only" "$2")
      shift
      ;;
    --no-build) build=0 ;;
    -h | --help)
      sed -n '3,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bench.sh: unknown argument '$1' (try --help)" >&2
      exit 2
      ;;
  esac
  shift
done

start=$(date +%s)
if ((build)); then
  ./scripts/install-deps.sh
  echo
  echo "==> configure and build (cmake --preset bench: g++ Release, build/bench)"
  cmake --preset bench -DCORIO_BUILD_BENCH=ON
  cmake --build --preset bench
fi

python3 bench/run_all.py --build build/bench "${run_args[@]}"

# The README's plot, redrawn from this run's figures (bench/run_all.py writes plot.tsv).
if command -v gnuplot >/dev/null 2>&1 && [[ -s build/bench/plot.tsv ]]; then
  gnuplot -e "data='build/bench/plot.tsv'; out='docs/benchmarks.svg'" bench/plot.gp
  echo "==> plot redrawn: docs/benchmarks.svg"
else
  echo "bench.sh: gnuplot (Debian: gnuplot-nox) or build/bench/plot.tsv missing; docs/benchmarks.svg not redrawn"
fi
echo "==> bench.sh took $(($(date +%s) - start)) s"
