#!/usr/bin/env python3
"""Reference analysis in Python (msgpack + pandas + numpy) for the mlx-analyze benchmark.

Does what the Rust benchmark times over the same trace files: load every trace into a tidy
pandas events table (warm-up runs dropped), rank components at the largest frame count,
fit power laws and non-negative a + bL + cL^2 per component, and compare machines with a
bootstrap interval of the median ratio. Prints one `RESULT ...` line in the benchmark's format.

Usage: bench_analyzer_pandas.py TRACE_DIR [--tidy | --per-run-totals]
(needs: pip install pandas msgpack)

--tidy (default) holds every event in one table and groups it, as pandas code usually would;
--per-run-totals sums each run's events per component while reading (np.bincount), as
mlx-analyze does, so that ten thousand traces fit in memory. The analysis is the same.
"""

import glob
import itertools
import os
import resource
import sys
import time

import msgpack
import numpy as np
import pandas as pd


def load(directory, per_run_totals=False):
    files = sorted(glob.glob(os.path.join(directory, "*.msgpack")))
    name_id = {}
    runs = []
    ev_parts = []
    traces = []
    for trace_id, path in enumerate(files):
        with open(path, "rb") as f:
            unpacker = msgpack.Unpacker(f, raw=False, strict_map_key=False)
            header = next(unpacker)
            if header.get("magic") != "mlx-trace":
                continue
            meta = header["metadata"]
            calib = None
            traces.append({"trace_id": trace_id, "machine": meta.get("labels", {}).get("machine", meta.get("host")),
                           "blocks": meta["model"]["blocks"]})
            for record in unpacker:
                (kind, value), = record.items()
                if kind == "Calibration":
                    calib = value
                elif kind == "Run":
                    if value["warmup"]:
                        continue
                    run_id = len(runs)
                    runs.append({"run_id": run_id, "trace_id": trace_id, "sync": value["sync"],
                                 "frames": value["frames"], "tokens": value["tokens"],
                                 "forward_ns": value["forward_ns"]})
                    lookup = np.array([name_id.setdefault(c["name"], len(name_id)) for c in value["components"]],
                                      dtype=np.int64)
                    ev = np.array(value["events"], dtype=np.int64).reshape(-1, 4)
                    if per_run_totals:
                        comp = lookup[ev[:, 0]]
                        ids = np.unique(comp)
                        sums = np.bincount(comp, weights=ev[:, 3])[ids]
                        counts = np.bincount(comp)[ids]
                        part = np.empty((len(ids), 4), dtype=np.int64)
                        part[:, 0] = run_id
                        part[:, 1] = ids
                        part[:, 2] = np.rint(sums).astype(np.int64)
                        part[:, 3] = counts
                        ev_parts.append(part)
                        continue
                    part = np.empty((ev.shape[0], 5), dtype=np.int64)
                    part[:, 0] = run_id
                    part[:, 1] = lookup[ev[:, 0]]
                    part[:, 2] = ev[:, 1]
                    part[:, 3] = np.cumsum(ev[:, 2])
                    part[:, 4] = ev[:, 3]
                    ev_parts.append(part)
                elif kind == "End":
                    break
            traces[-1]["calibration"] = calib
    names = sorted(name_id, key=name_id.get)
    allev = np.concatenate(ev_parts)
    if per_run_totals:
        totals = pd.DataFrame({"run_id": allev[:, 0].astype(np.uint32), "component_id": allev[:, 1].astype(np.uint32),
                               "sum": allev[:, 2], "count": allev[:, 3]})
        return files, pd.DataFrame(traces), pd.DataFrame(runs), totals, names
    events = pd.DataFrame({"run_id": allev[:, 0].astype(np.uint32), "component_id": allev[:, 1].astype(np.uint32),
                           "block": allev[:, 2].astype(np.int32), "start_ns": allev[:, 3], "duration_ns": allev[:, 4]})
    del allev, ev_parts
    return files, pd.DataFrame(traces), pd.DataFrame(runs), events, names


def nnls_small(A, y):
    best, best_res = np.zeros(A.shape[1]), float(y @ y)
    for k in range(1, A.shape[1] + 1):
        for cols in itertools.combinations(range(A.shape[1]), k):
            sol, *_ = np.linalg.lstsq(A[:, cols], y, rcond=None)
            if np.any(sol < 0):
                continue
            x = np.zeros(A.shape[1])
            x[list(cols)] = sol
            res = float(((A @ x - y) ** 2).sum())
            if res < best_res:
                best, best_res = x, res
    return best


