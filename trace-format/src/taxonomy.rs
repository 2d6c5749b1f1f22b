//! The taxonomy of the built-in model (docs/taxonomy.md): the contract between the recorder,
//! which times components under these names, and the analyzer, which groups them. Component
//! names, where each runs ([`Area`]), the seed report's buckets ([`seed_bucket`]) and the
//! sequence length formula ([`tokens`]) are defined here once.
//!
//! Traces of other models may use names outside this list: readers accept any name (an unknown
//! name falls into the area its prefix says and keeps a seed bucket of its own). Only the
//! built-in recorder checks its own names against [`is_builtin`].

/// Every built-in component name as a constant: the recorder's model and cost model use these,
/// so a name the taxonomy lacks is a compile error there, not a silent zero cost.
pub mod component {
    /// `embed/patch`
    pub const EMBED_PATCH: &str = "embed/patch";
    /// `embed/time`
    pub const EMBED_TIME: &str = "embed/time";
    /// `embed/text`
    pub const EMBED_TEXT: &str = "embed/text";
    /// `embed/camera`
    pub const EMBED_CAMERA: &str = "embed/camera";
    /// `block/modulation`
    pub const BLOCK_MODULATION: &str = "block/modulation";
    /// `block/norm1`
    pub const BLOCK_NORM1: &str = "block/norm1";
    /// `block/self_attn/qkv`
    pub const BLOCK_SELF_ATTN_QKV: &str = "block/self_attn/qkv";
    /// `block/self_attn/qk_norm`
    pub const BLOCK_SELF_ATTN_QK_NORM: &str = "block/self_attn/qk_norm";
    /// `block/self_attn/rope`
    pub const BLOCK_SELF_ATTN_ROPE: &str = "block/self_attn/rope";
    /// `block/self_attn/sdpa`
    pub const BLOCK_SELF_ATTN_SDPA: &str = "block/self_attn/sdpa";
    /// `block/self_attn/out`
    pub const BLOCK_SELF_ATTN_OUT: &str = "block/self_attn/out";
    /// `block/camera/injector`
    pub const BLOCK_CAMERA_INJECTOR: &str = "block/camera/injector";
    /// `block/camera/scale_shift`
    pub const BLOCK_CAMERA_SCALE_SHIFT: &str = "block/camera/scale_shift";
    /// `block/cross_attn/norm3`
    pub const BLOCK_CROSS_ATTN_NORM3: &str = "block/cross_attn/norm3";
    /// `block/cross_attn/q`
    pub const BLOCK_CROSS_ATTN_Q: &str = "block/cross_attn/q";
    /// `block/cross_attn/kv`
    pub const BLOCK_CROSS_ATTN_KV: &str = "block/cross_attn/kv";
    /// `block/cross_attn/sdpa`
    pub const BLOCK_CROSS_ATTN_SDPA: &str = "block/cross_attn/sdpa";
    /// `block/cross_attn/out`
    pub const BLOCK_CROSS_ATTN_OUT: &str = "block/cross_attn/out";
    /// `block/norm2`
    pub const BLOCK_NORM2: &str = "block/norm2";
    /// `block/ffn/up`
    pub const BLOCK_FFN_UP: &str = "block/ffn/up";
    /// `block/ffn/down`
    pub const BLOCK_FFN_DOWN: &str = "block/ffn/down";
    /// `block/self_attn/qk_norm_rope`
    pub const BLOCK_SELF_ATTN_QK_NORM_ROPE: &str = "block/self_attn/qk_norm_rope";
    /// `block/camera/apply`
    pub const BLOCK_CAMERA_APPLY: &str = "block/camera/apply";
    /// `head`
    pub const HEAD: &str = "head";
}

/// Outside the blocks, before them, in forward order.
pub const EMBED: [&str; 4] = [component::EMBED_PATCH, component::EMBED_TIME, component::EMBED_TEXT, component::EMBED_CAMERA];

