//! Operation benchmark: each operation of a LingBot-14B block at one sequence length, timed in
//! isolation, and the sum over one forward of the `optimized` variant (count per block x blocks).
//! It answers "where would a fused forward's time go if every kernel ran at its isolated speed",
//! and compares alternative formulations side by side (rows with count 0).
//!
//! Each sample builds `reps` independent copies of the operation and evaluates them together, so
//! one synchronisation is shared by all copies; the table shows the median over samples.
//!
//! A second table times every component of the baseline forward the same way, through the
//! model's own code: at each invocation of the component, everything before it is evaluated,
//! then `reps` copies of its work are evaluated together (`Perturb::Isolate`). Its ms/forward
//! column is what the attributed costs of a recorded trace are checked against.
//!
//! Run with `cargo bench -p mlx-record --features bench --bench ops`. OPS_BENCH_TOKENS (default 9360 on a GPU,
//! 1560 on the CPU), OPS_BENCH_REPS (default 10), OPS_BENCH_SAMPLES (default 5) and
//! OPS_BENCH_FRAMES (the component table's frame count at 480x832, default 21 on a GPU, 5 on
//! the CPU; OPS_BENCH_COMPONENTS=0 skips it; OPS_BENCH_PRESET picks another preset, e.g. `tiny`
//! for a quick check on the CPU) override.

use std::time::Instant;

use crate::config::{DType, Preset};
use crate::machine::{Backend, detect_backend, use_backend};
use crate::model::kernels::Kernels;
use crate::model::rope_tables;
use mlx_rs::ops::addmm;
use mlx_rs::{Array, fast};

type Op<'a> = Box<dyn Fn() -> Array + 'a>;

struct Row<'a> {
    name: &'static str,
    per_block: u32,
    flops: f64,
    bytes: f64,
    op: Op<'a>,
}

