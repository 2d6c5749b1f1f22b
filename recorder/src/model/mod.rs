//! The LingBot-World DiT (Wan2.2 A14B + camera control) in mlx-rs, instrumented by a [`Probe`].
//!
//! Activations are kept 2-D, `[tokens, dim]` (batch 1); attention reshapes to `[1, heads, L, 64..]`.
//! The structure follows docs/model.md; each timed stage carries its taxonomy name.

mod cuda;
pub(crate) mod kernels;
pub(crate) mod names;
mod rope;
pub(crate) mod weights;

use anyhow::Result;
use mlx_rs::ops::{addmm, concatenate, split_equal as split};
use mlx_rs::{Array, fast, nn};
use trace_format::taxonomy::component;
use trace_format::ModelConfig;

pub(crate) use rope::rope_tables;
pub(crate) use weights::Weights;
pub(crate) use weights::param_count;

use crate::config::{CAMERA_CHANNELS, DType, Geometry};
use crate::instrument::Probe;
use kernels::{Kernels, gated_residual, modulate, scalar};

/// Diffusion timestep used for every recorded forward (the value does not change the cost).
pub(crate) const TIMESTEP: f32 = 500.0;

/// The transformer with its weights.
pub(crate) struct Model {
    /// Shape of the model.
    pub config: ModelConfig,
    /// Compute dtype.
    pub dtype: DType,
    /// Parameters.
    pub weights: Weights,
    /// Compiled elementwise kernels, traced once and reused.
    kernels: Kernels,
}

/// Inputs of one forward pass plus the position tables derived from the geometry.
pub(crate) struct Inputs {
    /// Geometry.
    pub geometry: Geometry,
    /// Noisy latent plus conditioning, `[in_dim, F, H/8, W/8]`.
    pub latent: Array,
    /// Text encoder output, `[text_len, text_dim]`.
    pub context: Array,
    /// Patchified Plücker camera rays, `[L, 1536]`, when the model has camera control.
    pub camera: Option<Array>,
    /// RoPE rotation tables `(a, b)`, `[L, 1, 2, head_dim/2]` each.
    pub rope: (Array, Array),
}

impl Inputs {
    /// Random inputs with a fixed seed.
    pub(crate) fn synthetic(config: &ModelConfig, geometry: Geometry, dtype: DType, seed: u64) -> Result<Self> {
        let [f, h, w] = geometry.latent_grid();
        let l = geometry.tokens() as i32;
        let key = |i: u64| mlx_rs::random::key(seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i + 1)));
        let normal = |shape: &[i32], i: u64| -> Result<Array> {
            Ok(mlx_rs::random::normal::<f32>(shape, None, None, &key(i)?)?.as_dtype(dtype.mlx())?)
        };
        let latent = normal(&[config.in_dim as i32, f as i32, h as i32, w as i32], 1)?;
        let context = normal(&[config.text_len as i32, config.text_dim as i32], 2)?;
        let camera = if config.camera { Some(normal(&[l, CAMERA_CHANNELS as i32], 3)?) } else { None };
        let rope = rope_tables(config.head_dim, geometry.token_grid(), dtype)?;
        let mut all = vec![&latent, &context, &rope.0, &rope.1];
        all.extend(camera.as_ref());
        mlx_rs::transforms::eval(all)?;
        Ok(Inputs { geometry, latent, context, camera, rope })
    }
}

/// Values that stay the same across the forwards of a clip and that a variant may precompute.
#[derive(Default)]
pub(crate) struct ClipCache {
    /// Per block: the camera injection's (1 + scale, shift).
    pub(crate) camera: Option<Vec<(Array, Array)>>,
    /// Per block: the cross-attention's text keys and values, `[1, heads, T, head_dim]`.
    pub(crate) cross_kv: Option<Vec<(Array, Array)>>,
}

