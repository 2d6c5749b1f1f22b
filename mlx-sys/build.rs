//! Builds mlx-c 0.7.0 against the prebuilt MLX of a PyPI wheel and generates the bindings.
//!
//! Steps, each with its own clear failure message:
//! 1. find the MLX wheel through the project's Python (`MLX_PYTHON`, set in .cargo/config.toml);
//! 2. check its version is the one mlx-c 0.7.0 was written for (0.32.2);
//! 3. find the mlx-c sources inside the published mlx-sys crate (`mlx-c-source/`);
//! 4. compile mlx-c with CMake against the wheel (`MLX_C_USE_SYSTEM_MLX`);
//! 5. run bindgen, link, and publish `DEP_MLX_LIBDIR` so binaries can set their rpath.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The MLX release mlx-c 0.7.0 matches exactly (0.32.4 changed `gather_qmm`).
const MLX_VERSION: &str = "0.32.2";
/// Wheels that carry `mlx/lib`, `mlx/include` and `mlx/share/cmake/MLX`, by backend.
const MLX_DISTRIBUTIONS: &[&str] = &["mlx-cpu", "mlx-cuda-13", "mlx-cuda-12", "mlx-metal", "mlx"];
const SETUP_HINT: &str = "run `scripts/setup.sh` from the project root (it installs everything), \
or see docs/building.md";

fn main() {
    for var in ["MLX_PYTHON", "MLX_SYS_ALLOW_REFERENCE_BLAS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=prelude/mlx_sys_prelude.h");
    println!("cargo:rerun-if-changed=mlx-c-source/Cargo.lock");

    let wheel = find_mlx_wheel().unwrap_or_else(|msg| fail(&msg));
    require_tool("cmake", "apt-get install cmake").unwrap_or_else(|msg| fail(&msg));
    let mlx_c = find_mlx_c_sources().unwrap_or_else(|msg| fail(&msg));
    let prelude = manifest_dir().join("prelude/mlx_sys_prelude.h");

    let install = build_mlx_c(&mlx_c, &wheel, &prelude);
    link(&install, &wheel).unwrap_or_else(|msg| fail(&msg));
    generate_bindings(&mlx_c, &prelude).unwrap_or_else(|msg| fail(&msg));

    println!("cargo::metadata=libdir={}", wheel.lib_dir().display());
    println!("cargo::metadata=include={}", wheel.root.join("include").display());
    println!("cargo::metadata=version={}", wheel.version);
    println!("cargo::metadata=distribution={}", wheel.distribution);
    println!("cargo:rustc-env=MLX_SYS_MLX_VERSION={}", wheel.version);
    println!("cargo:rustc-env=MLX_SYS_MLX_DISTRIBUTION={}", wheel.distribution);
}

/// Stops the build with a message cargo shows as an error (no build-script dump).
fn fail(msg: &str) -> ! {
    for line in msg.lines() {
        println!("cargo::error={line}");
    }
    std::process::exit(0)
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
}

/// An installed MLX wheel: `root` is its `mlx` package directory.
struct Wheel {
    root: PathBuf,
    distribution: String,
    version: String,
}

impl Wheel {
    fn lib_dir(&self) -> PathBuf {
        self.root.join("lib")
    }
}

