"""scripts/precision_cost.py: the repetitions and forwards it counts, the widths it hands to the
recorder's estimator, and the fixed schedule's rounds R = ceil(3 * (w3 / w)^2), on run records
with scripted times."""

import contextlib
import importlib.util
import io
import math
import os
import random
import sys
import unittest

from mlx_trace import estimate as est
from mlx_trace import format as fmt

from helpers import REPO, TempDirCase

_spec = importlib.util.spec_from_file_location("precision_cost", os.path.join(REPO, "scripts", "precision_cost.py"))
pc = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = pc  # its dataclasses look their module up while it loads
_spec.loader.exec_module(pc)

FORWARD = 100e6
CONTROL_EXTRA = 1e6
COPIES = 2
#: Per-forward cost (ns) of each target.
COST = {"a": 20e6, "b": 30e6, "c": 40e6}
#: One attribution round: (kind, target); 6 runs.
ROUND = [("reference", None), ("control", None), ("duplicate", "a"), ("duplicate", "b"), ("reference", None), ("duplicate", "c")]
#: Extra scalars: the control reduces every target's output once, a duplicate its copies'.
CONTROL_ARRAYS = 3
DUP_ARRAYS = 1


def truth(kind, target) -> float:
    if kind == "reference":
        return FORWARD
    if kind == "control":
        return FORWARD + CONTROL_EXTRA
    return FORWARD + COPIES * COST[target] + CONTROL_EXTRA * DUP_ARRAYS / CONTROL_ARRAYS


def records(rounds: int, other: dict, warmup: bool = True, seed: int = 3, frames: int = 5, variant: str = "baseline"):
    """Run records of one set laid out as the recorder does: a warm-up repetition of every mode,
    then repetitions of ``none``/``component`` while ``other[mode]`` runs are left and an
    attribution round while ``rounds`` are left. Noise: uniform +-2%, no tail (no slow runs)."""
    rng = random.Random(seed)
    out = []

    def add(sync, is_warmup, kind=None, target=None, round_=0):
        p = None
        t = FORWARD
        if sync == "attributed":
            t = truth(kind, target)
            p = fmt.perturbation(kind=kind, target=target, copies=COPIES if kind == "duplicate" else 0, round=round_,
                                 reduced_arrays={"control": CONTROL_ARRAYS, "duplicate": DUP_ARRAYS}.get(kind, 0))
        out.append({"run": len(out), "variant": variant, "sync": sync, "warmup": is_warmup, "frames": frames, "tokens": 780,
                    "forward_ns": int(t * rng.uniform(0.98, 1.02)), "perturbation": p})

    reps = max([rounds, *other.values()])
    for rep in range(-1 if warmup else 0, reps):
        for mode, n in other.items():
            if rep < n:
                add(mode, rep < 0)
        if rep < rounds:
            for kind, target in ROUND:
                add("attributed", rep < 0, kind, target, max(rep, 0))
    return out


def by_hand_width(runs, rounds):
    """The sum's relative half-width on the given rounds, the estimator's input built here."""
    names = sorted(COST)
    timed = []
    for r in runs:
        p = r["perturbation"]
        if r["sync"] != "attributed" or r["warmup"] or p["round"] not in rounds:
            continue
        role = est.REFERENCE if p["kind"] == "reference" else est.CONTROL if p["kind"] == "control" else names.index(p["target"])
        timed.append(est.Timed(role, float(r["run"]), float(r["forward_ns"])))
    specs = [est.TargetSpec(float(COPIES), DUP_ARRAYS / CONTROL_ARRAYS)] * len(names)
    return est.precision(est.clean(timed, len(names)).samples, specs).sum


class FixedRounds(unittest.TestCase):
    def test_hand_values(self):
        self.assertEqual(pc.fixed_rounds(0.08, 0.05), 8)  # 3 x 1.6^2 = 7.68
        self.assertEqual(pc.fixed_rounds(0.06, 0.03), 12)  # 3 x 2^2, exactly
        self.assertEqual(pc.fixed_rounds(0.10, 0.05), 12)
        self.assertEqual(pc.fixed_rounds(0.05, 0.05), 3)
        self.assertEqual(pc.fixed_rounds(0.07, 0.05), 6)  # 3 x 1.96 = 5.88
        # Wider at the end than after 3 rounds: still the 3 rounds an interval needs.
        self.assertEqual(pc.fixed_rounds(0.04, 0.05), 3)
        self.assertIsNone(pc.fixed_rounds(None, 0.05))
        self.assertIsNone(pc.fixed_rounds(0.05, None))
        self.assertIsNone(pc.fixed_rounds(math.inf, 0.05))
        self.assertIsNone(pc.fixed_rounds(0.05, 0.0))


