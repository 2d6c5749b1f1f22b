//! `mlx-analyze`: thin binary over the library: parse, run, report errors with exit codes
//! (1: failure, 2: usage or a request the data cannot serve).

mod cli;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use mlx_analyze::analysis::{analyze, Facts};
use mlx_analyze::export::chrome_trace;
use mlx_analyze::export::csv::CsvExport;
use mlx_analyze::export::parquet::ParquetExport;
use mlx_analyze::export::export_to_file;
use mlx_analyze::load::{expand_inputs, load_files};
use mlx_analyze::output::{self, write_atomic};
use mlx_analyze::render::{svg, RenderFormat, RenderManager, Target};

/// mimalloc: loading frees and reallocates many per-file buffers from several threads, where
/// glibc's allocator returned memory to the kernel and paid page faults to get it back. Chosen
/// here, not in the library, so that a program linking the library keeps its own allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let opt = cli::Opt::parse();
    if let Err(e) = opt.check_paths() {
        eprintln!("error: {e}\n\nFor more information, try '--help'.");
        return ExitCode::from(2);
    }
    output::allow_replace(opt.output.force);
    // SIGINT, SIGTERM, SIGHUP: no half-written temporary file is left behind.
    let _ = ctrlc::set_handler(|| {
        let removed = output::remove_temp_files();
        let what = if removed > 0 { format!("; {removed} temporary file(s) removed") } else { String::new() };
        // Outputs finished before the signal stay written: name them, never claim none was.
        let written = output::written_outputs();
        if written.is_empty() {
            eprintln!("\nmlx-analyze: interrupted{what}; no output was written");
        } else {
            let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
            eprintln!("\nmlx-analyze: interrupted{what}; already written: {}; no other output was written", names.join(", "));
        }
        std::process::exit(130);
    });
    match run(&opt) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let io = e
                .downcast_ref::<mlx_analyze::Error>()
                .and_then(mlx_analyze::Error::io_error)
                .or_else(|| e.root_cause().downcast_ref::<std::io::Error>());
            if io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) {
                return ExitCode::SUCCESS;
            }
            eprintln!("mlx-analyze: {e:#}");
            // Nothing new is left by a failed run: outputs it created are removed again.
            let removed = output::remove_created_outputs();
            if !removed.is_empty() {
                let names: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
                eprintln!("mlx-analyze: removed the output(s) this failed run had written: {}", names.join(", "));
            }
            let usage = matches!(e.downcast_ref::<mlx_analyze::Error>(), Some(mlx_analyze::Error::Invalid(_) | mlx_analyze::Error::Pattern { .. }));
            if usage {
                eprintln!("For more information, try '--help'.");
            }
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// A usage error: exit code 2.
fn invalid(message: String) -> anyhow::Error {
    mlx_analyze::Error::Invalid(message).into()
}

/// Refuses a `--by` key the traces do not have, listing the ones they have.
fn check_by_key(ds: &mlx_analyze::load::Dataset, key: &str) -> anyhow::Result<()> {
    const RUN_KEYS: [&str; 3] = ["variant", "sync", "frames"];
    let columns: Vec<String> = ds.traces.get_column_names().iter().map(|c| c.to_string()).collect();
    let known = |k: &str| RUN_KEYS.contains(&k) || (k != "trace_id" && (columns.iter().any(|c| c == k) || columns.iter().any(|c| c == &format!("label.{k}"))));
    if known(key) {
        return Ok(());
    }
    let mut keys: Vec<String> = RUN_KEYS.iter().map(|k| k.to_string()).collect();
    keys.extend(columns.iter().filter(|c| c.as_str() != "trace_id").map(|c| c.trim_start_matches("label.").to_string()));
    Err(invalid(format!("--by {key}: no metadata key {key:?}; known keys: {}", keys.join(", "))))
}

