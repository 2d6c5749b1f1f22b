//! What this machine and MLX build are: backend selection and the trace's machine metadata.

use std::ffi::{CStr, CString};

use mlx_rs::Device;

/// The MLX backend that runs the forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// MLX's CPU backend.
    Cpu,
    /// MLX's CUDA backend (Linux, NVIDIA).
    Cuda,
    /// MLX's Metal backend (Apple Silicon).
    Metal,
}

impl Backend {
    /// Name in traces and file names.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
            Backend::Metal => "metal",
        }
    }

    /// Whether the backend runs on a GPU.
    pub fn is_gpu(self) -> bool {
        self != Backend::Cpu
    }
}

/// The best backend the loaded libmlx offers. (The CPU wheel and the CUDA wheel share an
/// interface: which one is loaded is decided at run time by the library search path.)
pub fn detect_backend() -> Backend {
    let mut cuda = false;
    let mut metal = false;
    // SAFETY: plain queries writing one bool each.
    unsafe {
        if mlx_sys::mlx_cuda_is_available(&mut cuda) != 0 {
            cuda = false;
        }
        if mlx_sys::mlx_metal_is_available(&mut metal) != 0 {
            metal = false;
        }
    }
    if cuda {
        Backend::Cuda
    } else if metal {
        Backend::Metal
    } else {
        Backend::Cpu
    }
}

/// Makes MLX run on `backend` (GPU for CUDA and Metal).
pub(crate) fn use_backend(backend: Backend) {
    let device = if backend.is_gpu() { Device::gpu() } else { Device::cpu() };
    Device::set_default(&device);
}

/// The version of the libmlx actually loaded.
pub(crate) fn mlx_runtime_version() -> String {
    // SAFETY: mlx_version fills a string we own and free.
    unsafe {
        let mut s = mlx_sys::mlx_string_new();
        let version = if mlx_sys::mlx_version(&mut s) == 0 {
            CStr::from_ptr(mlx_sys::mlx_string_data(s)).to_string_lossy().into_owned()
        } else {
            mlx_sys::MLX_VERSION.to_string()
        };
        mlx_sys::mlx_string_free(s);
        version
    }
}

/// GPU name and memory from MLX's device info, where the backend reports them.
pub(crate) fn gpu_info() -> (Option<String>, Option<u64>) {
    // SAFETY: device-info handles are created and freed here; strings are copied before free.
    unsafe {
        let dev = mlx_sys::mlx_device_new_type(mlx_sys::mlx_device_type__MLX_GPU, 0);
        let mut info = mlx_sys::mlx_device_info_new();
        let mut name = None;
        let mut memory = None;
        if mlx_sys::mlx_device_info_get(&mut info, dev) == 0 {
            for key in ["device_name", "name"] {
                let k = CString::new(key).expect("no NUL");
                let mut exists = false;
                let mut is_string = false;
                if mlx_sys::mlx_device_info_has_key(&mut exists, info, k.as_ptr()) == 0
                    && exists
                    && mlx_sys::mlx_device_info_is_string(&mut is_string, info, k.as_ptr()) == 0
                    && is_string
                {
                    let mut v: *const std::os::raw::c_char = std::ptr::null();
                    if mlx_sys::mlx_device_info_get_string(&mut v, info, k.as_ptr()) == 0 && !v.is_null() {
                        name = Some(CStr::from_ptr(v).to_string_lossy().into_owned());
                        break;
                    }
                }
            }
            for key in ["total_memory", "memory_size"] {
                let k = CString::new(key).expect("no NUL");
                let mut exists = false;
                if mlx_sys::mlx_device_info_has_key(&mut exists, info, k.as_ptr()) == 0 && exists {
                    let mut v = 0usize;
                    if mlx_sys::mlx_device_info_get_size(&mut v, info, k.as_ptr()) == 0 && v > 0 {
                        memory = Some(v as u64);
                        break;
                    }
                }
            }
        }
        mlx_sys::mlx_device_info_free(info);
        mlx_sys::mlx_device_free(dev);
        if name.is_none() || memory.is_none() {
            let (n, m) = nvidia_smi();
            name = name.or(n);
            memory = memory.or(m);
        }
        (name, memory)
    }
}

fn nvidia_smi() -> (Option<String>, Option<u64>) {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"])
        .output();
    let Ok(out) = out else { return (None, None) };
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split(',').map(str::trim);
    let name = parts.next().filter(|s| !s.is_empty()).map(String::from);
    let mem = parts.next().and_then(|m| m.parse::<u64>().ok()).map(|mib| mib * 1024 * 1024);
    (name, mem)
}

