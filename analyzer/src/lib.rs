//! mlx-analyze: turns mlx-trace recordings into the findings a model porter needs: where the
//! time goes, how it scales with sequence length, what instrumentation costs, how machines and
//! variants compare, and what to try first. Independent of MLX.
//!
//! Pipeline: [`load`] (files to typed runs and DataFrames: each file decoded once, on all
//! cores, its per-run component totals a polars group-by; [`tables`] declares the runs and
//! their columns) -> [`analysis`] (the small per-run totals to plain
//! structs: fits, intervals, verdicts) -> [`render`] (structs to bytes: tables, Markdown, JSON,
//! SVG, HTML; formatting only) and [`export`] (the frames to CSV, Parquet, Chrome trace JSON).
//! The names of the built-in model's components are the format crate's
//! [`trace_format::taxonomy`]; any other name is accepted.

pub mod analysis;
mod error;
pub mod export;
pub mod load;
mod load_parquet;
pub mod output;
pub mod render;
pub mod sql;
pub mod tables;
pub(crate) mod units;

pub use error::{Error, Result};

#[cfg(test)]
mod tests;
