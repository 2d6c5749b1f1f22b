"""Marking components of a forward pass, and timing them in the chosen mode.

A component is a function call: :func:`mark` (``mark("layer/mlp/up", f, x)``) or a function
decorated with :func:`component`. Outside a recording both just call the function. During one,
the current :class:`Probe` decides what happens, exactly as the Rust recorder's probe does:

- ``none``: nothing; the caller evaluates the forward once and times it.
- ``component``: the outputs are evaluated right after the call and the interval is recorded
  (the seed profiler's method: it breaks fusion across components).
- ``attributed``: the forward stays one evaluation. The control forces every component's
  outputs once through a scalar (the sum of the first element of each output array); a
  duplicate calls the target function ``copies`` more times per invocation and forces each
  copy the same way. The scalars are attached to the component's real outputs with
  ``mx.depends``, which moves no data, so the copies run inside the same evaluation, right where
  the component runs, and are never pruned.

A function marked as a component must be pure: calling it again with the same arguments must
redo the same work (it is called ``copies`` more times in a duplicate run). Its outputs are an
array, or a tuple, list or dict of arrays (nested); other values pass through untouched.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time

import mlx.core as mx

_PROBE: contextvars.ContextVar = contextvars.ContextVar("mlx_trace_probe", default=None)
_BLOCK: contextvars.ContextVar = contextvars.ContextVar("mlx_trace_block", default=None)


def _flatten(out, arrays: list):
    """Appends the arrays of ``out`` to ``arrays``; returns a function that rebuilds ``out``
    from a list of replacement arrays (consumed from the front)."""
    if isinstance(out, mx.array):
        arrays.append(out)
        return lambda it: next(it)
    if isinstance(out, (tuple, list)):
        builders = [_flatten(o, arrays) for o in out]
        kind = type(out)
        if kind is tuple or kind is list:
            return lambda it: kind(b(it) for b in builders)
        return lambda it: kind(*[b(it) for b in builders])  # named tuples
    if isinstance(out, dict):
        keys = list(out)
        builders = [_flatten(out[k], arrays) for k in keys]
        return lambda it: {k: b(it) for k, b in zip(keys, builders)}
    return lambda it: out


def arrays_of(out) -> list:
    """Every array in a component's output structure."""
    arrays: list = []
    _flatten(out, arrays)
    return arrays


def _first_element_sum(a):
    """The sum of the ``[0, 0, ...]`` element of ``a``: depending on it forces all of the work
    that produced ``a`` (MLX computes whole arrays) while reading nothing more."""
    if a.ndim == 0:
        return a.sum()
    return a[(slice(0, 1),) * a.ndim].sum()


class Stage:
    """A component as the probe saw it in one forward: invocations, cost, output bytes."""

    __slots__ = ("name", "calls", "flops", "bytes", "output_bytes")

    def __init__(self, name, flops, bytes_, output_bytes):
        self.name, self.calls, self.flops, self.bytes, self.output_bytes = name, 1, flops, bytes_, output_bytes

    def __repr__(self):
        return f"Stage({self.name!r}, calls={self.calls}, flops={self.flops:g}, bytes={self.bytes:g})"


