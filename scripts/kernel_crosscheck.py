"""The kernel cross-check's report (scripts/kernel-crosscheck.sh report).

Reads a kernel trace (CSV written by scripts/kernel-trace/kernel_trace.c, optionally gzipped) of
fused forwards recorded with CUDA graphs off, the recorder trace of that same process (frame
counts, runs), the fused traces with graphs on and off, and an attributed trace (through
`mlx-analyze --format json`). Prints, per sequence length, each kind's kernel time per forward
beside the attributed cost of the components of that kind.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import statistics
import subprocess
import sys
from collections import Counter, defaultdict

import msgpack

# Kernel kinds, tried in this order on the lower-cased kernel name (mangled or not).
KERNEL_KINDS = [
    ("attention", ("sdpa", "flash", "fmha", "attention", "attn")),
    ("gemm", ("gemm", "nvjet", "xmma", "cutlass", "gemv", "matmul", "qmm", "cublas", "sm90_", "sm80_")),
    ("norm", ("layer_norm", "rms_norm", "layernorm", "rmsnorm")),
    ("rope", ("rope",)),
]
OTHER = "other"

# Components of the built-in model by the kind of kernel that does most of their work. The GEMM
# components also carry elementwise tails (bias, GELU, gated residual, the cross-attention query's
# RMSNorm) that run as separate kernels; see docs/attribution.md.
COMPONENT_KINDS = {
    "attention": ["block/self_attn/sdpa", "block/cross_attn/sdpa"],
    "gemm": [
        "embed/patch", "embed/time", "embed/text", "embed/camera", "block/self_attn/qkv", "block/self_attn/out",
        "block/camera/injector", "block/camera/scale_shift", "block/cross_attn/q", "block/cross_attn/kv",
        "block/cross_attn/out", "block/ffn/up", "block/ffn/down", "head",
    ],
    "norm": ["block/norm1", "block/norm2", "block/self_attn/qk_norm", "block/cross_attn/norm3", "block/self_attn/qk_norm_rope"],
    "rope": ["block/self_attn/rope"],
}


def kernel_kind(name: str) -> str:
    low = name.lower()
    for kind, keys in KERNEL_KINDS:
        if any(k in low for k in keys):
            return kind
    return OTHER


def component_kind(name: str) -> str:
    for kind, names in COMPONENT_KINDS.items():
        if name in names:
            return kind
    return OTHER


def read_kernels(path: str) -> list[tuple[int, int, str]]:
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    rows = csv.DictReader(io.StringIO(raw.decode()))
    out = [(int(r["start_ns"]), int(r["end_ns"]), r["name"]) for r in rows]
    out.sort()
    return out


def segments(kernels, gap_ns: int):
    """Splits the kernels where the GPU idles longer than `gap_ns` (between forwards the host
    builds the next graph and writes the trace: milliseconds)."""
    segs, cur, busy = [], [], 0
    for k in kernels:
        if cur and k[0] - busy > gap_ns:
            segs.append(cur)
            cur = []
        busy = k[1] if not cur else max(busy, k[1])
        cur.append(k)
    if cur:
        segs.append(cur)
    return segs


def read_runs(path: str):
    """(frames, tokens, warmup, forward_ns, sync) of every run of a recorder trace, in order."""
    runs = []
    with open(path, "rb") as f:
        for v in msgpack.Unpacker(f, raw=False):
            if isinstance(v, dict) and "Run" in v:
                r = v["Run"]
                runs.append((r["frames"], r["tokens"], bool(r.get("warmup")), r["forward_ns"], r["sync"], r.get("variant", "baseline")))
    return runs


def forwards(kernel_path: str, traced_path: str, gap_ms: float):
    """Per frame count: (tokens, list of per-forward {kind: ns}, list of GPU spans ns, names by kind)."""
    kernels = read_kernels(kernel_path)
    segs = segments(kernels, int(gap_ms * 1e6))
    runs = [r for r in read_runs(traced_path) if r[4] == "none" and r[5] == "baseline" and not r[2]]
    # A forward is a segment with attention kernels whose GPU span fits inside the forward's wall
    # time. Runs and segments come in the same order; matching from the end, each timed run takes
    # the nearest earlier segment that fits, so the warm-up forwards (split into fragments by
    # run-time compilation, seen on an H100) are never taken for timed ones.
    candidates = [s for s in segs if any(kernel_kind(k[2]) == "attention" for k in s)]
    matched, j = [], len(candidates)
    for r in reversed(runs):
        while j > 0:
            j -= 1
            span = candidates[j][-1][1] - candidates[j][0][0]
            if 0.3 * r[3] <= span <= 1.02 * r[3]:
                matched.append((r, candidates[j]))
                break
    matched.reverse()
    order = list(dict.fromkeys(r[0] for r in runs))
    print(f"kernel trace: {len(kernels)} kernels in {len(segs)} segments split at GPU idle > {gap_ms} ms; "
          f"{len(candidates)} forward-like, {len(matched)} matched to the {len(runs)} fused runs of frame counts {order}", file=sys.stderr)
    if len(matched) != len(runs):
        for i, s in enumerate(segs):
            print(f"  segment {i}: {len(s)} kernels, span {(s[-1][1] - s[0][0]) / 1e6:.2f} ms", file=sys.stderr)
        print("  runs: " + ", ".join(f"{r[0]} frames {r[3] / 1e6:.1f} ms" for r in runs), file=sys.stderr)
        raise SystemExit("kernel-crosscheck: could not match the forward segments to the runs (see above; try --gap-ms)")
    by_frames = defaultdict(list)
    for r, seg in matched:
        if not r[2]:
            by_frames[r[0]].append((r, seg))
    out = {}
    for frames in order:
        per_fwd, spans, names = [], [], defaultdict(Counter)
        for r, seg in by_frames[frames]:
            t = Counter()
            for start, end, name in seg:
                kind = kernel_kind(name)
                t[kind] += end - start
                names[kind][name] += end - start
            per_fwd.append(t)
            spans.append(seg[-1][1] - seg[0][0])
        out[frames] = (by_frames[frames][0][0][1], per_fwd, spans, names, len(by_frames[frames][0][1]))
    return out


def fused_ms(path: str):
    """Median fused forward per frame count (timed baseline runs), ms."""
    by = defaultdict(list)
    for frames, tokens, warm, ns, sync, variant in read_runs(path):
        if sync == "none" and not warm and variant == "baseline":
            by[frames].append(ns / 1e6)
    return {f: (statistics.median(v), min(v), max(v), len(v)) for f, v in by.items()}


def find_rankings(node, out):
    if isinstance(node, dict):
        rows = node.get("rows")
        if "tokens" in node and isinstance(rows, list) and rows and isinstance(rows[0], dict) and "ms_per_forward" in rows[0]:
            out.append(node)
        for v in node.values():
            find_rankings(v, out)
    elif isinstance(node, list):
        for v in node:
            find_rankings(v, out)


def attributed(analyzer: str, trace: str, frames):
    """Per tokens: {component: (ms, ci or None)} of the attributed ranking at each frame count
    (the analyzer ranks one length per call, so it is asked once per length)."""
    rankings = []
    for f in sorted(set(frames)):
        res = subprocess.run([analyzer, trace, "--quiet", "--frames", str(f), "--format", "json", "-o", "-"], capture_output=True, text=True)
        if res.returncode != 0:
            print(f"  no attributed ranking at {f} frames: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else 'analyzer failed'}", file=sys.stderr)
            continue
        find_rankings(json.loads(res.stdout), rankings)
    out = {}
    for r in rankings:
        if r.get("method") != "attributed":
            continue
        rows = {row["name"]: (row["ms_per_forward"], row.get("ci95_ms")) for row in r["rows"]}
        out.setdefault(r["tokens"], (rows, r.get("fused_ms")))
    return out


def group(rows, names):
    ms = sum(rows[n][0] for n in names if n in rows)
    lo = sum((rows[n][1] or [rows[n][0]] * 2)[0] for n in names if n in rows)
    hi = sum((rows[n][1] or [rows[n][0]] * 2)[1] for n in names if n in rows)
    return ms, lo, hi


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernels", required=True, help="kernel CSV (optionally .gz) of the graphs-off traced process")
    p.add_argument("--traced", required=True, help="the recorder trace of that process")
    p.add_argument("--graphs-on", help="fused recorder trace, CUDA graphs on (default)")
    p.add_argument("--graphs-off", help="fused recorder trace, MLX_USE_CUDA_GRAPHS=0")
    p.add_argument("--attributed", help="attributed recorder trace of the same model on the same card")
    p.add_argument("--analyzer", default="target/debug/mlx-analyze")
    p.add_argument("--gap-ms", type=float, default=2.0, help="GPU idle that separates forwards (default 2 ms)")
    p.add_argument("--top", type=int, default=4, help="kernel names listed per kind")
    a = p.parse_args(argv)

    fw = forwards(a.kernels, a.traced, a.gap_ms)
    traced_ms = fused_ms(a.traced)
    on = fused_ms(a.graphs_on) if a.graphs_on else {}
    off = fused_ms(a.graphs_off) if a.graphs_off else {}
    attr = attributed(a.analyzer, a.attributed, fw.keys()) if a.attributed else {}

    if on or off:
        print("Fused forward, CUDA graphs on and off (median of the timed runs, ms; min to max):")
        print(f"{'frames':>6} {'tokens':>7} {'graphs on':>22} {'graphs off':>22} {'off vs on':>9} {'off + tracer':>13}")
        for frames, (tokens, *_rest) in fw.items():
            o, f, t = on.get(frames), off.get(frames), traced_ms.get(frames)
            cell = lambda v: "-" if v is None else f"{v[0]:.1f} ({v[1]:.1f}-{v[2]:.1f})"  # noqa: E731
            rel = "-" if not (o and f) else f"{100 * (f[0] / o[0] - 1):+.1f}%"
            print(f"{frames:>6} {tokens:>7} {cell(o):>22} {cell(f):>22} {rel:>9} {'-' if not t else f'{t[0]:.1f}':>13}")
        print()

    for frames, (tokens, per_fwd, spans, names, nk) in fw.items():
        med = {k: statistics.median(t[k] for t in per_fwd) / 1e6 for k in [x for x, _ in KERNEL_KINDS] + [OTHER]}
        total = sum(med.values())
        span = statistics.median(spans) / 1e6
        rows, fused = attr.get(tokens, ({}, None))
        print(f"{tokens} tokens ({frames} frames): {nk} kernels per forward, {len(per_fwd)} forwards; kernel time {total:.1f} ms, "
              f"GPU span {span:.1f} ms, fused forward with the tracer {traced_ms.get(frames, (float('nan'),))[0]:.1f} ms")
        print(f"{'kind':<22} {'kernels ms':>10} {'attributed ms':>14} {'interval':>18} {'attr - kern':>11} {'rel':>7}")

        def line(label, kern, names_):
            if rows:
                ms, lo, hi = group(rows, names_)
                d = ms - kern
                print(f"{label:<22} {kern:>10.1f} {ms:>14.1f} {f'{lo:.1f} to {hi:.1f}':>18} {d:>+11.1f} {f'{100 * d / kern:+.1f}%' if kern else '-':>7}")
            else:
                print(f"{label:<22} {kern:>10.1f} {'-':>14}")

        line("GEMM", med["gemm"], COMPONENT_KINDS["gemm"])
        line("attention (sdpa)", med["attention"], COMPONENT_KINDS["attention"])
        if rows:
            sa = rows.get("block/self_attn/sdpa")
            if sa:
                ci = sa[1] or [sa[0], sa[0]]
                print(f"{'  self-attention sdpa':<22} {'':>10} {sa[0]:>14.1f} {f'{ci[0]:.1f} to {ci[1]:.1f}':>18}")
        line("normalisation", med["norm"], COMPONENT_KINDS["norm"])
        line("rope", med["rope"], COMPONENT_KINDS["rope"])
        rest = [n for n in rows if component_kind(n) == OTHER]
        line("elementwise/other", med[OTHER], rest)
        every = list(rows)
        line("all kernels", total, every)
        if rows:
            gemm_plus = med["gemm"] + med[OTHER]
            line("GEMM + elementwise", gemm_plus, COMPONENT_KINDS["gemm"] + rest)
            print(f"  attributed forward (references): {fused if fused is not None else float('nan'):.1f} ms")
        print("  largest kernels per kind (ms per forward):")
        for kind in [x for x, _ in KERNEL_KINDS] + [OTHER]:
            top = names[kind].most_common(a.top)
            for name, ns in top:
                short = name if len(name) <= 90 else name[:87] + "..."
                print(f"    {kind:<10} {ns / len(per_fwd) / 1e6:>8.2f}  {short}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
