"""One line for any MLX model: ``mlx_trace.profile(model, *inputs)``.

```python
import mlx_trace as mt
path = mt.profile(model, tokens, out="model.msgpack")     # then: mlx-analyze model.msgpack
```

The model's module tree is instrumented (:mod:`mlx_trace.instrument`) for the recording only
and restored afterwards; its code is not changed. State passed to the forward (a KV cache) is
snapshot before and put back after every forward, so it is the same after a recording as before
(:mod:`mlx_trace.state`). A forward that draws from MLX's global random generator, or that is
``mx.compile``d, is refused with the reason.
"""

from __future__ import annotations

import os
import sys

import mlx.core as mx
import mlx.nn as nn

from . import state as _state
from .instrument import COMPILED_HELP, CompiledError, instrument, is_compiled
from .probe import Probe, recording


def default_tokens(inputs, kwargs) -> int:
    """The sequence length of the first array input: the last axis of integer token ids
    (``[batch, length]``), else axis 1 of ``[batch, length, features]`` (axis 0 of a vector)."""
    for v in list(inputs) + list(kwargs.values()):
        if isinstance(v, mx.array) and v.ndim >= 1:
            if mx.issubdtype(v.dtype, mx.integer):
                return int(v.shape[-1])
            return int(v.shape[1] if v.ndim >= 2 else v.shape[0])
    raise ValueError("profile: no array among the inputs to take the sequence length from; pass tokens=")


def dtype_name(model) -> str:
    """The trace's dtype name of the model's first floating-point parameter (f32 by default)."""
    from mlx.utils import tree_flatten

    for _, p in tree_flatten(model.parameters()):
        if isinstance(p, mx.array) and mx.issubdtype(p.dtype, mx.floating):
            return {mx.bfloat16: "bf16", mx.float16: "f16"}.get(p.dtype, "f32")
    return "f32"


def _stage_names(forward) -> list:
    probe = Probe("none")
    with recording(probe):
        out = forward()
    del out
    return [(s.name, s.calls) for s in probe.stages.values()]


def check_forward(forward) -> list:
    """Builds the forward's graph twice (nothing is evaluated but MLX's random key) and refuses
    what the recording cannot handle; returns the components seen.

    - No component at all: the forward does not go through the instrumented modules' Python
      code, typically because it is ``mx.compile``d.
    - Fewer components the second time: a compiled function traced the modules once and now
      replays its graph.
    - MLX's global random key moved: the forward draws random numbers (dropout left in training
      mode, sampling); every duplicate would draw others, and the forwards would differ.
    """
    key = mx.random.state[0]
    first = _stage_names(forward)
    moved = not mx.array_equal(key, mx.random.state[0]).item()
    second = _stage_names(forward)
    if not first:
        raise CompiledError("no instrumented module ran during the forward: it does not call the model's modules, "
                            "or it is compiled. " + COMPILED_HELP)
    if len(second) < len(first) or sum(c for _, c in second) < sum(c for _, c in first):
        raise CompiledError("the instrumented modules ran the first time the forward was built but not the second: "
                            "part of the forward is an mx.compile'd function. " + COMPILED_HELP)
    if moved:
        raise ValueError("the forward draws from MLX's global random generator (dropout in training mode, sampling): "
                         "every duplicate of an attributed recording would draw other numbers. Call model.eval(), or "
                         "give the random operations explicit keys (mx.random.key) that the inputs carry")
    return [n for n, _ in first]


def check_model(model) -> None:
    """Refuses what is not a plain ``nn.Module`` (a compiled one first: ``mx.compile(module)``
    passes ``isinstance(..., nn.Module)``)."""
    if is_compiled(model):
        raise CompiledError("the model is an mx.compile'd function, not the nn.Module itself. " + COMPILED_HELP)
    if not isinstance(model, nn.Module):
        raise TypeError(f"profile: expected an mlx.nn.Module, got {type(model).__name__}")
    if is_compiled(type(model).__call__):
        raise CompiledError(f"{type(model).__name__}.__call__ is an mx.compile'd function. " + COMPILED_HELP)


