"""Attributed recording of the demo's decoder on the CPU with the Python recorder, checked as the
Rust recorder's attribution is (recorder/src/tests/attribution.rs): the costs add up to the fused
forward, a component made deliberately more expensive is charged the extra, the control keeps no
more memory alive than the plain forward. The costs are computed here with plain arithmetic from
the trace's run times, cleaned as the analyzer cleans them (mlx_trace.estimate: slow runs set
aside, a significant drift removed), and mlx-analyze must compute the same ones from the same
trace."""

import math
import os
import unittest
from collections import defaultdict

import mlx_trace as mt
import mlx.core as mx
from mlx_trace import estimate as est
from mlx_trace.demo import Config, Llama

from helpers import TempDirCase, analyze_json

SEQ = 256


def record(path, inflate=None, runs=5):
    model = Llama(Config(layers=2, dim=256, heads=4, ffn=688, vocab=1024), mx.float32, seed=3)
    tokens = mx.random.randint(0, 1024, (SEQ,), key=mx.random.key(4))
    mx.eval(tokens)
    with mt.Recorder(path, model="llama-test", dtype="f32", config={"dim": 256, "blocks": 2}) as rec:
        rec.record(lambda: model(tokens), tokens=SEQ, modes=("attributed",), runs=runs, warmup=2, copies=4, inflate=inflate)
    return mt.read_trace(path)


