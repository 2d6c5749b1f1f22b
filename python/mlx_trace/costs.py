"""Analytic costs (FLOPs, minimum bytes) of the layers whose cost follows from shapes.

Each function takes the call's arguments and output and returns ``(flops, bytes)`` for one
invocation: a multiply-add counts 2 FLOPs; the bytes are the weights, inputs read and outputs
written once. They are what the analyzer's roofline places a component against; nothing is
evaluated, except an attention mask given as an array (see :func:`sdpa`).

:func:`module_cost` picks the formula for an ``mlx.nn`` module (``Linear``, ``QuantizedLinear``,
``Embedding`` and its ``as_linear``, mlx-lm's ``SwitchLinear`` with top-k indices, norms,
``RoPE``, convolutions); :data:`FAST` those of the ``mx.fast`` functions. Anything else has no
formula of its own (0, 0): a module then costs what its instrumented children add up to.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn


def _arrays(values) -> list:
    out = []
    for v in values:
        if isinstance(v, mx.array):
            out.append(v)
        elif isinstance(v, (tuple, list)):
            out.extend(_arrays(v))
    return out


def _nbytes(values) -> float:
    return float(sum(a.nbytes for a in _arrays(values)))


def _params_bytes(module) -> float:
    """Bytes of the module's own arrays (weights, scales, biases), not its children's."""
    total = 0
    for v in module.values():
        if isinstance(v, mx.array):
            total += v.nbytes
    return float(total)


def linear(module, x, out) -> tuple:
    """``y = x W^T (+ b)``, also quantized: the reduction size is ``x``'s last axis."""
    flops = 2.0 * out.size * x.shape[-1]
    if "bias" in module:
        flops += out.size
    return flops, _params_bytes(module) + x.nbytes + out.nbytes


def embedding(module, ids, out) -> tuple:
    """A gather of rows: no arithmetic (quantized: the dequantization, 2 per element)."""
    rows = module["weight"].shape[0] or 1
    read = _params_bytes(module) * ids.size / rows
    flops = 2.0 * out.size if "scales" in module else 0.0
    return flops, read + ids.nbytes + out.nbytes


def switch_linear(module, x, indices, out) -> tuple:
    """mlx-lm's ``SwitchLinear``/``QuantizedSwitchLinear``: every token's top-k experts, each a
    linear map; the bytes count the experts that ``indices`` can reach at most
    (``min(experts, indices.size)``), since which ones are used is only known once evaluated."""
    experts = module["weight"].shape[0] or 1
    flops = 2.0 * out.size * x.shape[-1]
    touched = min(experts, indices.size)
    return flops, _params_bytes(module) * touched / experts + x.nbytes + indices.nbytes + out.nbytes


def norm(x, weight_bytes, per_element) -> tuple:
    return float(per_element) * x.size, 2.0 * x.nbytes + weight_bytes


def rope(x, dims) -> tuple:
    """Rotating ``dims`` of the last axis: 3 FLOPs per rotated element (two products, a sum)."""
    d = x.shape[-1] or 1
    return 3.0 * x.size * min(dims, d) / d, 2.0 * x.nbytes


_MASK_FRACTION: dict = {}


def _visible_fraction(mask) -> float:
    """The fraction of (query, key) pairs an array mask lets through. This evaluates the mask:
    it is done once per mask shape and dtype, on the first forward (a warm-up by default)."""
    key = (tuple(mask.shape), str(mask.dtype))
    f = _MASK_FRACTION.get(key)
    if f is None:
        visible = mask if mask.dtype == mx.bool_ else mask > -1e30
        f = float(visible.astype(mx.float32).mean().item())
        _MASK_FRACTION[key] = f
    return f


def sdpa(q, k, v, mask=None) -> tuple:
    """``softmax(q k^T * scale + mask) v`` over the pairs the mask lets through: all for no mask,
    the lower triangle (aligned to the last key) for ``"causal"``, the array's visible fraction
    for a mask array (a sliding window's band)."""
    B, Hq, Lq, D = q.shape
    Lk, Dv = k.shape[-2], v.shape[-1]
    if mask is None:
        pairs = Lq * Lk
    elif isinstance(mask, str):
        past = max(Lk - Lq, 0)
        pairs = Lq * past + Lq * (Lq + 1) / 2 if mask == "causal" else Lq * Lk
    elif isinstance(mask, mx.array):
        pairs = Lq * Lk * _visible_fraction(mask)
    else:
        pairs = Lq * Lk
    flops = B * Hq * pairs * (2.0 * D + 2.0 * Dv + 5.0)
    moved = q.nbytes + k.nbytes + v.nbytes + 1.0 * B * Hq * Lq * Dv * q.dtype.size
    if isinstance(mask, mx.array):
        moved += mask.nbytes
    return flops, moved


