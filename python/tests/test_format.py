"""The trace the Python recorder writes: fields and types as the Rust recorder writes them, the
attribution schedule, errors, and components that change nothing about the model's outputs."""

import os
import unittest
from unittest import mock

import mlx_trace as mt
import mlx.core as mx
import msgpack
from mlx_trace import format as fmt
from mlx_trace import machine

from helpers import TempDirCase, analyze_json

RUN_FIELDS = {
    "run": int, "variant": str, "sync": str, "warmup": bool, "frames": int, "tokens": int,
    "forward_ns": int, "active_memory_bytes": int, "peak_memory_bytes": int, "drift": type(None),
    "minor_faults": int, "components": list, "events": list,
}
PERTURBATION_FIELDS = {
    "kind": str, "copies": int, "round": int, "reduced_bytes": int, "reduced_arrays": int,
    "target_calls": int, "target_flops": float, "target_bytes": float,
}


def tiny_forward():
    """An embedding, two 'blocks' of two components, a head: 4 stages."""
    w = mx.random.normal((64, 64), key=mx.random.key(1))
    x0 = mx.random.normal((32, 64), key=mx.random.key(2))
    mx.eval(w, x0)

    @mt.component("layer/proj", flops=lambda x: 2.0 * x.shape[0] * 64 * 64, bytes=4.0 * (64 * 64 + 2 * 32 * 64))
    def proj(x):
        return x @ w

    def forward():
        x = mt.mark("embed/in", lambda: x0 * 2.0)
        for i in range(2):
            with mt.block(i):
                x = proj(x)
                x = mt.mark("layer/act", lambda x: (mx.tanh(x), x.sum(axis=0)), x)[0]
        return mt.mark("head", lambda x: x.mean(axis=1), x)

    return forward


def failing_after(n: int, forward):
    """``forward``, raising ``RuntimeError("boom")`` from its call n + 1 on."""
    calls = []

    def failing():
        calls.append(1)
        if len(calls) > n:
            raise RuntimeError("boom")
        return forward()

    return failing


