//! Correctness tests of the MLX operations the model relies on (through mlx-rs), each checked
//! element-wise against an independent naive reference written in plain Rust from the formula.
//!
//! Every op is run in f32 and, where MLX supports it, in bf16: the MLX inputs are cast to bf16,
//! the op runs in bf16, the result is cast back to f32 and compared with the same f32 reference
//! under a looser, bf16-sized tolerance (stated next to each check).
//!
//! Inputs come from a small deterministic LCG, so every run sees the same numbers.
//! Run with `cargo test -p mlx-record --test mlx_ops`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use mlx_rs::fast::{self, ScaledDotProductAttentionMask};
use mlx_rs::{Array, Dtype, nn, ops};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// MLX evaluation is kept to one test thread at a time: the tests stay independent of how
/// thread-safe the CPU backend is.
static MLX_LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    MLX_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Deterministic pseudo-random numbers, uniform in [lo, hi) (64-bit LCG, Knuth's constants).
struct Lcg(u64);

impl Lcg {
    fn new(seed: u64) -> Self {
        Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1))
    }

    fn next_f32(&mut self, lo: f32, hi: f32) -> f32 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let unit = (self.0 >> 40) as f32 / (1u64 << 24) as f32; // 24 random bits -> [0, 1)
        lo + (hi - lo) * unit
    }

    fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.next_f32(lo, hi)).collect()
    }
}

fn numel(shape: &[i32]) -> usize {
    shape.iter().map(|&d| d as usize).product()
}

fn arr(data: &[f32], shape: &[i32]) -> Array {
    assert_eq!(data.len(), numel(shape));
    Array::from_slice(data, shape)
}

/// Evaluates `a`, casts it to f32 and copies it out (row-major, contiguous).
fn to_vec(a: &Array) -> Vec<f32> {
    let f = a.as_dtype(Dtype::Float32).expect("cast to f32");
    f.eval().expect("eval");
    f.as_slice::<f32>().to_vec()
}

fn bf16(a: &Array) -> Array {
    a.as_dtype(Dtype::Bfloat16).expect("cast to bf16")
}

/// Asserts |got - want| <= atol + rtol * |want| for every element, reporting the worst one.
fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    let tol: Vec<f32> = want.iter().map(|w| atol + rtol * w.abs()).collect();
    assert_close_tol(what, got, want, &tol);
}

/// Element-wise check against a per-element tolerance; NaN/inf in `got` always fails.
fn assert_close_tol(what: &str, got: &[f32], want: &[f32], tol: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length mismatch");
    let mut max_abs = 0f32;
    let mut max_rel = 0f32;
    let mut worst: Option<(usize, f32)> = None; // (index, error / tolerance)
    for i in 0..want.len() {
        let err = (got[i] - want[i]).abs();
        let err = if got[i].is_finite() { err } else { f32::INFINITY };
        max_abs = max_abs.max(err);
        max_rel = max_rel.max(err / want[i].abs().max(1e-6));
        let ratio = err / tol[i];
        if worst.is_none_or(|(_, r)| ratio > r) {
            worst = Some((i, ratio));
        }
    }
    let (i, ratio) = worst.expect("empty comparison");
    // Shown with `-- --nocapture`: how close each check came to its tolerance.
    println!("{what}: max abs err {max_abs:.3e}, max rel err {max_rel:.3e}, worst err/tol {ratio:.3}");
    assert!(
        ratio <= 1.0,
        "{what}: element {i}: got {} want {} (|err| {} > tol {}); max abs err {max_abs:e}, max rel err {max_rel:e}",
        got[i],
        want[i],
        (got[i] - want[i]).abs(),
        tol[i]
    );
}

// ---------------------------------------------------------------------------------------------
// Naive references (plain Rust, row-major)
// ---------------------------------------------------------------------------------------------

