"""mlx-trace for Python: instrument any MLX model's forward and write traces ``mlx-analyze`` reads.

Any ``mlx.nn.Module``, with no change to its code:

```python
import mlx_trace as mt                      # import before mlx.core on Linux: fast BLAS (see machine)
path = mt.profile(model, tokens, out="model.msgpack")   # then: mlx-analyze model.msgpack
```

Your own functions, marked by hand:

```python
import mlx_trace as mt
import mlx.core as mx

@mt.component("layer/mlp/up", flops=lambda x: 2 * x.size * 4 * x.shape[-1])
def up(x): ...

with mt.Recorder("my.msgpack", model="my-model", dtype="f32") as rec:
    rec.calibrate()
    rec.record(lambda: model(x), tokens=x.shape[1], modes=("none", "attributed", "component"))
```

Modules: :mod:`mlx_trace.profiling` and :mod:`mlx_trace.instrument` (a module tree as
components), :mod:`mlx_trace.probe` (marking and timing components), :mod:`mlx_trace.recorder`
(the recording loop and the attribution schedule), :mod:`mlx_trace.format` (the file format),
:mod:`mlx_trace.attribution` (costs and self times from a trace, in Python),
:mod:`mlx_trace.estimate` (the analyzer's estimator: slow runs, drift, intervals),
:mod:`mlx_trace.stopping` (when a recording has enough repetitions),
:mod:`mlx_trace.analyze` (the ``mlx-analyze`` binary), :mod:`mlx_trace.lm` (mlx-lm models),
:mod:`mlx_trace.machine` (metadata), :mod:`mlx_trace.calibrate`, :mod:`mlx_trace.demo`.
"""

__version__ = "0.1.0"

import os as _os
import sys as _sys

from . import machine as _machine

if "mlx.core" not in _sys.modules:
    _machine.prefer_openblas()
    # Every perturbation of an attributed recording is a differently shaped graph: with MLX's
    # default CUDA graph cache (400 entries) the Rust recorder's 40-block runs stopped with
    # "Cache thrashing is happening". MLX reads the variable when it starts; a user's value wins.
    _os.environ.setdefault("MLX_CUDA_GRAPH_CACHE_SIZE", "10000")

from .format import FORMAT_VERSION, MODES, TraceError, read_trace  # noqa: E402
from .probe import Probe, block, component, current_probe, mark, site  # noqa: E402
from .recorder import Recorder, attribution_round  # noqa: E402
from .instrument import CompiledError, instrument  # noqa: E402
from .profiling import profile  # noqa: E402
from .state import StateError  # noqa: E402
from .attribution import costs, tree  # noqa: E402
from .analyze import analyze, find_analyzer, tables  # noqa: E402

__all__ = [
    "FORMAT_VERSION", "MODES", "CompiledError", "Probe", "Recorder", "StateError", "TraceError", "analyze",
    "attribution_round", "block", "component", "costs", "current_probe", "find_analyzer", "instrument", "mark",
    "profile", "read_trace", "site", "tables", "tree",
]