def main():
    directory = sys.argv[1]
    per_run_totals = "--per-run-totals" in sys.argv[2:]
    t0 = time.perf_counter()
    files, traces, runs, events, names = load(directory, per_run_totals)
    t_load = time.perf_counter() - t0

    t1 = time.perf_counter()
    if per_run_totals:
        agg = events
        n = int(events["count"].sum())
    else:
        agg = events.groupby(["run_id", "component_id"], sort=False)["duration_ns"].agg(["sum", "count"]).reset_index()
        n = len(events)
    agg = agg.merge(runs, on="run_id").merge(traces[["trace_id", "machine", "blocks"]], on="trace_id")
    comp = agg[agg["sync"] == "component"]
    fmax = comp["frames"].max()
    at = comp[comp["frames"] == fmax]
    med = at.groupby("component_id")["sum"].median()
    share = (med / med.sum()).sort_values(ascending=False)
    top = names[share.index[0]]
    t_rank = time.perf_counter() - t1

    t2 = time.perf_counter()
    per = comp[["component_id", "tokens", "sum", "blocks"]].copy()
    is_block = np.array([n.startswith("block/") for n in names])[per["component_id"].to_numpy()]
    per["ms"] = np.where(is_block, per["sum"] / 1e6 / per["blocks"], per["sum"] / 1e6)
    pts = per.groupby(["component_id", "tokens"])["ms"].median().reset_index()
    fits = 0
    for cid, g in pts.groupby("component_id"):
        if len(g) < 3:
            continue
        L = g["tokens"].to_numpy(dtype=float)
        y = g["ms"].to_numpy()
        np.polyfit(np.log(L), np.log(y), 1)
        s = L / 1000.0
        nnls_small(np.column_stack([np.ones_like(s), s, s * s]), y)
        fits += 1
    fused = runs[runs["sync"] == "none"].groupby("tokens")["forward_ns"].median()
    if len(fused) >= 3:
        L = fused.index.to_numpy(dtype=float)
        y = fused.to_numpy() / 1e6
        np.polyfit(np.log(L), np.log(y), 1)
        nnls_small(np.column_stack([np.ones_like(L), L / 1000, (L / 1000) ** 2]), y)
        fits += 1
    t_scale = time.perf_counter() - t2

    t3 = time.perf_counter()
    rng = np.random.default_rng(1)
    machines = sorted(traces["machine"].unique())
    base, other = machines[0], machines[1]

    def ratio_ci(a, b, resamples=1000):
        ia = rng.integers(0, len(a), (resamples, len(a)))
        ib = rng.integers(0, len(b), (resamples, len(b)))
        r = np.median(b[ib], axis=1) / np.median(a[ia], axis=1)
        return np.median(b) / np.median(a), np.quantile(r, 0.025), np.quantile(r, 0.975)

    # Sampling unit: the trace (median of its runs), as mlx-analyze does with >= 3 traces a side.
    per_trace = at.groupby(["component_id", "trace_id", "machine"])["sum"].median().reset_index()
    for cid, g in per_trace.groupby("component_id"):
        a = g.loc[g["machine"] == base, "sum"].to_numpy(dtype=float) / 1e6
        b = g.loc[g["machine"] == other, "sum"].to_numpy(dtype=float) / 1e6
        if len(a) and len(b):
            ratio_ci(a, b)
    fr = runs.merge(traces[["trace_id", "machine"]], on="trace_id")
    fr = fr[(fr["sync"] == "none") & (fr["frames"] == fmax)]
    fr = fr.groupby(["trace_id", "machine"])["forward_ns"].median().reset_index()
    fwd = ratio_ci(fr.loc[fr["machine"] == base, "forward_ns"].to_numpy(float) / 1e6,
                   fr.loc[fr["machine"] == other, "forward_ns"].to_numpy(float) / 1e6)[0]
    t_cmp = time.perf_counter() - t3
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"RESULT {len(files)} {n} {t_load} {t_rank} {t_scale} {t_cmp} {total} {peak} {n * 24} {top} {fits} {fwd}")


if __name__ == "__main__":
    main()