def conv(module, x, out, transpose=False) -> tuple:
    """Convolutions: weight ``[out, *kernel, in / groups]``; 2 FLOPs per weight tap per output
    element (per input element for a transposed convolution)."""
    w = module["weight"]
    taps = math.prod(w.shape[1:-1]) * w.shape[-1]
    if transpose:
        flops = 2.0 * (x.size / (x.shape[-1] or 1)) * taps * w.shape[0]
    else:
        flops = 2.0 * (out.size / (out.shape[-1] or 1)) * taps * w.shape[0]
    return flops, _params_bytes(module) + x.nbytes + out.nbytes


def _arg(args, kwargs, i, name, default=None):
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


# --- the mx.fast functions ------------------------------------------------------------------------

def _fast_sdpa(args, kwargs, out):
    return sdpa(_arg(args, kwargs, 0, "q"), _arg(args, kwargs, 1, "k"), _arg(args, kwargs, 2, "v"), kwargs.get("mask"))


def _fast_rms_norm(args, kwargs, out):
    x, w = _arg(args, kwargs, 0, "x"), _arg(args, kwargs, 1, "weight")
    return norm(x, w.nbytes if isinstance(w, mx.array) else 0, 4)


def _fast_layer_norm(args, kwargs, out):
    x = _arg(args, kwargs, 0, "x")
    return norm(x, _nbytes([_arg(args, kwargs, 1, "weight"), _arg(args, kwargs, 2, "bias")]), 8)


def _fast_rope(args, kwargs, out):
    return rope(_arg(args, kwargs, 0, "a"), _arg(args, kwargs, 1, "dims"))


#: ``mx.fast`` function name -> (component label, cost function of (args, kwargs, out)).
FAST = {
    "scaled_dot_product_attention": ("sdpa", _fast_sdpa),
    "rms_norm": ("rms_norm", _fast_rms_norm),
    "layer_norm": ("layer_norm", _fast_layer_norm),
    "rope": ("rope", _fast_rope),
}


# --- modules --------------------------------------------------------------------------------------

def _is(module, *names) -> bool:
    """Class-name match along the MRO, for layers of packages not imported here (mlx-lm)."""
    return any(c.__name__ in names for c in type(module).__mro__)


def module_cost(module, method, args, kwargs, out):
    """``(flops, bytes)`` of one call of ``module.method`` (``__call__`` or ``as_linear``), or
    None where no formula applies."""
    if not isinstance(out, mx.array):
        return None
    x = _arg(args, kwargs, 0, "x")
    if not isinstance(x, mx.array):
        return None
    if method == "as_linear":
        return linear(module, x, out)
    if _is(module, "SwitchLinear", "QuantizedSwitchLinear"):
        idx = _arg(args, kwargs, 1, "indices")
        return switch_linear(module, x, idx, out) if isinstance(idx, mx.array) else None
    if isinstance(module, (nn.Linear, nn.QuantizedLinear)) or _is(module, "Linear", "QuantizedLinear"):
        return linear(module, x, out)
    if isinstance(module, (nn.Embedding, nn.QuantizedEmbedding)):
        return embedding(module, x, out)
    if isinstance(module, nn.RMSNorm):
        return norm(x, _params_bytes(module), 4)
    if isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
        return norm(x, _params_bytes(module), 8)
    if isinstance(module, nn.RoPE):
        return rope(x, module.dims)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return conv(module, x, out)
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        return conv(module, x, out, transpose=True)
    return None


def is_kernel_wrapper(module) -> bool:
    """A module that is one fused kernel (a norm, a rotary embedding): an ``mx.fast`` call inside
    it is the module itself, not a component of its own."""
    if any(True for _ in _child_modules(module)):
        return False
    if type(module).__module__.startswith("mlx.nn"):
        return True
    name = type(module).__name__.lower()
    return "norm" in name or "rope" in name or "rotary" in name


def _child_modules(module):
    for v in module.values():
        if isinstance(v, nn.Module):
            yield v
        elif isinstance(v, (list, tuple)):
            for e in v:
                if isinstance(e, nn.Module):
                    yield e
        elif isinstance(v, dict):
            for e in v.values():
                if isinstance(e, nn.Module):
                    yield e
