//! `mlx-analyze`: thin binary over the library: parse, run, report errors with exit codes
//! (1: failure, 2: usage or a request the data cannot serve).

mod cli;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use mlx_analyze::analysis::{analyze, Facts};
use mlx_analyze::export::chrome_trace::{find_run, ChromeTraceExport};
use mlx_analyze::export::csv::CsvExport;
use mlx_analyze::export::parquet::ParquetExport;
use mlx_analyze::export::export_to_file;
use mlx_analyze::load::{expand_inputs, load_files};
use mlx_analyze::output::write_atomic;
use mlx_analyze::render::{svg, RenderFormat, RenderManager, Target};

fn main() -> ExitCode {
    let opt = cli::Opt::parse();
    if let Err(e) = opt.check_paths() {
        eprintln!("error: {e}\n\nFor more information, try '--help'.");
        return ExitCode::from(2);
    }
    match run(&opt) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(io) = e.root_cause().downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("mlx-analyze: {e:#}");
            let usage = matches!(e.downcast_ref::<mlx_analyze::Error>(), Some(mlx_analyze::Error::Invalid(_) | mlx_analyze::Error::Pattern { .. }));
            if usage {
                eprintln!("For more information, try '--help'.");
            }
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn run(opt: &cli::Opt) -> anyhow::Result<()> {
    let (files, mut skipped) = expand_inputs(&opt.files)?;
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
        for w in &ds.warnings {
            eprintln!("mlx-analyze: warning: {w}");
        }
    }

    let facts = Facts::from_dataset(&ds)?;
    let report = mlx_analyze::analysis::analyze_facts(&ds, &facts, &opt.analyze_options())?;
    let _ = analyze; // the one-call entry point, kept for library users

    let mut manager = RenderManager::default();
    let target = opt.output.out.clone().map_or(Target::Stdout, Target::File);
    manager.add(opt.render_format(), target);
    if let Some(html) = &opt.output.html {
        manager.add(RenderFormat::Html, Target::File(html.clone()));
    }
    // Exports and charts first: the report is the last thing written.
    if let Some(path) = &opt.export.export_csv {
        export_to_file(&CsvExport, &ds, path).with_context(|| format!("exporting CSV to {}", path.display()))?;
    }
    if let Some(path) = &opt.export.export_parquet {
        export_to_file(&ParquetExport, &ds, path).with_context(|| format!("exporting Parquet to {}", path.display()))?;
    }
    if let Some(path) = &opt.export.chrome_trace {
        let run_id = match opt.export.run {
            Some(n) => find_run(&ds, 0, n)?,
            None => facts
                .runs
                .iter()
                .find(|r| r.trace_id == 0 && r.sync == trace_format::SyncMode::Component)
                .or_else(|| facts.runs.iter().find(|r| r.trace_id == 0))
                .map(|r| r.run_id)
                .context("the first trace has no runs to export")?,
        };
        export_to_file(&ChromeTraceExport { run_id }, &ds, path)
            .with_context(|| format!("exporting Chrome trace to {}", path.display()))?;
    }
    if let Some(dir) = &opt.output.charts {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for chart in svg::all(&report)? {
            let path = dir.join(format!("{}.svg", chart.name));
            write_atomic(&path, chart.svg.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    manager.write(&report)?;
    Ok(())
}
