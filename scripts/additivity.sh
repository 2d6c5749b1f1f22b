#!/usr/bin/env bash
# Is the attribution additive on this machine? Records the same model in attributed mode with
# 1, 2 and 4 copies per perturbation (each trace labelled copies=K), then compares the traces by
# that label with mlx-analyze. If k copies cost k times the component's cost inside the forward,
# every component's attributed cost is the same at every K and the attributed sum stays at the
# fused forward; a cost or sum that grows with K is non-additivity (copies that evict each
# other's data, or the allocator's fresh buffers), not noise. docs/attribution.md has the result
# measured on the 2-core CPU.
#
#   scripts/additivity.sh [OUT_DIR] [-- extra mlx-record arguments]
#
# Default: the tiny model at 5 and 13 frames, 192x336, CPU, 60 s of timed runs per trace; run it
# on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/additivity}
shift || true
[ "${1:-}" = "--" ] && shift
extra=("$@")
[ ${#extra[@]} -gt 0 ] || extra=(--preset tiny --frames 5,13 --height 192 --width 336 --cpu --max-time 60s)
cargo build --quiet -p mlx-record -p mlx-analyze
mkdir -p "$out"
for k in 1 2 4; do
    echo "[additivity] recording with --copies $k" >&2
    target/debug/mlx-record "${extra[@]}" --sync none,attributed --copies "$k" --label "copies=$k" --force --out "$out/copies$k.msgpack"
done
target/debug/mlx-analyze "$out"/copies*.msgpack --by copies --baseline 1