/// C[b] = A[b] @ B[b] with A: [batch, m, k], B: [batch, k, n]. Also returns sum_k |a||b| per
/// element (the scale of the rounding error of a dot product).
fn ref_matmul(a: &[f32], b: &[f32], batch: usize, m: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    let mut c = vec![0f32; batch * m * n];
    let mut mag = vec![0f32; batch * m * n];
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let (mut s, mut s_abs) = (0f64, 0f64);
                for p in 0..k {
                    let prod = a[bi * m * k + i * k + p] as f64 * b[bi * k * n + p * n + j] as f64;
                    s += prod;
                    s_abs += prod.abs();
                }
                c[bi * m * n + i * n + j] = s as f32;
                mag[bi * m * n + i * n + j] = s_abs as f32;
            }
        }
    }
    (c, mag)
}

/// Transposes a row-major [rows, cols] matrix.
fn ref_transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = x[r * cols + c];
        }
    }
    t
}

fn ref_softmax_rows(x: &[f32], row: usize) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for (xs, os) in x.chunks(row).zip(out.chunks_mut(row)) {
        let max = xs.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f64> = xs.iter().map(|&v| ((v - max) as f64).exp()).collect();
        let sum: f64 = exps.iter().sum();
        for (o, e) in os.iter_mut().zip(&exps) {
            *o = (e / sum) as f32;
        }
    }
    out
}

/// softmax(Q K^T * scale + mask) V per (batch, head). q: [B,H,Lq,D], k/v: [B,H,Lk,D],
/// mask (optional): [Lq, Lk], broadcast over batch and heads.
#[allow(clippy::too_many_arguments)]
fn ref_attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: Option<&[f32]>,
    bh: usize,
    lq: usize,
    lk: usize,
    d: usize,
    scale: f32,
) -> Vec<f32> {
    let mut out = vec![0f32; bh * lq * d];
    for h in 0..bh {
        for i in 0..lq {
            let mut scores = vec![0f32; lk];
            for (j, s) in scores.iter_mut().enumerate() {
                let mut dot = 0f64;
                for t in 0..d {
                    dot += q[(h * lq + i) * d + t] as f64 * k[(h * lk + j) * d + t] as f64;
                }
                *s = dot as f32 * scale + mask.map_or(0.0, |m| m[i * lk + j]);
            }
            let p = ref_softmax_rows(&scores, lk);
            for t in 0..d {
                let mut acc = 0f64;
                for j in 0..lk {
                    acc += p[j] as f64 * v[(h * lk + j) * d + t] as f64;
                }
                out[(h * lq + i) * d + t] = acc as f32;
            }
        }
    }
    out
}

/// y = x / sqrt(mean(x^2) + eps) * w over rows of length `d`.
fn ref_rms_norm(x: &[f32], w: &[f32], d: usize, eps: f32) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for (xs, os) in x.chunks(d).zip(out.chunks_mut(d)) {
        let ms: f64 = xs.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / d as f64;
        let inv = 1.0 / (ms + eps as f64).sqrt();
        for i in 0..d {
            os[i] = (xs[i] as f64 * inv * w[i] as f64) as f32;
        }
    }
    out
}

/// y = (x - mean) / sqrt(var + eps) * w + b over rows of length `d` (biased variance).
fn ref_layer_norm(x: &[f32], w: Option<&[f32]>, b: Option<&[f32]>, d: usize, eps: f32) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for (xs, os) in x.chunks(d).zip(out.chunks_mut(d)) {
        let mean: f64 = xs.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
        let var: f64 = xs.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for i in 0..d {
            let mut y = (xs[i] as f64 - mean) * inv;
            if let Some(w) = w {
                y *= w[i] as f64;
            }
            if let Some(b) = b {
                y += b[i] as f64;
            }
            os[i] = y as f32;
        }
    }
    out
}

