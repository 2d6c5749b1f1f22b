//! A dedicated decoder for run records, the bulk of every trace (millions of events).
//!
//! serde's generic path costs a visitor call per value, so about 60% of loading a large set of
//! traces went into decoding events through it. This decoder walks a run record's map itself,
//! reads each event's four integers straight from the bytes, and hands the small fields
//! (strings, the component list, the perturbation) to serde on their own sub-slices.
//!
//! It is only a fast path: on anything it does not expect (another record kind, a struct written
//! as an array, an integer out of range, a duplicate or missing field, data cut short) it gives
//! up and the reader decodes the record through serde, which then reports the problem exactly
//! as before. So both paths accept the same records and build the same values; a test checks it
//! on generated and damaged traces.

use serde::de::DeserializeOwned;

use crate::types::{ComponentInfo, Event, RunRecord};

/// The run record's fields as the writer names them: the first [`REQUIRED`] must be present,
/// the rest are optional (serde's `default`: absent means `None`).
const FIELDS: [&[u8]; 15] = [
    b"run",
    b"variant",
    b"sync",
    b"warmup",
    b"frames",
    b"tokens",
    b"forward_ns",
    b"active_memory_bytes",
    b"peak_memory_bytes",
    b"components",
    b"events",
    b"drift",
    b"graph_ns",
    b"perturbation",
    b"minor_faults",
];
const REQUIRED: usize = 11;

/// Decodes a `Run` record starting at `bytes[0]`: the record and the bytes it took, or `None`
/// when this decoder does not handle it (the serde path then decides).
pub(crate) fn decode_run(bytes: &[u8]) -> Option<(RunRecord, usize)> {
    let mut r = Bytes { bytes, pos: 0 };
    // An externally tagged enum variant: a map of one entry, the variant's name to its value.
    if r.map_len()? != 1 || r.str()? != b"Run" {
        return None;
    }
    let fields = r.map_len()?;
    let mut run = RunRecord::new(0, "", crate::types::SyncMode::None, 0, 0);
    // Which fields were seen (bits by position in FIELDS): serde rejects a repeated field, and
    // a missing one among the first REQUIRED.
    let mut seen = 0u32;
    for _ in 0..fields {
        let key = r.str()?;
        let Some(field) = FIELDS.iter().position(|f| *f == key) else {
            // A field this version does not know is ignored, as serde does (with its depth limit).
            r.serde::<serde::de::IgnoredAny>()?;
            continue;
        };
        if seen & (1 << field) != 0 {
            return None;
        }
        seen |= 1 << field;
        let u32_max = u64::from(u32::MAX);
        match field {
            0 => run.run = r.uint(u32_max)? as u32,
            1 => run.variant = r.serde()?,
            2 => run.sync = r.serde()?,
            3 => run.warmup = r.serde()?,
            4 => run.frames = r.uint(u32_max)? as u32,
            5 => run.tokens = r.uint(u64::MAX)?,
            6 => run.forward_ns = r.uint(u64::MAX)?,
            7 => run.active_memory_bytes = r.uint(u64::MAX)?,
            8 => run.peak_memory_bytes = r.uint(u64::MAX)?,
            9 => run.components = r.serde::<Vec<ComponentInfo>>()?,
            10 => run.events = r.events()?,
            11 => run.drift = r.serde()?,
            12 => run.graph_ns = r.serde()?,
            13 => run.perturbation = r.serde()?,
            _ => run.minor_faults = r.serde()?,
        }
    }
    let required = (1u32 << REQUIRED) - 1;
    (seen & required == required).then_some((run, r.pos))
}

