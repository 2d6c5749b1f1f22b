"""Records a small decoder-only transformer (Llama-shaped) with the Python recorder.

    python -m mlx_trace.demo --out demo.msgpack          # about half a minute on a 2-core CPU
    mlx-analyze demo.msgpack

Each layer: RMSNorm, q/k/v projections, rotary embedding, causal attention, output projection
with residual; RMSNorm, SwiGLU MLP (gate and up, SiLU, down) with residual. Component names:
``embed/tokens``, ``layer/attn/norm``, ``layer/attn/qkv``, ``layer/attn/rope``,
``layer/attn/sdpa``, ``layer/attn/out``, ``layer/mlp/norm``, ``layer/mlp/up``,
``layer/mlp/down``, ``head/norm``, ``head/logits``; each with its analytic FLOPs and minimum
bytes (a multiply-add counts 2; weights, inputs and outputs moved once).
"""

from __future__ import annotations

import argparse
import sys
import time

import mlx_trace as mt
import mlx.core as mx

from .args import add_copies_arguments, add_stopping_arguments, check_copy_options, check_stopping, int_list, stop_options, sync_modes
from .calibrate import DTYPES


class Config:
    def __init__(self, layers=2, dim=256, heads=4, ffn=688, vocab=1024, eps=1e-5):
        if dim % heads or (dim // heads) % 2:
            raise ValueError(f"dim {dim} must be a multiple of heads {heads} with an even head size")
        self.layers, self.dim, self.heads, self.ffn, self.vocab, self.eps = layers, dim, heads, ffn, vocab, eps
        self.head_dim = dim // heads


class Llama:
    """Random weights with a fixed seed; ``__call__(tokens [L]) -> logits [L, vocab]``."""

    def __init__(self, cfg: Config, dtype=mx.float32, seed=0):
        self.cfg, self.dtype = cfg, dtype

        d, f = cfg.dim, cfg.ffn

        def w(shape, i):
            return (mx.random.normal(shape, key=mx.random.key(seed * 1000003 + i)) * shape[-1] ** -0.5).astype(dtype)

        self.embed = w((cfg.vocab, d), 0)
        self.layers = []
        for i in range(cfg.layers):
            b = 10 * (i + 1)
            self.layers.append({
                "attn_norm": mx.ones((d,), dtype=dtype), "wqkv": w((3 * d, d), b), "wo": w((d, d), b + 1),
                "mlp_norm": mx.ones((d,), dtype=dtype), "wgate": w((f, d), b + 2), "wup": w((f, d), b + 3),
                "wdown": w((d, f), b + 4),
            })
        self.norm = mx.ones((d,), dtype=dtype)
        self.out = w((cfg.vocab, d), 1)
        mx.eval(self.embed, self.out, self.layers)

    def costs(self, L: int) -> dict:
        """Per-invocation (FLOPs, bytes) of each component at ``L`` tokens."""
        c, s = self.cfg, self.dtype.size
        d, f, h, v = c.dim, c.ffn, c.heads, c.vocab
        lin = lambda i, o: (2.0 * L * i * o, s * (i * o + L * i + L * o))
        return {
            "embed/tokens": (0.0, s * 2.0 * L * d),
            "layer/attn/norm": (4.0 * L * d, s * (2.0 * L * d + d)),
            "layer/attn/qkv": lin(d, 3 * d),
            "layer/attn/rope": (3.0 * 2 * L * d, s * 4.0 * L * d),
            # causal: half the scores; QK^T and PV, softmax
            "layer/attn/sdpa": (2.0 * L * L * d + 2.5 * h * L * L, s * 4.0 * L * d),
            "layer/attn/out": (lin(d, d)[0] + L * d, lin(d, d)[1] + s * L * d),
            "layer/mlp/norm": (4.0 * L * d, s * (2.0 * L * d + d)),
            "layer/mlp/up": (2 * lin(d, f)[0] + 5.0 * L * f, s * (2.0 * d * f + L * d + L * f)),
            "layer/mlp/down": (lin(f, d)[0] + L * d, lin(f, d)[1] + s * L * d),
            "head/norm": (4.0 * L * d, s * (2.0 * L * d + d)),
            "head/logits": lin(d, v),
        }

    def __call__(self, tokens):
        c = self.cfg
        L = tokens.shape[0]
        cost = self.costs(L)

        def at(name, fn, *args):
            return mt.mark(name, fn, *args, flops=cost[name][0], bytes=cost[name][1])

        x = at("embed/tokens", lambda t: self.embed[t], tokens)
        mask = "causal"
        for i, p in enumerate(self.layers):
            with mt.block(i):
                y = at("layer/attn/norm", lambda x: mx.fast.rms_norm(x, p["attn_norm"], c.eps), x)
                q, k, v = at("layer/attn/qkv", lambda y: tuple(mx.split(y @ p["wqkv"].T, 3, axis=-1)), y)

                def heads(t):
                    return t.reshape(1, L, c.heads, c.head_dim).transpose(0, 2, 1, 3)

                q, k = at("layer/attn/rope", lambda q, k: (mx.fast.rope(heads(q), c.head_dim, traditional=False, base=10000.0, scale=1.0, offset=0),
                                                             mx.fast.rope(heads(k), c.head_dim, traditional=False, base=10000.0, scale=1.0, offset=0)), q, k)
                o = at("layer/attn/sdpa", lambda q, k, v: mx.fast.scaled_dot_product_attention(q, k, heads(v), scale=c.head_dim ** -0.5, mask=mask)
                       .transpose(0, 2, 1, 3).reshape(L, c.dim), q, k, v)
                x = at("layer/attn/out", lambda x, o: x + o @ p["wo"].T, x, o)
                y = at("layer/mlp/norm", lambda x: mx.fast.rms_norm(x, p["mlp_norm"], c.eps), x)
                hdn = at("layer/mlp/up", lambda y: (lambda g, u: g * mx.sigmoid(g) * u)(y @ p["wgate"].T, y @ p["wup"].T), y)
                x = at("layer/mlp/down", lambda x, hdn: x + hdn @ p["wdown"].T, x, hdn)
        y = at("head/norm", lambda x: mx.fast.rms_norm(x, self.norm, c.eps), x)
        return at("head/logits", lambda y: y @ self.out.T, y)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mlx_trace.demo",
        description="Record a small Llama-shaped decoder (random weights) with the mlx-trace Python recorder. "
        "Every sequence length is run --warmup times, then until its estimates reach --precision (or exactly --runs "
        "times) in each --sync mode; an attributed repetition is a whole attribution round (about 14 fused forwards "
        "for this model). Analyse the trace with mlx-analyze.",
    )
    p.add_argument("--out", required=True, help="trace file to write (FILE.partial while recording)")
    p.add_argument("--seq", type=int_list, default=[128], help="sequence lengths, comma-separated (default 128)")
    p.add_argument("--layers", type=int, default=2, help="decoder layers (default 2)")
    p.add_argument("--dim", type=int, default=256, help="model width (default 256)")
    p.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    p.add_argument("--ffn", type=int, default=688, help="MLP hidden width (default 688)")
    p.add_argument("--vocab", type=int, default=1024, help="vocabulary (default 1024)")
    p.add_argument("--dtype", choices=list(DTYPES), default="f32", help="compute dtype (default f32)")
    p.add_argument("--sync", type=sync_modes, default=["none", "attributed", "component"], help="modes, comma-separated: none, component, attributed (default all three)")
    add_stopping_arguments(p, "by their cost")
    p.add_argument("--warmup", type=int, default=1, help="warm-up repetitions (default 1)")
    add_copies_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="seed of weights and tokens (default 0)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is available")
    p.add_argument("--no-calibrate", action="store_true", help="skip measuring the machine's matmul rate and bandwidth")
    p.add_argument("--force", action="store_true", help="replace an existing trace")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    for name in ("layers", "dim", "heads", "ffn", "vocab"):
        if getattr(args, name) < 1:
            parser().error(f"--{name} must be at least 1")
    check_copy_options(parser(), args)
    if args.warmup < 0:
        parser().error("--warmup must be at least 0")
    check_stopping(parser(), args)
    if args.cpu:
        mx.set_default_device(mx.cpu)
    try:
        cfg = Config(args.layers, args.dim, args.heads, args.ffn, args.vocab)
    except ValueError as e:
        parser().error(str(e))
    dtype = DTYPES[args.dtype]
    model = Llama(cfg, dtype, args.seed)
    config = dict(dim=cfg.dim, heads=cfg.heads, head_dim=cfg.head_dim, blocks=cfg.layers, preset_blocks=cfg.layers, ffn_dim=cfg.ffn, eps=cfg.eps)
    try:
        rec = mt.Recorder(args.out, model="llama-demo", dtype=args.dtype, config=config, seed=args.seed, force=args.force, quiet=args.quiet,
                          labels={"vocab": str(cfg.vocab), "recorder": "python"})
    except (mt.TraceError, OSError) as e:
        print(f"mlx_trace.demo: error: {e}", file=sys.stderr)
        return 2
    with rec:
        if not args.no_calibrate:
            rec.calibrate()
        # Each length's share of --max-time follows its analytic cost (the layers' components
        # run once per layer).
        weights = [sum(f * (cfg.layers if n.startswith("layer/") else 1) for n, (f, _) in model.costs(L).items()) for L in args.seq]
        start = time.monotonic()
        for i, L in enumerate(args.seq):
            tokens = mx.random.randint(0, cfg.vocab, (L,), key=mx.random.key(args.seed + L))
            mx.eval(tokens)
            rec.record(lambda: model(tokens), tokens=L, modes=args.sync, warmup=args.warmup, copies=args.copies,
                       check_copies=args.check_copies,
                       **stop_options(args, time.monotonic() - start, weights[i:]))
            if rec.interrupted:
                break
    print(rec.file.partial if rec.interrupted else rec.file.path)
    return 130 if rec.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
