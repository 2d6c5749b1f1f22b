//! Benchmark: 1,000 generated traces of a 40-block model (3 timed runs + 1 warm-up x 6 frame
//! counts x 2 synchronisation modes, about 16.5 million events): load + ranking + scaling fits +
//! comparison by machine, timed with peak memory, beside an equivalent pandas + msgpack script
//! (`scripts/bench_analyzer_pandas.py`) over the same files in the same run.
//!
//! `cargo bench -p mlx-analyze --bench analyze`. Environment: `BENCH_TRACES` (default 1000),
//! `BENCH_DIR` (default `target/bench-traces`), `BENCH_RUNS` (Rust repetitions, default 5),
//! `BENCH_PY_RUNS` (pandas repetitions, default 1; 0 skips), `BENCH_PYTHON` (interpreter;
//! default `.venv/bin/python`, else `python3`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mlx_analyze::analysis::comparison::{compare, run_groups, CompareOptions};
use mlx_analyze::analysis::{ranking, scaling, Facts};
use mlx_analyze::load::{load_files, trace_key_values, LoadOptions};
use mlx_analyze::synth::{generate, with_label, SynthSpec};
use trace_format::SyncMode;

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
    std::thread::scope(|s| {
        for part in 0..2 {
            s.spawn(move || {
                for i in (part..n).step_by(2) {
                    std::fs::write(dir.join(format!("trace-{i:04}.msgpack")), generate(&spec(i), true)).unwrap();
                }
            });
        }
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
    let ds = load_files(&files, &LoadOptions::default()).unwrap();
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
    let n = env_usize("BENCH_TRACES", 1000);
    let dir = std::env::var("BENCH_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target/bench-traces"));
    generate_all(&dir, n);

    let me = std::env::current_exe().unwrap();
    let runs = env_usize("BENCH_RUNS", 5).max(1);
    // One unmeasured warm-up (page cache, CPU clocks).
    let _ = Command::new(&me).env(CHILD, &dir).output();
    let mut rust = Vec::new();
    for _ in 0..runs {
        let out = Command::new(&me).env(CHILD, &dir).output().unwrap();
        let m = parse(&String::from_utf8_lossy(&out.stdout)).unwrap_or_else(|| panic!("child failed: {}", String::from_utf8_lossy(&out.stderr)));
        rust.push(m);
    }

    let py_runs = env_usize("BENCH_PY_RUNS", 1);
    let python = std::env::var("BENCH_PYTHON").map(PathBuf::from).unwrap_or_else(|_| {
        let venv = root.join(".venv/bin/python");
        if venv.exists() { venv } else { PathBuf::from("python3") }
    });
    let script = root.join("scripts/bench_analyzer_pandas.py");
    let mut py = Vec::new();
    for _ in 0..py_runs {
        match Command::new(&python).arg(&script).arg(&dir).output() {
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

    let first = &rust[0];
    println!();
    println!(
        "mlx-analyze benchmark: {} traces, {} events, {} cores; medians of {} Rust run(s) and {} pandas run(s)",
        first.files,
        first.events,
        std::thread::available_parallelism().map_or(1, |p| p.get()),
        rust.len(),
        py.len()
    );
    println!("{:<34} {:>12} {:>12} {:>9}", "phase", "mlx-analyze", "pandas", "speedup");
    let names = ["load (decode + DataFrames)", "ranking", "scaling fits", "comparison (bootstrap)", "total"];
    for (i, name) in names.iter().enumerate() {
        let r = median(rust.iter().map(|m| m.phases[i]).collect());
        let p = median(py.iter().map(|m| m.phases[i]).collect());
        let speed = if p.is_nan() { "-".to_string() } else { format!("{:.1}x", p / r) };
        let ps = if p.is_nan() { "-".to_string() } else { format!("{p:.3} s") };
        println!("{name:<34} {:>10.3} s {ps:>12} {speed:>9}", r);
    }
    let gib = |b: f64| b / (1u64 << 30) as f64;
    let rpeak = median(rust.iter().map(|m| m.peak as f64).collect());
    let ppeak = median(py.iter().map(|m| m.peak as f64).collect());
    let decoded = first.decoded as f64;
    println!(
        "{:<34} {:>8.2} GiB {:>8} GiB {:>9}",
        "peak memory (VmHWM / maxrss)",
        gib(rpeak),
        if ppeak.is_nan() { "-".into() } else { format!("{:.2}", gib(ppeak)) },
        if ppeak.is_nan() { "-".into() } else { format!("{:.1}x", ppeak / rpeak) }
    );
    // Events in the files, warm-up runs included (each trace: 6 frame counts x 4 runs x
    // (component-synced: 5 + 40 x 17 events; fused: 1 event)).
    let per_trace: usize = spec(0).frames.len() * 4 * (5 + 40 * 17 + 1);
    let file_events = first.files * per_trace;
    println!("{:<34} {:>8.2} GiB", "analysed events x 24 B (decoded)", gib(decoded));
    println!("{:<34} {:>8.2} GiB   ({file_events} events in the files, warm-up included)", "all file events x 24 B", gib(file_events as f64 * 24.0));
    let total = median(rust.iter().map(|m| m.phases[4]).collect());
    let ptotal = median(py.iter().map(|m| m.phases[4]).collect());
    println!();
    println!("targets: total <= 5 s: {}", if total <= 5.0 { "met" } else { "NOT met" });
    println!("         >= 10x pandas: {}", if ptotal.is_nan() { "not measured".to_string() } else if ptotal / total >= 10.0 { "met".into() } else { "NOT met".into() });
    println!(
        "         peak <= 2x decoded events: {} ({:.2}x the analysed events, {:.2}x all file events)",
        if rpeak <= 2.0 * decoded { "met" } else { "NOT met" },
        rpeak / decoded,
        rpeak / (file_events as f64 * 24.0)
    );
    println!("check (Rust): top component, fits, fused-forward ratio m-b/m-a: {}", first.check);
    if let Some(p) = py.first() {
        println!("check (pandas): {}", p.check);
    }
}
