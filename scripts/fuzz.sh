#!/usr/bin/env bash
# Fuzzes the trace reader (and, with --analyzer, the analyzer's loading path) with libFuzzer
# through cargo-fuzz, for SECONDS per target, and prints the executions done.
#
#   scripts/fuzz.sh SECONDS [--analyzer | --only TARGET] [--asan] [--jobs N] [--max-len BYTES]
#
# --only TARGET fuzzes that target alone (read_trace or load), e.g. to run both at once in two
# shells (give the second FUZZ_TARGET_DIR=... so that the builds do not wait for each other).
# Needs `cargo install cargo-fuzz`. cargo-fuzz passes nightly-only flags (-Z sanitizer=...,
# coverage instrumentation); on a stable toolchain RUSTC_BOOTSTRAP=1 lets rustc accept them.
# Without --asan the targets build with `--sanitizer none`: the code under test is safe Rust,
# and AddressSanitizer costs about 4x the executions per second.
# Seeds: the real traces in traces/ and trace-format/tests/data, and the regression corpus in
# trace-format/tests/corpus. Inputs are capped at 16 KiB by default (larger seeds are used by
# their prefix, which holds the header and the first records), any single allocation over 64 MiB or a resident size over 1 GiB counts as a crash,
# and so does an input taking over 10 s.
# Crashes land in fuzz/artifacts/TARGET/; once fixed, copy them into trace-format/tests/corpus/
# where `cargo test --workspace` replays them.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/fuzz.sh SECONDS [--analyzer | --only TARGET] [--asan] [--jobs N] [--max-len BYTES]"
seconds=${1:?$usage}
shift
targets=(read_trace)
jobs=1
sanitizer=none
max_len=16384
while [ $# -gt 0 ]; do
    case "$1" in
        --analyzer) targets+=(load) ;;
        --only) case "${2:-}" in read_trace|load) targets=("$2") ;; *) echo "scripts/fuzz.sh: --only takes read_trace or load" >&2; exit 2 ;; esac; shift ;;
        --asan) sanitizer=address ;;
        --jobs) jobs=${2:?--jobs needs a number}; shift ;;
        --max-len) max_len=${2:?--max-len needs a number}; shift ;;
        *) echo "scripts/fuzz.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
case "$seconds" in ''|*[!0-9]*) echo "scripts/fuzz.sh: SECONDS must be a whole number" >&2; exit 2 ;; esac
command -v cargo-fuzz >/dev/null || { echo "scripts/fuzz.sh: cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 1; }

parallel=()
[ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
export RUSTC_BOOTSTRAP=1
# FUZZ_TARGET_DIR: another build directory, e.g. to fuzz one target while another builds.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
mkdir -p fuzz/logs
total=0
for target in "${targets[@]}"; do
    features=()
    [ "$target" = load ] && features=(--features analyzer)
    mkdir -p "fuzz/corpus/$target"
    log="fuzz/logs/$target-$(date +%Y%m%d-%H%M%S).log"
    echo "[fuzz] $target for ${seconds}s x $jobs job(s), sanitizer $sanitizer, log $log" >&2
    status=0
    (cd fuzz && cargo fuzz run -O --sanitizer "$sanitizer" "${features[@]}" "$target" "corpus/$target" \
        ../trace-format/tests/data ../trace-format/tests/corpus ../traces -- \
        -max_total_time="$seconds" -max_len="$max_len" -malloc_limit_mb=64 -rss_limit_mb=1024 \
        -timeout=10 -print_final_stats=1 "${parallel[@]}") >"$log" 2>&1 || status=$?
    # With -jobs, each worker logs to fuzz-N.log in fuzz/; gather them.
    if [ "$jobs" -gt 1 ]; then cat fuzz/fuzz-*.log >>"$log" 2>/dev/null || true; rm -f fuzz/fuzz-*.log; fi
    runs=$(grep -h '^stat::number_of_executed_units:' "$log" | awk '{s += $2} END {print s + 0}')
    total=$((total + runs))
    echo "[fuzz] $target: $runs executions, exit status $status" >&2
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log" >&2
        echo "[fuzz] $target found a failure; see fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
echo "[fuzz] total executions: $total"
