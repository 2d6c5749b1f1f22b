//! Writes synthetic traces (known cost model, no MLX) for trying the analyzer out:
//! `cargo run -p mlx-analyze --example generate_traces -- OUT_DIR [COUNT] [BLOCKS]`.
//! Even-numbered traces come from machine `m-a`, odd ones from `m-b`, 1.3x slower.

use std::path::PathBuf;

use trace_synth::{generate, with_label, SynthSpec};
use trace_format::SyncMode;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: generate_traces OUT_DIR [COUNT] [BLOCKS]");
        std::process::exit(2);
    };
    let count: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(2);
    let blocks: u32 = args.next().and_then(|v| v.parse().ok()).unwrap_or(40);
    std::fs::create_dir_all(&dir).expect("create output directory");
    for i in 0..count {
        let (machine, speed) = if i % 2 == 0 { ("m-a", 1.0) } else { ("m-b", 1.3) };
        let spec = SynthSpec {
            blocks,
            frames: vec![5, 11, 21, 41, 81],
            syncs: vec![SyncMode::Component, SyncMode::Block, SyncMode::None],
            speed,
            jitter: 0.03,
            seed: i as u64 + 1,
            metadata: with_label(SynthSpec::default().metadata, "machine", machine),
            ..SynthSpec::default()
        };
        let path = dir.join(format!("synthetic-{i:03}.msgpack"));
        std::fs::write(&path, generate(&spec, true)).expect("write trace");
        println!("{}", path.display());
    }
}
