"""When the Python recorder stops: an exact --runs count, or precision-driven repetitions (the Rust
recorder's rule, recorder/src/precision.rs). The forwards are real (a tiny model), but the times
written and the recorder's clock are scripted here, so each case is deterministic."""

import argparse
import contextlib
import io
import random
import unittest

import mlx_trace as mt
from mlx_trace import args, demo, lm, stopping

from helpers import TempDirCase
from test_format import tiny_forward

#: Per-forward cost (ns) of each of tiny_forward's components in the scripted times.
COST = {"embed/in": 5e6, "layer/proj": 15e6, "layer/act": 10e6, "head": 5e6}
FORWARD = 100e6


def truth(perturb) -> float:
    if perturb is None:
        return FORWARD
    if perturb == "control":
        return FORWARD + 1e6
    _, name, copies = perturb
    return FORWARD + copies * COST[name]


def low_noise(i, mode, perturb):
    return (1.001, 0.999, 1.0005, 0.9995)[i % 4]


def high_noise(seed=7):
    rng = random.Random(seed)
    # Uniform +-20%: wide, but no tail, so no run is ever set aside as slow.
    return lambda i, mode, perturb: rng.uniform(0.8, 1.2)


class Scripted:
    """Replaces the times the recorder writes with truth x noise(i, mode, perturb), and its
    clock with one that advances by each forward's scripted time."""

    def __init__(self, rec, noise):
        self.now, self.count, self.timed = 0.0, 0, []
        real = rec.forward_once

        def forward_once(forward, mode, **kw):
            run, out, probe = real(forward, mode, **kw)
            ns = truth(kw.get("perturb")) * noise(self.count, mode, kw.get("perturb"))
            run.forward_ns = int(ns)
            self.now += ns / 1e9
            self.count += 1
            if not kw.get("warmup"):
                self.timed.append(mode)
            return run, out, probe

        rec.forward_once = forward_once
        rec.clock = lambda: self.now


def duplicate_copies(rec) -> dict:
    """The copies of the trace's attributed duplicates by (warm-up, round)."""
    out = {}
    for r in mt.read_trace(rec.file.path)["runs"]:
        p = r["perturbation"]
        if r["sync"] == "attributed" and p["kind"] == "duplicate":
            out.setdefault((r["warmup"], p["round"]), set()).add(p["copies"])
    return out


