"""A live nn.Module tree recorded with no change to its code (mlx_trace.profile), and mlx-lm
models recorded by `python -m mlx_trace.lm` on tiny configs: names, blocks, nesting, self times,
analytic costs, KV caches, mx.compile, undoing, and mt.mark's keyword arguments."""

import json
import os
import subprocess
import sys
import unittest

import mlx_trace as mt
import mlx.core as mx
import mlx.nn as nn
from mlx.core.fast import rms_norm  # imported by name, as some model files do
from mlx_trace.attribution import tree
from mlx_trace.instrument import is_instrumented
from mlx_trace.lm import random_model

from helpers import REPO, TempDirCase, analyze_json

LLAMA = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128, "num_attention_heads": 4,
         "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "vocab_size": 256, "tie_word_embeddings": True}
QWEN3 = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128, "num_attention_heads": 4,
         "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-6, "vocab_size": 256, "rope_theta": 1000000,
         "max_position_embeddings": 2048, "tie_word_embeddings": False}
QUICK = dict(runs=1, warmup=0, copies=2)


def llama():
    model, _ = random_model("llama", LLAMA, seed=1)
    return model


def ids(n, seed=0):
    x = mx.random.randint(0, 256, (1, n), key=mx.random.key(seed))
    mx.eval(x)
    return x


def classes(model):
    return [(name, type(m)) for name, m in model.named_modules()]


def fast_functions():
    return {n: getattr(mx.fast, n) for n in ("scaled_dot_product_attention", "rms_norm", "layer_norm", "rope")}


