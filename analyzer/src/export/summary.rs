//! `--export-summary DIR`: per-trace summaries as hive-partitioned Parquet, for rankings and
//! machine comparisons over thousands of traces with DuckDB or Spark (`docs/scale.md`).
//!
//! One row per (trace, variant, sync, frames, component): how many runs, the median, mean,
//! minimum and maximum of the component's time per run (all its events of a run summed), its
//! calls per run and costs per invocation, and the median forward of the same runs. Runs of
//! attributed rounds count only as their plain reference forwards (the perturbed runs measure
//! something else; their attribution is the report's). Trace columns identify the recording
//! (file, start time, host, GPU, dtype, model, resolution, calibrated ceilings).
//!
//! Files: `DIR/machine=M/backend=B/preset=P/part-HASH.parquet`, one per partition and export.
//! The partition values are escaped as Hive and Spark escape them (`%XX` for `/`, `=`, `%`,
//! control characters and the other characters `escape` lists; an empty value is
//! `__HIVE_DEFAULT_PARTITION__`, read as NULL), and are not repeated inside the files. HASH
//! is a stable hash of the partition's traces (name, start time, host, runs), so exporting the
//! same traces again names the same files, which are replaced only with `--force`, while
//! other traces' exports into the same DIR add files beside them.

use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars_io::parquet::write::{KeyValueMetadata, ParquetWriter};

use crate::error::{Error, Result};
use crate::load::Dataset;
use crate::output::{check_target, write_atomic_with};
use crate::tables::runs::{FORWARD_NS, FRAMES, PERTURB_KIND, RUN_ID, SYNC, TOKENS, TRACE_ID, VARIANT};

use super::parquet::{EXPORT_KEY, EXPORT_VERSION};

/// The `kind` of a summary in the [`EXPORT_KEY`] metadata.
pub(crate) const SUMMARY_KIND: &str = "mlx-analyze summary";

/// The partition columns, outermost first (directory names, not file columns).
pub(crate) const PARTITION_COLUMNS: [&str; 3] = ["machine", "backend", "preset"];

/// Columns of the summary files, in order.
pub(crate) const SUMMARY_COLUMNS: [&str; 26] = [
    "file",
    "start_time",
    "host",
    "gpu",
    "dtype",
    "blocks",
    "dim",
    "resolution",
    "mlx_version",
    "matmul_flops_per_s",
    "bandwidth_bytes_per_s",
    "variant",
    "sync",
    "frames",
    "tokens",
    "component",
    "runs",
    "calls",
    "median_ns",
    "mean_ns",
    "min_ns",
    "max_ns",
    "forward_median_ns",
    "share",
    "flops",
    "bytes",
];

/// The summary rows, with the dataset's `trace_id` first, then the partition columns.
fn summary_with_traces(ds: &Dataset) -> Result<DataFrame> {
    let tr = &ds.traces;
    let gpu: Vec<Option<String>> = tr.column("gpu_name")?.str()?.iter().map(|g| g.filter(|g| !g.is_empty()).map(str::to_string)).collect();
    let resolution: Vec<String> = tr
        .column("height")?
        .u32()?
        .iter()
        .zip(tr.column("width")?.u32()?.iter())
        .map(|(h, w)| format!("{}x{}", h.unwrap_or(0), w.unwrap_or(0)))
        .collect();
    let mut traces = tr.select([
        "trace_id",
        "machine",
        "backend",
        "preset",
        "file",
        "start_time",
        "host",
        "dtype",
        "blocks",
        "dim",
        "mlx_version",
        "matmul_flops_per_s",
        "bandwidth_bytes_per_s",
    ])?;
    traces.with_column(Column::new("gpu".into(), gpu))?;
    traces.with_column(Column::new("resolution".into(), resolution))?;
    let names = DataFrame::new(
        ds.component_names.len(),
        vec![
            Column::new("component_id".into(), (0..ds.component_names.len() as u32).collect::<Vec<u32>>()),
            Column::new("component".into(), ds.component_names.clone()),
        ],
    )?;
    let runs = ds
        .runs_frame()?
        .lazy()
        .filter(col(PERTURB_KIND).is_null().or(col(PERTURB_KIND).eq(lit("reference"))))
        .select([RUN_ID, TRACE_ID, VARIANT, SYNC, FRAMES, TOKENS, FORWARD_NS].map(col));
    let keys = [col("trace_id"), col("variant"), col("sync"), col("frames"), col("component_id")];
    let per_component = ds
        .components
        .clone()
        .lazy()
        .select([col("run_id"), col("component_id"), col("flops"), col("bytes"), col("calls"), col("total_ns")])
        .join(runs, [col("run_id")], [col("run_id")], JoinArgs::new(JoinType::Inner))
        .group_by(keys.clone())
        .agg([
            col("tokens").max().alias("tokens"),
            len().cast(DataType::UInt32).alias("runs"),
            col("calls").cast(DataType::Float64).median().alias("calls"),
            col("total_ns").cast(DataType::Float64).median().alias("median_ns"),
            col("total_ns").cast(DataType::Float64).mean().alias("mean_ns"),
            col("total_ns").min().alias("min_ns"),
            col("total_ns").max().alias("max_ns"),
            col("forward_ns").cast(DataType::Float64).median().alias("forward_median_ns"),
            col("flops").median().alias("flops"),
            col("bytes").median().alias("bytes"),
        ])
        .with_column(
            when(col("forward_median_ns").gt(lit(0.0)))
                .then(col("median_ns") / col("forward_median_ns"))
                .otherwise(lit(NULL).cast(DataType::Float64))
                .alias("share"),
        )
        .join(names.lazy(), [col("component_id")], [col("component_id")], JoinArgs::new(JoinType::Left))
        .join(traces.lazy(), [col("trace_id")], [col("trace_id")], JoinArgs::new(JoinType::Left))
        .sort_by_exprs(keys, SortMultipleOptions::default().with_maintain_order(true));
    let mut columns: Vec<Expr> = vec![col("trace_id")];
    columns.extend(PARTITION_COLUMNS.iter().map(|c| col(*c)));
    columns.extend(SUMMARY_COLUMNS.iter().map(|c| col(*c)));
    Ok(per_component.select(columns).collect()?)
}

