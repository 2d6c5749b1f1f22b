//! mlx-record: the LingBot-World DiT in mlx-rs, instrumented forward passes, trace writing.
//!
//! [`api`] is the library interface for instrumenting any mlx-rs model (open a trace with
//! metadata, run forwards with a [`api::Probe`], mark components, choose the mode, write);
//! `recorder/examples/llama.rs` uses it for a decoder-only transformer, and
//! `docs/instrumenting.md` walks through it.
//!
//! The binary is a thin wrapper over [`run`]. Modules: `config` (presets, geometry),
//! `model` (the network), `cost` (analytic FLOPs/bytes), `instrument` (timing at a
//! synchronisation granularity), `calibrate` (this machine's ceilings), `estimate` (memory
//! check), `variants` (optimisations under test), `session` (the recording loop of the
//! built-in model, written through [`api`]).

/// `eprintln!` that ignores a closed stderr: a reader that went away (`| head`, a closed
/// terminal) must not turn a complete recording into a panic.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that ignores a closed stdout, for the same reason.
#[macro_export]
macro_rules! say_out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod api;
#[cfg(feature = "bench")]
pub mod benches;
pub(crate) mod blas;
mod calibrate;
pub mod cli;
pub(crate) mod config;
pub(crate) mod cost;
mod estimate;
pub(crate) mod instrument;
pub(crate) mod machine;
pub(crate) mod model;
mod precision;
mod progress;
pub(crate) mod rounds;
pub(crate) mod session;
pub(crate) mod variants;

/// The built-in model's presets and synthetic weights, for programs that write checkpoints of it
/// (the reliability tests give `mlx-record --weights` broken ones).
pub use config::Preset;
pub use model::weights::Weights;

use std::path::Path;

use anyhow::Result;

/// MLX's CUDA backend reads the size of its graph cache from this variable.
const CUDA_GRAPH_CACHE: &str = "MLX_CUDA_GRAPH_CACHE_SIZE";

/// A command-line value that is wrong: reported like clap's own errors, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// MLX's messages end with the source location of the build machine (` at /path/file.cpp:12`):
/// of no use to the user, and not theirs to see. Removes every such location.
pub fn clean_mlx_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(" at /") {
        let tail = &rest[i + 4..];
        // The location runs to the first whitespace; it must end in `:LINE`.
        let end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let location = &tail[..end];
        let is_location = location
            .rsplit_once(':')
            .is_some_and(|(file, line)| !file.is_empty() && !line.is_empty() && line.trim_end_matches(['.', ',', ')']).chars().all(|c| c.is_ascii_digit()));
        if is_location {
            out.push_str(&rest[..i]);
            rest = &tail[end..];
        } else {
            out.push_str(&rest[..i + 4]);
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// A failure after the trace file `partial` was created: the message says what is kept. A
/// `.partial` holding no run (failure during calibration or model set-up) is removed: it has
/// nothing the analyzer could use.
fn explain_failure(e: anyhow::Error, partial: Option<&Path>) -> anyhow::Error {
    let Some(partial) = partial else { return e };
    let already_says = matches!(e.downcast_ref::<trace_format::Error>(), Some(trace_format::Error::Record { .. } | trace_format::Error::Exists { .. }));
    let mut message = clean_mlx_message(&format!("{e:#}"));
    if message.contains("Unable to allocate") || message.contains("out of memory") {
        message.push_str(
            "\nMLX could not allocate memory: the recording needs more than this process may use \
             (available memory, ulimit -v, the cgroup's memory.max); try fewer --blocks or fewer or smaller --frames",
        );
    }
    if !already_says {
        match trace_format::read_trace_file(&partial) {
            Ok(t) if t.runs.is_empty() => {
                let _ = std::fs::remove_file(&partial);
            }
            Ok(t) => message.push_str(&format!(
                "\n{} completed run(s) are kept in {} (mlx-analyze reads it)",
                t.runs.len(),
                partial.display()
            )),
            Err(_) => {}
        }
    }
    anyhow::anyhow!(message)
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(opt: cli::Opt, command_line: &str) -> Result<i32> {
    if opt.sync.contains(&trace_format::SyncMode::Attributed) && std::env::var_os(CUDA_GRAPH_CACHE).is_none() {
        // Each perturbation is a differently shaped graph: with MLX's default CUDA graph cache
        // (400 entries) the 40-block model stopped with "Cache thrashing is happening".
        // SAFETY: no other thread exists yet, and MLX reads the variable when it starts.
        unsafe { std::env::set_var(CUDA_GRAPH_CACHE, "10000") };
    }
    let mut backend = machine::detect_backend();
    if opt.cpu {
        backend = machine::Backend::Cpu;
    }
    let plan = opt.to_plan(backend).map_err(|e| anyhow::Error::new(UsageError(format!("{e:#}"))))?;
    let host = machine::host();
    if !plan.skip_memory_check {
        let (budget, what) = machine::memory_budget(backend, &host);
        plan.check_memory(budget, &what)?;
    }
    machine::use_backend(backend);
    let header = session::header(&plan, command_line);
    let mut partial = None;
    let summary = session::record_with(&plan, &header, &mut partial).map_err(|e| explain_failure(e, partial.as_deref()))?;
    if summary.interrupted {
        crate::say!(
            "mlx-record: interrupted; {} completed run(s) kept in {} (mlx-analyze reads it)",
            summary.runs,
            summary.path.display()
        );
        return Ok(130);
    }
    if rounds::stop_requested() {
        crate::say!("mlx-record: the interrupted run was the last one: the recording is complete");
    }
    if !plan.quiet {
        crate::say!("mlx-record: {} run(s) written to {}", summary.runs, summary.path.display());
    }
    crate::say_out!("{}", summary.path.display());
    Ok(0)
}

#[cfg(test)]
mod tests;
