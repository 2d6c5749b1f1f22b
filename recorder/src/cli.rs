//! Command line of `mlx-record`, and its translation into a [`Plan`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;
use trace_format::SyncMode;

use crate::config::{DType, Geometry, Preset, parse_frames};
use crate::machine::Backend;
use crate::session::{Plan, default_out};
use crate::variants::{Variant, parse_variants};

/// Records instrumented forward passes of the LingBot-World video diffusion transformer
/// (Wan2.2-A14B + camera control) with MLX and writes a MessagePack trace for `mlx-analyze`.
///
/// Each frame count is run `--warmup` + `--runs` times in every synchronisation mode and
/// variant. Weights and inputs are random with a fixed seed unless `--weights` is given.
#[derive(Debug, Parser)]
#[command(name = "mlx-record", version, after_help = EXAMPLES)]
pub struct Opt {
    /// Model preset: lingbot-14b (40 blocks, dim 5120, camera), wan-1.3b (30 blocks, dim 1536,
    /// no camera) or tiny (2 blocks, dim 256, for tests).
    #[arg(long, default_value = "lingbot-14b", value_parser = parse_preset)]
    pub preset: Preset,

    /// Run only the first N blocks (the seed profile used 8).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), allow_negative_numbers = true)]
    pub blocks: Option<u32>,

    /// Frame counts to record, comma-separated. 4k+1 uses every frame; others round down to
    /// the same latent length ((F-1)/4+1 latent frames). At 480x832, 21 frames are 9,360 tokens
    /// (6 latent frames x 30 x 52).
    #[arg(long, default_value = "5,11,21", value_delimiter = ',', value_parser = parse_frame)]
    pub frames: Vec<u32>,

    /// Video height in pixels (multiple of 16).
    #[arg(long, default_value_t = 480, allow_negative_numbers = true)]
    pub height: u32,

    /// Video width in pixels (multiple of 16).
    #[arg(long, default_value_t = 832, allow_negative_numbers = true)]
    pub width: u32,

    /// Compute dtype: f32, bf16 or f16 [default: bf16 on a GPU, f32 on the CPU, where 16-bit
    /// matmul is about 15x slower].
    #[arg(long, value_parser = parse_dtype)]
    pub dtype: Option<DType>,

    /// Timed runs per frame count, variant and synchronisation mode.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..), allow_negative_numbers = true)]
    pub runs: u32,

    /// Warm-up runs (recorded, marked, excluded from analysis by default).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub warmup: u32,

    /// Synchronisation modes, comma-separated: component (evaluate after every component),
    /// block (after every block), none (one evaluation per forward). Recording both component
    /// and none lets the analyzer report the instrumentation overhead.
    #[arg(long, default_value = "component,none", value_delimiter = ',', value_parser = parse_sync)]
    pub sync: Vec<SyncMode>,

    /// Variants to record beside the baseline, comma-separated, or `all`: baseline, ffn-q8,
    /// ffn-q4, camera-cache, cross-kv-cache, cached, compiled, compiled-cached, uniform-time,
    /// optimized (compiled + both caches + uniform-time).
    #[arg(long, default_value = "baseline", value_delimiter = ',', value_parser = parse_variant_list)]
    pub variant: Vec<Vec<Variant>>,

    /// Directory of safetensors checkpoint shards with the official parameter names; random
    /// weights (fixed seed) when absent.
    #[arg(long, value_name = "DIR")]
    pub weights: Option<PathBuf>,

    /// Seed of random weights and inputs.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,

    /// Trace file to write [default: traces/<host>-<preset>-<backend>-<time>.msgpack].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Force the CPU backend even when a GPU backend is available.
    #[arg(long)]
    pub cpu: bool,

    /// Label stored in the trace metadata, KEY=VALUE (repeatable), e.g. --label machine=m3-max.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_label)]
    pub label: Vec<(String, String)>,

    /// Record even if the memory estimate exceeds what the machine has.
    #[arg(long)]
    pub skip_memory_check: bool,

