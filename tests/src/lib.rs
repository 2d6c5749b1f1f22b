//! End-to-end tests across the crates live in `tests/tests/`: they run the real `mlx-record`
//! and `mlx-analyze` binaries and the recorder's examples, as a user would. [`binary`] and
//! [`example`] find them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn debug_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target")).join("debug")
}

/// Builds every binary and example of the workspace once per test process. The same targets
/// with the same features as `cargo test --workspace`, which has built them already: cargo then
/// finds everything fresh. (A `cargo build -p mlx-analyze` here resolved features without the
/// dev-dependencies and recompiled polars a second time: minutes of every CI run.)
fn build_once() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--workspace", "--bins", "--examples"])
            .current_dir(workspace())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the workspace's binaries and examples failed");
    });
}

/// A binary of the workspace (`mlx-record`, `mlx-analyze`), built if needed.
pub fn binary(name: &str) -> PathBuf {
    build_once();
    let path = debug_dir().join(name);
    assert!(path.exists(), "{} missing", path.display());
    path
}

/// An example of the workspace (`llama`, `minimal`), built if needed.
pub fn example(name: &str) -> PathBuf {
    build_once();
    let path = debug_dir().join("examples").join(name);
    assert!(path.exists(), "{} missing", path.display());
    path
}