/// Host facts for the trace header.
#[derive(Debug, Clone, Default)]
pub(crate) struct Host {
    /// Host name.
    pub(crate) name: String,
    /// OS and kernel.
    pub(crate) os: String,
    /// CPU model.
    pub(crate) cpu_model: String,
    /// Logical cores.
    pub(crate) cpu_cores: u32,
    /// Installed memory, bytes.
    pub(crate) ram_bytes: u64,
    /// Memory available now, bytes.
    pub(crate) available_bytes: u64,
}

/// Reads host facts from the OS.
pub(crate) fn host() -> Host {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default().trim().to_string();
    let name = Some(read("/proc/sys/kernel/hostname"))
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| command_output("hostname", &[]))
        .unwrap_or_else(|| "unknown-host".into());
    let os = if cfg!(target_os = "linux") {
        format!("Linux {}", read("/proc/sys/kernel/osrelease"))
    } else {
        command_output("uname", &["-sr"]).unwrap_or_else(|| std::env::consts::OS.into())
    };
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .or_else(|| command_output("sysctl", &["-n", "machdep.cpu.brand_string"]))
        .unwrap_or_else(|| std::env::consts::ARCH.into());
    let cpu_cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    let meminfo = read("/proc/meminfo");
    let kib = |key: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v * 1024)
    };
    let ram_bytes = kib("MemTotal:")
        .or_else(|| command_output("sysctl", &["-n", "hw.memsize"]).and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    let available_bytes = kib("MemAvailable:").unwrap_or(ram_bytes);
    Host { name, os, cpu_model, cpu_cores, ram_bytes, available_bytes }
}

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// The BLAS library loaded in this process (Linux: from /proc/self/maps).
pub(crate) fn loaded_blas() -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut libs: Vec<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter_map(|p| p.rsplit('/').next())
        .filter(|n| n.contains("openblas") || n.contains("libblas") || n.contains("mkl") || n.contains("cublas"))
        .collect();
    libs.sort();
    libs.dedup();
    if libs.is_empty() {
        if cfg!(target_os = "macos") { "Accelerate".into() } else { "unknown".into() }
    } else {
        // OpenBLAS first: it is the one that serves cblas_sgemm when present.
        libs.sort_by_key(|n| !n.contains("openblas"));
        let mut s = libs.join(" + ");
        if let Some(core) = crate::blas::openblas_core() {
            s.push_str(&format!(" (OpenBLAS kernels: {core})"));
        }
        s
    }
}

/// A memory limit on this process that may be lower than what the machine has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemoryLimit {
    /// Bytes the process may still take under the limit.
    pub(crate) room: u64,
    /// The limit, as the memory check's message names it ("... more than the N GiB {what}").
    pub(crate) what: String,
}

/// `VmSize:`-style fields of /proc/self/status, in bytes.
#[cfg(target_os = "linux")]
fn proc_status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok()?.checked_mul(1024)
}

/// The soft limit of `resource`, if finite.
#[cfg(target_os = "linux")]
fn rlimit(resource: libc::__rlimit_resource_t) -> Option<u64> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 || r.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    Some(r.rlim_cur as u64)
}

/// A cgroup file holding one number (`max` reads as no limit).
#[cfg(target_os = "linux")]
fn cgroup_number(path: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.trim().parse::<u64>().ok()
}

/// The memory limits of this process: the address-space (`ulimit -v`) and data (`ulimit -d`)
/// resource limits, less what the process uses already, and the memory.max of its cgroup and
/// every cgroup above it (v2; memory.limit_in_bytes on v1), less their current usage.
/// Address space MLX and the BLAS library map beyond the model's data, reserved under an
/// address-space or data-segment limit: a wan-1.3b recording (2 blocks, f32, CPU) peaked at
/// 1.30 GiB of address space with 0.71 GiB resident.
pub(crate) const RUNTIME_ADDRESS_SPACE: u64 = 1 << 30;

/// The memory a recording may use, (bytes, what bounds it): the GPU's memory on CUDA (the host's
/// available memory where it cannot be read), else the host's available memory lowered by the
/// process's own limits (address space, data segment, cgroup), which bind host memory only.
/// The one budget of the memory check and of the attribution's copies.
pub(crate) fn memory_budget(backend: Backend, host: &Host) -> (u64, String) {
    if backend == Backend::Cuda {
        return match gpu_info().1 {
            Some(m) => (m, "of GPU memory".into()),
            None => (host.available_bytes, "of available memory".into()),
        };
    }
    let (mut budget, mut what) = (host.available_bytes, "of available memory".to_string());
    for limit in process_memory_limits() {
        if limit.room < budget {
            budget = limit.room;
            what = limit.what;
        }
    }
    (budget, what)
}

