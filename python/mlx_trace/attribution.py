"""Attributed costs and the component tree with self times, computed from a trace in Python.

The costs follow docs/attribution.md exactly (means of each kind's timed runs):
``cost(X) = (mean T_X - (1 - f) mean T0 - f mean Tc) / k`` with ``f`` the ratio of the
duplicate's extra scalars to the control's. Nested components (a module and its sub-modules)
carry their parent's name (``target_parent`` in the duplicate runs, ``parent`` in the component
maps); :func:`tree` gives each node its cost, its children, and its *self* cost: its cost less
its children's, so that the children's costs plus the self cost are the parent's cost, and the
top-level nodes add up to the forward with nothing counted twice.

This is a check and a convenience beside ``mlx-analyze`` (no intervals here).
"""

from __future__ import annotations

from collections import defaultdict

from .format import read_trace


def _runs(trace, tokens=None):
    return [r for r in trace["runs"] if not r["warmup"] and r["sync"] == "attributed" and r.get("perturbation")
            and (tokens is None or r["tokens"] == tokens)]


def costs(trace, tokens=None, average=None) -> dict:
    """``{"fused_ns", "components": {name: {"ns", "parent", "calls"}}}`` for the attributed runs
    at ``tokens`` (default: the largest recorded). ``trace``: a path or :func:`read_trace`'s
    dict; ``average``: how each kind's times are averaged (default the mean)."""
    if not isinstance(trace, dict):
        trace = read_trace(trace)
    average = average or (lambda v: sum(v) / len(v))
    runs = _runs(trace)
    if not runs:
        raise ValueError("the trace has no timed attributed runs")
    tokens = max(r["tokens"] for r in runs) if tokens is None else tokens
    runs = _runs(trace, tokens)
    refs, ctrls, ctrl_arrays = [], [], []
    dups, info = defaultdict(list), {}
    for r in runs:
        p = r["perturbation"]
        if p["kind"] == "reference":
            refs.append(r["forward_ns"])
        elif p["kind"] == "control":
            ctrls.append(r["forward_ns"])
            ctrl_arrays.append(p["reduced_arrays"])
        elif p["kind"] == "duplicate":
            dups[p["target"]].append(r["forward_ns"])
            info[p["target"]] = (p["reduced_arrays"], p["copies"], p.get("target_parent"), p["target_calls"])
    if not refs or not ctrls:
        raise ValueError(f"no reference or control runs at {tokens} tokens")
    t0, tc, n_ctrl = average(refs), average(ctrls), max(ctrl_arrays[0], 1)
    comps = {}
    for name, times in dups.items():
        n, k, parent, calls = info[name]
        f = n / n_ctrl
        comps[name] = {"ns": (average(times) - (1 - f) * t0 - f * tc) / k, "parent": parent, "calls": calls}
    return {"tokens": tokens, "fused_ns": t0, "components": comps}


def tree(trace, tokens=None, average=None) -> dict:
    """The component tree: ``{"fused_ns", "top_sum_ns", "roots": [node]}``, each node
    ``{"name", "ns", "self_ns", "children": [node]}``, children in decreasing cost."""
    c = costs(trace, tokens, average)
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