def profile_into(rec, model, *inputs, kwargs=None, tokens=None, frames=None, depth=None, filter=None, fast=True,
                 variant="baseline", modes=("none", "attributed"), runs=None, warmup=1, copies=4, check_copies=None,
                 inflate=None, precision=None, max_time=None) -> int:
    """:meth:`Recorder.profile`'s body: instruments ``model``, records ``model(*inputs, **kwargs)``,
    undoes the instrumentation; returns the number of runs written."""
    kwargs = dict(kwargs or {})
    check_model(model)
    tokens = default_tokens(inputs, kwargs) if tokens is None else int(tokens)
    objects = _state.find((inputs, kwargs))
    snap = _state.snapshot(objects) if objects else None

    def forward():
        out = model(*inputs, **kwargs)
        if snap is not None:
            _state.restore(snap)
        return out

    try:
        with instrument(model, depth=depth, filter=filter, fast=fast):
            check_forward(forward)
            return rec.record(forward, tokens=tokens, frames=frames, variant=variant, modes=modes, runs=runs,
                              warmup=warmup, copies=copies, check_copies=check_copies, inflate=inflate,
                              precision=precision, max_time=max_time)
    finally:
        if snap is not None:
            _state.restore(snap)


def profile(model, *inputs, out="profile.msgpack", kwargs=None, tokens=None, frames=None, name=None, dtype=None,
            config=None, labels=None, depth=None, filter=None, fast=True, modes=("none", "attributed"), runs=None,
            warmup=1, copies=4, check_copies=None, precision=None, max_time=None, calibrate=False, force=False,
            quiet=True) -> str:
    """Records ``model(*inputs, **kwargs)`` into the trace ``out`` and returns its path.

    ``model``: an ``mlx.nn.Module``, instrumented for the recording only (every module a
    component, named from its path; list indices are block indices; ``mx.fast`` calls and
    ``Embedding.as_linear`` too). ``depth``: keep the levels up to this one (1: the root's
    children); ``filter(path, module)``: keep the modules it returns True for; ``fast``: capture
    ``mx.fast`` calls. ``tokens``: the sequence length (default: from the first array input);
    ``frames``: the analyzer's key of one input shape (default ``tokens``). ``modes``, ``runs``
    (an exact count; default: until ``precision``, 5%, within ``max_time``, 600 s), ``warmup``,
    ``copies``, ``check_copies``: as :meth:`Recorder.record`. ``name``: the model's name in the
    trace (default: its class); ``dtype``: ``f32``, ``bf16`` or ``f16`` (default: its parameters');
    ``config``: ``metadata.model`` fields; ``calibrate``: measure the machine's ceilings first.
    """
    from .recorder import Recorder

    check_model(model)
    _state.find((inputs, dict(kwargs or {})))  # refuses state it cannot restore before a file is opened
    labels = dict(labels or {})
    labels.setdefault("recorder", "python")
    labels.setdefault("instrumented", "module-tree")
    rec = Recorder(out, model=name or type(model).__name__, dtype=dtype or dtype_name(model), config=config,
                   labels=labels, force=force, quiet=quiet)
    try:
        if calibrate:
            rec.calibrate()
        rec.profile(model, *inputs, kwargs=kwargs, tokens=tokens, frames=frames, depth=depth, filter=filter,
                    fast=fast, modes=modes, runs=runs, warmup=warmup, copies=copies, check_copies=check_copies,
                    precision=precision, max_time=max_time)
    except BaseException:
        partial = rec.file.abandon()
        if rec.file.runs == 0:
            os.remove(partial)  # refused before any run: nothing worth keeping
        elif not isinstance(sys.exc_info()[1], KeyboardInterrupt):
            print(f"mlx-trace: {rec.file.runs} completed run(s) kept in {partial}", file=sys.stderr)
        raise
    return rec.finish()
