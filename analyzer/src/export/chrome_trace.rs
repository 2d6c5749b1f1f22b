//! Runs as Chrome trace-event JSON (complete "X" events, microseconds), which Perfetto,
//! chrome://tracing and speedscope open as a timeline. Every chosen run is its own track: the
//! process is the trace file, the thread the run. Component events sit inside a synthetic span
//! per block and one for the whole forward, so the nesting is visible.
//!
//! Times are derived from the recorded integer nanoseconds so that nesting survives the
//! viewers' floating point: starts and ends are rounded once each to a grid of 1/1024 µs, finer
//! than a nanosecond, on which double-precision addition is exact, so `ts + dur` as a viewer
//! computes it is the end's grid point, and rounding is monotone: an event that ends inside its
//! parent in nanoseconds ends inside it on screen. (Converting start and duration to decimal
//! microseconds separately put child ends one unit in the last place after their parent's.)
//!
//! Names are what should merge across blocks: a component event is named by the component alone
//! and carries no per-block arguments (speedscope keys frames by name and arguments, so a
//! block number there made one `sdpa` row per block); the block is the parent span's name.

use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::load::Dataset;

use super::Export;

/// Exports the run with this `run_id` (row of the runs table) alone.
pub struct ChromeTraceExport {
    /// Row of the runs table.
    pub run_id: u32,
}

/// Exports several runs, one track each, in the order given.
pub struct ChromeTraceRuns {
    /// Rows of the runs table.
    pub run_ids: Vec<u32>,
}

#[derive(Serialize)]
struct TraceEvent<'a> {
    name: &'a str,
    cat: &'a str,
    ph: &'a str,
    ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u32,
    // u64: a run numbered u32::MAX still gets its own thread (run + 1).
    tid: u64,
    /// Left out where it would only repeat the name: speedscope keys (and shows) frames by
    /// name and arguments, even empty ones.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    args: serde_json::Value,
}

/// The document written.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "traceEvents")]
    trace_events: Vec<TraceEvent<'a>>,
    #[serde(rename = "displayTimeUnit")]
    display_time_unit: &'a str,
    metadata: serde_json::Value,
}

/// Finds a run: the run recorded as `run` in trace `trace_id`.
pub fn find_run(ds: &Dataset, trace_id: u32, run: u32) -> Result<u32> {
    ds.runs
        .iter()
        .position(|r| r.trace_id == trace_id && r.run == run)
        .map(|i| i as u32)
        .ok_or_else(|| {
            let file = ds.trace_info.get(trace_id as usize).map_or("?", |t| t.file.as_str());
            Error::Invalid(format!("{file} has no run {run} (warm-up runs count only with --include-warmup)"))
        })
}

/// Grid points per microsecond: a power of two, so that times on the grid add exactly in
/// double precision, and more than 1000, so that every nanosecond has its own point.
pub(crate) const GRID_PER_US: u64 = 1024;

/// `ns` in microseconds on the 1/1024 µs grid (nearest point; exact in a double).
fn grid(ns: u64) -> u64 {
    // Saturates: a time past 2^64 grid points (about 570 years) stays the last point.
    u64::try_from((u128::from(ns) * u128::from(GRID_PER_US) + 500) / 1000).unwrap_or(u64::MAX)
}

/// Start and duration in microseconds for an event from `start_ns` to `end_ns`: both on the
/// 1/1024 µs grid, so `ts + dur` in double precision is exactly the end's grid point, and
/// rounding to the grid is monotone: an event inside another in nanoseconds is inside it as
/// any viewer computes it. `(ts * 1000).round()` gives back the nanoseconds (below 2^43 µs).
pub(crate) fn micros(start_ns: u64, end_ns: u64) -> (f64, f64) {
    let a = grid(start_ns);
    let b = grid(end_ns.max(start_ns));
    (a as f64 / GRID_PER_US as f64, b.saturating_sub(a) as f64 / GRID_PER_US as f64)
}

/// Which runs to export: parsed from `--run`. Items separated by commas: a run index as
/// recorded (`3`), a range (`2-5`), a synchronisation mode (`component`, `none`, ...: every run
/// of that mode), or `all`; any item may be prefixed by a trace file name and `:` to apply to
/// that trace only (`cpu.msgpack:3`); otherwise it applies to every loaded trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSelection {
    items: Vec<(Option<String>, Pick)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pick {
    All,
    Sync(String),
    Range(u32, u32),
}

