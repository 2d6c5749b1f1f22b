"""The LingBot-World block (Wan2.2 A14B + camera control) in MLX's Python API, recorded with the
Python recorder under the Rust model's component names, so its ranking can be put beside the
Rust recorder's (``mlx-record``) on the same machine.

    python -m mlx_trace.examples.lingbot_block --blocks 40 --frames 21 --dtype bf16 \\
        --sync none,attributed --out py-lingbot.msgpack

It is the block stack of ``recorder/src/model/mod.rs`` operation for operation (same MLX
operations, same layouts, same RoPE formulation, same random-weight scales), run on inputs as
the blocks receive them: the patch-embedded video tokens ``x [L, dim]``, the time projection
``e0 [L, 6 dim]``, the embedded text ``[512, dim]`` and the camera features ``[L, dim]``.
The embeddings and the head are not part of it; in a Rust trace they are the ``embed/*`` and
``head`` components, which the comparison leaves out (docs/instrumenting.md).

Components per block (docs/taxonomy.md): ``block/modulation``, ``block/norm1``,
``block/self_attn/{qkv,qk_norm,rope,sdpa,out}``, ``block/camera/{injector,scale_shift}``,
``block/cross_attn/{norm3,q,kv,sdpa,out}``, ``block/norm2``, ``block/ffn/{up,down}``, with the
analytic costs of ``recorder/src/cost.rs``.

One difference from the Rust model: its tanh-GELU is a compiled MLX function (``mx.compile``
here too, so both run one kernel).
"""

from __future__ import annotations

import argparse
import math
import sys

import mlx_trace as mt
import mlx.core as mx

from ..calibrate import DTYPES

PRESETS = {
    # dim, heads, ffn, text tokens, camera
    "lingbot-14b": (5120, 40, 13824, 512, True),
    "wan-1.3b": (1536, 12, 8960, 512, False),
    "tiny": (256, 4, 512, 16, True),
}
PRESET_BLOCKS = {"lingbot-14b": 40, "wan-1.3b": 30, "tiny": 2}
EPS = 1e-6
THETA = 10000.0


