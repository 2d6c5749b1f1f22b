//! Benchmark `recorder`: its code lives in the library (`mlx_record::benches::recorder`, built with
//! the `bench` feature) because it times the model's internals, which the library does not
//! make public. Run with `cargo bench -p mlx-record --features bench --bench recorder`.

fn main() {
    mlx_record::benches::recorder::main();
}