/// RoPE on x: [rows_outer, L, D] (position = index along L, plus `offset`), rotating the first
/// `dims` features with theta_i = base^(-2i/dims), angle = scale * pos * theta_i.
/// traditional: pairs (x[2i], x[2i+1]); otherwise pairs (x[i], x[i + dims/2]).
/// Features past `dims` pass through unchanged.
#[allow(clippy::too_many_arguments)]
fn ref_rope(
    x: &[f32],
    outer: usize,
    l: usize,
    d: usize,
    dims: usize,
    traditional: bool,
    base: f32,
    scale: f32,
    offset: usize,
) -> Vec<f32> {
    let mut out = x.to_vec();
    let half = dims / 2;
    for o in 0..outer {
        for p in 0..l {
            let row = (o * l + p) * d;
            let pos = (p + offset) as f64 * scale as f64;
            for i in 0..half {
                let theta = (base as f64).powf(-2.0 * i as f64 / dims as f64);
                let (sin, cos) = (pos * theta).sin_cos();
                let (i1, i2) = if traditional { (2 * i, 2 * i + 1) } else { (i, i + half) };
                let (x1, x2) = (x[row + i1] as f64, x[row + i2] as f64);
                out[row + i1] = (x1 * cos - x2 * sin) as f32;
                out[row + i2] = (x1 * sin + x2 * cos) as f32;
            }
        }
    }
    out
}

fn ref_gelu_tanh(x: f32) -> f32 {
    let x = x as f64;
    let c = (2.0 / std::f64::consts::PI).sqrt();
    (0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())) as f32
}

fn ref_silu(x: f32) -> f32 {
    let x = x as f64;
    (x / (1.0 + (-x).exp())) as f32
}

// ---------------------------------------------------------------------------------------------
// Sanity checks of the checker itself (so a broken comparison cannot pass everything)
// ---------------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "element 1")]
fn checker_rejects_a_wrong_element() {
    assert_close("checker", &[1.0, 2.1, 3.0], &[1.0, 2.0, 3.0], 1e-3, 1e-3);
}

#[test]
#[should_panic]
fn checker_rejects_nan() {
    assert_close("checker", &[f32::NAN], &[0.0], 1.0, 1.0);
}

#[test]
fn references_match_hand_values() {
    // [[1,2],[3,4]] @ [[5,6],[7,8]] = [[19,22],[43,50]]
    let (c, _) = ref_matmul(&[1., 2., 3., 4.], &[5., 6., 7., 8.], 1, 2, 2, 2);
    assert_eq!(c, vec![19., 22., 43., 50.]);
    // Rotation by angle 1 rad of (1, 0) at position 1 for the first pair (theta_0 = 1).
    let r = ref_rope(&[0., 0., 1., 0.], 1, 2, 2, 2, true, 10000.0, 1.0, 0);
    assert!((r[2] - 1f32.cos()).abs() < 1e-6 && (r[3] - 1f32.sin()).abs() < 1e-6);
    assert!((ref_gelu_tanh(1.0) - 0.841_192).abs() < 1e-5);
    assert!((ref_silu(1.0) - 0.731_058_6).abs() < 1e-6);
}

// ---------------------------------------------------------------------------------------------
// matmul
// ---------------------------------------------------------------------------------------------

/// Tolerance of a bf16 matmul against the exact f32 result: each input is rounded to bf16
/// (relative error <= 2^-9 each, so <= ~2^-8 per product), the products are summed (in f32
/// or wider), and the output is rounded to bf16 (2^-9 relative). Bound, with a 2x margin:
/// 2 * (2^-8 * sum_k |a_ik b_kj| + 2^-9 * |c_ij|) + 1e-6.
fn bf16_matmul_tol(mag: &[f32], c: &[f32]) -> Vec<f32> {
    let u = 2f32.powi(-8);
    mag.iter().zip(c).map(|(m, c)| 2.0 * (u * m + 0.5 * u * c.abs()) + 1e-6).collect()
}

/// f32 tolerance: atol 1e-5 * sqrt(K) on inputs in [-1,1] plus rtol 1e-5 (f32 rounding of
/// a length-K sum in any order stays far below this).
fn f32_matmul_tol(k: usize, c: &[f32], mag: &[f32]) -> Vec<f32> {
    c.iter().zip(mag).map(|(c, m)| 1e-5 * (k as f32).sqrt() + 1e-5 * c.abs() + 2e-7 * m).collect()
}

