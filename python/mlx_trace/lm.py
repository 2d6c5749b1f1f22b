"""Records an mlx-lm language model's prefill, with no code written: ``python -m mlx_trace.lm``.

    python -m mlx_trace.lm --model path/to/mlx-model --tokens 128,512 --out model.msgpack
    python -m mlx_trace.lm --model-type llama --config cfg.json --tokens 128,256 --out llama.msgpack
    mlx-analyze model.msgpack

``--model`` loads a local folder in mlx-lm's layout (``config.json`` and ``*.safetensors``,
quantized or not); nothing is downloaded. ``--model-type`` with ``--config`` (a JSON file or a
JSON string of the model's ``config.json`` fields) builds the architecture with random weights
(mlx-lm's own initialisation, seeded).

Each ``--tokens`` length is a prefill of that many random token ids (batch 1, no KV cache
unless ``--cache``), recorded by :func:`mlx_trace.profile`: every module of the model is a
component named from its path (``self_attn/q_proj`` of block 3), with ``mx.fast`` calls and the
tied head (``embed_tokens.as_linear``) included, nested as the calls are.

**What random weights change.** The arithmetic of a dense model does not depend on the weights'
values, so its times are those of the trained model with the same config and dtype. A
mixture-of-experts model's do: a random router spreads the tokens about evenly over the experts,
where a trained one favours some, so the experts' load, how many experts a prefill touches, and
the gather/sort glue around them differ from the trained model's. The trace says
``weights: random`` (``synthetic`` in its metadata) so the analyzer and readers can tell.
Quantization in a random-weights config (``"quantization": {"group_size", "bits"}``) quantizes
the random weights the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import mlx_trace as mt
import mlx.core as mx
import mlx.nn as nn

from .args import add_copies_arguments, add_stopping_arguments, check_copy_options, check_stopping, int_list, stop_options, sync_modes
from .calibrate import DTYPES

DTYPE_OF = {"f32": mx.float32, "bf16": mx.bfloat16, "f16": mx.float16}


def _mlx_lm():
    try:
        import mlx_lm  # noqa: F401
        from mlx_lm import utils
    except ImportError as e:
        raise SystemExit(f"mlx_trace.lm: mlx-lm is not installed ({e}): pip install mlx-lm") from None
    return utils


def read_config(text: str) -> dict:
    """``--config``: a JSON file's path or a JSON object."""
    if os.path.exists(text):
        with open(text) as f:
            return json.load(f)
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError:
        raise SystemExit(f"mlx_trace.lm: --config {text!r} is neither a file nor a JSON object") from None
    if not isinstance(cfg, dict):
        raise SystemExit("mlx_trace.lm: --config must be a JSON object")
    return cfg


def random_model(model_type: str, config: dict, seed: int = 0):
    """The architecture ``model_type`` built from ``config`` with seeded random weights."""
    utils = _mlx_lm()
    config = dict(config, model_type=model_type)
    try:
        model_class, args_class = utils._get_classes(config)
    except ValueError as e:
        raise SystemExit(f"mlx_trace.lm: {e}") from None
    mx.random.seed(seed)
    try:
        model = model_class(args_class.from_dict(config))
    except TypeError as e:
        raise SystemExit(f"mlx_trace.lm: the config does not fit {model_type}'s ModelArgs: {e}") from None
    q = config.get("quantization")
    if q:
        nn.quantize(model, group_size=int(q.get("group_size", 64)), bits=int(q.get("bits", 4)))
    mx.eval(model.parameters())
    return model, config


def local_model(path: str):
    """A model folder in mlx-lm's layout, loaded with its weights (no download)."""
    utils = _mlx_lm()
    from pathlib import Path

    p = Path(path)
    if not (p / "config.json").exists():
        raise SystemExit(f"mlx_trace.lm: {path} has no config.json: give a local mlx-lm model folder (nothing is downloaded)")
    model, config = utils.load_model(p)
    return model, config


