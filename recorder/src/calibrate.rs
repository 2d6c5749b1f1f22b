//! Measures this machine's achievable matmul rate and memory bandwidth through MLX, so every
//! component can be placed against the machine's own ceilings rather than a datasheet.
//!
//! A ceiling must not sit below what the forward itself achieves, or components show more than
//! 100% of it. One square matmul can be slower than the model's own GEMMs (another kernel, other
//! tiles), and one streaming pass over a size close to the last-level cache partly measures the
//! cache. So the matmul ceiling is the best over the model's own GEMM shapes at the recorded
//! lengths and one large square, and the bandwidth ceiling the best over several sizes, each
//! well beyond the last-level cache. Every measurement is kept in the trace.
//!
//! A small component's data can stay in the CPU's last-level cache between its reads and
//! writes, and then it moves bytes faster than DRAM allows: against the DRAM ceiling it shows
//! 200% and more. So on a CPU whose cache size is known, the same pass is also timed at sizes
//! that fit in the cache, and the best of those is the ceiling of components whose bytes per
//! call fit there (the analyzer picks the ceiling per component).

use std::time::Instant;

use anyhow::Result;
use mlx_rs::Array;
use trace_format::{BandwidthProbe, Calibration, MatmulProbe, ModelConfig};

use crate::config::DType;
use crate::machine::Backend;

/// The bandwidth passes use arrays of at least this many times the last-level cache.
pub(crate) const LLC_FACTOR: u64 = 8;

/// The cache-resident passes use input arrays of the last-level cache divided by these (each
/// pass moves twice its input: from a 64th to half of the cache, so the smaller sizes also
/// see the faster inner caches a small component's data may stay in).
pub(crate) const CACHE_DIVISORS: [u64; 4] = [128, 32, 8, 4];

/// Sizes and repetitions of one calibration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sizes {
    /// Side of the large square matmul.
    pub(crate) square: u64,
    /// Largest FLOPs of one timed matmul: a model shape above it is measured with fewer rows.
    pub(crate) max_matmul_flops: f64,
    /// Fewest rows kept when a model shape is cut down.
    pub(crate) min_rows: u64,
    /// Bytes of the input array of each streaming pass (the pass moves twice that).
    pub(crate) bandwidth_array_bytes: Vec<u64>,
    /// Timed repetitions of each measurement (after one untimed).
    pub(crate) reps: u32,
    /// Bytes of the input array of each cache-resident streaming pass (empty: not measured).
    pub(crate) cache_array_bytes: Vec<u64>,
    /// Timed repetitions of each cache-resident pass: each takes a millisecond or less, and the
    /// best of many is needed to see the cache's rate through the machine's noise.
    pub(crate) cache_reps: u32,
    /// The last-level cache the sizes were chosen against (0: unknown or not used).
    pub(crate) llc_bytes: u64,
}

impl Sizes {
    /// The sizes for `backend` and `dtype` on this machine.
    pub(crate) fn for_machine(backend: Backend, dtype: DType) -> Sizes {
        let llc = if backend.is_gpu() { 0 } else { last_level_cache_bytes().unwrap_or(0) };
        Sizes::new(backend, dtype, llc)
    }