#[test]
fn matmul_2d_shapes_f32_and_bf16() {
    let _g = lock();
    let mut rng = Lcg::new(1);
    for &(m, k, n) in &[(1, 1, 1), (4, 8, 4), (7, 33, 5), (16, 64, 48), (3, 200, 129), (65, 96, 17)] {
        let a = rng.vec(m * k, -1.0, 1.0);
        let b = rng.vec(k * n, -1.0, 1.0);
        let (want, mag) = ref_matmul(&a, &b, 1, m, k, n);
        let (ma, mb) = (arr(&a, &[m as i32, k as i32]), arr(&b, &[k as i32, n as i32]));

        let got = ma.matmul(&mb).unwrap();
        assert_eq!(got.shape(), &[m as i32, n as i32]);
        assert_eq!(got.dtype(), Dtype::Float32);
        assert_close_tol(&format!("matmul f32 {m}x{k}@{k}x{n}"), &to_vec(&got), &want, &f32_matmul_tol(k, &want, &mag));

        let got = bf16(&ma).matmul(bf16(&mb)).unwrap();
        assert_eq!(got.dtype(), Dtype::Bfloat16);
        assert_close_tol(&format!("matmul bf16 {m}x{k}@{k}x{n}"), &to_vec(&got), &want, &bf16_matmul_tol(&mag, &want));
    }
}

/// x @ W^T with W stored as [out, in] (how a linear layer uses it): a transposed, non-contiguous
/// right operand.
#[test]
fn matmul_transposed_weight_f32_and_bf16() {
    let _g = lock();
    let mut rng = Lcg::new(2);
    let (m, k, n) = (9, 40, 24);
    let x = rng.vec(m * k, -1.0, 1.0);
    let w = rng.vec(n * k, -1.0, 1.0); // [n, k]
    let (want, mag) = ref_matmul(&x, &ref_transpose(&w, n, k), 1, m, k, n);
    let (mx, mw) = (arr(&x, &[m as i32, k as i32]), arr(&w, &[n as i32, k as i32]));

    let got = mx.matmul(mw.transpose().unwrap()).unwrap();
    assert_close_tol("matmul f32 x@W^T", &to_vec(&got), &want, &f32_matmul_tol(k, &want, &mag));
    let got = bf16(&mx).matmul(bf16(&mw).transpose().unwrap()).unwrap();
    assert_close_tol("matmul bf16 x@W^T", &to_vec(&got), &want, &bf16_matmul_tol(&mag, &want));
}

#[test]
fn matmul_batched_and_broadcast_f32_and_bf16() {
    let _g = lock();
    let mut rng = Lcg::new(3);
    let (batch, m, k, n) = (3, 5, 17, 6);
    let a = rng.vec(batch * m * k, -1.0, 1.0);
    let b = rng.vec(batch * k * n, -1.0, 1.0);
    let (want, mag) = ref_matmul(&a, &b, batch, m, k, n);
    let (ma, mb) = (arr(&a, &[batch as i32, m as i32, k as i32]), arr(&b, &[batch as i32, k as i32, n as i32]));
    let got = ops::matmul(&ma, &mb).unwrap();
    assert_eq!(got.shape(), &[batch as i32, m as i32, n as i32]);
    assert_close_tol("matmul f32 batched", &to_vec(&got), &want, &f32_matmul_tol(k, &want, &mag));
    let got = ops::matmul(bf16(&ma), bf16(&mb)).unwrap();
    assert_close_tol("matmul bf16 batched", &to_vec(&got), &want, &bf16_matmul_tol(&mag, &want));

    // [batch, m, k] @ [k, n]: the 2-D right operand broadcasts over the batch.
    let b2 = rng.vec(k * n, -1.0, 1.0);
    let tiled: Vec<f32> = (0..batch).flat_map(|_| b2.iter().cloned()).collect();
    let (want, mag) = ref_matmul(&a, &tiled, batch, m, k, n);
    let got = ma.matmul(arr(&b2, &[k as i32, n as i32])).unwrap();
    assert_eq!(got.shape(), &[batch as i32, m as i32, n as i32]);
    assert_close_tol("matmul f32 broadcast", &to_vec(&got), &want, &f32_matmul_tol(k, &want, &mag));
}

// ---------------------------------------------------------------------------------------------
// scaled_dot_product_attention
// ---------------------------------------------------------------------------------------------

