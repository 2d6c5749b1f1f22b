"""This machine's achievable matmul rate and memory bandwidth through MLX, measured like the Rust
recorder does (recorder/src/calibrate.rs): the matmul ceiling is the best over the model's own
GEMM shapes (when given) and one large square, the bandwidth ceiling the best of streaming
``y = x + 1`` passes over several sizes, each well beyond the last-level cache; on a CPU whose
cache is known, the cache ceiling (for components whose bytes per call fit in the cache) the
best of the same pass over sizes that fit in it."""

from __future__ import annotations

import os
import time

import mlx.core as mx

DTYPES = {"f32": mx.float32, "bf16": mx.bfloat16, "f16": mx.float16}

# The bandwidth passes use arrays of at least this many times the last-level cache.
LLC_FACTOR = 8
# The cache-resident passes use inputs of the last-level cache divided by these.
CACHE_DIVISORS = (128, 32, 8, 4)
MIB = 1 << 20


def parse_cache_size(s: str) -> int | None:
    """A sysfs cache size (``32768K``, ``8M``, ``512``) in bytes, or None."""
    s = s.strip()
    digits = len(s) - len(s.lstrip("0123456789"))
    if digits == 0:
        return None
    unit = s[digits:].strip()
    mul = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MB": 1 << 20,
           "MiB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GiB": 1 << 30}.get(unit)
    return None if mul is None else int(s[:digits]) * mul


def last_level_cache_bytes() -> int | None:
    """The largest data or unified cache of CPU 0 from Linux's sysfs, or None."""
    root = "/sys/devices/system/cpu/cpu0/cache"
    best = None
    try:
        entries = os.listdir(root)
    except OSError:
        return None
    for e in entries:
        if not e.startswith("index"):
            continue
        try:
            read = lambda f: open(os.path.join(root, e, f)).read().strip()  # noqa: E731
            level, kind, size = int(read("level")), read("type"), parse_cache_size(read("size"))
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or size is None:
            continue
        if best is None or (level, size) > best:
            best = (level, size)
    return None if best is None else best[1]