class ByNameNorm(nn.Module):
    """A model whose file imported mx.fast.rms_norm by name."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(32, 32)
        self.weight = mx.ones((32,))

    def __call__(self, x):
        return rms_norm(self.proj(x), self.weight, 1e-5)


class Slotted:
    __slots__ = ("offset",)

    def __init__(self):
        self.offset = 0


class Takes(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 16)

    def __call__(self, x, cache=None):
        return self.proj(x)


class LmCommand(TempDirCase):
    """`python -m mlx_trace.lm` records llama and qwen3 (random weights, tiny configs) with no code
    written, and mlx-analyze reads the traces."""

    def run_lm(self, model_type, cfg):
        path = self.path(f"{model_type}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        out = self.path(f"{model_type}.msgpack")
        env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python"))
        r = subprocess.run([sys.executable, "-m", "mlx_trace.lm", "--model-type", model_type, "--config", path,
                            "--tokens", "128,256", "--out", out, "--runs", "1", "--warmup", "0", "--copies", "2",
                            "--no-calibrate", "--quiet"], capture_output=True, text=True, env=env, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), out)
        trace = mt.read_trace(out)
        self.assertTrue(trace["complete"])
        meta = trace["header"]["metadata"]
        self.assertEqual(meta["preset"], model_type)
        self.assertEqual(meta["weights"], "synthetic")
        self.assertEqual(meta["labels"]["weights"], "random")
        self.assertEqual(meta["model"]["blocks"], 2)
        self.assertEqual({r["tokens"] for r in trace["runs"]}, {128, 256})
        self.assertEqual({r["sync"] for r in trace["runs"]}, {"none", "attributed", "component"})
        targets = {r["perturbation"]["target"] for r in trace["runs"] if r["sync"] == "attributed" and r["perturbation"]["target"]}
        for name in ("model", "layers", "self_attn", "self_attn/q_proj", "self_attn/sdpa", "mlp", "mlp/down_proj", "model/norm"):
            self.assertIn(name, targets)
        report = analyze_json(out)
        self.assertTrue(report["attribution"], "mlx-analyze found no attributed set")
        self.assertEqual({s["tokens"] for s in report["attribution"]}, {128, 256})
        return trace, targets

    def test_llama(self):
        trace, targets = self.run_lm("llama", LLAMA)
        self.assertIn("model/embed_tokens.as_linear", targets)  # the tied head
        self.assertNotIn("lm_head", targets)

    def test_qwen3(self):
        trace, targets = self.run_lm("qwen3", QWEN3)
        self.assertIn("lm_head", targets)
        self.assertIn("self_attn/q_norm", targets)
        # nn.RMSNorm is the rms_norm kernel itself: not a component twice.
        self.assertNotIn("self_attn/q_norm/rms_norm", targets)


class Profile(TempDirCase):
    def test_names_blocks_nesting_costs_and_self_times(self):
        model = llama()
        L = 32
        path = mt.profile(model, ids(L), out=self.path("t.msgpack"), modes=("attributed", "component"), **QUICK)
        trace = mt.read_trace(path)
        comp = [r for r in trace["runs"] if r["sync"] == "component"][0]
        by_name = {c["name"]: c for c in comp["components"]}
        parents = {n: c.get("parent") for n, c in by_name.items()}
        self.assertEqual(parents["model"], None)
        self.assertEqual(parents["model/embed_tokens.as_linear"], None)
        self.assertEqual(parents["model/embed_tokens"], "model")
        self.assertEqual(parents["layers"], "model")
        self.assertEqual(parents["self_attn"], "layers")
        self.assertEqual(parents["self_attn/q_proj"], "self_attn")
        self.assertEqual(parents["self_attn/sdpa"], "self_attn")
        self.assertEqual(parents["mlp/gate_proj"], "mlp")
        self.assertNotIn("input_layernorm/rms_norm", by_name)
        # Every layer's q_proj is one component; its events carry the block index.
        ids_of = {c["name"]: i for i, c in enumerate(comp["components"])}
        blocks = sorted(e[1] for e in comp["events"] if e[0] == ids_of["self_attn/q_proj"])
        self.assertEqual(blocks, [0, 1])
        self.assertEqual([e[1] for e in comp["events"] if e[0] == ids_of["model"]], [-1])
        # Analytic costs: q_proj 2 * L * 64 * 64; causal attention over L(L+1)/2 pairs, 4 heads of 16.
        self.assertEqual(by_name["self_attn/q_proj"]["flops"], 2.0 * L * 64 * 64)
        self.assertEqual(by_name["self_attn/sdpa"]["flops"], 4 * L * (L + 1) / 2 * (2 * 16 + 2 * 16 + 5))
        self.assertEqual(by_name["model/embed_tokens.as_linear"]["flops"], 2.0 * L * 64 * 256)
        # A parent without a formula costs what its children do.
        # self_attn: q and o 64 -> 64, k and v 64 -> 32 (2 kv heads), rope on q and k, attention.
        projections = 2.0 * L * 64 * (64 + 32 + 32 + 64)
        rope = 3.0 * L * (64 + 32)
        self.assertEqual(by_name["self_attn"]["flops"], projections + rope + by_name["self_attn/sdpa"]["flops"])
        # Attributed: the duplicates carry their parent; the tree's self times close every node.
        dup = {r["perturbation"]["target"]: r["perturbation"] for r in trace["runs"]
               if r["sync"] == "attributed" and r["perturbation"]["kind"] == "duplicate"}
        self.assertEqual(dup["self_attn/q_proj"]["target_parent"], "self_attn")
        self.assertNotIn("target_parent", dup["model"])
        t = tree(trace)
        self.assertEqual([r["name"] for r in sorted(t["roots"], key=lambda r: r["name"])], ["model", "model/embed_tokens.as_linear"])

        def check(node):
            self.assertAlmostEqual(node["self_ns"] + sum(c["ns"] for c in node["children"]), node["ns"], delta=1e-6 * max(1.0, abs(node["ns"])))
            for c in node["children"]:
                check(c)
            return 1 + sum(check(c) for c in node["children"])

        self.assertEqual(sum(check(r) for r in t["roots"]), len(dup))
        self.assertAlmostEqual(t["top_sum_ns"], sum(r["ns"] for r in t["roots"]))
        # The fused forward's analytic cost counts the top level only (children are inside).
        fused = [r for r in trace["runs"] if r["sync"] == "attributed"][0]
        self.assertAlmostEqual(fused["components"][0]["flops"], by_name["model"]["flops"] + by_name["model/embed_tokens.as_linear"]["flops"])

    def test_depth_and_filter_pick_levels(self):
        model = llama()
        with mt.instrument(model, depth=2) as ins:
            self.assertEqual(ins.components(), ["layers", "model", "model/embed_tokens", "model/norm"])
        with mt.instrument(model, filter=lambda path, m: isinstance(m, nn.Linear)) as ins:
            self.assertEqual(ins.components(), ["mlp/down_proj", "mlp/gate_proj", "mlp/up_proj", "self_attn/k_proj",
                                                "self_attn/o_proj", "self_attn/q_proj", "self_attn/v_proj"])
        path = mt.profile(model, ids(16), out=self.path("d.msgpack"), depth=2, modes=("component",), **QUICK)
        names = {c["name"] for r in mt.read_trace(path)["runs"] for c in r["components"]}
        self.assertEqual(names, {"model", "model/embed_tokens", "layers", "model/norm", "model/embed_tokens.as_linear"})

    def test_mx_fast_imported_by_name_is_captured(self):
        model = ByNameNorm()
        x = mx.random.normal((4, 32))
        path = mt.profile(model, x, out=self.path("n.msgpack"), tokens=4, modes=("component",), **QUICK)
        comps = {c["name"]: c for r in mt.read_trace(path)["runs"] for c in r["components"]}
        self.assertEqual(set(comps), {"proj", "rms_norm"})
        self.assertEqual(comps["rms_norm"]["flops"], 4.0 * 4 * 32)
        self.assertIs(globals()["rms_norm"], mx.fast.rms_norm)  # put back

    def test_instrumentation_is_undone(self):
        model = llama()
        before, fast = classes(model), fast_functions()
        import mlx_lm.models.base as base
        base_globals = dict(vars(base))
        mt.profile(model, ids(16), out=self.path("u.msgpack"), modes=("none", "attributed", "component"), **QUICK)
        self.assertEqual(classes(model), before)
        self.assertEqual(fast_functions(), fast)
        self.assertEqual({k: id(v) for k, v in vars(base).items()}, {k: id(v) for k, v in base_globals.items()})
        self.assertFalse(is_instrumented(model))
        # Also after a forward that fails mid-recording (a shape error while the graph is built).
        small = Takes()
        small_before = classes(small)
        with self.assertRaises(ValueError):
            mt.profile(small, mx.zeros((2, 5)), out=self.path("bad.msgpack"), tokens=2, **QUICK)
        self.assertEqual(classes(small), small_before)
        self.assertEqual(fast_functions(), fast)
        self.assertFalse(is_instrumented(small))
        # Instrumented but not recording: the classes are swapped, isinstance still holds, and the
        # model computes exactly what it did.
        x = ids(8)
        ref = model(x)
        attn_class = type(model.model.layers[0].self_attn)
        with mt.instrument(model):
            self.assertTrue(is_instrumented(model))
            self.assertIsNot(type(model.model.layers[0].self_attn), attn_class)
            self.assertIsInstance(model.model.layers[0].self_attn, attn_class)
            self.assertEqual(type(model.model.layers[0].self_attn).__name__, attn_class.__name__)
            got = model(x)
        self.assertTrue(mx.array_equal(ref, got).item())
        self.assertFalse(is_instrumented(model))
        self.assertEqual(classes(model), before)

    def test_kv_cache_state_is_identical_after_a_recording(self):
        model = llama()
        cache = model.make_cache()
        mx.eval(model(ids(20, seed=5), cache=cache))
        snap = [(c.offset, mx.array(c.keys), mx.array(c.values)) for c in cache]
        mx.eval([s[1:] for s in snap])
        x = ids(12, seed=6)
        path = mt.profile(model, x, kwargs={"cache": cache}, out=self.path("kv.msgpack"),
                          modes=("none", "attributed", "component"), **QUICK)
        for c, (offset, k, v) in zip(cache, snap):
            self.assertEqual(c.offset, offset)
            self.assertEqual(c.keys.shape, k.shape)
            self.assertTrue(mx.array_equal(c.keys, k).item())
            self.assertTrue(mx.array_equal(c.values, v).item())
        trace = mt.read_trace(path)
        self.assertEqual({r["tokens"] for r in trace["runs"]}, {12})
        # Each copy of a duplicated attention starts from the state its real call started from:
        # the recorded forward computes what a plain forward from this cache computes.
        from mlx_trace.probe import Probe, recording
        from mlx_trace import state

        snap_all = state.snapshot(state.find([cache]))
        plain = model(x, cache=cache)
        mx.eval(plain)
        state.restore(snap_all)
        with mt.instrument(model):
            probe = Probe("attributed", perturb=("duplicate", "self_attn", 3))
            with recording(probe):
                dup = model(x, cache=cache)
            mx.eval(dup)
        self.assertEqual(cache[0].offset, 20 + 12)  # one real call advanced it, not four
        self.assertTrue(mx.allclose(plain, dup, atol=1e-5).item())
        state.restore(snap_all)

    def test_state_that_cannot_be_restored_is_refused(self):
        with self.assertRaises(mt.StateError) as e:
            mt.profile(Takes(), mx.zeros((2, 16)), kwargs={"cache": Slotted()}, out=self.path("s.msgpack"), tokens=2, **QUICK)
        self.assertIn("cannot snapshot", str(e.exception))
        self.assertEqual(os.listdir(self.dir), [])  # refused before a file was opened

    def test_compiled_forwards_get_a_clear_message(self):
        model = llama()
        x = ids(8)
        with self.assertRaises(mt.CompiledError) as e:
            mt.profile(mx.compile(model), x, out=self.path("c1.msgpack"), **QUICK)
        self.assertIn("mx.compile", str(e.exception))
        self.assertFalse(os.path.exists(self.path("c1.msgpack.partial")))
        compiled = mx.compile(lambda t: model(t))

        class Wrapper(nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def __call__(self, t):
                return compiled(t)

        with self.assertRaises(mt.CompiledError) as e:
            mt.profile(Wrapper(model), x, out=self.path("c2.msgpack"), **QUICK)
        self.assertIn("mx.compile", str(e.exception))
        self.assertFalse(is_instrumented(model))
        self.assertEqual(os.listdir(self.dir), [])  # no empty trace left behind
        with mt.Recorder(self.path("c3.msgpack")) as rec:
            with self.assertRaises(mt.CompiledError):
                rec.record(mx.compile(lambda: model(x)), tokens=8, modes=("attributed",), **QUICK)
            rec.record(mx.compile(lambda: model(x)), tokens=8, modes=("none",), **QUICK)  # a plain timing is fine

    def test_random_draws_in_the_forward_are_refused(self):
        class Noisy(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(8, 8)

            def __call__(self, x):
                return self.proj(x + mx.random.normal(x.shape))

        with self.assertRaises(ValueError) as e:
            mt.profile(Noisy(), mx.zeros((2, 8)), out=self.path("r.msgpack"), tokens=2, **QUICK)
        self.assertIn("random", str(e.exception))


class AnalyzerFromPython(TempDirCase):
    """mlx_trace.analyze / tables / compare run the mlx-analyze binary, found without setup."""

    def setUp(self):
        super().setUp()
        self.env = {k: os.environ.get(k) for k in ("MLX_ANALYZE", "PATH")}

    def tearDown(self):
        for k, v in self.env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        super().tearDown()

    def test_find_analyzer_order(self):
        from helpers import analyzer
        from mlx_trace.analyze import find_analyzer

        real = analyzer()
        fake_dir = self.path("bin")
        os.makedirs(fake_dir)
        fake = os.path.join(fake_dir, "mlx-analyze")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(fake, 0o755)
        os.environ["MLX_ANALYZE"] = real
        self.assertEqual(find_analyzer(), real)
        del os.environ["MLX_ANALYZE"]
        os.environ["PATH"] = fake_dir
        self.assertEqual(find_analyzer(), fake)
        os.environ["PATH"] = self.path("nowhere")
        found = find_analyzer()  # the checkout's own build
        self.assertIn(os.path.join("target", ""), found)
        self.assertTrue(found.endswith(os.path.join("target", "release", "mlx-analyze"))
                        or found.endswith(os.path.join("target", "debug", "mlx-analyze")))

    def test_analyze_tables_and_compare_labels(self):
        import contextlib
        import io

        from helpers import analyzer
        from mlx_trace import compare

        os.environ["MLX_ANALYZE"] = analyzer()
        a = mt.profile(llama(), ids(32), out=self.path("llama.msgpack"), name="llama", modes=("none", "attributed"),
                       runs=2, warmup=0, copies=2)
        x = mx.ones((32, 32))
        with mt.Recorder(self.path("flat.msgpack"), model="flat") as rec:
            rec.record(lambda: mt.mark("other/matmul", lambda t: t @ t, x), tokens=32, modes=("none", "attributed"),
                       runs=2, warmup=0, copies=2)
        b = self.path("flat.msgpack")
        report = mt.analyze(a)
        self.assertTrue(report["attribution"])
        t = mt.tables(a, names=("runs",))
        n_runs = len(mt.read_trace(a)["runs"])
        self.assertEqual(len(t["runs"]), n_runs)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            compare.main([a, b])
        text = out.getvalue()
        self.assertIn("| Python llama | Python flat |", text)
        self.assertIn("share no component", text)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            compare.main([a, a])
        self.assertIn("Python llama (llama.msgpack)", out.getvalue())
        self.assertIn("self_attn/q_proj", out.getvalue())


class MarkKeywords(TempDirCase):
    def test_mark_passes_block_flops_and_bytes_to_the_function_that_takes_them(self):
        seen = {}

        def fn(x, block=None, flops=None, bytes=None):
            seen.update(block=block, flops=flops, bytes=bytes)
            return x * 2

        x = mx.ones((4,))
        mt.mark("f", fn, x, block=7, flops=1, bytes=2)  # outside a recording
        self.assertEqual(seen, {"block": 7, "flops": 1, "bytes": 2})
        with mt.Recorder(self.path("m.msgpack")) as rec:
            rec.record(lambda: mt.mark(mt.site("f", flops=10.0, block=3), fn, x, block=7, flops=1, bytes=2),
                       tokens=4, modes=("component",), **QUICK)
            self.assertEqual(seen, {"block": 7, "flops": 1, "bytes": 2})
            # A function without those parameters: they are mark's options, as before.
            rec.record(lambda: mt.mark("g", lambda x: x + 1, x, block=5, flops=3.0), tokens=4, modes=("component",), **QUICK)
        runs = mt.read_trace(self.path("m.msgpack"))["runs"]
        self.assertEqual(runs[0]["components"][0], {"name": "f", "flops": 10.0, "bytes": 0.0})
        self.assertEqual(runs[0]["events"][0][1], 3)
        self.assertEqual(runs[1]["components"][0]["flops"], 3.0)
        self.assertEqual(runs[1]["events"][0][1], 5)


if __name__ == "__main__":
    unittest.main()