fn find_mlx_wheel() -> Result<Wheel, String> {
    let python = env::var("MLX_PYTHON").unwrap_or_else(|_| "python3".into());
    // `mlx` is a namespace package (mlx.__file__ is None): take its first path entry.
    let probe = format!(
        r#"
import importlib.metadata as md
try:
    import mlx
except ImportError:
    print("NO_MLX"); raise SystemExit
found = []
for name in {dists:?}:
    try:
        found.append(name + "==" + md.version(name))
    except md.PackageNotFoundError:
        pass
print(list(mlx.__path__)[0])
print(",".join(found))
"#,
        dists = MLX_DISTRIBUTIONS
    );
    let output = Command::new(&python).args(["-c", &probe]).stderr(Stdio::piped()).output();
    let output = match output {
        Ok(o) => o,
        Err(_) => {
            return Err(format!(
                "MLX: Python interpreter `{python}` not found.\n\
                 Install Python 3 (`apt-get install python3 python3-venv`), then {SETUP_HINT}."
            ));
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let first = lines.next().unwrap_or("");
    if !output.status.success() || first.is_empty() {
        return Err(format!(
            "MLX: `{python}` failed while looking for the MLX wheel:\n{}\n{SETUP_HINT}.",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    if first == "NO_MLX" {
        return Err(format!(
            "MLX: the MLX wheel is not installed for `{python}`.\n\
             Install it with `{python} -m pip install mlx-cpu=={MLX_VERSION}` \
             (CUDA: mlx-cuda-13=={MLX_VERSION}; macOS: mlx=={MLX_VERSION}), or {SETUP_HINT}."
        ));
    }
    let root = PathBuf::from(first);
    let dists: Vec<&str> = lines.next().unwrap_or("").split(',').filter(|s| !s.is_empty()).collect();
    let Some(with_lib) = dists.iter().find(|d| d.ends_with(&format!("=={MLX_VERSION}"))) else {
        let found = if dists.is_empty() { "no known MLX distribution".to_string() } else { dists.join(", ") };
        return Err(format!(
            "MLX: wrong MLX version for `{python}`: found {found}, expected {MLX_VERSION} \
             (the version mlx-c 0.7.0 was written for).\n\
             Install it with `{python} -m pip install --force-reinstall mlx-cpu=={MLX_VERSION}`, or {SETUP_HINT}."
        ));
    };
    let (distribution, version) = with_lib.split_once("==").expect("formatted above");
    let cmake_config = root.join("share/cmake/MLX/MLXConfig.cmake");
    if !cmake_config.exists() {
        return Err(format!(
            "MLX: {} has no share/cmake/MLX/MLXConfig.cmake; the wheel looks incomplete.\n\
             Reinstall it with `{python} -m pip install --force-reinstall mlx-cpu=={MLX_VERSION}`.",
            root.display()
        ));
    }
    Ok(Wheel { root, distribution: distribution.into(), version: version.into() })
}

fn require_tool(tool: &str, install: &str) -> Result<(), String> {
    match Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(s) if s.success() => Ok(()),
        _ => Err(format!(
            "MLX: `{tool}` is needed to build mlx-c and was not found.\n\
             Install it with `{install}`, or {SETUP_HINT}."
        )),
    }
}

/// The mlx-c sources shipped inside the published mlx-sys 0.7.0, located through cargo.
fn find_mlx_c_sources() -> Result<PathBuf, String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = manifest_dir().join("mlx-c-source/Cargo.toml");
    let output = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--manifest-path"])
        .arg(&manifest)
        .env_remove("CARGO_TARGET_DIR")
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("MLX: could not run `{cargo} metadata`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "MLX: `cargo metadata` could not fetch the mlx-sys 0.7.0 crate (it carries the mlx-c \
             sources):\n{}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("MLX: unreadable `cargo metadata` output: {e}"))?;
    let path = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "mlx-sys" && p["version"] == "0.7.0")
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or("MLX: `cargo metadata` did not list mlx-sys 0.7.0")?;
    let root = Path::new(path).parent().expect("a manifest has a parent").join("src/mlx-c");
    if !root.join("CMakeLists.txt").exists() {
        return Err(format!("MLX: no mlx-c sources at {}", root.display()));
    }
    Ok(root)
}

fn build_mlx_c(mlx_c: &Path, wheel: &Wheel, prelude: &Path) -> PathBuf {
    let mut config = cmake::Config::new(mlx_c);
    config
        .profile("Release")
        .define("MLX_C_USE_SYSTEM_MLX", "ON")
        .define("MLX_C_BUILD_EXAMPLES", "OFF")
        .define("BUILD_SHARED_LIBS", "OFF")
        .define("CMAKE_PREFIX_PATH", &wheel.root)
        .define("MLX_DIR", wheel.root.join("share/cmake/MLX"))
        .cxxflag(format!("-I{}", wheel.root.join("include").display()))
        .cxxflag(format!("-include {}", prelude.display()));
    config.build()
}

fn link(install: &Path, wheel: &Wheel) -> Result<(), String> {
    println!("cargo:rustc-link-search=native={}/lib", install.display());
    println!("cargo:rustc-link-lib=static=mlxc");
    println!("cargo:rustc-link-search=native={}", wheel.lib_dir().display());
    println!("cargo:rustc-link-lib=dylib=mlx");
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "macos" {
        println!("cargo:rustc-link-lib=dylib=c++");
        return Ok(());
    }
    println!("cargo:rustc-link-lib=dylib=stdc++");
    if wheel.distribution == "mlx-cpu" {
        link_openblas()?;
    }
    Ok(())
}

/// The CPU wheel's libmlx calls `cblas_sgemm` from a bundled reference BLAS (~20x slower than
/// OpenBLAS). OpenBLAS linked into every binary, kept even though no Rust code calls it, comes
/// ahead of libmlx's own dependencies in the symbol search order, so its `cblas_sgemm` wins.
fn link_openblas() -> Result<(), String> {
    if env::var("MLX_SYS_ALLOW_REFERENCE_BLAS").is_ok_and(|v| v == "1") {
        println!("cargo:warning=MLX_SYS_ALLOW_REFERENCE_BLAS=1: f32 matmul uses the slow reference BLAS");
        return Ok(());
    }
    let found = pkg_config_libdir("openblas").or_else(|| {
        ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"]
            .iter()
            .map(PathBuf::from)
            .find(|d| d.join("libopenblas.so").exists())
    });
    let Some(dir) = found else {
        return Err(format!(
            "MLX: OpenBLAS (libopenblas.so) not found; MLX's CPU matmul would fall back to a \
             reference BLAS about 20x slower.\nInstall it with `apt-get install libopenblas-dev`, \
             or {SETUP_HINT}. (Set MLX_SYS_ALLOW_REFERENCE_BLAS=1 to build without it.)"
        ));
    };
    // A library's link arguments do not reach the final binaries, and `-as-needed` link modifiers
    // are unstable: publish the library and let the binaries' build scripts add
    // `--no-as-needed -lopenblas` (see recorder/build.rs).
    println!("cargo::metadata=blas_dir={}", dir.display());
    println!("cargo::metadata=blas_lib=openblas");
    Ok(())
}

fn pkg_config_libdir(name: &str) -> Option<PathBuf> {
    let out = Command::new("pkg-config").args(["--variable=libdir", name]).output().ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && dir.join(format!("lib{name}.so")).exists()).then_some(dir)
}

fn generate_bindings(mlx_c: &Path, prelude: &Path) -> Result<(), String> {
    let mut headers: Vec<PathBuf> = std::fs::read_dir(mlx_c.join("mlx/c"))
        .map_err(|e| format!("MLX: cannot list mlx-c headers: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .collect();
    headers.sort();
    let builder = headers.iter().fold(
        bindgen::Builder::default()
            .rust_target("1.73.0".parse().expect("valid rust target"))
            .clang_arg(format!("-I{}", mlx_c.display()))
            .clang_arg("-include")
            .clang_arg(prelude.display().to_string())
            .blocklist_function("malloc")
            .blocklist_function("realloc"),
        |b, h| b.header(h.display().to_string()),
    );
    // bindgen panics when libclang cannot be loaded; turn that into an install hint.
    let generated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || builder.generate()))
        .map_err(|_| {
            format!("MLX: bindgen could not load libclang.\nInstall it with `apt-get install clang libclang-dev`, or {SETUP_HINT}.")
        })?
        .map_err(|e| format!("MLX: bindgen failed on the mlx-c headers: {e}"))?;
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bindings.rs");
    generated.write_to_file(&out).map_err(|e| format!("MLX: cannot write {}: {e}", out.display()))
}