    /// The sizes for `backend` and `dtype` given the CPU's last-level cache (`llc` bytes, 0:
    /// unknown).
    pub(crate) fn new(backend: Backend, dtype: DType, llc: u64) -> Sizes {
        const MIB: u64 = 1 << 20;
        let square: u64 = match (backend.is_gpu(), dtype) {
            (true, _) => 8192,
            (false, DType::F32) => 2048,
            // MLX's own CPU kernels for 16-bit matmul are slow: keep the measurement short.
            (false, _) => 512,
        };
        let bandwidth_array_bytes = if backend.is_gpu() {
            // GPU caches are tens of MiB (50 MB of L2 on an H100, 60 on an H200).
            vec![256 * MIB, 512 * MIB, 1024 * MIB]
        } else {
            // Unknown cache: assume 32 MiB, a large server's.
            let base = LLC_FACTOR * if llc > 0 { llc } else { 32 * MIB };
            vec![base, base + base / 2]
        };
        Sizes {
            square,
            // No model shape takes longer than the square does.
            max_matmul_flops: 2.0 * (square as f64).powi(3),
            min_rows: 256,
            bandwidth_array_bytes,
            // The CPU's passes take a tenth of a second or more each: few repetitions suffice.
            reps: if backend.is_gpu() { 10 } else { 2 },
            // A GPU's cache size is not known here, nor which components' data stay in it.
            cache_array_bytes: if backend.is_gpu() || llc == 0 { Vec::new() } else { CACHE_DIVISORS.iter().map(|d| llc / d).collect() },
            cache_reps: 30,
            llc_bytes: llc,
        }
    }
}

/// The CPU's last-level cache in bytes, from Linux's sysfs (the largest data or unified cache of
/// CPU 0); `None` where it cannot be read.
pub(crate) fn last_level_cache_bytes() -> Option<u64> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    let mut best: Option<(u32, u64)> = None;
    for entry in dir.flatten() {
        let p = entry.path();
        if !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("index")) {
            continue;
        }
        let read = |f: &str| std::fs::read_to_string(p.join(f)).ok().map(|s| s.trim().to_string());
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size")) else { continue };
        if kind == "Instruction" {
            continue;
        }
        let (Ok(level), Some(bytes)) = (level.parse::<u32>(), parse_cache_size(&size)) else { continue };
        if best.is_none_or(|(l, b)| (level, bytes) > (l, b)) {
            best = Some((level, bytes));
        }
    }
    best.map(|(_, b)| b)
}

/// A sysfs cache size: `32768K`, `8M`, `512` (bytes).
pub(crate) fn parse_cache_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let mul = match unit {
        "" | "B" => 1,
        "K" | "KB" | "KiB" => 1 << 10,
        "M" | "MB" | "MiB" => 1 << 20,
        "G" | "GB" | "GiB" => 1 << 30,
        _ => return None,
    };
    Some(n * mul)
}

/// The GEMMs of the built-in model's forward at each of `tokens`, as (source, [m, k, n]): the
/// Linear layers over every token (self-attention projections, camera layers and cross-attention
/// query and output share d x d; the FFN's two), and the text embedding's. Distinct shapes only,
/// in order of first appearance.
pub(crate) fn model_gemm_shapes(config: &ModelConfig, tokens: &[u64]) -> Vec<(String, [u64; 3])> {
    let (d, f) = (config.dim as u64, config.ffn_dim as u64);
    let mut shapes: Vec<(String, [u64; 3])> = Vec::new();
    let mut add = |source: &str, s: [u64; 3]| {
        if s.iter().all(|&v| v > 0) && !shapes.iter().any(|(_, t)| *t == s) {
            shapes.push((source.to_string(), s));
        }
    };
    for &l in tokens {
        add("block/self_attn/qkv", [l, d, d]);
        add("block/ffn/up", [l, d, f]);
        add("block/ffn/down", [l, f, d]);
    }
    add("embed/text", [config.text_len as u64, config.text_dim as u64, d]);
    shapes
}

/// `shape` with its rows cut so that one product stays within `max_flops` (never under
/// `min_rows`, nor above the shape's own rows).
pub(crate) fn capped(shape: [u64; 3], max_flops: f64, min_rows: u64) -> [u64; 3] {
    let [m, k, n] = shape;
    let rows = (max_flops / (2.0 * k as f64 * n as f64)).floor() as u64;
    [m.min(rows.max(min_rows)), k, n]
}

