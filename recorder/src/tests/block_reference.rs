//! The tiny model's blocks and forward against a naive reference written from the formulas of
//! docs/model.md in plain Rust (f64 loops), not from MLX operations.

use super::common::{Tiny, tiny};
use crate::config::{DType, Geometry, Preset};
use crate::cost::CostModel;
use crate::instrument::Probe;
use crate::model::{ForwardOptions, Inputs, Model, Weights};
use mlx_rs::Array;
use trace_format::{RunRecord, SyncMode};

/// Row-major matrix of f64.
#[derive(Clone)]
struct M {
    rows: usize,
    cols: usize,
    v: Vec<f64>,
}

impl M {
    fn from_mlx(a: &Array) -> M {
        let a = a.as_dtype(mlx_rs::Dtype::Float32).unwrap();
        a.eval().unwrap();
        let shape = a.shape();
        let cols = *shape.last().unwrap() as usize;
        let v: Vec<f64> = a.as_slice::<f32>().iter().map(|&x| x as f64).collect();
        M { rows: v.len() / cols, cols, v }
    }
    fn at(&self, r: usize, c: usize) -> f64 {
        self.v[r * self.cols + c]
    }
    fn row(&self, r: usize) -> &[f64] {
        &self.v[r * self.cols..(r + 1) * self.cols]
    }
    fn map2(&self, o: &M, f: impl Fn(f64, f64) -> f64) -> M {
        assert_eq!((self.rows, self.cols), (o.rows, o.cols));
        M { rows: self.rows, cols: self.cols, v: self.v.iter().zip(&o.v).map(|(a, b)| f(*a, *b)).collect() }
    }
    fn map(&self, f: impl Fn(f64) -> f64) -> M {
        M { rows: self.rows, cols: self.cols, v: self.v.iter().map(|a| f(*a)).collect() }
    }
    /// Columns `[start, start + n)`.
    fn cols_slice(&self, start: usize, n: usize) -> M {
        let mut v = Vec::with_capacity(self.rows * n);
        for r in 0..self.rows {
            v.extend_from_slice(&self.row(r)[start..start + n]);
        }
        M { rows: self.rows, cols: n, v }
    }
}

/// y = x W^T + b with W stored [out, in].
fn linear(x: &M, w: &M, b: &M) -> M {
    let mut v = vec![0.0; x.rows * w.rows];
    for r in 0..x.rows {
        for o in 0..w.rows {
            let mut acc = b.v[o];
            for i in 0..x.cols {
                acc += x.at(r, i) * w.at(o, i);
            }
            v[r * w.rows + o] = acc;
        }
    }
    M { rows: x.rows, cols: w.rows, v }
}

fn layer_norm(x: &M, wb: Option<(&M, &M)>, eps: f64) -> M {
    let mut out = x.clone();
    for r in 0..x.rows {
        let row = x.row(r);
        let mean = row.iter().sum::<f64>() / row.len() as f64;
        let var = row.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / row.len() as f64;
        for c in 0..x.cols {
            let mut y = (row[c] - mean) / (var + eps).sqrt();
            if let Some((w, b)) = wb {
                y = y * w.v[c] + b.v[c];
            }
            out.v[r * x.cols + c] = y;
        }
    }
    out
}

fn rms_norm(x: &M, w: &M, eps: f64) -> M {
    let mut out = x.clone();
    for r in 0..x.rows {
        let row = x.row(r);
        let ms = row.iter().map(|a| a * a).sum::<f64>() / row.len() as f64;
        for c in 0..x.cols {
            out.v[r * x.cols + c] = row[c] / (ms + eps).sqrt() * w.v[c];
        }
    }
    out
}

fn modulate(y: &M, scale: &M, shift: &M) -> M {
    y.map2(scale, |a, s| a * (1.0 + s)).map2(shift, |a, b| a + b)
}

