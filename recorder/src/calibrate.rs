//! Measures this machine's achievable matmul rate and memory bandwidth through MLX, so every
//! component can be placed against the machine's own ceilings rather than a datasheet.

use std::time::Instant;

use anyhow::Result;
use mlx_rs::Array;
use trace_format::Calibration;

use crate::config::DType;
use crate::machine::Backend;

/// Runs the calibration: best of several square matmuls, best of several streaming `x + 1` passes.
pub fn calibrate(backend: Backend, dtype: DType) -> Result<Calibration> {
    if !backend.is_gpu() {
        crate::blas::check_matmul()?;
    }
    let n: i32 = match (backend.is_gpu(), dtype) {
        (true, _) => 8192,
        (false, DType::F32) => 2048,
        // MLX's own CPU kernels for 16-bit matmul are slow: keep the measurement short.
        (false, _) => 512,
    };
    let reps = if backend.is_gpu() { 10 } else { 4 };
    let key = mlx_rs::random::key(7)?;
    let a = mlx_rs::random::normal::<f32>(&[n, n], None, None, &key)?.as_dtype(dtype.mlx())?;
    let b = mlx_rs::random::normal::<f32>(&[n, n], None, None, &mlx_rs::random::key(8)?)?.as_dtype(dtype.mlx())?;
    mlx_rs::transforms::eval([&a, &b])?;
    let flops = 2.0 * (n as f64).powi(3);
    let mut best = f64::INFINITY;
    for i in 0..reps + 1 {
        let t = Instant::now();
        let c = a.matmul(&b)?;
        c.eval()?;
        let s = t.elapsed().as_secs_f64();
        if i > 0 {
            best = best.min(s);
        }
    }

    let elements: i32 = if backend.is_gpu() { 1 << 28 } else { 1 << 25 };
    let x = Array::ones::<f32>(&[elements])?.as_dtype(dtype.mlx())?;
    x.eval()?;
    let moved = 2 * elements as u64 * dtype.size();
    let mut best_bw = f64::INFINITY;
    for i in 0..reps + 1 {
        let t = Instant::now();
        // The scalar in x's dtype: an f32 scalar would promote a bf16 x and write 4-byte values.
        let y = x.add(Array::from_f32(1.0).as_dtype(dtype.mlx())?)?;
        y.eval()?;
        let s = t.elapsed().as_secs_f64();
        if i > 0 {
            best_bw = best_bw.min(s);
        }
    }
    Ok(Calibration {
        dtype: dtype.name().into(),
        matmul_flops_per_s: flops / best,
        matmul_shape: [n as u64, n as u64, n as u64],
        bandwidth_bytes_per_s: moved as f64 / best_bw,
        bandwidth_bytes: moved,
    })
}