/// Runs the calibration over `gemms` (source, [m, k, n]) and the square of `sizes`, and the
/// streaming pass at each of `sizes`' bandwidth sizes; each ceiling is the best of its set.
pub(crate) fn calibrate_with(backend: Backend, dtype: DType, gemms: &[(String, [u64; 3])], sizes: &Sizes) -> Result<Calibration> {
    if !backend.is_gpu() {
        crate::blas::check_matmul()?;
    }
    let mut shapes: Vec<(String, [u64; 3])> =
        gemms.iter().map(|(s, shape)| (s.clone(), capped(*shape, sizes.max_matmul_flops, sizes.min_rows))).collect();
    let q = sizes.square;
    shapes.push(("square".into(), [q, q, q]));
    let mut matmul_probes = Vec::with_capacity(shapes.len());
    for (i, (source, shape)) in shapes.iter().enumerate() {
        if shapes[..i].iter().any(|(_, s)| s == shape) {
            continue;
        }
        let [m, k, n] = shape.map(|v| v as i32);
        let a = mlx_rs::random::normal::<f32>(&[m, k], None, None, &mlx_rs::random::key(7)?)?.as_dtype(dtype.mlx())?;
        let b = mlx_rs::random::normal::<f32>(&[k, n], None, None, &mlx_rs::random::key(8)?)?.as_dtype(dtype.mlx())?;
        mlx_rs::transforms::eval([&a, &b])?;
        let best = best_seconds(sizes.reps, || {
            a.matmul(&b)?.eval()?;
            Ok(())
        })?;
        let flops = 2.0 * shape.iter().map(|&v| v as f64).product::<f64>();
        matmul_probes.push(MatmulProbe { shape: *shape, flops_per_s: flops / best, source: source.clone() });
    }

    let bandwidth_probes = streaming_probes(dtype, &sizes.bandwidth_array_bytes, sizes.reps)?;
    let cache_probes = streaming_probes(dtype, &sizes.cache_array_bytes, sizes.cache_reps)?;
    let mut c = summarise(dtype, matmul_probes, bandwidth_probes, sizes.llc_bytes);
    c.cache_bandwidth_bytes_per_s = cache_probes.iter().map(|p| p.bytes_per_s).fold(0.0, f64::max);
    c.cache_bandwidth_probes = cache_probes;
    c.page_fault_ns = page_fault_ns().unwrap_or(0.0);
    Ok(c)
}

