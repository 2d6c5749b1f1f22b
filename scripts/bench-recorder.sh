#!/usr/bin/env bash
# Recorder benchmark: wan-1.3b, 2 blocks, f32 on the CPU, two frame counts: fused forward,
# component-synced forward, instrumentation overhead, bytes per event; plus the size of a
# 40-block, 3-frame-count, 3-run trace. Takes a few minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo bench -p mlx-record --features bench --bench recorder "$@"
