"""The mlx-trace file format, version 1 (docs/trace-format.md), written and read from Python.

A trace is a file of concatenated MessagePack values: a header, then records (calibration, run,
setup), then an end marker. Structs are maps keyed by field name, enums are one-key maps
(``{"Run": {...}}``), events are ``[component, block, start_delta_ns, duration_ns]`` arrays.
The values written here decode with the Rust crate ``trace-format`` exactly as the Rust
recorder's do: integer fields are integers, float fields are floats, nothing is left out.

The file is written as ``NAME.partial``, created exclusively, flushed and fsync'ed after every
record, and renamed to ``NAME`` by :meth:`TraceFile.finish`; an interrupted recording leaves a
``.partial`` that ``mlx-analyze`` reads.
"""

from __future__ import annotations

import os
import stat

import msgpack

MAGIC = "mlx-trace"
FORMAT_VERSION = 1

#: Synchronisation modes the Python recorder records.
MODES = ("none", "component", "attributed")
#: Perturbation kinds of attributed runs.
PERTURB_KINDS = ("reference", "control", "duplicate")

# Field names and kinds of the structs, in the Rust crate's order. "i": integer, "f": float,
# "s": string, "b": bool; anything else is given as is.
_MODEL_FIELDS = {
    "dim": "i", "heads": "i", "head_dim": "i", "blocks": "i", "preset_blocks": "i", "ffn_dim": "i",
    "text_dim": "i", "text_len": "i", "freq_dim": "i", "in_dim": "i", "out_dim": "i", "camera": "b",
    "patch": None, "eps": "f",
}
_METADATA_FIELDS = {
    "host": "s", "os": "s", "cpu_model": "s", "cpu_cores": "i", "ram_bytes": "i", "gpu_name": None,
    "gpu_memory_bytes": None, "mlx_version": "s", "backend": "s", "blas": "s", "dtype": "s",
    "preset": "s", "model": None, "height": "i", "width": "i", "weights": "s", "seed": "i",
    "recorder_version": "s", "git_commit": "s", "command_line": "s", "start_time": "s", "labels": None,
}
_CALIBRATION_FIELDS = {
    "dtype": "s", "matmul_flops_per_s": "f", "matmul_shape": None, "bandwidth_bytes_per_s": "f",
    "bandwidth_bytes": "i", "matmul_probes": None, "bandwidth_probes": None, "llc_bytes": "i",
    "cache_bandwidth_bytes_per_s": "f", "cache_bandwidth_probes": None, "page_fault_ns": "f",
}
_PERTURBATION_FIELDS = {
    "kind": "s", "target": None, "copies": "i", "round": "i", "reduced_bytes": "i",
    "reduced_arrays": "i", "target_calls": "i", "target_flops": "f", "target_bytes": "f",
    "target_parent": None,
}
_DEFAULTS = {"i": 0, "f": 0.0, "s": "", "b": False}


class TraceError(Exception):
    """A trace that cannot be written or read, with the reason."""


def _typed(fields: dict, values: dict, what: str) -> dict:
    unknown = set(values) - set(fields)
    if unknown:
        raise TraceError(f"{what}: unknown field(s) {sorted(unknown)}; known: {list(fields)}")
    out = {}
    for name, kind in fields.items():
        v = values.get(name, _DEFAULTS.get(kind))
        try:
            if kind == "i":
                if isinstance(v, bool) or int(v) != v or v < 0:
                    raise ValueError
                v = int(v)
            elif kind == "f":
                v = float(v)
            elif kind == "s":
                v = str(v)
            elif kind == "b":
                v = bool(v)
        except (TypeError, ValueError):
            raise TraceError(f"{what}: field {name!r} must be a{' non-negative integer' if kind == 'i' else ' number' if kind == 'f' else ' ' + str(kind)}, got {v!r}") from None
        out[name] = v
    return out


def model_config(**values) -> dict:
    """The ``metadata.model`` map; missing fields are 0 (``patch`` [0, 0, 0], ``camera`` false)."""
    m = _typed(_MODEL_FIELDS, values, "model config")
    patch = values.get("patch", [0, 0, 0])
    if len(patch) != 3:
        raise TraceError(f"model config: patch must have 3 values, got {patch!r}")
    m["patch"] = [int(p) for p in patch]
    return m


