"""What this machine and MLX build are: the trace's machine metadata, and fast BLAS on Linux;
the process's page-fault count and MLX's CPU buffer cache during an attribution recording.

On Linux the CPU wheel (``mlx-cpu``) calls ``cblas_sgemm`` from a bundled reference BLAS that runs
f32 matmul about 20x slower than OpenBLAS. :func:`prefer_openblas` loads the system's OpenBLAS
into the global symbol scope before MLX is loaded, so OpenBLAS serves MLX's calls (the Rust
recorder gets the same by linking OpenBLAS). ``import mlx_trace`` calls it when ``mlx.core`` is
not loaded yet; set ``MLX_TRACE_NO_OPENBLAS=1`` to keep the bundled BLAS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import os
import platform
import socket
import subprocess
import sys

try:
    import resource
except ImportError:  # no getrusage (Windows)
    resource = None

_GENERIC_CORES = {"prescott", "core2", "katmai", "northwood", "nehalem", "unknown"}
_openblas = None


def _cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def prefer_openblas() -> bool:
    """Loads OpenBLAS globally (Linux, before ``mlx.core``); returns whether it is loaded.

    Old OpenBLAS releases do not know recent CPUs and fall back to SSE kernels; when
    ``OPENBLAS_CORETYPE`` is unset and the CPU has AVX-512 or AVX2/FMA, it is set to the matching
    kernel set first (as the Rust recorder does).
    """
    global _openblas
    if _openblas is not None:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("MLX_TRACE_NO_OPENBLAS"):
        return False
    if "OPENBLAS_CORETYPE" not in os.environ:
        flags = _cpu_flags()
        if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
            os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
        elif {"avx2", "fma"} <= flags:
            os.environ["OPENBLAS_CORETYPE"] = "Haswell"
    for name in ("libopenblas.so.0", ctypes.util.find_library("openblas")):
        if not name:
            continue
        try:
            _openblas = ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
            return True
        except OSError:
            continue
    return False


def openblas_core():
    """The OpenBLAS kernel set in use, or None."""
    if _openblas is None:
        return None
    try:
        f = _openblas.openblas_get_corename
        f.restype = ctypes.c_char_p
        return f().decode()
    except (AttributeError, OSError):
        return None


def loaded_blas() -> str:
    """The BLAS libraries loaded in this process (Linux: from /proc/self/maps), OpenBLAS first."""
    try:
        with open("/proc/self/maps") as f:
            paths = [line.split()[5] for line in f if len(line.split()) >= 6]
    except OSError:
        return "Accelerate" if sys.platform == "darwin" else "unknown"
    libs = sorted({p.rsplit("/", 1)[-1] for p in paths if any(k in p.rsplit("/", 1)[-1] for k in ("openblas", "libblas", "mkl", "cublas"))})
    if not libs:
        return "unknown"
    libs.sort(key=lambda n: "openblas" not in n)
    s = " + ".join(libs)
    core = openblas_core()
    if core:
        s += f" (OpenBLAS kernels: {core})"
    return s


def _command(*args):
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=5)
        s = out.stdout.strip()
        return s if out.returncode == 0 and s else None
    except (OSError, subprocess.SubprocessError):
        return None


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def host() -> dict:
    """Host name, OS, CPU model, logical cores, installed and available memory."""
    cpuinfo = _read("/proc/cpuinfo")
    cpu = next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith("model name")), None)
    cpu = cpu or _command("sysctl", "-n", "machdep.cpu.brand_string") or platform.machine()
    meminfo = _read("/proc/meminfo")

    def kib(key):
        for l in meminfo.splitlines():
            if l.startswith(key):
                return int(l.split()[1]) * 1024
        return None

    ram = kib("MemTotal:")
    if ram is None:
        ram = int(_command("sysctl", "-n", "hw.memsize") or 0)
    avail = kib("MemAvailable:") or ram
    os_name = f"Linux {platform.release()}" if sys.platform.startswith("linux") else f"{platform.system()} {platform.release()}"
    return {
        "host": socket.gethostname() or "unknown-host",
        "os": os_name,
        "cpu_model": cpu,
        "cpu_cores": os.cpu_count() or 1,
        "ram_bytes": ram,
        "available_bytes": avail,
    }


def backend(mx) -> str:
    """``cpu``, ``cuda`` or ``metal``: where MLX's default device runs."""
    if mx.default_device() == mx.cpu:
        return "cpu"
    if hasattr(mx, "cuda") and mx.cuda.is_available():
        return "cuda"
    if hasattr(mx, "metal") and mx.metal.is_available():
        return "metal"
    return "cpu"