/// Per-forward options chosen by the variant under test.
#[derive(Default)]
pub(crate) struct ForwardOptions<'a> {
    /// Precomputed per-clip values.
    pub(crate) cache: Option<&'a ClipCache>,
    /// FFN weights quantized: per block, (up, down) as [`QuantLinear`]s.
    pub(crate) ffn_quant: Option<&'a [(QuantLinear, QuantLinear)]>,
    /// Run elementwise chains (norm + modulate, RoPE, gated residuals) as compiled kernels, and
    /// on CUDA LayerNorm and q/k RMSNorm + RoPE as the hand-written kernels of `cuda.rs`.
    pub(crate) fuse: bool,
    /// Every token shares one timestep (plain text- or image-to-video sampling): the time
    /// embedding and the six modulation vectors are computed for one token and broadcast, and
    /// the modulation folds into LayerNorm's affine parameters.
    pub(crate) uniform_time: bool,
}

/// A Linear layer with weights quantized by MLX (affine, per group).
pub(crate) struct QuantLinear {
    /// Packed weights.
    pub(crate) w: Array,
    /// Per-group scales.
    pub(crate) scales: Array,
    /// Per-group biases.
    pub(crate) biases: Array,
    /// Layer bias.
    pub(crate) bias: Array,
    /// Elements per group.
    pub(crate) group_size: i32,
    /// Bits per weight.
    pub(crate) bits: i32,
}

impl QuantLinear {
    /// Quantizes a `[out, in]` weight.
    pub(crate) fn new(w: &Array, bias: &Array, group_size: i32, bits: i32) -> Result<Self> {
        let (wq, scales, biases) = mlx_rs::ops::quantize(w, group_size, bits)?;
        mlx_rs::transforms::eval([&wq, &scales, &biases])?;
        Ok(QuantLinear { w: wq, scales, biases, bias: bias.clone(), group_size, bits })
    }

    /// `x @ W^T + b` through MLX's quantized matmul.
    pub(crate) fn forward(&self, x: &Array) -> Result<Array> {
        let y = mlx_rs::ops::quantized_matmul(x, &self.w, &self.scales, &self.biases, true, self.group_size, self.bits)?;
        Ok(y.add(&self.bias)?)
    }

    /// Bytes of the quantized weights.
    pub(crate) fn nbytes(&self) -> u64 {
        (self.w.nbytes() + self.scales.nbytes() + self.biases.nbytes() + self.bias.nbytes()) as u64
    }
}

/// `x @ W^T + b` for a `[out, in]` weight; MLX hands the transpose to the GEMM, no copy.
fn linear(w: &Weights, name: &str, x: &Array) -> Result<Array> {
    let weight = w.get(&format!("{name}.weight"))?;
    let bias = w.get(&format!("{name}.bias"))?;
    Ok(addmm(bias, x, weight.t(), None, None)?)
}

/// `[L, dim]` -> `[1, heads, L, head_dim]`.
fn to_heads(x: &Array, heads: i32) -> Result<Array> {
    let l = x.shape()[0];
    let hd = x.shape()[1] / heads;
    Ok(x.reshape(&[1, l, heads, hd])?.transpose_axes(&[0, 2, 1, 3])?)
}

/// `[1, heads, L, head_dim]` -> `[L, dim]`.
fn from_heads(x: &Array) -> Result<Array> {
    let s = x.shape().to_vec();
    Ok(x.transpose_axes(&[0, 2, 1, 3])?.reshape(&[s[2], s[1] * s[3]])?)
}

impl Model {
    /// Wraps weights.
    pub(crate) fn new(config: ModelConfig, dtype: DType, weights: Weights) -> Self {
        let kernels = Kernels::new(config.eps as f32);
        Model { config, dtype, weights, kernels }
    }

    fn eps(&self) -> f32 {
        self.config.eps as f32
    }

    fn heads(&self) -> i32 {
        self.config.heads as i32
    }