def metadata(**values) -> dict:
    """The header's ``metadata`` map, checked field by field."""
    m = _typed(_METADATA_FIELDS, values, "metadata")
    m["gpu_name"] = None if values.get("gpu_name") is None else str(values["gpu_name"])
    gm = values.get("gpu_memory_bytes")
    m["gpu_memory_bytes"] = None if gm is None else int(gm)
    model = values.get("model") or {}
    m["model"] = model if set(model) == set(_MODEL_FIELDS) else model_config(**model)
    m["labels"] = {str(k): str(v) for k, v in (values.get("labels") or {}).items()}
    return m


def header(meta: dict) -> dict:
    """The first value of a trace."""
    return {"magic": MAGIC, "format_version": FORMAT_VERSION, "metadata": metadata(**meta)}


def calibration(**values) -> dict:
    """A calibration record's fields."""
    c = _typed(_CALIBRATION_FIELDS, values, "calibration")
    c["matmul_shape"] = [int(x) for x in values.get("matmul_shape", [0, 0, 0])]
    c["matmul_probes"] = [
        {"shape": [int(x) for x in p["shape"]], "flops_per_s": float(p["flops_per_s"]), "source": str(p.get("source", ""))}
        for p in values.get("matmul_probes") or []
    ]
    c["bandwidth_probes"] = [
        {"bytes": int(p["bytes"]), "bytes_per_s": float(p["bytes_per_s"])} for p in values.get("bandwidth_probes") or []
    ]
    return c


def perturbation(**values) -> dict:
    """An attributed run's ``perturbation`` map (docs/trace-format.md, attributed runs)."""
    p = _typed(_PERTURBATION_FIELDS, values, "perturbation")
    if p["kind"] not in PERTURB_KINDS:
        raise TraceError(f"perturbation: kind must be one of {PERTURB_KINDS}, got {p['kind']!r}")
    t = values.get("target")
    p["target"] = None if t is None else str(t)
    # Nested components (docs/trace-format.md, "Nested components"): the duplicated component's
    # parent. Written only when there is one, so flat traces keep their exact layout.
    parent = p.pop("target_parent")
    if parent is not None:
        p["target_parent"] = str(parent)
    return p


class Run:
    """One forward pass: its fields and its events, in the Rust ``RunRecord`` layout.

    Components are registered on first use with their per-invocation cost; events are pushed in
    start order with absolute start times and stored as deltas.
    """

    def __init__(self, run: int, variant: str, sync: str, frames: int, tokens: int, warmup: bool = False):
        if sync not in MODES:
            raise TraceError(f"run: sync must be one of {MODES}, got {sync!r}")
        self.run, self.variant, self.sync, self.warmup = int(run), str(variant), sync, bool(warmup)
        self.frames, self.tokens = int(frames), int(tokens)
        self.forward_ns = 0
        self.active_memory_bytes = 0
        self.peak_memory_bytes = 0
        self.graph_ns = None
        self.minor_faults = None
        self.perturbation = None
        self.components: list[dict] = []
        self.events: list[list[int]] = []
        self._index: dict[str, int] = {}
        self._last_start = 0

    def component(self, name: str, flops: float = 0.0, bytes: float = 0.0, parent: str | None = None) -> int:
        """The index of component ``name``, registering it with its cost on first use.

        ``parent``: the name of the component it runs inside (nested components); the map gets a
        ``parent`` key only then, so flat traces keep their exact layout."""
        i = self._index.get(name)
        if i is None:
            i = self._index[name] = len(self.components)
            c = {"name": str(name), "flops": float(flops), "bytes": float(bytes)}
            if parent is not None:
                c["parent"] = str(parent)
            self.components.append(c)
        return i

    def push_event(self, component: int, block, start_ns: int, duration_ns: int) -> None:
        """Appends an event; ``block`` is the block index or None outside the blocks."""
        start_ns = max(0, int(start_ns))
        delta = max(0, start_ns - self._last_start)
        self._last_start = start_ns
        self.events.append([int(component), -1 if block is None else int(block), delta, max(0, int(duration_ns))])

    def to_value(self) -> dict:
        """The run as the ``Run`` record's map."""
        return {
            "run": self.run,
            "variant": self.variant,
            "sync": self.sync,
            "warmup": self.warmup,
            "frames": self.frames,
            "tokens": self.tokens,
            "forward_ns": int(self.forward_ns),
            "active_memory_bytes": int(self.active_memory_bytes),
            "peak_memory_bytes": int(self.peak_memory_bytes),
            "drift": None,
            "graph_ns": None if self.graph_ns is None else int(self.graph_ns),
            "minor_faults": None if self.minor_faults is None else int(self.minor_faults),
            "perturbation": self.perturbation,
            "components": self.components,
            "events": self.events,
        }


