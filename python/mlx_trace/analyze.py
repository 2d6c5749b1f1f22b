"""The ``mlx-analyze`` binary from Python: its JSON report and its tables.

``find_analyzer()`` looks for it as ``$MLX_ANALYZE``, then beside this Python (where
``pip install ./python`` puts it, also when the environment is not activated), then on the PATH,
then in this checkout's ``target/release`` and ``target/debug`` builds. Nothing here analyzes by itself (the
Python-side cost tree is :mod:`mlx_trace.attribution`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig


class AnalyzerNotFound(RuntimeError):
    """No ``mlx-analyze`` binary where it is looked for."""


def find_analyzer() -> str:
    """The ``mlx-analyze`` executable: ``$MLX_ANALYZE``, this environment's scripts folder, the
    PATH, then the checkout's ``target/release`` and ``target/debug``."""
    tried = []
    env = os.environ.get("MLX_ANALYZE")
    if env:
        if os.access(env, os.X_OK):
            return env
        tried.append(f"$MLX_ANALYZE={env}")
    name = "mlx-analyze.exe" if os.name == "nt" else "mlx-analyze"
    installed = os.path.join(sysconfig.get_path("scripts"), name)
    if os.access(installed, os.X_OK):
        return installed
    tried.append(installed)
    found = shutil.which("mlx-analyze")
    if found:
        return found
    tried.append("mlx-analyze on the PATH")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for build in ("release", "debug"):
        path = os.path.join(repo, "target", build, "mlx-analyze")
        if os.access(path, os.X_OK):
            return path
        tried.append(path)
    raise AnalyzerNotFound("mlx-analyze not found (tried " + "; ".join(tried) + "): build it with "
                           "`pip install ./python` (or `cargo build --release -p mlx-analyze`) in the mlx-trace repository, "
                           "put it on the PATH, "
                           "or set MLX_ANALYZE")


def _run(args, timeout=600) -> str:
    exe = find_analyzer()
    out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"mlx-analyze {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


def analyze(paths, *args) -> dict:
    """``mlx-analyze PATHS --format json``'s report as a dict (``args``: more options)."""
    paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    return json.loads(_run([*paths, *map(str, args), "--format", "json", "-o", "-"]))


def sql(paths, query: str) -> list:
    """One ``--sql`` query on the traces' tables: a list of row dicts."""
    paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    return json.loads(_run([*paths, "--sql", query, "--format", "json", "-o", "-"]))


def tables(paths, names=("traces", "runs", "events")) -> dict:
    """The analyzer's tables (docs/tables.md) of the traces: ``{name: DataFrame}`` with pandas
    when it is installed, else ``{name: [row dict, ...]}``."""
    out = {n: sql(paths, f"SELECT * FROM {n}") for n in names}
    try:
        import pandas as pd
    except ImportError:
        return out
    return {n: pd.DataFrame(rows) for n, rows in out.items()}