class Counting(unittest.TestCase):
    def test_precision_driven_set(self):
        # 7 rounds; none stopped after 3 runs, component after 5.
        runs = records(7, {"none": 3, "component": 5})
        c = pc.set_cost(5, "baseline", runs)
        self.assertEqual((c.rounds, c.round_runs, c.partial_round), (7, 6, False))
        self.assertEqual(c.other_runs, {"none": 3, "component": 5})
        self.assertEqual(c.forwards, 7 * 6 + 3 + 5)
        self.assertEqual(c.warmups, 6 + 1 + 1)
        self.assertAlmostEqual(c.w_final, by_hand_width(runs, range(7)), places=12)
        self.assertAlmostEqual(c.w3, by_hand_width(runs, range(3)), places=12)
        self.assertLess(c.w_final, c.w3)
        r = max(math.ceil(3 * (c.w3 / c.w_final) ** 2), 3)
        self.assertEqual(c.fixed_rounds, r)
        self.assertEqual(c.fixed_forwards, r * (6 + 1 + 1))
        self.assertAlmostEqual(c.ratio, 50 / (r * 8))

    def test_fixed_three_rounds(self):
        c = pc.set_cost(5, "baseline", records(3, {"none": 3}))
        self.assertEqual((c.rounds, c.other_runs, c.forwards, c.warmups), (3, {"none": 3}, 21, 7))
        self.assertEqual(c.w3, c.w_final)
        self.assertEqual((c.fixed_rounds, c.fixed_forwards, c.ratio), (3, 21, 1.0))

    def test_cut_short_and_too_few_rounds(self):
        runs = records(4, {}, warmup=False)[:-2]  # the 4th round lost its last 2 runs
        c = pc.set_cost(5, "baseline", runs)
        self.assertEqual((c.rounds, c.round_runs, c.partial_round, c.forwards, c.warmups), (4, 6, True, 22, 0))
        two = pc.set_cost(5, "baseline", records(2, {"none": 2}))
        self.assertIsNone(two.w3)
        self.assertIsNone(two.fixed_rounds)
        self.assertIsNone(two.ratio)

    def test_no_attributed_runs(self):
        self.assertIsInstance(pc.set_cost(5, "baseline", records(0, {"none": 4})), str)


class Report(TempDirCase):
    def write(self, name, runs, finish=True):
        path = self.path(name)
        tf = fmt.TraceFile(path, fmt.header({}))
        for r in runs:
            run = fmt.Run(r["run"], r["variant"], r["sync"], r["frames"], r["tokens"], warmup=r["warmup"])
            run.forward_ns = r["forward_ns"]
            run.perturbation = r["perturbation"]
            tf.add_run(run)
        return tf.finish() if finish else tf.abandon()

    def run_report(self, *paths):
        out, err = io.StringIO(), io.StringIO()
        status = pc.report(list(paths), out=out, err=err)
        return status, out.getvalue(), err.getvalue()

    def test_table_and_notes(self):
        runs = records(6, {"none": 3, "component": 4}) + records(0, {"none": 3}, frames=21)
        path = self.write("t.msgpack", runs)
        status, out, err = self.run_report(path)
        self.assertEqual((status, err), (0, ""))
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("| trace |"))
        self.assertIn("warm-ups excluded", lines[0])
        self.assertEqual(lines[0].count("|"), lines[1].count("|"))
        row = [c.strip() for c in lines[2].strip("|").split("|")]
        self.assertEqual(row[:8], ["t.msgpack", "5", "baseline", "6 x 6 runs", "3", "4", str(36 + 7), str(8)])
        self.assertIn("t.msgpack, 21 frames, baseline: skipped, no timed attributed runs", out)

    def test_bad_files(self):
        missing = self.path("missing.msgpack")
        partial = self.write("rec.msgpack", records(3, {"none": 3}), finish=False)
        not_trace = self.path("x.txt")
        with open(not_trace, "w") as f:
            f.write("hello")
        status, out, err = self.run_report(missing, self.path("rec.msgpack"), partial, not_trace)
        self.assertEqual(status, 1)
        self.assertIn("missing.msgpack: no such file", err)
        self.assertIn("rec.msgpack.partial: pass that", err)
        self.assertIn("not an mlx-trace file", err)
        self.assertIn("rec.msgpack.partial (incomplete)", out)
        self.assertNotIn("Traceback", out + err)

    def test_main_help(self):
        with contextlib.redirect_stdout(io.StringIO()) as out, self.assertRaises(SystemExit) as e:
            pc.main(["--help"])
        self.assertEqual(e.exception.code, 0)
        self.assertIn("usage:", out.getvalue())


if __name__ == "__main__":
    unittest.main()
