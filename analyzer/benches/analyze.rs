//! Benchmark: generated traces of a 40-block model (3 timed runs + 1 warm-up x 6 frame counts x
//! 2 synchronisation modes, about 17,000 events per trace): load + ranking + scaling fits +
//! comparison by machine, timed with peak memory, beside an equivalent pandas + msgpack script
//! (`scripts/bench_analyzer_pandas.py`) over the same files in the same run, and beside a
//! baseline build of the analyzer (`BENCH_BASELINE_EXE`, an older build of this benchmark),
//! their runs interleaved so that both see the same machine.
//!
//! The analysis loads as the command line does for a report without event exports: the
//! per-run component totals are kept, the events are not (`LoadOptions::skip_events`).
//!
//! `cargo bench -p mlx-analyze --bench analyze`. Environment: `BENCH_TRACES` (trace counts,
//! comma-separated; default 1000), `BENCH_DIR` (default `target/bench-traces`; one directory
//! per count inside), `BENCH_RUNS` (Rust repetitions, default 5), `BENCH_PY_RUNS` (pandas
//! repetitions, default 1; 0 skips), `BENCH_PYTHON` (interpreter; default `.venv/bin/python`,
//! else `python3`), `BENCH_BASELINE_EXE` (a baseline benchmark executable, optional).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mlx_analyze::analysis::comparison::{compare, run_groups, CompareOptions};
use mlx_analyze::analysis::{ranking, scaling, Facts};
use mlx_analyze::load::{load_files, trace_key_values, LoadOptions};
use trace_synth::{generate, with_label, SynthSpec};
use trace_format::SyncMode;

/// The allocator the `mlx-analyze` binary uses, so the benchmark measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHILD: &str = "MLX_ANALYZE_BENCH_CHILD";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn spec(i: usize) -> SynthSpec {
    let (machine, speed) = if i % 2 == 0 { ("m-a", 1.0) } else { ("m-b", 1.3) };
    SynthSpec {
        blocks: 40,
        frames: vec![5, 11, 21, 41, 81, 161],
        runs: 3,
        warmup_runs: 1,
        syncs: vec![SyncMode::Component, SyncMode::None],
        speed,
        jitter: 0.03,
        seed: i as u64 + 1,
        metadata: with_label(SynthSpec::default().metadata, "machine", machine),
        ..SynthSpec::default()
    }
}

fn generate_all(dir: &Path, n: usize) {
    let marker = dir.join(format!(".complete-{n}"));
    if marker.exists() {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let t = Instant::now();
    use rayon::prelude::*;
    (0..n).into_par_iter().for_each(|i| {
        std::fs::write(dir.join(format!("trace-{i:05}.msgpack")), generate(&spec(i), true)).unwrap();
    });
    std::fs::write(&marker, b"").unwrap();
    eprintln!("generated {n} traces in {:.1} s", t.elapsed().as_secs_f64());
}

fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// One measured analysis in this process; prints one result line.
fn child(dir: &Path) {
    let t0 = Instant::now();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "msgpack"))
        .collect();
    files.sort();
    let ds = load_files(&files, &LoadOptions { skip_events: true, ..LoadOptions::default() }).unwrap();
    let t_load = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let facts = Facts::from_dataset(&ds).unwrap();
    let rank = ranking::rank(&facts, None).unwrap();
    let t_rank = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let sc = scaling::scaling(&facts);
    let t_scale = t2.elapsed().as_secs_f64();
    let t3 = Instant::now();
    let values = trace_key_values(&ds.traces, "machine").unwrap();
    let groups = run_groups(&facts, "machine", Some(&values));
    let cmp = compare(&facts, &groups, &CompareOptions::default()).unwrap();
    let t_cmp = t3.elapsed().as_secs_f64();
    let total = t0.elapsed().as_secs_f64();
    // Decoded events as the format crate holds them: one 24-byte Event each.
    let decoded = ds.event_count() * std::mem::size_of::<trace_format::Event>();
    let fwd = cmp.rows.iter().find(|r| r.component == "forward (fused)").map_or(0.0, |r| r.ratio);
    println!(
        "RESULT {} {} {t_load} {t_rank} {t_scale} {t_cmp} {total} {} {decoded} {} {} {fwd}",
        files.len(),
        ds.event_count(),
        peak_rss_bytes(),
        rank.rows[0].name,
        sc.fits.len()
    );
}

struct Measure {
    files: usize,
    events: usize,
    phases: [f64; 5],
    peak: u64,
    decoded: u64,
    check: String,
}

