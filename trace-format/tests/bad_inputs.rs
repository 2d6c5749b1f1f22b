//! Files that are not version-1 traces fail with one clear line naming the file and, for
//! version mismatches, the version found and the version supported. Damage after a good header
//! keeps what precedes it and says what happened.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use trace_format::{read_trace, read_trace_file, Error, Header, Metadata, Record, RunRecord, SyncMode, TraceWriter};

/// A scratch directory of this test binary.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trace-format-bad-inputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `bytes` to a file and reads it back through `read_trace_file`.
fn read_as_file(name: &str, bytes: &[u8]) -> (PathBuf, Result<trace_format::Trace, Error>) {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).unwrap();
    let result = read_trace_file(&path);
    (path, result)
}

/// The message of a failed read, checked to be one line naming the file.
fn message(name: &str, bytes: &[u8]) -> (String, Error) {
    let (path, result) = read_as_file(name, bytes);
    let err = result.expect_err(name);
    let text = err.to_string();
    assert!(text.starts_with(&path.display().to_string()), "{name}: message does not name the file: {text}");
    assert!(!text.contains('\n'), "{name}: message is not one line: {text}");
    let Error::File { reason, .. } = err else { panic!("{name}: not wrapped with its file name: {err:?}") };
    (text, *reason)
}

#[derive(Serialize)]
struct FakeHeader<V: Serialize, M: Serialize = Metadata> {
    magic: &'static str,
    format_version: V,
    metadata: M,
}

fn named<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).unwrap()
}

fn good_trace() -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), &Header::new(Metadata::default())).unwrap();
    for i in 0..3 {
        let mut run = RunRecord::new(i, "baseline", SyncMode::Component, 5, 100);
        let c = run.component("block/ffn", 1.0, 2.0);
        run.push_event(c, Some(0), 10, 20);
        w.add_run(&run).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn future_and_past_versions_name_file_found_and_expected() {
    for (version, name) in [(2u64, "v2.msgpack"), (0, "v0.msgpack"), (1 << 40, "v-huge.msgpack")] {
        let bytes = named(&FakeHeader { magic: "mlx-trace", format_version: version, metadata: Metadata::default() });
        let (text, reason) = message(name, &bytes);
        assert!(
            matches!(reason, Error::UnsupportedVersion { found, expected: 1 } if found == version),
            "{name}: {reason:?}"
        );
        assert!(text.contains(&format!("version {version}")) && text.contains("supports version 1"), "{text}");
    }
    // A future version with fields this reader has never heard of is still refused by version.
    let mut future = named(&FakeHeader { magic: "mlx-trace", format_version: 7u32, metadata: Metadata::default() });
    future.extend_from_slice(&[0xc1, 0xc1, 0xc1]);
    let (text, _) = message("v7.msgpack", &future);
    assert!(text.contains("unsupported trace format version 7 (this reader supports version 1)"), "{text}");
}

#[test]
fn wrong_kinds_of_file_are_named_and_explained() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.msgpack", vec![], "empty file"),
        ("blank.msgpack", b"  \n\t\n".to_vec(), "only whitespace"),
        ("trace.json", br#"{"magic": "mlx-trace", "format_version": 1, "metadata": {}}"#.to_vec(), "JSON"),
        ("list.json", b"[1, 2, 3]\n".to_vec(), "JSON"),
        ("unicode.json", "{\"host\": \"m\u{e4}chine \u{1f600}\"}".as_bytes().to_vec(), "JSON"),
        ("notes.txt", b"hello, this is not a trace\n".to_vec(), "text"),
        ("map.msgpack", named(&BTreeMap::from([("name", "x")])), "no mlx-trace magic"),
        ("array.msgpack", named(&vec![1u32, 2, 3]), "not an mlx-trace header"),
        ("int.msgpack", vec![0xcc, 0xff], "not an mlx-trace header"),
        ("star.txt", b"*".to_vec(), "looks like text"),
        ("nil.msgpack", vec![0xc0], "not an mlx-trace header"),
        ("reserved.msgpack", vec![0xc1; 32], "not an mlx-trace header"),
        ("other-magic.msgpack", named(&FakeHeader { magic: "other-format", format_version: 1u32, metadata: Metadata::default() }), "header magic is \"other-format\""),
        ("gzip.msgpack.gz", vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3], "not an mlx-trace header"),
        ("png.msgpack", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), "not an mlx-trace header"),
        ("version-string.msgpack", named(&FakeHeader { magic: "mlx-trace", format_version: "1", metadata: Metadata::default() }), "format_version is not a whole number"),
        ("version-negative.msgpack", named(&FakeHeader { magic: "mlx-trace", format_version: -1i32, metadata: Metadata::default() }), "format_version is not a whole number"),
        ("no-version.msgpack", named(&BTreeMap::from([("magic", "mlx-trace")])), "no format_version"),
        ("metadata-int.msgpack", named(&FakeHeader::<u32, u8> { magic: "mlx-trace", format_version: 1, metadata: 5 }), "damaged trace header"),
        ("header-cut.msgpack", good_trace()[..40].to_vec(), "header is cut short after 40 byte(s)"),
    ];
    for (name, bytes, expected) in cases {
        let (text, _) = message(name, &bytes);
        assert!(text.contains(expected), "{name}: expected {expected:?} in {text:?}");
    }
}

