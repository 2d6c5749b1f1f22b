"""Instrumenting a live ``mlx.nn.Module`` tree, with no change to the model's code, and undoing it.

``instrument(model)`` makes every module of the tree (below the root, which is the forward
itself) a component, named from its path:

- ``model.layers.3.self_attn.q_proj`` is component ``self_attn/q_proj`` of block 3: the first
  list on the path (``layers``, ``h``, ``blocks``, ...) gives the block index, and what comes
  before it is dropped, so every layer's ``q_proj`` is one component. The block's own module is
  named after its list (``layers``). If the tree has more than one such list (an encoder's and a
  decoder's), the path before the index is kept (``encoder/layers/self_attn``). Indices of lists
  inside a block (experts) are dropped: their modules are one component called several times.
- Outside the blocks, the path itself: ``model/embed_tokens``, ``model/norm``, ``lm_head``.
- Calls through other methods: ``Embedding.as_linear`` (a tied output head) is component
  ``model/embed_tokens.as_linear``.
- The ``mx.fast`` functions the code calls (``scaled_dot_product_attention``, ``rms_norm``,
  ``layer_norm``, ``rope``) are components named under the module that calls them
  (``self_attn/sdpa``), also where a model file imported them by name; not inside a module that
  is just that kernel (``nn.RMSNorm`` calling ``mx.fast.rms_norm`` is one component).

Components nest as the calls do: each is attributed as a whole, and its *self* cost is its cost
less that of the components it calls (docs/instrumenting.md). ``depth`` keeps the levels up to
that depth (1: the root's children); ``filter(path, module)`` keeps the modules it returns True
for.

Undoing restores every module's class, ``mx.fast``'s functions and the model files' globals
(:meth:`Instrumentation.undo`, or the end of the ``with`` block).
"""

from __future__ import annotations

import functools
import sys
import threading

import mlx.core as mx
import mlx.nn as nn

from . import costs as _costs
from . import state as _state
from .probe import _PROBE, current_frame, passing_through

#: Methods other than ``__call__`` that are components of their own, by class.
EXTRA_METHODS = {nn.Embedding: ("as_linear",), nn.QuantizedEmbedding: ("as_linear",)}

_LOCK = threading.Lock()
_ACTIVE = None  # the one Instrumentation in force (mx.fast is patched process-wide)


class CompiledError(RuntimeError):
    """The forward, or a module's ``__call__``, is an ``mx.compile``d function: its graph is
    replayed without running the Python code the instrumentation sees."""


COMPILED_HELP = (
    "mx.compile traces a function once and then replays its graph without running its Python code, so the "
    "recorder cannot see or duplicate the modules inside it. Record the uncompiled model: pass the module itself "
    "(not mx.compile(model) or a compiled forward), and compile afterwards. The fused forward of the uncompiled "
    "model is what gets attributed; a compiled model's speed-up is its own measurement (record both with mode "
    "'none' through Recorder.record to compare).")


def is_compiled(fn) -> bool:
    """Whether ``fn`` is (or wraps: partial, bound method, ``__wrapped__``) an ``mx.compile``d function."""
    seen = 0
    while fn is not None and seen < 8:
        t = type(fn)
        if t.__name__ == "gc_func" and t.__module__.split(".")[0] == "mlx":
            return True
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif hasattr(fn, "__func__"):
            fn = fn.__func__
        elif hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
        else:
            return False
        seen += 1
    return False


class Node:
    """One instrumented module: its component name, block index, depth and dotted path."""

    __slots__ = ("module", "path", "name", "block", "depth", "wrapper")

    def __init__(self, module, path, name, block, depth, wrapper):
        self.module, self.path, self.name, self.block, self.depth, self.wrapper = module, path, name, block, depth, wrapper

    def __repr__(self):
        return f"Node({self.name!r}, block={self.block}, depth={self.depth}, path={self.path!r})"


def _children(module):
    """``(segment, is_index, child)`` for the module's direct sub-modules, in order."""
    for key, v in module.items():
        if isinstance(v, nn.Module):
            yield [(key, False)], v
        elif isinstance(v, (list, tuple)):
            for i, e in enumerate(v):
                if isinstance(e, nn.Module):
                    yield [(key, False), (str(i), True)], e
        elif isinstance(v, dict):
            for k, e in v.items():
                if isinstance(e, nn.Module):
                    yield [(key, False), (str(k), False)], e