/// One block's standard components, in forward order.
pub const BLOCK: [&str; 17] = [
    component::BLOCK_MODULATION,
    component::BLOCK_NORM1,
    component::BLOCK_SELF_ATTN_QKV,
    component::BLOCK_SELF_ATTN_QK_NORM,
    component::BLOCK_SELF_ATTN_ROPE,
    component::BLOCK_SELF_ATTN_SDPA,
    component::BLOCK_SELF_ATTN_OUT,
    component::BLOCK_CAMERA_INJECTOR,
    component::BLOCK_CAMERA_SCALE_SHIFT,
    component::BLOCK_CROSS_ATTN_NORM3,
    component::BLOCK_CROSS_ATTN_Q,
    component::BLOCK_CROSS_ATTN_KV,
    component::BLOCK_CROSS_ATTN_SDPA,
    component::BLOCK_CROSS_ATTN_OUT,
    component::BLOCK_NORM2,
    component::BLOCK_FFN_UP,
    component::BLOCK_FFN_DOWN,
];

/// Block components that replace standard ones in some variants: `qk_norm` and `rope` as one
/// kernel (compiled variants on CUDA), and the camera's cached scale and shift (`camera-cache`).
pub const BLOCK_ALTERNATIVES: [&str; 2] = [component::BLOCK_SELF_ATTN_QK_NORM_ROPE, component::BLOCK_CAMERA_APPLY];

/// After the blocks.
pub const HEAD: &str = component::HEAD;

/// Group timed in `block` synchronisation mode: all embeddings.
pub const GROUP_EMBED: &str = "embed";
/// Group timed in `block` synchronisation mode: a whole block.
pub const GROUP_BLOCK: &str = "block";
/// The whole forward, timed in `none` and `attributed` modes.
pub const FORWARD: &str = "forward";

/// Groups: names that stand for several components.
pub const GROUPS: [&str; 3] = [GROUP_EMBED, GROUP_BLOCK, FORWARD];

/// Every component name of the built-in model (groups excluded), embeddings first.
pub fn components() -> impl Iterator<Item = &'static str> {
    EMBED.into_iter().chain(BLOCK).chain(BLOCK_ALTERNATIVES).chain(std::iter::once(HEAD))
}

/// The powers of the token count L in a built-in component's analytic FLOPs and bytes: each is
/// `c_0 L^p_0 + c_1 L^p_1` for these two powers, so the costs recorded at two lengths give them
/// at every length. Self-attention's SDPA is the one term in L^2 (its FLOPs; its bytes are
/// linear with a fused kernel); every other component is a constant plus a term in L (weights
/// and text tokens do not grow with L). `None` for groups and names outside the built-in model,
/// whose costs need three lengths to pin down. The recorder's cost model is tested against it.
pub fn work_powers(name: &str) -> Option<[i32; 2]> {
    if !components().any(|c| c == name) {
        return None;
    }
    Some(if name == "block/self_attn/sdpa" { [1, 2] } else { [0, 1] })
}

/// Whether the built-in model times a component or group of this name.
pub fn is_builtin(name: &str) -> bool {
    GROUPS.contains(&name) || components().any(|c| c == name)
}

/// Where a component runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// Inside the transformer blocks (once per block).
    Blocks,
    /// Outside the blocks: embeddings and head.
    Overhead,
}

/// The area of a component name: `block` and `block/...` are inside the blocks, anything else
/// (the built-in model's embeddings and head, and unknown names) outside.
pub fn area_of(name: &str) -> Area {
    if name == GROUP_BLOCK || name.starts_with("block/") { Area::Blocks } else { Area::Overhead }
}

/// The seed report's buckets, in the order of its table.
pub const SEED_BUCKETS: [&str; 10] = [
    "FFN",
    "Self-Attention",
    "RoPE",
    "Camera Injection",
    "Cross-Attention",
    "Modulation",
    "Norms",
    "Time Embedding",
    "Camera Embedding",
    "Text Embedding",
];

/// The seed bucket of everything else outside the blocks (patch embedding and head).
pub const SEED_OTHER: &str = "Other";

