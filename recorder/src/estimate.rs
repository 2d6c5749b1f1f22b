//! Memory a recording will need, estimated before anything is allocated, so that a configuration
//! too big for the machine is refused with advice instead of being killed by the kernel.

use trace_format::ModelConfig;

use crate::config::{CAMERA_CHANNELS, DType};
use crate::machine::Backend;
use crate::model::param_count;

/// Estimated bytes. Every field saturates at `u64::MAX` (16 EiB): a configuration whose
/// arithmetic would overflow 64 bits needs more than any machine has, and is refused as such.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MemoryEstimate {
    /// Parameters at the compute dtype.
    pub(crate) weights: u64,
    /// Peak activations of the largest forward.
    pub(crate) activations: u64,
    /// Extra memory of the variants (quantized copies, caches).
    pub(crate) variants: u64,
}

impl MemoryEstimate {
    /// Everything, with 10% for MLX's allocator slack.
    pub(crate) fn total(&self) -> u64 {
        let sum = self.weights.saturating_add(self.activations).saturating_add(self.variants);
        // f64 -> u64 casts saturate.
        (sum as f64 * 1.1) as u64
    }
}

/// Estimates the peak for the largest sequence length `tokens`.
///
/// Activations: the values alive across the whole forward (x, time embeddings, camera features,
/// text context, RoPE tables, inputs) plus the largest working set of one stage: the FFN hidden
/// layer twice (before and after GELU), or, on the CPU, where MLX's attention materialises the
/// scores, two `heads x L x L` matrices.
pub(crate) fn estimate(config: &ModelConfig, tokens: u64, dtype: DType, backend: Backend, variant_extra: u64) -> MemoryEstimate {
    // In 128 bits: L x L x heads x 8 overflows 64 bits from about 10^8 tokens.
    let s = dtype.size() as u128;
    let (l, d, f) = (tokens as u128, config.dim as u128, config.ffn_dim as u128);
    let h = config.heads as u128;
    let weights = param_count(config) as u128 * s;
    let persistent = l * d * (1 + 1 + 6 + u128::from(config.camera)) * s
        + config.text_len as u128 * (config.text_dim as u128 + d) * s
        + l * config.head_dim as u128 * s
        + l * (config.in_dim as u128 * 4 + if config.camera { CAMERA_CHANNELS as u128 } else { 0 }) * s;
    let ffn = l * (d + 2 * f) * s;
    let attention_scores = if backend.is_gpu() { 0 } else { 2 * h * l * l * s.max(4) };
    let qkv = 6 * l * d * s;
    let stage = ffn.max(attention_scores + 4 * l * d * s).max(qkv);
    let cap = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
    MemoryEstimate { weights: cap(weights), activations: cap(persistent + stage), variants: variant_extra }
}

/// The largest block count whose estimate fits `budget` bytes, if any.
pub(crate) fn max_blocks_fitting(
    config: &ModelConfig,
    tokens: u64,
    dtype: DType,
    backend: Backend,
    variant_extra_per_block: u64,
    budget: u64,
) -> Option<u32> {
    (1..=config.blocks).rev().find(|&b| {
        let mut c = config.clone();
        c.blocks = b;
        estimate(&c, tokens, dtype, backend, variant_extra_per_block.saturating_mul(b as u64)).total() <= budget
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Preset;
    use crate::machine::gib;

    #[test]
    fn full_14b_model_does_not_fit_a_24_gib_cpu_machine() {
        let cfg = Preset::Lingbot14b.config();
        let e = estimate(&cfg, 9360, DType::F32, Backend::Cpu, 0);
        // 18.2 B parameters x 4 bytes alone is about 68 GiB.
        assert!(e.weights > 60 * (1 << 30));
        assert!(e.total() > 24 * (1u64 << 30));
        // On the CPU, MLX's attention materialises 40 x L x L scores: at 9,360 tokens that is
        // 14 GB per copy, so not even one block fits; at 3,120 tokens two blocks do.
        assert_eq!(max_blocks_fitting(&cfg, 9360, DType::F32, Backend::Cpu, 0, 20 * (1 << 30)), None);
        let fit = max_blocks_fitting(&cfg, 3120, DType::F32, Backend::Cpu, 0, 20 * (1 << 30)).unwrap();
        assert!(fit >= 2, "{fit}");
    }

    #[test]
    fn the_largest_geometry_does_not_overflow() {
        // 1,281 frames at 16384 x 16384: 336,592,896 tokens; the CPU scores alone are 3.6e19 bytes.
        let cfg = Preset::Lingbot14b.config();
        let g = crate::config::Geometry::new(crate::config::MAX_FRAMES, crate::config::MAX_SIDE, crate::config::MAX_SIDE).unwrap();
        assert_eq!(g.tokens(), 321 * 1024 * 1024);
        let cpu = estimate(&cfg, g.tokens(), DType::F32, Backend::Cpu, u64::MAX);
        assert_eq!(cpu.activations, u64::MAX);
        assert_eq!(cpu.total(), u64::MAX);
        assert_eq!(gib(cpu.total()), "16+ EiB");
        let gpu = estimate(&cfg, g.tokens(), DType::Bf16, Backend::Cuda, 0);
        assert!(gpu.total() > 1 << 40 && gpu.total() < u64::MAX, "{}", gpu.total());
        assert_eq!(max_blocks_fitting(&cfg, g.tokens(), DType::F32, Backend::Cpu, u64::MAX, u64::MAX - 1), None);
    }

    #[test]
    fn cpu_attention_scores_are_counted() {
        let cfg = Preset::Tiny.config();
        let cpu = estimate(&cfg, 9360, DType::F32, Backend::Cpu, 0);
        let gpu = estimate(&cfg, 9360, DType::F32, Backend::Cuda, 0);
        // 2 x 4 heads x 9360^2 x 4 bytes = 2.8 GB of scores on the CPU.
        assert!(cpu.activations - gpu.activations >= 2 * 4 * 9360 * 9360 * 4 - 2 * 9360 * 512 * 4);
    }
}