fn parse(stdout: &str) -> Option<Measure> {
    let line = stdout.lines().find(|l| l.starts_with("RESULT "))?;
    let f: Vec<&str> = line.split_whitespace().skip(1).collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    Some(Measure {
        files: num(0)? as usize,
        events: num(1)? as usize,
        phases: [num(2)?, num(3)?, num(4)?, num(5)?, num(6)?],
        peak: num(7)? as u64,
        decoded: num(8)? as u64,
        check: f.get(9..).map(|s| s.join(" ")).unwrap_or_default(),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Runs one measured child of `exe` over `dir`.
fn measure(exe: &Path, dir: &Path) -> Measure {
    let out = Command::new(exe).env(CHILD, dir).output().unwrap();
    parse(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|| panic!("{} failed: {}", exe.display(), String::from_utf8_lossy(&out.stderr)))
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD) {
        child(Path::new(&dir));
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test` builds benches too and must not run this.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = workspace_root();
    let counts: Vec<usize> = std::env::var("BENCH_TRACES")
        .unwrap_or_else(|_| "1000".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    let base_dir = std::env::var("BENCH_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target/bench-traces"));
    let baseline = std::env::var("BENCH_BASELINE_EXE").ok().map(PathBuf::from).filter(|p| p.exists());
    let baseline_max = env_usize("BENCH_BASELINE_MAX", 1000);
    for n in counts {
        let dir = base_dir.join(format!("n{n}"));
        generate_all(&dir, n);
        run_count(&root, &dir, baseline.as_deref().filter(|_| n <= baseline_max));
    }
}

fn run_count(root: &Path, dir: &Path, baseline: Option<&Path>) {
    let (rust, base) = measure_interleaved(dir, baseline);
    let (py, py_mode) = measure_pandas(root, dir);
    let rpeak = print_phases(&rust, &base, &py, py_mode);
    print_targets(&rust, &base, &py, rpeak);
}

/// This build's and the baseline's measurements over `dir`, each after one unmeasured
/// warm-up (page cache, CPU clocks), interleaved so that both see the same load on a shared
/// machine.
fn measure_interleaved(dir: &Path, baseline: Option<&Path>) -> (Vec<Measure>, Vec<Measure>) {
    let me = std::env::current_exe().unwrap();
    let runs = env_usize("BENCH_RUNS", 5).max(1);
    let _ = Command::new(&me).env(CHILD, dir).output();
    if let Some(b) = baseline {
        let _ = Command::new(b).env(CHILD, dir).output();
    }
    let mut rust = Vec::new();
    let mut base = Vec::new();
    for _ in 0..runs {
        rust.push(measure(&me, dir));
        if let Some(b) = baseline {
            base.push(measure(b, dir));
        }
    }
    (rust, base)
}

/// The pandas script's measurements over `dir` (none where it cannot run), with the mode it
/// ran in.
fn measure_pandas(root: &Path, dir: &Path) -> (Vec<Measure>, &'static str) {
    let py_runs = env_usize("BENCH_PY_RUNS", 1);
    let python = std::env::var("BENCH_PYTHON").map(PathBuf::from).unwrap_or_else(|_| {
        let venv = root.join(".venv/bin/python");
        if venv.exists() { venv } else { PathBuf::from("python3") }
    });
    let script = root.join("scripts/bench_analyzer_pandas.py");
    // Above this many traces, the pandas script sums each run's events while reading (as the
    // analyzer does) instead of holding a tidy table of every event, which would not fit.
    let tidy_max = env_usize("BENCH_PY_TIDY_MAX", 2000);
    let files_in_dir = std::fs::read_dir(dir).map_or(0, |d| d.filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "msgpack")).count());
    let py_mode = if files_in_dir > tidy_max { "--per-run-totals" } else { "--tidy" };
    let mut py = Vec::new();
    for _ in 0..py_runs {
        match Command::new(&python).arg(&script).arg(dir).arg(py_mode).output() {
            Ok(out) if out.status.success() => match parse(&String::from_utf8_lossy(&out.stdout)) {
                Some(m) => py.push(m),
                None => eprintln!("pandas script printed no result"),
            },
            Ok(out) => {
                eprintln!("pandas script failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
                break;
            }
            Err(e) => {
                eprintln!("cannot run {}: {e}", python.display());
                break;
            }
        }
    }
    (py, py_mode)
}

/// Seconds as printed, `-` where not measured.
fn secs(v: f64) -> String {
    if v.is_nan() { "-".to_string() } else { format!("{v:.3} s") }
}

/// How many times `b` takes `a`'s time, `-` where either is not measured.
fn times(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() { "-".to_string() } else { format!("{:.1}x", b / a) }
}

/// Bytes in GiB.
fn gib(b: f64) -> f64 {
    b / (1u64 << 30) as f64
}

/// Prints the table of phase times and peak memory against the baseline and pandas; returns
/// this build's median peak memory, bytes.
fn print_phases(rust: &[Measure], base: &[Measure], py: &[Measure], py_mode: &str) -> f64 {
    let first = &rust[0];
    println!();
    println!(
        "mlx-analyze benchmark: {} traces, {} events, {} cores; medians of {} run(s){} and {} pandas run(s) ({})",
        first.files,
        first.events,
        std::thread::available_parallelism().map_or(1, |p| p.get()),
        rust.len(),
        if base.is_empty() { String::new() } else { format!(", interleaved with {} baseline run(s)", base.len()) },
        py.len(),
        py_mode.trim_start_matches("--"),
    );
    let med = |ms: &[Measure], i: usize| median(ms.iter().map(|m| m.phases[i]).collect());
    println!("{:<34} {:>12} {:>12} {:>9} {:>12} {:>9}", "phase", "mlx-analyze", "baseline", "speedup", "pandas", "speedup");
    let names = ["load (decode + DataFrames)", "ranking", "scaling fits", "comparison (bootstrap)", "total"];
    for (i, name) in names.iter().enumerate() {
        let (r, b, p) = (med(rust, i), med(base, i), med(py, i));
        println!("{name:<34} {:>12} {:>12} {:>9} {:>12} {:>9}", secs(r), secs(b), times(r, b), secs(p), times(r, p));
    }
    let peak = |ms: &[Measure]| median(ms.iter().map(|m| m.peak as f64).collect());
    let (rpeak, bpeak, ppeak) = (peak(rust), peak(base), peak(py));
    let g = |v: f64| if v.is_nan() { "-".to_string() } else { format!("{:.2} GiB", gib(v)) };
    println!("{:<34} {:>12} {:>12} {:>9} {:>12} {:>9}", "peak memory (VmHWM / maxrss)", g(rpeak), g(bpeak), times(bpeak, rpeak), g(ppeak), times(rpeak, ppeak));
    // Events in the files, warm-up runs included (each trace: 6 frame counts x 4 runs x
    // (component-synced: 5 + 40 x 17 events; fused: 1 event)).
    let per_trace: usize = spec(0).frames.len() * 4 * (5 + 40 * 17 + 1);
    let file_events = first.files * per_trace;
    println!("{:<34} {:>12}   ({file_events} events in the files, warm-up included)", "analysed events x 24 B (decoded)", g(first.decoded as f64));
    rpeak
}

/// Prints whether the targets are met (total time, peak memory `rpeak`, against the baseline
/// and pandas) and each implementation's check line.
fn print_targets(rust: &[Measure], base: &[Measure], py: &[Measure], rpeak: f64) {
    let first = &rust[0];
    let med = |ms: &[Measure], i: usize| median(ms.iter().map(|m| m.phases[i]).collect());
    let total = med(rust, 4);
    let ptotal = med(py, 4);
    let btotal = med(base, 4);
    println!();
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    if first.files >= 10_000 {
        println!("targets (10,000 traces): total <= 30 s: {} ({total:.2} s)", met(total <= 30.0));
        println!("         peak <= 4 GiB: {} ({:.2} GiB)", met(rpeak <= 4.0 * (1u64 << 30) as f64), gib(rpeak));
    } else {
        println!("targets ({} traces): total <= 0.77 s (before the redesign): {} ({total:.3} s)", first.files, met(total <= 0.77));
    }
    if !btotal.is_nan() {
        println!("         no slower than the baseline, same run: {} ({:.2}x its time)", met(total <= btotal), total / btotal);
    }
    println!(
        "         >= 10x pandas: {}",
        if ptotal.is_nan() { "not measured".to_string() } else { format!("{} ({:.1}x)", met(ptotal / total >= 10.0), ptotal / total) }
    );
    println!("check (Rust): top component, fits, fused-forward ratio m-b/m-a: {}", first.check);
    if let Some(b) = base.first() {
        println!("check (baseline): {}", b.check);
    }
    if let Some(p) = py.first() {
        println!("check (pandas): {}", p.check);
    }
}
