//! Command line of `mlx-record`, and its translation into a `Plan`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Parser;
use trace_format::{SyncMode, partial_path, special_kind};

use crate::config::{DType, Geometry, Preset, parse_frames};
use crate::machine::Backend;
use crate::session::{Plan, default_out};
use crate::variants::{Variant, parse_variants};

/// Records instrumented forward passes of the LingBot-World video diffusion transformer
/// (Wan2.2-A14B + camera control) with MLX and writes a MessagePack trace for `mlx-analyze`.
///
/// Each frame count is run `--warmup` times, then until its estimates reach `--precision` (or
/// exactly `--runs` times) in every synchronisation mode and variant. Weights and inputs are random with a fixed seed unless `--weights` is given.
#[derive(Debug, Parser)]
#[command(name = "mlx-record", version, after_help = EXAMPLES)]
// The field docs are the --help text, where `<host>` is a placeholder, not an HTML tag.
#[allow(rustdoc::invalid_html_tags)]
pub struct Opt {
    /// Model preset: lingbot-14b (40 blocks, dim 5120, camera), wan-1.3b (30 blocks, dim 1536,
    /// no camera) or tiny (2 blocks, dim 256, for tests).
    #[arg(long, default_value = "lingbot-14b", value_parser = parse_preset)]
    pub(crate) preset: Preset,

    /// Run only the first N blocks (the seed profile used 8).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), allow_negative_numbers = true)]
    pub(crate) blocks: Option<u32>,

    /// Frame counts to record, comma-separated. 4k+1 uses every frame; others round down to
    /// the same latent length ((F-1)/4+1 latent frames). At 480x832, 21 frames are 9,360 tokens
    /// (6 latent frames x 30 x 52).
    #[arg(long, default_value = "5,11,21", value_delimiter = ',', value_parser = parse_frame)]
    pub(crate) frames: Vec<u32>,

    /// Video height in pixels (multiple of 16).
    #[arg(long, default_value_t = 480, allow_negative_numbers = true)]
    pub(crate) height: u32,

    /// Video width in pixels (multiple of 16).
    #[arg(long, default_value_t = 832, allow_negative_numbers = true)]
    pub(crate) width: u32,

    /// Compute dtype: f32, bf16 or f16 [default: bf16 on a GPU, f32 on the CPU, where 16-bit
    /// matmul is about 15x slower].
    #[arg(long, value_parser = parse_dtype)]
    pub(crate) dtype: Option<DType>,

    /// Timed runs per frame count, variant and synchronisation mode, exactly (attributed:
    /// rounds, each of which perturbs every component once; intervals need 3 or more). At most
    /// 10000. Without it, the recording runs until its estimates reach --precision.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_RUNS as i64), allow_negative_numbers = true, conflicts_with = "precision")]
    pub(crate) runs: Option<u32>,

    /// Record until every estimate's 95% interval is within this of its value: the attributed
    /// sum and each component of at least 5% of the forward, and the mean forward of the other
    /// modes (at least 3 repetitions; 5 once a slow run was set aside). The slow runs and
    /// drift are handled as the analyzer does (docs/statistics.md). Default 5% unless --runs.
    #[arg(long, value_name = "P", value_parser = crate::precision::parse_precision)]
    pub(crate) precision: Option<f64>,

    /// Time for the timed runs of a precision-driven recording (90s, 10m, 1h), shared among
    /// frame counts and variants by their cost; a set that runs out says which targets it did
    /// not meet. The minimum repetitions always run. Default 10m.
    #[arg(long, value_name = "T", value_parser = crate::precision::parse_duration, conflicts_with = "runs")]
    pub(crate) max_time: Option<std::time::Duration>,

    /// Warm-up runs (recorded, marked, excluded from analysis by default; at most 1000). Where
    /// attribution rounds alternate two numbers of copies, this many at each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=MAX_WARMUP as i64), allow_negative_numbers = true)]
    pub(crate) warmup: u32,

