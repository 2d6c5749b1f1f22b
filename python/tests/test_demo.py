"""The demo and the LingBot block example as a user runs them: --help, bad arguments, a small
recording on the CPU that mlx-analyze reads with the model's own component names."""

import os
import re
import subprocess
import sys

import mlx.core as mx
import mlx_trace as mt
from mlx_trace.examples import lingbot_block as lb

from helpers import REPO, TempDirCase, analyze_json


def run(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, timeout=600)


def rust_block_names():
    """The built-in model's block components, read from the Rust taxonomy (the independent
    reference the Python block must match)."""
    for path in ("trace-format/src/taxonomy.rs", "recorder/src/model/names.rs"):
        with open(os.path.join(REPO, path)) as f:
            src = f.read()
        m = re.search(r"pub const BLOCK: \[&str; \d+\] = \[(.*?)\];", src, re.S)
        if m:
            # Entries are string literals or the taxonomy's `component::NAME` constants.
            consts = dict(re.findall(r'pub const ([A-Z0-9_]+): &str = "([^"]+)";', src))
            items = re.findall(r'"([^"]+)"|component::([A-Z0-9_]+)', m.group(1))
            return [lit or consts[name] for lit, name in items]
    raise AssertionError("no BLOCK list in the Rust taxonomy")


class Demo(TempDirCase):
    def test_help_and_bad_arguments(self):
        out = run("mlx_trace.demo", "--help")
        self.assertEqual(out.returncode, 0, out.stderr)
        for word in ("--out", "--sync", "none, component, attributed", "--seq", "mlx-analyze"):
            self.assertIn(word, out.stdout)
        out = run("mlx_trace.demo", "--out", self.path("x.msgpack"), "--sync", "fast")
        self.assertEqual(out.returncode, 2)
        self.assertIn("--sync: choose from none, component, attributed", out.stderr)
        self.assertNotIn("Traceback", out.stderr)
        out = run("mlx_trace.demo", "--out", self.path("x.msgpack"), "--dim", "250")
        self.assertEqual(out.returncode, 2)
        self.assertIn("multiple of heads", out.stderr)
        self.assertFalse(os.path.exists(self.path("x.msgpack")))

    def test_precision_driven_recording_says_what_it_reached(self):
        # Two lengths share --max-time; each closes with a line per mode.
        path = self.path("p.msgpack")
        out = run("mlx_trace.demo", "--out", path, "--seq", "16,32", "--sync", "none,attributed", "--precision", "50%",
                  "--max-time", "20s", "--warmup", "0", "--no-calibrate")
        self.assertEqual(out.returncode, 0, out.stderr)
        for L in (16, 32):
            for mode, unit in (("none", "runs"), ("attributed", "rounds")):
                self.assertRegex(out.stderr, rf"mlx-trace: precision at {L} tokens, baseline: {mode} (±(\d+\.\d|inf)%|no interval) after \d+ {unit} \(target 50%: (met|not met, time limit)")
        t = mt.read_trace(path)
        self.assertGreaterEqual(sum(1 for r in t["runs"] if r["sync"] == "none" and r["tokens"] == 32), 3)

    def test_records_a_trace_the_analyzer_reads(self):
        path = self.path("demo.msgpack")
        out = run("mlx_trace.demo", "--out", path, "--seq", "32,64,96", "--runs", "1", "--quiet", "--no-calibrate")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), path)
        again = run("mlx_trace.demo", "--out", path, "--runs", "1", "--quiet", "--no-calibrate")
        self.assertEqual(again.returncode, 2)
        self.assertIn("exists", again.stderr)
        report = analyze_json(path)
        self.assertEqual([r["tokens"] for r in report["scaling"]["rows"]], [32, 64, 96])
        names = {c["name"] for c in report["attribution"][0]["comps"]}
        self.assertEqual(names, {"embed/tokens", "layer/attn/norm", "layer/attn/qkv", "layer/attn/rope", "layer/attn/sdpa", "layer/attn/out",
                                 "layer/mlp/norm", "layer/mlp/up", "layer/mlp/down", "head/norm", "head/logits"})
        self.assertEqual(report["workload"]["preset"], "llama-demo")