def median(v):
    v = sorted(v)
    return (v[len(v) // 2] + v[(len(v) - 1) // 2]) / 2


def costs(trace, mean=lambda v: sum(v) / len(v)):
    """Per component: cost per forward (ns) by the documented formula (docs/attribution.md), with
    `mean` as the average of each kind's kept forward times; plus the reference average, the
    number of references recorded and the peak memory of references and controls."""
    timed, ctrl_arrays, arrays, names = [], [], defaultdict(list), {}
    peaks, references, copies = {"reference": [], "control": []}, 0, {}
    for r in trace["runs"]:
        if r["warmup"]:
            continue
        p = r["perturbation"]
        if p["kind"] == "reference":
            role = est.REFERENCE
            references += 1
        elif p["kind"] == "control":
            role = est.CONTROL
            ctrl_arrays.append(p["reduced_arrays"])
        else:
            role = names.setdefault(p["target"], len(names))
            arrays[p["target"]].append(p["reduced_arrays"])
            copies[p["target"]] = p["copies"]
        timed.append(est.Timed(role, float(r["run"]), float(r["forward_ns"])))
        if p["kind"] in peaks:
            peaks[p["kind"]].append(r["peak_memory_bytes"])
    kept = est.clean(timed, len(names)).samples
    t0, tc = mean(kept.references), mean(kept.controls)
    out = {}
    for name, i in names.items():
        f = (sum(arrays[name]) / len(arrays[name])) / (sum(ctrl_arrays) / len(ctrl_arrays))
        out[name] = (mean(kept.targets[i]) - (1 - f) * t0 - f * tc) / copies[name]
    return out, t0, references, peaks


def standard_errors(trace):
    """Standard errors (ns) of the reference mean (`fused`), of each component's cost and of their
    sum, from the runs' sample variances, the cost being (mean duplicate - mean reference) / copies
    (the control's small share left out). A median's standard error is taken as 1.25 times the
    mean's (normal samples)."""
    runs = [r for r in trace["runs"] if not r["warmup"]]
    refs = [r["forward_ns"] for r in runs if r["perturbation"]["kind"] == "reference"]
    var = lambda v: sum((x - sum(v) / len(v)) ** 2 for x in v) / (len(v) - 1)
    v0 = var(refs) / len(refs)
    out, total, inverse_copies = {"fused": 1.25 * math.sqrt(v0)}, 0.0, 0.0
    dups = defaultdict(list)
    for r in runs:
        p = r["perturbation"]
        if p["kind"] == "duplicate":
            dups[p["target"]].append((r["forward_ns"], p["copies"]))
    for name, v in dups.items():
        k = v[0][1]
        vx = var([t for t, _ in v]) / len(v) / k ** 2
        out[name] = 1.25 * math.sqrt(vx + v0 / k ** 2)
        total += vx
        inverse_copies += 1 / k
    out["sum"] = 1.25 * math.sqrt(total + inverse_copies ** 2 * v0)
    return out


class Attribution(TempDirCase):
    def test_costs_sum_to_the_fused_forward_and_an_inflated_component_is_charged(self):
        plain_path = self.path("plain.msgpack")
        trace = record(plain_path)
        plain, fused, references, peaks = costs(trace)
        self.assertEqual(len(plain), 11, sorted(plain))
        self.assertGreaterEqual(references, 5 * 3)
        # Attached with mx.depends, the control's scalars free every output where it is made.
        peak = lambda v: sorted(v)[len(v) // 2]
        self.assertLessEqual(peak(peaks["control"]), 1.1 * peak(peaks["reference"]))

        # mlx-analyze attributes the Python trace by the same formula, with no change.
        report = analyze_json(plain_path)
        (aset,) = report["attribution"]
        self.assertEqual(aset["rounds"], 5)
        got = {c["name"]: c["estimate"]["ms"] for c in aset["comps"]}
        self.assertEqual(set(got), set(plain))
        for name, ns in plain.items():
            self.assertAlmostEqual(got[name], ns / 1e6, delta=1e-6 * max(1.0, abs(ns / 1e6)), msg=name)
        self.assertAlmostEqual(aset["fused"]["ms"], fused / 1e6, delta=1e-6 * fused / 1e6)

        # Timing on a shared 2-core CPU: another process's burst can move one recording's means
        # by a third, so a recording whose sums miss is repeated; three misses in a row fail.
        attempts = [self.timing_problems(trace)]
        while attempts[-1] and len(attempts) < 3:
            attempts.append(self.timing_problems(record(self.path(f"again{len(attempts)}.msgpack"))))
        self.assertEqual(attempts[-1], [], f"out of tolerance {len(attempts)} times in a row (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores): {attempts}")

    def timing_problems(self, trace):
        """What is out of tolerance in a plain recording's costs and an inflated one's.

        Medians, robust to the odd run slowed by another process. A tolerance is the stated
        fraction, or four standard errors of the quantity compared where the runs' own spread
        is wider (a machine busy with other work), so a real bias larger than the noise fails.
        """
        plain, fused, _, _ = costs(trace, median)
        se_plain = standard_errors(trace)
        problems = []
        # The sum against the fused forward: the Rust recorder's tiny model came within -3% to
        # +15% on a busy 2-core machine (docs/attribution.md); 25% as in its test.
        total = sum(plain.values())
        tol = max(0.25 * fused, 4 * math.hypot(se_plain["sum"], se_plain["fused"]))
        if abs(total - fused) >= tol:
            problems.append(f"attributed sum {total / 1e6:.2f} ms against fused {fused / 1e6:.2f} ms ({100 * (total / fused - 1):+.1f}%, tolerance {tol / 1e6:.2f} ms)")
        # The MLP's gate/up projection with 2 extra copies of its work in every invocation.
        inflated_trace = record(self.path("inflated.msgpack"), inflate=("layer/mlp/up", 2))
        os.remove(self.path("inflated.msgpack"))
        inflated, fused_inflated, _, _ = costs(inflated_trace, median)
        se_inflated = standard_errors(inflated_trace)
        extra = fused_inflated - fused
        se_extra = math.hypot(se_plain["fused"], se_inflated["fused"])
        if extra <= max(0.15 * fused, 4 * se_extra):
            problems.append(f"the inflation must be well above the noise: {extra / 1e6:.2f} of {fused / 1e6:.2f} ms")
        else:
            charged = inflated["layer/mlp/up"] - plain["layer/mlp/up"]
            tol = max(0.3 * extra, 4 * math.hypot(se_plain["layer/mlp/up"], se_inflated["layer/mlp/up"], se_extra))
            if abs(charged - extra) >= tol:
                problems.append(f"charged {charged / 1e6:.2f} ms of an extra {extra / 1e6:.2f} ms (tolerance {tol / 1e6:.2f} ms)")
        total_inflated = sum(inflated.values())
        tol = max(0.25 * fused_inflated, 4 * math.hypot(se_inflated["sum"], se_inflated["fused"]))
        if abs(total_inflated - fused_inflated) >= tol:
            problems.append(f"inflated: sum {total_inflated / 1e6:.2f} ms against {fused_inflated / 1e6:.2f} ms (tolerance {tol / 1e6:.2f} ms)")
        return problems


if __name__ == "__main__":
    unittest.main()
