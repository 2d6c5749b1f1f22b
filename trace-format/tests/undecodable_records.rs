//! A record that fails to decode while its MessagePack framing is intact is skipped with a
//! warning, and every record after it is kept; broken framing still stops reading.

use std::collections::BTreeMap;

use serde::Serialize;
use trace_format::{read_trace, Header, Metadata, Record, RunRecord, SyncMode};

fn named<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).unwrap()
}

fn run(i: u32) -> RunRecord {
    let mut run = RunRecord::new(i, "baseline", SyncMode::Component, 5, 100);
    let c = run.component("block/ffn", 1.0, 2.0);
    run.push_event(c, Some(0), 10 + u64::from(i), 20);
    run
}

/// The three runs as read back from a trace without damage (the writer's bookkeeping fields
/// are not stored).
fn clean_runs() -> Vec<RunRecord> {
    let (bytes, _) = trace_with(&[], 3);
    let trace = read_trace(&bytes).unwrap();
    assert!(trace.complete && trace.warnings.is_empty() && trace.runs.len() == 3);
    trace.runs
}

/// Header, then `middle` between run 0 and runs 1-2, then the end marker counting `end_runs`.
fn trace_with(middle: &[u8], end_runs: u32) -> (Vec<u8>, usize) {
    let mut bytes = named(&Header::new(Metadata::default()));
    bytes.extend(named(&Record::Run(run(0))));
    let at = bytes.len();
    bytes.extend_from_slice(middle);
    bytes.extend(named(&Record::Run(run(1))));
    bytes.extend(named(&Record::Run(run(2))));
    bytes.extend(named(&Record::End { runs: end_runs }));
    (bytes, at)
}

#[test]
fn a_run_with_a_field_of_the_wrong_type_is_skipped_and_later_runs_kept() {
    // {"Run": {"run": "three"}}: framing intact, contents of the wrong type.
    let bad = named(&BTreeMap::from([("Run", BTreeMap::from([("run", "three")]))]));
    let (bytes, at) = trace_with(&bad, 4);
    let trace = read_trace(&bytes).unwrap();
    assert_eq!(trace.runs, clean_runs());
    assert!(trace.complete, "the end marker after the bad record is read");
    assert_eq!(trace.warnings.len(), 2, "{:?}", trace.warnings);
    let w = &trace.warnings[0];
    assert!(w.contains(&format!("record at byte {at} unreadable")), "{w}");
    assert!(w.contains(&format!("skipped its {} byte(s)", bad.len())), "{w}");
    // The end marker counted the bad run too.
    assert_eq!(trace.warnings[1], "end marker counts 4 run(s) but 3 were read");
}

