#!/usr/bin/env bash
# Checks the one install for Python users in a fresh virtual environment: `pip install ./python`
# must give `mlx-analyze` on the environment's PATH and `mlx_trace.analyze` / `mlx_trace.tables`
# working from Python, on a committed example trace. The install builds mlx-analyze in release
# with cargo (maturin's `bin` bindings), so this is not part of the test command: run it after a
# change to python/pyproject.toml, the analyzer's dependencies or the install docs.
#
#   scripts/check-python-install.sh [VENV_DIR]      (default target/python-install-check)
#
# MLX is installed first from the same pinned wheels as scripts/setup.sh (a user brings their
# own: `mlx` on macOS, `mlx[cpu]` or `mlx[cuda13]` on Linux); the package does not pull it in.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-target/python-install-check}
trace=traces/cpu-wan1.3b-2blocks-f32-240x416-attributed.msgpack
say() { printf '\033[1m[check-install]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[check-install] error:\033[0m %s\n' "$*" >&2; exit 1; }
[ -f "$trace" ] || die "$trace is missing"
rm -rf "$venv"
say "fresh virtual environment in $venv"
python3 -m venv "$venv"
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check mlx-cpu==0.32.2 mlx==0.32.2 \
  || die "installing the pinned MLX wheels failed"
say "pip install ./python (builds mlx-analyze in release)"
start=$(date +%s)
"$venv/bin/python3" -m pip install --disable-pip-version-check ./python || die "pip install ./python failed"
say "installed in $(( $(date +%s) - start )) s"
# Not activated: the binary must be on the environment's PATH and found from Python without it.
PATH="$PWD/$venv/bin:$PATH" mlx-analyze --version || die "mlx-analyze is not on the environment's PATH"
say "installed mlx-analyze: $(( $(stat -c %s "$venv/bin/mlx-analyze") / 1048576 )) MiB"
env -u MLX_ANALYZE "$venv/bin/python3" - "$trace" <<'PY' || die "mlx_trace.analyze or mlx_trace.tables failed"
import os, sys, sysconfig
import mlx_trace
exe = mlx_trace.find_analyzer()
assert exe == os.path.join(sysconfig.get_path("scripts"), "mlx-analyze"), f"found {exe}, not the installed one"
assert os.path.dirname(mlx_trace.__file__).startswith(sys.prefix), f"mlx_trace imported from {mlx_trace.__file__}, not the install"
report = mlx_trace.analyze(sys.argv[1])
assert report.get("ranking"), "no ranking in the report"
tables = mlx_trace.tables(sys.argv[1])
runs = tables["runs"]
n = len(runs)
assert n > 0, "no runs"
print(f"mlx_trace.analyze: {len(report)} report keys; mlx_trace.tables: {n} runs, {len(tables['events'])} events (from {exe})")
PY
say "ok"
