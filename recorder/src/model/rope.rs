//! 3-D rotary position embedding: the head dimension is split between the frame, height and
//! width axes (44/42/42 of 128: `hd - 4*(hd/6)` for frames, `2*(hd/6)` for each spatial axis),
//! each rotating interleaved pairs `(x[2i], x[2i+1])` by position x 10000^(-2i/axis_dim).

use anyhow::Result;
use mlx_rs::Array;
use mlx_rs::ops::{concatenate, split_equal as split};

use crate::config::DType;

const THETA: f64 = 10000.0;

/// Per pair of the head dimension: which axis (0 frame, 1 height, 2 width) and its frequency.
pub fn rope_frequencies(head_dim: u32) -> Vec<(usize, f64)> {
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

/// Cosine and sine tables `[L, 1, head_dim/2, 1]` for a token grid (frames, height, width),
/// tokens ordered frame-major as patchify produces them. Computed in f64 on the host.
pub fn rope_tables(head_dim: u32, grid: [u32; 3], dtype: DType) -> Result<(Array, Array)> {
    let freqs = rope_frequencies(head_dim);
    let [f, h, w] = grid;
    let l = (f * h * w) as usize;
    let half = freqs.len();
    let mut cos = Vec::with_capacity(l * half);
    let mut sin = Vec::with_capacity(l * half);
    for fi in 0..f {
        for hi in 0..h {
            for wi in 0..w {
                let pos = [fi as f64, hi as f64, wi as f64];
                for &(axis, freq) in &freqs {
                    let angle = pos[axis] * freq;
                    cos.push(angle.cos() as f32);
                    sin.push(angle.sin() as f32);
                }
            }
        }
    }
    let shape = [l as i32, 1, half as i32, 1];
    let cos = Array::from_slice(&cos, &shape).as_dtype(dtype.mlx())?;
    let sin = Array::from_slice(&sin, &shape).as_dtype(dtype.mlx())?;
    Ok((cos, sin))
}

/// Rotates `[L, dim]` queries or keys and returns `[1, heads, L, head_dim]`; `fuse` runs the
/// rotation as one compiled kernel.
pub fn apply(x: &Array, heads: i32, (cos, sin): &(Array, Array), fuse: bool) -> Result<Array> {
    let l = x.shape()[0];
    let hd = x.shape()[1] / heads;
    let pairs = x.reshape(&[l, heads, hd / 2, 2])?;
    if fuse {
        let rotated = super::fused::rotate_pairs(&pairs, cos, sin)?.reshape(&[1, l, heads, hd])?;
        return Ok(rotated.transpose_axes(&[0, 2, 1, 3])?);
    }
    let parts = split(&pairs, 2, 3)?;
    let (a, b) = (&parts[0], &parts[1]);
    let ra = a.multiply(cos)?.subtract(b.multiply(sin)?)?;
    let rb = a.multiply(sin)?.add(b.multiply(cos)?)?;
    let rotated = concatenate(&[ra, rb], 3)?.reshape(&[1, l, heads, hd])?;
    Ok(rotated.transpose_axes(&[0, 2, 1, 3])?)
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
