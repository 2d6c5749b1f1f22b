"""Mutable state passed to a forward (KV caches): found, snapshot and put back.

A forward that receives a cache object writes into it: mlx-lm's ``KVCache.update_and_fetch``
appends the new keys and values (in place, by slice assignment into its buffer) and advances
``offset``. Recorded as is, every timed forward and every copy of a duplicated attention would
advance the cache again. The recorder therefore snapshots every such object before a forward and
puts the snapshot back after it, and a duplicated component's copies each start from the state
its real call started from.

What counts as state: any object among the arguments (inside lists, tuples and dicts) that is
not an array, a module, a number, a string or None and has a ``__dict__`` (mlx-lm's caches, a
user's own). A snapshot holds the attribute values, with every array replaced by a new handle
to the same data: MLX's slice assignment (``a[i] = v``) replaces the data of the handle it is
given, so the snapshot's handles keep the old data. An object without a ``__dict__`` cannot be
snapshot and is refused with the reason.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

_PLAIN = (int, float, complex, str, bytes, bool, type(None))


class StateError(TypeError):
    """State passed to a forward that the recorder cannot snapshot and restore."""


def _is_state(v) -> bool:
    if isinstance(v, (mx.array, nn.Module) + _PLAIN) or callable(v) and not hasattr(v, "__dict__"):
        return False
    if isinstance(v, (tuple, list, dict, set, frozenset)):
        return False
    return True


def find(values) -> list:
    """The state objects among ``values`` (searched through lists, tuples and dicts), each once."""
    out, seen = [], set()

    def walk(v, depth=0):
        if depth > 8:
            return
        if isinstance(v, (list, tuple)):
            for e in v:
                walk(e, depth + 1)
        elif isinstance(v, dict):
            for e in v.values():
                walk(e, depth + 1)
        elif _is_state(v) and id(v) not in seen:
            if not hasattr(v, "__dict__"):
                raise StateError(
                    f"the forward is given a {type(v).__name__} object, which the recorder cannot snapshot and "
                    "restore (it has no __dict__): every timed forward and every duplicate would change it. Pass "
                    "no cache (a prefill from empty is cache=None), or give the recorder a forward that builds a "
                    "fresh one each time")
            seen.add(id(v))
            out.append(v)

    walk(values)
    return out


def _copy(v, depth=0):
    if isinstance(v, mx.array):
        return mx.array(v)  # a new handle to the same data
    if depth > 8:
        return v
    if isinstance(v, list):
        return [_copy(e, depth + 1) for e in v]
    if isinstance(v, tuple) and type(v) is tuple:
        return tuple(_copy(e, depth + 1) for e in v)
    if isinstance(v, dict) and type(v) is dict:
        return {k: _copy(e, depth + 1) for k, e in v.items()}
    if _is_state(v) and hasattr(v, "__dict__") and not isinstance(v, type):
        # A nested state object (a list of caches inside a cache): snapshot its attributes too.
        return _Nested(v, {k: _copy(e, depth + 1) for k, e in vars(v).items()})
    return v


class _Nested:
    __slots__ = ("obj", "attrs")

    def __init__(self, obj, attrs):
        self.obj, self.attrs = obj, attrs


def _fresh(v):
    """The snapshot's value with new array handles (so a later in-place write cannot reach it)."""
    if isinstance(v, mx.array):
        return mx.array(v)
    if isinstance(v, list):
        return [_fresh(e) for e in v]
    if isinstance(v, tuple) and type(v) is tuple:
        return tuple(_fresh(e) for e in v)
    if isinstance(v, dict) and type(v) is dict:
        return {k: _fresh(e) for k, e in v.items()}
    if isinstance(v, _Nested):
        _put(v.obj, v.attrs)
        return v.obj
    return v


def _put(obj, attrs: dict) -> None:
    d = vars(obj)
    d.clear()
    d.update({k: _fresh(e) for k, e in attrs.items()})


def snapshot(objects) -> list:
    """``[(object, attributes)]``: each object's attributes as they are now."""
    return [(o, {k: _copy(v) for k, v in vars(o).items()}) for o in objects]


def restore(snap) -> None:
    """Puts every object of ``snap`` back to its snapshot (repeatable)."""
    for obj, attrs in snap:
        _put(obj, attrs)
