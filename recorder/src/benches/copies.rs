//! What a duplicate costs besides its copies' work: the attribution's additivity on this machine.
//!
//! Interleaved rounds of plain forwards, the control, and for each component X a duplicate
//! (`k` copies of X's work) and a scalars-only run (`k` scalars of X's own outputs, attached as
//! a duplicate's are, with no copy work). Every run also counts the process's minor page faults
//! (memory the OS hands out fresh). Prints per component the time and faults a copy adds, the
//! control's charge for its scalars, and what the scalars alone cost; then the attributed sum
//! against the plain forward. With `COPIES_CACHE_LIMITS` (bytes, comma-separated, `default` for
//! MLX's own) the whole experiment repeats under each limit of MLX's buffer cache.
//!
//! Run with `cargo bench -p mlx-record --features bench --bench copies`. COPIES_PRESET
//! (`wan-1.3b`), COPIES_BLOCKS (2), COPIES_FRAMES (5), COPIES_HEIGHT (240), COPIES_WIDTH (416),
//! COPIES_K (4), COPIES_ROUNDS (4) override.

use crate::api::{Mode, Perturb, Recorder, Shape};
use crate::config::{DType, Geometry, Preset};
use crate::cost::CostModel;
use crate::machine::{Backend, use_backend};
use crate::model::{ForwardOptions, Inputs, Model, Weights, names};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn minor_faults() -> i64 {
    crate::machine::minor_faults().map_or(0, |f| f as i64)
}

#[derive(Default, Clone)]
struct Runs {
    ms: Vec<f64>,
    faults: Vec<f64>,
    scalars: u64,
}

impl Runs {
    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len().max(1) as f64
    }
    /// Variance of the mean.
    fn var_mean(v: &[f64]) -> f64 {
        let n = v.len() as f64;
        if n < 2.0 {
            return f64::NAN;
        }
        let m = Self::mean(v);
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0) / n
    }
}