/// A cursor over MessagePack bytes; every read returns `None` past the end or on an
/// unexpected marker.
struct Bytes<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    #[inline(always)]
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    #[inline(always)]
    fn be(&mut self, n: usize) -> Option<u64> {
        let s = self.bytes.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(match n {
            1 => u64::from(s[0]),
            2 => u64::from(u16::from_be_bytes([s[0], s[1]])),
            4 => u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])),
            8 => u64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]),
            _ => s.iter().fold(0u64, |v, &b| v << 8 | u64::from(b)),
        })
    }

    fn map_len(&mut self) -> Option<u64> {
        match self.byte()? {
            m @ 0x80..=0x8f => Some(u64::from(m & 0x0f)),
            0xde => self.be(2),
            0xdf => self.be(4),
            _ => None,
        }
    }

    fn array_len(&mut self) -> Option<u64> {
        match self.byte()? {
            m @ 0x90..=0x9f => Some(u64::from(m & 0x0f)),
            0xdc => self.be(2),
            0xdd => self.be(4),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&[u8]> {
        let len = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => self.be(1)? as usize,
            0xda => self.be(2)? as usize,
            0xdb => self.be(4)? as usize,
            _ => return None,
        };
        let s = self.bytes.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        Some(s)
    }

    /// Any MessagePack integer, as i128 so that every encoding fits.
    #[inline(always)]
    fn int(&mut self) -> Option<i128> {
        // Small non-negative values, most component ids and blocks: one byte, no dispatch.
        if let Some(&b) = self.bytes.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Some(i128::from(b));
        }
        Some(match self.byte()? {
            m @ 0x00..=0x7f => i128::from(m),
            m @ 0xe0..=0xff => i128::from(m as i8),
            0xcc => i128::from(self.be(1)?),
            0xcd => i128::from(self.be(2)?),
            0xce => i128::from(self.be(4)?),
            0xcf => i128::from(self.be(8)?),
            0xd0 => i128::from(self.be(1)? as u8 as i8),
            0xd1 => i128::from(self.be(2)? as u16 as i16),
            0xd2 => i128::from(self.be(4)? as u32 as i32),
            0xd3 => i128::from(self.be(8)? as i64),
            _ => return None,
        })
    }

    /// An unsigned integer up to `max`.
    #[inline(always)]
    fn uint(&mut self, max: u64) -> Option<u64> {
        let v = self.int()?;
        (0..=i128::from(max)).contains(&v).then_some(v as u64)
    }

    /// The events array: each event an array of four integers.
    fn events(&mut self) -> Option<Vec<Event>> {
        let n = self.array_len()?;
        // An event takes at least 5 bytes: never trust the length prefix beyond what is there.
        let room = (self.bytes.len() - self.pos) / 5;
        let mut events = Vec::with_capacity((n as usize).min(room));
        for _ in 0..n {
            // The common case, four small fields: one marker check.
            if self.bytes.get(self.pos) == Some(&0x94) {
                self.pos += 1;
            } else if self.array_len()? != 4 {
                return None;
            }
            let component = self.uint(u64::from(u32::MAX))? as u32;
            let block = self.int()?;
            let block = i32::try_from(block).ok()?;
            let start = self.uint(u64::MAX)?;
            let duration = self.uint(u64::MAX)?;
            events.push(Event(component, block, start, duration));
        }
        Some(events)
    }

    /// One value through serde, from its own sub-slice.
    fn serde<T: DeserializeOwned>(&mut self) -> Option<T> {
        let rest = self.bytes.get(self.pos..)?;
        let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(rest));
        // The value sits inside the run's map, inside the record's: serde, decoding the whole
        // record, has used one level of its limit by then (the outermost map is not counted).
        // The test below checks that both paths accept the same nesting.
        de.set_max_depth(crate::reader::MAX_DEPTH - 1);
        let value = T::deserialize(&mut de).ok()?;
        self.pos += de.position() as usize;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Drift, PerturbKind, Perturbation, Record, SyncMode};
    use serde::Serialize;

    /// The record as the writer encodes it.
    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        let mut buf = Vec::new();
        value.serialize(&mut rmp_serde::Serializer::new(&mut buf).with_struct_map()).unwrap();
        buf
    }

    /// The serde path: the record and the bytes it took, or `None` when serde rejects it.
    fn serde_path(bytes: &[u8]) -> Option<(RunRecord, usize)> {
        let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
        de.set_max_depth(crate::reader::MAX_DEPTH);
        match Record::deserialize(&mut de) {
            Ok(Record::Run(run)) => Some((run, de.position() as usize)),
            _ => None,
        }
    }
    use serde::Deserialize;

    /// Deterministic random numbers: SplitMix64, the generator of the synthetic traces and of
    /// the analyzer's bootstrap.
    struct Random(rand_xoshiro::SplitMix64);
    impl Random {
        fn new(seed: u64) -> Self {
            use rand_xoshiro::rand_core::SeedableRng;
            Random(rand_xoshiro::SplitMix64::from_seed(seed.to_le_bytes()))
        }
        fn next(&mut self) -> u64 {
            use rand_xoshiro::rand_core::Rng;
            self.0.next_u64() >> 11
        }
    }

    fn sample_run(g: &mut Random, i: u32) -> RunRecord {
        let mut run = RunRecord::new(i, if i % 2 == 0 { "baseline" } else { "fast-norm" }, SyncMode::Attributed, 5 + i, 3120 * u64::from(i + 1));
        run.warmup = i % 3 == 0;
        run.forward_ns = g.next();
        run.active_memory_bytes = g.next() >> (g.next() % 60);
        run.peak_memory_bytes = u64::MAX - (g.next() % 3);
        run.graph_ns = (i % 2 == 1).then(|| g.next() % 1_000_000);
        run.minor_faults = (i % 3 != 2).then(|| g.next() >> (g.next() % 64));
        run.drift = (i % 4 == 2).then(|| Drift { max_rel: 1e-3, mean_rel: 2e-4 });
        run.perturbation = (i % 3 == 1).then(|| Perturbation {
            kind: PerturbKind::Duplicate,
            target: Some("block/ffn/up".into()),
            copies: 4,
            round: i,
            ..Perturbation::default()
        });
        let names = ["block/norm1", "block/self_attn/qkv", "block/ffn/up", "head"];
        for (k, name) in names.iter().enumerate() {
            run.component(name, k as f64 * 1.5e9, 1e8);
        }
        let mut start = 0u64;
        for _ in 0..(g.next() % 300) {
            // Every integer width: fixints, 8/16/32/64-bit, blocks negative and positive.
            start += g.next() >> (g.next() % 64);
            let block = if g.next() % 5 == 0 { None } else { Some((g.next() % 40) as u32) };
            run.push_event((g.next() % names.len() as u64) as u32, block, start, g.next() >> (g.next() % 64));
        }
        run
    }

    #[test]
    fn takes_every_written_run_and_agrees_with_serde() {
        let mut g = Random::new(7);
        for i in 0..200 {
            let run = sample_run(&mut g, i);
            let mut bytes = encode(&Record::Run(run.clone()));
            let len = bytes.len();
            bytes.extend_from_slice(&encode(&Record::End { runs: 1 }));
            let fast = decode_run(&bytes).expect("the dedicated path takes what the writer writes");
            assert_eq!(fast.1, len);
            assert_eq!(fast.0.events, run.events);
            assert_eq!((&fast.0.variant, fast.0.peak_memory_bytes, &fast.0.components), (&run.variant, run.peak_memory_bytes, &run.components));
            assert_eq!((fast.0.graph_ns, fast.0.drift, &fast.0.perturbation), (run.graph_ns, run.drift, &run.perturbation));
            assert_eq!(fast.0.minor_faults, run.minor_faults);
            assert_eq!(Some(fast), serde_path(&bytes));
        }
    }

    #[test]
    fn damaged_or_unusual_records_decode_as_serde_decodes_them() {
        // Whatever the bytes, when the dedicated path takes a record, serde reads the same
        // record of the same length; when it declines, the reader asks serde anyway.
        let mut g = Random::new(11);
        let (mut taken, mut declined) = (0, 0);
        for i in 0..3000 {
            let run = sample_run(&mut g, i % 50);
            let mut bytes = encode(&Record::Run(run));
            match i % 4 {
                0 => {
                    let at = (g.next() as usize) % bytes.len();
                    bytes[at] = g.next() as u8;
                }
                1 => {
                    let at = (g.next() as usize) % bytes.len();
                    bytes.truncate(at);
                }
                2 => {
                    for _ in 0..3 {
                        let at = (g.next() as usize) % bytes.len();
                        bytes[at] ^= 1 << (g.next() % 8);
                    }
                }
                _ => {
                    let at = (g.next() as usize) % bytes.len();
                    bytes.insert(at, g.next() as u8);
                }
            }
            match decode_run(&bytes) {
                Some(fast) => {
                    taken += 1;
                    assert_eq!(Some(fast), serde_path(&bytes), "case {i}");
                }
                None => declined += 1,
            }
        }
        // Both branches were exercised.
        assert!(taken > 100 && declined > 100, "taken {taken}, declined {declined}");
    }

    /// A run map with extra entries: `extra` is spliced in as (key, value) pairs.
    fn run_with(extra: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut g = Random::new(3);
        let run = sample_run(&mut g, 4);
        let inner = encode(&run);
        // The run map's header is a fixmap (fewer than 16 fields): a header for the new count,
        // a map 16 from 16 fields on.
        assert_eq!(inner[0] & 0xf0, 0x80);
        let fields = usize::from(inner[0] & 0x0f) + extra.len();
        let mut out = vec![0x81, 0xa3, b'R', b'u', b'n'];
        if fields < 16 {
            out.push(0x80 | fields as u8);
        } else {
            out.push(0xde);
            out.extend_from_slice(&(fields as u16).to_be_bytes());
        }
        for (key, value) in extra {
            out.push(0xa0 | key.len() as u8);
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(value);
        }
        out.extend_from_slice(&inner[1..]);
        out
    }

    #[test]
    fn unknown_fields_duplicates_and_nesting_follow_serde() {
        let nested = |depth: usize| {
            let mut v = vec![0x91; depth];
            v.push(0x01);
            v
        };
        // An unknown field is skipped; a repeated known one is an error; nesting is limited the
        // same way whether the field is reached by one path or the other.
        let mut cases = vec![
            run_with(&[("future_field", encode(&vec![1u32, 2, 3]))]),
            run_with(&[("run", encode(&5u32))]),
            run_with(&[("events", encode(&Vec::<Event>::new()))]),
            run_with(&[("frames", encode(&-1i32))]),
            run_with(&[("frames", encode(&1.5f64))]),
        ];
        for depth in 26..34 {
            cases.push(run_with(&[("deep", nested(depth))]));
        }
        for (i, bytes) in cases.iter().enumerate() {
            let fast = decode_run(bytes);
            let slow = serde_path(bytes);
            assert!(fast.is_none() || fast == slow, "case {i}: {fast:?} against {slow:?}");
            // serde accepts nesting up to its limit: the dedicated path accepts exactly as much.
            assert_eq!(fast.is_some(), slow.is_some(), "case {i}");
        }
        // The depths tried straddle the limit.
        let deep: Vec<bool> = cases[5..].iter().map(|b| serde_path(b).is_some()).collect();
        assert!(deep.contains(&true) && deep.contains(&false), "{deep:?}");
        assert!(decode_run(&cases[0]).is_some());
        assert!(decode_run(&cases[1]).is_none());
    }

    #[test]
    fn random_bytes_after_a_run_tag_never_panic_and_agree_with_serde() {
        // The record's tag, then a run map of random entries: keys drawn from the real field
        // names and values from random MessagePack-looking bytes.
        let keys: [&[u8]; 16] = [
            b"run", b"variant", b"sync", b"warmup", b"frames", b"tokens", b"forward_ns", b"active_memory_bytes",
            b"peak_memory_bytes", b"components", b"events", b"drift", b"graph_ns", b"perturbation", b"minor_faults", b"other",
        ];
        let mut g = Random::new(23);
        for _ in 0..20_000 {
            let fields = (g.next() % 16) as u8;
            let mut bytes = vec![0x81, 0xa3, b'R', b'u', b'n', 0x80 | fields];
            for _ in 0..fields {
                let key = keys[(g.next() % keys.len() as u64) as usize];
                bytes.push(0xa0 | key.len() as u8);
                bytes.extend_from_slice(key);
                for _ in 0..(g.next() % 12) {
                    // Markers of every kind, small counts, and plain bytes.
                    let b = match g.next() % 4 {
                        0 => 0x90 | (g.next() % 5) as u8,
                        1 => [0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd2, 0xdc, 0xdd, 0xc0, 0xc3][(g.next() % 10) as usize],
                        _ => g.next() as u8,
                    };
                    bytes.push(b);
                }
            }
            if let Some(fast) = decode_run(&bytes) {
                assert_eq!(Some(fast), serde_path(&bytes), "{bytes:02x?}");
            }
        }
        // What this checks is that no input made the decoder panic or index out of bounds
        // (random maps seldom hold every required field, so few if any are taken).
    }
}
