//! Benchmark `accuracy`: its code lives in the library (`mlx_record::benches::accuracy`, built with
//! the `bench` feature) because it times the model's internals, which the library does not
//! make public. Run with `cargo bench -p mlx-record --features bench --bench accuracy`.

fn main() {
    mlx_record::benches::accuracy::main();
}