/// What one minor page fault costs here, ns (see `Calibration::page_fault_ns`): the median over
/// 5 passes, each writing one byte per page of a fresh 64 MiB anonymous mapping, the kind of
/// memory a large allocation gets. `None` where the faults cannot be counted.
pub(crate) fn page_fault_ns() -> Option<f64> {
    const BYTES: usize = 64 << 20;
    // SAFETY: sysconf reads a system constant.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok().filter(|p| *p > 0)?;
    let mut per_fault = Vec::new();
    for _ in 0..5 {
        // SAFETY: a private anonymous mapping of BYTES, written only inside its bounds, then
        // unmapped; nothing else refers to it.
        unsafe {
            let p = libc::mmap(std::ptr::null_mut(), BYTES, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
            if p == libc::MAP_FAILED {
                return None;
            }
            let bytes = p.cast::<u8>();
            let before = crate::machine::minor_faults();
            let start = std::time::Instant::now();
            for offset in (0..BYTES).step_by(page) {
                std::ptr::write_volatile(bytes.add(offset), 1);
            }
            let ns = start.elapsed().as_nanos() as f64;
            let faults = before.zip(crate::machine::minor_faults()).map(|(b, a)| a.saturating_sub(b));
            libc::munmap(p, BYTES);
            match faults {
                Some(n) if n > 0 => per_fault.push(ns / n as f64),
                _ => return None,
            }
        }
    }
    per_fault.sort_by(f64::total_cmp);
    Some(per_fault[per_fault.len() / 2])
}

/// The best rate of `y = x + 1` over an input of each of `array_bytes`, each the best of `reps`.
fn streaming_probes(dtype: DType, array_bytes: &[u64], reps: u32) -> Result<Vec<BandwidthProbe>> {
    let mut probes = Vec::with_capacity(array_bytes.len());
    for &bytes in array_bytes {
        let elements = (bytes / dtype.size()).clamp(1, i32::MAX as u64) as i32;
        let x = Array::ones::<f32>(&[elements])?.as_dtype(dtype.mlx())?;
        x.eval()?;
        // The scalar in x's dtype: an f32 scalar would promote a bf16 x and write 4-byte values.
        let one = Array::from_f32(1.0).as_dtype(dtype.mlx())?;
        let best = best_seconds(reps, || {
            x.add(&one)?.eval()?;
            Ok(())
        })?;
        let moved = 2 * elements as u64 * dtype.size();
        probes.push(BandwidthProbe { bytes: moved, bytes_per_s: moved as f64 / best });
    }
    Ok(probes)
}

/// The calibration record: each ceiling is the best of its probes.
pub(crate) fn summarise(dtype: DType, matmul_probes: Vec<MatmulProbe>, bandwidth_probes: Vec<BandwidthProbe>, llc_bytes: u64) -> Calibration {
    let best_mm = matmul_probes.iter().max_by(|a, b| a.flops_per_s.total_cmp(&b.flops_per_s)).cloned().unwrap_or_default();
    let best_bw = bandwidth_probes.iter().max_by(|a, b| a.bytes_per_s.total_cmp(&b.bytes_per_s)).cloned().unwrap_or_default();
    Calibration {
        dtype: dtype.name().into(),
        matmul_flops_per_s: best_mm.flops_per_s,
        matmul_shape: best_mm.shape,
        bandwidth_bytes_per_s: best_bw.bytes_per_s,
        bandwidth_bytes: best_bw.bytes,
        matmul_probes,
        bandwidth_probes,
        llc_bytes,
        ..Default::default()
    }
}

/// The shortest of `reps` timed calls of `f`, after one untimed call.
fn best_seconds(reps: u32, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut best = f64::INFINITY;
    for i in 0..=reps.max(1) {
        let t = Instant::now();
        f()?;
        let s = t.elapsed().as_secs_f64();
        if i > 0 {
            best = best.min(s);
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Preset;

    #[test]
    fn cache_sizes_parse() {
        assert_eq!(parse_cache_size("32768K"), Some(32 << 20));
        assert_eq!(parse_cache_size("8M\n"), Some(8 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("12X"), None);
        assert_eq!(parse_cache_size(""), None);
    }

    #[test]
    fn the_model_gemms_at_each_length_are_measured() {
        let cfg = Preset::Lingbot14b.config();
        let shapes: Vec<[u64; 3]> = model_gemm_shapes(&cfg, &[3120, 9360, 3120]).into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            shapes,
            vec![
                [3120, 5120, 5120],
                [3120, 5120, 13824],
                [3120, 13824, 5120],
                [9360, 5120, 5120],
                [9360, 5120, 13824],
                [9360, 13824, 5120],
                [512, 4096, 5120],
            ]
        );
    }

    #[test]
    fn shapes_are_cut_to_the_budget_by_rows_only() {
        let max = 2.0 * 2048f64.powi(3);
        assert_eq!(capped([9360, 5120, 13824], max, 256), [256, 5120, 13824]);
        assert_eq!(capped([9360, 1024, 1024], max, 256), [8192, 1024, 1024]);
        assert_eq!(capped([504, 256, 1024], max, 256), [504, 256, 1024]);
        let [m, k, n] = capped([9360, 2048, 2048], max, 256);
        assert!(2.0 * (m * k * n) as f64 <= max && m == 2048);
    }

    #[test]
    fn bandwidth_sizes_are_far_beyond_the_cache() {
        let llc = 32 << 20;
        let cpu = Sizes::new(Backend::Cpu, DType::F32, llc);
        assert!(cpu.bandwidth_array_bytes.len() >= 2);
        assert!(cpu.bandwidth_array_bytes.iter().all(|&b| b >= LLC_FACTOR * llc));
        let gpu = Sizes::new(Backend::Cuda, DType::Bf16, 0);
        assert!(gpu.bandwidth_array_bytes.iter().all(|&b| b >= 256 << 20) && gpu.bandwidth_array_bytes.len() >= 3);
        assert_eq!(gpu.square, 8192);
        // The cache-resident passes fit in the cache (each moves twice its input); none on a GPU
        // or where the cache is unknown.
        assert!(!cpu.cache_array_bytes.is_empty() && cpu.cache_array_bytes.iter().all(|&b| 2 * b <= llc));
        assert!(gpu.cache_array_bytes.is_empty() && Sizes::new(Backend::Cpu, DType::F32, 0).cache_array_bytes.is_empty());
    }

    #[test]
    fn the_ceilings_are_the_best_probes() {
        let mm = |s: u64, r: f64| MatmulProbe { shape: [s, s, s], flops_per_s: r, source: "x".into() };
        let bw = |b: u64, r: f64| BandwidthProbe { bytes: b, bytes_per_s: r };
        let c = summarise(DType::Bf16, vec![mm(1, 3.0), mm(2, 7.0), mm(3, 5.0)], vec![bw(10, 2.0), bw(20, 9.0), bw(30, 4.0)], 0);
        assert_eq!((c.matmul_flops_per_s, c.matmul_shape), (7.0, [2, 2, 2]));
        assert_eq!((c.bandwidth_bytes_per_s, c.bandwidth_bytes), (9.0, 20));
        assert_eq!((c.matmul_probes.len(), c.bandwidth_probes.len()), (3, 3));
    }

    #[test]
    fn a_small_calibration_records_every_probe_and_its_best() {
        // MLX work: not during another test's recording (process-global peak memory).
        let _serial = crate::tests::common::serial();
        let sizes = Sizes {
            square: 128,
            max_matmul_flops: 2.0 * 128f64.powi(3),
            min_rows: 16,
            bandwidth_array_bytes: vec![1 << 20, 2 << 20],
            reps: 1,
            cache_array_bytes: vec![64 << 10, 128 << 10],
            cache_reps: 3,
            llc_bytes: 1 << 20,
        };
        let gemms = vec![("a".to_string(), [64, 32, 48]), ("b".to_string(), [1000, 128, 128]), ("dup".to_string(), [128, 128, 128])];
        let c = calibrate_with(Backend::Cpu, DType::F32, &gemms, &sizes).unwrap();
        // The duplicate of the square (after the cut) is measured once.
        let shapes: Vec<[u64; 3]> = c.matmul_probes.iter().map(|p| p.shape).collect();
        assert_eq!(shapes, vec![[64, 32, 48], [128, 128, 128]]);
        assert_eq!(c.bandwidth_probes.iter().map(|p| p.bytes).collect::<Vec<_>>(), vec![2 << 20, 4 << 20]);
        let best = c.matmul_probes.iter().map(|p| p.flops_per_s).fold(0.0, f64::max);
        assert!(c.matmul_flops_per_s == best && best > 0.0);
        let best_bw = c.bandwidth_probes.iter().map(|p| p.bytes_per_s).fold(0.0, f64::max);
        assert!(c.bandwidth_bytes_per_s == best_bw && best_bw > 0.0);
        assert_eq!(c.cache_bandwidth_probes.iter().map(|p| p.bytes).collect::<Vec<_>>(), vec![128 << 10, 256 << 10]);
        let best_cache = c.cache_bandwidth_probes.iter().map(|p| p.bytes_per_s).fold(0.0, f64::max);
        assert!(c.cache_bandwidth_bytes_per_s == best_cache && best_cache > 0.0);
    }
}