#[test]
fn unreadable_paths_name_the_file() {
    let missing = scratch().join("does-not-exist.msgpack");
    let text = read_trace_file(&missing).unwrap_err().to_string();
    assert!(text.starts_with(&missing.display().to_string()) && !text.contains('\n'), "{text}");
    let dir = scratch();
    let text = read_trace_file(&dir).unwrap_err().to_string();
    assert!(text.starts_with(&dir.display().to_string()), "{text}");
}

#[test]
fn damage_after_the_header_keeps_the_records_before_it() {
    let good = good_trace();
    let full = read_trace(&good).unwrap();
    assert!(full.complete && full.warnings.is_empty() && full.runs.len() == 3);

    // Garbage in place of the second run: the first run survives, the damage is located.
    let header_len = named(&Header::new(Metadata::default())).len();
    let run_len = named(&Record::Run(full.runs[0].clone())).len();
    let mut damaged = good.clone();
    let second = header_len + run_len;
    damaged[second] = 0xc1; // a marker MessagePack never uses
    let trace = read_trace(&damaged).unwrap();
    assert_eq!(trace.runs, full.runs[..1]);
    assert!(!trace.complete);
    assert!(trace.warnings[0].contains(&format!("record at byte {second} unreadable")), "{:?}", trace.warnings);

    // A record of an unknown kind stops reading the same way.
    let mut unknown = good[..second].to_vec();
    unknown.extend(named(&BTreeMap::from([("Thermals", 3u8)])));
    let trace = read_trace(&unknown).unwrap();
    assert_eq!(trace.runs.len(), 1);
    assert!(trace.warnings[0].contains("damaged trace"), "{:?}", trace.warnings);

    // Bytes after the end marker are reported, the trace is complete.
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"junk");
    let trace = read_trace(&trailing).unwrap();
    assert!(trace.complete && trace.runs.len() == 3);
    assert_eq!(trace.warnings, vec!["4 byte(s) after the end marker ignored".to_string()]);

    // An end marker that miscounts the runs.
    let mut miscount = good[..good.len() - named(&Record::End { runs: 3 }).len()].to_vec();
    miscount.extend(named(&Record::End { runs: 9 }));
    let trace = read_trace(&miscount).unwrap();
    assert!(trace.complete);
    assert_eq!(trace.warnings, vec!["end marker counts 9 run(s) but 3 were read".to_string()]);
}

#[test]
fn unknown_fields_are_ignored_and_missing_ones_defaulted() {
    #[derive(Serialize)]
    struct Extended {
        magic: &'static str,
        format_version: u32,
        metadata: BTreeMap<&'static str, &'static str>,
        added_later: Vec<u8>,
    }
    let mut bytes = named(&Extended {
        magic: "mlx-trace",
        format_version: 1,
        metadata: BTreeMap::from([("host", "h"), ("new_key", "v")]),
        added_later: vec![1, 2],
    });
    bytes.extend(named(&Record::End { runs: 0 }));
    let trace = read_trace(&bytes).unwrap();
    assert!(trace.complete && trace.warnings.is_empty());
    assert_eq!(trace.header.metadata.host, "h");
    assert_eq!(trace.header.metadata.cpu_cores, 0);
}

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    // 100,000 nested one-element arrays as the header, then as a record after a good header.
    let mut deep = vec![0x91u8; 100_000];
    deep.push(0x00);
    let err = read_trace(&deep).unwrap_err();
    assert!(matches!(err, Error::NotATrace(_)), "{err:?}");

    let mut bytes = named(&Header::new(Metadata::default()));
    bytes.push(0x81); // {"Run": {"unknown": [[[[...]]]]}}: unknown fields are skipped recursively
    bytes.extend(named(&"Run"));
    bytes.push(0x81);
    bytes.extend(named(&"unknown"));
    bytes.extend(&deep);
    let trace = read_trace(&bytes).unwrap();
    assert!(trace.runs.is_empty());
    assert!(trace.warnings[0].contains("depth limit"), "{:?}", trace.warnings);
}