    /// One forward pass; returns the predicted latent `[out_dim, F, H/8, W/8]`.
    pub(crate) fn forward(&self, inputs: &Inputs, probe: &mut Probe, opts: &ForwardOptions) -> Result<Array> {
        let l = inputs.geometry.tokens() as i32;

        probe.begin_group(names::GROUP_EMBED, None);
        let x = probe.stage(component::EMBED_PATCH, None, || self.patch_embed(inputs))?;
        let rows = if opts.uniform_time { 1 } else { l };
        let (e_time, e_proj) = probe.stage(component::EMBED_TIME, None, || self.time_embed(rows))?;
        let context = probe.stage(component::EMBED_TEXT, None, || self.text_embed(&inputs.context))?;
        let camera = match &inputs.camera {
            Some(cam) => Some(probe.stage(component::EMBED_CAMERA, None, || self.camera_embed(cam))?),
            None => None,
        };
        let mut group: Vec<&Array> = vec![&x, &e_time, &e_proj, &context];
        group.extend(camera.as_ref());
        probe.end_group(&group)?;

        let mut x = x;
        for b in 0..self.config.blocks {
            probe.begin_group(names::GROUP_BLOCK, Some(b));
            x = self.block(b, x, &e_proj, &context, camera.as_ref(), inputs, probe, opts)?;
            probe.end_group(&[&x])?;
        }

        probe.begin_group(names::HEAD, None);
        let out = probe.stage(names::HEAD, None, || self.head(&x, &e_time, inputs.geometry))?;
        probe.end_group(&[&out])?;
        Ok(out)
    }

    /// Patchify `[C, F, H, W]` into `[L, C * 1 * 2 * 2]` (order c, pt, ph, pw, like the Conv3d
    /// weight) and project to `dim`.
    fn patch_embed(&self, inputs: &Inputs) -> Result<Array> {
        let s = inputs.latent.shape().to_vec();
        let (c, f, h, w) = (s[0], s[1], s[2], s[3]);
        let [_, ph, pw] = self.config.patch.map(|v| v as i32);
        let tokens = inputs
            .latent
            .reshape(&[c, f, h / ph, ph, w / pw, pw])?
            .transpose_axes(&[1, 2, 4, 0, 3, 5])?
            .reshape(&[f * (h / ph) * (w / pw), c * ph * pw])?;
        let weight = self.weights.get("patch_embedding.weight")?;
        let weight = weight.reshape(&[self.config.dim as i32, -1])?;
        Ok(addmm(self.weights.get("patch_embedding.bias")?, &tokens, weight.t(), None, None)?)
    }

    /// Sinusoidal embedding of the timestep for `l` tokens (every token, or one to broadcast),
    /// the time MLP, and the projection to the six modulation vectors. Returns
    /// (e `[l, dim]`, e0 `[l, 6 * dim]`).
    fn time_embed(&self, l: i32) -> Result<(Array, Array)> {
        let w = &self.weights;
        let half = (self.config.freq_dim / 2) as i32;
        let exponent = Array::arange::<_, f32>(0, half, 1)?.multiply(Array::from_f32(-(10000f32).ln() / half as f32))?;
        let t = Array::full::<f32>(&[l, 1], Array::from_f32(TIMESTEP))?;
        let args = t.multiply(exponent.exp()?.reshape(&[1, half])?)?;
        let sinusoid = concatenate(&[args.cos()?, args.sin()?], 1)?.as_dtype(self.dtype.mlx())?;
        let e = linear(w, "time_embedding.0", &sinusoid)?;
        let e = linear(w, "time_embedding.2", &nn::silu(&e)?)?;
        let e0 = linear(w, "time_projection.1", &nn::silu(&e)?)?;
        Ok((e, e0))
    }