/// Runs SDPA for q: [B,H,Lq,D], k/v: [B,H,Lk,D] with an optional additive [Lq,Lk] mask, in f32
/// and bf16, against the naive reference.
fn check_sdpa(seed: u64, b: usize, h: usize, lq: usize, lk: usize, d: usize, mask: Option<Vec<f32>>) {
    let mut rng = Lcg::new(seed);
    let q = rng.vec(b * h * lq * d, -1.5, 1.5);
    let k = rng.vec(b * h * lk * d, -1.5, 1.5);
    let v = rng.vec(b * h * lk * d, -1.0, 1.0);
    let scale = 1.0 / (d as f32).sqrt();
    let want = ref_attention(&q, &k, &v, mask.as_deref(), b * h, lq, lk, d, scale);
    let (b_, h_, lq_, lk_, d_) = (b as i32, h as i32, lq as i32, lk as i32, d as i32);
    let mq = arr(&q, &[b_, h_, lq_, d_]);
    let mk = arr(&k, &[b_, h_, lk_, d_]);
    let mv = arr(&v, &[b_, h_, lk_, d_]);
    let mmask = mask.as_ref().map(|m| arr(m, &[lq_, lk_]));
    let label = format!("sdpa B{b} H{h} Lq{lq} Lk{lk} D{d} mask={}", mask.is_some());

    let mode = mmask.as_ref().map(ScaledDotProductAttentionMask::Array);
    let got = fast::scaled_dot_product_attention(&mq, &mk, &mv, scale, mode, None).unwrap();
    assert_eq!(got.shape(), &[b_, h_, lq_, d_]);
    // f32: softmax-weighted averages of values in [-1,1]; 2e-5 absolute covers f32 rounding.
    assert_close(&format!("{label} f32"), &to_vec(&got), &want, 2e-5, 1e-4);

    let mask_bf = mmask.as_ref().map(bf16);
    let mode = mask_bf.as_ref().map(ScaledDotProductAttentionMask::Array);
    let got = fast::scaled_dot_product_attention(bf16(&mq), bf16(&mk), bf16(&mv), scale, mode, None).unwrap();
    assert_eq!(got.dtype(), Dtype::Bfloat16);
    // bf16: scores carry ~2^-8 relative error from the rounded q/k (|score| <= ~4.5 here, so
    // ~0.02 absolute, i.e. ~2% on the softmax weights), values are rounded (2^-9) and so is
    // the output: outputs are in [-1,1], 0.03 absolute + 2% relative bounds this.
    assert_close(&format!("{label} bf16"), &to_vec(&got), &want, 3e-2, 2e-2);
}

#[test]
fn sdpa_self_attention_no_mask() {
    let _g = lock();
    check_sdpa(10, 2, 3, 7, 7, 16, None);
    check_sdpa(11, 1, 2, 33, 33, 64, None);
}

#[test]
fn sdpa_self_attention_additive_mask() {
    let _g = lock();
    let (lq, lk) = (9, 9);
    // Random additive biases, plus a large negative block that masks the last 3 keys.
    let mut rng = Lcg::new(12);
    let mut mask = rng.vec(lq * lk, -2.0, 2.0);
    for i in 0..lq {
        for j in lk - 3..lk {
            mask[i * lk + j] = -1e4;
        }
    }
    check_sdpa(13, 2, 2, lq, lk, 16, Some(mask));
}

#[test]
fn sdpa_cross_attention_lq_ne_lk() {
    let _g = lock();
    // Queries from video tokens, keys/values from a text context of another length.
    check_sdpa(14, 2, 3, 12, 5, 32, None);
    check_sdpa(15, 1, 2, 4, 19, 16, None);
    let mut rng = Lcg::new(16);
    let mask = rng.vec(6 * 11, -3.0, 1.0);
    check_sdpa(17, 2, 2, 6, 11, 16, Some(mask));
}

// ---------------------------------------------------------------------------------------------
// Normalisations
// ---------------------------------------------------------------------------------------------