class TraceLayout(TempDirCase):
    def test_fields_types_and_schedule(self):
        path = self.path("t.msgpack")
        forward = tiny_forward()
        with mt.Recorder(path, model="tiny-test", dtype="f32", config={"dim": 64, "blocks": 2}, labels={"who": "test"}) as rec:
            rec.calibrate(quick=True)
            n = rec.record(forward, tokens=32, modes=("none", "component", "attributed"), runs=2, warmup=1, copies=3)
        self.assertFalse(os.path.exists(path + ".partial"))
        # Raw values, as any MessagePack reader sees them.
        with open(path, "rb") as f:
            values = list(msgpack.Unpacker(f, raw=False))
        head = values[0]
        self.assertEqual((head["magic"], head["format_version"]), ("mlx-trace", 1))
        meta = head["metadata"]
        self.assertEqual((meta["preset"], meta["dtype"], meta["backend"]), ("tiny-test", "f32", "cpu"))
        self.assertEqual(meta["mlx_version"], mx.__version__)
        self.assertEqual(meta["model"]["dim"], 64)
        self.assertEqual(meta["model"]["patch"], [0, 0, 0])
        self.assertIsInstance(meta["model"]["eps"], float)
        self.assertEqual(meta["labels"], {"who": "test"})
        self.assertGreater(meta["ram_bytes"], 0)
        self.assertEqual(list(values[1]), ["Calibration"])
        cal = values[1]["Calibration"]
        self.assertGreater(cal["matmul_flops_per_s"], 0)
        # The ceilings are the best of the probes kept beside them.
        self.assertEqual(cal["matmul_flops_per_s"], max(p["flops_per_s"] for p in cal["matmul_probes"]))
        self.assertEqual(cal["bandwidth_bytes_per_s"], max(p["bytes_per_s"] for p in cal["bandwidth_probes"]))
        self.assertEqual(len(cal["bandwidth_probes"]), 2)
        # Where the cache is known, the cache-resident passes and their best are kept too.
        if cal.get("llc_bytes"):
            self.assertEqual([p["bytes"] for p in cal["cache_bandwidth_probes"]], [128 << 10, 256 << 10])
            self.assertEqual(cal["cache_bandwidth_bytes_per_s"], max(p["bytes_per_s"] for p in cal["cache_bandwidth_probes"]))
        else:
            self.assertNotIn("cache_bandwidth_probes", cal)
        # What one page fault costs, as the Rust calibration measures it: microseconds, not
        # nanoseconds or milliseconds.
        self.assertGreater(cal["page_fault_ns"], 10)
        self.assertLess(cal["page_fault_ns"], 1e6)
        self.assertEqual(values[-1], {"End": {"runs": n}})
        runs = [v["Run"] for v in values[1:-1] if "Run" in v]
        self.assertEqual(len(runs), n)
        self.assertEqual([r["run"] for r in runs], list(range(n)))
        for r in runs:
            for k, t in RUN_FIELDS.items():
                self.assertIsInstance(r[k], t, k)
            self.assertGreaterEqual(r["minor_faults"], 0)
            for c in r["components"]:
                self.assertEqual(set(c), {"name", "flops", "bytes"})
                self.assertIsInstance(c["flops"], float)
            for e in r["events"]:
                self.assertEqual(len(e), 4)
                self.assertTrue(all(isinstance(v, int) for v in e))
        # Per repetition (warm-up included): none 1, component 1, attributed 1 + 1 + 4 = 6: four
        # stages, no reference after the last duplicate.
        self.assertEqual(n, 3 * (1 + 1 + 6))
        comp = [r for r in runs if r["sync"] == "component" and not r["warmup"]][0]
        names = [comp["components"][e[0]]["name"] for e in comp["events"]]
        self.assertEqual(names, ["embed/in", "layer/proj", "layer/act", "layer/proj", "layer/act", "head"])
        self.assertEqual([e[1] for e in comp["events"]], [-1, 0, 0, 1, 1, -1])
        proj = next(c for c in comp["components"] if c["name"] == "layer/proj")
        self.assertEqual(proj["flops"], 2.0 * 32 * 64 * 64)
        fused = [r for r in runs if r["sync"] in ("none", "attributed")]
        for r in fused:
            self.assertEqual([c["name"] for c in r["components"]], ["forward"])
            self.assertEqual(len(r["events"]), 1)
            self.assertIsInstance(r["graph_ns"], int)
            self.assertLessEqual(r["graph_ns"], r["forward_ns"])
        for r in runs:
            if r["sync"] != "attributed":
                self.assertIsNone(r["perturbation"])
                continue
            p = r["perturbation"]
            for k, t in PERTURBATION_FIELDS.items():
                self.assertIsInstance(p[k], t, k)
            if p["kind"] == "duplicate":
                calls = {"embed/in": 1, "layer/proj": 2, "layer/act": 2, "head": 1}
                self.assertEqual(p["target_calls"], calls[p["target"]])
                self.assertEqual(p["copies"], 3)
                # One scalar per output array of each copy: layer/act returns two arrays.
                outputs = 2 if p["target"] == "layer/act" else 1
                self.assertEqual(p["reduced_arrays"], 3 * outputs * calls[p["target"]])
            elif p["kind"] == "control":
                self.assertIsNone(p["target"])
                self.assertEqual(p["reduced_arrays"], 1 + 2 + 2 * 2 + 1)
            else:
                self.assertEqual((p["target"], p["copies"], p["reduced_arrays"]), (None, 0, 0))
        # Every round rotates the targets: round 0 starts with the first, round 1 with the third
        # (offset ceil(4/3) = 2), as the Rust schedule does.
        # The warm-up round runs round 0's schedule.
        order = [r["perturbation"]["target"] for r in runs if r["sync"] == "attributed" and r["perturbation"]["kind"] == "duplicate"]
        self.assertEqual(order, ["embed/in", "layer/proj", "layer/act", "head"] * 2 + ["layer/act", "head", "embed/in", "layer/proj"])
        self.assertEqual([r["perturbation"]["round"] for r in runs if r["sync"] == "attributed"], [0] * 12 + [1] * 6)

        # The analyzer loads it, with the model's own names.
        report = analyze_json(path)
        self.assertEqual(report["inputs"]["runs"], sum(1 for r in runs if not r["warmup"]))
        names = {c["name"] for c in report["attribution"][0]["comps"]}
        self.assertEqual(names, {"embed/in", "layer/proj", "layer/act", "head"})

    def test_schedule_matches_the_rust_recorder(self):
        # The Rust recorder's round for its 22 stages (recorder/src/session.rs): a reference, the
        # control, 22 duplicates with a reference after every 4th: 29 runs.
        r = mt.attribution_round(0, 22, 4)
        self.assertEqual(len(r), 29)
        self.assertEqual(r[:3], [("reference", None, 0), ("control", None, 0), ("duplicate", 0, 4)])
        self.assertEqual(r[6], ("reference", None, 0))
        self.assertEqual(sorted(t for k, t, _ in r if k == "duplicate"), list(range(22)))
        # Round 2 starts at (2 * ceil(22 / 3)) % 22 = 16.
        self.assertEqual(mt.attribution_round(2, 22, 4)[2], ("duplicate", 16, 4))
        self.assertEqual(mt.attribution_round(0, 0, 4), [("reference", None, 0), ("control", None, 0)])