def sizes(dtype: str, gpu: bool, llc: int = 0) -> dict:
    """Square side, matmul budget, bandwidth array sizes and repetitions, as the Rust recorder."""
    square = 8192 if gpu else (2048 if dtype == "f32" else 512)
    if gpu:
        arrays = [256 * MIB, 512 * MIB, 1024 * MIB]
    else:
        base = LLC_FACTOR * (llc if llc > 0 else 32 * MIB)
        arrays = [base, base + base // 2]
    cache = [] if gpu or llc <= 0 else [llc // d for d in CACHE_DIVISORS]
    return {"square": square, "max_matmul_flops": 2.0 * square ** 3, "min_rows": 256,
            "bandwidth_array_bytes": arrays, "reps": 10 if gpu else 2, "llc_bytes": llc,
            "cache_array_bytes": cache, "cache_reps": 30}


def capped(shape, max_flops: float, min_rows: int) -> list[int]:
    """``shape`` (m, k, n) with its rows cut so that one product stays within ``max_flops``."""
    m, k, n = (int(v) for v in shape)
    rows = int(max_flops // (2.0 * k * n))
    return [min(m, max(rows, min_rows)), k, n]


def _best_seconds(reps: int, f) -> float:
    best = float("inf")
    for i in range(max(reps, 1) + 1):
        t = time.perf_counter()
        f()
        s = time.perf_counter() - t
        if i > 0:
            best = min(best, s)
    return best


def calibrate(dtype: str = "f32", gpu: bool = False, quick: bool = False, gemm_shapes=None) -> dict:
    """The calibration record's fields in ``dtype``. ``gemm_shapes``: the model's own GEMMs, as
    (m, k, n) or (source, (m, k, n)). ``quick`` uses small sizes (tests)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    dt = DTYPES[dtype]
    if quick:
        sz = {"square": 256, "max_matmul_flops": 2.0 * 256 ** 3, "min_rows": 16,
              "bandwidth_array_bytes": [1 * MIB, 2 * MIB], "reps": 2}
        # The machine's real cache, so that the cache-resident passes are exercised too.
        llc = 0 if gpu else (last_level_cache_bytes() or 0)
        sz.update(llc_bytes=llc, cache_array_bytes=[64 << 10, 128 << 10] if llc else [], cache_reps=3)
    else:
        sz = sizes(dtype, gpu, 0 if gpu else (last_level_cache_bytes() or 0))
    shapes = []
    for g in gemm_shapes or []:
        source, shape = (g[0], g[1]) if isinstance(g[0], str) else ("model", g)
        shapes.append((source, capped(shape, sz["max_matmul_flops"], sz["min_rows"])))
    q = sz["square"]
    shapes.append(("square", [q, q, q]))
    matmul_probes = []
    for i, (source, shape) in enumerate(shapes):
        if any(s == shape for _, s in shapes[:i]):
            continue
        m, k, n = shape
        a = mx.random.normal((m, k), key=mx.random.key(7)).astype(dt)
        b = mx.random.normal((k, n), key=mx.random.key(8)).astype(dt)
        mx.eval(a, b)
        best = _best_seconds(sz["reps"], lambda: mx.eval(a @ b))
        matmul_probes.append({"shape": shape, "flops_per_s": 2.0 * m * k * n / best, "source": source})
    bandwidth_probes = _streaming(dt, sz["bandwidth_array_bytes"], sz["reps"])
    cache_probes = _streaming(dt, sz["cache_array_bytes"], sz["cache_reps"])
    best_mm = max(matmul_probes, key=lambda p: p["flops_per_s"])
    best_bw = max(bandwidth_probes, key=lambda p: p["bytes_per_s"])
    out = {
        "dtype": dtype,
        "matmul_flops_per_s": best_mm["flops_per_s"],
        "matmul_shape": best_mm["shape"],
        "bandwidth_bytes_per_s": best_bw["bytes_per_s"],
        "bandwidth_bytes": best_bw["bytes"],
        "matmul_probes": matmul_probes,
        "bandwidth_probes": bandwidth_probes,
    }
    if sz["llc_bytes"]:
        out["llc_bytes"] = sz["llc_bytes"]
    if cache_probes:
        out["cache_bandwidth_bytes_per_s"] = max(p["bytes_per_s"] for p in cache_probes)
        out["cache_bandwidth_probes"] = cache_probes
    fault = page_fault_ns()
    if fault:
        out["page_fault_ns"] = fault
    return out


def page_fault_ns(size: int = 64 << 20, passes: int = 5) -> float | None:
    """What one minor page fault costs here, ns, as the Rust calibration measures it: a fresh
    private anonymous mapping of ``size`` bytes written one byte per page, its time divided by
    the faults counted; the median of ``passes``. Python's own loop is timed again on the
    now-mapped pages and taken off. None where the faults cannot be counted."""
    import mmap

    from . import machine

    per_fault = []
    for _ in range(passes):
        try:
            m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        except (OSError, AttributeError, ValueError):
            return None
        try:
            before = machine.minor_faults()
            start = time.perf_counter_ns()
            for offset in range(0, size, mmap.PAGESIZE):
                m[offset] = 1
            faulted = time.perf_counter_ns()
            after = machine.minor_faults()
            for offset in range(0, size, mmap.PAGESIZE):
                m[offset] = 2
            again = time.perf_counter_ns()
        finally:
            m.close()
        if before is None or after is None or after <= before:
            return None
        per_fault.append(max((faulted - start) - (again - faulted), 0) / (after - before))
    per_fault.sort()
    return per_fault[len(per_fault) // 2]


def _streaming(dt, array_bytes, reps: int) -> list[dict]:
    """The best rate of ``y = x + 1`` over an input of each of ``array_bytes``."""
    probes = []
    for nbytes in array_bytes:
        x = mx.ones((max(nbytes // dt.size, 1),), dtype=dt)
        mx.eval(x)
        one = mx.array(1.0, dtype=dt)
        best = _best_seconds(reps, lambda: mx.eval(x + one))
        moved = 2 * x.size * x.itemsize
        probes.append({"bytes": moved, "bytes_per_s": moved / best})
        del x
    return probes
