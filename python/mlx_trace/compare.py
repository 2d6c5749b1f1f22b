"""Two recordings of the same model side by side: fused times and attributed rankings.

    python -m mlx_trace.compare A.msgpack B.msgpack [--frames 21] [--names A,B]

Runs ``mlx-analyze --format json`` on each trace (found as :func:`mlx_trace.find_analyzer` does:
``$MLX_ANALYZE``, where ``pip install ./python`` put it, the PATH, then this checkout's
``target/release`` or ``target/debug`` build) and prints Markdown: the
fused forward of each, the same forward without the components only one of them has (the Rust
model's embeddings and head, which the Python LingBot block stack leaves out), the attributed
sums, and both rankings over the components they share, with each one's 95% interval and rank.

Each side is labelled by the recorder that wrote it and the model recorded (``Python llama``,
``Rust lingbot-14b``), with the file name added where those are the same; ``--names`` sets the
labels. When the two traces share no component, that is said, with each one's components.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def analyzer() -> str:
    from .analyze import AnalyzerNotFound, find_analyzer

    try:
        return find_analyzer()
    except AnalyzerNotFound as e:
        raise SystemExit(f"compare: {e}") from None


def label(path: str) -> str:
    """``RECORDER MODEL`` from a trace's header: the Python recorder writes ``recorder_version``
    ``mlx-trace-python X``, the Rust recorder its crate version."""
    import msgpack

    with open(path, "rb") as f:
        try:
            head = next(msgpack.Unpacker(f, raw=False, strict_map_key=False))
        except (StopIteration, ValueError, msgpack.UnpackException):
            raise SystemExit(f"compare: {path}: not an mlx-trace file") from None
    meta = head.get("metadata", {}) if isinstance(head, dict) else {}
    recorder = "Python" if str(meta.get("recorder_version", "")).startswith("mlx-trace-python") else "Rust"
    return f"{recorder} {meta.get('preset') or 'model'}"


def report(trace: str, frames) -> dict:
    args = [analyzer(), trace, "--format", "json", "-o", "-"]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"compare: mlx-analyze {trace} failed: {out.stderr.strip()}")
    r = json.loads(out.stdout)
    sets = [s for s in r.get("attribution", []) if frames is None or s["frames"] == frames]
    if not sets:
        raise SystemExit(f"compare: {trace} has no attributed runs" + (f" at {frames} frames" if frames else ""))
    if frames is None:
        sets = [max(sets, key=lambda s: s["frames"])]
    fused = None
    for row in r.get("scaling", {}).get("rows", []):
        if row["frames"] == sets[0]["frames"]:
            fused = row.get("forward_ms")
    return {"set": sets[0], "fused_none": fused, "workload": r.get("workload", {})}


def fmt(v, ci=None):
    if v is None:
        return "-"
    s = f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"
    if ci:
        s += f" ({ci[0]:,.1f} to {ci[1]:,.1f})" if abs(v) >= 10 else f" ({ci[0]:.2f} to {ci[1]:.2f})"
    return s


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlx_trace.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("a", help="first trace")
    p.add_argument("b", help="second trace")
    p.add_argument("--frames", type=int, default=None, help="frame count to compare (default: the largest attributed one of the first trace)")
    p.add_argument("--names", default=None, help="column names, comma-separated (default: each trace's recorder and model)")
    a = p.parse_args(argv)
    if a.names is None:
        names = [label(a.a), label(a.b)]
        if names[0] == names[1]:
            names = [f"{n} ({os.path.basename(f)})" for n, f in zip(names, (a.a, a.b))]
    else:
        names = a.names.split(",")
    if len(names) != 2:
        p.error("--names wants two names")
    ra = report(a.a, a.frames)
    rb = report(a.b, a.frames if a.frames is not None else ra["set"]["frames"])
    sa, sb = ra["set"], rb["set"]
    ca = {c["name"]: c for c in sa["comps"]}
    cb = {c["name"]: c for c in sb["comps"]}
    shared = [n for n in ca if n in cb]
    only_a = [n for n in ca if n not in cb]
    only_b = [n for n in cb if n not in ca]
    est = lambda c: c["estimate"]["ms"]
    print(f"Frames {sa['frames']} ({sa['tokens']:,} tokens); {names[0]}: {a.a}; {names[1]}: {a.b}\n")
    print(f"| | {names[0]} | {names[1]} |\n|---|---:|---:|")
    print(f"| fused forward, `none` runs (ms, median) | {fmt(ra['fused_none'])} | {fmt(rb['fused_none'])} |")
    print(f"| fused forward, attribution references (ms, mean, 95%) | {fmt(sa['fused']['ms'], sa['fused'].get('ci95'))} | {fmt(sb['fused']['ms'], sb['fused'].get('ci95'))} |")
    wa = sum(est(ca[n]) for n in only_a)
    wb = sum(est(cb[n]) for n in only_b)
    if only_a or only_b:
        print(f"| components only one has (attributed ms) | {fmt(wa)} ({', '.join(only_a) or 'none'}) | {fmt(wb)} ({', '.join(only_b) or 'none'}) |")
        print(f"| fused forward less those (ms) | {fmt(sa['fused']['ms'] - wa)} | {fmt(sb['fused']['ms'] - wb)} |")
    print(f"| attributed sum (ms) | {fmt(sa['sum']['ms'], sa['sum'].get('ci95'))} | {fmt(sb['sum']['ms'], sb['sum'].get('ci95'))} |")
    print(f"| attributed sum vs its fused forward | {sa['sum_error_pct']:+.1f}% | {sb['sum_error_pct']:+.1f}% |")
    print(f"| rounds, copies | {sa['rounds']}, {sa['copies']} | {sb['rounds']}, {sb['copies']} |\n")
    if not shared:
        print(f"The two traces share no component, so there is no ranking to compare: {names[0]} has "
              f"{', '.join(ca) or 'none'}; {names[1]} has {', '.join(cb) or 'none'}.")
        return 0
    rank_a = {n: i + 1 for i, n in enumerate(sorted(shared, key=lambda n: -est(ca[n])))}
    rank_b = {n: i + 1 for i, n in enumerate(sorted(shared, key=lambda n: -est(cb[n])))}
    print(f"| component | {names[0]} ms/forward (95%) | rank | {names[1]} ms/forward (95%) | rank | {names[1]} / {names[0]} |")
    print("|---|---:|---:|---:|---:|---:|")
    for n in sorted(shared, key=lambda n: rank_a[n]):
        x, y = est(ca[n]), est(cb[n])
        ratio = f"{y / x:.2f}" if x > 0 and not ca[n].get("below_noise") else "-"
        print(f"| {n} | {fmt(x, ca[n]['estimate'].get('ci95'))} | {rank_a[n]} | {fmt(y, cb[n]['estimate'].get('ci95'))} | {rank_b[n]} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
