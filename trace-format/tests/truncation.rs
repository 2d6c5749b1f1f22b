//! A trace cut at any byte either yields the runs completed before the cut, with a warning, or
//! (cut inside the header) fails with a clear error. Real recordings are used: two small CPU
//! traces cut at every byte offset, and the GPU traces in `traces/` at a dense sample of offsets.

use std::path::PathBuf;

use serde::Deserialize;
use trace_format::{read_trace, Error, Record, Trace};

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn recorded_traces() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../traces");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("traces/ exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "msgpack") {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    assert!(!out.is_empty(), "no recorded traces in {}", dir.display());
    out
}

/// End offset of every top-level value, and whether each is a run. Decoded independently of the
/// reader under test: value by value with a plain MessagePack deserializer.
fn value_ends(bytes: &[u8]) -> Vec<(usize, bool)> {
    let mut rest = bytes;
    let mut ends = Vec::new();
    let mut first = true;
    while !rest.is_empty() {
        let before = rest;
        let mut de = rmp_serde::Deserializer::new(&mut rest);
        let is_run = if first {
            serde::de::IgnoredAny::deserialize(&mut de).expect("a complete header");
            false
        } else {
            matches!(Record::deserialize(&mut de).expect("complete records"), Record::Run(_))
        };
        drop(de);
        first = false;
        assert!(rest.len() < before.len());
        ends.push((bytes.len() - rest.len(), is_run));
    }
    ends
}

const MAGIC_END: usize = 1 + 1 + "magic".len() + 1 + trace_format::MAGIC.len();

/// Checks one cut; returns the number of runs read.
fn check_cut(bytes: &[u8], full: &Trace, ends: &[(usize, bool)], cut: usize, name: &str) -> usize {
    let header_end = ends[0].0;
    let result = read_trace(&bytes[..cut]);
    if cut < header_end {
        let err = result.expect_err("a cut inside the header is an error");
        let text = err.to_string();
        assert!(!text.is_empty() && !text.contains('\n'), "{name} cut {cut}: unclear error {text:?}");
        match (cut, &err) {
            (0, Error::Empty) => {}
            (0, other) => panic!("{name}: empty prefix gave {other:?}"),
            // Once the magic string is in (map marker, "magic" key, then the value), the reader
            // knows it is a damaged trace.
            (c, Error::BadHeader(m)) if c >= MAGIC_END => assert!(m.contains("cut short"), "{name} cut {cut}: {m}"),
            (c, Error::NotATrace(_)) if c < MAGIC_END => {}
            (_, other) => panic!("{name} cut {cut}: unexpected error {other:?}"),
        }
        return 0;
    }
    let trace = result.unwrap_or_else(|e| panic!("{name} cut {cut} after the header: {e}"));
    let expected_runs = ends.iter().skip(1).filter(|(end, is_run)| *is_run && *end <= cut).count();
    assert_eq!(trace.runs.len(), expected_runs, "{name} cut {cut}: completed runs");
    assert_eq!(trace.runs[..], full.runs[..expected_runs], "{name} cut {cut}: runs differ from the full trace");
    assert_eq!(trace.header, full.header);
    if cut == bytes.len() {
        assert!(trace.complete && trace.warnings.is_empty(), "{name}: whole trace {:?}", trace.warnings);
    } else {
        assert!(!trace.complete, "{name} cut {cut}: claims to be complete");
        assert_eq!(trace.warnings.len(), 1, "{name} cut {cut}: {:?}", trace.warnings);
        let w = &trace.warnings[0];
        assert!(w.contains("incomplete trace") && w.contains(&format!("{expected_runs} complete run(s)")), "{name} cut {cut}: {w}");
        let at_boundary = ends.iter().any(|(end, _)| *end == cut);
        assert_eq!(w.contains("cut short"), !at_boundary, "{name} cut {cut}: {w}");
    }
    expected_runs
}

#[test]
fn small_traces_cut_at_every_byte() {
    for name in ["tiny-cpu.msgpack", "tiny-variants.msgpack"] {
        let bytes = data(name);
        let ends = value_ends(&bytes);
        let full = read_trace(&bytes).unwrap();
        let runs = ends.iter().filter(|e| e.1).count();
        assert!(runs >= 2, "{name}: seed has {runs} runs");
        let mut seen = 0;
        for cut in 0..=bytes.len() {
            seen = seen.max(check_cut(&bytes, &full, &ends, cut, name));
        }
        assert_eq!(seen, runs);
    }
}

#[test]
fn recorded_traces_cut_at_a_dense_sample() {
    for (name, bytes) in recorded_traces() {
        let ends = value_ends(&bytes);
        let full = read_trace(&bytes).unwrap();
        // Evenly spaced cuts, plus both sides of about 20 record boundaries (each cut of a 1 MB
        // trace decodes up to 1 MB, so the sample is kept to a few hundred cuts).
        let mut cuts: Vec<usize> = (0..=100).map(|i| i * bytes.len() / 100).collect();
        let step = ends.len().div_ceil(20);
        for &(end, _) in ends.iter().step_by(step).chain(ends.last()) {
            cuts.extend([end.saturating_sub(1), end, (end + 1).min(bytes.len())]);
        }
        cuts.extend(0..64);
        cuts.sort_unstable();
        cuts.dedup();
        for cut in cuts {
            check_cut(&bytes, &full, &ends, cut, &name);
        }
    }
}
