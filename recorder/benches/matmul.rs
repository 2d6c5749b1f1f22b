//! f32 matmul throughput of MLX (through mlx-rs) beside numpy on the same machine, in one run.
//!
//! For each shape: a warm-up, then the median of N timed repetitions, each one building the
//! product and evaluating it inside the timed region. numpy runs in a child process (the
//! workspace's `.venv/bin/python3`) with the same environment, so both sides see the same
//! OPENBLAS_* settings. The table ends with the BLAS libraries mapped into this process
//! (from /proc/self/maps), showing which BLAS MLX's CPU matmul can reach.
//!
//! Run with `cargo bench -p mlx-record --bench matmul` (or scripts/bench-matmul.sh).
//! MATMUL_BENCH_REPS overrides the number of timed repetitions.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use mlx_rs::Array;

/// (M, K, N): [M, K] @ [K, N].
const SHAPES: [(usize, usize, usize); 2] = [(780, 5120, 13824), (256, 1536, 8960)];

fn reps() -> usize {
    std::env::var("MATMUL_BENCH_REPS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(5)
}

/// Deterministic values in [-1, 1) from a 64-bit LCG (no rand crate needed).
fn lcg_fill(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

fn gflops(m: usize, k: usize, n: usize, seconds: f64) -> f64 {
    2.0 * m as f64 * k as f64 * n as f64 / seconds / 1e9
}

/// Median GFLOP/s of MLX f32 matmul for one shape.
fn bench_mlx(m: usize, k: usize, n: usize, reps: usize) -> Result<(f64, f64), String> {
    let a = Array::from_slice(&lcg_fill(m * k, 1), &[m as i32, k as i32]);
    let b = Array::from_slice(&lcg_fill(k * n, 2), &[k as i32, n as i32]);
    a.eval().map_err(|e| e.to_string())?;
    b.eval().map_err(|e| e.to_string())?;
    let run = || -> Result<f64, String> {
        let t = Instant::now();
        let c = a.matmul(&b).map_err(|e| e.to_string())?;
        c.eval().map_err(|e| e.to_string())?;
        Ok(t.elapsed().as_secs_f64())
    };
    run()?; // warm-up
    let times = (0..reps).map(|_| run()).collect::<Result<Vec<_>, _>>()?;
    let med = median(times);
    Ok((gflops(m, k, n, med), med))
}

const NUMPY_SCRIPT: &str = r#"
import sys, time
import numpy as np
reps = int(sys.argv[1])
for spec in sys.argv[2:]:
    m, k, n = map(int, spec.split("x"))
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    a @ b  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        c = a @ b
        times.append(time.perf_counter() - t)
    times.sort()
    med = times[reps // 2] if reps % 2 else 0.5 * (times[reps // 2 - 1] + times[reps // 2])
    print(f"{spec} {2.0 * m * k * n / med / 1e9:.3f} {med:.6f}", flush=True)
libs = set()
with open("/proc/self/maps") as f:
    for line in f:
        p = line.split()[-1]
        if "openblas" in p.lower() or "libblas" in p.lower():
            libs.add(p)
core = ""
try:
    import ctypes
    for p in sorted(libs):
        lib = ctypes.CDLL(p)
        for sym in ("scipy_openblas_get_corename64_", "openblas_get_corename"):
            if hasattr(lib, sym):
                f = getattr(lib, sym)
                f.restype = ctypes.c_char_p
                core = " (OpenBLAS core: " + f().decode() + ")"
                break
except Exception:
    pass
print("BLAS " + (" ".join(sorted(libs)) or "(none found)") + core)
"#;

struct NumpyResult {
    /// Per shape "MxKxN": (GFLOP/s, median seconds).
    rows: std::collections::HashMap<String, (f64, f64)>,
    blas: String,
}

/// Runs numpy in a child process; Err(reason) when python or numpy is unavailable.
fn bench_numpy(reps: usize) -> Result<NumpyResult, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv").join("bin").join("python3");
    if !python.exists() {
        return Err(format!("no python at {}", python.display()));
    }
    let mut cmd = Command::new(&python);
    cmd.arg("-c").arg(NUMPY_SCRIPT).arg(reps.to_string());
    for (m, k, n) in SHAPES {
        cmd.arg(format!("{m}x{k}x{n}"));
    }
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(format!("numpy run failed: {last}"));
    }
    let mut res = NumpyResult { rows: Default::default(), blas: String::new() };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(libs) = line.strip_prefix("BLAS ") {
            res.blas = libs.to_string();
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [spec, g, s] = f[..] {
            if let (Ok(g), Ok(s)) = (g.parse(), s.parse()) {
                res.rows.insert(spec.to_string(), (g, s));
            }
        }
    }
    Ok(res)
}

unsafe extern "C" {
    fn dlsym(handle: *mut std::ffi::c_void, symbol: *const std::ffi::c_char) -> *mut std::ffi::c_void;
}

/// The kernel set OpenBLAS picked at load time (DYNAMIC_ARCH builds choose it from CPUID or
/// OPENBLAS_CORETYPE), looked up at run time so the bench also runs without OpenBLAS.
fn openblas_core() -> Option<String> {
    // SAFETY: dlsym with RTLD_DEFAULT (null) only looks the symbol up; when found it is
    // OpenBLAS's `char *openblas_get_corename(void)`, returning a static C string.
    unsafe {
        let f = dlsym(std::ptr::null_mut(), c"openblas_get_corename".as_ptr());
        if f.is_null() {
            return None;
        }
        let f: extern "C" fn() -> *const std::ffi::c_char = std::mem::transmute(f);
        let name = f();
        (!name.is_null()).then(|| std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned())
    }
}

/// Paths of BLAS libraries mapped into this process.
fn loaded_blas() -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut libs: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| {
            let p = p.to_ascii_lowercase();
            p.contains("openblas") || p.contains("libblas")
        })
        .map(str::to_string)
        .collect();
    libs.sort();
    libs.dedup();
    libs
}

