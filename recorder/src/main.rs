//! `mlx-record`: parse the command line, run, report errors in one line.

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use mlx_record::{UsageError, cli::Opt, run, session::INTERRUPTED};

fn main() -> ExitCode {
    mlx_record::blas::ensure_fast_openblas();
    let opt = Opt::parse_args();
    // The program by its file name only: traces travel, the install location is nobody's business.
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(name) = args.first().and_then(|a| std::path::Path::new(a).file_name()).map(|n| n.to_string_lossy().into_owned()) {
        args[0] = name;
    }
    let command_line = args.join(" ");
    // First Ctrl-C: finish the run in progress, keep the partial trace. Second: stop now.
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nmlx-record: interrupted, finishing the current run (Ctrl-C again to stop now)");
    });
    match run(opt, &command_line) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) if e.is::<UsageError>() => {
            eprintln!("error: {e:#}\n\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("mlx-record: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
