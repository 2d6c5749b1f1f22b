//! Replays the regression corpus (`tests/corpus`: hand-made hostile inputs and inputs the
//! fuzzer found) and the real traces of `tests/data` through the reader: none may panic, hang
//! or give an unclear answer. Fuzzing itself runs from `scripts/fuzz.sh`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use trace_format::{read_trace, Error};

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    out.sort();
    out
}

#[test]
fn corpus_replays_without_panic() {
    let corpus = files("tests/corpus");
    assert!(corpus.len() >= 10, "regression corpus has {} files", corpus.len());
    let mut failures = Vec::new();
    for path in corpus.iter().chain(files("tests/data").iter()) {
        let bytes = std::fs::read(path).unwrap();
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| read_trace(&bytes)));
        let took = start.elapsed();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        match outcome {
            Err(_) => failures.push(format!("{name}: panicked")),
            Ok(Ok(t)) if !t.complete && t.warnings.is_empty() => failures.push(format!("{name}: incomplete without warning")),
            Ok(Err(e)) if e.to_string().is_empty() || e.to_string().contains('\n') => failures.push(format!("{name}: unclear error {e:?}")),
            Ok(_) => {}
        }
        if took > Duration::from_secs(2) {
            failures.push(format!("{name}: took {took:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn hand_made_corpus_files_give_the_expected_answer() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let read = |name: &str| read_trace(&std::fs::read(dir.join(name)).unwrap());
    // Claims of huge lengths after a good header: the record is dropped, reading stops.
    for name in ["events-claim-2pow32.msgpack", "string-claim-4gib.msgpack", "deep-nesting.msgpack", "record-cut.msgpack", "reserved-marker-after-header.msgpack"] {
        let t = read(name).unwrap();
        assert!(t.runs.is_empty() && !t.complete && t.warnings.len() == 1, "{name}: {:?}", t.warnings);
    }
    // The header's claimed map runs past the end of the data: to the decoder, a header cut short.
    assert!(matches!(read("labels-claim-2pow32.msgpack"), Err(Error::BadHeader(m)) if m.contains("cut short")));
    assert!(matches!(read("header-cut.msgpack"), Err(Error::BadHeader(m)) if m.contains("cut short")));
    assert!(matches!(read("version-2.msgpack"), Err(Error::UnsupportedVersion { found: 2, expected: 1 })));
    assert!(matches!(read("json.msgpack"), Err(Error::NotATrace(m)) if m.contains("JSON")));
    assert!(matches!(read("empty.msgpack"), Err(Error::Empty)));
    let t = read("header-only.msgpack").unwrap();
    assert!(t.runs.is_empty() && t.warnings[0].contains("no end marker"));
    let t = read("end-miscount.msgpack").unwrap();
    assert!(t.complete && t.runs.len() == 1 && t.warnings[0].contains("end marker counts 4294967295"));
    // An event naming a component the run lacks is read as is; the analyzer drops it.
    let t = read("event-bad-component.msgpack").unwrap();
    assert_eq!(t.runs.len(), 1);
    assert!(t.runs[0].events().any(|e| e.component as usize >= t.runs[0].components.len()));
}