#[test]
fn rms_norm_with_weight() {
    let _g = lock();
    let mut rng = Lcg::new(20);
    let (rows, d, eps) = (6, 96, 1e-6);
    let x = rng.vec(rows * d, -3.0, 3.0);
    let w = rng.vec(d, 0.5, 1.5);
    let want = ref_rms_norm(&x, &w, d, eps);
    let (mx, mw) = (arr(&x, &[2, 3, d as i32]), arr(&w, &[d as i32]));
    let got = fast::rms_norm(&mx, Some(&mw), eps).unwrap();
    assert_eq!(got.shape(), &[2, 3, d as i32]);
    // f32: |y| <= ~2.6; f32 rounding of a 96-term mean, rtol 1e-5 / atol 1e-5.
    assert_close("rms_norm f32", &to_vec(&got), &want, 1e-5, 1e-5);
    let got = fast::rms_norm(bf16(&mx), Some(&bf16(&mw)), eps).unwrap();
    assert_eq!(got.dtype(), Dtype::Bfloat16);
    // bf16: x, w and y each rounded (2^-9 relative) -> ~3 * 2^-9 = 0.6%; allow 1.5% + 0.01.
    assert_close("rms_norm bf16", &to_vec(&got), &want, 1e-2, 1.5e-2);
}

#[test]
fn layer_norm_with_and_without_affine() {
    let _g = lock();
    let mut rng = Lcg::new(21);
    let (rows, d, eps) = (5, 80, 1e-6);
    // Offset inputs (mean ~0.7) so a missing mean subtraction would show.
    let x = rng.vec(rows * d, -2.0, 3.4);
    let w = rng.vec(d, 0.5, 1.5);
    let b = rng.vec(d, -0.5, 0.5);
    let (mx, mw, mb) = (arr(&x, &[rows as i32, d as i32]), arr(&w, &[d as i32]), arr(&b, &[d as i32]));

    let cases: [(&str, Option<&Array>, Option<&Array>, Option<&[f32]>, Option<&[f32]>); 4] = [
        ("plain", None, None, None, None),
        ("weight+bias", Some(&mw), Some(&mb), Some(&w), Some(&b)),
        ("weight only", Some(&mw), None, Some(&w), None),
        ("bias only", None, Some(&mb), None, Some(&b)),
    ];
    for (name, aw, ab, rw, rb) in cases {
        let want = ref_layer_norm(&x, rw, rb, d, eps);
        let got = fast::layer_norm(&mx, aw, ab, eps).unwrap();
        // f32: |y| <= ~3; atol 2e-5, rtol 1e-5.
        assert_close(&format!("layer_norm {name} f32"), &to_vec(&got), &want, 2e-5, 1e-5);

        let (bw, bb) = (aw.map(bf16), ab.map(bf16));
        let got = fast::layer_norm(bf16(&mx), bw.as_ref(), bb.as_ref(), eps).unwrap();
        assert_eq!(got.dtype(), Dtype::Bfloat16);
        // bf16: rounding of x (2^-9 relative of |x| up to 3.4, amplified by 1/std ~ 0.6),
        // of w/b and of y: 0.02 absolute + 1.5% relative.
        assert_close(&format!("layer_norm {name} bf16"), &to_vec(&got), &want, 2e-2, 1.5e-2);
    }
}

// ---------------------------------------------------------------------------------------------
// RoPE
// ---------------------------------------------------------------------------------------------

fn check_rope(traditional: bool) {
    let mut rng = Lcg::new(if traditional { 30 } else { 31 });
    // [B, H, L, D]: positions run along L (axis -2).
    let (b, h, l, d) = (2, 3, 11, 32);
    let x = rng.vec(b * h * l * d, -1.0, 1.0);
    let mx = arr(&x, &[b as i32, h as i32, l as i32, d as i32]);
    let want = ref_rope(&x, b * h, l, d, d, traditional, 10000.0, 1.0, 0);
    let label = format!("rope traditional={traditional}");

    let got = fast::rope(&mx, d as i32, traditional, 10000.0, 1.0, 0, None).unwrap();
    assert_eq!(got.shape(), mx.shape());
    // f32: |x| <= 1, angles up to 10 rad; f32 sin/cos and rounding stay below 2e-5.
    assert_close(&format!("{label} f32"), &to_vec(&got), &want, 2e-5, 1e-5);

    // The other layout must differ clearly (proves the check tells the two layouts apart).
    let other = ref_rope(&x, b * h, l, d, d, !traditional, 10000.0, 1.0, 0);
    let diff = to_vec(&got).iter().zip(&other).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff > 0.1, "{label}: result also matches the other layout (max diff {diff})");

    let got = fast::rope(bf16(&mx), d as i32, traditional, 10000.0, 1.0, 0, None).unwrap();
    assert_eq!(got.dtype(), Dtype::Bfloat16);
    // bf16: input and output rounding (2^-9 relative each) on |x| <= 1 -> 0.01 absolute.
    assert_close(&format!("{label} bf16"), &to_vec(&got), &want, 1e-2, 1e-2);
}

