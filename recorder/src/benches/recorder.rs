//! Recorder benchmark: the `wan-1.3b` preset, first 2 blocks, f32 on the CPU, at two frame counts.
//! Prints per frame count the fused forward (sync none), the component-synced forward, the
//! instrumentation overhead, and the trace's bytes per event; then the size of a 40-block,
//! 3-frame-count, 3-run trace as the recorder writes it (encoding only, no MLX).
//!
//! Run with `cargo bench -p mlx-record --features bench --bench recorder` (or scripts/bench-recorder.sh).
//! RECORDER_BENCH_FRAMES (default `5,9`) and RECORDER_BENCH_RUNS (default 3) override the plan.

use clap::Parser;
use crate::cli::Opt;
use crate::cost::CostModel;
use crate::machine::Backend;
use crate::model::names;
use crate::session;
use trace_format::{Header, RunRecord, SyncMode, TraceWriter, read_trace_file};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

/// Bytes of a trace of `blocks` blocks, frame counts x (1 warm-up + runs) x {component, none}.
fn synthetic_trace_size(blocks: u32, frames: &[(u32, u64)], runs: u32) -> (usize, usize) {
    let mut config = crate::config::Preset::Lingbot14b.config();
    config.blocks = blocks;
    let mut w = TraceWriter::new(Vec::new(), &Header::new(Default::default())).unwrap();
    let mut events = 0;
    let mut index = 0;
    for &(f, tokens) in frames {
        let costs = CostModel::new(&config, tokens, 2);
        for rep in 0..=runs {
            for sync in [SyncMode::Component, SyncMode::None] {
                let mut run = RunRecord::new(index, "baseline", sync, f, tokens);
                run.warmup = rep == 0;
                index += 1;
                let mut t = 0u64;
                let mut push = |run: &mut RunRecord, name: &str, block: Option<u32>, dur: u64| {
                    let c = costs.of(name).unwrap();
                    let id = run.component(name, c.flops, c.bytes);
                    t += 20_000;
                    run.push_event(id, block, t, dur);
                    t += dur;
                };
                if sync == SyncMode::Component {
                    for n in names::EMBED {
                        push(&mut run, n, None, 900_000);
                    }
                    for b in 0..blocks {
                        for n in names::BLOCK {
                            push(&mut run, n, Some(b), 1_000_000 + (b as u64 * 7919) % 50_000);
                        }
                    }
                    push(&mut run, names::HEAD, None, 2_500_000);
                } else {
                    push(&mut run, names::FORWARD, None, 750_000_000);
                }
                events += run.events.len();
                w.add_run(&run).unwrap();
            }
        }
    }
    (w.finish().unwrap().len(), events)
}

/// Runs the benchmark and prints its table.
pub fn main() {
    crate::blas::ensure_fast_openblas();
    let frames = std::env::var("RECORDER_BENCH_FRAMES").unwrap_or_else(|_| "5,9".into());
    let runs = std::env::var("RECORDER_BENCH_RUNS").unwrap_or_else(|_| "3".into());
    let out = std::env::temp_dir().join(format!("mlx-record-bench-{}.msgpack", std::process::id()));
    let out_s = out.display().to_string();
    let args = [
        "mlx-record", "--preset", "wan-1.3b", "--blocks", "2", "--frames", &frames, "--runs", &runs, "--cpu",
        "--dtype", "f32", "--quiet", "--out", &out_s,
    ];
    let plan = Opt::parse_from(args).to_plan(Backend::Cpu).expect("valid plan");
    crate::machine::use_backend(Backend::Cpu);
    let header = session::header(&plan, &args.join(" "));
    eprintln!("recording {} runs of wan-1.3b (2 blocks, f32, CPU) at frames {frames} ...", plan.total_runs());
    session::record(&plan, &header).expect("recording");
    let size = std::fs::metadata(&out).unwrap().len();
    let trace = read_trace_file(&out).unwrap();
    let _ = std::fs::remove_file(&out);

    println!("mlx-record benchmark: wan-1.3b, --blocks 2, f32, CPU; {} timed run(s) per mode; medians", runs);
    println!("host: {} ({} cores); BLAS: {}", trace.header.metadata.cpu_model, trace.header.metadata.cpu_cores, trace.header.metadata.blas);
    println!();
    println!("{:>6} {:>7} {:>12} {:>14} {:>10} {:>13}", "frames", "tokens", "fused (ms)", "synced (ms)", "overhead", "bytes/event");
    let mut frame_list: Vec<(u32, u64)> = trace.runs.iter().map(|r| (r.frames, r.tokens)).collect();
    frame_list.dedup();
    for &(f, tokens) in &frame_list {
        let pick = |sync: SyncMode| -> Vec<&RunRecord> {
            trace.runs.iter().filter(|r| r.frames == f && r.sync == sync && !r.warmup).collect()
        };
        let fused = median(pick(SyncMode::None).iter().map(|r| r.forward_ns as f64 / 1e6).collect());
        let synced_runs = pick(SyncMode::Component);
        let synced = median(synced_runs.iter().map(|r| r.forward_ns as f64 / 1e6).collect());
        // Bytes per event of the component-synced runs as encoded (names included).
        let mut w = TraceWriter::new(Vec::new(), &Header::new(Default::default())).unwrap();
        let before = w.get_mut().len();
        for r in &synced_runs {
            w.add_run(r).unwrap();
        }
        let n_events: usize = synced_runs.iter().map(|r| r.events.len()).sum();
        let per_event = (w.get_mut().len() - before) as f64 / n_events as f64;
        println!("{f:>6} {tokens:>7} {fused:>12.1} {synced:>14.1} {:>+9.1}% {per_event:>13.1}", 100.0 * (synced / fused - 1.0));
    }
    let total_events: usize = trace.runs.iter().map(|r| r.events.len()).sum();
    println!();
    println!("whole trace file: {size} bytes, {total_events} events, {:.1} bytes/event (header and calibration included)", size as f64 / total_events as f64);
    let (bytes, events) = synthetic_trace_size(40, &[(5, 3120), (11, 4680), (21, 9360)], 3);
    println!(
        "40 blocks x 3 frame counts x (1 warm-up + 3 runs) x {{component, none}}: {bytes} bytes ({:.1} KiB), {events} events, {:.1} bytes/event",
        bytes as f64 / 1024.0,
        bytes as f64 / events as f64
    );
}
