//! `mlx-record`: parse the command line, run, report errors in one line.

use std::process::ExitCode;

use mlx_record::api::request_stop;
use mlx_record::{UsageError, cli::Opt, run};

fn main() -> ExitCode {
    mlx_record::api::ensure_fast_openblas();
    let opt = Opt::parse_args();
    // The program by its file name only: traces travel, the install location is nobody's business.
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(name) = args.first().and_then(|a| std::path::Path::new(a).file_name()).map(|n| n.to_string_lossy().into_owned()) {
        args[0] = name;
    }
    let command_line = args.join(" ");
    // First SIGINT, SIGTERM or SIGHUP (Ctrl-C, `timeout`, batch schedulers, `docker stop`, a
    // closed terminal): finish the run in progress, keep the partial trace. Second: stop now.
    let _ = ctrlc::set_handler(|| {
        if request_stop() {
            std::process::exit(130);
        }
        mlx_record::say!("\nmlx-record: interrupted, finishing the current run (interrupt again to stop now)");
    });
    explain_crashes();
    match run(opt, &command_line) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) if is_usage(&e) => {
            mlx_record::say!("error: {}\n\nFor more information, try '--help'.", mlx_record::clean_mlx_message(&format!("{e:#}")));
            ExitCode::from(2)
        }
        Err(e) => {
            mlx_record::say!("mlx-record: error: {}", mlx_record::clean_mlx_message(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

/// Usage errors, and an output that is in the way (exit code 2: nothing was done).
fn is_usage(e: &anyhow::Error) -> bool {
    e.is::<UsageError>()
        || matches!(e.downcast_ref::<trace_format::Error>(), Some(trace_format::Error::Exists { .. } | trace_format::Error::NotRegular { .. }))
}

/// A crash inside a native library (OpenBLAS, when memory runs out under a process limit) would
/// end the process with no word: say what probably happened, then let the fault take its course
/// (the previous handler, Rust's stack-overflow check, runs next).
fn explain_crashes() {
    #[cfg(unix)]
    // SAFETY: the handler only calls async-signal-safe functions (write, sigaction) on data
    // prepared before it is installed.
    unsafe {
        static mut PREVIOUS: [std::mem::MaybeUninit<libc::sigaction>; 2] = [std::mem::MaybeUninit::zeroed(), std::mem::MaybeUninit::zeroed()];
        const MESSAGE: &[u8] = b"\nmlx-record: crashed (invalid memory access). When memory runs out under a process limit \
(ulimit -v, the cgroup's memory.max) native libraries crash this way; lower the limit's use with fewer \
--blocks or smaller --frames. Completed runs are kept in the .partial trace (mlx-analyze reads it).\n";
        extern "C" fn on_fault(signal: libc::c_int) {
            unsafe {
                let _ = libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
                let slot = if signal == libc::SIGBUS { 1 } else { 0 };
                let previous = std::ptr::addr_of!(PREVIOUS[slot]).cast::<libc::sigaction>();
                libc::sigaction(signal, previous, std::ptr::null_mut());
            }
        }
        for (slot, signal) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fault as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let previous = std::ptr::addr_of_mut!(PREVIOUS[slot]).cast::<libc::sigaction>();
            libc::sigaction(signal, &action, previous);
        }
    }
}
