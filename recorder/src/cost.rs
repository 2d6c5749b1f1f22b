//! Analytic cost of each component: FLOPs and the minimum bytes it must move.
//!
//! Conventions (also in docs/taxonomy.md): a multiply-add counts 2 FLOPs; a Linear of
//! `n` rows from `i` to `o` features costs `2 n i o` (+ `n o` for the bias); elementwise work is
//! counted per element as listed at each function. Minimum bytes = weights read once + inputs
//! read once + outputs written once, at the run's dtype; intermediates that a fused kernel could
//! keep on chip are not counted. These are lower bounds for bytes and exact for matmul FLOPs.

use trace_format::taxonomy::{self, component};
use trace_format::ModelConfig;

/// FLOPs and minimum bytes of one invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cost {
    /// Floating-point operations.
    pub flops: f64,
    /// Minimum bytes moved.
    pub bytes: f64,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost { flops: self.flops + o.flops, bytes: self.bytes + o.bytes }
    }
}

/// Per-element FLOPs of the elementwise pieces.
mod per_element {
    /// LayerNorm: mean (1), centred square (2), variance sum (1), normalise (2).
    pub(super) const LAYER_NORM: f64 = 6.0;
    /// LayerNorm with weight and bias: + 2.
    pub(super) const LAYER_NORM_AFFINE: f64 = 8.0;
    /// RMSNorm with weight: square (1), sum (1), scale (1), weight (1).
    pub(super) const RMS_NORM: f64 = 4.0;
    /// `y * (1 + scale) + shift`.
    pub(super) const MODULATE: f64 = 3.0;
    /// RoPE on interleaved pairs: 2 multiplies and 1 add per output.
    pub(super) const ROPE: f64 = 3.0;
    /// SiLU: x * sigmoid(x), counted as 4.
    pub(super) const SILU: f64 = 4.0;
    /// tanh-approximated GELU, counted as 8.
    pub(super) const GELU: f64 = 8.0;
    /// Softmax per score: max, subtract, exp, sum, divide.
    pub(super) const SOFTMAX: f64 = 5.0;
    /// `x + y * gate`.
    pub(super) const GATED_RESIDUAL: f64 = 2.0;
}

/// Costs of every component of one forward, for `tokens` video tokens.
#[derive(Debug, Clone)]
pub struct CostModel {
    d: f64,
    f: f64,
    l: f64,
    t: f64,
    h: f64,
    freq: f64,
    text_dim: f64,
    patch_in: f64,
    patch_out: f64,
    s: f64,
    camera: bool,
    blocks: f64,
    /// Rows of the time embedding and modulation: `l`, or 1 when every token shares the timestep.
    time_rows: f64,
}

impl CostModel {
    /// The cost model of `config` at `tokens` tokens and `dtype_size` bytes per element.
    pub(crate) fn new(config: &ModelConfig, tokens: u64, dtype_size: u64) -> Self {
        let patch: f64 = config.patch.iter().map(|&p| p as f64).product();
        CostModel {
            d: config.dim as f64,
            f: config.ffn_dim as f64,
            l: tokens as f64,
            t: config.text_len as f64,
            h: config.heads as f64,
            freq: config.freq_dim as f64,
            text_dim: config.text_dim as f64,
            patch_in: config.in_dim as f64 * patch,
            patch_out: config.out_dim as f64 * patch,
            s: dtype_size as f64,
            camera: config.camera,
            blocks: config.blocks as f64,
            time_rows: tokens as f64,
        }
    }

    /// The same model when every token shares one timestep: the time embedding and the
    /// modulation vectors are computed for one row (the `uniform-time` variants). The whole
    /// forward's cost stays that of the standard per-token forward, so forward rates compare.
    pub(crate) fn with_uniform_time(mut self, uniform: bool) -> Self {
        if uniform {
            self.time_rows = 1.0;
        }
        self
    }

    /// A Linear over `rows` rows, `i` -> `o`, with bias.
    fn linear(&self, rows: f64, i: f64, o: f64) -> Cost {
        Cost { flops: 2.0 * rows * i * o + rows * o, bytes: self.s * (i * o + o + rows * i + rows * o) }
    }

    /// Elementwise work over `n` elements reading `reads` and writing `writes` arrays of n.
    fn elementwise(&self, n: f64, flops_per: f64, reads: f64, writes: f64) -> Cost {
        Cost { flops: n * flops_per, bytes: self.s * n * (reads + writes) }
    }

