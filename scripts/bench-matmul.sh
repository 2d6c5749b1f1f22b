#!/usr/bin/env bash
# bench-matmul.sh: f32 matmul GFLOP/s of MLX (through mlx-rs) beside numpy on this machine,
# printed as one table with the MLX/numpy ratio and the BLAS library loaded in the process.
# numpy comes from the workspace .venv; both sides run with the current environment.
# MATMUL_BENCH_REPS=N changes the number of timed repetitions (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p mlx-record --bench matmul "$@"