#[test]
fn rope_traditional_adjacent_pairs() {
    let _g = lock();
    check_rope(true);
}

#[test]
fn rope_non_traditional_halves() {
    let _g = lock();
    check_rope(false);
}

// ---------------------------------------------------------------------------------------------
// Activations and softmax
// ---------------------------------------------------------------------------------------------

#[test]
fn gelu_tanh_approximation() {
    let _g = lock();
    let mut rng = Lcg::new(40);
    let mut x = rng.vec(997, -6.0, 6.0);
    x.extend_from_slice(&[0.0, -0.0, 1.0, -1.0, 10.0, -10.0]);
    let want: Vec<f32> = x.iter().map(|&v| ref_gelu_tanh(v)).collect();
    let mx = arr(&x, &[x.len() as i32]);
    let got = nn::gelu_approximate(&mx).unwrap();
    // f32: tanh in f32 -> a few ulps of |y| <= 10.
    assert_close("gelu_tanh f32", &to_vec(&got), &want, 2e-6, 1e-5);
    // The exact (erf) GELU must differ from the tanh form somewhere by more than the tolerance.
    let exact = to_vec(&nn::gelu(&mx).unwrap());
    let diff = exact.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff > 1e-4, "erf GELU indistinguishable from the tanh form (max diff {diff})");

    // bf16 input. mlx-rs 0.33 returns f32 here (see gelu_bf16_input_is_promoted_to_f32), so
    // the result is cast to bf16 as a model would do to stay in bf16.
    let got = nn::gelu_approximate(bf16(&mx)).unwrap().as_dtype(Dtype::Bfloat16).unwrap();
    // bf16: x rounded (2^-9 relative; slope of gelu <= 1.13) and y rounded (2^-9): 1% + 4e-3.
    assert_close("gelu_tanh bf16", &to_vec(&got), &want, 4e-3, 1e-2);
}

/// Pins a quirk of mlx-rs 0.33: `nn::gelu_approximate` and `nn::gelu` build their constants as
/// f32 0-d arrays (`array!(0.5)`, ...), which MLX's type promotion treats as f32 operands, so a
/// bf16 input yields an f32 output (a following bf16 linear then runs as an f32 matmul).
/// `nn::silu` keeps bf16. If this test fails, mlx-rs has changed and the casts around GELU
/// can go.
#[test]
fn gelu_bf16_input_is_promoted_to_f32() {
    let _g = lock();
    let x = bf16(&arr(&[-1.0, 0.5, 2.0], &[3]));
    assert_eq!(nn::gelu_approximate(&x).unwrap().dtype(), Dtype::Float32, "gelu_approximate");
    assert_eq!(nn::gelu(&x).unwrap().dtype(), Dtype::Float32, "gelu");
    assert_eq!(nn::silu(&x).unwrap().dtype(), Dtype::Bfloat16, "silu");
}

#[test]
fn silu_matches_x_sigmoid_x() {
    let _g = lock();
    let mut rng = Lcg::new(41);
    let mut x = rng.vec(997, -8.0, 8.0);
    x.extend_from_slice(&[0.0, 1.0, -1.0, 20.0, -20.0]);
    let want: Vec<f32> = x.iter().map(|&v| ref_silu(v)).collect();
    let mx = arr(&x, &[x.len() as i32]);
    let got = nn::silu(&mx).unwrap();
    // f32: a few ulps.
    assert_close("silu f32", &to_vec(&got), &want, 2e-6, 1e-5);
    let got = nn::silu(bf16(&mx)).unwrap();
    assert_eq!(got.dtype(), Dtype::Bfloat16);
    // bf16: x and y rounded (slope of silu <= 1.1): 1% + 4e-3.
    assert_close("silu bf16", &to_vec(&got), &want, 4e-3, 1e-2);
}