fn run(opt: &cli::Opt) -> anyhow::Result<()> {
    let (files, mut skipped) = expand_inputs(&opt.files)?;
    // No output may replace an input; every output is checked before anything is computed.
    output::protect(&files);
    for (flag, path) in opt.output_files() {
        output::check_target(path).map_err(|reason| invalid(format!("{flag} {}: {reason}", path.display())))?;
    }
    let mut ds = match load_files(&files, &opt.load_options()) {
        Ok(ds) => ds,
        Err(e) => {
            if !opt.output.quiet {
                for s in &skipped {
                    eprintln!("mlx-analyze: skipped {}: {}", s.file, s.reason);
                }
            }
            return Err(e.into());
        }
    };
    skipped.append(&mut ds.skipped);
    ds.skipped = skipped;
    if !opt.output.quiet {
        for s in &ds.skipped {
            eprintln!("mlx-analyze: skipped {}: {}", s.file, s.reason);
        }
        // At most WARNINGS_PER_FILE lines per file (a zero-filled tail gave a thousand), then
        // one line with the count of the rest.
        const WARNINGS_PER_FILE: usize = 10;
        let mut shown: Vec<(&str, usize)> = Vec::new();
        for w in &ds.warnings {
            let file = w.split(": ").next().unwrap_or("");
            let i = shown.iter().position(|(f, _)| *f == file).unwrap_or_else(|| {
                shown.push((file, 0));
                shown.len() - 1
            });
            shown[i].1 += 1;
            if shown[i].1 <= WARNINGS_PER_FILE {
                eprintln!("mlx-analyze: warning: {}", mlx_analyze::render::terminal_safe(w));
            }
        }
        for (file, n) in shown.iter().filter(|(_, n)| *n > WARNINGS_PER_FILE) {
            eprintln!("mlx-analyze: warning: {}: {} more warning(s) like these not shown", mlx_analyze::render::terminal_safe(file), n - WARNINGS_PER_FILE);
        }
    }
    if let Some(key) = &opt.analysis.by {
        check_by_key(&ds, key)?;
    }
    if let Some(query) = &opt.query.sql {
        // The query runs before anything is written: a query that cannot run writes nothing.
        let result = mlx_analyze::sql::query(&ds, query)?;
        let to_stdout = opt.output.out.as_ref().is_none_or(|p| output::is_stdout(p));
        let width = if to_stdout { mlx_analyze::render::table::terminal_width() } else { None };
        let bytes = mlx_analyze::sql::render(&result, opt.sql_format(), width)?;
        write_exports(opt, &ds)?;
        let path = opt.output.out.clone().unwrap_or_else(|| std::path::PathBuf::from("-"));
        let bytes = if to_stdout && std::io::IsTerminal::is_terminal(&std::io::stdout()) { mlx_analyze::render::terminal_safe(&String::from_utf8_lossy(&bytes)).into_owned().into_bytes() } else { bytes };
        write_atomic(&path, &bytes).with_context(|| format!("writing the query result to {}", path.display()))?;
        return Ok(());
    }

    let facts = Facts::from_dataset(&ds)?;
    let report = mlx_analyze::analysis::analyze_facts(&ds, &facts, &opt.analyze_options())?;
    let _ = analyze; // the one-call entry point, kept for library users

    let mut manager = RenderManager::default();
    let target = opt.output.out.clone().filter(|p| !output::is_stdout(p)).map_or(Target::Stdout, Target::File);
    manager.add(opt.render_format(), target);
    if let Some(html) = &opt.output.html {
        manager.add(RenderFormat::Html, Target::File(html.clone()));
    }
    // The charts' files are known only now: checked like the others before anything is written.
    let mut charts = Vec::new();
    if let Some(dir) = &opt.output.charts {
        for chart in svg::all(&report)? {
            let path = dir.join(format!("{}.svg", chart.name));
            output::check_target(&path).map_err(|reason| invalid(format!("--charts {}: {}: {reason}", dir.display(), path.display())))?;
            if let Some((flag, other)) = opt.output_files().into_iter().find(|(_, p)| output::same_file(p, &path)) {
                return Err(invalid(format!("--charts {}: chart {} is also {flag}", dir.display(), other.display())));
            }
            charts.push((path, chart.svg));
        }
    }
    // Exports and charts first: the report is the last thing written.
    write_exports(opt, &ds)?;
    if let Some(dir) = &opt.output.charts {
        output::create_dirs(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (path, svg) in &charts {
            write_atomic(path, svg.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    manager.write(&report)?;
    Ok(())
}

/// The exports asked for: summaries first (their files are known only now, and are all checked
/// before any is written), then the event exports.
fn write_exports(opt: &cli::Opt, ds: &mlx_analyze::load::Dataset) -> anyhow::Result<()> {
    if let Some(dir) = &opt.export.export_summary {
        let files = mlx_analyze::export::summary::write_summary(ds, dir)?;
        if !opt.output.quiet {
            eprintln!("mlx-analyze: wrote {} summary file(s) under {}", files.len(), dir.display());
        }
    }
    if let Some(path) = &opt.export.export_csv {
        export_to_file(&CsvExport, &ds, path).with_context(|| format!("exporting CSV to {}", path.display()))?;
    }
    if let Some(path) = &opt.export.export_parquet {
        export_to_file(&ParquetExport, &ds, path).with_context(|| format!("exporting Parquet to {}", path.display()))?;
    }
    if let Some(path) = &opt.export.chrome_trace {
        // Every chosen run (default: all), one track each, and a line saying which.
        let run_ids = opt.export.run.clone().unwrap_or_else(chrome_trace::RunSelection::all).resolve(&ds)?;
        if !opt.output.quiet {
            eprintln!("mlx-analyze: {}", chrome_trace::describe(&ds, &run_ids)?);
        }
        export_to_file(&chrome_trace::ChromeTraceRuns { run_ids }, &ds, path)
            .with_context(|| format!("exporting Chrome trace to {}", path.display()))?;
    }
    Ok(())
}
