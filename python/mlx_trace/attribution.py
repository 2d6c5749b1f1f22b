"""Attributed costs and the component tree with self times, computed from a trace in Python.

The costs follow docs/attribution.md exactly (means of each kind's timed runs):
``cost(X) = (mean T_X - (1 - f) mean T0 - f mean Tc) / k`` with ``f`` the ratio of the
duplicate's extra scalars to the control's (their bytes in traces that summed whole outputs).
The run times are first cleaned as ``mlx-analyze`` cleans them (:func:`mlx_trace.estimate.clean`:
slow runs set aside, a significant drift of the references removed), so both give the same
costs. A component duplicated at two numbers of copies (a precision-driven recording's check
of additivity) has an estimate at each, pooled as the analyzer pools them (weights
``runs x k^2``, :func:`mlx_trace.estimate.level_weights`). Nested components (a module and its
sub-modules) carry their parent's name (``target_parent`` in the duplicate runs, ``parent`` in
the component maps); :func:`tree` gives each node its cost, its children, and its *self* cost:
its cost less its children's, so that the children's costs plus the self cost are the parent's
cost, and the top-level nodes add up to the forward with nothing counted twice.

This is a check and a convenience beside ``mlx-analyze`` (no intervals here).
"""

from __future__ import annotations

from collections import defaultdict

from . import estimate as est
from .format import read_trace


def _runs(trace, tokens=None):
    return [r for r in trace["runs"] if not r["warmup"] and r["sync"] == "attributed" and r.get("perturbation")
            and (tokens is None or r["tokens"] == tokens)]


def _measure(p) -> float:
    # What the control's cost is shared out by: extra scalars, else the bytes reduced.
    return float(p["reduced_arrays"] if p.get("reduced_arrays") else p.get("reduced_bytes", 0))


#: Runs a copies level needs to weigh in a component's pooled cost while another level has them
#: (the analyzer's MIN_SAMPLES).
MIN_SAMPLES = 3


def costs(trace, tokens=None, average=None, variant=None) -> dict:
    """``{"tokens", "fused_ns", "components": {name: {"ns", "parent", "calls", "levels"}},
    "slow_runs", "drift"}`` (``levels``: the cost at each number of copies, ``ns`` their pooled
    value) for the attributed runs at ``tokens`` (default: the largest recorded) of
    ``variant`` (default: ``baseline`` when recorded, else the first by name), after
    :func:`mlx_trace.estimate.clean`. ``trace``: a path or :func:`read_trace`'s dict;
    ``average``: how each kind's kept times are averaged (default the mean)."""
    if not isinstance(trace, dict):
        trace = read_trace(trace)
    average = average or (lambda v: sum(v) / len(v))
    runs = _runs(trace)
    if not runs:
        raise ValueError("the trace has no timed attributed runs")
    tokens = max(r["tokens"] for r in runs) if tokens is None else tokens
    runs = _runs(trace, tokens)
    # Each variant is a set of its own, cleaned apart, as in the analyzer.
    if variant is None:
        variants = sorted({r["variant"] for r in runs})
        variant = "baseline" if "baseline" in variants else variants[0]
    runs = [r for r in runs if r["variant"] == variant]
    if not runs:
        raise ValueError(f"no timed attributed runs of variant {variant!r} at {tokens} tokens")
    # One group per component and number of copies, as the analyzer cleans them.
    levels = sorted({(r["perturbation"]["target"], r["perturbation"]["copies"]) for r in runs if r["perturbation"]["kind"] == "duplicate"})
    index = {lv: i for i, lv in enumerate(levels)}
    names = sorted({n for n, _ in levels})
    timed, ctrl_measure, measure, info, recorded = [], [], defaultdict(list), {}, defaultdict(int)
    for r in runs:
        p = r["perturbation"]
        if p["kind"] == "reference":
            role = est.REFERENCE
        elif p["kind"] == "control":
            role = est.CONTROL
            ctrl_measure.append(_measure(p))
        elif p["kind"] == "duplicate":
            role = index[(p["target"], p["copies"])]
            measure[(p["target"], p["copies"])].append(_measure(p))
            recorded[(p["target"], p["copies"])] += 1
            info[p["target"]] = (p.get("target_parent"), p["target_calls"])
        else:
            continue
        timed.append(est.Timed(role, float(r["run"]), float(r["forward_ns"])))
    cleaned = est.clean(timed, len(levels))
    s = cleaned.samples
    if not s.references or not s.controls:
        raise ValueError(f"no reference or control runs at {tokens} tokens")
    t0, tc, n_ctrl = average(s.references), average(s.controls), est.mean(ctrl_measure)
    comps = {}
    for name in names:
        parent, calls = info[name]
        mine = [lv for lv in levels if lv[0] == name]
        per = {}
        for lv in mine:
            f = est.mean(measure[lv]) / n_ctrl if n_ctrl > 0 else 0.0
            per[lv[1]] = (average(s.targets[index[lv]]) - (1 - f) * t0 - f * tc) / lv[1]
        # Levels short of runs weigh nothing while another level has them, as in the analyzer.
        usable = [lv for lv in mine if recorded[lv] >= MIN_SAMPLES and s.targets[index[lv]]] or mine
        specs = [est.TargetSpec(float(lv[1]), 0.0) for lv in levels]
        weights = est.level_weights(s, specs, [index[lv] for lv in usable])
        ns = sum(w * per[lv[1]] for w, lv in zip(weights, usable))
        comps[name] = {"ns": ns, "parent": parent, "calls": calls, "levels": per}
    return {"tokens": tokens, "fused_ns": t0, "components": comps, "slow_runs": cleaned.slow_runs, "drift": cleaned.drift}


def tree(trace, tokens=None, average=None, variant=None) -> dict:
    """The component tree: ``{"fused_ns", "top_sum_ns", "roots": [node]}``, each node
    ``{"name", "ns", "self_ns", "children": [node]}``, children in decreasing cost."""
    c = costs(trace, tokens, average, variant)
    comps = c["components"]
    kids = defaultdict(list)
    for name, v in comps.items():
        kids[v["parent"] if v["parent"] in comps else None].append(name)

    def node(name):
        children = [node(k) for k in kids.get(name, [])]
        children.sort(key=lambda n: -n["ns"])
        ns = comps[name]["ns"]
        return {"name": name, "ns": ns, "self_ns": ns - sum(ch["ns"] for ch in children), "children": children}

    roots = sorted((node(n) for n in kids.get(None, [])), key=lambda n: -n["ns"])
    return {"tokens": c["tokens"], "fused_ns": c["fused_ns"], "top_sum_ns": sum(r["ns"] for r in roots), "roots": roots}


def render(t, indent: int = 2) -> str:
    """The tree as text: cost, self cost and share of the fused forward per node."""
    lines = [f"{t['tokens']} tokens: fused forward {t['fused_ns'] / 1e6:.2f} ms, top-level sum {t['top_sum_ns'] / 1e6:.2f} ms "
             f"({100 * (t['top_sum_ns'] / t['fused_ns'] - 1):+.1f}%)"]

    def walk(n, level):
        share = 100 * n["ns"] / t["fused_ns"]
        self_part = f", self {n['self_ns'] / 1e6:.2f}" if n["children"] else ""
        lines.append(f"{' ' * (indent * level)}{n['name']}: {n['ns'] / 1e6:.2f} ms ({share:.1f}%{self_part})")
        for ch in n["children"]:
            walk(ch, level + 1)

    for r in t["roots"]:
        walk(r, 1)
    return "\n".join(lines)