#[test]
fn an_unknown_record_kind_holding_every_messagepack_type_is_skipped_exactly() {
    // {"Thermals": [ ...one value of every MessagePack type... ]}, written byte by byte.
    let mut items: Vec<Vec<u8>> = vec![
        vec![0x05],                                  // positive fixint
        vec![0xe0],                                  // negative fixint
        vec![0xc0],                                  // nil
        vec![0xc2],                                  // false
        vec![0xc3],                                  // true
        vec![0xcc, 0xff],                            // u8
        vec![0xcd, 0x01, 0x00],                      // u16
        vec![0xce, 0, 0, 1, 0],                      // u32
        vec![0xcf, 0, 0, 0, 0, 0, 0, 1, 0],          // u64
        vec![0xd0, 0x80],                            // i8
        vec![0xd1, 0x80, 0x00],                      // i16
        vec![0xd2, 0x80, 0, 0, 0],                   // i32
        vec![0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0],       // i64
        vec![0xca, 0x3f, 0x80, 0, 0],                // f32 1.0
        vec![0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0],    // f64 1.0
        vec![0xa3, b'a', b'b', b'c'],                // fixstr
        vec![0xd4, 0x01, 0xaa],                      // fixext 1
        vec![0xd5, 0x01, 0xaa, 0xbb],                // fixext 2
        vec![0xd6, 0x01, 1, 2, 3, 4],                // fixext 4
        vec![0xd7, 0x01, 1, 2, 3, 4, 5, 6, 7, 8],    // fixext 8
        vec![0x80],                                  // empty fixmap
        vec![0x92, 0x01, 0x91, 0x02],                // fixarray [1, [2]]
        vec![0x81, 0xa1, b'k', 0x90],                // fixmap {"k": []}
    ];
    // Payloads whose length prefix is 1, 2 or 4 bytes.
    let with_len = |marker: u8, prefix: usize, payload: &[u8], ext: bool| {
        let mut v = vec![marker];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes()[4 - prefix..]);
        if ext {
            v.push(0x07);
        }
        v.extend_from_slice(payload);
        v
    };
    let payload: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    items.push(with_len(0xd9, 1, &payload[..200], false)); // str8
    items.push(with_len(0xda, 2, &payload, false)); // str16
    items.push(with_len(0xdb, 4, &payload, false)); // str32
    items.push(with_len(0xc4, 1, &payload[..10], false)); // bin8
    items.push(with_len(0xc5, 2, &payload, false)); // bin16
    items.push(with_len(0xc6, 4, &payload, false)); // bin32
    items.push(with_len(0xc7, 1, &payload[..3], true)); // ext8
    items.push(with_len(0xc8, 2, &payload, true)); // ext16
    items.push(with_len(0xc9, 4, &payload, true)); // ext32
    items.push({
        let mut v = vec![0xd8, 0x01];
        v.extend_from_slice(&payload[..16]);
        v
    }); // fixext 16
    // array16 and array32 of nils, map16 and map32 of {nil: nil}.
    items.push(vec![0xdc, 0x00, 0x02, 0xc0, 0xc0]);
    items.push(vec![0xdd, 0, 0, 0, 0x01, 0xc0]);
    items.push(vec![0xde, 0x00, 0x01, 0xc0, 0xc0]);
    items.push(vec![0xdf, 0, 0, 0, 0x02, 0xc0, 0xc0, 0x01, 0x02]);
    let mut bad = vec![0x81];
    bad.extend(named(&"Thermals"));
    bad.push(0xdc);
    bad.extend_from_slice(&(items.len() as u16).to_be_bytes());
    for item in &items {
        bad.extend_from_slice(item);
    }
    // Check the hand-made value against an independent MessagePack decoder first.
    let mut rest = bad.as_slice();
    let value: serde::de::IgnoredAny = serde::Deserialize::deserialize(&mut rmp_serde::Deserializer::new(&mut rest)).unwrap();
    let _ = value;
    assert!(rest.is_empty(), "the hand-made record is one value");

    let (bytes, at) = trace_with(&bad, 3);
    let trace = read_trace(&bytes).unwrap();
    assert_eq!(trace.runs, clean_runs());
    assert!(trace.complete);
    assert_eq!(trace.warnings.len(), 1, "{:?}", trace.warnings);
    assert!(trace.warnings[0].contains(&format!("record at byte {at} unreadable")), "{:?}", trace.warnings);
    assert!(trace.warnings[0].contains(&format!("skipped its {} byte(s)", bad.len())), "{:?}", trace.warnings);
}

#[test]
fn broken_framing_still_stops_reading_and_keeps_what_came_before() {
    // A reserved marker inside the record: its end cannot be found.
    let mut bad = vec![0x81];
    bad.extend(named(&"Run"));
    bad.push(0xc1);
    let (bytes, at) = trace_with(&bad, 3);
    let trace = read_trace(&bytes).unwrap();
    assert_eq!(trace.runs, clean_runs()[..1]);
    assert!(!trace.complete);
    assert_eq!(trace.warnings.len(), 1);
    assert!(trace.warnings[0].contains(&format!("record at byte {at} unreadable")) && trace.warnings[0].contains("reading stopped"));

    // Nesting past the depth limit: treated as broken, as the decoder does.
    let mut deep = vec![0x81];
    deep.extend(named(&"Thermals"));
    deep.extend(std::iter::repeat_n(0x91u8, trace_format::MAX_DEPTH + 5));
    deep.push(0x00);
    let (bytes, _) = trace_with(&deep, 3);
    let trace = read_trace(&bytes).unwrap();
    assert_eq!(trace.runs, clean_runs()[..1]);
    assert!(trace.warnings[0].contains("reading stopped"), "{:?}", trace.warnings);

    // Nesting within the limit is skipped.
    let mut shallow = vec![0x81];
    shallow.extend(named(&"Thermals"));
    shallow.extend(std::iter::repeat_n(0x91u8, 10));
    shallow.push(0x00);
    let (bytes, _) = trace_with(&shallow, 3);
    let trace = read_trace(&bytes).unwrap();
    assert_eq!(trace.runs.len(), 3, "{:?}", trace.warnings);
}

#[test]
fn several_bad_records_are_each_skipped() {
    let bad_kind = named(&BTreeMap::from([("Thermals", 3u8)]));
    let bad_run = named(&BTreeMap::from([("Run", 5u8)]));
    let mut middle = bad_kind.clone();
    middle.extend(&bad_run);
    middle.extend(&bad_kind);
    let (bytes, _) = trace_with(&middle, 3);
    let trace = read_trace(&bytes).unwrap();
    assert_eq!(trace.runs.len(), 3);
    assert!(trace.complete);
    assert_eq!(trace.warnings.iter().filter(|w| w.contains("skipped its")).count(), 3, "{:?}", trace.warnings);
}
