"""The Python port of the attribution estimator against the Rust crate's fixture
(attribution-estimate/tests/fixtures/synthetic-set.json, written by the crate's own test) and a
few cases small enough to check by hand."""

import json
import math
import os
import unittest

from mlx_trace import estimate as est

from helpers import REPO

FIXTURE = os.path.join(REPO, "attribution-estimate", "tests", "fixtures", "synthetic-set.json")


def role_of(s: str):
    if s.startswith("duplicate:"):
        return int(s.split(":", 1)[1])
    return s


def timed(role, order, time):
    return est.Timed(role, float(order), time)


class Fixture(unittest.TestCase):
    """Every expected value of the shared fixture: counts exactly, floats to 1e-9 relative."""

    @classmethod
    def setUpClass(cls):
        with open(FIXTURE) as f:
            data = json.load(f)
        cls.expected = data["expected"]
        cls.runs = [est.Timed(role_of(r["role"]), r["order"], r["time"]) for r in data["runs"]]
        cls.specs = [est.TargetSpec(s["copies"], s["reduced_fraction"]) for s in data["specs"]]
        cls.cleaned = est.clean(cls.runs, len(cls.specs))

    def close(self, got, want, what):
        if want is None:
            self.assertIsNone(got, what)
            return
        self.assertIsNotNone(got, what)
        self.assertLessEqual(abs(got - want), 1e-9 * max(abs(want), 1e-300), f"{what}: {got!r} against {want!r}")

    def test_slow_runs_and_kept_counts(self):
        e, s = self.expected, self.cleaned.samples
        self.assertEqual(self.cleaned.slow_runs, e["slow_runs"])
        refs, ctrls, targets = e["kept"]
        self.assertEqual(len(s.references), refs)
        self.assertEqual(len(s.controls), ctrls)
        self.assertEqual([len(t) for t in s.targets], targets)
        self.close(self.cleaned.robust_sd, e["robust_sd"], "robust_sd")
        # What the fixture is for: slow runs and a corrected drift.
        self.assertEqual(e["slow_runs"], 2)
        self.assertTrue(e["drift"]["corrected"])

    def test_drift(self):
        d, want = self.cleaned.drift, self.expected["drift"]
        self.assertIsNotNone(d)
        self.assertEqual(d.corrected, want["corrected"])
        self.close(d.change, want["change"], "drift change")
        self.close(d.ci95[0], want["ci95"][0], "drift ci95 low")
        self.close(d.ci95[1], want["ci95"][1], "drift ci95 high")

    def test_costs_sum_and_fused(self):
        s = self.cleaned.samples
        for i, want in enumerate(self.expected["costs"]):
            c = est.cost(s, self.specs, [i])
            self.close(c.value, want["value"], f"cost {i}")
            self.close(c.half, want["half"], f"half {i}")
        c = est.cost(s, self.specs, [0, 1, 2])
        self.close(c.value, self.expected["sum"]["value"], "sum")
        self.close(c.half, self.expected["sum"]["half"], "sum half")
        f = est.fused(s)
        self.close(f.value, self.expected["fused"]["value"], "fused")
        self.close(f.half, self.expected["fused"]["half"], "fused half")

    def test_precision(self):
        p = est.precision(self.cleaned.samples, self.specs)
        want = self.expected["precision"]
        self.close(p.sum, want["sum"], "precision sum")
        self.assertEqual([i for i, _ in p.components], [i for i, _ in want["components"]])
        for (_, got), (i, h) in zip(p.components, want["components"]):
            self.close(got, h, f"precision of target {i}")