    /// Block `b`: `x [L, dim]`, time projection `e0 [L, 6 * dim]`, embedded text `[T, dim]`,
    /// camera features `[L, dim]`. Public so tests can compare it with a reference.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn block(
        &self,
        b: u32,
        x: Array,
        e_proj: &Array,
        context: &Array,
        camera: Option<&Array>,
        inputs: &Inputs,
        probe: &mut Probe,
        opts: &ForwardOptions,
    ) -> Result<Array> {
        let blk = Block::new(self, b, inputs, opts);
        // e = modulation (1, 6 * dim) + e0 (R, 6 * dim), R = L or 1 (uniform time), cut along
        // columns into six (R, dim) views: no copies.
        let e: Vec<Array> = probe.stage(component::BLOCK_MODULATION, blk.blk, || {
            let m = self.weights.get(&format!("{}.modulation", blk.p))?.reshape(&[1, 6 * blk.dim])?;
            Ok(split(&e_proj.add(m)?, 6, 1)?)
        })?;
        let x = blk.self_attention(x, &e, probe)?;
        let x = match camera {
            None => x,
            Some(c) => blk.camera(x, c, probe)?,
        };
        let x = blk.cross_attention(x, context, probe)?;
        blk.feed_forward(x, &e, probe)
    }

    /// q/k RMSNorm and RoPE as two timed stages (MLX's RMSNorm, then the rotation).
    fn qk_norm_then_rope(
        &self,
        b: u32,
        q: Array,
        k: Array,
        inputs: &Inputs,
        probe: &mut Probe,
        fused: Option<&Kernels>,
    ) -> Result<(Array, Array)> {
        let (w, p, blk, eps, heads) = (&self.weights, format!("blocks.{b}"), Some(b), self.eps(), self.heads());
        let (q, k) = probe.stage(component::BLOCK_SELF_ATTN_QK_NORM, blk, || {
            Ok((
                fast::rms_norm(&q, Some(w.get(&format!("{p}.self_attn.norm_q.weight"))?), eps)?,
                fast::rms_norm(&k, Some(w.get(&format!("{p}.self_attn.norm_k.weight"))?), eps)?,
            ))
        })?;
        probe.stage(component::BLOCK_SELF_ATTN_ROPE, blk, || {
            Ok((rope::apply(&q, heads, &inputs.rope, fused)?, rope::apply(&k, heads, &inputs.rope, fused)?))
        })
    }

    /// `h = layer2(SiLU(layer1(c))) + c` of block `b`.
    pub(crate) fn camera_hidden(&self, b: u32, c: &Array) -> Result<Array> {
        let w = &self.weights;
        let p = format!("blocks.{b}");
        let h = linear(w, &format!("{p}.cam_injector_layer1"), c)?;
        Ok(linear(w, &format!("{p}.cam_injector_layer2"), &nn::silu(&h)?)?.add(c)?)
    }

    /// Block `b`'s camera `(1 + scale, shift)`: independent of x and of the timestep.
    pub(crate) fn camera_scale_shift(&self, b: u32, c: &Array) -> Result<(Array, Array)> {
        let w = &self.weights;
        let p = format!("blocks.{b}");
        let h = self.camera_hidden(b, c)?;
        let scale = linear(w, &format!("{p}.cam_scale_layer"), &h)?;
        let scale = scale.add(scalar(1.0, &scale)?)?;
        Ok((scale, linear(w, &format!("{p}.cam_shift_layer"), &h)?))
    }

    /// Block `b`'s cross-attention keys and values of the (embedded) text context.
    pub(crate) fn cross_kv(&self, b: u32, context: &Array) -> Result<(Array, Array)> {
        let w = &self.weights;
        let p = format!("blocks.{b}.cross_attn");
        let k = linear(w, &format!("{p}.k"), context)?;
        let k = fast::rms_norm(&k, Some(w.get(&format!("{p}.norm_k.weight"))?), self.eps())?;
        let v = linear(w, &format!("{p}.v"), context)?;
        Ok((to_heads(&k, self.heads())?, to_heads(&v, self.heads())?))
    }

    /// Embedded text context and camera features of some inputs (for building a clip cache).
    pub(crate) fn embed_conditions(&self, inputs: &Inputs) -> Result<(Array, Option<Array>)> {
        let context = self.text_embed(&inputs.context)?;
        let camera = inputs.camera.as_ref().map(|cam| self.camera_embed(cam)).transpose()?;
        Ok((context, camera))
    }

    /// Text encoder output `[T, text_dim]` -> `[T, dim]`: Linear, GELU(tanh), Linear.
    fn text_embed(&self, context: &Array) -> Result<Array> {
        let w = &self.weights;
        let h = linear(w, "text_embedding.0", context)?;
        linear(w, "text_embedding.2", &self.kernels.gelu(&h)?)
    }

    /// Plücker rays `[L, 1536]` -> camera features `[L, dim]`: c + Linear(SiLU(Linear(c))).
    fn camera_embed(&self, cam: &Array) -> Result<Array> {
        let w = &self.weights;
        let c = linear(w, "patch_embedding_wancamctrl", cam)?;
        let h = linear(w, "c2ws_hidden_states_layer1", &c)?;
        Ok(c.add(linear(w, "c2ws_hidden_states_layer2", &nn::silu(&h)?)?)?)
    }

    /// Head: modulation from the time embedding, LayerNorm, Linear to 64 values per token, and
    /// unpatchify to `[out_dim, F, H/8, W/8]`.
    fn head(&self, x: &Array, e_time: &Array, geometry: Geometry) -> Result<Array> {
        let w = &self.weights;
        let dim = self.config.dim as i32;
        let m = w.get("head.modulation")?.reshape(&[2, dim])?;
        let parts = split(&m, 2, 0)?;
        let shift = e_time.add(&parts[0])?;
        let scale = e_time.add(&parts[1])?;
        let y = modulate(&fast::layer_norm(x, None, None, self.eps())?, &scale, &shift)?;
        let out = linear(w, "head.head", &y)?;
        let [f, gh, gw] = geometry.token_grid().map(|v| v as i32);
        let [pf, ph, pw] = self.config.patch.map(|v| v as i32);
        let c = self.config.out_dim as i32;
        // Features are ordered (pt, ph, pw, c), as Wan's unpatchify expects.
        Ok(out
            .reshape(&[f, gh, gw, pf, ph, pw, c])?
            .transpose_axes(&[6, 0, 3, 1, 4, 2, 5])?
            .reshape(&[c, f * pf, gh * ph, gw * pw])?)
    }
}