/// The seed report's bucket of a component name, `None` for a name it had no bucket for.
pub fn seed_bucket_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "block/norm2" => "FFN",
        "block/self_attn/rope" => "RoPE",
        "block/modulation" => "Modulation",
        "block/norm1" => "Norms",
        "embed/time" => "Time Embedding",
        "embed/camera" => "Camera Embedding",
        "embed/text" => "Text Embedding",
        "embed/patch" | HEAD => SEED_OTHER,
        n if n.starts_with("block/ffn/") => "FFN",
        n if n.starts_with("block/self_attn/") => "Self-Attention",
        n if n.starts_with("block/camera/") => "Camera Injection",
        n if n.starts_with("block/cross_attn/") => "Cross-Attention",
        _ => return None,
    })
}

/// The seed report's bucket of a component name; a name the seed had no bucket for keeps a
/// bucket of its own, so that nothing is lost.
pub fn seed_bucket(name: &str) -> String {
    seed_bucket_of(name).map_or_else(|| name.to_string(), str::to_string)
}

/// Video frames folded into one latent frame by the VAE after the first.
pub const VAE_TIME_STRIDE: u32 = 4;
/// Pixels per token along height and width (VAE stride 8 x patch 2).
pub const PIXELS_PER_TOKEN: u32 = 16;

/// Latent frames of `frames` video frames: `(frames - 1) / 4 + 1` (0 for 0 frames).
pub fn latent_frames(frames: u32) -> u32 {
    if frames == 0 { 0 } else { (frames - 1) / VAE_TIME_STRIDE + 1 }
}

/// Sequence length L of `frames` frames at `height` x `width` pixels:
/// `((frames - 1) / 4 + 1) x (height / 16) x (width / 16)`; 9,360 for 21 frames at 480x832.
pub fn tokens(frames: u32, height: u32, width: u32) -> u64 {
    u64::from(latent_frames(frames)) * u64::from(height / PIXELS_PER_TOKEN) * u64::from(width / PIXELS_PER_TOKEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_builtin() {
        let all: Vec<&str> = components().collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len(), "duplicate names in {all:?}");
        assert_eq!(all.len(), 4 + 17 + 2 + 1);
        assert!(all.iter().all(|n| is_builtin(n)));
        assert!(is_builtin("forward") && is_builtin("block") && is_builtin("embed"));
        assert!(!is_builtin("block/ffn") && !is_builtin("layer/attn/q") && !is_builtin("block/self_attn/qkv "));
    }

    #[test]
    fn every_builtin_component_has_a_seed_bucket_and_an_area() {
        for n in components() {
            let bucket = seed_bucket_of(n).unwrap_or_else(|| panic!("{n} has no seed bucket"));
            assert!(bucket == SEED_OTHER || SEED_BUCKETS.contains(&bucket), "{n}: {bucket}");
            assert_eq!(area_of(n) == Area::Blocks, n.starts_with("block/"), "{n}");
        }
        assert_eq!(seed_bucket("block/norm2"), "FFN");
        assert_eq!(seed_bucket("block/norm1"), "Norms");
        assert_eq!(seed_bucket("block/cross_attn/norm3"), "Cross-Attention");
        assert_eq!(seed_bucket("block/self_attn/qk_norm_rope"), "Self-Attention");
        assert_eq!(seed_bucket("layer/attn/q"), "layer/attn/q");
        assert_eq!(area_of("block"), Area::Blocks);
        assert_eq!(area_of("blocks/x"), Area::Overhead);
    }

    #[test]
    fn tokens_follow_the_vae_and_patching() {
        // By hand: 21 frames -> 6 latent frames; 480/16 = 30, 832/16 = 52.
        assert_eq!(tokens(21, 480, 832), 6 * 30 * 52);
        assert_eq!(tokens(21, 480, 832), 9360);
        assert_eq!(tokens(81, 480, 832), 21 * 1560);
        // 11 frames round down to the latent length of 9.
        assert_eq!(tokens(11, 480, 832), tokens(9, 480, 832));
        assert_eq!(tokens(1, 16, 16), 1);
        assert_eq!(tokens(0, 480, 832), 0);
    }
}