pub(crate) fn process_memory_limits() -> Vec<MemoryLimit> {
    #[allow(unused_mut)]
    let mut limits = Vec::new();
    #[cfg(target_os = "linux")]
    {
        for (resource, used_key, name) in [
            (libc::RLIMIT_AS, "VmSize:", "address-space limit (ulimit -v)"),
            (libc::RLIMIT_DATA, "VmData:", "data-segment limit (ulimit -d)"),
        ] {
            if let Some(limit) = rlimit(resource) {
                let used = proc_status_bytes(used_key).unwrap_or(0);
                limits.push(MemoryLimit {
                    // Address space the runtime maps after this check (thread stacks, BLAS
                    // buffers, MLX's allocator) counts against these limits too; without the
                    // reserve, limits of a few hundred MB passed the check and the BLAS library
                    // then retried a failing allocation forever.
                    room: limit.saturating_sub(used).saturating_sub(RUNTIME_ADDRESS_SPACE),
                    what: format!("left under this process's {name} of {}", gib(limit)),
                });
            }
        }
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        for line in cgroups.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let (root, max_file, current_file) = if controllers.is_empty() {
                (std::path::PathBuf::from("/sys/fs/cgroup"), "memory.max", "memory.current")
            } else if controllers.split(',').any(|c| c == "memory") {
                (std::path::PathBuf::from("/sys/fs/cgroup/memory"), "memory.limit_in_bytes", "memory.usage_in_bytes")
            } else {
                continue;
            };
            // The cgroup and each one above it, up to the root of the hierarchy.
            let mut dir = root.join(path.trim_start_matches('/'));
            loop {
                if let Some(max) = cgroup_number(&dir.join(max_file)) {
                    // cgroup v1 writes "no limit" as a huge page-aligned number.
                    if max < (1u64 << 62) {
                        let used = cgroup_number(&dir.join(current_file)).unwrap_or(0);
                        limits.push(MemoryLimit {
                            room: max.saturating_sub(used),
                            what: format!("left under the cgroup's {max_file} of {}", gib(max)),
                        });
                    }
                }
                if dir == root || !dir.pop() || !dir.starts_with(&root) {
                    break;
                }
            }
        }
    }
    limits
}

/// Formats bytes as GiB with one decimal.
pub(crate) fn gib(bytes: u64) -> String {
    if bytes == u64::MAX {
        return "16+ EiB".into();
    }
    // Below a tenth of a GiB, MiB: "0.0 GiB" said nothing.
    if bytes < (1u64 << 30) / 10 {
        return format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64);
    }
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Minor page faults of this process so far (`getrusage`): pages the OS handed out fresh.
/// `None` where the count cannot be read.
pub(crate) fn minor_faults() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: getrusage fills the zeroed struct it is given and reads nothing else.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0 {
            return u64::try_from(usage.ru_minflt).ok();
        }
    }
    None
}

/// MLX's buffer cache, raised on the CPU for a recording that duplicates components; the
/// previous limit comes back on drop.
///
/// MLX's CPU allocator keeps at most 32 MiB of freed buffers (its GPU backends keep up to
/// their memory limit). A duplicate frees each copy's outputs once their scalar is taken;
/// beyond that cache they go back to the OS and return as fresh pages in the next forward,
/// so every copy pays page faults that the component's own buffers do not, and the
/// attribution charges them to the component: +6.6% on the attributed sum of wan-1.3b's first
/// 2 blocks on a 2-core CPU, with 55,000 extra faults per copy (docs/attribution.md).
pub(crate) struct CacheForCopies {
    previous: Option<usize>,
}

impl CacheForCopies {
    /// Raises the CPU's cache limit to `bytes` (the recording's memory budget); nothing on a GPU.
    pub(crate) fn raise(backend: Backend, bytes: u64) -> CacheForCopies {
        let previous = (backend == Backend::Cpu)
            .then(|| mlx_rs::memory::set_cache_limit(usize::try_from(bytes).unwrap_or(usize::MAX)).ok())
            .flatten();
        CacheForCopies { previous }
    }
}

impl Drop for CacheForCopies {
    fn drop(&mut self) {
        if let Some(limit) = self.previous {
            let _ = mlx_rs::memory::set_cache_limit(limit);
        }
    }
}
