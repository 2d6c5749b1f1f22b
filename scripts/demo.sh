#!/usr/bin/env bash
# The main job on its embedded default: set up (idempotent), build, record the `tiny` model on the
# CPU at a few frame counts into traces/examples/ (kept out of git and out of docs/results.md;
# replaced on every run) in the default synchronisation modes (fused, attributed,
# component-synced), until its estimates reach the default precision or 100 s of timed runs
# are spent (about 2 minutes in all on a 2-core machine), and print the analyzer's report of it.
# One block: every component is duplicated in every block, so a round costs about one forward per
# component whatever the depth, and one block halves the forward and so the round; the tokens per
# frame stay at 192x336, where the sums held their intervals (at 128x224 they fell short of their
# fused forwards: docs/attribution.md, "The demo").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "[demo] building mlx-record and mlx-analyze" >&2
cargo build --quiet -p mlx-record -p mlx-analyze || { echo "[demo] error: cargo build failed" >&2; exit 1; }
mkdir -p traces/examples
trace=traces/examples/tiny-cpu.msgpack
echo "[demo] recording the tiny model on the CPU into $trace" >&2
# An exact --runs among the arguments replaces the time cap (the two exclude each other).
cap=(--max-time 100s)
for a in "$@"; do case "$a" in --runs|--runs=*|--max-time|--max-time=*) cap=() ;; esac; done
target/debug/mlx-record --preset tiny --blocks 1 --frames 5,9,13 --height 192 --width 336 --cpu "${cap[@]}" --force --out "$trace" "$@"
echo "[demo] analyzing $trace" >&2
target/debug/mlx-analyze "$trace"