impl RunSelection {
    /// Every loaded run.
    pub fn all() -> Self {
        RunSelection { items: vec![(None, Pick::All)] }
    }

    /// Parses a selection (see the type's documentation).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut items = Vec::new();
        for raw in text.split(',') {
            let raw = raw.trim();
            if raw.is_empty() {
                return Err(format!("`{text}`: empty item; expected run numbers such as 3, 1,4 or 2-5, a sync mode, or all"));
            }
            let (file, what) = match raw.rsplit_once(':') {
                Some((f, w)) if !f.is_empty() => (Some(f.to_string()), w),
                _ => (None, raw),
            };
            let number = |s: &str| -> std::result::Result<u32, String> {
                s.trim().parse::<u32>().map_err(|_| format!("`{raw}` is not a run number, a range such as 2-5, a sync mode, or all"))
            };
            let pick = match what {
                "all" => Pick::All,
                w if w.chars().all(|c| c.is_ascii_alphabetic()) && !w.is_empty() => Pick::Sync(w.to_string()),
                w => match w.split_once('-') {
                    Some((a, b)) if !a.is_empty() => {
                        let (a, b) = (number(a)?, number(b)?);
                        if a > b {
                            return Err(format!("`{raw}`: the range runs backwards"));
                        }
                        Pick::Range(a, b)
                    }
                    _ => {
                        let n = number(w)?;
                        Pick::Range(n, n)
                    }
                },
            };
            items.push((file, pick));
        }
        Ok(RunSelection { items })
    }

    /// The runs table rows selected, in table order. Errors name what matched nothing.
    pub fn resolve(&self, ds: &Dataset) -> Result<Vec<u32>> {
        let rows: Vec<(u32, u32, &str)> = ds.runs.iter().map(|r| (r.trace_id, r.run, r.sync.as_str())).collect();
        let matches_file = |file: &Option<String>, trace: u32| -> bool {
            let Some(f) = file else { return true };
            let name = ds.trace_info.get(trace as usize).map_or("", |t| t.file.as_str());
            name == f || std::path::Path::new(name).file_name().is_some_and(|b| b.to_string_lossy() == *f)
        };
        // Nothing to choose from is not the selection's fault (a header-only trace, all warm-up).
        if rows.is_empty() {
            return Err(Error::Invalid(
                "--chrome-trace: the loaded traces hold no runs to export (a header-only or interrupted trace; warm-up runs count only with --include-warmup)".into(),
            ));
        }
        let mut chosen = vec![false; rows.len()];
        for (file, pick) in &self.items {
            if file.is_some() && !(0..ds.trace_info.len() as u32).any(|t| matches_file(file, t)) {
                let names: Vec<&str> = ds.trace_info.iter().map(|t| t.file.as_str()).collect();
                return Err(Error::Invalid(format!(
                    "--run: no loaded trace is named {:?}; loaded: {}",
                    file.as_deref().unwrap_or(""),
                    names.join(", ")
                )));
            }
            let mut any = false;
            for (i, (trace, run, sync)) in rows.iter().enumerate() {
                let hit = matches_file(file, *trace)
                    && match pick {
                        Pick::All => true,
                        Pick::Sync(s) => *sync == s.as_str(),
                        Pick::Range(a, b) => (*a..=*b).contains(run),
                    };
                if hit {
                    chosen[i] = true;
                    any = true;
                }
            }
            if !any {
                let what = match pick {
                    Pick::All => "runs".to_string(),
                    Pick::Sync(s) => format!("{s}-synced runs"),
                    Pick::Range(a, b) if a == b => format!("run {a}"),
                    Pick::Range(a, b) => format!("run in {a}-{b}"),
                };
                let text = match (file, ds.trace_info.as_slice()) {
                    (Some(f), _) => format!("{f} has no {what}"),
                    (None, [one]) => format!("{} has no {what}", one.file),
                    (None, _) => format!("no loaded trace has {what}"),
                };
                return Err(Error::Invalid(format!("--run: {text} (warm-up runs count only with --include-warmup)")));
            }
        }
        Ok(chosen.iter().enumerate().filter(|(_, c)| **c).map(|(i, _)| i as u32).collect())
    }
}