/// One block's forward: what its sub-layers share (weights' prefix, sizes, the fused kernels
/// when the forward uses them).
struct Block<'a> {
    model: &'a Model,
    b: u32,
    /// The block's weights' prefix, `blocks.{b}`.
    p: String,
    /// The block index the stages are recorded with.
    blk: Option<u32>,
    eps: f32,
    heads: i32,
    dim: i32,
    fused: Option<&'a Kernels>,
    inputs: &'a Inputs,
    opts: &'a ForwardOptions<'a>,
}

impl<'a> Block<'a> {
    fn new(model: &'a Model, b: u32, inputs: &'a Inputs, opts: &'a ForwardOptions<'a>) -> Self {
        Block {
            model,
            b,
            p: format!("blocks.{b}"),
            blk: Some(b),
            eps: model.eps(),
            heads: model.heads(),
            dim: model.config.dim as i32,
            fused: opts.fuse.then_some(&model.kernels),
            inputs,
            opts,
        }
    }

    /// LayerNorm of `x`, then `x * (1 + scale) + shift`.
    fn norm_modulate(&self, x: &Array, scale: &Array, shift: &Array) -> Result<Array> {
        let (dim, eps) = (self.dim, self.eps);
        if scale.shape()[0] == 1 {
            // One modulation row for all tokens: it is LayerNorm's affine transform.
            let weight = scale.add(scalar(1.0, scale)?)?.reshape(&[dim])?;
            let bias = shift.reshape(&[dim])?;
            match self.fused {
                Some(k) => Ok(k.layer_norm(x, &weight, &bias)?),
                None => Ok(fast::layer_norm(x, Some(&weight), Some(&bias), eps)?),
            }
        } else if let Some(k) = self.fused {
            Ok(k.norm_modulate(x, scale, shift)?)
        } else {
            Ok(modulate(&fast::layer_norm(x, None, None, eps)?, scale, shift)?)
        }
    }

