#!/usr/bin/env bash
# One-time (idempotent) set-up of a fresh Debian/Ubuntu machine for building mlx-trace:
#   1. system packages: cmake, clang + libclang-dev (bindgen), OpenBLAS, pkg-config, python3-venv
#   2. .venv/ with the pinned MLX wheel (mlx-cpu==0.32.2, the version mlx-c 0.7.0 was written for)
#      and the Python packages the benchmarks compare against (numpy, pandas, msgpack), and
#      DuckDB (duckdb==2.0.1), which the Parquet tests query the analyzer's exports with, and
#      mlx-lm (mlx-lm==0.32.2), whose models the Python recorder's tests record
# Every step says what it does; a failing step stops the script with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."

MLX_WHEEL=${MLX_WHEEL:-mlx-cpu==0.32.2}
APT_PACKAGES=(cmake clang libclang-dev libopenblas-dev pkg-config python3-venv)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# --- 1. system packages -------------------------------------------------------------------------
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v clang >/dev/null || missing+=(clang)
compgen -G "/usr/lib/llvm-*/lib/libclang*.so*" >/dev/null || compgen -G "/usr/lib/*/libclang*.so*" >/dev/null || missing+=(libclang-dev)
compgen -G "/usr/lib/*/libopenblas.so" >/dev/null || compgen -G "/usr/lib/libopenblas.so" >/dev/null || missing+=(libopenblas-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v python3 >/dev/null || missing+=(python3)
if command -v python3 >/dev/null && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo; command -v sudo >/dev/null || die "need root to install: apt-get install ${missing[*]}"
  else SUDO=; fi
  command -v apt-get >/dev/null || die "no apt-get; install these by hand: ${missing[*]}"
  $SUDO apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
else
  say "system packages present (cmake, clang, libclang, OpenBLAS, pkg-config, python3)"
fi
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs), then rerun"

# --- 2. Python environment with the MLX wheel -------------------------------------------------
if [ ! -x .venv/bin/python3 ]; then
  say "creating .venv"
  python3 -m venv .venv || die "python3 -m venv .venv failed (apt-get install python3-venv)"
fi
want_version=${MLX_WHEEL##*==}
have=$(.venv/bin/python3 - <<'PY' 2>/dev/null || true
import importlib.metadata as md
for d in ("mlx-cpu", "mlx-cuda-13", "mlx-metal", "mlx"):
    try:
        print(d + "==" + md.version(d)); break
    except md.PackageNotFoundError:
        pass
PY
)
need=()
[ "${have##*==}" = "$want_version" ] || need+=("$MLX_WHEEL")
.venv/bin/python3 -c 'import numpy, pandas, msgpack' >/dev/null 2>&1 || need+=(numpy pandas msgpack)
DUCKDB_WHEEL=duckdb==2.0.1
[ "$(.venv/bin/python3 -c 'import duckdb; print(duckdb.__version__)' 2>/dev/null || true)" = "${DUCKDB_WHEEL##*==}" ] || need+=("$DUCKDB_WHEEL")
# Python recorder (python/): MLX's Python bindings of the same version (on Linux the `mlx` wheel
# carries no libmlx and loads mlx-cpu's, so the Rust build keeps the same library) and msgpack.
MLX_PY_WHEEL=mlx==$want_version MSGPACK_WHEEL=msgpack==1.2.4
[ "$(.venv/bin/python3 -c 'import mlx.core as mx; print(mx.__version__)' 2>/dev/null || true)" = "$want_version" ] || need+=("$MLX_PY_WHEEL")
[ "$(.venv/bin/python3 -c 'import msgpack; print(msgpack.version_string if hasattr(msgpack, "version_string") else ".".join(map(str, msgpack.version)))' 2>/dev/null || true)" = "${MSGPACK_WHEEL##*==}" ] || need+=("$MSGPACK_WHEEL")
# mlx-lm, for `python -m mlx_trace.lm` and the Python recorder's tests (its models, recorded with
# random weights): pinned to the release these were written against.
MLX_LM_WHEEL=mlx-lm==0.32.2
[ "$(.venv/bin/python3 -c 'import importlib.metadata as md; print(md.version("mlx-lm"))' 2>/dev/null || true)" = "${MLX_LM_WHEEL##*==}" ] || need+=("$MLX_LM_WHEEL")
if [ ${#need[@]} -gt 0 ]; then
  say "installing into .venv: ${need[*]}"
  .venv/bin/python3 -m pip install --quiet --disable-pip-version-check "${need[@]}" \
    || die "pip install ${need[*]} failed"
else
  say "MLX wheel ${have}, benchmark packages, ${DUCKDB_WHEEL} and ${MLX_LM_WHEEL} present in .venv"
fi
# The mlx_trace package itself, from python/ in place: a path file in the environment's
# site-packages, so edits need no reinstall and nothing compiles here (`pip install ./python`,
# the users' one install, also builds mlx-analyze in release: minutes that the tests, which use
# the workspace's own build, do not need; scripts/check-python-install.sh checks that install).
site=$(.venv/bin/python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
if [ "$(cat "$site/mlx_trace-dev.pth" 2>/dev/null || true)" != "$PWD/python" ]; then
  say "linking the mlx_trace Python recorder (python/) into .venv"
  # An installed copy (an earlier set-up's, or `pip install ./python`) would shadow the sources.
  .venv/bin/python3 -m pip uninstall --quiet --disable-pip-version-check -y mlx-trace >/dev/null 2>&1 || true
  echo "$PWD/python" > "$site/mlx_trace-dev.pth"
  rm -f .venv/.mlx_trace-sources
else
  say "mlx_trace Python recorder (python/) linked into .venv"
fi
.venv/bin/python3 -c 'import mlx_trace' >/dev/null 2>&1 || die "the mlx_trace package does not import from python/"
say "ready"