    /// Cost of a named component (see [`trace_format::taxonomy`]); `None` for unknown names.
    /// The built-in model times only names of the taxonomy, each with a cost: in debug builds,
    /// a name outside it (a misspelling would silently cost 0) or without a cost panics.
    pub(crate) fn of(&self, name: &str) -> Option<Cost> {
        let cost = self.cost_of(name);
        debug_assert!(
            cost.is_some() || !taxonomy::is_builtin(name),
            "component {name:?} is in the taxonomy but has no cost in recorder/src/cost.rs"
        );
        debug_assert!(
            taxonomy::is_builtin(name),
            "component {name:?} is not in the taxonomy (trace-format/src/taxonomy.rs); add it there with its cost"
        );
        cost
    }

    fn cost_of(&self, name: &str) -> Option<Cost> {
        use per_element::*;
        let (d, f, l, t, h) = (self.d, self.f, self.l, self.t, self.h);
        let ld = l * d;
        // Modulation rows: every token, or one broadcast row.
        let tr = self.time_rows;
        Some(match name {
            component::EMBED_PATCH => self.linear(l, self.patch_in, d),
            // sinusoid (~4 per value), Linear freq->d, SiLU, Linear d->d, SiLU, Linear d->6d.
            component::EMBED_TIME => {
                self.elementwise(tr * self.freq, 4.0, 0.0, 1.0)
                    + self.linear(tr, self.freq, d)
                    + self.elementwise(tr * d, SILU, 1.0, 1.0)
                    + self.linear(tr, d, d)
                    + self.elementwise(tr * d, SILU, 1.0, 1.0)
                    + self.linear(tr, d, 6.0 * d)
            }
            component::EMBED_TEXT => {
                self.linear(t, self.text_dim, d) + self.elementwise(t * d, GELU, 1.0, 1.0) + self.linear(t, d, d)
            }
            component::EMBED_CAMERA => {
                self.linear(l, crate::config::CAMERA_CHANNELS as f64, d)
                    + self.linear(l, d, d)
                    + self.elementwise(ld, SILU, 1.0, 1.0)
                    + self.linear(l, d, d)
                    + self.elementwise(ld, 1.0, 2.0, 1.0)
            }
            // modulation (1 x 6 x d) + time projection (rows x 6 x d).
            component::BLOCK_MODULATION => self.elementwise(6.0 * tr * d, 1.0, 1.0, 1.0),
            // LayerNorm(x) * (1 + scale) + shift: reads x, scale, shift (rows x d each); writes y.
            component::BLOCK_NORM1 | component::BLOCK_NORM2 => {
                Cost { flops: ld * (LAYER_NORM + MODULATE), bytes: self.s * (2.0 * ld + 2.0 * tr * d) }
            }
            component::BLOCK_SELF_ATTN_QKV => {
                let one = self.linear(l, d, d);
                // y is read once by all three projections.
                Cost { flops: 3.0 * one.flops, bytes: self.s * (3.0 * (d * d + d) + ld + 3.0 * ld) }
            }
            component::BLOCK_SELF_ATTN_QK_NORM => self.elementwise(2.0 * ld, RMS_NORM, 1.0, 1.0),
            // q and k, plus the cos/sin tables (L x head_dim/2 each).
            component::BLOCK_SELF_ATTN_ROPE => {
                let mut c = self.elementwise(2.0 * ld, ROPE, 1.0, 1.0);
                c.bytes += self.s * l * (d / h);
                c
            }
            // One kernel (CUDA, compiled variants): reads q, k and the table once, writes q, k.
            component::BLOCK_SELF_ATTN_QK_NORM_ROPE => {
                let mut c = self.elementwise(2.0 * ld, RMS_NORM + ROPE, 1.0, 1.0);
                c.bytes += self.s * (2.0 * d + l * (d / h));
                c
            }
            component::BLOCK_SELF_ATTN_SDPA => self.attention(l, l),
            component::BLOCK_SELF_ATTN_OUT => self.linear(l, d, d) + self.elementwise(ld, GATED_RESIDUAL, 2.0, 0.0),
            // h = layer2(SiLU(layer1(c))) + c
            component::BLOCK_CAMERA_INJECTOR => {
                self.linear(l, d, d) + self.elementwise(ld, SILU, 1.0, 1.0) + self.linear(l, d, d) + self.elementwise(ld, 1.0, 1.0, 0.0)
            }
            // x = (1 + scale(h)) * x + shift(h)
            component::BLOCK_CAMERA_SCALE_SHIFT => {
                self.linear(l, d, d) + self.linear(l, d, d) + self.elementwise(ld, MODULATE, 1.0, 1.0)
            }
            // The camera-cache variant applies precomputed scale/shift.
            component::BLOCK_CAMERA_APPLY => self.elementwise(ld, MODULATE, 3.0, 1.0),
            component::BLOCK_CROSS_ATTN_NORM3 => {
                let mut c = self.elementwise(ld, LAYER_NORM_AFFINE, 1.0, 1.0);
                c.bytes += self.s * 2.0 * d;
                c
            }
            component::BLOCK_CROSS_ATTN_Q => self.linear(l, d, d) + self.elementwise(ld, RMS_NORM, 1.0, 1.0),
            component::BLOCK_CROSS_ATTN_KV => {
                self.linear(t, d, d) + self.linear(t, d, d) + self.elementwise(t * d, RMS_NORM, 1.0, 1.0)
            }
            component::BLOCK_CROSS_ATTN_SDPA => self.attention(l, t),
            component::BLOCK_CROSS_ATTN_OUT => self.linear(l, d, d) + self.elementwise(ld, 1.0, 1.0, 0.0),
            component::BLOCK_FFN_UP => self.linear(l, d, f) + self.elementwise(l * f, GELU, 1.0, 1.0),
            component::BLOCK_FFN_DOWN => self.linear(l, f, d) + self.elementwise(ld, GATED_RESIDUAL, 2.0, 0.0),
            // head modulation, LayerNorm + modulate, Linear d -> out_dim * patch, unpatchify copy.
            component::HEAD => {
                self.elementwise(2.0 * tr * d, 1.0, 1.0, 1.0)
                    + Cost { flops: ld * (LAYER_NORM + MODULATE), bytes: self.s * (2.0 * ld + 2.0 * tr * d) }
                    + self.linear(l, d, self.patch_out)
                    + self.elementwise(l * self.patch_out, 0.0, 1.0, 1.0)
            }
            // Groups timed in `block` and `none` synchronisation modes.
            taxonomy::GROUP_EMBED => taxonomy::EMBED
                .iter()
                .filter(|n| self.camera || **n != component::EMBED_CAMERA)
                .filter_map(|n| self.cost_of(n))
                .fold(Cost::default(), |a, b| a + b),
            taxonomy::GROUP_BLOCK => self.block_total(self.camera),
            // Always the standard per-token forward, whatever the variant (see
            // `with_uniform_time`), so forward rates compare across variants.
            taxonomy::FORWARD => {
                let standard = CostModel { time_rows: l, ..self.clone() };
                let blocks = standard.block_total(self.camera);
                let mut c = standard.cost_of(taxonomy::GROUP_EMBED)? + standard.cost_of(taxonomy::HEAD)?;
                c.flops += self.blocks * blocks.flops;
                c.bytes += self.blocks * blocks.bytes;
                c
            }
            _ => return None,
        })
    }

