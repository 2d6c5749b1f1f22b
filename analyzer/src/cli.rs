//! Command line: clap definitions and their mapping to the library's plain option structs.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use mlx_analyze::analysis::comparison::CompareOptions;
use mlx_analyze::analysis::{AnalyzeOptions, Rollup};
use mlx_analyze::load::LoadOptions;
use mlx_analyze::render::RenderFormat;

/// Turns mlx-record traces into rankings, scaling fits, comparisons and recommendations.
///
/// Reads any number of trace files, directories and glob patterns. Files that are not readable
/// traces are reported by name and skipped; `.partial` traces (interrupted recordings) are used
/// with a warning. Warm-up runs are excluded unless --include-warmup.
#[derive(Debug, Parser)]
#[command(name = "mlx-analyze", version, after_help = EXAMPLES)]
pub(crate) struct Opt {
    /// Trace files, directories (their *.msgpack files) or glob patterns such as 'traces/*.msgpack'.
    #[arg(required = true, value_name = "FILES")]
    pub(crate) files: Vec<String>,

    #[command(flatten)]
    pub(crate) output: OutputArgs,

    #[command(flatten)]
    pub(crate) analysis: AnalysisArgs,

    #[command(flatten)]
    pub(crate) export: ExportArgs,

    #[command(flatten)]
    pub(crate) query: QueryArgs,

    /// Decoding and bootstrap threads (0: one per core; at most 1024).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = parse_threads, allow_negative_numbers = true)]
    pub(crate) threads: usize,
}

/// Largest `--resamples`: the intervals are stable long before, and each resample costs memory
/// and time per group and component.
pub(crate) const MAX_RESAMPLES: usize = 100_000;
/// Largest `--threads`.
pub(crate) const MAX_THREADS: usize = 1024;

