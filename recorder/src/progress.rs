//! A one-line progress bar with ETA on standard error, drawn only on a terminal. Steps carry a
//! weight (their expected cost), so the ETA holds when runs differ in length by 100x.

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Progress over a known number of steps.
pub struct Progress {
    total: u64,
    done: u64,
    total_weight: f64,
    done_weight: f64,
    start: Instant,
    enabled: bool,
}

impl Progress {
    /// A bar of `total` steps of `total_weight` together; silent when `quiet` or when stderr is
    /// not a terminal.
    pub fn new(total: u64, total_weight: f64, quiet: bool) -> Self {
        Progress {
            total,
            done: 0,
            total_weight,
            done_weight: 0.0,
            start: Instant::now(),
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// Seconds left, from the time per unit of weight so far (`None` before the first step).
    pub fn eta_secs(&self) -> Option<f64> {
        (self.done_weight > 0.0).then(|| self.start.elapsed().as_secs_f64() / self.done_weight * (self.total_weight - self.done_weight).max(0.0))
    }

    /// Shows what is running now.
    pub fn message(&self, msg: &str) {
        if !self.enabled {
            return;
        }
        let width = 24usize;
        let fraction = if self.total_weight > 0.0 { (self.done_weight / self.total_weight).min(1.0) } else { 1.0 };
        let filled = (fraction * width as f64) as usize;
        let eta = self.eta_secs().map_or("--".to_string(), format_secs);
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

    /// A line for the user that stays (above the bar on a terminal, on its own line otherwise).
    pub fn note(&self, msg: &str) {
        let mut err = std::io::stderr().lock();
        let _ = if self.enabled { writeln!(err, "\r\x1b[2K{msg}") } else { writeln!(err, "{msg}") };
    }

    /// One step of `weight` finished.
    pub fn inc_weighted(&mut self, weight: f64) {
        self.done += 1;
        self.done_weight += weight;
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