/// One line for the user: how many runs of which traces were exported, one track each.
pub fn describe(ds: &Dataset, run_ids: &[u32]) -> Result<String> {
    let mut per_trace: Vec<(u32, Vec<u32>)> = Vec::new();
    for &id in run_ids {
        let (t, r) = ds.runs.get(id as usize).map_or((0, 0), |r| (r.trace_id, r.run));
        match per_trace.iter_mut().find(|(x, _)| *x == t) {
            Some((_, v)) => v.push(r),
            None => per_trace.push((t, vec![r])),
        }
    }
    let parts: Vec<String> = per_trace
        .iter()
        .map(|(t, v)| {
            let file = ds.trace_info.get(*t as usize).map_or("?", |i| i.file.as_str());
            format!("{file}: run(s) {}", ranges(v))
        })
        .collect();
    Ok(format!(
        "Chrome trace: {} run(s), one track each (process: trace file, thread: run); {}",
        run_ids.len(),
        parts.join("; ")
    ))
}

/// `0-3, 7, 9-10` for a list of numbers.
fn ranges(values: &[u32]) -> String {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if j > i { format!("{}-{}", v[i], v[j]) } else { v[i].to_string() });
        i = j + 1;
    }
    out.join(", ")
}

impl Export for ChromeTraceExport {
    fn write(&self, ds: &Dataset, out: &mut dyn Write) -> Result<()> {
        ChromeTraceRuns { run_ids: vec![self.run_id] }.write(ds, out)
    }
}

/// What the trace shows of a run.
struct RunInfo {
    trace_id: u32,
    run: u32,
    frames: u32,
    tokens: u64,
    forward_ns: u64,
    sync: String,
    variant: String,
}

impl RunInfo {
    /// The run in row `i` of the runs table.
    fn of(ds: &Dataset, i: u32) -> RunInfo {
        let r = &ds.runs[i as usize];
        RunInfo {
            trace_id: r.trace_id,
            run: r.run,
            frames: r.frames,
            tokens: r.tokens,
            forward_ns: r.forward_ns,
            sync: r.sync.as_str().to_string(),
            variant: r.variant.clone(),
        }
    }
}

/// One event of a chosen run: (component index, block or -1, start ns, duration ns).
type Ev = (u32, i32, u64, u64);

impl Export for ChromeTraceRuns {
    fn write(&self, ds: &Dataset, out: &mut dyn Write) -> Result<()> {
        if self.run_ids.is_empty() {
            return Err(Error::Invalid("no runs chosen for the Chrome trace".into()));
        }
        let n = ds.runs.len();
        if let Some(bad) = self.run_ids.iter().find(|&&i| i as usize >= n) {
            return Err(Error::Invalid(format!("no run with id {bad}")));
        }
        let mut rows = chosen_events(ds, &self.run_ids)?;
        // One name per block seen, not per block index: a crafted trace with block 2^31-1 must
        // not cost a string for every index below it.
        let block_names: std::collections::HashMap<i32, String> =
            rows.iter().flatten().map(|r| r.1).filter(|b| *b >= 0).map(|b| (b, format!("block {b}"))).collect();
        let files: Vec<String> = ds.trace_info.iter().map(|t| t.file.clone()).collect();
        let mut events: Vec<TraceEvent> = Vec::new();
        let mut named_processes: Vec<u32> = Vec::new();
        let mut listed = Vec::new();
        for (k, &id) in self.run_ids.iter().enumerate() {
            let r = RunInfo::of(ds, id);
            let pid = r.trace_id + 1;
            let tid = u64::from(r.run) + 1;
            let file = files.get(r.trace_id as usize).map_or("", |f| f.as_str());
            if !named_processes.contains(&pid) {
                named_processes.push(pid);
                events.push(TraceEvent { name: "process_name", cat: "__metadata", ph: "M", ts: 0.0, dur: None, pid, tid: 0, args: serde_json::json!({ "name": file }) });
            }
            let label = format!("run {}: {}, {}-synced, {} frames ({} tokens)", r.run, r.variant, r.sync, r.frames, r.tokens);
            events.push(TraceEvent { name: "thread_name", cat: "__metadata", ph: "M", ts: 0.0, dur: None, pid, tid, args: serde_json::json!({ "name": label }) });
            events.push(TraceEvent { name: "thread_sort_index", cat: "__metadata", ph: "M", ts: 0.0, dur: None, pid, tid, args: serde_json::json!({ "sort_index": k }) });
            listed.push(serde_json::json!({
                "file": file, "run": r.run, "variant": r.variant, "sync": r.sync, "frames": r.frames,
                "tokens": r.tokens, "forward_ns": r.forward_ns, "pid": pid, "tid": tid,
            }));
            run_timeline(ds, &r, (pid, tid), &mut rows[k], &block_names, &mut events);
        }
        let mut metadata = serde_json::json!({ "runs": listed, "time": "ts and dur in microseconds on a 1/1024 us grid from the recorded nanoseconds; ts + dur is exact in double precision; round(ts * 1000) gives the nanoseconds back" });
        if self.run_ids.len() == 1 {
            let r = RunInfo::of(ds, self.run_ids[0]);
            let file = files.get(r.trace_id as usize).cloned().unwrap_or_default();
            metadata["file"] = file.into();
            metadata["run"] = r.run.into();
            metadata["sync"] = r.sync.into();
            metadata["frames"] = r.frames.into();
            metadata["tokens"] = r.tokens.into();
        }
        let doc = Document { trace_events: events, display_time_unit: "ms", metadata };
        serde_json::to_writer(&mut *out, &doc)?;
        out.write_all(b"\n")?;
        Ok(())
    }
}