def tokens_of(frames: int, height: int, width: int) -> tuple:
    """Token grid and sequence length: ((F - 1) / 4 + 1) x (H / 16) x (W / 16)."""
    grid = ((frames - 1) // 4 + 1, height // 16, width // 16)
    return grid, grid[0] * grid[1] * grid[2]


def rope_tables(head_dim: int, grid, dtype):
    """Rotation tables (a, b), each [L, 1, 2, head_dim / 2], as recorder/src/model/rope.rs makes
    them: per pair, its axis (frame, height, width: head_dim split 44/42/42 of 128) and frequency."""
    spatial = 2 * (head_dim // 6)
    dims = [head_dim - 2 * spatial, spatial, spatial]
    axis, freq = [], []
    for a, d in enumerate(dims):
        for i in range(d // 2):
            axis.append(a)
            freq.append(1.0 / THETA ** (2.0 * i / d))
    f, h, w = grid
    pos = mx.stack(mx.meshgrid(mx.arange(f), mx.arange(h), mx.arange(w), indexing="ij"), axis=-1).reshape(-1, 3).astype(mx.float32)
    angles = pos[:, mx.array(axis)] * mx.array(freq, dtype=mx.float32)  # [L, half]
    cos, sin = mx.cos(angles), mx.sin(angles)
    a = mx.stack([cos, sin], axis=1)[:, None]  # [L, 1, 2, half]
    b = mx.stack([-sin, cos], axis=1)[:, None]
    return a.astype(dtype), b.astype(dtype)


@mx.compile
def gelu(x):
    """tanh-approximated GELU in x's dtype (as the Rust model's compiled kernel)."""
    c = math.sqrt(2.0 / math.pi)
    return x * 0.5 * (mx.tanh((x + x * x * x * 0.044715) * c) + 1.0)


def modulate(y, scale, shift):
    return y * (scale + 1.0) + shift


def linear(p, x):
    w, b = p
    return mx.addmm(b, x, w.T)


def to_heads(x, heads):
    L, d = x.shape
    return x.reshape(1, L, heads, d // heads).transpose(0, 2, 1, 3)


def from_heads(x):
    _, h, L, hd = x.shape
    return x.transpose(0, 2, 1, 3).reshape(L, h * hd)


def rotate(x, heads, tables):
    """3-D RoPE of [L, dim] queries or keys -> [1, heads, L, head_dim] (rope.rs `apply`)."""
    a, b = tables
    L, d = x.shape
    hd = d // heads
    pairs = x.reshape(L, heads, hd // 2, 2)
    x0 = pairs[..., 0:1].transpose(0, 1, 3, 2)
    x1 = pairs[..., 1:2].transpose(0, 1, 3, 2)
    return (x0 * a + x1 * b).reshape(1, L, heads, hd).transpose(0, 2, 1, 3)


class Costs:
    """Analytic FLOPs and minimum bytes of one invocation (recorder/src/cost.rs's formulas)."""

    def __init__(self, d, f, L, T, h, s):
        self.d, self.f, self.L, self.T, self.h, self.s = d, f, L, T, h, s

    def lin(self, rows, i, o):
        return (2.0 * rows * i * o + rows * o, self.s * (i * o + o + rows * i + rows * o))

    def elem(self, n, per, reads, writes):
        return (n * per, self.s * n * (reads + writes))

    @staticmethod
    def add(*cs):
        return (sum(c[0] for c in cs), sum(c[1] for c in cs))

    def attention(self, lq, lk):
        return (4.0 * lq * lk * self.d + 5.0 * self.h * lq * lk, self.s * (2.0 * lq * self.d + 2.0 * lk * self.d))

    def table(self):
        d, f, L, T, h, s = self.d, self.f, self.L, self.T, self.h, self.s
        ld = L * d
        qkv1 = self.lin(L, d, d)
        rope = self.elem(2 * ld, 3.0, 1, 1)
        norm3 = self.elem(ld, 8.0, 1, 1)
        return {
            "block/modulation": self.elem(6 * L * d, 1.0, 1, 1),
            "block/norm1": (ld * 9.0, s * (2 * ld + 2 * L * d)),
            "block/self_attn/qkv": (3 * qkv1[0], s * (3 * (d * d + d) + ld + 3 * ld)),
            "block/self_attn/qk_norm": self.elem(2 * ld, 4.0, 1, 1),
            "block/self_attn/rope": (rope[0], rope[1] + s * L * (d / h)),
            "block/self_attn/sdpa": self.attention(L, L),
            "block/self_attn/out": self.add(self.lin(L, d, d), self.elem(ld, 2.0, 2, 0)),
            "block/camera/injector": self.add(self.lin(L, d, d), self.elem(ld, 4.0, 1, 1), self.lin(L, d, d), self.elem(ld, 1.0, 1, 0)),
            "block/camera/scale_shift": self.add(self.lin(L, d, d), self.lin(L, d, d), self.elem(ld, 3.0, 1, 1)),
            "block/cross_attn/norm3": (norm3[0], norm3[1] + s * 2 * d),
            "block/cross_attn/q": self.add(self.lin(L, d, d), self.elem(ld, 4.0, 1, 1)),
            "block/cross_attn/kv": self.add(self.lin(T, d, d), self.lin(T, d, d), self.elem(T * d, 4.0, 1, 1)),
            "block/cross_attn/sdpa": self.attention(L, T),
            "block/cross_attn/out": self.add(self.lin(L, d, d), self.elem(ld, 1.0, 1, 0)),
            "block/norm2": (ld * 9.0, s * (2 * ld + 2 * L * d)),
            "block/ffn/up": self.add(self.lin(L, d, f), self.elem(L * f, 8.0, 1, 1)),
            "block/ffn/down": self.add(self.lin(L, f, d), self.elem(ld, 2.0, 2, 0)),
        }


class Blocks:
    """``blocks`` LingBot blocks with random weights (the Rust model's scales and seeds' role)."""

    def __init__(self, blocks, dim, heads, ffn, camera, dtype, seed=0):
        self.dim, self.heads, self.ffn, self.camera, self.dtype = dim, heads, ffn, camera, dtype
        self.params = []
        n = [0]

        def normal(shape, std):
            n[0] += 1
            return mx.random.normal(shape, dtype=dtype, scale=std, key=mx.random.key(seed * 1_000_003 + n[0]))

        def lin(i, o):
            return (normal((o, i), 1.0 / math.sqrt(i)), normal((o,), 0.02))

        d, f = dim, ffn
        for _ in range(blocks):
            p = {
                "modulation": normal((1, 6 * d), 1.0 / math.sqrt(6 * d)),
                "self_attn": {k: lin(d, d) for k in "qkvo"}, "cross_attn": {k: lin(d, d) for k in "qkvo"},
                "sa_norm_q": mx.ones((d,), dtype=dtype), "sa_norm_k": mx.ones((d,), dtype=dtype),
                "ca_norm_q": mx.ones((d,), dtype=dtype), "ca_norm_k": mx.ones((d,), dtype=dtype),
                "norm3": (mx.ones((d,), dtype=dtype), normal((d,), 0.02)),
                "ffn0": lin(d, f), "ffn2": lin(f, d),
            }
            if camera:
                p.update({k: lin(d, d) for k in ("cam1", "cam2", "cam_scale", "cam_shift")})
            mx.eval(p)  # block by block: a lazy graph over all weights would peak higher
            self.params.append(p)

    @classmethod
    def from_weights(cls, weights: dict, blocks: int, dim: int, heads: int, ffn: int, camera: bool):
        """Blocks with the parameters of a checkpoint or of the Rust model, by their official names
        (``blocks.{b}.self_attn.q.weight``, ...; recorder/src/model/weights.rs)."""
        self = cls.__new__(cls)
        self.dim, self.heads, self.ffn, self.camera = dim, heads, ffn, camera
        self.dtype = weights["blocks.0.modulation"].dtype
        w = lambda name: weights[name]
        lin = lambda name: (w(f"{name}.weight"), w(f"{name}.bias"))
        self.params = []
        for b in range(blocks):
            q = f"blocks.{b}"
            p = {
                "modulation": w(f"{q}.modulation").reshape(1, 6 * dim),
                "self_attn": {k: lin(f"{q}.self_attn.{k}") for k in "qkvo"}, "cross_attn": {k: lin(f"{q}.cross_attn.{k}") for k in "qkvo"},
                "sa_norm_q": w(f"{q}.self_attn.norm_q.weight"), "sa_norm_k": w(f"{q}.self_attn.norm_k.weight"),
                "ca_norm_q": w(f"{q}.cross_attn.norm_q.weight"), "ca_norm_k": w(f"{q}.cross_attn.norm_k.weight"),
                "norm3": (w(f"{q}.norm3.weight"), w(f"{q}.norm3.bias")),
                "ffn0": lin(f"{q}.ffn.0"), "ffn2": lin(f"{q}.ffn.2"),
            }
            if camera:
                p.update({"cam1": lin(f"{q}.cam_injector_layer1"), "cam2": lin(f"{q}.cam_injector_layer2"),
                          "cam_scale": lin(f"{q}.cam_scale_layer"), "cam_shift": lin(f"{q}.cam_shift_layer")})
            self.params.append(p)
        return self

    def block(self, b, x, e0, context, camera, tables, cost):
        p, heads, d, eps = self.params[b], self.heads, self.dim, EPS

        def at(name, fn, *args):
            return mt.mark(name, fn, *args, flops=cost[name][0], bytes=cost[name][1])

        e = at("block/modulation", lambda: mx.split(e0 + p["modulation"], 6, axis=1))
        y = at("block/norm1", lambda x: modulate(mx.fast.layer_norm(x, None, None, eps), e[1], e[0]), x)
        sa = p["self_attn"]
        q, k, v = at("block/self_attn/qkv", lambda y: (linear(sa["q"], y), linear(sa["k"], y), linear(sa["v"], y)), y)
        q, k = at("block/self_attn/qk_norm", lambda q, k: (mx.fast.rms_norm(q, p["sa_norm_q"], eps), mx.fast.rms_norm(k, p["sa_norm_k"], eps)), q, k)
        q, k = at("block/self_attn/rope", lambda q, k: (rotate(q, heads, tables), rotate(k, heads, tables)), q, k)
        scale = 1.0 / math.sqrt(d // heads)
        attn = at("block/self_attn/sdpa", lambda q, k, v: from_heads(mx.fast.scaled_dot_product_attention(q, k, to_heads(v, heads), scale=scale)), q, k, v)
        x = at("block/self_attn/out", lambda x, attn: x + linear(sa["o"], attn) * e[2], x, attn)
        if camera is not None:
            def injector(c):
                h1 = linear(p["cam1"], c)
                return linear(p["cam2"], h1 * mx.sigmoid(h1)) + c  # layer2(SiLU(layer1(c))) + c

            h = at("block/camera/injector", injector, camera)
            x = at("block/camera/scale_shift", lambda x, h: modulate(x, linear(p["cam_scale"], h), linear(p["cam_shift"], h)), x, h)
        y = at("block/cross_attn/norm3", lambda x: mx.fast.layer_norm(x, p["norm3"][0], p["norm3"][1], eps), x)
        ca = p["cross_attn"]
        q = at("block/cross_attn/q", lambda y: to_heads(mx.fast.rms_norm(linear(ca["q"], y), p["ca_norm_q"], eps), heads), y)
        k, v = at("block/cross_attn/kv", lambda c: (to_heads(mx.fast.rms_norm(linear(ca["k"], c), p["ca_norm_k"], eps), heads), to_heads(linear(ca["v"], c), heads)), context)
        attn = at("block/cross_attn/sdpa", lambda q, k, v: from_heads(mx.fast.scaled_dot_product_attention(q, k, v, scale=scale)), q, k, v)
        x = at("block/cross_attn/out", lambda x, attn: x + linear(ca["o"], attn), x, attn)
        y = at("block/norm2", lambda x: modulate(mx.fast.layer_norm(x, None, None, eps), e[4], e[3]), x)
        h = at("block/ffn/up", lambda y: gelu(linear(p["ffn0"], y)), y)
        return at("block/ffn/down", lambda x, h: x + linear(p["ffn2"], h) * e[5], x, h)

    def __call__(self, inputs, cost):
        x, e0, context, camera, tables = inputs
        for b in range(len(self.params)):
            with mt.block(b):
                x = self.block(b, x, e0, context, camera, tables, cost)
        return x


def compare_with_rust(path: str, heads: int, ffn: int) -> float:
    """The largest difference, relative to the output's largest value, between this module's
    block 0 and the Rust model's, on the weights, inputs and output the Rust test saved to
    ``path`` (safetensors: ``blocks.0.*``, ``x``, ``e0``, ``context``, ``camera``, ``rope_a``,
    ``rope_b``, ``out``). The component names and costs do not enter the computation."""
    t = mx.load(path)
    dim = t["x"].shape[1]
    camera = "camera" in t
    blocks = Blocks.from_weights(t, 1, dim, heads, ffn, camera)
    cost = Costs(dim, ffn, t["x"].shape[0], t["context"].shape[0], heads, 4).table()
    out = blocks.block(0, t["x"], t["e0"], t["context"], t.get("camera"), (t["rope_a"], t["rope_b"]), cost)
    ref = t["out"]
    return (mx.abs(out - ref).max() / mx.abs(ref).max()).item()


def inputs(dim, text_len, camera, grid, L, dtype, seed=0):
    """The blocks' inputs: x [L, dim], e0 [L, 6 dim], text [T, dim], camera [L, dim] (or None)."""
    k = lambda i: mx.random.key(seed * 7919 + i)
    x = mx.random.normal((L, dim), dtype=dtype, key=k(1))
    e0 = mx.random.normal((L, 6 * dim), dtype=dtype, key=k(2))
    context = mx.random.normal((text_len, dim), dtype=dtype, key=k(3))
    cam = mx.random.normal((L, dim), dtype=dtype, key=k(4)) if camera else None
    return x, e0, context, cam


def _list(s, what, cast):
    try:
        v = [cast(x.strip()) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}: a comma-separated list, got {s!r}") from None
    if not v:
        raise argparse.ArgumentTypeError(f"{what}: empty")
    return v


def _modes(s):
    v = _list(s, "--sync", str)
    bad = [m for m in v if m not in mt.MODES]
    if bad:
        raise argparse.ArgumentTypeError(f"--sync: unknown mode(s) {', '.join(bad)}; choose from {', '.join(mt.MODES)}")
    return v


def parser():
    p = argparse.ArgumentParser(
        prog="python -m mlx_trace.examples.lingbot_block",
        description="Record the LingBot-World (Wan2.2 A14B + camera) block stack written with MLX's Python API, "
        "under the Rust model's component names, for comparison with an mlx-record trace of the same machine. "
        "Random weights; the inputs are what the blocks receive (embeddings and head are not included). "
        "Each frame count is run --warmup + --runs times in every --sync mode; an attributed repetition is a whole "
        "attribution round (about 24 fused forwards).",
    )
    p.add_argument("--out", required=True, help="trace file to write (FILE.partial while recording)")
    p.add_argument("--preset", choices=list(PRESETS), default="lingbot-14b", help="model shape (default lingbot-14b: dim 5120, 40 heads, ffn 13824, 512 text tokens, camera)")
    p.add_argument("--blocks", type=int, default=None, help="blocks to run (default: the preset's, 40 for lingbot-14b)")
    p.add_argument("--frames", type=lambda s: _list(s, "--frames", int), default=[21], help="video frame counts, comma-separated (default 21: 9,360 tokens at 480x832)")
    p.add_argument("--height", type=int, default=480, help="video height in pixels, a multiple of 16 (default 480)")
    p.add_argument("--width", type=int, default=832, help="video width in pixels, a multiple of 16 (default 832)")
    p.add_argument("--dtype", choices=list(DTYPES), default="bf16", help="compute dtype (default bf16)")
    p.add_argument("--sync", type=_modes, default=["none", "attributed"], help="modes, comma-separated: none, component, attributed (default none,attributed)")
    p.add_argument("--runs", type=int, default=3, help="timed repetitions (attributed: rounds) per frame count and mode (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up repetitions (default 1)")
    p.add_argument("--copies", type=int, default=4, help="attributed: extra copies of the perturbed component (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and inputs (default 0)")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="label stored in the trace (repeatable)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is available")
    p.add_argument("--no-calibrate", action="store_true", help="skip measuring the machine's matmul rate and bandwidth")
    p.add_argument("--force", action="store_true", help="replace an existing trace")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def main(argv=None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    dim, heads, ffn, text_len, camera = PRESETS[a.preset]
    blocks = PRESET_BLOCKS[a.preset] if a.blocks is None else a.blocks
    if blocks < 1:
        ap.error("--blocks must be at least 1")
    if a.height % 16 or a.width % 16 or a.height < 16 or a.width < 16:
        ap.error(f"--height and --width must be positive multiples of 16 (got {a.height}x{a.width})")
    if any(f < 1 or f > 4001 for f in a.frames):
        ap.error("--frames must be between 1 and 4001")
    if a.runs < 1 or a.warmup < 0 or a.copies < 1:
        ap.error("need --runs >= 1, --warmup >= 0, --copies >= 1")
    labels = {}
    for kv in a.label:
        if "=" not in kv:
            ap.error(f"--label wants KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        labels[k] = v
    labels.setdefault("recorder", "python")
    if a.cpu:
        mx.set_default_device(mx.cpu)
    dtype = DTYPES[a.dtype]
    head_dim = dim // heads
    config = dict(dim=dim, heads=heads, head_dim=head_dim, blocks=blocks, preset_blocks=PRESET_BLOCKS[a.preset], ffn_dim=ffn,
                  text_dim=4096 if a.preset != "tiny" else 64, text_len=text_len, freq_dim=256 if a.preset != "tiny" else 32,
                  in_dim=36 if a.preset != "wan-1.3b" else 16, out_dim=16, camera=camera, patch=[1, 2, 2], eps=EPS)
    try:
        rec = mt.Recorder(a.out, model=a.preset, dtype=a.dtype, config=config, height=a.height, width=a.width, seed=a.seed,
                          labels=labels, force=a.force, quiet=a.quiet)
    except (mt.TraceError, OSError) as e:
        print(f"lingbot_block: error: {e}", file=sys.stderr)
        return 2
    with rec:
        if not a.no_calibrate:
            # The block's own GEMMs at every length beside the square, as mlx-record does.
            gemms = []
            for frames in a.frames:
                L = tokens_of(frames, a.height, a.width)[1]
                gemms += [("block/self_attn/qkv", (L, dim, dim)), ("block/ffn/up", (L, dim, ffn)), ("block/ffn/down", (L, ffn, dim))]
            rec.calibrate(gemm_shapes=gemms)
        if not a.quiet:
            print(f"lingbot_block: building {blocks} block(s) of dim {dim}", file=sys.stderr)
        model = Blocks(blocks, dim, heads, ffn, camera, dtype, a.seed)
        for frames in a.frames:
            grid, L = tokens_of(frames, a.height, a.width)
            x, e0, context, cam = inputs(dim, text_len, camera, grid, L, dtype, a.seed)
            tables = rope_tables(head_dim, grid, dtype)
            mx.eval(x, e0, context, tables, *([cam] if cam is not None else []))
            cost = Costs(dim, ffn, L, text_len, heads, dtype.size).table()
            rec.record(lambda: model((x, e0, context, cam, tables), cost), tokens=L, frames=frames, modes=a.sync,
                       runs=a.runs, warmup=a.warmup, copies=a.copies)
            if rec.interrupted:
                break
    print(rec.file.partial if rec.interrupted else rec.file.path)
    return 130 if rec.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
