//! Tests on generated and committed traces that read the library's internals: the analyses
//! against hand calculations and simulations, their statistics, the rendering and the charts.
//! The tests of the public API and of the binary are in `analyzer/tests/`.

mod common;

mod analyses;
mod attribution;
mod charts;
mod claims;
mod comparison_claims;
mod interval_coverage;
mod nested;
mod outputs;
mod render;
mod variants;
mod workloads;
