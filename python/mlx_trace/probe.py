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

Components may nest (a module and its sub-modules, a marked function calling another): the
enclosing component is the inner one's *parent*. Each is attributed as a whole; the parent's
*self* cost is its cost less its children's, so nothing is counted twice. Inside the copies of a
duplicated component, the components it calls are not components again: they just run.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import time

import mlx.core as mx

_PROBE: contextvars.ContextVar = contextvars.ContextVar("mlx_trace_probe", default=None)
_BLOCK: contextvars.ContextVar = contextvars.ContextVar("mlx_trace_block", default=None)
#: The innermost component being called (a :class:`Frame`), or None at the top level.
_FRAME: contextvars.ContextVar = contextvars.ContextVar("mlx_trace_frame", default=None)
#: True inside the copies of a duplicated component (nested components just run there).
_PASSTHROUGH: contextvars.ContextVar = contextvars.ContextVar("mlx_trace_passthrough", default=False)


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
    """A component as the probe saw it in one forward: invocations, cost per invocation (the mean
    over its invocations), output bytes, and its parent component's name (None at the top)."""

    __slots__ = ("name", "calls", "flops", "bytes", "output_bytes", "parent", "depth")

    def __init__(self, name, flops, bytes_, output_bytes, parent=None, depth=1):
        self.name, self.calls, self.flops, self.bytes, self.output_bytes = name, 1, flops, bytes_, output_bytes
        self.parent, self.depth = parent, depth

    def add_call(self, flops, bytes_):
        self.calls += 1
        self.flops += (flops - self.flops) / self.calls
        self.bytes += (bytes_ - self.bytes) / self.calls

    def __repr__(self):
        return f"Stage({self.name!r}, calls={self.calls}, flops={self.flops:g}, bytes={self.bytes:g}, parent={self.parent!r})"


class Frame:
    """One invocation of a component while it runs: its name, depth, whether it is a thin wrapper
    of one fused kernel (``mx.fast`` calls inside it are not components of their own), and the
    analytic cost its nested components add up to."""

    __slots__ = ("name", "depth", "wrapper", "flops", "bytes")

    def __init__(self, name, depth, wrapper=False):
        self.name, self.depth, self.wrapper, self.flops, self.bytes = name, depth, wrapper, 0.0, 0.0


def current_frame():
    """The innermost component being called, or None (also None inside a duplicate's copies)."""
    return None if _PASSTHROUGH.get() else _FRAME.get()


