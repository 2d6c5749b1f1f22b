//! A one-line progress bar with ETA on standard error, drawn only on a terminal.

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Progress over a known number of steps.
pub struct Progress {
    total: u64,
    done: u64,
    start: Instant,
    enabled: bool,
}

impl Progress {
    /// A bar of `total` steps; silent when `quiet` or when stderr is not a terminal.
    pub fn new(total: u64, quiet: bool) -> Self {
        Progress { total, done: 0, start: Instant::now(), enabled: !quiet && std::io::stderr().is_terminal() }
    }

    /// Shows what is running now.
    pub fn message(&self, msg: &str) {
        if !self.enabled {
            return;
        }
        let width = 24usize;
        let filled = if self.total == 0 { width } else { (self.done as usize * width) / self.total as usize };
        let eta = if self.done == 0 {
            "--".to_string()
        } else {
            let per = self.start.elapsed().as_secs_f64() / self.done as f64;
            format_secs(per * (self.total - self.done) as f64)
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K[{}{}] {}/{} runs, ETA {}  {}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.done,
            self.total,
            eta,
            msg
        );
        let _ = err.flush();
    }

    /// One step finished.
    pub fn inc(&mut self) {
        self.done += 1;
    }

    /// Clears the line.
    pub fn finish(&self) {
        if self.enabled {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

fn format_secs(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