fn row<'a>(name: &'static str, per_block: u32, (flops, bytes): (f64, f64), op: Op<'a>) -> Row<'a> {
    Row { name, per_block, flops, bytes, op }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

/// Runs the benchmark and prints its table.
pub fn main() {
    let backend = detect_backend();
    use_backend(backend);
    let gpu = backend != Backend::Cpu;
    let l = env_or("OPS_BENCH_TOKENS", if gpu { 9360 } else { 1560 }) as i32;
    let reps = env_or("OPS_BENCH_REPS", 10);
    let samples = env_or("OPS_BENCH_SAMPLES", 5);
    let dtype = if gpu { DType::Bf16 } else { DType::F32 };
    let cfg = Preset::Lingbot14b.config();
    let (d, f, h, hd, t) = (cfg.dim as i32, cfg.ffn_dim as i32, cfg.heads as i32, cfg.head_dim as i32, cfg.text_len as i32);
    let s = dtype.size() as f64;
    let eps = cfg.eps as f32;

    let mut seed = 0u64;
    let mut rand = |shape: &[i32]| -> Array {
        seed += 1;
        let key = mlx_rs::random::key(seed).unwrap();
        let a = mlx_rs::random::normal::<f32>(shape, None, None, &key).unwrap().multiply(Array::from_f32(0.05)).unwrap();
        let a = a.as_dtype(dtype.mlx()).unwrap();
        a.eval().unwrap();
        a
    };
    let x = rand(&[l, d]);
    let y = rand(&[l, d]);
    let hidden = rand(&[l, f]);
    let w_dd = rand(&[d, d]);
    let w_up = rand(&[f, d]);
    let w_down = rand(&[d, f]);
    let b_d = rand(&[d]);
    let w_3d = rand(&[3 * d, d]);
    let b_3d = rand(&[3 * d]);
    let b_f = rand(&[f]);
    let gate_row = rand(&[1, d]);
    let full = rand(&[l, d]);
    let per_token6 = rand(&[l, 6 * d]);
    let ctx_k = rand(&[1, h, t, hd]);
    let ctx_v = rand(&[1, h, t, hd]);
    let blhd = |a: &Array| a.reshape(&[1, l, h, hd]).unwrap().transpose_axes(&[0, 2, 1, 3]).unwrap();
    let bhld = |a: &Array| {
        let c = a.reshape(&[1, l, h, hd]).unwrap().transpose_axes(&[0, 2, 1, 3]).unwrap();
        // Materialise contiguously: add zero.
        let c = c.add(Array::from_f32(0.0).as_dtype(dtype.mlx()).unwrap()).unwrap();
        c.eval().unwrap();
        c
    };
    let (q_v, k_v, v_v) = (blhd(&x), blhd(&y), blhd(&full));
    let (q_c, k_c, v_c) = (bhld(&x), bhld(&y), bhld(&full));
    let grid = [1, 1, l as u32];
    let tables = rope_tables(cfg.head_dim, grid, dtype).unwrap();
    mlx_rs::transforms::eval([&tables.0, &tables.1]).unwrap();
    let kernels = Kernels::new(eps);
    let scale = 1.0 / (hd as f32).sqrt();
    let (lf, df, ff, hf, tf) = (l as f64, d as f64, f as f64, h as f64, t as f64);
    let ld = lf * df;
    let linear_cost = |rows: f64, i: f64, o: f64| (2.0 * rows * i * o, s * (i * o + rows * i + rows * o));

    let gate_slice = mlx_rs::ops::split_equal(&per_token6, 6, 1).unwrap().swap_remove(2);
    let pairs = x.reshape(&[l, h, hd / 2, 2]).unwrap();
    let gelu_fixed = std::cell::RefCell::new(mlx_rs::transforms::compile::compile(
        |a: &[Array]| Ok(vec![crate::model::kernels::gelu(&a[0])?]),
        false,
    ));
    let gelu_sigmoid = std::cell::RefCell::new(mlx_rs::transforms::compile::compile(
        |a: &[Array]| {
            let x = &a[0];
            let c = |v: f32| Array::from_f32(v).as_dtype(x.dtype());
            let inner = x.add(x.multiply(x)?.multiply(x)?.multiply(c(0.044715)?)?)?.multiply(c(2.0 * (2.0 / std::f32::consts::PI).sqrt())?)?;
            Ok(vec![x.multiply(mlx_rs::ops::sigmoid(&inner)?)?])
        },
        false,
    ));
    let mut rows: Vec<Row> = Vec::new();
    rows.push(row("linear d->d + bias (addmm)", 6, linear_cost(lf, df, df), Box::new(|| addmm(&b_d, &x, w_dd.t(), None, None).unwrap())));
    rows.push(row("linear d->3d + bias (q, k, v in one)", 0, linear_cost(lf, df, 3.0 * df), Box::new(|| addmm(&b_3d, &x, w_3d.t(), None, None).unwrap())));
    rows.push(row("matmul d->d, no bias", 0, linear_cost(lf, df, df), Box::new(|| x.matmul(w_dd.t()).unwrap())));
    rows.push(row("linear d->ffn + bias", 1, linear_cost(lf, df, ff), Box::new(|| addmm(&b_f, &x, w_up.t(), None, None).unwrap())));
    rows.push(row("linear ffn->d + bias", 1, linear_cost(lf, ff, df), Box::new(|| addmm(&b_d, &hidden, w_down.t(), None, None).unwrap())));
    let sdpa_cost = (4.0 * lf * lf * df, s * 4.0 * ld);
    rows.push(row("sdpa self, [1,L,H,D] views", 1, sdpa_cost, Box::new(|| fast::scaled_dot_product_attention(&q_v, &k_v, &v_v, scale, None, None).unwrap())));
    rows.push(row("sdpa self, [1,H,L,D] contiguous", 0, sdpa_cost, Box::new(|| fast::scaled_dot_product_attention(&q_c, &k_c, &v_c, scale, None, None).unwrap())));
    rows.push(row("sdpa cross, 512 keys", 1, (4.0 * lf * tf * df, s * (2.0 * ld + 2.0 * tf * df)), Box::new(|| fast::scaled_dot_product_attention(&q_v, &ctx_k, &ctx_v, scale, None, None).unwrap())));
    let norm_cost = (8.0 * ld, s * 2.0 * ld);
    let custom_ln = kernels.has_layer_norm_kernel();
    if custom_ln {
        rows.push(row("layer_norm, one-pass CUDA kernel", 3, norm_cost, Box::new(|| kernels.layer_norm(&x, &b_d, &b_d).unwrap())));
    }
    rows.push(row("layer_norm, weight + bias", if custom_ln { 0 } else { 3 }, norm_cost, Box::new(|| fast::layer_norm(&x, Some(&b_d), Some(&b_d), eps).unwrap())));
    rows.push(row("layer_norm, no affine", 0, norm_cost, Box::new(|| fast::layer_norm(&x, None, None, eps).unwrap())));
    let rms_rope = kernels.has_rms_rope(d, h, s as i32);
    if rms_rope {
        rows.push(row("rms_norm + rope, one CUDA kernel", 2, (7.0 * ld, s * 2.0 * ld), Box::new(|| kernels.rms_rope(&x, &b_d, &tables.0, h).unwrap().unwrap())));
    }
    rows.push(row("rms_norm, weight", if rms_rope { 1 } else { 3 }, (4.0 * ld, s * 2.0 * ld), Box::new(|| fast::rms_norm(&x, Some(&b_d), eps).unwrap())));
    rows.push(row("gelu (compiled, fixed shape)", 0, (8.0 * lf * ff, s * 2.0 * lf * ff), Box::new(|| (gelu_fixed.borrow_mut())(&[hidden.clone()]).unwrap().remove(0))));
    rows.push(row("gelu as x*sigmoid (compiled, fixed shape)", 0, (8.0 * lf * ff, s * 2.0 * lf * ff), Box::new(|| (gelu_sigmoid.borrow_mut())(&[hidden.clone()]).unwrap().remove(0))));
    rows.push(row("gelu (compiled)", 1, (8.0 * lf * ff, s * 2.0 * lf * ff), Box::new(|| kernels.gelu(&hidden).unwrap())));
    rows.push(row("x + y * gate, gate one row (compiled)", 2, (2.0 * ld, s * 3.0 * ld), Box::new(|| kernels.gated_residual(&x, &y, &gate_row).unwrap())));
    rows.push(row("x + y * gate, gate per token (compiled)", 0, (2.0 * ld, s * 4.0 * ld), Box::new(|| kernels.gated_residual(&x, &y, &gate_slice).unwrap())));
    rows.push(row("x * scale + shift, per token (compiled)", 1, (2.0 * ld, s * 4.0 * ld), Box::new(|| kernels.scale_shift(&x, &y, &full).unwrap())));
    rows.push(row("x + y", 1, (ld, s * 3.0 * ld), Box::new(|| x.add(&y).unwrap())));
    rows.push(row("rope (compiled)", if rms_rope { 0 } else { 2 }, (3.0 * ld, s * 2.0 * ld), Box::new(|| kernels.rotate(&pairs, &tables.0, &tables.1).unwrap())));
    rows.push(row("rope (separate kernels)", 0, (3.0 * ld, s * 2.0 * ld), Box::new(|| crate::model::kernels::rotate(&pairs, &tables.0, &tables.1).unwrap())));

    let blocks = cfg.blocks as f64;
    println!("LingBot-14B block operations at L = {l} ({}, {}), {reps} copies per evaluation, median of {samples}", backend.name(), dtype.name());
    println!();
    println!("{:<42} {:>9} {:>9} {:>8} {:>6} {:>13}", "operation", "ms", "TFLOP/s", "GB/s", "count", "ms/forward");
    let mut total = 0.0;
    for r in &rows {
        // Warm-up (compiles kernels, builds cuDNN graphs).
        let warm: Vec<Array> = (0..2).map(|_| (r.op)()).collect();
        mlx_rs::transforms::eval(warm.iter()).unwrap();
        drop(warm);
        let times: Vec<f64> = (0..samples)
            .map(|_| {
                let start = Instant::now();
                let outs: Vec<Array> = (0..reps).map(|_| (r.op)()).collect();
                mlx_rs::transforms::eval(outs.iter()).unwrap();
                start.elapsed().as_secs_f64() / reps as f64
            })
            .collect();
        let sec = median(times);
        let per_forward = sec * 1e3 * r.per_block as f64 * blocks;
        total += per_forward;
        println!(
            "{:<42} {:>9.3} {:>9.1} {:>8.0} {:>6} {:>13}",
            r.name,
            sec * 1e3,
            r.flops / sec / 1e12,
            r.bytes / sec / 1e9,
            if r.per_block > 0 { format!("{}x{}", r.per_block, cfg.blocks) } else { "alt".into() },
            if r.per_block > 0 { format!("{per_forward:.1}") } else { "-".into() },
        );
        mlx_rs::memory::clear_cache().unwrap();
    }
    let _ = hf;
    println!();
    println!("sum over one `optimized` forward's blocks at isolated speed: {total:.1} ms");
    drop(rows);
    mlx_rs::memory::clear_cache().unwrap();
    if env_or("OPS_BENCH_COMPONENTS", 1) != 0 {
        let frames = env_or("OPS_BENCH_FRAMES", if gpu { 21 } else { 5 }) as u32;
        components(dtype, frames, reps as u32, samples);
    }
}

/// Every component of the baseline forward (the 14B model by default; 2 blocks built, block
/// components scaled to the preset's block count) timed in isolation through the model's code.
fn components(dtype: DType, frames: u32, reps: u32, samples: usize) {
    use crate::cost::CostModel;
    use crate::instrument::{Perturb, Probe};
    use crate::model::{ForwardOptions, Inputs, Model, Weights};
    use trace_format::{RunRecord, SyncMode};

    let preset: Preset = std::env::var("OPS_BENCH_PRESET").ok().map_or(Preset::Lingbot14b, |p| p.parse().expect("OPS_BENCH_PRESET: a preset name"));
    let mut config = preset.config();
    let full_blocks = config.blocks;
    config.blocks = 2;
    let geometry = crate::config::Geometry::new(frames, 480, 832).unwrap();
    let model = Model::new(config.clone(), dtype, Weights::synthetic(&config, dtype, 1).unwrap());
    let inputs = Inputs::synthetic(&config, geometry, dtype, 1).unwrap();
    let costs = CostModel::new(&config, geometry.tokens(), dtype.size());
    let opts = ForwardOptions::default();
    let forward = |perturb: Perturb| -> Probe<'_> {
        let run = RunRecord::new(0, "baseline", SyncMode::None, frames, geometry.tokens());
        let mut probe = Probe::new(run, &costs).with_perturbation(perturb);
        let out = model.forward(&inputs, &mut probe, &opts).unwrap();
        out.eval().unwrap();
        probe
    };
    let stages = forward(Perturb::Nothing).stages().to_vec();
    println!();
    println!(
        "Components of the baseline {} forward in isolation at L = {} ({frames} frames, {}), {reps} copies per evaluation, median of {} invocations x {samples} forwards",
        preset.name(),
        geometry.tokens(),
        dtype.name(),
        config.blocks
    );
    println!();
    println!("{:<28} {:>10} {:>7} {:>12}", "component", "ms", "count", "ms/forward");
    let mut total = 0.0;
    for stage in &stages {
        let mut times = Vec::new();
        for _ in 0..samples {
            times.extend_from_slice(forward(Perturb::Isolate { target: stage.name.clone(), reps }).isolated_ns());
            mlx_rs::memory::clear_cache().unwrap();
        }
        let ms = median(times) / 1e6;
        let count = if stage.name.starts_with("block/") { full_blocks } else { stage.calls };
        total += ms * count as f64;
        println!("{:<28} {:>10.3} {:>7} {:>12.1}", stage.name, ms, count, ms * count as f64);
    }
    println!();
    println!("sum over one baseline forward at isolated speed ({full_blocks} blocks): {total:.1} ms");
}