class Probe:
    """Times one forward pass in ``mode`` and collects its events (see the module doc).

    ``perturb``: ``None`` (plain), ``"control"``, or ``("duplicate", target_name, copies)``.
    ``inflate``: ``(name, n)`` makes component ``name`` do its work ``n`` more times in every
    mode, inside the component itself (for tests: a known extra cost to be charged to it).
    """

    def __init__(self, mode: str, run=None, perturb=None, inflate=None):
        if mode not in ("none", "component", "attributed"):
            raise ValueError(f"mode must be 'none', 'component' or 'attributed', got {mode!r}")
        self.mode = mode
        self.run = run
        self.perturb = perturb
        self.inflate = inflate
        self.stages: dict[str, Stage] = {}
        self.reduced_bytes = 0
        self.reduced_arrays = 0
        self.t0 = time.perf_counter_ns()

    def start_clock(self) -> None:
        """Restarts the clock (right before the forward)."""
        self.t0 = time.perf_counter_ns()

    def _reduced(self, out) -> list:
        arrays = arrays_of(out)
        self.reduced_bytes += sum(a.nbytes for a in arrays)
        self.reduced_arrays += len(arrays)
        return [_first_element_sum(a) for a in arrays]

    def stage(self, name: str, fn, args=(), kwargs=None, block=None, flops=None, bytes=None):
        """Runs ``fn(*args, **kwargs)`` as one invocation of component ``name``."""
        kwargs = kwargs or {}
        if block is None:
            block = _BLOCK.get()
        inflated = self.inflate[1] if self.inflate and self.inflate[0] == name else 0

        def work():
            out = fn(*args, **kwargs)
            own = []
            for _ in range(inflated):
                own.extend(_first_element_sum(a) for a in arrays_of(fn(*args, **kwargs)))
            return out, own

        start = time.perf_counter_ns()
        out, extras = work()
        arrays: list = []
        rebuild = _flatten(out, arrays)
        cost_f = float(flops(*args, **kwargs) if callable(flops) else flops or 0.0)
        cost_b = float(bytes(*args, **kwargs) if callable(bytes) else bytes or 0.0)
        s = self.stages.get(name)
        if s is None:
            self.stages[name] = Stage(name, cost_f, cost_b, sum(a.nbytes for a in arrays))
        else:
            s.calls += 1
        if self.mode == "component":
            mx.eval(arrays + extras)
            end = time.perf_counter_ns()
            if self.run is not None:
                cid = self.run.component(name, cost_f, cost_b)
                self.run.push_event(cid, block, start - self.t0, end - start)
            return out
        if self.mode == "attributed" and arrays:
            if self.perturb == "control":
                extras.extend(self._reduced(out))
            elif isinstance(self.perturb, tuple) and self.perturb[0] == "duplicate" and self.perturb[1] == name:
                for _ in range(self.perturb[2]):
                    copy, own = work()
                    extras.extend(own)
                    extras.extend(self._reduced(copy))
        if extras and arrays:
            return rebuild(iter(mx.depends(arrays, extras)))
        return out


def current_probe():
    """The probe of the forward being recorded, or None."""
    return _PROBE.get()


@contextlib.contextmanager
def recording(probe: Probe):
    """Makes ``probe`` the current probe inside the ``with`` body."""
    token = _PROBE.set(probe)
    try:
        yield probe
    finally:
        _PROBE.reset(token)


@contextlib.contextmanager
def block(index: int):
    """Components called inside ``with block(i):`` belong to block ``i`` (the layer index)."""
    token = _BLOCK.set(int(index))
    try:
        yield
    finally:
        _BLOCK.reset(token)


def mark(name: str, fn, *args, flops=None, bytes=None, block=None, **kwargs):
    """Calls ``fn(*args, **kwargs)`` as an invocation of component ``name``.

    ``flops``/``bytes``: the analytic cost of one invocation (numbers, or functions of the same
    arguments); optional, used by the analyzer to place the component against the machine's
    ceilings. ``block``: the block index (default: the enclosing :func:`block`).
    """
    probe = _PROBE.get()
    if probe is None:
        return fn(*args, **kwargs)
    return probe.stage(name, fn, args, kwargs, block=block, flops=flops, bytes=bytes)


def component(name: str, flops=None, bytes=None):
    """Decorator: every call of the function is an invocation of component ``name``.

    ``flops``/``bytes`` as in :func:`mark` (functions receive the decorated function's
    arguments, ``self`` included for methods).
    """

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            probe = _PROBE.get()
            if probe is None:
                return fn(*args, **kwargs)
            return probe.stage(name, fn, args, kwargs, flops=flops, bytes=bytes)

        return inner

    return wrap