def walk(root) -> list:
    """Every module below ``root`` once, as ``(module, segments)`` in depth-first order, where
    ``segments`` is ``[(name, is_index), ...]``; a module's descendants are skipped when its
    ``__call__`` is compiled (their code never runs after the first call)."""
    out, seen = [], {id(root)}

    def rec(m, prefix):
        for segs, child in _children(m):
            if id(child) in seen:
                continue
            seen.add(id(child))
            path = prefix + segs
            out.append((child, path))
            if not is_compiled(type(child).__call__):
                rec(child, path)

    rec(root, [])
    return out


def _name(segs, keep_prefix: bool):
    """Component name, block index and depth of a module path (see the module doc)."""
    depth = sum(1 for _, ix in segs if not ix)
    first = next((i for i, (_, ix) in enumerate(segs) if ix), None)
    if first is None:
        return "/".join(s for s, _ in segs), None, depth
    block = int(segs[first][0])
    prefix = [s for s, ix in segs[:first] if not ix]
    rest = [s for s, ix in segs[first + 1:] if not ix]
    if keep_prefix:
        return "/".join(prefix + rest), block, depth
    return "/".join(rest) if rest else prefix[-1], block, depth


def _shapes(values):
    key = []
    for v in values:
        if isinstance(v, mx.array):
            key.append((tuple(v.shape), v.dtype))
        elif isinstance(v, (str, int, float, type(None))):
            key.append(v)
        elif isinstance(v, (tuple, list)):
            key.append(_shapes(v))
        else:
            key.append(type(v).__name__)
    return tuple(key)


