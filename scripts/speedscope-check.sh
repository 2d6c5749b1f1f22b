#!/usr/bin/env bash
# Exports a trace as Chrome trace JSON with mlx-analyze and loads it in speedscope (the npm
# package) in headless Chromium, then reports what speedscope made of it: one profile per
# exported run, no importer warnings about frames ending out of order or left open, one
# sandwich-view row for a component across all blocks, and two screenshots.
#
#   scripts/speedscope-check.sh [TRACE] [RUNS]      (defaults: the 81-frame H200 trace, all)
#
# Installs what is missing: Chromium and Node through apt, speedscope through npm into
# target/speedscope. Output (report, trace, screenshots) goes to target/speedscope-check/.
# Exit status 0 when every check holds.
set -euo pipefail
cd "$(dirname "$0")/.."

trace=${1:-traces/h200-lingbot14b-bf16-81frames.msgpack}
runs=${2:-all}
component=${COMPONENT:-block/self_attn/sdpa}
out=target/speedscope-check
tools=target/speedscope
version=1.25.0

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs npm)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
release=$tools/node_modules/speedscope/dist/release
if [ ! -f "$release/index.html" ]; then
    npm install --prefix "$tools" --no-audit --no-fund --silent "speedscope@$version"
fi

cargo build -q -p mlx-analyze
rm -rf "$out"
mkdir -p "$out"
target/debug/mlx-analyze "$trace" --quiet --format json --out "$out/report.json" --chrome-trace "$out/trace.json" --run "$runs"
expected=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).metadata.runs.length)' "$out/trace.json")

port=${CDP_PORT:-9333}
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --remote-debugging-address=127.0.0.1 \
    --remote-debugging-port="$port" --user-data-dir="$out/chromium-profile" --allow-file-access-from-files \
    about:blank >"$out/chromium.log" 2>&1 &
chromium_pid=$!
trap 'kill "$chromium_pid" 2>/dev/null || true' EXIT

CDP_PORT=$port node --experimental-websocket scripts/speedscope-check.mjs "$release" "$out/trace.json" "$out" "$component" "$expected" \
    | tee "$out/speedscope-report.json"
