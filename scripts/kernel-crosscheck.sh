#!/usr/bin/env bash
# Kernel-level cross-check of the attribution on CUDA (docs/attribution.md, "Kernel cross-check"):
# the fused forward's kernels, timed by CUPTI's activity API with CUDA graphs off, summed by kind
# (GEMM, attention, normalisation, RoPE, elementwise/other) beside the attributed cost of the
# components of that kind.
#
# Usage:
#   scripts/kernel-crosscheck.sh build [DIR]
#       Compiles scripts/kernel-trace/kernel_trace.c (a CUPTI injection library) into DIR (default
#       .gpu/kt) against the headers of the CUDA 13.0 wheels nvidia-cuda-cupti, nvidia-cuda-runtime
#       and nvidia-cuda-crt (fetched with `pip download` into ~/.cache/kernel-crosscheck unless
#       CUPTI_WHEELS names a folder holding them unpacked), and copies libcupti.so.13 beside it.
#   scripts/kernel-crosscheck.sh record OUTDIR [FRAMES] [RUNS]      (on the GPU machine)
#       Three processes of the release mlx-record, back to back, each the fused forward only
#       (--sync none, FRAMES default 5,21, RUNS timed runs after one warm-up, default 5):
#       graphs off (MLX_USE_CUDA_GRAPHS=0) under the tracer, graphs off, and CUDA graphs on
#       (MLX's default). Writes fused-graphs-on.msgpack, fused-graphs-off.msgpack,
#       traced-graphs-off.msgpack and kernels.csv.gz into OUTDIR. MLX_RECORD names the binary
#       (default target/release/mlx-record), RECORD_ARGS adds arguments (e.g. "--blocks 2"),
#       KT_DIR the folder of the built library (default .gpu/kt).
#   scripts/kernel-crosscheck.sh report OUTDIR [ATTRIBUTED_TRACE]
#       The tables: graphs on against off, and per length each kind's kernel time per forward
#       beside the attributed cost of its components (from ATTRIBUTED_TRACE, recorded on the
#       same card), with the difference. MLX_ANALYZE names the analyzer (default
#       target/debug/mlx-analyze). Extra options after the trace go to scripts/kernel_crosscheck.py.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-}
shift || true
case "$cmd" in
build)
    dir=${1:-.gpu/kt}
    wheels=${CUPTI_WHEELS:-$HOME/.cache/kernel-crosscheck}
    if [ ! -e "$wheels/nvidia/cu13/include/cupti.h" ] || [ ! -e "$wheels/nvidia/cu13/include/crt/host_defines.h" ]; then
        mkdir -p "$wheels"
        python3 -m pip download --quiet --no-deps -d "$wheels" \
            "nvidia-cuda-cupti==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-crt==13.0.*"
        for w in "$wheels"/nvidia_cuda_*.whl; do python3 -m zipfile -e "$w" "$wheels"; done
    fi
    inc=$wheels/nvidia/cu13/include
    lib=$wheels/nvidia/cu13/lib
    mkdir -p "$dir"
    cc -O2 -shared -fPIC -Wall -Wextra -I"$inc" scripts/kernel-trace/kernel_trace.c -o "$dir/libkernel_trace.so" \
        -L"$lib" -l:libcupti.so.13 -lpthread -Wl,-rpath,'$ORIGIN'
    cp "$lib/libcupti.so.13" "$dir/"
    ls -la "$dir"
    ;;
record)
    out=${1:?usage: kernel-crosscheck.sh record OUTDIR [FRAMES] [RUNS]}
    frames=${2:-5,21}
    runs=${3:-5}
    rec=${MLX_RECORD:-target/release/mlx-record}
    kt=$(cd "${KT_DIR:-.gpu/kt}" && pwd)
    mkdir -p "$out"
    # shellcheck disable=SC2206
    extra=(${RECORD_ARGS:-})
    args=(--frames "$frames" --sync none --runs "$runs" --warmup 1 --no-calibrate --quiet --force "${extra[@]}")
    t0=$(date +%s)
    # The traced process first: it is the one the report cannot do without.
    echo "[crosscheck] graphs off under the kernel tracer: $rec ${args[*]}" >&2
    # Our libcupti first: the library was built against its headers.
    MLX_USE_CUDA_GRAPHS=0 LD_LIBRARY_PATH="$kt:${LD_LIBRARY_PATH:-}" CUDA_INJECTION64_PATH="$kt/libkernel_trace.so" \
        KERNEL_TRACE_CSV="$out/kernels.csv" "$rec" "${args[@]}" --out "$out/traced-graphs-off.msgpack" \
        || echo "[crosscheck] the traced process failed (exit $?)" >&2
    if [ -e "$out/kernels.csv" ]; then gzip -f "$out/kernels.csv"; else echo "[crosscheck] no kernel trace written" >&2; fi
    echo "[crosscheck] graphs off ($(($(date +%s) - t0)) s so far)" >&2
    MLX_USE_CUDA_GRAPHS=0 "$rec" "${args[@]}" --out "$out/fused-graphs-off.msgpack" || echo "[crosscheck] graphs off failed (exit $?)" >&2
    echo "[crosscheck] graphs on ($(($(date +%s) - t0)) s so far)" >&2
    "$rec" "${args[@]}" --out "$out/fused-graphs-on.msgpack" || echo "[crosscheck] graphs on failed (exit $?)" >&2
    echo "[crosscheck] done in $(($(date +%s) - t0)) s" >&2
    ;;
report)
    out=${1:?usage: kernel-crosscheck.sh report OUTDIR [ATTRIBUTED_TRACE] [OPTIONS]}
    shift
    attr=()
    if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
        attr=(--attributed "$1")
        shift
    fi
    py=python3
    [ -x .venv/bin/python3 ] && py=.venv/bin/python3
    "$py" scripts/kernel_crosscheck.py --kernels "$out/kernels.csv.gz" --traced "$out/traced-graphs-off.msgpack" \
        --graphs-on "$out/fused-graphs-on.msgpack" --graphs-off "$out/fused-graphs-off.msgpack" \
        --analyzer "${MLX_ANALYZE:-target/debug/mlx-analyze}" "${attr[@]}" "$@"
    ;;
*)
    sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