    /// Scaled dot-product attention of `lq` queries over `lk` keys, all heads.
    fn attention(&self, lq: f64, lk: f64) -> Cost {
        let (d, h) = (self.d, self.h);
        Cost {
            // Q K^T and P V: 2 * lq * lk * head_dim each, per head.
            flops: 4.0 * lq * lk * d + per_element::SOFTMAX * h * lq * lk,
            bytes: self.s * (2.0 * lq * d + 2.0 * lk * d),
        }
    }

    /// Sum over one block's standard components.
    pub(crate) fn block_total(&self, camera: bool) -> Cost {
        taxonomy::BLOCK
            .iter()
            .filter(|n| camera || !n.starts_with("block/camera"))
            .map(|n| self.cost_of(n).unwrap_or_default())
            .fold(Cost::default(), |a, b| a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Preset;

    fn share(c: &CostModel, prefix: &[&str]) -> f64 {
        let total = c.block_total(true).flops;
        let part: f64 = taxonomy::BLOCK
            .iter()
            .filter(|n| prefix.iter().any(|p| n.starts_with(p)))
            .map(|n| c.of(n).unwrap().flops)
            .sum();
        part / total
    }

    #[test]
    fn every_taxonomy_name_has_a_cost() {
        for preset in [Preset::Lingbot14b, Preset::Tiny] {
            let c = CostModel::new(&preset.config(), 3120, 2);
            for name in taxonomy::components().chain(taxonomy::GROUPS) {
                let cost = c.of(name).unwrap_or_else(|| panic!("{name} has no cost"));
                assert!(cost.flops > 0.0 && cost.bytes > 0.0, "{name}: {cost:?}");
            }
        }
        // Names outside the taxonomy have no cost (and are refused in debug builds).
        assert_eq!(CostModel::new(&Preset::Tiny.config(), 3120, 2).cost_of("block/ffn/upp"), None);
    }

    /// The analyzer extrapolates a built-in component's work from two recorded lengths with
    /// the two powers of L the taxonomy declares: every cost must lie in their span.
    #[test]
    fn every_cost_has_the_powers_of_l_the_taxonomy_declares() {
        for preset in [Preset::Lingbot14b, Preset::Tiny] {
            for uniform in [false, true] {
                let at = |l: u64, name: &str| CostModel::new(&preset.config(), l, 2).with_uniform_time(uniform).of(name).unwrap();
                for name in taxonomy::components() {
                    let [p0, p1] = taxonomy::work_powers(name).unwrap();
                    let (l1, l2, l3) = (3120.0f64, 9360.0f64, 32760.0f64);
                    let picks: [fn(Cost) -> f64; 2] = [|c| c.flops, |c| c.bytes];
                    for pick in picks {
                        let (y1, y2, y3) = (pick(at(3120, name)), pick(at(9360, name)), pick(at(32760, name)));
                        // c0 L^p0 + c1 L^p1 through the first two lengths, checked at the third.
                        let det = l1.powi(p0) * l2.powi(p1) - l2.powi(p0) * l1.powi(p1);
                        let c0 = (y1 * l2.powi(p1) - y2 * l1.powi(p1)) / det;
                        let c1 = (l1.powi(p0) * y2 - l2.powi(p0) * y1) / det;
                        let predicted = c0 * l3.powi(p0) + c1 * l3.powi(p1);
                        assert!((predicted - y3).abs() <= 1e-9 * y3.abs().max(1.0), "{preset:?} {name} (uniform time {uniform}): {predicted} against {y3}");
                    }
                }
            }
        }
        assert_eq!(taxonomy::work_powers("forward"), None);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "not in the taxonomy")]
    fn a_misspelled_name_is_an_error_in_debug_builds() {
        let _ = CostModel::new(&Preset::Tiny.config(), 3120, 2).of("block/self_attn/sdpa_");
    }

    #[test]
    fn matmul_flops_match_hand_calculation() {
        let cfg = Preset::Lingbot14b.config();
        let c = CostModel::new(&cfg, 9360, 2);
        // FFN up: 2 * L * d * f + L * f (bias) + GELU 8 per element.
        let by_hand = 2.0 * 9360.0 * 5120.0 * 13824.0 + 9360.0 * 13824.0 + 8.0 * 9360.0 * 13824.0;
        assert_eq!(c.of(component::BLOCK_FFN_UP).unwrap().flops, by_hand);
        // Self-attention SDPA: 4 L^2 d + 5 H L^2.
        let sdpa = 4.0 * 9360f64.powi(2) * 5120.0 + 5.0 * 40.0 * 9360f64.powi(2);
        assert_eq!(c.of(component::BLOCK_SELF_ATTN_SDPA).unwrap().flops, sdpa);
    }

    #[test]
    fn flop_shares_match_the_model_facts() {
        // model.md: SDPA is about 19% of block FLOPs at 9360 tokens, 45% at 32760, 62% at 63960.
        let cfg = Preset::Lingbot14b.config();
        for (tokens, expected) in [(9360, 0.19), (32760, 0.45), (63960, 0.62)] {
            let c = CostModel::new(&cfg, tokens, 2);
            let sdpa = c.of(component::BLOCK_SELF_ATTN_SDPA).unwrap().flops / c.block_total(true).flops;
            assert!((sdpa - expected).abs() < 0.02, "{tokens}: {sdpa}");
        }
        // At the seed's (wrong) lengths the FFN / self-attention / camera / cross split is about
        // 32 / 29 / 23 / 16 %.
        let c = CostModel::new(&cfg, 2340, 2);
        let ffn = share(&c, &["block/ffn", component::BLOCK_NORM2]);
        let camera = share(&c, &["block/camera"]);
        assert!((ffn - 0.32).abs() < 0.03, "ffn {ffn}");
        assert!((camera - 0.23).abs() < 0.03, "camera {camera}");
    }

    #[test]
    fn uniform_time_costs_one_row_but_keeps_the_forward() {
        let cfg = Preset::Lingbot14b.config();
        let per_token = CostModel::new(&cfg, 9360, 2);
        let uniform = per_token.clone().with_uniform_time(true);
        // The time MLP's last Linear d -> 6d on one row: 2 d 6d + 6d.
        let (d, last) = (5120.0, 2.0 * 5120.0 * 6.0 * 5120.0 + 6.0 * 5120.0);
        assert!(uniform.of(component::EMBED_TIME).unwrap().flops < 1.1 * (last + 2.0 * 256.0 * d + 2.0 * d * d + 20.0 * d));
        assert_eq!(uniform.of(component::BLOCK_MODULATION).unwrap().flops, 6.0 * d);
        // norm1 reads x and writes y; the broadcast scale and shift are one row each.
        assert_eq!(uniform.of(component::BLOCK_NORM1).unwrap().bytes, 2.0 * (2.0 * 9360.0 * d + 2.0 * d));
        assert_eq!(uniform.of("forward"), per_token.of("forward"));
    }
}
