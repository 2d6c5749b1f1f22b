#!/usr/bin/env bash
# Attribution benchmark: per sequence length, the fused forward, the component-synced forward
# (its overhead), and the sum of the attributed component costs (its error against the fused
# forward, with the 95% interval of the sum).
#
# Usage: scripts/bench-attribution.sh               record wan-1.3b, 2 blocks, f32, 240x416 at
#                                                   1 and 5 frames on the CPU (a few minutes)
#        scripts/bench-attribution.sh TRACE...      the same table from existing traces, e.g.
#                                                   traces/h200-lingbot14b-bf16-attributed-*.msgpack
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo build -q -p mlx-record -p mlx-analyze
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
traces=("$@")
if [ ${#traces[@]} -eq 0 ]; then
    echo "[bench] recording wan-1.3b --blocks 2 at 240x416, 1 and 5 frames, sync none,component,attributed" >&2
    target/debug/mlx-record --preset wan-1.3b --blocks 2 --frames 1,5 --height 240 --width 416 --cpu \
        --sync none,component,attributed --quiet --out "$tmp/bench.msgpack" >/dev/null
    traces=("$tmp/bench.msgpack")
fi
target/debug/mlx-analyze "${traces[@]}" --quiet --format json --out "$tmp/report.json"
.venv/bin/python3 - "$tmp/report.json" <<'PY'
import json, sys

report = json.load(open(sys.argv[1]))
# One report, or a list of reports (one per workload).
if isinstance(report, list):
    reports = report
elif "overhead" in report:
    reports = [report]
else:
    reports = [w for w in report.get("reports", report.get("workloads", [])) if isinstance(w, dict) and "overhead" in w]
def cell(v, fmt="{:.1f}"):
    return "-" if v is None else fmt.format(v)
for r in reports:
    title = r.get("title", "")
    rows = r["overhead"]["rows"]
    print(title)
    print(f"{'tokens':>8} {'fused ms':>10} {'synced ms':>10} {'overhead':>9} {'attributed sum ms':>18} {'95% interval':>20} {'error':>8} {'rest ms':>9} {'verdict':>11}")
    for o in rows:
        s = o.get("attributed_sum") or {}
        ci = s.get("ci95")
        print(
            f"{o['tokens']:>8} {cell(o['fused_ms']):>10} {cell(o['component_ms']):>10} {cell(o['component_pct'], '{:+.1f}%'):>9} "
            f"{cell(s.get('ms')):>18} {('-' if not ci else f'{ci[0]:.1f} to {ci[1]:.1f}'):>20} "
            f"{cell(o.get('attributed_sum_pct'), '{:+.1f}%'):>8} {cell(o.get('attributed_rest_ms')):>9} {o.get('attributed_sum_verdict') or '-':>11}"
        )
    print()
PY