class Instrumentation:
    """The instrumentation of one module tree; :meth:`undo` (or leaving ``with``) removes it."""

    def __init__(self, model, *, depth=None, filter=None, fast=True):
        if is_compiled(model):  # before isinstance: a compiled module passes isinstance(..., nn.Module)
            raise CompiledError("the model is an mx.compile'd function, not the nn.Module itself. " + COMPILED_HELP)
        if not isinstance(model, nn.Module):
            raise TypeError(f"instrument: expected an mlx.nn.Module, got {type(model).__name__}")
        if is_compiled(type(model).__call__):
            raise CompiledError(f"{type(model).__name__}.__call__ is an mx.compile'd function. " + COMPILED_HELP)
        if depth is not None and depth < 1:
            raise ValueError(f"depth must be at least 1 (the root's children), got {depth}")
        self.model = model
        self.depth = depth
        self.fast = fast
        self.nodes: dict[int, Node] = {}
        self._classes: list = []  # (module, original class)
        self._globals: list = []  # (namespace dict, name, original)
        self._fast: dict = {}  # name -> original
        self._cost_memo: dict = {}
        self.active = False

        modules = walk(model)
        lists = {tuple(s for s, _ in segs[:i]) for _, segs in modules for i, (_, ix) in enumerate(segs) if ix and not any(x for _, x in segs[:i])}
        keep_prefix = len(lists) > 1
        for module, segs in modules:
            if isinstance(type(module), type) and getattr(type(module), "_mlx_trace_original", None) is not None:
                raise RuntimeError("the model is already instrumented (undo the other instrumentation first)")
            name, block, d = _name(segs, keep_prefix)
            path = ".".join(s for s, _ in segs)
            if depth is not None and d > depth:
                continue
            if filter is not None and not filter(path, module):
                continue
            self.nodes[id(module)] = Node(module, path, name, block, d, _costs.is_kernel_wrapper(module))
        self._apply()

    # -- applying and undoing ----------------------------------------------------------------------
    def _apply(self) -> None:
        global _ACTIVE
        with _LOCK:
            if _ACTIVE is not None:
                raise RuntimeError("another model is instrumented: undo it first (mx.fast is patched process-wide)")
            _ACTIVE = self
        try:
            subclasses: dict = {}
            for node in self.nodes.values():
                cls = type(node.module)
                sub = subclasses.get(cls)
                if sub is None:
                    sub = subclasses[cls] = self._subclass(cls)
                # Python looks special methods such as __call__ up on the class, never on the
                # instance, so an instance attribute would be ignored; patching the class itself
                # would instrument every instance in the process (other models, other threads)
                # and would need undoing in exactly the right order when classes are shared. A
                # per-class subclass swapped in as this instance's __class__ touches only the
                # instances of this tree, keeps isinstance() and the class's name, and is undone
                # by putting the original class back.
                node.module.__class__ = sub
                self._classes.append((node.module, cls))
            if self.fast:
                self._patch_fast()
            self.active = True
        except BaseException:
            self.undo()
            raise

    def _subclass(self, cls):
        # No new instance layout (__slots__ empty), so __class__ can be swapped even for slotted classes.
        ns = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "_mlx_trace_original": cls, "__slots__": ()}
        ns["__call__"] = self._hook("__call__", cls.__call__)
        for base, methods in EXTRA_METHODS.items():
            if issubclass(cls, base):
                for m in methods:
                    ns[m] = self._hook(m, getattr(cls, m))
        return type(cls.__name__, (cls,), ns)

    def _hook(self, method, original):
        nodes, memo = self.nodes, self._cost_memo

        def hooked(module, *args, **kwargs):
            probe = _PROBE.get()
            node = nodes.get(id(module))
            if probe is None or node is None or passing_through():
                return original(module, *args, **kwargs)
            name = node.name if method == "__call__" else f"{node.name}.{method}"

            def cost(out):
                key = (name, node.block, _shapes(args), _shapes(kwargs.values()))
                c = memo.get(key)
                if c is None:
                    c = memo[key] = _costs.module_cost(module, method, args, kwargs, out) or (0.0, 0.0)
                return c

            return probe.stage(name, original, (module,) + args, kwargs, block=node.block, cost=cost,
                               depth=node.depth, wrapper=node.wrapper and method == "__call__",
                               state=lambda: _state.find((args, kwargs)))

        hooked.__name__ = method
        hooked._mlx_trace_hook = True
        return hooked

    def _patch_fast(self) -> None:
        originals = {n: getattr(mx.fast, n) for n in _costs.FAST if hasattr(mx.fast, n)}
        hooks = {n: self._fast_hook(n, f) for n, f in originals.items()}
        self._fast = originals
        for n, h in hooks.items():
            setattr(mx.fast, n, h)
        # Model files that imported a function by name (`from mlx.core.fast import rope`) hold
        # the original in their globals: those names are replaced too, and put back by undo.
        by_id = {id(f): n for n, f in originals.items()}
        files = {type(self.model).__module__}
        files.update(getattr(type(n.module), "_mlx_trace_original", type(n.module)).__module__ for n in self.nodes.values())
        for mod_name in files:
            mod = sys.modules.get(mod_name)
            if mod is None:
                continue
            ns = vars(mod)
            for k, v in list(ns.items()):
                n = by_id.get(id(v))
                if n is not None and v is originals[n]:
                    ns[k] = hooks[n]
                    self._globals.append((ns, k, v))

    def _fast_hook(self, fname, original):
        label, cost_fn = _costs.FAST[fname]
        memo, limit = self._cost_memo, self.depth

        def hooked(*args, **kwargs):
            probe = _PROBE.get()
            if probe is None or passing_through() or not self.active:
                return original(*args, **kwargs)
            frame = current_frame()
            if frame is not None and frame.wrapper:
                return original(*args, **kwargs)
            d = frame.depth + 1 if frame is not None else 1
            if limit is not None and d > limit:
                return original(*args, **kwargs)
            name = f"{frame.name}/{label}" if frame is not None else label

            def cost(out):
                key = (name, _shapes(args), _shapes([kwargs.get("mask")]))
                c = memo.get(key)
                if c is None:
                    c = memo[key] = cost_fn(args, kwargs, out)
                return c

            return probe.stage(name, original, args, kwargs, cost=cost, depth=d, wrapper=True)

        hooked.__name__ = fname
        hooked._mlx_trace_hook = True
        return hooked

    def undo(self) -> None:
        """Puts back every module's class, ``mx.fast``'s functions and the patched globals."""
        global _ACTIVE
        self.active = False
        for module, cls in reversed(self._classes):
            module.__class__ = cls
        self._classes = []
        for n, f in self._fast.items():
            setattr(mx.fast, n, f)
        self._fast = {}
        for ns, k, v in reversed(self._globals):
            ns[k] = v
        self._globals = []
        with _LOCK:
            if _ACTIVE is self:
                _ACTIVE = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.undo()
        return False

    def components(self) -> list:
        """The instrumented modules' component names (``mx.fast`` components appear only when
        the forward runs)."""
        return sorted({n.name for n in self.nodes.values()})


def instrument(model, *, depth=None, filter=None, fast=True) -> Instrumentation:
    """Instruments ``model``'s module tree (see the module doc); use as a context manager or call
    ``undo()`` on the result."""
    return Instrumentation(model, depth=depth, filter=filter, fast=fast)


def is_instrumented(model) -> bool:
    """Whether any module of ``model``'s tree still carries instrumentation, or ``mx.fast`` is
    patched."""
    for m, _ in [(model, None)] + walk(model):
        if getattr(type(m), "_mlx_trace_original", None) is not None:
            return True
    return any(getattr(getattr(mx.fast, n, None), "_mlx_trace_hook", False) for n in _costs.FAST)