def model_fields(config: dict, blocks_seen: int | None = None) -> dict:
    """``metadata.model`` from an mlx-lm config (the fields that apply; others 0)."""
    g = lambda *keys: next((config[k] for k in keys if isinstance(config.get(k), (int, float)) and not isinstance(config.get(k), bool)), 0)
    dim = int(g("hidden_size", "d_model", "n_embd"))
    heads = int(g("num_attention_heads", "n_head", "n_heads"))
    blocks = int(g("num_hidden_layers", "n_layer", "n_layers"))
    return dict(dim=dim, heads=heads, head_dim=int(g("head_dim") or (dim // heads if heads else 0)), blocks=blocks,
                preset_blocks=blocks, ffn_dim=int(g("intermediate_size", "ffn_dim", "n_inner")),
                eps=float(g("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon")))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mlx_trace.lm",
        description="Record an mlx-lm model's prefill with every module as a component (no code written). "
        "Random weights (--model-type) time a dense model as its trained weights would; a mixture of experts' "
        "routing is not a trained model's (see the module doc). Analyse the trace with mlx-analyze.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="a local mlx-lm model folder (config.json, *.safetensors); nothing is downloaded")
    src.add_argument("--model-type", help="an mlx-lm architecture (llama, qwen3, mixtral, ...), built with random weights from --config")
    p.add_argument("--config", help="with --model-type: the config.json fields, as a JSON file or a JSON string")
    p.add_argument("--out", help="trace file to write (default MODEL-TYPE.msgpack)")
    p.add_argument("--tokens", type=int_list, default=[128, 512], help="prefill lengths, comma-separated (default 128,512)")
    p.add_argument("--sync", type=sync_modes, default=["none", "attributed", "component"], help="modes (default none,attributed,component)")
    add_stopping_arguments(p, "in proportion to them")
    p.add_argument("--warmup", type=int, default=1, help="warm-up repetitions (default 1)")
    add_copies_arguments(p)
    p.add_argument("--depth", type=int, default=None, help="instrument the module levels up to this depth (1: the root's children; default all)")
    p.add_argument("--dtype", choices=list(DTYPES), default=None, help="cast the weights (default: f32 for random weights, the folder's otherwise)")
    p.add_argument("--cache", action="store_true", help="prefill into a fresh KV cache (model.make_cache()), snapshot and restored around every forward")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and token ids (default 0)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is available")
    p.add_argument("--no-calibrate", action="store_true", help="skip measuring the machine's matmul rate and bandwidth")
    p.add_argument("--force", action="store_true", help="replace an existing trace")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    if a.model_type and not a.config:
        parser().error("--model-type needs --config (the model's config.json fields)")
    if a.model and a.config:
        parser().error("--config goes with --model-type (a --model folder has its own config.json)")
    check_copy_options(parser(), a)
    if a.warmup < 0:
        parser().error("--warmup must be at least 0")
    check_stopping(parser(), a)
    if a.cpu:
        mx.set_default_device(mx.cpu)
    if a.model:
        model, config = local_model(a.model)
        weights = "checkpoint"
    else:
        model, config = random_model(a.model_type, read_config(a.config), a.seed)
        weights = "synthetic"
    if a.dtype:
        model.set_dtype(DTYPE_OF[a.dtype])
    model.eval()
    mx.eval(model.parameters())
    from .profiling import dtype_name

    dtype = a.dtype or dtype_name(model)
    model_type = config.get("model_type", type(model).__module__.rsplit(".", 1)[-1])
    out = a.out or f"{model_type}.msgpack"
    try:
        import mlx_lm
        lm_version = getattr(mlx_lm, "__version__", "")
    except ImportError:
        lm_version = ""
    labels = {"recorder": "python", "instrumented": "module-tree", "model_type": model_type, "mlx_lm": lm_version,
              "weights": "random" if weights == "synthetic" else "checkpoint", "vocab": str(config.get("vocab_size", ""))}
    if a.model:
        labels["model_path"] = os.path.basename(os.path.normpath(a.model))
    if weights == "synthetic" and any(k in config for k in ("num_experts", "num_local_experts", "n_routed_experts")):
        labels["routing"] = "random router: expert load is not a trained model's"
    vocab = int(config.get("vocab_size") or 0)
    try:
        rec = mt.Recorder(out, model=model_type, dtype=dtype, config=model_fields(config), labels=labels, seed=a.seed,
                          weights=weights, force=a.force, quiet=a.quiet)
    except (mt.TraceError, OSError) as e:
        print(f"mlx_trace.lm: error: {e}", file=sys.stderr)
        return 2
    with rec:
        if not a.no_calibrate:
            rec.calibrate()
        # Each length's share of --max-time in proportion to its length (a prefill's cost is
        # mostly linear in it).
        start = time.monotonic()
        for i, L in enumerate(a.tokens):
            ids = mx.random.randint(0, max(vocab, 2), (1, L), key=mx.random.key(a.seed + L))
            mx.eval(ids)
            kwargs = {"cache": model.make_cache()} if a.cache and hasattr(model, "make_cache") else {}
            if a.cache and not kwargs:
                print("mlx_trace.lm: this model has no make_cache(); recording without a cache", file=sys.stderr)
            rec.profile(model, ids, kwargs=kwargs, tokens=L, depth=a.depth, modes=a.sync, warmup=a.warmup,
                        copies=a.copies, check_copies=a.check_copies, **stop_options(a, time.monotonic() - start, a.tokens[i:]))
            if rec.interrupted:
                break
    print(rec.file.partial if rec.interrupted else rec.file.path)
    return 130 if rec.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
