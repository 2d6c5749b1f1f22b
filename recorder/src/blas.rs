//! Makes OpenBLAS use the wide kernels this CPU supports.
//!
//! OpenBLAS picks its kernels from the CPU model when it loads. Older releases (Debian 12 ships
//! 0.3.21) do not know recent or virtualised CPU models and fall back to SSE-only "Prescott"
//! kernels: MLX's f32 matmul then runs 3-5x slower than numpy's bundled OpenBLAS on the same
//! machine. The choice is made before `main` runs, so when OpenBLAS chose a generic core and the
//! CPU has AVX-512 or AVX2/FMA, the process re-executes itself once with `OPENBLAS_CORETYPE` set.
//! A user's own `OPENBLAS_CORETYPE` is always respected. The calibration then checks a matmul
//! against a naive product, so a wrong kernel choice fails loudly instead of producing data.

/// Environment variable that marks the re-executed process (and disables the re-execution).
const REEXEC_MARK: &str = "MLX_TRACE_BLAS_TUNED";

/// Kernel names OpenBLAS reports when it did not recognise a modern x86 CPU.
const GENERIC_CORES: [&str; 6] = ["Prescott", "Core2", "Katmai", "Northwood", "Nehalem", "Unknown"];

/// The OpenBLAS kernel set in use, if OpenBLAS is loaded.
pub(crate) fn openblas_core() -> Option<String> {
    #[cfg(target_os = "linux")]
    // SAFETY: dlsym on the global scope; the function takes no arguments and returns a static
    // NUL-terminated string.
    unsafe {
        let sym = libc::dlsym(libc::RTLD_DEFAULT, c"openblas_get_corename".as_ptr());
        if sym.is_null() {
            return None;
        }
        let f: extern "C" fn() -> *const libc::c_char = std::mem::transmute(sym);
        let p = f();
        if p.is_null() {
            return None;
        }
        return Some(std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned());
    }
    #[allow(unreachable_code)]
    None
}

/// The kernel set to ask for on this CPU, from /proc/cpuinfo flags.
fn best_core(cpu_flags: &str) -> Option<&'static str> {
    let has = |f: &str| cpu_flags.split_whitespace().any(|x| x == f);
    if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].iter().all(|f| has(f)) {
        Some("SkylakeX")
    } else if has("avx2") && has("fma") {
        Some("Haswell")
    } else {
        None
    }
}

/// Re-executes the current program with a better `OPENBLAS_CORETYPE` when OpenBLAS fell back to
/// generic kernels. Returns normally when nothing needs changing (or the re-exec failed).
pub fn ensure_fast_openblas() {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("OPENBLAS_CORETYPE").is_some() || std::env::var_os(REEXEC_MARK).is_some() {
            return;
        }
        let Some(core) = openblas_core() else { return };
        if !GENERIC_CORES.iter().any(|g| core.eq_ignore_ascii_case(g)) {
            return;
        }
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let flags = cpuinfo.lines().find(|l| l.starts_with("flags")).unwrap_or("");
        let Some(better) = best_core(flags) else { return };
        let Ok(exe) = std::env::current_exe() else { return };
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("OPENBLAS_CORETYPE", better)
            .env(REEXEC_MARK, &core)
            .exec();
        crate::say!("note: could not re-run with OPENBLAS_CORETYPE={better} ({err}); f32 matmul stays on {core} kernels");
    }
}

/// Compares an MLX f32 matmul with a naive product; errors when they disagree.
pub(crate) fn check_matmul() -> anyhow::Result<()> {
    let (m, k, n) = (33usize, 70usize, 45usize);
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
    let c = mlx_rs::Array::from_slice(&a, &[m as i32, k as i32]).matmul(mlx_rs::Array::from_slice(&b, &[k as i32, n as i32]))?;
    c.eval()?;
    let got = c.as_slice::<f32>();
    let mut worst = 0f64;
    for i in 0..m {
        for j in 0..n {
            let want: f64 = (0..k).map(|x| a[i * k + x] as f64 * b[x * n + j] as f64).sum();
            worst = worst.max((got[i * n + j] as f64 - want).abs() / (1.0 + want.abs()));
        }
    }
    if worst > 1e-4 {
        anyhow::bail!(
            "MLX's f32 matmul disagrees with a naive product (error {worst:.2e}) using OpenBLAS kernels {:?}; \
             set OPENBLAS_CORETYPE to a kernel set this CPU supports (e.g. Haswell) and retry",
            openblas_core().unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_choice_follows_cpu_flags() {
        assert_eq!(best_core("fpu sse2 avx2 fma avx512f avx512bw avx512dq avx512vl"), Some("SkylakeX"));
        assert_eq!(best_core("fpu sse2 avx2 fma avx512f"), Some("Haswell"));
        assert_eq!(best_core("fpu sse2 avx"), None);
    }

    #[test]
    fn matmul_matches_naive_product() {
        // MLX work: not during another test's recording (process-global peak memory).
        let _serial = crate::tests::common::serial();
        check_matmul().unwrap();
    }
}
