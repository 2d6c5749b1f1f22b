//! The Parquet events export: keys on every row, NULL block outside the blocks, and read back
//! as input into the same dataset and the same report; foreign Parquet files refused.

mod tables_common;

use std::ffi::OsStr;
use std::fs;
use std::path::PathBuf;

use mlx_analyze::export::parquet::{ParquetExport, EVENT_COLUMNS};
use mlx_analyze::export::export_to_file;
use mlx_analyze::load::{load_files, LoadOptions};
use polars::prelude::*;
use polars_io::parquet::read::ParquetReader;
use polars_io::parquet::write::ParquetWriter;
use polars_io::SerReader;
use tables_common::*;

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Committed traces covering component-synced, fused and attributed runs, CPU and GPU, with
/// and without a machine label.
fn originals() -> Vec<PathBuf> {
    ["cpu-wan1.3b-f32-240x416.msgpack", "h200-lingbot14b-bf16-attributed-81frames.msgpack", "cpu-lingbot14b-2blocks-f32.msgpack"]
        .iter()
        .map(|n| committed(n))
        .collect()
}

fn read_parquet(path: &std::path::Path) -> DataFrame {
    ParquetReader::new(fs::File::open(path).unwrap()).finish().unwrap()
}

#[test]
fn report_from_parquet_equals_report_from_traces() {
    let dir = scratch("report-roundtrip");
    let files = originals();
    for warmup in [false, true] {
        let mut base: Vec<&OsStr> = files.iter().map(|p| p.as_os_str()).collect();
        if warmup {
            base.push(os("--include-warmup"));
        }
        let parquet = dir.join(format!("events-{warmup}.parquet"));
        let direct = dir.join(format!("direct-{warmup}.json"));
        let mut args = base.clone();
        args.extend([os("--format"), os("json"), os("-o"), direct.as_os_str(), os("--export-parquet"), parquet.as_os_str()]);
        run_ok(&args);
        let again = dir.join(format!("again-{warmup}.json"));
        let mut args = vec![parquet.as_os_str(), os("--format"), os("json"), os("-o"), again.as_os_str()];
        if warmup {
            args.push(os("--include-warmup"));
        }
        run_ok(&args);
        let a = fs::read_to_string(&direct).unwrap();
        let b = fs::read_to_string(&again).unwrap();
        assert!(a.len() > 10_000, "a real report");
        assert!(a == b, "the report from {} differs from the report of its traces", parquet.display());

        // The terminal report too (every section, every number as printed).
        let mut args = base.clone();
        args.extend([os("-o"), os("-")]);
        let table_direct = run_ok(&args);
        let mut args = vec![parquet.as_os_str(), os("-o"), os("-")];
        if warmup {
            args.push(os("--include-warmup"));
        }
        assert_eq!(table_direct, run_ok(&args));
    }
    // An export with warm-up runs, read without them: the report of the traces without them.
    let without = dir.join("direct-false.json");
    let from_warm = dir.join("from-warm.json");
    let warm = dir.join("events-true.parquet");
    run_ok(&[warm.as_os_str(), os("--format"), os("json"), os("-o"), from_warm.as_os_str()]);
    assert!(fs::read(&without).unwrap() == fs::read(&from_warm).unwrap(), "warm-up runs of an export are left out as in traces");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn dataset_round_trips_table_by_table() {
    let dir = scratch("dataset-roundtrip");
    let files = originals();
    for include_warmup in [false, true] {
        let options = LoadOptions { include_warmup, threads: 1, ..Default::default() };
        let ds = load_files(&files, &options).unwrap();
        let pq = dir.join(format!("e-{include_warmup}.parquet"));
        export_to_file(&ParquetExport, &ds, &pq).unwrap();
        let back = load_files(std::slice::from_ref(&pq), &options).unwrap();
        let (runs, runs_back) = (ds.runs_frame().unwrap(), back.runs_frame().unwrap());
        for (name, a, b) in [
            ("traces", &ds.traces, &back.traces),
            ("runs", &runs, &runs_back),
            ("components", &ds.components, &back.components),
            ("events", &ds.events, &back.events),
            ("setups", &ds.setups, &back.setups),
        ] {
            assert!(a.height() > 0 || name == "setups", "{name} is empty");
            assert!(a.equals_missing(b), "table {name} differs after the round trip:\n{a}\n{b}");
        }
        assert_eq!(ds.component_names, back.component_names);
        assert_eq!(ds.trace_info.len(), back.trace_info.len());
        for (x, y) in ds.trace_info.iter().zip(&back.trace_info) {
            assert_eq!(x.file, y.file);
            assert_eq!(x.metadata, y.metadata);
            assert_eq!(x.calibration, y.calibration);
            assert_eq!(x.complete, y.complete);
        }
        assert!(back.skipped.is_empty(), "{:?}", back.skipped);
    }
    // Named twice: counted once, like a trace.
    let pq = dir.join("e-false.parquet");
    let copy = dir.join("copy.parquet");
    fs::copy(&pq, &copy).unwrap();
    let ds = load_files(&[pq.clone(), copy.clone()], &LoadOptions::default()).unwrap();
    assert_eq!(ds.trace_info.len(), 3);
    assert_eq!(ds.skipped.len(), 3, "{:?}", ds.skipped);
    assert!(ds.skipped.iter().all(|s| s.reason.contains("counted once")), "{:?}", ds.skipped);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn every_row_carries_its_keys_and_null_block_outside_blocks() {
    let dir = scratch("keys");
    let gpu = Spec { gpu: Some("Test GPU"), backend: "cuda", ..Spec::new("box-a") };
    let cpu = Spec::new("box-b");
    let (a, b) = (dir.join("a.msgpack"), dir.join("b.msgpack"));
    fs::write(&a, gpu.bytes()).unwrap();
    fs::write(&b, cpu.bytes()).unwrap();
    let pq = dir.join("e.parquet");
    run_ok(&[a.as_os_str(), b.as_os_str(), os("--export-parquet"), pq.as_os_str(), os("-o"), dir.join("r.txt").as_os_str()]);
    let df = read_parquet(&pq);
    let names: Vec<String> = df.get_column_names().iter().map(|c| c.to_string()).collect();
    assert_eq!(names, EVENT_COLUMNS.to_vec());

    // Independent reference: the traces decoded by the format crate.
    let mut expected_rows = 0usize;
    let mut expected_null_blocks = 0usize;
    for path in [&a, &b] {
        let t = trace_format::read_trace_file(path).unwrap();
        for r in t.runs.iter().filter(|r| !r.warmup) {
            for e in r.events() {
                expected_rows += 1;
                expected_null_blocks += usize::from(e.block.is_none());
            }
        }
    }
    assert_eq!(df.height(), expected_rows);
    assert_eq!(df.column("block").unwrap().null_count(), expected_null_blocks);
    assert!(expected_null_blocks > 0 && expected_null_blocks < expected_rows);
    for key in ["file", "machine", "backend", "dtype", "preset", "blocks", "resolution", "variant", "sync", "frames", "tokens", "run", "warmup"] {
        assert_eq!(df.column(key).unwrap().null_count(), 0, "{key} has NULLs");
    }
    let machine = df.column("machine").unwrap().str().unwrap();
    let gpu_col = df.column("gpu").unwrap().str().unwrap();
    let backend = df.column("backend").unwrap().str().unwrap();
    let file = df.column("file").unwrap().str().unwrap();
    let block = df.column("block").unwrap().u32().unwrap();
    let component = df.column("component").unwrap().str().unwrap();
    for i in 0..df.height() {
        let from_a = file.get(i).unwrap().ends_with("a.msgpack");
        assert_eq!(machine.get(i).unwrap(), if from_a { "box-a" } else { "box-b" });
        assert_eq!(gpu_col.get(i), if from_a { Some("Test GPU") } else { None });
        assert_eq!(backend.get(i).unwrap(), if from_a { "cuda" } else { "cpu" });
        // Block components have a block; the rest (embeddings, head, forward) have none.
        assert_eq!(block.get(i).is_some(), component.get(i).unwrap().starts_with("block/"), "row {i}");
    }
    assert_eq!(df.column("resolution").unwrap().str().unwrap().get(0), Some("160x160"));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn foreign_and_damaged_parquet_files_are_refused_with_a_reason() {
    let dir = scratch("foreign");
    let foreign = dir.join("foreign.parquet");
    let mut df = df!("a" => [1i64, 2, 3], "b" => ["x", "y", "z"]).unwrap();
    ParquetWriter::new(fs::File::create(&foreign).unwrap()).finish(&mut df).unwrap();
    let o = bin().arg(&foreign).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("not an events export of mlx-analyze"), "{e}");
    assert!(!e.contains("panicked"), "{e}");

    // Beside a good trace: skipped with its reason, the trace analysed.
    let good = dir.join("good.msgpack");
    fs::write(&good, Spec::new("m").bytes()).unwrap();
    let o = bin().arg(&good).arg(&foreign).args(["-o", "-"]).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(e.contains(&format!("skipped {}: a Parquet file, but not an events export", foreign.display())), "{e}");

    // A truncated export.
    let pq = dir.join("e.parquet");
    run_ok(&[good.as_os_str(), os("--export-parquet"), pq.as_os_str(), os("-o"), dir.join("r.txt").as_os_str()]);
    let bytes = fs::read(&pq).unwrap();
    let cut = dir.join("cut.parquet");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = bin().arg(&cut).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("truncated or damaged"), "{e}");

    // A summary file is ours but not an events export.
    let sum = dir.join("sum");
    run_ok(&[good.as_os_str(), os("--export-summary"), sum.as_os_str(), os("-o"), dir.join("r2.txt").as_os_str()]);
    let part = walk(&sum).into_iter().find(|p| p.extension().is_some_and(|x| x == "parquet")).unwrap();
    let o = bin().arg(&part).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("\"mlx-analyze summary\" file, not an events export"), "{e}");
    let _ = fs::remove_dir_all(&dir);
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn an_export_of_several_row_groups_round_trips() {
    let dir = scratch("row-groups");
    // 2 frame counts x 3 runs x (2 + 2 x 25,000 block events), 300,018 events with the 6 fused
    // ones, more than one row group (262,144 events).
    let spec = Spec { blocks: 25_000, ..Spec::new("big") };
    let trace = dir.join("big.msgpack");
    fs::write(&trace, spec.bytes()).unwrap();
    let options = LoadOptions::default();
    let ds = load_files(std::slice::from_ref(&trace), &options).unwrap();
    assert_eq!(ds.events.height(), 300_018);
    let pq = dir.join("big.parquet");
    export_to_file(&ParquetExport, &ds, &pq).unwrap();
    let back = load_files(std::slice::from_ref(&pq), &options).unwrap();
    assert!(ds.events.equals_missing(&back.events));
    assert!(ds.runs_frame().unwrap().equals_missing(&back.runs_frame().unwrap()));
    assert!(ds.components.equals_missing(&back.components));
    let rows = read_parquet(&pq);
    assert_eq!(rows.height(), 300_018);
    assert_eq!(rows.column("block").unwrap().null_count(), 2 * 3 * 2 + 2 * 3);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn damaged_exports_are_skipped_never_a_panic() {
    let dir = scratch("damaged");
    let good = dir.join("good.msgpack");
    fs::write(&good, Spec::new("m").bytes()).unwrap();
    let pq = dir.join("e.parquet");
    run_ok(&[good.as_os_str(), os("--export-parquet"), pq.as_os_str(), os("-o"), dir.join("r.txt").as_os_str()]);
    let bytes = fs::read(&pq).unwrap();
    // Deterministic damage: single bytes changed all over the file (footer included), and
    // cuts that keep the trailing magic.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for _ in 0..300 {
        let mut b = bytes.clone();
        let at = if next() % 2 == 0 { (next() as usize) % b.len() } else { b.len() - 1 - (next() as usize) % 400.min(b.len() - 1) };
        b[at] = next() as u8;
        inputs.push(b);
    }
    for cut in [8usize, 12, 100, 1000, bytes.len() / 2, bytes.len() - 9] {
        let mut b = bytes[..cut.min(bytes.len())].to_vec();
        b.extend_from_slice(b"PAR1");
        inputs.push(b);
    }
    // A data page whose value count reads negative (-8): polars' decoder would allocate 2^61
    // bytes and abort. The first page header's data-page struct (field 5, `0x2c`) starts with
    // its count (`0x15`, an i32); -8 is the zigzag varint 0x0f.
    let header = bytes.windows(2).position(|w| w == [0x2c, 0x15]).expect("a data page header");
    let mut negative = bytes.clone();
    negative[header + 2] = 0x0f;
    let refused_negative = mlx_analyze::load::load_bytes(vec![("negative.parquet".into(), negative)], &LoadOptions { threads: 1, ..Default::default() });
    assert!(refused_negative.is_err(), "a negative value count is refused");
    inputs.push(b"PAR1PAR1".to_vec());
    inputs.push([b"PAR1".as_slice(), &[0xff; 64], &u32::MAX.to_le_bytes(), b"PAR1"].concat());
    let mut refused = 0;
    for (i, b) in inputs.into_iter().enumerate() {
        let loaded = mlx_analyze::load::load_bytes(vec![(format!("damaged-{i}.parquet"), b)], &LoadOptions { threads: 1, ..Default::default() });
        if loaded.is_err() {
            refused += 1;
        }
    }
    assert!(refused > 10, "damage is noticed ({refused} refused)");
    let _ = fs::remove_dir_all(&dir);
}

/// An export whose event rows were removed, or all duplicated, after it was written (its
/// metadata kept): refused with the reason, never read as a recording without events or with
/// every event counted twice.
#[test]
fn exports_with_removed_or_duplicated_rows_are_refused() {
    let dir = scratch("rows-changed");
    let good = dir.join("good.msgpack");
    fs::write(&good, Spec::new("m").bytes()).unwrap();
    let pq = dir.join("e.parquet");
    run_ok(&[good.as_os_str(), os("--export-parquet"), pq.as_os_str(), os("-o"), dir.join("r.txt").as_os_str()]);
    let mut reader = ParquetReader::new(fs::File::open(&pq).unwrap());
    let kv = reader.get_metadata().unwrap().key_value_metadata.clone().unwrap();
    let (key, value) = kv.iter().find(|k| k.key == mlx_analyze::export::parquet::EXPORT_KEY).map(|k| (k.key.clone(), k.value.clone().unwrap())).unwrap();
    let events = reader.finish().unwrap();
    let write = |name: &str, mut df: DataFrame| {
        let path = dir.join(name);
        ParquetWriter::new(fs::File::create(&path).unwrap())
            .with_key_value_metadata(Some(polars_io::parquet::write::KeyValueMetadata::from_static(vec![(key.clone(), value.clone())])))
            .finish(&mut df)
            .unwrap();
        path
    };
    // Written back unchanged: read as before (the check itself passes a true export).
    let same = write("same.parquet", events.clone());
    let o = bin().arg(&same).args(["-o", "-"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let empty = write("empty.parquet", events.head(Some(0)));
    let doubled = write("doubled.parquet", events.vstack(&events).unwrap());
    for path in [empty, doubled] {
        let o = bin().arg(&path).output().unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{}: {e}", path.display());
        assert!(e.contains("rows were removed or duplicated"), "{e}");
        assert!(!e.contains("panicked"), "{e}");
    }
}
