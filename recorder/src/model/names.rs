//! Component names of the event taxonomy (docs/taxonomy.md), in forward order.

/// Outside the blocks, before them.
pub const EMBED: [&str; 4] = ["embed/patch", "embed/time", "embed/text", "embed/camera"];

/// One block, in order.
pub const BLOCK: [&str; 17] = [
    "block/modulation",
    "block/norm1",
    "block/self_attn/qkv",
    "block/self_attn/qk_norm",
    "block/self_attn/rope",
    "block/self_attn/sdpa",
    "block/self_attn/out",
    "block/camera/injector",
    "block/camera/scale_shift",
    "block/cross_attn/norm3",
    "block/cross_attn/q",
    "block/cross_attn/kv",
    "block/cross_attn/sdpa",
    "block/cross_attn/out",
    "block/norm2",
    "block/ffn/up",
    "block/ffn/down",
];

/// After the blocks.
pub const HEAD: &str = "head";

/// Group names timed in `block` synchronisation mode.
pub const GROUP_EMBED: &str = "embed";
/// A whole block, in `block` mode.
pub const GROUP_BLOCK: &str = "block";
/// The whole forward, in `none` mode.
pub const FORWARD: &str = "forward";
