//! mlx-analyze: turns mlx-trace recordings into the findings a model porter needs: where the
//! time goes, how it scales with sequence length, what instrumentation costs, how machines and
//! variants compare, and what to try first. Independent of MLX.
//!
//! Pipeline: [`load`] (files to DataFrames) -> [`analysis`] (DataFrames to plain structs) ->
//! [`render`] (structs to bytes: tables, Markdown, JSON, SVG, HTML) and [`export`] (events to
//! CSV, Parquet, Chrome trace JSON).

pub mod analysis;
pub mod error;
pub mod export;
pub mod load;
pub mod load_parquet;
pub mod output;
pub mod render;
pub mod sql;
pub mod synth;

pub use error::{Error, Result};