class Stopping(TempDirCase):
    def record(self, noise, name="s", **options):
        rec = mt.Recorder(self.path(f"{name}.msgpack"))
        script = Scripted(rec, noise)
        with rec:
            rec.record(tiny_forward(), tokens=32, modes=("none", "attributed"), warmup=1, **options)
        return rec, script

    def by_mode(self, rec):
        return {r["mode"]: r for r in rec.precision_results}

    def test_an_exact_count_is_honoured_whatever_the_noise(self):
        rec, script = self.record(high_noise(), runs=2)
        self.assertEqual(script.timed.count("none"), 2)
        res = self.by_mode(rec)
        self.assertEqual(res["attributed"]["reps"], 2)
        self.assertEqual(res["none"]["reason"], "count")
        self.assertIsNone(res["attributed"]["target"])
        self.assertNotIn("target", res["attributed"]["line"])
        runs = [r for r in mt.read_trace(rec.file.path)["runs"] if r["sync"] == "attributed" and not r["warmup"]]
        self.assertEqual({r["perturbation"]["round"] for r in runs}, {0, 1})
        # An exact count has one copies level, whatever check_copies says.
        self.assertEqual(duplicate_copies(rec), {(False, 0): {4}, (False, 1): {4}, (True, 0): {4}})

    def test_low_noise_meets_the_target_in_three_rounds_at_each_copies_level(self):
        rec, script = self.record(low_noise)
        self.assertEqual(script.timed.count("none"), 6)
        res = self.by_mode(rec)
        for mode in ("none", "attributed"):
            self.assertEqual(res[mode]["reps"], 6, res[mode])
            self.assertTrue(res[mode]["met"], res[mode])
            self.assertLessEqual(res[mode]["precision"], 0.05)
        self.assertRegex(res["attributed"]["line"], r"^precision at 32 tokens, baseline: attributed ±\d+\.\d% after 6 rounds \(target 5%: met\)$")
        self.assertRegex(res["none"]["line"], r"none ±\d+\.\d% after 6 runs \(target 5%: met\)$")
        # What the analyzer will see: six timed rounds, 4 copies in even ones and 8 (twice
        # --copies) in odd ones; a warm-up round at each.
        trace = mt.read_trace(rec.file.path)
        self.assertEqual(max(r["perturbation"]["round"] for r in trace["runs"] if r["sync"] == "attributed"), 5)
        want = {(False, r): {4 if r % 2 == 0 else 8} for r in range(6)}
        want[(True, 0)] = {4, 8}
        self.assertEqual(duplicate_copies(rec), want)

    def test_the_python_costs_pool_both_copies_levels(self):
        rec, _ = self.record(low_noise)
        for name, c in mt.costs(rec.file.path)["components"].items():
            self.assertEqual(set(c["levels"]), {4, 8}, name)
            # Each level near the scripted cost (the control's share f moves it by a few %).
            for k, ns in c["levels"].items():
                self.assertAlmostEqual(ns / COST[name], 1.0, delta=0.1, msg=f"{name} at {k} copies")
            # Three runs at each level: weights 3 x 16 and 3 x 64 of their sum.
            self.assertAlmostEqual(c["ns"], 0.2 * c["levels"][4] + 0.8 * c["levels"][8], delta=1e-6 * c["ns"])

    def test_one_copies_level_when_the_check_is_off_or_the_same(self):
        for check in (0, 4):
            rec, script = self.record(low_noise, name=f"check{check}", check_copies=check)
            self.assertEqual(script.timed.count("none"), 3, check)
            self.assertEqual(self.by_mode(rec)["attributed"]["reps"], 3, check)
            self.assertEqual({c for v in duplicate_copies(rec).values() for c in v}, {4}, check)
        # Another level, chosen.
        rec, _ = self.record(low_noise, name="check2", check_copies=2)
        self.assertEqual(duplicate_copies(rec)[(False, 1)], {2})

    def test_a_tighter_target_takes_more_repetitions(self):
        rec, _ = self.record(low_noise, precision=0.0001, max_time=30)
        res = self.by_mode(rec)
        self.assertGreater(res["attributed"]["reps"], 3)

    def test_the_time_limit_stops_after_the_minimum_and_says_not_met(self):
        # About 0.75 s of scripted time per repetition (more at 8 copies): past 1 s after two,
        # but the minimum, three at each copies level, runs.
        rec, script = self.record(high_noise(), max_time=1.0)
        res = self.by_mode(rec)
        for mode in ("none", "attributed"):
            self.assertEqual(res[mode]["reps"], 6)
            self.assertFalse(res[mode]["met"])
            self.assertEqual(res[mode]["reason"], "time")
        self.assertIn("(target 5%: not met, time limit", res["attributed"]["line"])

    def test_only_the_modes_short_of_the_target_run_again(self):
        noisy = high_noise()
        noise = lambda i, mode, perturb: low_noise(i, mode, perturb) if mode == "none" else noisy(i, mode, perturb)
        rec, script = self.record(noise, max_time=12.0)
        res = self.by_mode(rec)
        self.assertEqual(script.timed.count("none"), 6)
        self.assertEqual(res["none"]["reps"], 6)
        self.assertTrue(res["none"]["met"])
        self.assertGreater(res["attributed"]["reps"], 6)
        self.assertEqual(res["attributed"]["reason"], "time")

    def test_a_slow_run_set_aside_asks_for_five_repetitions_at_each_level(self):
        first = []

        def noise(i, mode, perturb):
            # The first timed duplicate of the head is three times as slow: after the two
            # warm-up repetitions (one at each number of copies) of 8 runs each.
            if isinstance(perturb, tuple) and perturb[1] == "head" and i > 15 and not first:
                first.append(i)
                return 3.0
            return low_noise(i, mode, perturb)

        rec, _ = self.record(noise)
        res = self.by_mode(rec)
        self.assertEqual(res["attributed"]["slow_runs"], 1)
        self.assertEqual(res["attributed"]["reps"], 10)
        self.assertEqual(res["none"]["reps"], 10)
        self.assertTrue(res["attributed"]["met"])

    def test_options_are_checked(self):
        with mt.Recorder(self.path("o.msgpack")) as rec:
            for bad, message in (({"precision": 0}, "precision"), ({"precision": 1.5}, "precision"),
                                 ({"max_time": -1}, "max_time"), ({"runs": 3, "precision": 0.05}, "exact count"),
                                 ({"runs": 3, "max_time": 10}, "exact count"), ({"runs": 10001}, "at most"),
                                 ({"check_copies": -1}, "check_copies")):
                with self.assertRaisesRegex(ValueError, message):
                    rec.record(tiny_forward(), tokens=32, modes=("none",), **bad)