    /// Skip the matmul/bandwidth calibration (the analyzer then cannot place components
    /// against this machine's ceilings).
    #[arg(long)]
    pub no_calibrate: bool,

    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

const EXAMPLES: &str = "Examples:
  mlx-record --preset tiny --frames 5,9,13            quick CPU recording into traces/
  mlx-record --preset wan-1.3b --blocks 2 --frames 5,9  the CPU benchmark configuration
  mlx-record --frames 5,11,21,41,81 --variant all      full model on a GPU, every variant";

fn parse_preset(s: &str) -> Result<Preset, String> {
    s.parse()
}
fn parse_frame(s: &str) -> Result<u32, String> {
    Ok(parse_frames(s)?[0])
}
fn parse_dtype(s: &str) -> Result<DType, String> {
    s.parse()
}
fn parse_sync(s: &str) -> Result<SyncMode, String> {
    match s {
        "component" => Ok(SyncMode::Component),
        "block" => Ok(SyncMode::Block),
        "none" => Ok(SyncMode::None),
        _ => Err(format!("unknown synchronisation mode `{s}` (choose component, block or none)")),
    }
}
fn parse_variant_list(s: &str) -> Result<Vec<Variant>, String> {
    parse_variants(s)
}
fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().into(), v.trim().into())),
        _ => Err(format!("invalid label `{s}`: expected KEY=VALUE")),
    }
}

impl Opt {
    /// Parses the process arguments (exits with usage on error, code 2).
    pub fn parse_args() -> Self {
        Opt::parse()
    }

    /// The validated plan, before any compute.
    pub fn to_plan(&self, backend: Backend) -> Result<Plan> {
        let mut config = self.preset.config();
        if let Some(b) = self.blocks {
            if b > config.blocks {
                bail!("--blocks {b}: the {} preset has only {} blocks", self.preset, config.blocks);
            }
            config.blocks = b;
        }
        let mut geometries = Vec::new();
        for &f in &self.frames {
            geometries.push(Geometry::new(f, self.height, self.width).map_err(anyhow::Error::msg)?);
        }
        let dtype = self.dtype.unwrap_or(if backend.is_gpu() { DType::Bf16 } else { DType::F32 });
        let mut sync_modes = Vec::new();
        for m in &self.sync {
            if !sync_modes.contains(m) {
                sync_modes.push(*m);
            }
        }
        let mut variants: Vec<Variant> = Vec::new();
        for v in self.variant.iter().flatten() {
            if !variants.contains(v) {
                variants.push(*v);
            }
        }
        if !config.camera {
            // Without camera control the caching variants reduce to the text K/V cache.
            variants.retain(|v| !matches!(v, Variant::CameraCache));
        }
        if let Some(dir) = &self.weights {
            if !dir.is_dir() {
                bail!("--weights {}: not a directory", dir.display());
            }
        }
        let out = match &self.out {
            Some(p) => {
                if p.is_dir() {
                    bail!("--out {}: is a directory, expected a file name", p.display());
                }
                p.clone()
            }
            None => default_out(&PathBuf::from("traces"), self.preset, backend),
        };
        Ok(Plan {
            preset: self.preset,
            config,
            dtype,
            backend,
            geometries,
            runs: self.runs,
            warmup: self.warmup,
            sync_modes,
            variants,
            seed: self.seed,
            weights: self.weights.clone(),
            out,
            skip_memory_check: self.skip_memory_check,
            quiet: self.quiet,
            calibrate: !self.no_calibrate,
            labels: self.label.iter().cloned().collect::<BTreeMap<_, _>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Opt::command().debug_assert();
    }

    #[test]
    fn lists_and_defaults() {
        let o = Opt::parse_from(["mlx-record", "--frames", "5,9", "--sync=component,none", "--preset", "tiny"]);
        assert_eq!(o.frames, vec![5, 9]);
        assert_eq!(o.sync, vec![SyncMode::Component, SyncMode::None]);
        let plan = o.to_plan(Backend::Cpu).unwrap();
        assert_eq!(plan.dtype, DType::F32);
        assert_eq!(plan.variants, vec![Variant::Baseline]);
        assert_eq!(plan.total_runs(), 2 * 1 * 4 * 2);
    }

    #[test]
    fn bad_values_are_refused_before_compute() {
        for bad in [["--frames", "0"], ["--height", "481"], ["--dtype", "f64"], ["--preset", "big"], ["--sync", "always"], ["--blocks", "0"]] {
            let args = ["mlx-record", bad[0], bad[1]];
            let parsed = Opt::try_parse_from(args);
            let plan_err = parsed.as_ref().ok().map(|o| o.to_plan(Backend::Cpu).is_err());
            assert!(parsed.is_err() || plan_err == Some(true), "{bad:?} accepted");
        }
    }
}