    /// Synchronisation modes, comma-separated: none (one evaluation per forward: the real
    /// speed), attributed (fused forwards with one component's work duplicated at a time: each
    /// component's cost inside the fused forward, see docs/attribution.md), component (evaluate
    /// after every component, the seed profiler's method), block (after every block). The
    /// analyzer reports each method's sum against the fused forward.
    #[arg(long, default_value = "none,attributed,component", value_delimiter = ',', value_parser = parse_sync)]
    pub(crate) sync: Vec<SyncMode>,

    /// Attributed mode: extra copies of the perturbed component's work per invocation. More
    /// copies raise the signal over the run-to-run noise at little extra time (the copies of
    /// all components together cost about K forwards per round).
    #[arg(long, value_name = "K", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) copies: u32,

    /// Attributed mode, precision-driven (without --runs): every other round duplicates with
    /// N copies instead of K, and the report says whether a copy's cost depends on how many
    /// there are (the method's additivity) and by how much; each component's cost pools both.
    /// Default: twice --copies (at most 64). 0 turns the check off. With --runs, every round
    /// uses K.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=64))]
    pub(crate) check_copies: Option<u32>,

    /// Variants to record beside the baseline, comma-separated, or `all`: baseline, ffn-q8,
    /// ffn-q4, camera-cache, cross-kv-cache, cached, compiled, compiled-cached, uniform-time,
    /// optimized (compiled + both caches + uniform-time).
    #[arg(long, default_value = "baseline", value_delimiter = ',', value_parser = parse_variant_list)]
    pub(crate) variant: Vec<Vec<Variant>>,

    /// Directory of safetensors checkpoint shards with the official parameter names; random
    /// weights (fixed seed) when absent.
    #[arg(long, value_name = "DIR")]
    pub(crate) weights: Option<PathBuf>,

    /// Seed of random weights and inputs.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub(crate) seed: u64,

    /// Trace file to write [default: traces/<host>-<preset>-<backend>-<time>.msgpack, numbered
    /// when taken]. An existing file is refused unless --force.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,

    /// Replace the --out file if it exists (a regular file only; it stays untouched until the
    /// recording completes).
    #[arg(long)]
    pub(crate) force: bool,

    /// Force the CPU backend even when a GPU backend is available.
    #[arg(long)]
    pub(crate) cpu: bool,

    /// Label stored in the trace metadata, KEY=VALUE (repeatable), e.g. --label machine=m3-max.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_label)]
    pub(crate) label: Vec<(String, String)>,

    /// Record even if the memory estimate exceeds what the machine has.
    #[arg(long)]
    pub(crate) skip_memory_check: bool,

    /// Skip the matmul/bandwidth calibration (the analyzer then cannot place components
    /// against this machine's ceilings).
    #[arg(long)]
    pub(crate) no_calibrate: bool,

