//! Length prefixes are never trusted: records claiming 2^32-1 events, components, string bytes
//! or map entries fail fast, and the reader's allocations stay within a small bound. A counting
//! global allocator measures the peak heap use of each read (one test, so nothing else in this
//! binary allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use trace_format::{read_trace, Header, Metadata, Record, RunRecord, SyncMode};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        LARGEST.fetch_max(layout.size(), Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap growth and largest single allocation while `f` runs, and its duration.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize, Duration) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    LARGEST.store(0, Ordering::SeqCst);
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    (out, PEAK.load(Ordering::SeqCst) - base, LARGEST.load(Ordering::SeqCst), took)
}

fn named<T: serde::Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).unwrap()
}

/// Replaces the first occurrence of `key` (as a MessagePack string) followed by `old` with the
/// key followed by `new`.
fn patch(bytes: &[u8], key: &str, old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut pattern = named(&key);
    pattern.extend_from_slice(old);
    let at = bytes.windows(pattern.len()).position(|w| w == pattern.as_slice()).unwrap_or_else(|| panic!("{key} not found"));
    let mut out = bytes[..at + pattern.len() - old.len()].to_vec();
    out.extend_from_slice(new);
    out.extend_from_slice(&bytes[at + pattern.len()..]);
    out
}

const ARRAY32_MAX: &[u8] = &[0xdd, 0xff, 0xff, 0xff, 0xff];
const MAP32_MAX: &[u8] = &[0xdf, 0xff, 0xff, 0xff, 0xff];
const STR32_MAX: &[u8] = &[0xdb, 0xff, 0xff, 0xff, 0xff];
const BIN32_MAX: &[u8] = &[0xc6, 0xff, 0xff, 0xff, 0xff];

#[test]
fn huge_length_prefixes_fail_fast_with_bounded_allocation() {
    let header = named(&Header::new(Metadata::default()));
    let mut run = RunRecord::new(0, "baseline", SyncMode::Component, 5, 100);
    let c = run.component("block/ffn", 1.0, 2.0);
    run.push_event(c, Some(0), 1, 2);
    let record = named(&Record::Run(run));
    let with_header = |r: Vec<u8>| {
        let mut b = header.clone();
        b.extend(r);
        b
    };
    // Long enough tails that a trusting reader would try to use them.
    let filler = vec![0x94u8, 0, 0, 0, 0].repeat(1000);

    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("events array of 2^32-1", with_header(patch(&record, "events", &[0x91], ARRAY32_MAX))),
        ("components array of 2^32-1", with_header(patch(&record, "components", &[0x91], ARRAY32_MAX))),
        ("variant string of 2^32-1 bytes", with_header(patch(&record, "variant", &[0xa8], STR32_MAX))),
        ("variant as 4 GiB binary", with_header(patch(&record, "variant", &[0xa8], BIN32_MAX))),
        ("run map of 2^32-1 entries", with_header({
            let mut r = record.clone();
            let inner = 1 + named(&"Run").len();
            r.splice(inner..inner + 1, MAP32_MAX.iter().copied());
            r
        })),
        ("labels map of 2^32-1 entries", patch(&header, "labels", &[0x80], MAP32_MAX)),
        ("host string of 2^32-1 bytes", patch(&header, "host", &[0xa0], STR32_MAX)),
        ("record wrapper map of 2^32-1", with_header({
            let mut r = MAP32_MAX.to_vec();
            r.extend_from_slice(&record[1..]);
            r
        })),
    ];
    for (_, bytes) in cases.iter_mut() {
        bytes.extend_from_slice(&filler);
    }
    for (name, bytes) in &cases {
        let (result, peak, largest, took) = measure(|| read_trace(bytes).map(|t| (t.runs.len(), t.warnings)));
        match &result {
            Ok((runs, warnings)) => assert!(*runs == 0 && !warnings.is_empty(), "{name}: {runs} runs, {warnings:?}"),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        // The input is about 5 KiB; a few MiB of decoding state is the most it may cost.
        assert!(peak < 8 << 20, "{name}: peak heap growth {peak} bytes");
        assert!(largest < 4 << 20, "{name}: largest allocation {largest} bytes");
        assert!(took < Duration::from_secs(2), "{name}: took {took:?}");
    }

    // The bound is meaningful: a real trace's read does allocate in proportion to its size.
    let real = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny-cpu.msgpack")).unwrap();
    let (trace, peak, _, _) = measure(|| read_trace(&real).unwrap());
    assert!(trace.complete && peak > 1000, "peak {peak}");
}