fn silu(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

fn gelu_tanh(x: f64) -> f64 {
    0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
}

/// Multi-head attention: softmax(q k^T / sqrt(hd)) v, per head.
fn attention(q: &M, k: &M, v: &M, heads: usize) -> M {
    let hd = q.cols / heads;
    let mut out = vec![0.0; q.rows * q.cols];
    for h in 0..heads {
        for i in 0..q.rows {
            let scores: Vec<f64> = (0..k.rows)
                .map(|j| (0..hd).map(|d| q.at(i, h * hd + d) * k.at(j, h * hd + d)).sum::<f64>() / (hd as f64).sqrt())
                .collect();
            let max = scores.iter().cloned().fold(f64::MIN, f64::max);
            let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = exp.iter().sum();
            for d in 0..hd {
                out[i * q.cols + h * hd + d] = (0..k.rows).map(|j| exp[j] / sum * v.at(j, h * hd + d)).sum();
            }
        }
    }
    M { rows: q.rows, cols: q.cols, v: out }
}

/// 3-D RoPE written from the definition: pair i of a head rotates by pos_axis * 10000^(-2j/D_axis)
/// where the head's pairs are split frame / height / width as D = hd - 4*(hd/6), 2*(hd/6), 2*(hd/6).
fn rope(x: &M, heads: usize, grid: [usize; 3]) -> M {
    let hd = x.cols / heads;
    let dims = [hd - 4 * (hd / 6), 2 * (hd / 6), 2 * (hd / 6)];
    let mut out = x.clone();
    for n in 0..x.rows {
        let pos = [n / (grid[1] * grid[2]), (n / grid[2]) % grid[1], n % grid[2]];
        for h in 0..heads {
            let mut pair = 0;
            for axis in 0..3 {
                for j in 0..dims[axis] / 2 {
                    let angle = pos[axis] as f64 * 10000f64.powf(-2.0 * j as f64 / dims[axis] as f64);
                    let (c, s) = (angle.cos(), angle.sin());
                    let base = n * x.cols + h * hd + 2 * pair;
                    let (a, b) = (x.v[base], x.v[base + 1]);
                    out.v[base] = a * c - b * s;
                    out.v[base + 1] = a * s + b * c;
                    pair += 1;
                }
            }
        }
    }
    out
}

fn param(w: &Weights, name: &str) -> M {
    let a = w.get(name).unwrap();
    let m = M::from_mlx(a);
    if a.ndim() == 1 { M { rows: 1, cols: m.v.len(), v: m.v } } else { m }
}

fn lin(w: &Weights, name: &str, x: &M) -> M {
    linear(x, &param(w, &format!("{name}.weight")), &param(w, &format!("{name}.bias")))
}

/// One block of the reference.
fn reference_block(w: &Weights, b: usize, x: &M, e0: &M, ctx: &M, cam: &M, heads: usize, grid: [usize; 3]) -> M {
    let p = format!("blocks.{b}");
    let d = x.cols;
    let eps = 1e-6;
    let modulation = param(w, &format!("{p}.modulation"));
    // e_i = modulation[i] + e0[:, i*d:(i+1)*d]
    let e: Vec<M> = (0..6)
        .map(|i| {
            let part = e0.cols_slice(i * d, d);
            let mut m = part.clone();
            for r in 0..m.rows {
                for c in 0..d {
                    m.v[r * d + c] += modulation.v[i * d + c];
                }
            }
            m
        })
        .collect();
    let y = modulate(&layer_norm(x, None, eps), &e[1], &e[0]);
    let q = rms_norm(&lin(w, &format!("{p}.self_attn.q"), &y), &param(w, &format!("{p}.self_attn.norm_q.weight")), eps);
    let k = rms_norm(&lin(w, &format!("{p}.self_attn.k"), &y), &param(w, &format!("{p}.self_attn.norm_k.weight")), eps);
    let v = lin(w, &format!("{p}.self_attn.v"), &y);
    let attn = attention(&rope(&q, heads, grid), &rope(&k, heads, grid), &v, heads);
    let x = x.map2(&lin(w, &format!("{p}.self_attn.o"), &attn).map2(&e[2], |a, g| a * g), |a, b| a + b);
    // camera injection
    let h = lin(w, &format!("{p}.cam_injector_layer2"), &lin(w, &format!("{p}.cam_injector_layer1"), cam).map(silu)).map2(cam, |a, b| a + b);
    let x = modulate(&x, &lin(w, &format!("{p}.cam_scale_layer"), &h), &lin(w, &format!("{p}.cam_shift_layer"), &h));
    // cross-attention
    let y = layer_norm(&x, Some((&param(w, &format!("{p}.norm3.weight")), &param(w, &format!("{p}.norm3.bias")))), eps);
    let q = rms_norm(&lin(w, &format!("{p}.cross_attn.q"), &y), &param(w, &format!("{p}.cross_attn.norm_q.weight")), eps);
    let k = rms_norm(&lin(w, &format!("{p}.cross_attn.k"), ctx), &param(w, &format!("{p}.cross_attn.norm_k.weight")), eps);
    let v = lin(w, &format!("{p}.cross_attn.v"), ctx);
    let x = x.map2(&lin(w, &format!("{p}.cross_attn.o"), &attention(&q, &k, &v, heads)), |a, b| a + b);
    // feed-forward
    let y = modulate(&layer_norm(&x, None, eps), &e[4], &e[3]);
    let hidden = lin(w, &format!("{p}.ffn.0"), &y).map(gelu_tanh);
    x.map2(&lin(w, &format!("{p}.ffn.2"), &hidden).map2(&e[5], |a, g| a * g), |a, b| a + b)
}

fn max_rel_err(got: &M, want: &M) -> f64 {
    let scale = want.v.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    got.v.iter().zip(&want.v).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale
}

fn random(shape: &[i32], seed: u64) -> Array {
    let a = mlx_rs::random::normal::<f32>(shape, None, None, &mlx_rs::random::key(seed).unwrap()).unwrap();
    a.eval().unwrap();
    a
}

#[test]
fn tiny_blocks_match_the_naive_reference() {
    let _serial = super::common::serial();
    let config = Preset::Tiny.config();
    let geometry = Geometry::new(5, 64, 64).unwrap(); // 2 x 4 x 4 = 32 tokens
    let l = geometry.tokens() as i32;
    let d = config.dim as i32;
    let weights = Weights::synthetic(&config, DType::F32, 3).unwrap();
    let model = Model::new(config.clone(), DType::F32, weights);
    let inputs = Inputs::synthetic(&config, geometry, DType::F32, 4).unwrap();
    let costs = CostModel::new(&config, l as u64, 4);

    // Block inputs at realistic scales: modulation vectors ~0.1, features ~1.
    let x0 = random(&[l, d], 10);
    let e0 = random(&[l, 6 * d], 11).multiply(Array::from_f32(0.1)).unwrap();
    let ctx = random(&[config.text_len as i32, d], 12);
    let cam = random(&[l, d], 13);
    let grid = geometry.token_grid().map(|v| v as usize);

    let mut x_mlx = x0.clone();
    let mut x_ref = M::from_mlx(&x0);
    for b in 0..config.blocks {
        let mut probe = Probe::new(RunRecord::new(0, "baseline", SyncMode::None, 5, l as u64), &costs);
        x_mlx = model
            .block(b, x_mlx, &e0, &ctx, Some(&cam), &inputs, &mut probe, &ForwardOptions::default())
            .unwrap();
        x_ref = reference_block(&model.weights, b as usize, &x_ref, &M::from_mlx(&e0), &M::from_mlx(&ctx), &M::from_mlx(&cam), config.heads as usize, grid);
        let err = max_rel_err(&M::from_mlx(&x_mlx), &x_ref);
        // f32 matmuls over 256..512 terms accumulate about 1e-6 relative error; 1e-4 leaves room
        // for the fast kernels' reduction orders while catching any structural mistake.
        assert!(err < 1e-4, "block {b}: max relative error {err}");
    }
}

#[test]
fn forward_output_has_the_latent_shape_in_every_sync_mode() {
    let _serial = super::common::serial();
    let Tiny { config, geometry, model, inputs, costs } = tiny(9, 64, 96, DType::F32, 1, 2);
    let mut outputs = Vec::new();
    for mode in [SyncMode::Component, SyncMode::Block, SyncMode::None] {
        let mut probe = Probe::new(RunRecord::new(0, "baseline", mode, 9, geometry.tokens()), &costs);
        let out = model.forward(&inputs, &mut probe, &ForwardOptions::default()).unwrap();
        // [out_dim, latent frames, H/8, W/8] = [16, 3, 8, 12]
        assert_eq!(out.shape(), &[16, 3, 8, 12]);
        let run = probe.into_run();
        let names: Vec<&str> = run.components.iter().map(|c| c.name.as_str()).collect();
        match mode {
            SyncMode::Component => {
                assert_eq!(run.events.len(), 4 + 17 * config.blocks as usize + 1);
                assert!(names.contains(&"block/self_attn/sdpa") && names.contains(&"head"));
            }
            SyncMode::Block => assert_eq!(names, ["embed", "block", "head"]),
            SyncMode::None | SyncMode::Attributed => assert!(run.events.is_empty()),
        }
        outputs.push(M::from_mlx(&out.reshape(&[-1, 12]).unwrap()));
    }
    // Synchronisation changes timing, never results.
    assert!(max_rel_err(&outputs[0], &outputs[2]) < 1e-6);
    assert!(max_rel_err(&outputs[1], &outputs[2]) < 1e-6);
}

#[test]
fn bf16_forward_stays_bf16() {
    let _serial = super::common::serial();
    // A single f32 scalar or an f32-returning activation promotes the residual stream to f32,
    // silently turning every later matmul and attention into f32 work.
    let Tiny { config, geometry, model, inputs, costs } = tiny(5, 32, 32, DType::Bf16, 1, 2);
    let mut probe = Probe::new(RunRecord::new(0, "baseline", SyncMode::None, 5, geometry.tokens()), &costs);
    let out = model.forward(&inputs, &mut probe, &ForwardOptions::default()).unwrap();
    assert_eq!(out.dtype(), mlx_rs::Dtype::Bfloat16);
    let (scale, shift) = model.camera_scale_shift(0, &random(&[4, config.dim as i32], 1).as_dtype(mlx_rs::Dtype::Bfloat16).unwrap()).unwrap();
    assert_eq!((scale.dtype(), shift.dtype()), (mlx_rs::Dtype::Bfloat16, mlx_rs::Dtype::Bfloat16));
}