class Rule(unittest.TestCase):
    """The rule itself, as recorder/src/precision.rs tests it."""

    def status(self, mode, precision, slow=0):
        return stopping.ModeStatus(mode, precision, None, slow)

    def test_the_rule_waits_for_the_minimum_then_for_every_mode(self):
        good = [self.status("none", 0.01), self.status("attributed", 0.04)]
        short = [self.status("none", 0.01), self.status("attributed", 0.09)]
        nxt = stopping.next_step
        self.assertEqual(nxt(None, 0.05, 2, good, False), ("continue", ["none", "attributed"]))
        self.assertEqual(nxt(None, 0.05, 3, good, False), ("stop", "met"))
        self.assertEqual(nxt(None, 0.05, 3, short, False), ("continue", ["attributed"]))
        self.assertEqual(nxt(None, 0.05, 3, [self.status("none", None)], False), ("continue", ["none"]))
        slow = [self.status("none", 0.01, 1)]
        self.assertEqual(nxt(None, 0.05, 4, slow, False), ("continue", ["none"]))
        self.assertEqual(nxt(None, 0.05, 5, slow, False), ("stop", "met"))
        self.assertEqual(nxt(None, 0.05, 3, short, True), ("stop", "time"))
        self.assertEqual(nxt(None, 0.05, 1, short, True), ("continue", ["none", "attributed"]))
        self.assertEqual(nxt(None, 0.05, stopping.MAX_REPS, short, False), ("stop", "cap"))
        self.assertEqual(nxt(2, None, 2, short, False), ("stop", "count"))
        self.assertEqual(nxt(2, None, 1, good, False), ("continue", ["none", "attributed"]))
        # Two copies levels: the minimum at each, so twice the rounds; an exact count unchanged.
        self.assertEqual(nxt(None, 0.05, 5, good, False, levels=2), ("continue", ["none", "attributed"]))
        self.assertEqual(nxt(None, 0.05, 6, good, False, levels=2), ("stop", "met"))
        self.assertEqual(nxt(None, 0.05, 9, slow, False, levels=2), ("continue", ["none"]))
        self.assertEqual(nxt(None, 0.05, 10, slow, False, levels=2), ("stop", "met"))
        self.assertEqual(nxt(2, None, 2, short, False, levels=2), ("stop", "count"))

    def test_two_copies_levels_pool_into_one_precision(self):
        # One 20 ms target in a 100 ms forward, duplicated 4 times in even rounds and 8 in odd
        # ones, with +-2% noise alternating within each group (references, each level): the
        # per-copy estimates are 20 ms at both levels, and pooling weighs the 8-copy level four
        # times as much per run, so the pooled interval is narrower than the 4-copy level's
        # alone. (Noise alternating by run index would give every group one time, no spread.)
        def precision_with(levels):
            t = stopping.SetTracker(["attributed"], 1, len(levels))
            order, seen = 0, {}
            for r in range(8):
                level = r % len(levels)
                k = levels[level]
                for kind, target, ns in (("reference", None, 100e6), ("duplicate", (0, level), 100e6 + 20e6 * k)):
                    n = seen[target] = seen.get(target, -1) + 1
                    noise = 1.02 if n % 2 == 0 else 0.98
                    t.add("attributed", kind, target, k, order, int(ns * noise))
                    order += 1
            return t.status()[0].precision

        four, pooled = precision_with([4]), precision_with([4, 8])
        self.assertGreater(pooled, 0.0)
        self.assertLess(pooled, four)
        # A level past the tracker's is ignored, not counted at another level.
        t = stopping.SetTracker(["attributed"], 1, 2)
        t.add("attributed", "duplicate", (0, 2), 8, 0, 1)
        self.assertEqual(t.attributed, [])
        # A plain index is level 0.
        t.add("attributed", "duplicate", 0, 4, 0, 1)
        self.assertEqual([r.role for r in t.attributed], [0])

    def test_repetitions_to_go_and_the_shares_of_time(self):
        # ±10% after 3: (10/5)^2 * 3 = 12 in all, 9 more.
        self.assertEqual(stopping.reps_to_go(self.status("none", 0.10), 3, 0.05), 9)
        self.assertEqual(stopping.reps_to_go(self.status("none", 0.04), 3, 0.05), 0)
        self.assertIsNone(stopping.reps_to_go(self.status("none", None), 3, 0.05))
        self.assertEqual(stopping.progress_text([self.status("attributed", 0.10)], 3, 0.05), " (attributed ±10.0% of 5%, ~9 more)")
        self.assertEqual(stopping.time_share(100.0, 600.0, [1.0, 3.0]), 125.0)
        self.assertEqual(stopping.time_share(700.0, 600.0, [1.0]), 0.0)

    def test_summary_lines(self):
        st = stopping.ModeStatus("attributed", 0.079, 2, 0)
        line = stopping.summary(st, 9, 0.05, "time", lambda i: ["a", "b", "layers/mlp"][i])
        self.assertEqual(line, "attributed ±7.9% after 9 rounds (target 5%: not met, time limit; least precise: layers/mlp)")
        self.assertEqual(stopping.summary(self.status("none", 0.031), 6, 0.025, "met", str), "none ±3.1% after 6 runs (target 2.5%: not met)")
        self.assertEqual(stopping.summary(self.status("none", None), 1, None, "count", str), "none no interval after 1 runs")