class LingbotBlock(TempDirCase):
    def test_component_names_are_the_rust_models(self):
        path = self.path("lb.msgpack")
        out = run("mlx_trace.examples.lingbot_block", "--preset", "tiny", "--frames", "5", "--height", "64", "--width", "96", "--dtype", "f32",
                  "--sync", "none,attributed,component", "--runs", "1", "--warmup", "0", "--copies", "1", "--quiet", "--no-calibrate", "--out", path)
        self.assertEqual(out.returncode, 0, out.stderr)
        t = mt.read_trace(path)
        meta = t["header"]["metadata"]
        self.assertEqual((meta["preset"], meta["model"]["dim"], meta["model"]["blocks"], meta["height"], meta["width"]), ("tiny", 256, 2, 64, 96))
        comp = next(r for r in t["runs"] if r["sync"] == "component")
        self.assertEqual(comp["tokens"], 2 * 4 * 6)
        order = []
        for e in comp["events"]:
            name = comp["components"][e[0]]["name"]
            if e[1] == 0:
                order.append(name)
        self.assertEqual(order, rust_block_names())
        self.assertEqual({e[1] for e in comp["events"]}, {0, 1})
        report = analyze_json(path)
        self.assertEqual({c["name"] for c in report["attribution"][0]["comps"]}, set(rust_block_names()))

    def test_help_and_bad_arguments(self):
        out = run("mlx_trace.examples.lingbot_block", "--help")
        self.assertEqual(out.returncode, 0, out.stderr)
        for word in ("--blocks", "--frames", "--dtype", "--sync", "lingbot-14b"):
            self.assertIn(word, out.stdout)
        out = run("mlx_trace.examples.lingbot_block", "--out", self.path("y.msgpack"), "--height", "50")
        self.assertEqual(out.returncode, 2)
        self.assertIn("multiples of 16", out.stderr)

    def test_tokens_rope_and_block_math(self):
        # The sequence length formula of the Rust geometry (480x832: 1,560 tokens per latent frame).
        self.assertEqual(lb.tokens_of(21, 480, 832)[1], 9360)
        self.assertEqual(lb.tokens_of(81, 480, 832)[1], 32760)
        # RoPE tables: angle of pair i at token (f, h, w) is pos[axis(i)] * 10000^(-2j/axis_dim).
        grid = (2, 3, 4)
        a, b = lb.rope_tables(128, grid, mx.float32)
        self.assertEqual(a.shape, (24, 1, 2, 64))
        token = 1 * 12 + 2 * 4 + 3  # f=1, h=2, w=3
        import math

        for i, (axis, j, d) in {0: (0, 0, 44), 5: (0, 5, 44), 22: (1, 0, 42), 30: (1, 8, 42), 43: (2, 0, 42), 63: (2, 20, 42)}.items():
            angle = (1, 2, 3)[axis] * 10000.0 ** (-2.0 * j / d)
            self.assertAlmostEqual(a[token, 0, 0, i].item(), math.cos(angle), places=5)
            self.assertAlmostEqual(a[token, 0, 1, i].item(), math.sin(angle), places=5)
            self.assertAlmostEqual(b[token, 0, 0, i].item(), -math.sin(angle), places=5)
        # A rotation keeps each pair's length.
        x = mx.random.normal((24, 4 * 128), key=mx.random.key(0))
        r = lb.rotate(x, 4, (a, b))
        self.assertEqual(r.shape, (1, 4, 24, 128))
        n0 = (x.reshape(24, 4, 64, 2) ** 2).sum(axis=-1)
        n1 = (r.transpose(0, 2, 1, 3).reshape(24, 4, 2, 64) ** 2).sum(axis=2)
        self.assertTrue(mx.allclose(n0, n1, atol=1e-4).item())
        # One tiny block: finite, the shape of x, and unchanged by recording it.
        blocks = lb.Blocks(1, 256, 4, 512, True, mx.float32, seed=1)
        grid, L = lb.tokens_of(5, 64, 96)
        x, e0, ctx, cam = lb.inputs(256, 16, True, grid, L, mx.float32)
        tables = lb.rope_tables(64, grid, mx.float32)
        cost = lb.Costs(256, 512, L, 16, 4, 4).table()
        y = blocks((x, e0, ctx, cam, tables), cost)
        self.assertEqual(y.shape, (L, 256))
        self.assertTrue(mx.isfinite(y).all().item())
        self.assertEqual(set(cost), set(rust_block_names()))


