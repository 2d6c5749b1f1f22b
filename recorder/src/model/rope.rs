//! 3-D rotary position embedding: the head dimension is split between the frame, height and
//! width axes (44/42/42 of 128: `hd - 4*(hd/6)` for frames, `2*(hd/6)` for each spatial axis),
//! each rotating interleaved pairs `(x[2i], x[2i+1])` by position x 10000^(-2i/axis_dim).

use anyhow::Result;
use mlx_rs::Array;

use super::kernels::Kernels;

use crate::config::DType;

const THETA: f64 = 10000.0;

/// Per pair of the head dimension: which axis (0 frame, 1 height, 2 width) and its frequency.
fn rope_frequencies(head_dim: u32) -> Vec<(usize, f64)> {
    let spatial = 2 * (head_dim / 6);
    let dims = [head_dim - 2 * spatial, spatial, spatial];
    let mut out = Vec::new();
    for (axis, &d) in dims.iter().enumerate() {
        for i in 0..d / 2 {
            out.push((axis, 1.0 / THETA.powf(2.0 * i as f64 / d as f64)));
        }
    }
    out
}

/// Rotation tables `(a, b)` for a token grid (frames, height, width), each `[L, 1, 2, head_dim/2]`:
/// per token, `a = (cos; sin)` and `b = (-sin; cos)` of every pair's angle. Tokens are ordered
/// frame-major as patchify produces them; angles are computed in f64 on the host.
pub(crate) fn rope_tables(head_dim: u32, grid: [u32; 3], dtype: DType) -> Result<(Array, Array)> {
    let freqs = rope_frequencies(head_dim);
    let [f, h, w] = grid;
    let l = (f * h * w) as usize;
    let half = freqs.len();
    let (mut a, mut b): (Vec<f32>, Vec<f32>) = (Vec::with_capacity(l * half * 2), Vec::with_capacity(l * half * 2));
    let (mut cos, mut sin) = (vec![0f32; half], vec![0f32; half]);
    for fi in 0..f {
        for hi in 0..h {
            for wi in 0..w {
                let pos = [fi as f64, hi as f64, wi as f64];
                for (i, &(axis, freq)) in freqs.iter().enumerate() {
                    let (s, c) = (pos[axis] * freq).sin_cos();
                    (cos[i], sin[i]) = (c as f32, s as f32);
                }
                a.extend(cos.iter().chain(&sin));
                b.extend(sin.iter().map(|s| -s).chain(cos.iter().copied()));
            }
        }
    }
    let shape = [l as i32, 1, 2, half as i32];
    Ok((Array::from_slice(&a, &shape).as_dtype(dtype.mlx())?, Array::from_slice(&b, &shape).as_dtype(dtype.mlx())?))
}

/// Rotates `[L, dim]` queries or keys and returns `[1, heads, L, head_dim]`, each head's channels
/// ordered as the first members of the rotated pairs, then the second members (see
/// [`super::kernels::rotate`]): exact for attention, since queries and keys share the order.
///
/// Measured on an H200 at 9,360 tokens (q and k, 40 blocks, component-synced): split, rotate and
/// concatenate took 55 ms as separate kernels; this form takes 37 ms as separate kernels and
/// 17 ms compiled into one (`kernels`).
pub(crate) fn apply(x: &Array, heads: i32, (a, b): &(Array, Array), kernels: Option<&Kernels>) -> Result<Array> {
    let l = x.shape()[0];
    let hd = x.shape()[1] / heads;
    let pairs = x.reshape(&[l, heads, hd / 2, 2])?;
    let rotated = match kernels {
        Some(k) => k.rotate(&pairs, a, b)?,
        None => super::kernels::rotate(&pairs, a, b)?,
    };
    Ok(rotated.reshape(&[1, l, heads, hd])?.transpose_axes(&[0, 2, 1, 3])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_dim_split_is_44_42_42() {
        let f = rope_frequencies(128);
        let count = |axis| f.iter().filter(|(a, _)| *a == axis).count() * 2;
        assert_eq!((count(0), count(1), count(2)), (44, 42, 42));
        // First frequency of each axis is 1, the second 10000^(-2/axis_dim).
        assert_eq!(f[0].1, 1.0);
        assert!((f[1].1 - 10000f64.powf(-2.0 / 44.0)).abs() < 1e-15);
        assert!((f[23].1 - 10000f64.powf(-2.0 / 42.0)).abs() < 1e-15);
    }
}
