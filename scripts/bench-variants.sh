#!/usr/bin/env bash
# Variant benchmark on the CPU: wan-1.3b, first 2 blocks, f32, every variant (the preset has no
# camera, so the camera cache does not apply), then the analyzer's variant table.
# Usage: scripts/bench-variants.sh [extra mlx-record flags]   (about 10 minutes on 2 cores: MLX has
# no optimised CPU kernel for quantized matmul, so the ffn-q variants run about 10x slower)
# Debug builds: the time is spent in MLX and polars, which are optimised in every profile.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo build --quiet -p mlx-record -p mlx-analyze
out=${BENCH_VARIANTS_OUT:-target/bench-variants.msgpack}
target/debug/mlx-record --preset wan-1.3b --blocks 2 --dtype f32 --cpu --frames 5 \
    --height 240 --width 416 --runs 3 --variant all --force --out "$out" "$@" >/dev/null
target/debug/mlx-analyze "$out" --by variant --comparison-only
