//! mlx-record: the LingBot-World DiT in mlx-rs, instrumented forward passes, trace writing.
//!
//! The binary is a thin wrapper over [`run`]. Modules: [`config`] (presets, geometry),
//! [`model`] (the network), [`cost`] (analytic FLOPs/bytes), [`instrument`] (timing at a
//! synchronisation granularity), [`calibrate`] (this machine's ceilings), [`estimate`] (memory
//! check), [`variants`] (optimisations under test), [`session`] (the recording loop).

pub mod blas;
pub mod calibrate;
pub mod cli;
pub mod config;
pub mod cost;
pub mod estimate;
pub mod instrument;
pub mod machine;
pub mod model;
pub mod progress;
pub mod session;
pub mod variants;

use anyhow::Result;

/// A command-line value that is wrong: reported like clap's own errors, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs a parsed command line; returns the process exit code.
pub fn run(opt: cli::Opt, command_line: &str) -> Result<i32> {
    let mut backend = machine::detect_backend();
    if opt.cpu {
        backend = machine::Backend::Cpu;
    }
    let plan = opt.to_plan(backend).map_err(|e| anyhow::Error::new(UsageError(format!("{e:#}"))))?;
    let host = machine::host();
    if !plan.skip_memory_check {
        let (budget, what) = session::memory_budget(backend, &host);
        plan.check_memory(budget, what)?;
    }
    machine::use_backend(backend);
    let header = session::header(&plan, command_line);
    let summary = session::record(&plan, &header)?;
    if summary.interrupted {
        eprintln!(
            "mlx-record: interrupted; {} completed run(s) kept in {} (mlx-analyze reads it)",
            summary.runs,
            summary.path.display()
        );
        return Ok(130);
    }
    if !plan.quiet {
        eprintln!("mlx-record: {} run(s) written to {}", summary.runs, summary.path.display());
    }
    println!("{}", summary.path.display());
    Ok(0)
}