def passing_through() -> bool:
    """True inside the copies of a duplicated component, where nested components just run."""
    return _PASSTHROUGH.get()


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
        self.parent_mismatch: set = set()
        # Component mode: (start, component, block, duration); pushed in start order at the end
        # (a parent's event ends after its children's but starts before them).
        self.pending: list = []
        self.t0 = time.perf_counter_ns()

    def start_clock(self) -> None:
        """Restarts the clock (right before the forward)."""
        self.t0 = time.perf_counter_ns()

    def _reduced(self, out) -> list:
        arrays = arrays_of(out)
        self.reduced_bytes += sum(a.nbytes for a in arrays)
        self.reduced_arrays += len(arrays)
        return [_first_element_sum(a) for a in arrays]

    def stage(self, name: str, fn, args=(), kwargs=None, block=None, flops=None, bytes=None, cost=None,
              depth=None, wrapper=False, state=None):
        """Runs ``fn(*args, **kwargs)`` as one invocation of component ``name``.

        ``flops``/``bytes``: numbers or functions of the arguments; ``cost``: instead, a function
        of the output returning ``(flops, bytes)``; either way the analytic costs of nested
        components are added when the component gives none of its own. ``depth``: its level
        (default: one below the enclosing component). ``wrapper``: it is one fused kernel
        (``mx.fast`` calls inside are not separate components). ``state``: objects the call
        mutates (a KV cache), or a function returning them: when this component is duplicated, every copy starts from the
        state the real call started from, and the real call's end state is put back after.
        """
        kwargs = kwargs or {}
        if _PASSTHROUGH.get():
            return fn(*args, **kwargs)
        if block is None:
            block = _BLOCK.get()
        outer = _FRAME.get()
        parent = outer.name if outer is not None else None
        frame = Frame(name, depth if depth is not None else (outer.depth + 1 if outer is not None else 1), wrapper)
        inflated = self.inflate[1] if self.inflate and self.inflate[0] == name else 0
        duplicating = (self.mode == "attributed" and isinstance(self.perturb, tuple)
                       and self.perturb[0] == "duplicate" and self.perturb[1] == name)
        snapshots = None
        if duplicating and state:
            from . import state as _state
            state = state() if callable(state) else state
            snapshots = _state.snapshot(state) if state else None

        def copy_work():
            tok = _PASSTHROUGH.set(True)
            try:
                return fn(*args, **kwargs)
            finally:
                _PASSTHROUGH.reset(tok)

        def work():
            ftok = _FRAME.set(frame)
            btok = _BLOCK.set(block) if block is not None else None
            try:
                out = fn(*args, **kwargs)
            finally:
                if btok is not None:
                    _BLOCK.reset(btok)
                _FRAME.reset(ftok)
            own = []
            for _ in range(inflated):
                own.extend(_first_element_sum(a) for a in arrays_of(copy_work()))
            return out, own

        start = time.perf_counter_ns()
        out, extras = work()
        arrays: list = []
        rebuild = _flatten(out, arrays)
        if cost is not None:
            cost_f, cost_b = cost(out)
        else:
            cost_f = float(flops(*args, **kwargs) if callable(flops) else flops or 0.0)
            cost_b = float(bytes(*args, **kwargs) if callable(bytes) else bytes or 0.0)
        # A component with no analytic cost of its own costs what its nested components do.
        cost_f = float(cost_f) or frame.flops
        cost_b = float(cost_b) or frame.bytes
        if outer is not None:
            outer.flops += cost_f
            outer.bytes += cost_b
        s = self.stages.get(name)
        if s is None:
            self.stages[name] = Stage(name, cost_f, cost_b, sum(a.nbytes for a in arrays), parent, frame.depth)
        else:
            s.add_call(cost_f, cost_b)
            if s.parent != parent:
                self.parent_mismatch.add(name)
        if self.mode == "component":
            mx.eval(arrays + extras)
            end = time.perf_counter_ns()
            if self.run is not None:
                cid = self.run.component(name, cost_f, cost_b, parent=parent)
                self.pending.append((start - self.t0, cid, block, end - start))
            return out
        if self.mode == "attributed" and arrays:
            if self.perturb == "control":
                extras.extend(self._reduced(out))
            elif duplicating:
                from . import state as _state
                after = _state.snapshot(state) if snapshots is not None else None
                for _ in range(self.perturb[2]):
                    if snapshots is not None:
                        _state.restore(snapshots)
                    copy = copy_work()
                    for _ in range(inflated):
                        extras.extend(_first_element_sum(a) for a in arrays_of(copy_work()))
                    extras.extend(self._reduced(copy))
                if after is not None:
                    _state.restore(after)
        if extras and arrays:
            return rebuild(iter(mx.depends(arrays, extras)))
        return out

    def flush_events(self) -> None:
        """Component mode: pushes the collected events into the run, in start order."""
        if self.run is not None:
            for start, cid, block, duration in sorted(self.pending, key=lambda e: e[0]):
                self.run.push_event(cid, block, start, duration)
        self.pending = []


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


class Site:
    """A component's name with its options, for :func:`mark`: every keyword argument of ``mark``
    then goes to the marked function, whatever its name."""

    __slots__ = ("name", "flops", "bytes", "block")

    def __init__(self, name: str, *, flops=None, bytes=None, block=None):
        self.name, self.flops, self.bytes, self.block = str(name), flops, bytes, block

    def __repr__(self):
        return f"Site({self.name!r})"


def site(name: str, *, flops=None, bytes=None, block=None) -> Site:
    """``mark(site("attn/qkv", flops=...), fn, x, block=3)``: the options ride with the name, so
    ``block=3`` (or ``flops``, ``bytes``) reaches ``fn``."""
    return Site(name, flops=flops, bytes=bytes, block=block)


_OPTIONS = ("flops", "bytes", "block")


def _accepts(fn, keyword: str) -> bool:
    """Whether ``fn`` takes a keyword argument named ``keyword`` (explicitly or through
    ``**kwargs``). Functions whose signature cannot be read (built-ins) are taken not to."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            return True
        if p.name == keyword and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            return True
    return False


def mark(name, fn, *args, **kwargs):
    """Calls ``fn(*args, **kwargs)`` as an invocation of component ``name``.

    ``name``: the component's name, or a :func:`site` carrying it with its options.

    With a plain name, ``flops=``, ``bytes=`` and ``block=`` are this function's options unless
    ``fn`` itself takes a keyword argument of that name (or ``**kwargs``): then they are passed to
    ``fn``, and the options go in a :func:`site`. ``flops``/``bytes``: the analytic cost of one
    invocation (numbers, or functions of the same arguments); optional, used by the analyzer to
    place the component against the machine's ceilings. ``block``: the block index (default:
    the enclosing :func:`block`).
    """
    if isinstance(name, Site):
        opts = {"flops": name.flops, "bytes": name.bytes, "block": name.block}
        name = name.name
    else:
        opts = {k: None for k in _OPTIONS}
        for k in _OPTIONS:
            if k in kwargs and not _accepts(fn, k):
                opts[k] = kwargs.pop(k)
    probe = _PROBE.get()
    if probe is None:
        return fn(*args, **kwargs)
    return probe.stage(name, fn, args, kwargs, block=opts["block"], flops=opts["flops"], bytes=opts["bytes"])


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