fn main() {
    // Same start as mlx-record: OpenBLAS's kernels chosen for this CPU (see recorder/src/blas.rs).
    mlx_record::api::ensure_fast_openblas();
    // `cargo bench` passes --bench (and maybe a filter); nothing to parse here.
    let reps = reps();
    println!("f32 matmul [M,K]@[K,N]: warm-up + median of {reps} repetitions (GFLOP/s = 2*M*K*N / time)");
    for var in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"] {
        if let Ok(v) = std::env::var(var) {
            println!("env {var}={v}");
        }
    }

    let mlx: Vec<Result<(f64, f64), String>> = SHAPES.iter().map(|&(m, k, n)| bench_mlx(m, k, n, reps)).collect();
    let numpy = bench_numpy(reps);

    println!();
    println!(
        "{:<22} {:>14} {:>10} {:>14} {:>10} {:>10}",
        "shape (MxK @ KxN)", "MLX GFLOP/s", "MLX ms", "numpy GFLOP/s", "numpy ms", "MLX/numpy"
    );
    for (&(m, k, n), mlx) in SHAPES.iter().zip(&mlx) {
        let shape = format!("{m}x{k} @ {k}x{n}");
        let (mlx_g, mlx_s) = match mlx {
            Ok((g, s)) => (format!("{g:.1}"), format!("{:.1}", s * 1e3)),
            Err(e) => (format!("error: {e}"), "-".into()),
        };
        let np = numpy.as_ref().ok().and_then(|r| r.rows.get(&format!("{m}x{k}x{n}")).copied());
        let (np_g, np_s) = match (&numpy, np) {
            (_, Some((g, s))) => (format!("{g:.1}"), format!("{:.1}", s * 1e3)),
            (Err(_), None) => ("unavailable".into(), "-".into()),
            (Ok(_), None) => ("no result".into(), "-".into()),
        };
        let ratio = match (mlx, np) {
            (Ok((g, _)), Some((ng, _))) if ng > 0.0 => format!("{:.2}x", g / ng),
            _ => "-".into(),
        };
        println!("{shape:<22} {mlx_g:>14} {mlx_s:>10} {np_g:>14} {np_s:>10} {ratio:>10}");
    }
    println!();
    match &numpy {
        Ok(r) => println!("numpy process BLAS: {}", if r.blas.is_empty() { "(not reported)" } else { &r.blas }),
        Err(e) => println!("numpy column unavailable: {e} (expected numpy in the workspace .venv)"),
    }
    if let Some(core) = openblas_core() {
        println!("MLX process OpenBLAS core: {core}");
        let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        if matches!(core.as_str(), "Prescott" | "Core2" | "Nehalem" | "Penryn" | "Dunnington") && cpu.contains(" avx2") {
            let hint = if cpu.contains(" avx512f") { "SkylakeX" } else { "Haswell" };
            println!(
                "note: this CPU has AVX2{} but OpenBLAS chose SSE kernels (CPUID model not recognised); \
                 OPENBLAS_CORETYPE={hint} selects the wide kernels",
                if hint == "SkylakeX" { "/AVX-512" } else { "" }
            );
        }
    }
    let libs = loaded_blas();
    if libs.is_empty() {
        println!("MLX process BLAS: no openblas/libblas mapped (reference BLAS inside libmlx?)");
    } else {
        for lib in libs {
            println!("MLX process BLAS: {lib}");
        }
    }
}
