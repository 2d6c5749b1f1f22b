//! Elementwise chains compiled into single kernels, compiled once per model and reused by every
//! block and forward.
//!
//! mlx-rs gives each `compile` call a fresh function id and erases its cache entry when the
//! compiled closure is dropped, so compiling at the call site re-traces the function on every
//! call: host time spent before the GPU sees any work. Holding the compiled closures here makes
//! the trace happen once per input shape.

use std::cell::{OnceCell, RefCell};

use mlx_rs::error::Exception;
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::transforms::compile::compile;
use mlx_rs::{Array, fast};

use super::cuda::{LayerNormKernel, RmsRopeKernel};

type R<T> = std::result::Result<T, Exception>;
type Kernel = RefCell<Box<dyn FnMut(&[Array]) -> R<Vec<Array>>>>;

fn kernel(f: impl FnMut(&[Array]) -> R<Vec<Array>> + 'static, shapeless: bool) -> Kernel {
    let mut compiled = compile(f, shapeless);
    RefCell::new(Box::new(move |args: &[Array]| compiled(args)))
}

/// A scalar in `like`'s dtype (an f32 scalar would promote bf16 operands).
pub(crate) fn scalar(v: f32, like: &Array) -> R<Array> {
    Array::from_f32(v).as_dtype(like.dtype())
}

/// tanh-approximated GELU in the input's dtype (mlx-rs's `gelu_approximate` builds f32 constants
/// and so returns f32 for bf16 input).
pub(crate) fn gelu(x: &Array) -> R<Array> {
    let c = |v: f32| scalar(v, x);
    let cube = x.multiply(x)?.multiply(x)?;
    let inner = x.add(cube.multiply(c(0.044715)?)?)?.multiply(c((2.0 / std::f32::consts::PI).sqrt())?)?;
    x.multiply(c(0.5)?)?.multiply(mlx_rs::ops::tanh(&inner)?.add(c(1.0)?)?)
}

/// `y * (1 + scale) + shift`.
pub(crate) fn modulate(y: &Array, scale: &Array, shift: &Array) -> R<Array> {
    y.multiply(scale.add(scalar(1.0, scale)?)?)?.add(shift)
}

/// `x + y * gate`.
pub(crate) fn gated_residual(x: &Array, y: &Array, gate: &Array) -> R<Array> {
    x.add(y.multiply(gate)?)
}

/// Rotation of interleaved pairs `[L, H, D/2, 2]` into `[L, H, 2, D/2]`: `x0 * a + x1 * b` with
/// tables `a = (cos; sin)`, `b = (-sin; cos)` of shape `[L, 1, 2, D/2]` (see
/// [`super::rope_tables`]). The first and second members of the rotated pairs come out as two
/// contiguous halves of the head dimension instead of interleaved: the same permutation for
/// queries and keys, which leaves every query-key dot product unchanged, and it lets the one
/// kernel write whole rows (the two inputs are strided views; nothing is split or concatenated).
pub(crate) fn rotate(pairs: &Array, a: &Array, b: &Array) -> R<Array> {
    let x0 = pairs.index((.., .., .., 0..1)).transpose_axes(&[0, 1, 3, 2])?;
    let x1 = pairs.index((.., .., .., 1..2)).transpose_axes(&[0, 1, 3, 2])?;
    x0.multiply(a)?.add(&x1.multiply(b)?)
}

/// The compiled kernels of one model.
pub(crate) struct Kernels {
    gelu: Kernel,
    norm_modulate: Kernel,
    modulate: Kernel,
    gated_residual: Kernel,
    scale_shift: Kernel,
    rotate: Kernel,
    /// One-pass LayerNorm on the CUDA backend (MLX's own elsewhere).
    layer_norm: OnceCell<Option<LayerNormKernel>>,
    /// RMSNorm + RoPE in one pass on the CUDA backend.
    rms_rope: OnceCell<Option<RmsRopeKernel>>,
    /// Weight of ones and bias of zeros for the LayerNorm kernel without affine transform, made
    /// once per row length and dtype rather than on every call.
    unit_affine: RefCell<Option<(Array, Array)>>,
    eps: f32,
}

fn one(mut out: Vec<Array>) -> Array {
    out.swap_remove(0)
}

impl Kernels {
    /// Compiles (lazily, on first use) the kernels for LayerNorm epsilon `eps`.
    pub(crate) fn new(eps: f32) -> Self {
        Kernels {
            // Fixed shapes: MLX's shapeless kernels index generically, and ran GELU at half the
            // speed of the shape-specialised one (0.39 vs 0.20 ms at 9,360 x 13,824 bf16, H200).
            gelu: kernel(|a: &[Array]| Ok(vec![gelu(&a[0])?]), false),
            norm_modulate: kernel(
                move |a: &[Array]| Ok(vec![modulate(&fast::layer_norm(&a[0], None, None, eps)?, &a[1], &a[2])?]),
                false,
            ),
            modulate: kernel(|a: &[Array]| Ok(vec![modulate(&a[0], &a[1], &a[2])?]), false),
            gated_residual: kernel(|a: &[Array]| Ok(vec![gated_residual(&a[0], &a[1], &a[2])?]), false),
            scale_shift: kernel(|a: &[Array]| Ok(vec![a[0].multiply(&a[1])?.add(&a[2])?]), false),
            rotate: kernel(|a: &[Array]| Ok(vec![rotate(&a[0], &a[1], &a[2])?]), false),
            // Created (compiled and self-checked) on first use, so a recording of plain
            // variants never pays for them.
            layer_norm: OnceCell::new(),
            rms_rope: OnceCell::new(),
            unit_affine: RefCell::new(None),
            eps,
        }
    }

