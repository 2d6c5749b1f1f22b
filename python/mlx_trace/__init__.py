"""mlx-trace for Python: instrument any MLX model's forward and write traces ``mlx-analyze`` reads.

```python
import mlx_trace as mt                      # import before mlx.core on Linux: fast BLAS (see machine)
import mlx.core as mx

@mt.component("layer/mlp/up", flops=lambda x: 2 * x.size * 4 * x.shape[-1])
def up(x): ...

with mt.Recorder("my.msgpack", model="my-model", dtype="f32") as rec:
    rec.calibrate()
    rec.record(lambda: model(x), tokens=x.shape[1], modes=("none", "attributed", "component"))
```

Modules: :mod:`mlx_trace.probe` (marking and timing components), :mod:`mlx_trace.recorder`
(the recording loop and the attribution schedule), :mod:`mlx_trace.format` (the file format),
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
from .probe import Probe, block, component, current_probe, mark  # noqa: E402
from .recorder import Recorder, attribution_round  # noqa: E402

__all__ = [
    "FORMAT_VERSION", "MODES", "Probe", "Recorder", "TraceError", "attribution_round", "block",
    "component", "current_probe", "mark", "read_trace",
]