/// Characters escaped in partition values: those Hive and Spark escape, and those some file
/// systems refuse.
const ESCAPED: &str = "\"#%'*/:=?\\{}[]^<>|";

/// A partition value as Hive and Spark write it in a directory name: `%XX` (upper-case hex of
/// each UTF-8 byte) for control characters and [`ESCAPED`]; an empty value is
/// `__HIVE_DEFAULT_PARTITION__` (read back as NULL).
pub(crate) fn escape(value: &str) -> String {
    if value.is_empty() {
        return "__HIVE_DEFAULT_PARTITION__".into();
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() || ESCAPED.contains(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The directory of a partition under `dir`.
pub(crate) fn partition_dir(dir: &Path, values: &[&str; 3]) -> Result<PathBuf> {
    let mut path = dir.to_path_buf();
    for (key, value) in PARTITION_COLUMNS.iter().zip(values) {
        let name = format!("{key}={}", escape(value));
        if name.len() > 255 {
            return Err(Error::Invalid(format!("--export-summary: {key} {value:?} is too long for a directory name ({} bytes escaped; at most 255)", name.len())));
        }
        path.push(name);
    }
    Ok(path)
}

/// FNV-1a, 64 bits: stable across builds and platforms (file names must not change with the
/// compiler).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The part files of a summary: (path, rows without the partition columns), in the order of
/// the partitions' first traces.
pub(crate) fn parts(ds: &Dataset, dir: &Path) -> Result<Vec<(PathBuf, DataFrame)>> {
    let df = summary_with_traces(ds)?;
    // Runs per trace, for the file names.
    let mut runs_of = vec![0usize; ds.trace_info.len()];
    for run in &ds.runs {
        if let Some(n) = runs_of.get_mut(run.trace_id as usize) {
            *n += 1;
        }
    }
    // Partitions and their traces.
    let mut partitions: Vec<([String; 3], Vec<u32>)> = Vec::new();
    for (t, info) in ds.trace_info.iter().enumerate() {
        let key = [crate::load::machine_of(&info.metadata), info.metadata.backend.clone(), info.metadata.preset.clone()];
        match partitions.iter_mut().find(|(k, _)| *k == key) {
            Some((_, traces)) => traces.push(t as u32),
            None => partitions.push((key, vec![t as u32])),
        }
    }
    let trace_ids = df.column("trace_id")?.u32()?;
    let mut out = Vec::with_capacity(partitions.len());
    for ([machine, backend, preset], traces) in partitions {
        let mask: BooleanChunked = trace_ids.iter().map(|t| Some(t.is_some_and(|t| traces.contains(&t)))).collect();
        let rows = df.filter(&mask)?;
        if rows.height() == 0 {
            continue;
        }
        // The partition's traces, in a stable order, name its file.
        let mut ids: Vec<String> = traces
            .iter()
            .map(|&t| {
                let info = &ds.trace_info[t as usize];
                let base = Path::new(&info.file).file_name().map_or(info.file.clone(), |b| b.to_string_lossy().into_owned());
                format!("{base}\t{}\t{}\t{}", info.metadata.start_time, info.metadata.host, runs_of[t as usize])
            })
            .collect();
        ids.sort();
        let hash = fnv1a(format!("summary v{EXPORT_VERSION}\n{}", ids.join("\n")).as_bytes());
        let path = partition_dir(dir, &[&machine, &backend, &preset])?.join(format!("part-{hash:016x}.parquet"));
        let mut drop: Vec<&str> = vec!["trace_id"];
        drop.extend(PARTITION_COLUMNS);
        out.push((path, rows.drop_many(drop)));
    }
    Ok(out)
}

/// Writes the summary under `dir`; returns the files written. Every file is checked first
/// (none is replaced without `--force`, no input ever), then each is written atomically.
pub fn write_summary(ds: &Dataset, dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Invalid(format!("--export-summary {}: exists and is not a directory", dir.display())));
    }
    let parts = parts(ds, dir)?;
    for (path, _) in &parts {
        check_target(path).map_err(|reason| Error::Invalid(format!("--export-summary {}: {}: {reason}", dir.display(), path.display())))?;
    }
    let document = serde_json::json!({ "kind": SUMMARY_KIND, "version": EXPORT_VERSION }).to_string();
    let mut written = Vec::with_capacity(parts.len());
    for (path, mut rows) in parts {
        let parent = path.parent().expect("a partition directory");
        crate::output::create_dirs(parent)?;
        write_atomic_with(&path, |w: &mut dyn Write| {
            ParquetWriter::new(w)
                .with_key_value_metadata(Some(KeyValueMetadata::from_static(vec![(EXPORT_KEY.to_string(), document.clone())])))
                .finish(&mut rows)?;
            Ok(())
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_hive() {
        assert_eq!(escape("cpu-2core"), "cpu-2core");
        assert_eq!(escape("a/b=c%d"), "a%2Fb%3Dc%25d");
        assert_eq!(escape(""), "__HIVE_DEFAULT_PARTITION__");
        assert_eq!(escape("x\ny"), "x%0Ay");
        assert_eq!(escape("NVIDIA H200"), "NVIDIA H200");
        assert_eq!(escape(".."), "..");
    }

    #[test]
    fn hash_is_stable() {
        // FNV-1a test vectors.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
    }
}