const EXAMPLES: &str = "Examples:
  mlx-analyze traces/*.msgpack
  mlx-analyze traces/ --format markdown --out report.md --charts charts/
  mlx-analyze 'traces/*.msgpack' --rollup seed --frames 21
  mlx-analyze traces/*.msgpack --workload 2
  mlx-analyze m2/*.msgpack h100/*.msgpack --by machine --baseline m2-max
  mlx-analyze trace.msgpack --chrome-trace run3.json --run 3
  mlx-analyze traces/ --export-parquet events.parquet && mlx-analyze events.parquet
  mlx-analyze traces/ --export-summary summaries/
  mlx-analyze traces/ --sql \"SELECT variant, MEDIAN(forward_ns) / 1000000.0 AS ms FROM runs GROUP BY variant\"";

/// `--sql`'s long help: the tables and three examples.
const SQL_HELP: &str = "Run one SQL query (polars SQL) on the loaded tables instead of the report, and print its \
result (--format table, markdown, html, csv or json; -o FILE). Tables:
  traces           one row per trace: trace_id, file, machine, host, backend, gpu_name, dtype, preset,
                   blocks, dim, height, width, calibration, \"label.KEY\" columns
  runs             one row per run: run_id, trace_id, run, variant, sync, warmup, frames, tokens,
                   forward_ns, graph_ns, memory, drift_max_rel, drift_mean_rel, perturbation
  components       per run and component: run_id, component_id, component, flops, bytes, calls, total_ns
  events           one row per event: run_id, component_id, block (-1 outside), start_ns, duration_ns
  setups           one-off costs: trace_id, variant, name, frames, tokens, duration_ns, memory_bytes
  component_names  component_id, component
  events_wide      events with their keys, as --export-parquet writes them (block NULL outside)
Examples:
  median of one self-attention call per machine, model and frame count:
    SELECT machine, preset, frames, MEDIAN(duration_ns) / 1000000.0 AS ms FROM events_wide
    WHERE component = 'block/self_attn/sdpa' AND sync = 'component' GROUP BY machine, preset, frames ORDER BY machine, preset, frames
  the slowest blocks:
    SELECT file, run, block, SUM(duration_ns) / 1000000.0 AS ms FROM events_wide
    WHERE sync = 'component' AND block IS NOT NULL GROUP BY file, run, block ORDER BY ms DESC LIMIT 10
  drift and speed per variant:
    SELECT variant, frames, COUNT(*) AS runs, MAX(drift_max_rel) AS drift_max, MEDIAN(forward_ns) / 1000000.0 AS forward_ms
    FROM runs WHERE sync = 'none' GROUP BY variant, frames ORDER BY frames, forward_ms
docs/tables.md lists every column. A query that cannot run is a usage error (exit code 2).";

/// Report format and destinations.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Output")]
pub(crate) struct OutputArgs {
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Write the report to FILE instead of standard output (`-`: standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Replace output files that exist (never an input trace, never a device or FIFO).
    #[arg(long)]
    pub(crate) force: bool,
    /// Also write an HTML report (tables and charts in one file) to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Write SVG charts (ranking, distribution, scaling, comparison) into DIR.
    #[arg(long, value_name = "DIR")]
    pub(crate) charts: Option<PathBuf>,
    /// Do not print skipped files, load warnings or the progress bar on standard error.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

/// What to analyse.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Analysis")]
pub(crate) struct AnalysisArgs {
    /// Component grouping: the recorder's fine names, or the seed report's buckets.
    #[arg(long, value_enum, default_value_t = RollupArg::Fine)]
    pub(crate) rollup: RollupArg,
    /// Frame count for the ranking, distribution and comparison (default: the largest).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub(crate) frames: Option<u32>,
    /// Compare groups of runs by a metadata key: machine, variant, dtype, backend, host,
    /// gpu_name, preset, blas, mlx_version, sync, or any label given to the recorder.
    #[arg(long, value_name = "KEY")]
    pub(crate) by: Option<String>,
    /// Baseline group of --by (default: `baseline` for variants, else the first value).
    #[arg(long, value_name = "VALUE", requires = "by")]
    pub(crate) baseline: Option<String>,
    /// Smallest relative change called significant (0.05 = 5%).
    #[arg(long, default_value_t = 0.05, value_name = "FRACTION", value_parser = parse_fraction, allow_negative_numbers = true)]
    pub(crate) noise: f64,
    /// Bootstrap resamples for the comparison intervals (1 to 100000).
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = parse_resamples, allow_negative_numbers = true)]
    pub(crate) resamples: usize,
    /// Include warm-up runs.
    #[arg(long)]
    pub(crate) include_warmup: bool,
    /// Variant shown by the ranking, tree, scaling, overhead and memory sections (default:
    /// `baseline` when the traces hold it, else every run).
    #[arg(long, value_name = "NAME")]
    pub(crate) variant: Option<String>,
    /// Report title (first heading).
    #[arg(long, value_name = "TEXT")]
    pub(crate) title: Option<String>,
    /// With --by: report only the summary, the comparison and how it was run.
    #[arg(long, requires = "by")]
    pub(crate) comparison_only: bool,
    /// Workloads to analyse, by the numbers the report lists (2, 1,3 or 1-2). A workload is a
    /// model (preset, dimensions, blocks), dtype, resolution and machine; runs of different
    /// workloads are never pooled: each gets its own section. Default: all.
    #[arg(long, value_name = "N", value_parser = parse_workloads, allow_negative_numbers = true)]
    pub(crate) workload: Option<Workloads>,
    /// Predict every component's and the fused forward's time at these lengths (tokens, e.g.
    /// 32760,65520), with the 95% interval of the predicted median, from the scaling fits.
    #[arg(long, value_name = "L[,L...]", value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) predict_tokens: Vec<u64>,
    /// Predict at these frame counts (converted with the recorded tokens per latent frame).
    #[arg(long, value_name = "F[,F...]", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) predict_frames: Vec<u32>,
}

/// The workload numbers of `--workload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Workloads(pub(crate) Vec<usize>);

fn parse_workloads(s: &str) -> Result<Workloads, String> {
    mlx_analyze::analysis::workload::parse_selection(s).map(Workloads)
}

/// Exports of the loaded events.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Exports")]
pub(crate) struct ExportArgs {
    /// Write the tidy events table as CSV.
    #[arg(long, value_name = "FILE")]
    pub(crate) export_csv: Option<PathBuf>,
    /// Write the tidy events table as Parquet.
    #[arg(long, value_name = "FILE")]
    pub(crate) export_parquet: Option<PathBuf>,
    /// Write runs as Chrome trace-event JSON, one track each (Perfetto, speedscope); see --run.
    #[arg(long, value_name = "FILE")]
    pub(crate) chrome_trace: Option<PathBuf>,
    /// Runs for --chrome-trace, one track each: run indices as recorded (3, 1,4 or 2-5), a sync
    /// mode (component, none), or all; FILE:ITEM limits an item to one trace. Default: all.
    #[arg(long, value_name = "RUNS", requires = "chrome_trace", allow_negative_numbers = true, value_parser = mlx_analyze::export::chrome_trace::RunSelection::parse)]
    pub(crate) run: Option<mlx_analyze::export::chrome_trace::RunSelection>,
    /// Write per-trace summaries (medians per trace, variant, sync, frames and component) as
    /// hive-partitioned Parquet under DIR (machine=/backend=/preset=/part-*.parquet), for
    /// DuckDB or Spark; files that exist are replaced only with --force.
    #[arg(long, value_name = "DIR")]
    pub(crate) export_summary: Option<PathBuf>,
}

/// A query instead of the report.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Query")]
pub(crate) struct QueryArgs {
    /// Run one SQL query (polars SQL) on the loaded tables and print its result instead of the
    /// report (tables: traces, runs, components, events, setups, component_names, events_wide).
    #[arg(long, value_name = "QUERY", long_help = SQL_HELP, conflicts_with_all = ["html", "charts", "by"])]
    pub(crate) sql: Option<String>,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned terminal tables.
    Table,
    /// Markdown report shaped like the seed's.
    Markdown,
    /// JSON.
    Json,
    /// Self-contained HTML with inline SVG charts.
    Html,
    /// CSV (--sql results only).
    Csv,
}

/// Rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RollupArg {
    /// The recorder's component names.
    Fine,
    /// The seed report's buckets (FFN, Self-Attention, ...).
    Seed,
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..1.0).contains(&v) {
        return Err(format!("{s} is outside [0, 1) (0.05 means 5%)"));
    }
    Ok(v)
}

fn parse_resamples(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_RESAMPLES).contains(&n) => Ok(n),
        Ok(_) => Err(format!("{s} is outside 1 to {MAX_RESAMPLES}")),
        Err(_) if s.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() => {
            Err(format!("{s} is outside 1 to {MAX_RESAMPLES}"))
        }
        Err(_) => Err(format!("`{s}` is not a whole number of at least 1")),
    }
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= MAX_THREADS => Ok(n),
        Ok(_) => Err(format!("{s} is more than {MAX_THREADS}")),
        Err(_) if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() => Err(format!("{s} is more than {MAX_THREADS}")),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

impl Opt {
    /// Refuses output paths that cannot be written (missing directory, a file where a
    /// directory is wanted) before any work is done, as usage errors.
    pub(crate) fn check_paths(&self) -> Result<(), String> {
        if self.output.format == Format::Csv && self.query.sql.is_none() {
            return Err("--format csv applies to --sql results; the report is written as table, markdown, json or html".into());
        }
        if let Some(dir) = self.export.export_summary.as_ref().filter(|d| d.exists() && !d.is_dir()) {
            return Err(format!("--export-summary {}: exists and is not a directory", dir.display()));
        }
        // The summary's part files are named after the data, so no other output may lie inside
        // its directory (a report written there was replaced by a part file, or the reverse).
        if let Some(dir) = &self.export.export_summary {
            // Resolved where it exists (links), else made absolute as given.
            let resolve = |p: &std::path::Path| std::fs::canonicalize(p).or_else(|_| std::path::absolute(p)).unwrap_or_else(|_| p.to_path_buf());
            let root = resolve(dir);
            for (flag, path) in self.output_files() {
                if mlx_analyze::output::is_stdout(path) {
                    continue;
                }
                let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                if resolve(parent).starts_with(&root) {
                    return Err(format!(
                        "{flag} {}: inside the --export-summary directory {}, whose files are named after the data; write it elsewhere",
                        path.display(),
                        dir.display()
                    ));
                }
            }
            if let Some(charts) = &self.output.charts {
                let resolved = resolve(charts);
                if resolved.starts_with(&root) || root.starts_with(&resolved) {
                    return Err(format!("--charts {} and --export-summary {}: one directory inside the other", charts.display(), dir.display()));
                }
            }
        }
        for (flag, path) in self.output_files() {
            if mlx_analyze::output::is_stdout(path) {
                continue;
            }
            if path.is_dir() {
                return Err(format!("{flag} {}: is a directory, expected a file name", path.display()));
            }
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(dir) = parent.filter(|d| !d.is_dir()) {
                return Err(format!("{flag} {}: directory {} does not exist", path.display(), dir.display()));
            }
        }
        if let Some(dir) = self.output.charts.as_ref().filter(|d| d.exists() && !d.is_dir()) {
            return Err(format!("--charts {}: exists and is not a directory", dir.display()));
        }
        // One file for two outputs: the second would replace the first. Without --out the
        // report goes to standard output.
        let stdout = PathBuf::from("-");
        let mut files = self.output_files();
        if self.output.out.is_none() {
            files.insert(0, ("(the report)", &stdout));
        }
        for (i, (flag, path)) in files.iter().enumerate() {
            for (other, other_path) in &files[..i] {
                if mlx_analyze::output::same_file(path, other_path) {
                    let what = if mlx_analyze::output::is_stdout(path) { "standard output" } else { "the same file" };
                    return Err(format!("{flag} {} and {other} {}: {what} for two outputs", path.display(), other_path.display()));
                }
            }
        }
        Ok(())
    }

    /// Every output file given, with its flag (charts, a directory, excluded).
    pub(crate) fn output_files(&self) -> Vec<(&'static str, &PathBuf)> {
        let files = [
            ("--out", &self.output.out),
            ("--html", &self.output.html),
            ("--export-csv", &self.export.export_csv),
            ("--export-parquet", &self.export.export_parquet),
            ("--chrome-trace", &self.export.chrome_trace),
        ];
        files.into_iter().filter_map(|(flag, p)| p.as_ref().map(|p| (flag, p))).collect()
    }

    /// Whether an output needs the events table itself: the analyses need only the per-run
    /// totals, so without such an output the events are not kept (ten thousand traces then fit
    /// in a few GiB). An output reading `Dataset::events` must be listed here.
    pub(crate) fn needs_events(&self) -> bool {
        self.export.export_csv.is_some() || self.export.export_parquet.is_some() || self.export.chrome_trace.is_some()
            || self.query.sql.as_deref().is_some_and(mlx_analyze::sql::needs_events)
    }

    /// Loading options.
    pub(crate) fn load_options(&self) -> LoadOptions {
        LoadOptions {
            include_warmup: self.analysis.include_warmup,
            threads: self.threads,
            skip_events: !self.needs_events(),
            progress: !self.output.quiet,
        }
    }

    /// The format of a --sql result.
    pub(crate) fn sql_format(&self) -> mlx_analyze::sql::SqlFormat {
        use mlx_analyze::sql::SqlFormat;
        match self.output.format {
            Format::Table => SqlFormat::Table,
            Format::Markdown => SqlFormat::Markdown,
            Format::Json => SqlFormat::Json,
            Format::Html => SqlFormat::Html,
            Format::Csv => SqlFormat::Csv,
        }
    }

    /// Analysis options.
    pub(crate) fn analyze_options(&self) -> AnalyzeOptions {
        AnalyzeOptions {
            rollup: match self.analysis.rollup {
                RollupArg::Fine => Rollup::Fine,
                RollupArg::Seed => Rollup::Seed,
            },
            frames: self.analysis.frames,
            compare: self.analysis.by.as_ref().map(|key| CompareOptions {
                key: key.clone(),
                baseline: self.analysis.baseline.clone(),
                frames: self.analysis.frames,
                noise: self.analysis.noise,
                resamples: self.analysis.resamples.max(1),
                threads: self.threads,
                ..CompareOptions::default()
            }),
            variant: self.analysis.variant.clone(),
            title: self.analysis.title.clone(),
            comparison_only: self.analysis.comparison_only,
            workloads: self.analysis.workload.clone().map(|w| w.0),
            predict_tokens: self.analysis.predict_tokens.clone(),
            predict_frames: self.analysis.predict_frames.clone(),
        }
    }

    /// The report format.
    pub(crate) fn render_format(&self) -> RenderFormat {
        match self.output.format {
            Format::Table => RenderFormat::Table,
            Format::Markdown => RenderFormat::Markdown,
            Format::Json => RenderFormat::Json,
            Format::Html => RenderFormat::Html,
            // Refused by check_paths without --sql, whose results are written by sql_format.
            Format::Csv => RenderFormat::Table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Opt::command().debug_assert();
    }

    #[test]
    fn by_and_rollup_parse() {
        let o = Opt::try_parse_from(["mlx-analyze", "a.msgpack", "--by", "machine", "--rollup", "seed"]).unwrap();
        let a = o.analyze_options();
        assert_eq!(a.rollup, Rollup::Seed);
        assert_eq!(a.compare.unwrap().key, "machine");
        assert!(Opt::try_parse_from(["mlx-analyze"]).is_err());
        assert!(Opt::try_parse_from(["mlx-analyze", "a", "--baseline", "x"]).is_err());
        let o = Opt::try_parse_from(["mlx-analyze", "a", "--workload", "3,1-2"]).unwrap();
        assert_eq!(o.analyze_options().workloads, Some(vec![1, 2, 3]));
        assert!(Opt::try_parse_from(["mlx-analyze", "a", "--workload", "0"]).is_err());
        assert!(Opt::try_parse_from(["mlx-analyze", "a", "--workload", "2-1"]).is_err());
    }
}