    /// `x + y * gate`.
    fn gated(&self, x: &Array, y: &Array, gate: &Array) -> Result<Array> {
        match self.fused {
            Some(k) => Ok(k.gated_residual(x, y, gate)?),
            None => Ok(gated_residual(x, y, gate)?),
        }
    }

    /// The attention's scale, 1 / sqrt(head_dim).
    fn attn_scale(&self) -> f32 {
        1.0 / (self.model.config.head_dim as f32).sqrt()
    }

    /// Self-attention over the tokens, gated into the residual stream (modulation rows 0-2).
    fn self_attention(&self, x: Array, e: &[Array], probe: &mut Probe) -> Result<Array> {
        let (w, p, blk, heads, dim) = (&self.model.weights, &self.p, self.blk, self.heads, self.dim);
        let y = probe.stage(component::BLOCK_NORM1, blk, || self.norm_modulate(&x, &e[1], &e[0]))?;
        let (q, k, v) = probe.stage(component::BLOCK_SELF_ATTN_QKV, blk, || {
            let sa = format!("{p}.self_attn");
            Ok((linear(w, &format!("{sa}.q"), &y)?, linear(w, &format!("{sa}.k"), &y)?, linear(w, &format!("{sa}.v"), &y)?))
        })?;
        let item = q.item_size() as i32;
        let (q, k) = if let Some(kern) = self.fused.filter(|kern| kern.has_rms_rope(dim, heads, item)) {
            // One kernel: RMSNorm then RoPE, pairs left interleaved (queries and keys alike).
            probe.stage(component::BLOCK_SELF_ATTN_QK_NORM_ROPE, blk, || {
                let norm_rope = |x: &Array, which: &str| -> Result<Array> {
                    let weight = w.get(&format!("{p}.self_attn.norm_{which}.weight"))?;
                    let out = kern.rms_rope(x, weight, &self.inputs.rope.0, heads)?.ok_or_else(|| anyhow::anyhow!("RMSNorm + RoPE kernel refused {:?}", x.shape()))?;
                    Ok(out.reshape(&[1, x.shape()[0], heads, dim / heads])?.transpose_axes(&[0, 2, 1, 3])?)
                };
                Ok((norm_rope(&q, "q")?, norm_rope(&k, "k")?))
            })?
        } else {
            self.model.qk_norm_then_rope(self.b, q, k, self.inputs, probe, self.fused)?
        };
        let attn = probe.stage(component::BLOCK_SELF_ATTN_SDPA, blk, || {
            let o = fast::scaled_dot_product_attention(&q, &k, to_heads(&v, heads)?, self.attn_scale(), None, None)?;
            from_heads(&o)
        })?;
        probe.stage(component::BLOCK_SELF_ATTN_OUT, blk, || self.gated(&x, &linear(w, &format!("{p}.self_attn.o"), &attn)?, &e[2]))
    }