class MinorFaults(TempDirCase):
    def test_a_forward_counts_the_fresh_pages_it_touched(self):
        # 64 MiB allocated and written inside the forward: far beyond MLX's CPU cache, so fresh pages.
        path = self.path("f.msgpack")
        with mt.Recorder(path) as rec:
            rec.record(lambda: mx.ones((16 << 20,)) + 1.0, tokens=1, modes=("none",), runs=1, warmup=0)
        (run,) = mt.read_trace(path)["runs"]
        self.assertIsInstance(run["minor_faults"], int)
        self.assertGreater(run["minor_faults"], 0)

    def test_no_count_is_written_as_nil(self):
        self.assertIsNone(fmt.Run(0, "baseline", "none", 1, 1).to_value()["minor_faults"])
        path = self.path("n.msgpack")
        with mock.patch.object(machine, "minor_faults", return_value=None):
            with mt.Recorder(path) as rec:
                rec.record(tiny_forward(), tokens=32, modes=("none",), runs=1, warmup=0)
        (run,) = mt.read_trace(path)["runs"]
        self.assertIn("minor_faults", run)
        self.assertIsNone(run["minor_faults"])


class CacheLimit(TempDirCase):
    """An attributed recording on the CPU raises MLX's buffer cache limit to the memory budget
    for the whole set, and puts the previous one back after it, even after an exception."""

    BUDGET = 3 << 30
    BEFORE = 12_345_678

    def setUp(self):
        super().setUp()
        self.original = mx.set_cache_limit(self.BEFORE)
        self.addCleanup(mx.set_cache_limit, self.original)
        self.calls = []  # (limit asked, limit returned)
        real = mx.set_cache_limit

        def spy(limit):
            previous = real(limit)
            self.calls.append((limit, previous))
            return previous

        for patch in (mock.patch.object(mx, "set_cache_limit", spy),
                      mock.patch.object(machine, "memory_budget", return_value=self.BUDGET)):
            patch.start()
            self.addCleanup(patch.stop)

    def record(self, forward, modes, runs=1, warmup=1):
        with mt.Recorder(self.path("c.msgpack")) as rec:
            self.assertEqual(rec.backend, "cpu")
            return rec.record(forward, tokens=32, modes=modes, runs=runs, warmup=warmup, copies=2)

    def test_raised_during_an_attributed_recording_and_restored_after(self):
        inner = tiny_forward()
        seen = []  # calls made when each forward ran

        def forward():
            seen.append(len(self.calls))
            return inner()

        n = self.record(forward, ("none", "attributed"))
        self.assertEqual(self.calls, [(self.BUDGET, self.BEFORE), (self.BEFORE, self.BUDGET)])
        # Every recorded forward, plain ones included, ran under the raised limit.
        self.assertEqual(seen.count(1), n)
        self.assertEqual(mx.set_cache_limit(self.BEFORE), self.BEFORE)

    def test_left_alone_without_attributed_mode(self):
        self.record(tiny_forward(), ("none", "component"))
        self.assertEqual(self.calls, [])

    def test_restored_after_an_exception(self):
        with self.assertRaisesRegex(RuntimeError, "boom"):
            self.record(failing_after(3, tiny_forward()), ("attributed",), runs=2)
        self.assertEqual(self.calls, [(self.BUDGET, self.BEFORE), (self.BEFORE, self.BUDGET)])
        self.assertEqual(mx.set_cache_limit(self.BEFORE), self.BEFORE)

    def test_a_gpu_keeps_its_limit(self):
        fake = mock.Mock()
        with machine.CacheForCopies(fake, "cuda", self.BUDGET):
            pass
        fake.set_cache_limit.assert_not_called()