    /// No progress bar.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

/// Largest `--runs`.
pub(crate) const MAX_RUNS: u32 = 10_000;
/// Largest `--warmup`.
pub(crate) const MAX_WARMUP: u32 = 1_000;

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
    s.parse()
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
    pub(crate) fn to_plan(&self, backend: Backend) -> Result<Plan> {
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
        // The checkpoint is checked now, before any file is created or anything computed.
        let mut checkpoint = Vec::new();
        if let Some(dir) = &self.weights {
            if !dir.is_dir() {
                bail!("--weights {}: not a directory", dir.display());
            }
            checkpoint = crate::model::weights::validate(dir, &config).map_err(|e| anyhow::anyhow!("--weights {}: {e}", dir.display()))?;
        }
        let out = match &self.out {
            Some(p) => {
                check_out(p, self.force, &checkpoint)?;
                p.clone()
            }
            None => default_out(&PathBuf::from("traces"), self.preset, backend),
        };
        let stopping = match self.runs {
            Some(n) => crate::precision::Stopping::Exact(n),
            None => crate::precision::Stopping::Precision {
                target: self.precision.unwrap_or(crate::precision::DEFAULT_PRECISION),
                max_time: self.max_time.unwrap_or(crate::precision::DEFAULT_MAX_TIME),
            },
        };
        // A key given twice would silently keep the last value.
        for (i, (key, value)) in self.label.iter().enumerate() {
            if let Some((_, first)) = self.label[..i].iter().find(|(k, _)| k == key) {
                bail!("--label {key}: given twice ({key}={first} and {key}={value}); give each key once");
            }
        }
        let plan = Plan {
            preset: self.preset,
            config,
            dtype,
            backend,
            geometries,
            runs: stopping.min_reps(),
            stopping,
            warmup: self.warmup,
            sync_modes,
            copies: self.copies,
            // Twice K, within the range an explicit --check-copies has.
            check_copies: self.check_copies.unwrap_or((2 * self.copies).min(64)),
            inflate: None,
            variants,
            seed: self.seed,
            weights: self.weights.clone(),
            replace: self.force,
            next_free_name: self.out.is_none(),
            out,
            skip_memory_check: self.skip_memory_check,
            quiet: self.quiet,
            calibrate: !self.no_calibrate,
            labels: self.label.iter().cloned().collect::<BTreeMap<_, _>>(),
        };
        // Run indices are 32-bit; the bounds on every flag keep the product far below.
        if plan.total_runs() > u64::from(u32::MAX) {
            bail!("the plan has {} runs, more than a trace can index", plan.total_runs());
        }
        Ok(plan)
    }
}

/// Refuses an `--out` that would destroy something: an existing file (unless `force`), anything
/// but a regular file (a device, a FIFO: the finished trace is renamed over its destination), a
/// `.partial` already there (another recording's, or an interrupted one's), a checkpoint file.
fn check_out(path: &Path, force: bool, checkpoint: &[PathBuf]) -> Result<()> {
    let shown = path.display();
    if path.as_os_str() == "-" {
        bail!("--out -: mlx-record writes its trace to a file (as NAME.partial, renamed when complete), not to standard output");
    }
    if path.is_dir() {
        bail!("--out {shown}: is a directory, expected a file name");
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if let Some(kind) = special_kind(&meta) {
            bail!("--out {shown}: is {kind}, not a regular file; the finished trace is renamed over its destination, which would replace it");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            for file in checkpoint {
                if std::fs::metadata(file).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino()) {
                    bail!("--out {shown}: is the checkpoint file {} of --weights", file.display());
                }
            }
        }
        if !force {
            bail!("--out {shown}: exists; choose another name, or --force to replace it once the recording completes");
        }
    } else if std::fs::symlink_metadata(path).is_ok() {
        bail!("--out {shown}: is a symbolic link to nothing");
    }
    let partial = partial_path(path);
    if std::fs::symlink_metadata(&partial).is_ok() {
        bail!(
            "--out {shown}: {} exists: another mlx-record is writing it, or an interrupted recording left it \
             (mlx-analyze reads it); remove or rename it, or choose another --out",
            partial.display()
        );
    }
    Ok(())
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
    fn check_copies_default_to_twice_the_copies_within_range() {
        let plan = |extra: &[&str]| {
            let args = ["mlx-record", "--preset", "tiny", "--frames", "5"].iter().chain(extra).copied().collect::<Vec<_>>();
            Opt::parse_from(args).to_plan(Backend::Cpu).unwrap()
        };
        assert_eq!((plan(&[]).copies, plan(&[]).check_copies), (4, 8));
        assert_eq!(plan(&["--copies", "40"]).check_copies, 64);
        assert_eq!(plan(&["--check-copies", "0"]).check_copies, 0);
        // Precision-driven: 3 rounds at each of two levels planned; an exact count: one level.
        assert_eq!(plan(&[]).planned_reps(), 6);
        assert_eq!(plan(&["--check-copies", "0"]).planned_reps(), 3);
        assert_eq!(plan(&["--runs", "3"]).planned_reps(), 3);
        assert_eq!(plan(&["--copies", "8", "--check-copies", "8"]).planned_reps(), 3);
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