#[test]
fn softmax_last_axis() {
    let _g = lock();
    let mut rng = Lcg::new(50);
    let (rows, n) = (7, 37);
    let mut x = rng.vec(rows * n, -8.0, 8.0);
    x[5] = 80.0; // large logit: needs the max subtraction
    let want = ref_softmax_rows(&x, n);
    let mx = arr(&x, &[rows as i32, n as i32]);
    let got = ops::softmax_axis(&mx, -1, None).unwrap();
    // f32: probabilities in [0,1]; atol 1e-6, rtol 1e-5.
    assert_close("softmax f32", &to_vec(&got), &want, 1e-6, 1e-5);
    let got = ops::softmax_axis(bf16(&mx), -1, None).unwrap();
    assert_eq!(got.dtype(), Dtype::Bfloat16);
    // bf16: logits up to 8 rounded to 2^-9 relative (<= 0.016 absolute -> 1.6% on exp) and
    // output rounding: 3% relative + 1e-3 absolute.
    assert_close("softmax bf16", &to_vec(&got), &want, 1e-3, 3e-2);
    let got = ops::softmax_axis(bf16(&mx), -1, true).unwrap();
    assert_close("softmax bf16 precise", &to_vec(&got), &want, 1e-3, 3e-2);
}

// ---------------------------------------------------------------------------------------------
// safetensors round trip
// ---------------------------------------------------------------------------------------------

#[test]
fn safetensors_round_trip_f32_bf16() {
    let _g = lock();
    let mut rng = Lcg::new(60);
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("mlx_ops_safetensors_{}_{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("weights.safetensors");

    let mut arrays: HashMap<String, Array> = HashMap::new();
    let shapes: [(&str, &[i32], Dtype); 6] = [
        ("blocks.0.attn.q.weight", &[24, 16], Dtype::Float32),
        ("blocks.0.attn.q.bias", &[24], Dtype::Float32),
        ("patch_embedding.weight", &[4, 3, 2, 2, 2], Dtype::Float32),
        ("blocks.0.ffn.0.weight", &[13, 7], Dtype::Bfloat16),
        ("blocks.0.norm.weight", &[7], Dtype::Bfloat16),
        ("modulation", &[1, 6, 5], Dtype::Bfloat16),
    ];
    for (name, shape, dtype) in shapes {
        let a = arr(&rng.vec(numel(shape), -3.0, 3.0), shape).as_dtype(dtype).unwrap();
        a.eval().unwrap();
        arrays.insert(name.to_string(), a);
    }
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    Array::save_safetensors(&arrays, Some(&metadata), &path).unwrap();

    let (loaded, loaded_meta) = Array::load_safetensors_with_metadata(&path).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_eq!(loaded_meta.get("format").map(String::as_str), Some("pt"), "metadata");
        let mut want_keys: Vec<_> = arrays.keys().collect();
        let mut got_keys: Vec<_> = loaded.keys().collect();
        want_keys.sort();
        got_keys.sort();
        assert_eq!(got_keys, want_keys);
        for (name, want) in &arrays {
            let got = &loaded[name];
            assert_eq!(got.dtype(), want.dtype(), "{name}: dtype");
            assert_eq!(got.shape(), want.shape(), "{name}: shape");
            // Exact: bf16 -> f32 widening is exact, so equal f32 bits mean equal bf16 bits.
            let (g, w) = (to_vec(got), to_vec(want));
            let same = g.iter().zip(&w).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{name}: values differ after the round trip");
        }
        // The bf16 arrays really hold bf16-rounded values (not the f32 originals).
        let w = to_vec(&loaded["modulation"]);
        assert!(w.iter().all(|v| v.to_bits() & 0xFFFF == 0), "bf16 values carry low mantissa bits");
    }));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
