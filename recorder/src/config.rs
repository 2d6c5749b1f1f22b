//! Model presets, the dtype, and the video geometry that decides the sequence length.

use std::fmt;
use std::str::FromStr;

use trace_format::ModelConfig;

/// Spatial-temporal compression of the VAE (frames, height, width).
pub(crate) const VAE_STRIDE: [u32; 3] = [4, 8, 8];
/// Patch size of the transformer (frames, height, width).
pub(crate) const PATCH: [u32; 3] = [1, 2, 2];
/// Camera channels per token: 6 Plücker-ray channels x 8 x 8 pixels x 2 x 2 patch.
pub(crate) const CAMERA_CHANNELS: u32 = 6 * 8 * 8 * 2 * 2;
/// Largest frame count accepted (1,281 frames = 321 latent frames, 500k tokens at 480x832).
pub(crate) const MAX_FRAMES: u32 = 1281;
/// Largest height or width accepted, in pixels (1,024 patches a side). Bounds the sequence length
/// (at most 321 x 1,024 x 1,024 tokens) so that every size derived from it fits 64 bits.
pub(crate) const MAX_SIDE: u32 = 16384;

/// A named model shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// LingBot-World: Wan2.2 I2V-A14B expert plus camera control.
    Lingbot14b,
    /// Wan2.1 T2V 1.3B: no camera injection.
    Wan1_3b,
    /// A small model with every part of the big one, for tests.
    Tiny,
}

impl Preset {
    /// All presets, for help texts and errors.
    pub(crate) const ALL: [Preset; 3] = [Preset::Lingbot14b, Preset::Wan1_3b, Preset::Tiny];

    /// The preset's name on the command line and in traces.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Preset::Lingbot14b => "lingbot-14b",
            Preset::Wan1_3b => "wan-1.3b",
            Preset::Tiny => "tiny",
        }
    }

    /// The full model configuration of the preset.
    pub fn config(self) -> ModelConfig {
        let (dim, heads, blocks, ffn_dim, text_dim, text_len, freq_dim, in_dim, camera) = match self {
            Preset::Lingbot14b => (5120, 40, 40, 13824, 4096, 512, 256, 36, true),
            Preset::Wan1_3b => (1536, 12, 30, 8960, 4096, 512, 256, 16, false),
            Preset::Tiny => (256, 4, 2, 512, 64, 16, 32, 36, true),
        };
        ModelConfig {
            dim,
            heads,
            head_dim: dim / heads,
            blocks,
            preset_blocks: blocks,
            ffn_dim,
            text_dim,
            text_len,
            freq_dim,
            in_dim,
            out_dim: 16,
            camera,
            patch: PATCH,
            eps: 1e-6,
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Preset::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<_> = Preset::ALL.iter().map(|p| p.name()).collect();
            format!("unknown preset `{s}` (choose one of: {})", names.join(", "))
        })
    }
}

/// Compute dtype of weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float: the practical choice on the CPU.
    F32,
    /// bfloat16: the GPU default.
    Bf16,
    /// IEEE half.
    F16,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::Bf16 | DType::F16 => 2,
        }
    }

    /// Name in traces and on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::Bf16 => "bf16",
            DType::F16 => "f16",
        }
    }

    /// The MLX dtype.
    pub fn mlx(self) -> mlx_rs::Dtype {
        match self {
            DType::F32 => mlx_rs::Dtype::Float32,
            DType::Bf16 => mlx_rs::Dtype::Bfloat16,
            DType::F16 => mlx_rs::Dtype::Float16,
        }
    }
}

impl FromStr for DType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" | "float32" => Ok(DType::F32),
            "bf16" | "bfloat16" => Ok(DType::Bf16),
            "f16" | "float16" => Ok(DType::F16),
            _ => Err(format!("unknown dtype `{s}` (choose f32, bf16 or f16)")),
        }
    }
}

/// Video geometry of one forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// Video frames (4k + 1 uses every frame).
    pub frames: u32,
    /// Height in pixels (multiple of 16).
    pub height: u32,
    /// Width in pixels (multiple of 16).
    pub width: u32,
}