    /// The camera's scale and shift applied to `x`: from the camera features `c`, or from the
    /// clip cache when the variant precomputed them.
    fn camera(&self, x: Array, c: &Array, probe: &mut Probe) -> Result<Array> {
        let (w, p, blk) = (&self.model.weights, &self.p, self.blk);
        match self.opts.cache.and_then(|cache| cache.camera.as_ref()) {
            Some(cached) => {
                let (scale1, shift) = &cached[self.b as usize];
                probe.stage(component::BLOCK_CAMERA_APPLY, blk, || match self.fused {
                    Some(k) => Ok(k.scale_shift(&x, scale1, shift)?),
                    None => Ok(x.multiply(scale1)?.add(shift)?),
                })
            }
            None => {
                let h = probe.stage(component::BLOCK_CAMERA_INJECTOR, blk, || self.model.camera_hidden(self.b, c))?;
                probe.stage(component::BLOCK_CAMERA_SCALE_SHIFT, blk, || {
                    let scale = linear(w, &format!("{p}.cam_scale_layer"), &h)?;
                    let shift = linear(w, &format!("{p}.cam_shift_layer"), &h)?;
                    match self.fused {
                        Some(k) => Ok(k.modulate(&x, &scale, &shift)?),
                        None => Ok(modulate(&x, &scale, &shift)?),
                    }
                })
            }
        }
    }

    /// Cross-attention to the text context, added to the residual stream.
    fn cross_attention(&self, x: Array, context: &Array, probe: &mut Probe) -> Result<Array> {
        let (w, p, blk, eps, heads) = (&self.model.weights, &self.p, self.blk, self.eps, self.heads);
        let y = probe.stage(component::BLOCK_CROSS_ATTN_NORM3, blk, || {
            let (weight, bias) = (w.get(&format!("{p}.norm3.weight"))?, w.get(&format!("{p}.norm3.bias"))?);
            match self.fused {
                Some(k) => Ok(k.layer_norm(&x, weight, bias)?),
                None => Ok(fast::layer_norm(&x, weight, bias, eps)?),
            }
        })?;
        let q = probe.stage(component::BLOCK_CROSS_ATTN_Q, blk, || {
            let q = linear(w, &format!("{p}.cross_attn.q"), &y)?;
            to_heads(&fast::rms_norm(&q, Some(w.get(&format!("{p}.cross_attn.norm_q.weight"))?), eps)?, heads)
        })?;
        let (k, v) = match self.opts.cache.and_then(|cache| cache.cross_kv.as_ref()) {
            Some(cached) => cached[self.b as usize].clone(),
            None => probe.stage(component::BLOCK_CROSS_ATTN_KV, blk, || self.model.cross_kv(self.b, context))?,
        };
        let attn = probe.stage(component::BLOCK_CROSS_ATTN_SDPA, blk, || {
            from_heads(&fast::scaled_dot_product_attention(&q, &k, &v, self.attn_scale(), None, None)?)
        })?;
        probe.stage(component::BLOCK_CROSS_ATTN_OUT, blk, || Ok(x.add(linear(w, &format!("{p}.cross_attn.o"), &attn)?)?))
    }

    /// The feed-forward network, gated into the residual stream (modulation rows 3-5); its
    /// weights quantized where the variant asks.
    fn feed_forward(&self, x: Array, e: &[Array], probe: &mut Probe) -> Result<Array> {
        let (w, p, blk) = (&self.model.weights, &self.p, self.blk);
        let y = probe.stage(component::BLOCK_NORM2, blk, || self.norm_modulate(&x, &e[4], &e[3]))?;
        let quant = self.opts.ffn_quant.map(|q| &q[self.b as usize]);
        let h = probe.stage(component::BLOCK_FFN_UP, blk, || {
            let h = match quant {
                Some((up, _)) => up.forward(&y)?,
                None => linear(w, &format!("{p}.ffn.0"), &y)?,
            };
            Ok(self.model.kernels.gelu(&h)?)
        })?;
        probe.stage(component::BLOCK_FFN_DOWN, blk, || {
            let f = match quant {
                Some((_, down)) => down.forward(&h)?,
                None => linear(w, &format!("{p}.ffn.2"), &h)?,
            };
            self.gated(&x, &f, &e[5])
        })
    }
}