class Compare(TempDirCase):
    def test_two_traces_side_by_side(self):
        path = self.path("lb.msgpack")
        out = run("mlx_trace.examples.lingbot_block", "--preset", "tiny", "--frames", "5", "--height", "64", "--width", "96", "--dtype", "f32",
                  "--sync", "none,attributed", "--runs", "1", "--warmup", "0", "--copies", "1", "--quiet", "--no-calibrate", "--out", path)
        self.assertEqual(out.returncode, 0, out.stderr)
        out = run("mlx_trace.compare", path, path, "--names", "A,B")
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = [l for l in out.stdout.splitlines() if l.startswith("| block/")]
        self.assertEqual(len(rows), len(rust_block_names()))
        # The same trace twice: every rank the same, every ratio 1 (or '-' below the noise).
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            self.assertEqual(cells[2], cells[4], row)
            self.assertIn(cells[5], ("1.00", "-"), row)
        out = run("mlx_trace.compare", path, path, "--frames", "99")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("no attributed runs at 99 frames", out.stderr)


class Docs(TempDirCase):
    """docs/instrumenting.md shows the two minimal examples verbatim, each under 30 lines."""

    def blocks(self):
        with open(os.path.join(REPO, "docs", "instrumenting.md")) as f:
            doc = f.read()
        return dict(re.findall(r"```(rust|python)\n(.*?)```", doc, re.S))

    def test_the_walk_through_shows_the_examples_as_they_are(self):
        blocks = self.blocks()
        for lang, path in (("rust", "recorder/examples/minimal.rs"), ("python", "python/mlx_trace/examples/minimal.py")):
            with open(os.path.join(REPO, path)) as f:
                self.assertEqual(blocks[lang], f.read(), f"docs/instrumenting.md's {lang} block differs from {path}")
            self.assertLess(len(blocks[lang].strip().splitlines()), 30, lang)

    def test_the_python_example_runs_and_the_analyzer_reads_it(self):
        path = self.path("my-model.msgpack")
        env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python"))
        # Precision-driven: its timed runs stop within the default max_time (600 s) even on a
        # machine too noisy for the target, so the limit leaves room for that and the rest.
        out = subprocess.run([sys.executable, os.path.join(REPO, "python", "mlx_trace", "examples", "minimal.py"), path],
                             capture_output=True, text=True, env=env, timeout=900)
        self.assertEqual(out.returncode, 0, out.stderr)
        report = analyze_json(path)
        (aset,) = report["attribution"]
        self.assertEqual({c["name"] for c in aset["comps"]}, {"layer/mlp/up", "layer/mlp/act"})
        # No runs given: precision-driven, three rounds at least.
        self.assertGreaterEqual(aset["rounds"], 3)


class Interrupt(TempDirCase):
    def test_ctrl_c_finishes_the_run_and_keeps_the_partial_trace(self):
        import signal
        import time

        path = self.path("int.msgpack")
        env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python"))
        p = subprocess.Popen([sys.executable, "-m", "mlx_trace.demo", "--out", path, "--runs", "200", "--no-calibrate", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.time() + 120
        while time.time() < deadline and (not os.path.exists(path + ".partial") or len(mt.read_trace(path + ".partial")["runs"]) < 3):
            time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 130, err)
        self.assertIn("interrupted", err)
        self.assertEqual(out.strip(), path + ".partial")
        self.assertFalse(os.path.exists(path))
        t = mt.read_trace(path + ".partial")
        self.assertFalse(t["complete"])
        self.assertGreaterEqual(len(t["runs"]), 3)
        self.assertEqual(analyze_json(path + ".partial")["inputs"]["runs"], sum(1 for r in t["runs"] if not r["warmup"]))