class ByHand(unittest.TestCase):
    def test_student_t_quantiles(self):
        # Tables: t(0.975) with 1, 6 and 30 degrees of freedom; the normal's 1.96 far out.
        for df, want in ((1, 12.706204736), (6, 2.446911851), (30, 2.042272456), (1e7, 1.959964)):
            self.assertAlmostEqual(est.student_t_quantile(0.975, df), want, delta=2e-6 * want)
        self.assertEqual(est.student_t_quantile(0.5, 4), 0.0)
        self.assertAlmostEqual(est.student_t_quantile(0.025, 6), -est.student_t_quantile(0.975, 6))
        self.assertAlmostEqual(est.ln_gamma(5.0), math.log(24.0), delta=1e-12)

    def test_the_interval_by_hand(self):
        # T0 = 100, Tc = 110, X duplicated twice with f = 0.3: TX = 143, cost 20.
        s = est.Samples(references=[99.0, 100.0, 101.0], controls=[110.0] * 3, targets=[[142.0, 143.0, 144.0]])
        c = est.cost(s, [est.TargetSpec(2.0, 0.3)], [0])
        self.assertAlmostEqual(c.value, 20.0, delta=1e-9)
        rv = (2 * 0.01 ** 2 + 2 * (1 / 143) ** 2) / 6
        var = 0.25 * rv * 143 ** 2 / 3 + 0.35 ** 2 * rv * 1e4 / 3 + 0.15 ** 2 * rv * 110 ** 2 / 3
        self.assertAlmostEqual(c.half, est.student_t_quantile(0.975, 6) * math.sqrt(var), delta=1e-9)

    def test_a_slow_run_is_set_aside_and_nothing_else(self):
        # References alternate 99/101 with one 2x run; a target's three runs hold one 1.5x run.
        runs = [timed("reference", i, 99.0 if i % 2 == 0 else 101.0) for i in range(12)]
        runs[5] = timed("reference", 5, 200.0)
        runs += [timed(0, 12, 120.0), timed(0, 13, 121.0), timed(0, 14, 180.0)]
        c = est.clean(runs, 1)
        self.assertEqual(c.slow_runs, 2)
        self.assertEqual(len(c.samples.references), 11)
        # Untouched times stay exact.
        self.assertEqual(c.samples.targets[0], [120.0, 121.0])
        self.assertFalse(c.drift.corrected)
        # The fast side is never touched: a run at half the time stays.
        runs[5] = timed("reference", 5, 50.0)
        self.assertEqual(len(est.clean(runs, 1).samples.references), 12)

    def test_a_linear_drift_is_found_and_removed(self):
        # Every run 1% slower than the one before, with small alternating noise.
        runs = []
        for i in range(30):
            role = "reference" if i % 3 == 0 else i % 3 - 1
            base = {"reference": 100.0, 0: 110.0, 1: 130.0}[role]
            runs.append(timed(role, i, base * math.exp(0.01 * i) * (1.001 if i % 2 == 0 else 0.999)))
        c = est.clean(runs, 2)
        self.assertTrue(c.drift.corrected)
        self.assertAlmostEqual(c.drift.change, math.expm1(0.27), delta=0.01)
        specs = [est.TargetSpec(1.0, 0.0)] * 2
        forward = est.mean(c.samples.references)
        self.assertAlmostEqual(est.cost(c.samples, specs, [0]).value / forward, 0.10, delta=0.005)
        self.assertAlmostEqual(est.cost(c.samples, specs, [1]).value / forward, 0.30, delta=0.005)
        self.assertEqual(c.slow_runs, 0)

    def test_precision_waits_only_on_large_components(self):
        s = est.Samples(references=[99.0, 100.0, 101.0], controls=[], targets=[[119.0, 120.0, 121.0], [101.0, 102.0, 100.0]])
        p = est.precision(s, [est.TargetSpec(1.0, 0.0)] * 2)
        # Target 1 costs 1% of the forward: not waited on.
        self.assertEqual([i for i, _ in p.components], [0])
        self.assertGreaterEqual(p.worst(), p.sum)

    def test_levels_pool_by_runs_times_copies_squared(self):
        # As the Rust crate's test: one component at 4 copies (targets[0]) and 8 (targets[1]),
        # 20 per copy at 4 and 22 at 8: weights 3 x 16 and 3 x 64 of their sum, so the pooled
        # cost is 0.2 x 20 + 0.8 x 22.
        s = est.Samples(references=[99.0, 100.0, 101.0], controls=[], targets=[[179.0, 180.0, 181.0], [275.0, 276.0, 277.0]])
        specs = [est.TargetSpec(4.0, 0.0), est.TargetSpec(8.0, 0.0)]
        w = est.level_weights(s, specs, [0, 1])
        self.assertAlmostEqual(w[0], 0.2, delta=1e-12)
        self.assertAlmostEqual(w[1], 0.8, delta=1e-12)
        pooled = est.combination(s, specs, est.pooled_terms(s, specs, [[0, 1]]))
        self.assertAlmostEqual(pooled.value, 21.6, delta=1e-9)
        # The difference of the levels, and the same component pooled in the precision.
        self.assertAlmostEqual(est.combination(s, specs, [(1, 1.0), (0, -1.0)]).value, 2.0, delta=1e-9)
        p = est.precision_of(s, specs, [[0, 1]])
        self.assertEqual(len(p.components), 1)
        self.assertAlmostEqual(p.sum, pooled.relative_half(), delta=1e-12)
        # Without runs a component has no estimate, as with one level.
        empty = est.Samples(references=s.references, controls=[], targets=[[], []])
        self.assertEqual(est.level_weights(empty, specs, [0, 1]), [0.5, 0.5])
        self.assertIsNone(est.combination(empty, specs, est.pooled_terms(empty, specs, [[0, 1]])))

    def test_weights_of_one_are_the_cost_and_zero_weights_are_skipped(self):
        s = est.Samples(references=[99.0, 100.0, 101.0], controls=[], targets=[[119.0, 120.0, 121.0], []])
        specs = [est.TargetSpec(1.0, 0.0)] * 2
        self.assertEqual(est.combination(s, specs, [(0, 1.0)]), est.cost(s, specs, [0]))
        # A target without runs counts only with a weight.
        self.assertEqual(est.combination(s, specs, [(0, 1.0), (1, 0.0)]), est.cost(s, specs, [0]))
        self.assertIsNone(est.combination(s, specs, [(0, 1.0), (1, 0.5)]))
        self.assertIsNone(est.combination(s, specs, [(2, 0.0)]))
        # One level per component is the plain precision.
        self.assertEqual(est.precision_of(s, specs[:1], [[0]]), est.precision(s, specs[:1]))

    def test_mean_precision(self):
        # One run has no spread to pool; two have one degree of freedom.
        self.assertIsNone(est.mean_precision([100.0]))
        self.assertIsNotNone(est.mean_precision([100.0, 101.0]))
        # 99, 100, 101: relative sd 1%, t(0.975, 2) * 1% / sqrt(3).
        want = est.student_t_quantile(0.975, 2) * 0.01 / math.sqrt(3)
        self.assertAlmostEqual(est.mean_precision([99.0, 100.0, 101.0]), want, delta=1e-12)
        self.assertIsNone(est.mean_precision([]))


if __name__ == "__main__":
    unittest.main()
