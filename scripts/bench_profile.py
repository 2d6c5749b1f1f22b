"""What instrumenting a model costs outside attributed runs: the fused forward (mode `none`) of an
mlx-lm model, plain and instrumented by mlx_trace.profile's instrumentation, side by side.

    .venv/bin/python3 scripts/bench_profile.py --model-type llama --config CFG.json --tokens 256 --pairs 21

The two variants alternate run by run (which one goes first alternates too), each timed as the
recorder times a `none` run (Recorder.forward_once: one evaluation, garbage collection held
off). Prints both medians and their ratio, and the median of the per-pair ratios.
"""

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import mlx_trace as mt  # noqa: E402  (before mlx.core: OpenBLAS on Linux)
import mlx.core as mx  # noqa: E402
from mlx_trace.lm import random_model, read_config  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-type", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--pairs", type=int, default=21)
    p.add_argument("--warmup", type=int, default=3)
    a = p.parse_args()
    model, _ = random_model(a.model_type, read_config(a.config), seed=0)
    model.eval()
    ids = mx.random.randint(0, 256, (1, a.tokens), key=mx.random.key(1))
    mx.eval(ids)
    with tempfile.TemporaryDirectory() as d:
        rec = mt.Recorder(os.path.join(d, "bench.msgpack"))

        def once(instrumented: bool) -> float:
            if instrumented:
                with mt.instrument(model):
                    run, out, _ = rec.forward_once(lambda: model(ids), "none", frames=a.tokens, tokens=a.tokens)
            else:
                run, out, _ = rec.forward_once(lambda: model(ids), "none", frames=a.tokens, tokens=a.tokens)
            del out
            return run.forward_ns / 1e6

        for i in range(a.warmup):
            once(i % 2 == 0)
            once(i % 2 == 1)
        plain, inst, ratios = [], [], []
        for i in range(a.pairs):
            order = (False, True) if i % 2 == 0 else (True, False)
            t = {v: once(v) for v in order}
            plain.append(t[False])
            inst.append(t[True])
            ratios.append(t[True] / t[False])
        rec.file.abandon()
    mp, mi = statistics.median(plain), statistics.median(inst)
    print(f"{a.model_type}, {a.tokens} tokens, {a.pairs} pairs, mode none: plain median {mp:.2f} ms, instrumented "
          f"median {mi:.2f} ms ({100 * (mi / mp - 1):+.1f}%); median of pair ratios {100 * (statistics.median(ratios) - 1):+.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
