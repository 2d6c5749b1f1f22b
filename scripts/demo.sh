#!/usr/bin/env bash
# The main job on its embedded default: set up (idempotent), build, record the `tiny` model on the
# CPU at a few frame counts into traces/examples/ (kept out of git and out of docs/results.md;
# replaced on every run) in the default synchronisation modes (fused, attributed,
# component-synced), and print the analyzer's report of it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "[demo] building mlx-record and mlx-analyze" >&2
cargo build --quiet -p mlx-record -p mlx-analyze || { echo "[demo] error: cargo build failed" >&2; exit 1; }
mkdir -p traces/examples
trace=traces/examples/tiny-cpu.msgpack
echo "[demo] recording the tiny model on the CPU into $trace" >&2
target/debug/mlx-record --preset tiny --frames 5,9,13 --height 192 --width 336 --cpu --force --out "$trace" "$@"
echo "[demo] analyzing $trace" >&2
target/debug/mlx-analyze "$trace"