def gpu_info(mx):
    """(GPU name, GPU memory bytes) from MLX's device info, where the backend reports them."""
    try:
        info = mx.device_info()
    except Exception:
        return None, None
    name = info.get("device_name") or info.get("architecture")
    memory = None
    for key in ("total_memory", "memory_size", "memory"):
        if isinstance(info.get(key), int):
            memory = info[key]
            break
    return (str(name) if name else None), memory


def memory_budget(mx, backend_name: str) -> int:
    """Bytes the forward may use: the GPU's memory (CUDA) or the host's available memory."""
    if backend_name == "cuda":
        _, gm = gpu_info(mx)
        if gm:
            return gm
    return host()["available_bytes"]


def minor_faults():
    """Minor page faults of this process so far (``getrusage``): pages the OS handed out fresh.
    None where the count cannot be read."""
    if resource is None:
        return None
    try:
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
    except (OSError, ValueError, AttributeError):
        return None


class CacheForCopies:
    """MLX's buffer cache, raised on the CPU for a recording that duplicates components; the
    previous limit comes back on :meth:`restore` (or leaving the ``with``).

    MLX's CPU allocator keeps at most 32 MiB of freed buffers (its GPU backends keep up to their
    memory limit). A duplicate frees each copy's outputs once their scalar is taken; beyond that
    cache they go back to the OS and return as fresh pages in the next forward, so every copy
    pays page faults that the component's own buffers do not, and the attribution charges them
    to the component: +6.6% on the attributed sum of wan-1.3b's first 2 blocks on a 2-core CPU,
    with 55,000 extra faults per copy; with the cache raised the sum came to -2.3% and the plain
    forward's time was unchanged.
    """

    def __init__(self, mx, backend_name: str, limit: int):
        """Raises the CPU's cache limit to ``limit`` bytes (the recording's memory budget);
        nothing on a GPU."""
        self._mx = mx
        self.previous = mx.set_cache_limit(int(limit)) if backend_name == "cpu" else None

    def restore(self) -> None:
        """Puts the previous limit back (once)."""
        if self.previous is not None:
            previous, self.previous = self.previous, None
            self._mx.set_cache_limit(previous)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.restore()
        return False


def now_rfc3339() -> str:
    """The current UTC time, RFC 3339, seconds."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine_metadata(mx) -> dict:
    """The metadata fields that describe the machine and the MLX build."""
    from . import __version__

    h = host()
    be = backend(mx)
    gpu_name, gpu_memory = gpu_info(mx) if be != "cpu" else (None, None)
    return {
        "host": h["host"],
        "os": h["os"],
        "cpu_model": h["cpu_model"],
        "cpu_cores": h["cpu_cores"],
        "ram_bytes": h["ram_bytes"],
        "gpu_name": gpu_name,
        "gpu_memory_bytes": gpu_memory,
        "mlx_version": mx.__version__,
        "backend": be,
        "blas": loaded_blas(),
        "recorder_version": f"mlx-trace-python {__version__}",
        "git_commit": os.environ.get("MLX_TRACE_GIT_COMMIT", "unknown"),
        "command_line": " ".join([os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"] + sys.argv[1:]),
        "start_time": now_rfc3339(),
    }