def _pack(value) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


class TraceFile:
    """A trace written as ``path.partial`` and renamed to ``path`` by :meth:`finish`.

    ``path.partial`` is created exclusively, so a second recorder aimed at the same name fails
    at once. An existing ``path`` is refused unless ``force`` is true (then it is replaced when
    the recording completes).
    """

    def __init__(self, path, header_value: dict, force: bool = False):
        self.path = os.fspath(path)
        self.partial = self.path + ".partial"
        self.force = force
        if os.path.lexists(self.path):
            try:
                st = os.stat(self.path)
            except OSError:
                raise TraceError(f"{self.path}: a dangling symbolic link; not written") from None
            if not stat.S_ISREG(st.st_mode):
                raise TraceError(f"{self.path}: not a regular file; not written")
            if not force:
                raise TraceError(f"{self.path} exists: it is not replaced without force=True (--force)")
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        try:
            fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise TraceError(
                f"{self.partial} exists: another recorder is writing it, or an interrupted recording "
                "left it; mlx-analyze reads it, remove or rename it to record under this name"
            ) from None
        self._file = os.fdopen(fd, "wb")
        self.runs = 0
        self._closed = False
        self._put(header_value)

    def _put(self, value) -> None:
        data = _pack(value)
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())

    def add_calibration(self, calibration_value: dict) -> None:
        """Adds a calibration record (see :func:`calibration`)."""
        self._put({"Calibration": calibration_value})

    def add_run(self, run: Run) -> None:
        """Adds one forward pass."""
        self._put({"Run": run.to_value()})
        self.runs += 1

    def finish(self) -> str:
        """Writes the end marker, renames ``NAME.partial`` to ``NAME`` and returns ``NAME``."""
        if self._closed:
            return self.path
        self._put({"End": {"runs": self.runs}})
        self._file.close()
        self._closed = True
        if os.path.exists(self.path) and not self.force:
            raise TraceError(f"{self.path} appeared while recording; the trace is kept as {self.partial}")
        os.replace(self.partial, self.path)
        return self.path

    def abandon(self) -> str:
        """Closes the file without an end marker and leaves ``NAME.partial``; returns its path."""
        if not self._closed:
            self._file.close()
            self._closed = True
        return self.partial


def read_trace(path) -> dict:
    """Reads a trace written by either recorder: ``{"header", "calibrations", "runs", "complete"}``.

    Runs are the plain maps as stored. A value that fails to decode at the end of the file is
    treated as the end of an interrupted recording (``complete`` false).
    """
    with open(path, "rb") as f:
        unpacker = msgpack.Unpacker(f, raw=False, strict_map_key=False)
        try:
            head = next(unpacker)
        except (StopIteration, ValueError, msgpack.UnpackException) as e:
            raise TraceError(f"{path}: not an mlx-trace file (no header: {e})") from None
        if not isinstance(head, dict) or head.get("magic") != MAGIC:
            raise TraceError(f"{path}: not an mlx-trace file")
        if head.get("format_version") != FORMAT_VERSION:
            raise TraceError(f"{path}: unsupported trace format version {head.get('format_version')} (this reader supports version {FORMAT_VERSION})")
        out = {"header": head, "calibrations": [], "runs": [], "setups": [], "complete": False}
        try:
            for value in unpacker:
                if not isinstance(value, dict) or len(value) != 1:
                    continue
                (kind, body), = value.items()
                if kind == "Run":
                    out["runs"].append(body)
                elif kind == "Calibration":
                    out["calibrations"].append(body)
                elif kind == "Setup":
                    out["setups"].append(body)
                elif kind == "End":
                    out["complete"] = True
                    break
        except (ValueError, msgpack.UnpackException):
            pass
        return out
