//! Synthetic traces for tests and benchmarks: traces of a model whose every component follows a
//! known cost law, written through the format crate, so that the analyzer's results can be
//! compared with hand calculations and large volumes made without MLX. A dev-only crate: no
//! library or binary of the workspace depends on it outside its tests and benchmarks.
//!
//! ```
//! use trace_synth::{generate, SynthSpec};
//!
//! let bytes = generate(&SynthSpec::default(), true);
//! let trace = trace_format::read_trace(&bytes).unwrap();
//! assert!(trace.complete && !trace.runs.is_empty());
//! ```
#![deny(missing_docs)]

mod synth;

pub use synth::*;
