//! Link settings that must be set on the final binaries (tests and benches included), from the
//! metadata mlx-sys publishes (`links = "mlx"`); a library's own link arguments do not reach them.
//! - RUNPATH to the MLX wheel's lib/ folder. RUNPATH, not RPATH: LD_LIBRARY_PATH still wins, so
//!   the CUDA libmlx can be swapped in at run time.
//! - OpenBLAS kept as a needed library although no Rust code calls it: its `cblas_sgemm` then
//!   takes over from the slow reference BLAS bundled with the CPU wheel.
fn main() {
    for var in ["DEP_MLX_LIBDIR", "DEP_MLX_BLAS_DIR", "DEP_MLX_BLAS_LIB"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if let Ok(dir) = std::env::var("DEP_MLX_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    if let (Ok(dir), Ok(lib)) = (std::env::var("DEP_MLX_BLAS_DIR"), std::env::var("DEP_MLX_BLAS_LIB")) {
        println!("cargo:rustc-link-arg=-L{dir}");
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-l{lib},--as-needed");
    }
}