    fn call(k: &Kernel, args: &[&Array]) -> R<Array> {
        let owned: Vec<Array> = args.iter().map(|a| (*a).clone()).collect();
        Ok(one((k.borrow_mut())(&owned)?))
    }

    /// Compiled [`gelu`] (always used: MLX has no dtype-preserving tanh GELU kernel).
    pub(crate) fn gelu(&self, x: &Array) -> R<Array> {
        Self::call(&self.gelu, &[x])
    }

    fn layer_norm_kernel(&self) -> Option<&LayerNormKernel> {
        self.layer_norm.get_or_init(|| LayerNormKernel::for_default_device(self.eps)).as_ref()
    }

    fn rms_rope_kernel(&self) -> Option<&RmsRopeKernel> {
        self.rms_rope.get_or_init(|| RmsRopeKernel::for_default_device(self.eps)).as_ref()
    }

    /// Whether q/k RMSNorm and RoPE run as one hand-written CUDA kernel for rows of `dim` values
    /// in `heads` heads of `dtype`.
    pub(crate) fn has_rms_rope(&self, dim: i32, heads: i32, item_size: i32) -> bool {
        self.rms_rope_kernel().is_some() && RmsRopeKernel::applies(dim, heads, item_size)
    }

    /// `RoPE(RMSNorm(x) * weight)` with the rotation table `a` (see [`super::rope_tables`]),
    /// pairs interleaved as in `x`; `None` without the CUDA kernel.
    pub(crate) fn rms_rope(&self, x: &Array, weight: &Array, a: &Array, heads: i32) -> R<Option<Array>> {
        match self.rms_rope_kernel() {
            Some(k) => k.apply(x, weight, a, heads),
            None => Ok(None),
        }
    }

    /// Whether LayerNorm runs as the hand-written CUDA kernel.
    // Used by the benchmarks only.
    #[cfg(feature = "bench")]
    pub(crate) fn has_layer_norm_kernel(&self) -> bool {
        self.layer_norm_kernel().is_some()
    }

    /// `LayerNorm(x) * weight + bias` over the last axis (`[D]` weight and bias): the one-pass
    /// CUDA kernel where it applies, else MLX's LayerNorm.
    pub(crate) fn layer_norm(&self, x: &Array, weight: &Array, bias: &Array) -> R<Array> {
        if let Some(k) = self.layer_norm_kernel() {
            if let Some(out) = k.apply(x, weight, bias)? {
                return Ok(out);
            }
        }
        fast::layer_norm(x, Some(weight), Some(bias), self.eps)
    }

    /// LayerNorm(x) * (1 + scale) + shift, for per-token `scale` and `shift`.
    pub(crate) fn norm_modulate(&self, x: &Array, scale: &Array, shift: &Array) -> R<Array> {
        if self.layer_norm_kernel().is_some() {
            let (ones, zeros) = self.unit_affine(x)?;
            let y = self.layer_norm(x, &ones, &zeros)?;
            return self.modulate(&y, scale, shift);
        }
        Self::call(&self.norm_modulate, &[x, scale, shift])
    }

    /// Ones and zeros of `x`'s row length and dtype.
    fn unit_affine(&self, x: &Array) -> R<(Array, Array)> {
        let d = x.shape()[x.ndim() - 1];
        let mut cached = self.unit_affine.borrow_mut();
        if let Some((ones, zeros)) = cached.as_ref().filter(|(o, _)| o.shape() == [d] && o.dtype() == x.dtype()) {
            return Ok((ones.clone(), zeros.clone()));
        }
        let ones = Array::ones::<f32>(&[d])?.as_dtype(x.dtype())?;
        let zeros = Array::zeros::<f32>(&[d])?.as_dtype(x.dtype())?;
        mlx_rs::transforms::eval([&ones, &zeros])?;
        *cached = Some((ones.clone(), zeros.clone()));
        Ok((ones, zeros))
    }

    /// x * (1 + scale) + shift.
    pub(crate) fn modulate(&self, x: &Array, scale: &Array, shift: &Array) -> R<Array> {
        Self::call(&self.modulate, &[x, scale, shift])
    }

    /// x + y * gate.
    pub(crate) fn gated_residual(&self, x: &Array, y: &Array, gate: &Array) -> R<Array> {
        Self::call(&self.gated_residual, &[x, y, gate])
    }

    /// x * scale + shift.
    pub(crate) fn scale_shift(&self, x: &Array, scale: &Array, shift: &Array) -> R<Array> {
        Self::call(&self.scale_shift, &[x, scale, shift])
    }

    /// [`rotate`] as one kernel.
    pub(crate) fn rotate(&self, pairs: &Array, a: &Array, b: &Array) -> R<Array> {
        Self::call(&self.rotate, &[pairs, a, b])
    }
}
