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
# One report per trace (the copies are a recording parameter: the analyzer would average the
# three traces' attribution sets), then a table of the attributed sum and the largest components
# at each K.
for k in 1 2 4; do
    target/debug/mlx-analyze "$out/copies$k.msgpack" --format json -o "$out/copies$k.json" --force --quiet
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
rows, comps = [], {}
for k in (1, 2, 4):
    d = json.load(open(f"{out}/copies{k}.json"))
    for o in d["overhead"]["rows"]:
        s = o.get("attributed_sum")
        if s:
            rows.append((k, o["frames"], o["attributed_fused_ms"], s["ms"], s["ci95"], o["attributed_sum_pct"]))
    for a in d["attribution"]:
        for c in a["comps"]:
            comps.setdefault((c["name"], a["frames"]), {})[k] = c["estimate"]
print("| copies | frames | fused (ms) | attributed sum (ms, 95% interval) | sum vs fused |")
print("|---|---|---|---|---|")
for k, f, fused, s, ci, pct in sorted(rows, key=lambda r: (r[1], r[0])):
    print(f"| {k} | {f} | {fused:.1f} | {s:.1f} ({ci[0]:.1f} to {ci[1]:.1f}) | {pct:+.1f}% |")
big = sorted({n for (n, f), v in comps.items() if max(e["ms"] for e in v.values()) > 0.05 * max(r[2] for r in rows)})
print()
print("| component | frames | " + " | ".join(f"copies {k} (ms)" for k in (1, 2, 4)) + " |")
print("|---|---|" + "---|" * 3)
for (n, f), v in sorted(comps.items(), key=lambda x: (x[0][1], x[0][0])):
    if n not in big:
        continue
    cell = lambda e: f"{e['ms']:.2f} ({e['ci95'][0]:.2f} to {e['ci95'][1]:.2f})" if e and e.get("ci95") else (f"{e['ms']:.2f}" if e else "-")
    print(f"| {n} | {f} | " + " | ".join(cell(v.get(k)) for k in (1, 2, 4)) + " |")
PY
