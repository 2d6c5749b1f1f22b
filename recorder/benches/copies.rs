//! Benchmark `copies`: what a duplicate adds besides its copies' work (the library's
//! `mlx_record::benches::copies`, built with the `bench` feature). Run with
//! `cargo bench -p mlx-record --features bench --bench copies`.

fn main() {
    mlx_record::benches::copies::main();
}