class Options(unittest.TestCase):
    def test_precision_and_time_values(self):
        for text, want in (("5%", 0.05), ("0.05", 0.05), ("2.5 %", 0.025), (" 1% ", 0.01)):
            self.assertAlmostEqual(args.precision(text), want)
        for text, want in (("90s", 90.0), ("10m", 600.0), ("1h", 3600.0), ("45", 45.0), ("1.5m", 90.0)):
            self.assertEqual(args.duration(text), want)
        for bad in ("0%", "0", "-5%", "100%", "150%", "5", "abc", "", "nan"):
            with self.assertRaises(argparse.ArgumentTypeError, msg=bad):
                args.precision(bad)
        for bad in ("0", "-5s", "abc", "10x", "", "m", "inf", "31d", "1e9"):
            with self.assertRaises(argparse.ArgumentTypeError, msg=bad):
                args.duration(bad)

    def error_of(self, module, argv):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as e:
            module.main(argv)
        self.assertEqual(e.exception.code, 2)
        self.assertNotIn("Traceback", err.getvalue())
        return err.getvalue()

    def test_the_programs_refuse_bad_values_with_the_reason(self):
        for module, base in ((demo, ["--out", "never.msgpack"]), (lm, ["--model-type", "llama", "--config", "{}"])):
            self.assertIn("argument --precision: '0%': the precision must be above 0% and below 100%",
                          self.error_of(module, base + ["--precision", "0%"]))
            self.assertIn("did you mean 5%?", self.error_of(module, base + ["--precision", "5"]))
            self.assertIn("argument --precision: 'fast' is not a precision", self.error_of(module, base + ["--precision", "fast"]))
            self.assertIn("argument --max-time: '-1m': the time must be above 0", self.error_of(module, base + ["--max-time=-1m"]))
            self.assertIn("argument --max-time: 'soon' is not a duration", self.error_of(module, base + ["--max-time", "soon"]))
            self.assertIn("--runs is an exact count", self.error_of(module, base + ["--runs", "3", "--precision", "2%"]))
            self.assertIn("--runs is an exact count", self.error_of(module, base + ["--runs", "3", "--max-time", "1m"]))
            self.assertIn("--runs must be at least 1", self.error_of(module, base + ["--runs", "0"]))
            self.assertIn("--check-copies must be at least 0", self.error_of(module, base + ["--check-copies", "-1"]))
            self.assertIn("--copies must be at least 1", self.error_of(module, base + ["--copies", "0"]))
            help_text = module.parser().format_help()
            self.assertIn("--precision P", help_text)
            self.assertIn("--max-time T", help_text)
            self.assertIn("--check-copies N", help_text)


if __name__ == "__main__":
    unittest.main()
