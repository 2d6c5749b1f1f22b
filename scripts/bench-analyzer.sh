#!/usr/bin/env bash
# Benchmarks mlx-analyze against the pandas reference script on generated traces: 1,000 traces
# (about 17 million events) and 10,000 traces (about 170 million events) by default.
# The benchmark target generates the traces itself (once per count, into target/bench-traces)
# with the synthetic trace generator, then runs the analyses and prints a table of medians.
#
# With BENCH_BASELINE=REV (a git revision, e.g. the commit before a change), the benchmark of
# that revision is built too (its sources exported into target/bench-baseline, built in the same
# target directory against this checkout's Cargo.lock) and its runs are interleaved with this
# build's on the counts up to BENCH_BASELINE_MAX (default 1000), so both see the same machine.
#
# Needs the Python packages pandas and msgpack in .venv (or set BENCH_PYTHON).
# Environment knobs: BENCH_TRACES (default 1000,10000), BENCH_DIR, BENCH_RUNS, BENCH_PY_RUNS,
# BENCH_PY_TIDY_MAX, BENCH_PYTHON, BENCH_BASELINE, BENCH_BASELINE_MAX.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] && [ -z "${BENCH_PYTHON:-}" ]; then
  echo "note: .venv/bin/python not found; using python3 (needs pandas and msgpack)" >&2
fi
export BENCH_TRACES="${BENCH_TRACES:-1000,10000}"
if [ -n "${BENCH_BASELINE:-}" ]; then
  src=target/bench-baseline/src
  rm -rf "$src"
  mkdir -p "$src"
  # -m: extraction time as the files' mtime. git archive stamps them with the commit's time,
  # older than the artifacts an earlier baseline left in the shared target directory, and cargo
  # would take those for fresh.
  git archive "$BENCH_BASELINE" | tar -x -m -C "$src"
  # Same dependency versions and features as this checkout, so only the analyzer is rebuilt.
  cp Cargo.lock "$src/Cargo.lock"
  # The workspace's own crates under other directory names: cargo names a path crate's
  # artifacts by its path inside the workspace, and the baseline's must not replace this
  # checkout's in the shared target directory.
  mv "$src/trace-format" "$src/bl-trace-format"
  mv "$src/analyzer" "$src/bl-analyzer"
  sed -i -e 's|"trace-format"|"bl-trace-format"|g' -e 's|"analyzer"|"bl-analyzer"|g' "$src/Cargo.toml"
  for dep in polars serde_json; do
    line=$(grep -m1 "^$dep = " analyzer/Cargo.toml)
    sed -i "0,/^$dep = .*/s|^$dep = .*|$line|" "$src/bl-analyzer/Cargo.toml"
  done
  exe=$(CARGO_TARGET_DIR="$PWD/target" cargo bench --manifest-path "$src/Cargo.toml" -p mlx-analyze --bench analyze --no-run 2>&1 \
    | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
  if [ -z "$exe" ]; then
    echo "error: could not build the baseline benchmark of $BENCH_BASELINE" >&2
    exit 1
  fi
  mkdir -p target/bench-baseline
  cp "$exe" target/bench-baseline/analyze
  export BENCH_BASELINE_EXE="$PWD/target/bench-baseline/analyze"
  echo "baseline: $BENCH_BASELINE ($(git rev-parse --short "$BENCH_BASELINE"))" >&2
fi
exec cargo bench -p mlx-analyze --bench analyze "$@"
