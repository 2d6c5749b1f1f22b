//! Benchmarks of the model's internals (each block operation alone, the variants' accuracy, the
//! recorder's overhead), built only with the `bench` feature: the thin targets in
//! `recorder/benches/` call them, so the library need not make the internals public.

pub mod accuracy;
pub mod copies;
pub mod ops;
pub mod recorder;
