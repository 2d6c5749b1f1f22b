#!/usr/bin/env bash
# Every test of the workspace, after the same idempotent set-up as the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "[test] cargo test --workspace" >&2
cargo test --workspace --no-fail-fast "$@"
