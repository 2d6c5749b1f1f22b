//! One run as Chrome trace-event JSON (complete "X" events, microseconds), which Perfetto,
//! chrome://tracing and speedscope open as a timeline. Component events sit inside a
//! synthetic span per block and one for the whole forward, so the nesting is visible.

use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::load::Dataset;

use super::Export;

/// Exports the run with this `run_id` (row of the runs table).
pub struct ChromeTraceExport {
    /// Row of the runs table.
    pub run_id: u32,
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
    tid: u32,
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
    let traces = ds.runs.column("trace_id")?.u32()?;
    let runs = ds.runs.column("run")?.u32()?;
    traces
        .iter()
        .zip(runs.iter())
        .position(|(t, r)| t == Some(trace_id) && r == Some(run))
        .map(|i| i as u32)
        .ok_or_else(|| {
            let file = ds.trace_info.get(trace_id as usize).map_or("?", |t| t.file.as_str());
            Error::Invalid(format!("{file} has no run {run} (warm-up runs count only with --include-warmup)"))
        })
}

impl Export for ChromeTraceExport {
    fn write(&self, ds: &Dataset, out: &mut dyn Write) -> Result<()> {
        let i = self.run_id as usize;
        if i >= ds.runs.height() {
            return Err(Error::Invalid(format!("no run with id {i}")));
        }
        let trace_id = ds.runs.column("trace_id")?.u32()?.get(i).unwrap_or(0);
        let frames = ds.runs.column("frames")?.u32()?.get(i).unwrap_or(0);
        let tokens = ds.runs.column("tokens")?.u64()?.get(i).unwrap_or(0);
        let forward = ds.runs.column("forward_ns")?.u64()?.get(i).unwrap_or(0);
        let sync = ds.runs.column("sync")?.str()?.get(i).unwrap_or("").to_string();
        let variant = ds.runs.column("variant")?.str()?.get(i).unwrap_or("").to_string();
        let run = ds.runs.column("run")?.u32()?.get(i).unwrap_or(0);
        let file = ds.trace_info.get(trace_id as usize).map_or(String::new(), |t| t.file.clone());

        // This run's events.
        let ev = &ds.events;
        let runs = ev.column("run_id")?.u32()?;
        let comp = ev.column("component_id")?.u32()?;
        let block = ev.column("block")?.i32()?;
        let start = ev.column("start_ns")?.u64()?;
        let dur = ev.column("duration_ns")?.u64()?;
        let mut rows: Vec<(u32, i32, u64, u64)> = runs
            .iter()
            .zip(comp.iter())
            .zip(block.iter())
            .zip(start.iter())
            .zip(dur.iter())
            .filter(|((((r, _), _), _), _)| *r == Some(self.run_id))
            .map(|((((_, c), b), s), d)| (c.unwrap_or(0), b.unwrap_or(-1), s.unwrap_or(0), d.unwrap_or(0)))
            .collect();
        rows.sort_by_key(|r| r.2);

        let us = |ns: u64| ns as f64 / 1000.0;
        let mut events = vec![
            TraceEvent { name: "process_name", cat: "__metadata", ph: "M", ts: 0.0, dur: None, pid: 1, tid: 1, args: serde_json::json!({ "name": format!("{file} run {run}") }) },
            TraceEvent { name: "thread_name", cat: "__metadata", ph: "M", ts: 0.0, dur: None, pid: 1, tid: 1, args: serde_json::json!({ "name": format!("forward ({sync}-synced)") }) },
        ];
        let end = rows.iter().map(|r| r.2 + r.3).max().unwrap_or(0).max(forward);
        events.push(TraceEvent { name: "forward", cat: "forward", ph: "X", ts: 0.0, dur: Some(us(end)), pid: 1, tid: 1, args: serde_json::json!({ "frames": frames, "tokens": tokens, "variant": variant, "forward_ns": forward }) });
        // Block spans from first start to last end of each block's events.
        let mut spans: Vec<(i32, u64, u64)> = Vec::new();
        for r in rows.iter().filter(|r| r.1 >= 0) {
            match spans.iter_mut().find(|s| s.0 == r.1) {
                Some(s) => {
                    s.1 = s.1.min(r.2);
                    s.2 = s.2.max(r.2 + r.3);
                }
                None => spans.push((r.1, r.2, r.2 + r.3)),
            }
        }
        let block_names: Vec<String> = spans.iter().map(|s| format!("block {}", s.0)).collect();
        let only_block_events = rows.iter().all(|r| r.1 < 0 || ds.component_names.get(r.0 as usize).is_some_and(|n| n == "block"));
        if !only_block_events {
            for (s, name) in spans.iter().zip(&block_names) {
                events.push(TraceEvent { name, cat: "block", ph: "X", ts: us(s.1), dur: Some(us(s.2 - s.1)), pid: 1, tid: 1, args: serde_json::json!({ "block": s.0 }) });
            }
        }
        for r in &rows {
            let name = ds.component_names.get(r.0 as usize).map_or("?", |s| s.as_str());
            let cat = if r.1 >= 0 { "block" } else { "overhead" };
            let args = if r.1 >= 0 { serde_json::json!({ "block": r.1 }) } else { serde_json::json!({}) };
            events.push(TraceEvent { name, cat, ph: "X", ts: us(r.2), dur: Some(us(r.3)), pid: 1, tid: 1, args });
        }
        let doc = Document {
            trace_events: events,
            display_time_unit: "ms",
            metadata: serde_json::json!({ "file": file, "run": run, "sync": sync, "frames": frames, "tokens": tokens }),
        };
        serde_json::to_writer(&mut *out, &doc)?;
        out.write_all(b"\n")?;
        Ok(())
    }
}