/// The chosen runs' events, one list per chosen run (in the order chosen), in table order.
fn chosen_events(ds: &Dataset, run_ids: &[u32]) -> Result<Vec<Vec<Ev>>> {
    let wanted: std::collections::HashMap<u32, usize> = run_ids.iter().enumerate().map(|(k, &id)| (id, k)).collect();
    let ev = &ds.events;
    let runs = ev.column("run_id")?.u32()?;
    let comp = ev.column("component_id")?.u32()?;
    let block = ev.column("block")?.i32()?;
    let start = ev.column("start_ns")?.u64()?;
    let dur = ev.column("duration_ns")?.u64()?;
    let mut rows: Vec<Vec<Ev>> = vec![Vec::new(); run_ids.len()];
    for ((((r, c), b), s), d) in runs.iter().zip(comp.iter()).zip(block.iter()).zip(start.iter()).zip(dur.iter()) {
        if let Some(&k) = r.and_then(|r| wanted.get(&r)) {
            rows[k].push((c.unwrap_or(0), b.unwrap_or(-1), s.unwrap_or(0), d.unwrap_or(0)));
        }
    }
    Ok(rows)
}

/// One run's track: a span for the whole forward (unless the run's one event is the forward
/// itself), then the block spans and the events, each in time order.
fn run_timeline<'a>(
    ds: &'a Dataset,
    r: &RunInfo,
    (pid, tid): (u32, u64),
    evs: &mut [Ev],
    block_names: &'a std::collections::HashMap<i32, String>,
    events: &mut Vec<TraceEvent<'a>>,
) {
    evs.sort_by_key(|e| (e.2, std::cmp::Reverse(e.3)));
    // Ends saturate: a crafted start or duration near 2^64 must not overflow.
    let end = evs.iter().map(|e| e.2.saturating_add(e.3)).max().unwrap_or(0).max(r.forward_ns);
    // A fused run's one event is the forward itself: no second span around it.
    let has_forward = evs.iter().any(|e| e.1 < 0 && ds.component_names.get(e.0 as usize).is_some_and(|n| n == "forward"));
    if !has_forward {
        let (ts, d) = micros(0, end);
        events.push(TraceEvent {
            name: "forward",
            cat: "forward",
            ph: "X",
            ts,
            dur: Some(d),
            pid,
            tid,
            args: serde_json::json!({ "frames": r.frames, "tokens": r.tokens, "variant": r.variant, "sync": r.sync, "forward_ns": r.forward_ns }),
        });
    }
    let only_block_events = evs.iter().all(|e| e.1 < 0 || ds.component_names.get(e.0 as usize).is_some_and(|n| n == "block"));
    // Spans first, then the events, each in time order: viewers that sort stably by
    // start then by length keep a span before a child of the same extent.
    let mut items: Vec<(u64, std::cmp::Reverse<u64>, u8, TraceEvent)> = Vec::new();
    if !only_block_events {
        for s in &block_spans(evs) {
            let (ts, d) = micros(s.1, s.2);
            let name = block_names.get(&s.0).map_or("block", String::as_str);
            items.push((s.1, std::cmp::Reverse(s.2.saturating_sub(s.1)), 0, TraceEvent { name, cat: "block", ph: "X", ts, dur: Some(d), pid, tid, args: serde_json::Value::Null }));
        }
    }
    for e in evs.iter() {
        let name = match ds.component_names.get(e.0 as usize) {
            Some(n) if n == "block" && e.1 >= 0 => block_names.get(&e.1).map_or("block", String::as_str),
            Some(n) => n.as_str(),
            None => "?",
        };
        let cat = if e.1 >= 0 { "block" } else { "overhead" };
        let (ts, d) = micros(e.2, e.2.saturating_add(e.3));
        items.push((e.2, std::cmp::Reverse(e.3), 1, TraceEvent { name, cat, ph: "X", ts, dur: Some(d), pid, tid, args: serde_json::Value::Null }));
    }
    items.sort_by_key(|(s, d, order, _)| (*s, *d, *order));
    events.extend(items.into_iter().map(|i| i.3));
}

