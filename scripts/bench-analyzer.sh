#!/usr/bin/env bash
# Benchmarks mlx-analyze against the pandas reference script on 1,000 generated traces.
# The benchmark target generates the traces itself (once, into target/bench-traces) with the
# analyzer's synthetic trace generator, then runs both analyses and prints a table of medians.
# Needs the Python packages pandas and msgpack in .venv (or set BENCH_PYTHON).
# Environment knobs: BENCH_TRACES, BENCH_DIR, BENCH_RUNS, BENCH_PY_RUNS, BENCH_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] && [ -z "${BENCH_PYTHON:-}" ]; then
  echo "note: .venv/bin/python not found; using python3 (needs pandas and msgpack)" >&2
fi
exec cargo bench -p mlx-analyze --bench analyze "$@"
