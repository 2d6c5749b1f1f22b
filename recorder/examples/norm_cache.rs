//! What a duplicated RMSNorm costs next to a cold one, on MLX's default device (the GPU where
//! there is one): the measurement behind the "cache effects" of docs/attribution.md.
//!
//! The attribution charges a component the cost of extra copies of its work placed right after
//! it. A copy of a memory-bound component reads the same input the original has just read, so
//! where part of that input is still in a cache the copy moves fewer bytes from memory than the
//! component does, and the component is under-charged. This program measures that directly for
//! the self-attention's RMSNorm (`block/self_attn/qk_norm`, one norm per call here):
//!
//! - **cold**: after a pass over a large array that evicts the caches, `rms_norm(x)` alone;
//! - **copy**: a producer (`x * 1`, standing in for the projection that writes q and k), the norm,
//!   and K copies of the norm each reduced to one element, as the recorder's duplicates are; the
//!   cost of one copy is (time with K copies - time without) / K;
//! - **stream**: `y = x + 1` over 1 GiB, the calibration's DRAM ceiling.
//!
//! Each rate is the norm's minimum bytes (read x, write the output, read the weight) over the
//! time. A copy faster than the cold norm, or faster than the stream ceiling, is the cache at
//! work.
//!
//!   cargo run --release -p mlx-record --example norm_cache -- [--dim 5120] [--tokens 3120,9360]
//!       [--dtype bf16] [--reps 15] [--copies 4]

use std::time::Instant;

use anyhow::{bail, Context, Result};
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{fast, Array};
use mlx_record::api::DType;

struct Args {
    dim: i32,
    tokens: Vec<i32>,
    dtype: DType,
    reps: usize,
    copies: usize,
}

fn parse() -> Result<Args> {
    let mut a = Args { dim: 5120, tokens: vec![3120, 9360], dtype: DType::Bf16, reps: 15, copies: 4 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dim" => a.dim = value.parse()?,
            "--tokens" => a.tokens = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--dtype" => a.dtype = value.parse().map_err(anyhow::Error::msg)?,
            "--reps" => a.reps = value.parse()?,
            "--copies" => a.copies = value.parse()?,
            _ => bail!("unknown argument {flag}"),
        }
    }
    if a.reps < 3 || a.copies < 1 {
        bail!("--reps must be at least 3 and --copies at least 1");
    }
    Ok(a)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds of one call of `f`, after `evict` has run (untimed).
fn timed(evict: &mut dyn FnMut() -> Result<()>, f: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    evict()?;
    let t = Instant::now();
    f()?;
    Ok(t.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let a = parse()?;
    let dt = a.dtype.mlx();
    let size = a.dtype.size() as f64;
    let one = Array::from_f32(1.0).as_dtype(dt)?;
    // 1 GiB: far beyond any GPU's L2 (50-60 MB) or CPU's last-level cache.
    let big = Array::ones::<f32>(&[(1i64 << 30) as i32 / a.dtype.size() as i32])?.as_dtype(dt)?;
    big.eval()?;
    let mut evict = || -> Result<()> { Ok(big.add(&one)?.eval()?) };
    let stream = (0..a.reps).map(|_| timed(&mut || Ok(()), &mut || Ok(big.add(&one)?.eval()?))).collect::<Result<Vec<_>>>()?;
    let stream_bps = 2.0 * (1u64 << 30) as f64 / stream.iter().copied().fold(f64::INFINITY, f64::min);
    println!("device: {:?}; stream (y = x + 1 over 1 GiB, best of {}): {:.0} GB/s", mlx_rs::Device::default(), a.reps, stream_bps / 1e9);
    println!("| tokens | bytes per norm | cold norm (ms) | cold GB/s | one copy (ms) | copy GB/s | copy / cold |");
    println!("|---|---|---|---|---|---|---|");
    for &l in &a.tokens {
        let x = mlx_rs::random::normal::<f32>(&[l, a.dim], None, None, &mlx_rs::random::key(1)?)?.as_dtype(dt)?;
        let w = Array::ones::<f32>(&[a.dim])?.as_dtype(dt)?;
        mlx_rs::transforms::eval([&x, &w])?;
        let eps = 1e-6;
        let bytes = 2.0 * l as f64 * a.dim as f64 * size + a.dim as f64 * size;
        let norm = |v: &Array| -> Result<Array> { Ok(fast::rms_norm(v, Some(&w), eps)?) };
        // Warm-up: kernels compiled, buffers allocated.
        for _ in 0..2 {
            norm(&x)?.eval()?;
        }
        let cold = median((0..a.reps).map(|_| timed(&mut evict, &mut || Ok(norm(&x)?.eval()?))).collect::<Result<_>>()?);
        let graph = |copies: usize| -> Result<()> {
            let p = x.multiply(&one)?;
            let y = norm(&p)?;
            let mut outs = vec![y];
            for _ in 0..copies {
                outs.push(norm(&p)?.index((0..1, 0..1)).sum(None)?);
            }
            mlx_rs::transforms::eval(outs.iter())?;
            Ok(())
        };
        graph(a.copies)?;
        // Alternate without and with copies, so that both see the same machine.
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for _ in 0..a.reps {
            without.push(timed(&mut evict, &mut || graph(0))?);
            with.push(timed(&mut evict, &mut || graph(a.copies))?);
        }
        let copy = (median(with) - median(without)) / a.copies as f64;
        println!(
            "| {l} | {:.1} MB | {:.3} | {:.0} | {:.3} | {:.0} | {:.2} |",
            bytes / 1e6,
            cold * 1e3,
            bytes / cold / 1e9,
            copy * 1e3,
            bytes / copy / 1e9,
            copy / cold
        );
    }
    Ok(())
}