impl Geometry {
    /// Checks the frame count and resolution the VAE and patching require.
    pub(crate) fn new(frames: u32, height: u32, width: u32) -> Result<Self, String> {
        // Wan's VAE keeps the first frame and compresses each following 4 into one latent frame,
        // so 4k+1 frames use every frame; other counts (the seed's 11) round down to the same
        // latent length as the 4k+1 below them: (F-1)/4+1 with integer division.
        if frames == 0 || frames > MAX_FRAMES {
            return Err(format!("invalid frame count {frames}: must be between 1 and {MAX_FRAMES} (4k+1 uses every frame: 5, 9, 21, 81)"));
        }
        let unit = VAE_STRIDE[1] * PATCH[1];
        for (what, v) in [("height", height), ("width", width)] {
            if v == 0 || v % unit != 0 {
                return Err(format!("invalid {what} {v}: must be a positive multiple of {unit} (VAE stride 8 x patch 2)"));
            }
            if v > MAX_SIDE {
                return Err(format!("invalid {what} {v}: at most {MAX_SIDE} pixels"));
            }
        }
        Ok(Geometry { frames, height, width })
    }

    /// Latent frames after the VAE: (frames - 1) / 4 + 1.
    pub(crate) fn latent_frames(&self) -> u32 {
        (self.frames - 1) / VAE_STRIDE[0] + 1
    }

    /// Latent grid (frames, height, width) before patching.
    pub(crate) fn latent_grid(&self) -> [u32; 3] {
        [self.latent_frames(), self.height / VAE_STRIDE[1], self.width / VAE_STRIDE[2]]
    }

    /// Token grid (frames, height, width) after patching.
    pub(crate) fn token_grid(&self) -> [u32; 3] {
        let [f, h, w] = self.latent_grid();
        [f / PATCH[0], h / PATCH[1], w / PATCH[2]]
    }

    /// Sequence length: latent_frames x (H/16) x (W/16), by the format crate's one formula (the
    /// analyzer uses the same), which is the product of [`Geometry::token_grid`].
    pub(crate) fn tokens(&self) -> u64 {
        let tokens = trace_format::taxonomy::tokens(self.frames, self.height, self.width);
        debug_assert_eq!(tokens, self.token_grid().iter().map(|&v| v as u64).product::<u64>());
        tokens
    }
}

/// Parses a frame list such as `5,11,21`.
pub(crate) fn parse_frames(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let f: u32 = match part.parse::<u32>() {
            Ok(f) => f,
            // A whole number past u32: say it is too large, not that it is not a number.
            Err(_) if part.bytes().all(|b| b.is_ascii_digit()) => return Err(format!("invalid frame count `{part}`: too large (at most {} frames)", u32::MAX)),
            Err(_) => return Err(format!("invalid frame count `{part}`: not a whole number")),
        };
        Geometry::new(f, 16, 16)?;
        if !out.contains(&f) {
            out.push(f);
        }
    }
    if out.is_empty() {
        return Err("no frame counts given".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_latent_formula() {
        // One latent frame at 480x832 is 30 x 52 = 1560 tokens.
        for (frames, tokens) in [(5, 3120), (11, 4680), (21, 9360), (41, 17160), (81, 32760), (161, 63960)] {
            let g = Geometry::new(frames, 480, 832).unwrap();
            let by_hand = ((frames as u64 - 1) / 4 + 1) * (480 / 16) * (832 / 16);
            assert_eq!(g.tokens(), by_hand);
            assert_eq!(g.tokens(), tokens);
        }
    }

    #[test]
    fn bad_geometry_is_refused() {
        assert!(Geometry::new(0, 480, 832).unwrap_err().contains("between 1 and"));
        assert!(Geometry::new(5000, 480, 832).is_err());
        // 11 frames (the seed's) is not 4k+1: it has the 3 latent frames of 9 frames.
        assert_eq!(Geometry::new(11, 480, 832).unwrap().tokens(), Geometry::new(9, 480, 832).unwrap().tokens());
        assert!(Geometry::new(21, 481, 832).unwrap_err().contains("height"));
        assert!(Geometry::new(21, 480, 0).unwrap_err().contains("width"));
        assert!(parse_frames("5,x").unwrap_err().contains("not a whole number"));
        assert!(parse_frames("4294967296").unwrap_err().contains("too large"), "{:?}", parse_frames("4294967296"));
        assert_eq!(parse_frames("5, 11,21,5").unwrap(), vec![5, 11, 21]);
    }

    #[test]
    fn presets_have_consistent_heads() {
        for p in Preset::ALL {
            let c = p.config();
            assert_eq!(c.head_dim * c.heads, c.dim);
            assert_eq!(p.name().parse::<Preset>().unwrap(), p);
        }
        assert_eq!(Preset::Lingbot14b.config().head_dim, 128);
    }
}
