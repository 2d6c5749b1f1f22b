"""This machine's achievable matmul rate and memory bandwidth through MLX, measured like the Rust
recorder does: best of several square matmuls, best of several streaming ``y = x + 1`` passes."""

from __future__ import annotations

import time

import mlx.core as mx

DTYPES = {"f32": mx.float32, "bf16": mx.bfloat16, "f16": mx.float16}


def calibrate(dtype: str = "f32", gpu: bool = False, quick: bool = False) -> dict:
    """The calibration record's fields in ``dtype``. ``quick`` uses small sizes (tests)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    dt = DTYPES[dtype]
    if quick:
        n, elements, reps = 256, 1 << 20, 2
    else:
        n = 8192 if gpu else (2048 if dtype == "f32" else 512)
        elements = (1 << 28) if gpu else (1 << 25)
        reps = 10 if gpu else 4
    a = mx.random.normal((n, n), key=mx.random.key(7)).astype(dt)
    b = mx.random.normal((n, n), key=mx.random.key(8)).astype(dt)
    mx.eval(a, b)
    best = float("inf")
    for i in range(reps + 1):
        t = time.perf_counter()
        mx.eval(a @ b)
        s = time.perf_counter() - t
        if i > 0:
            best = min(best, s)
    x = mx.ones((elements,), dtype=dt)
    mx.eval(x)
    one = mx.array(1.0, dtype=dt)
    best_bw = float("inf")
    for i in range(reps + 1):
        t = time.perf_counter()
        mx.eval(x + one)
        s = time.perf_counter() - t
        if i > 0:
            best_bw = min(best_bw, s)
    moved = 2 * elements * x.itemsize
    return {
        "dtype": dtype,
        "matmul_flops_per_s": 2.0 * n ** 3 / best,
        "matmul_shape": [n, n, n],
        "bandwidth_bytes_per_s": moved / best_bw,
        "bandwidth_bytes": moved,
    }