/// Runs the benchmark and prints its tables.
pub fn main() {
    crate::blas::ensure_fast_openblas();
    use_backend(Backend::Cpu);
    let preset: Preset = std::env::var("COPIES_PRESET").unwrap_or_else(|_| "wan-1.3b".into()).parse().expect("COPIES_PRESET: a preset");
    let mut config = preset.config();
    config.blocks = env("COPIES_BLOCKS", 2);
    let geometry = Geometry::new(env("COPIES_FRAMES", 5), env("COPIES_HEIGHT", 240), env("COPIES_WIDTH", 416)).expect("geometry");
    let k: u32 = env("COPIES_K", 4);
    let rounds: usize = env("COPIES_ROUNDS", 4);
    let limits: Vec<Option<usize>> = std::env::var("COPIES_CACHE_LIMITS")
        .unwrap_or_else(|_| "default".into())
        .split(',')
        .map(|s| if s == "default" { None } else { Some(s.parse().expect("COPIES_CACHE_LIMITS: bytes or default")) })
        .collect();
    let dtype = DType::F32;
    let weights = Weights::synthetic(&config, dtype, 1).unwrap();
    let inputs = Inputs::synthetic(&config, geometry, dtype, 1).unwrap();
    let model = Model::new(config.clone(), dtype, weights);
    let costs = CostModel::new(&config, geometry.tokens(), dtype.size());
    let shape = Shape { variant: "baseline".into(), frames: geometry.frames, tokens: geometry.tokens(), costs: Some(costs.clone()), forward_cost: costs.of(names::FORWARD) };
    let opts = ForwardOptions::default();
    let mut forward = |probe: &mut crate::api::Probe| model.forward(&inputs, probe, &opts);
    let stages = Recorder::stages(&shape, &mut forward).unwrap();

    for limit in limits {
        // MLX's CPU default is 32 MiB.
        mlx_rs::memory::set_cache_limit(limit.unwrap_or(32 << 20)).unwrap();
        mlx_rs::memory::clear_cache().unwrap();
        let mut run = |perturb: Perturb, into: &mut Runs| {
            let before = minor_faults();
            let m = Recorder::forward_once(&shape, Mode::Attributed, perturb, None, &mut forward).unwrap();
            into.faults.push((minor_faults() - before) as f64);
            into.ms.push(m.run.forward_ns as f64 / 1e6);
            into.scalars = m.reduced_arrays;
        };
        // Warm-up.
        run(Perturb::Nothing, &mut Runs::default());
        run(Perturb::Control, &mut Runs::default());
        let (mut plain, mut control) = (Runs::default(), Runs::default());
        let mut dup = vec![Runs::default(); stages.len()];
        let mut scal = vec![Runs::default(); stages.len()];
        for r in 0..rounds {
            eprintln!("cache limit {}: round {}/{rounds}", limit.map_or("default".into(), |l| l.to_string()), r + 1);
            run(Perturb::Nothing, &mut plain);
            run(Perturb::Control, &mut control);
            for j in 0..stages.len() {
                let i = (j + r * 5) % stages.len();
                let target = stages[i].name.clone();
                if j % 2 == r % 2 {
                    run(Perturb::Duplicate { target: target.clone(), copies: k }, &mut dup[i]);
                    run(Perturb::Scalars { target, copies: k }, &mut scal[i]);
                } else {
                    run(Perturb::Scalars { target: target.clone(), copies: k }, &mut scal[i]);
                    run(Perturb::Duplicate { target, copies: k }, &mut dup[i]);
                }
                if j % 4 == 3 {
                    run(Perturb::Nothing, &mut plain);
                }
            }
        }
        let t0 = Runs::mean(&plain.ms);
        let f0 = Runs::mean(&plain.faults);
        let tc = Runs::mean(&control.ms);
        println!();
        println!(
            "{} ({} blocks) f32, {} tokens, CPU; k = {k}; {rounds} rounds; MLX cache limit {}",
            preset.name(),
            config.blocks,
            geometry.tokens(),
            limit.map_or("default (32 MiB)".into(), |l| format!("{} MiB", l >> 20))
        );
        println!(
            "plain forward {t0:.1} ms ({} runs, faults {f0:.0}); control {tc:.1} ms (+{:.1} ms, {} scalars, faults {:.0})",
            plain.ms.len(),
            tc - t0,
            control.scalars,
            Runs::mean(&control.faults)
        );
        println!("per copy and forward: time a duplicate adds, its extra minor faults, the control's charge for its scalars, what the scalars alone add");
        println!("{:<28} {:>10} {:>9} {:>11} {:>10} {:>11} {:>10}", "component", "dup (ms)", "faults", "charge", "scalars", "attributed", "outputs MB");
        let (mut sum, mut var, mut sum_scal_bias, mut sum_faults) = (0.0, 0.0, 0.0, 0.0);
        let share = (tc - t0) / control.scalars.max(1) as f64;
        for (i, s) in stages.iter().enumerate() {
            let d = (Runs::mean(&dup[i].ms) - t0) / k as f64;
            let df = (Runs::mean(&dup[i].faults) - f0) / k as f64;
            let charge = share * dup[i].scalars as f64 / k as f64;
            let sc = (Runs::mean(&scal[i].ms) - t0) / k as f64;
            let attributed = d - charge;
            sum += attributed;
            var += Runs::var_mean(&dup[i].ms) / (k * k) as f64;
            sum_scal_bias += sc - charge;
            sum_faults += df;
            println!(
                "{:<28} {d:>10.2} {df:>9.0} {charge:>11.2} {sc:>10.2} {attributed:>11.2} {:>10.1}",
                s.name,
                s.output_bytes as f64 * s.calls as f64 / 1e6
            );
        }
        let n = stages.len() as f64;
        var += Runs::var_mean(&plain.ms) * n * n / (k * k) as f64;
        println!(
            "attributed sum {sum:.1} ms (+-{:.1}, 2 sd of the mean) vs plain {t0:.1} ms: {:+.1}%; scalars beyond their charge, summed: {sum_scal_bias:+.1} ms; extra faults per copy, summed: {sum_faults:.0}",
            2.0 * var.sqrt(),
            100.0 * (sum / t0 - 1.0)
        );
    }
}