/// Block spans (block, start, end) from the first start to the last end of each block's
/// events, in order of each block's first event.
fn block_spans(evs: &[Ev]) -> Vec<(i32, u64, u64)> {
    let mut spans: Vec<(i32, u64, u64)> = Vec::new();
    for e in evs.iter().filter(|e| e.1 >= 0) {
        match spans.iter_mut().find(|s| s.0 == e.1) {
            Some(s) => {
                s.1 = s.1.min(e.2);
                s.2 = s.2.max(e.2.saturating_add(e.3));
            }
            None => spans.push((e.1, e.2, e.2.saturating_add(e.3))),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_add_up_to_the_end_exactly_and_give_back_the_nanoseconds() {
        // Pairs where start and duration converted separately to decimal microseconds
        // overshoot the end.
        let mut overshoot = 0;
        for start in (0..2_000_000u64).step_by(7_919).chain([3_691_897, 24_989_363, 299_999_999_999]) {
            for len in [0u64, 1, 999, 1_001, 123_457, 4_000_003, 987_654_321, 8_260_394] {
                let end = start + len;
                if start as f64 / 1000.0 + len as f64 / 1000.0 > end as f64 / 1000.0 {
                    overshoot += 1;
                }
                let (ts, dur) = micros(start, end);
                assert_eq!((ts * 1000.0).round() as u64, start, "{start}");
                assert_eq!(((ts + dur) * 1000.0).round() as u64, end, "{start} {len}");
                // The sum is the end's own grid point: the same double as an event starting
                // at 0 and ending there (which a parent ending at `end` could be).
                let (_, whole) = micros(0, end);
                assert_eq!(ts + dur, whole, "{start} {len}");
                // Monotone: one nanosecond later never maps earlier.
                assert!(micros(0, end + 1).1 > whole);
            }
        }
        assert!(overshoot > 0, "the case the export guards against does occur");
    }

    #[test]
    fn selections_parse() {
        assert_eq!(RunSelection::parse("3").unwrap().items, vec![(None, Pick::Range(3, 3))]);
        assert_eq!(RunSelection::parse("1,4-6").unwrap().items, vec![(None, Pick::Range(1, 1)), (None, Pick::Range(4, 6))]);
        assert_eq!(RunSelection::parse("all").unwrap(), RunSelection::all());
        assert_eq!(RunSelection::parse("component").unwrap().items, vec![(None, Pick::Sync("component".into()))]);
        assert_eq!(RunSelection::parse("a.msgpack:2").unwrap().items, vec![(Some("a.msgpack".into()), Pick::Range(2, 2))]);
        for bad in ["", "-1", "abc1", "5-2", "1,,2", "x-"] {
            assert!(RunSelection::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(ranges(&[5, 1, 2, 3, 9, 10, 7]), "1-3, 5, 7, 9-10");
    }
}