class Outputs(unittest.TestCase):
    def test_outputs_are_unchanged_in_every_mode(self):
        forward = tiny_forward()
        plain = forward()
        mx.eval(plain)
        for mode in mt.MODES:
            for perturb in (None, "control", ("duplicate", "layer/proj", 2), ("duplicate", "layer/act", 1)):
                probe = mt.Probe(mode, perturb=perturb)
                from mlx_trace.probe import recording

                with recording(probe):
                    out = forward()
                mx.eval(out)
                self.assertTrue(mx.array_equal(out, plain).item(), f"{mode} {perturb}")
                if mode == "attributed" and perturb == "control":
                    self.assertEqual(probe.reduced_arrays, 8)
                if mode != "attributed":
                    self.assertEqual(probe.reduced_arrays, 0)

    def test_marked_functions_run_plainly_outside_a_recording(self):
        calls = []

        @mt.component("x")
        def f(a, b=1):
            calls.append(a)
            return a + b

        self.assertEqual(f(1, b=2), 3)
        self.assertEqual(mt.mark("y", lambda a: a * 2, 4), 8)
        self.assertEqual(calls, [1])
        self.assertIsNone(mt.current_probe())


class Errors(TempDirCase):
    def test_bad_arguments_are_refused_with_the_reason(self):
        path = self.path("e.msgpack")
        with self.assertRaisesRegex(ValueError, "dtype"):
            mt.Recorder(path, dtype="f64")
        with self.assertRaisesRegex(ValueError, "mode"):
            mt.Probe("block")
        with mt.Recorder(path) as rec:
            with self.assertRaisesRegex(ValueError, "unknown mode 'fast'"):
                rec.record(tiny_forward(), tokens=1, modes=("fast",))
            with self.assertRaisesRegex(ValueError, "runs >= 1"):
                rec.record(tiny_forward(), tokens=1, runs=0)
            with self.assertRaisesRegex(TypeError, "must return an array"):
                rec.record(lambda: 3, tokens=1, modes=("none",), runs=1, warmup=0)
        with self.assertRaisesRegex(mt.TraceError, "model config: field 'dim' must be a non-negative integer"):
            mt.Recorder(self.path("f.msgpack"), config={"dim": -1})
        with self.assertRaisesRegex(mt.TraceError, "unknown field"):
            mt.Recorder(self.path("g.msgpack"), config={"width": 3})

    def test_existing_traces_are_never_replaced_without_force(self):
        path = self.path("x.msgpack")
        with open(path, "wb") as f:
            f.write(b"keep")
        with self.assertRaisesRegex(mt.TraceError, "exists"):
            mt.Recorder(path)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"keep")
        # A .partial being written: a second recorder stops before computing.
        other = self.path("y.msgpack")
        first = mt.Recorder(other)
        with self.assertRaisesRegex(mt.TraceError, "another recorder"):
            mt.Recorder(other)
        first.finish()
        with mt.Recorder(path, force=True) as rec:
            rec.record(tiny_forward(), tokens=32, modes=("none",), runs=1, warmup=0)
        self.assertTrue(mt.read_trace(path)["complete"])

    def test_an_exception_keeps_the_completed_runs(self):
        path = self.path("p.msgpack")
        with self.assertRaisesRegex(RuntimeError, "boom"):
            with mt.Recorder(path) as rec:
                rec.record(failing_after(2, tiny_forward()), tokens=32, modes=("none",), runs=5, warmup=0)
        self.assertFalse(os.path.exists(path))
        t = mt.read_trace(path + ".partial")
        self.assertFalse(t["complete"])
        self.assertEqual(len(t["runs"]), 2)
        # The analyzer reads it with a warning.
        report = analyze_json(path + ".partial")
        self.assertEqual(report["inputs"]["runs"], 2)


if __name__ == "__main__":
    unittest.main()
