//! The recording's progress bar on standard error (indicatif), drawn only on a terminal.
//!
//! Steps carry a weight (their expected cost): the bar's position is the weight done, so its
//! ETA holds when runs differ in length by 100x, while the text counts runs.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Weight units per bar position: indicatif counts in integers.
const SCALE: f64 = 1000.0;

/// Progress over a known number of steps.
pub(crate) struct Progress {
    bar: ProgressBar,
    total: u64,
    done: u64,
    enabled: bool,
}

impl Progress {
    /// A bar of `total` steps of `total_weight` together; silent when `quiet` or when stderr is
    /// not a terminal.
    pub(crate) fn new(total: u64, total_weight: f64, quiet: bool) -> Self {
        let enabled = !quiet && std::io::stderr().is_terminal();
        let target = if enabled { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(Some(positions(total_weight)), target);
        // The template is a constant: a mistake in it is a bug, caught by the test below.
        let style = ProgressStyle::with_template("[{bar:16}] {prefix} runs, ETA {weighted_eta}  {wide_msg}")
            .expect("valid progress template")
            .progress_chars("#>-")
            .with_key("weighted_eta", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&eta_text(state.elapsed().as_secs_f64(), state.pos(), state.len().unwrap_or(0)));
            });
        bar.set_style(style);
        let progress = Progress { bar, total, done: 0, enabled };
        progress.bar.set_prefix(format!("0/{total}"));
        progress
    }

    /// Shows what is running now.
    pub(crate) fn message(&self, msg: &str) {
        self.bar.set_message(msg.to_string());
    }

    /// A line for the user that stays (above the bar on a terminal, on its own line otherwise).
    pub(crate) fn note(&self, msg: &str) {
        if self.enabled {
            self.bar.println(msg);
        } else {
            crate::say!("{msg}");
        }
    }

    /// The timed work starts now: the ETA's clock restarts, so that calibration and model
    /// building, which carry no weight, do not count as time spent on the steps.
    pub(crate) fn runs_begin(&self) {
        self.bar.reset_elapsed();
    }

    /// One step of `weight` finished.
    pub(crate) fn inc_weighted(&mut self, weight: f64) {
        self.done += 1;
        self.bar.set_prefix(format!("{}/{}", self.done, self.total));
        self.bar.inc(positions(weight));
    }

    /// More steps than planned: `steps` of `weight` together (a recording that adds
    /// repetitions until its estimates are precise).
    pub(crate) fn extend(&mut self, weight: f64, steps: u64) {
        self.total += steps;
        self.bar.inc_length(positions(weight));
        self.bar.set_prefix(format!("{}/{}", self.done, self.total));
    }

    /// Clears the line.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Time left from the time per unit of weight so far, over the whole recording (indicatif's own
/// estimate follows the recent rate, which jumps by 10x after a step whose weight was guessed
/// low); `--` before the first step.
fn eta_text(elapsed_secs: f64, done: u64, total: u64) -> String {
    if done == 0 {
        return "--".into();
    }
    let left = elapsed_secs / done as f64 * total.saturating_sub(done) as f64;
    let s = left.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Bar positions for a weight (at least one per step, so every step moves the bar).
fn positions(weight: f64) -> u64 {
    if weight.is_finite() && weight > 0.0 { ((weight * SCALE).round() as u64).max(1) } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_advances_by_weight_and_counts_steps() {
        let mut p = Progress::new(3, 10.0, true);
        assert_eq!(p.bar.length(), Some(10_000));
        p.inc_weighted(1.0);
        p.inc_weighted(8.5);
        assert_eq!(p.bar.position(), 9_500);
        assert_eq!(p.bar.prefix(), "2/3");
        // A step of no weight still counts as a step.
        p.inc_weighted(0.0);
        assert_eq!(p.bar.prefix(), "3/3");
        p.finish();
        assert!(p.bar.is_finished());
    }

    #[test]
    fn the_eta_is_the_time_per_weight_so_far_times_the_weight_left() {
        assert_eq!(eta_text(10.0, 0, 100), "--");
        // 10 s for a quarter of the weight: 30 s left.
        assert_eq!(eta_text(10.0, 250, 1000), "30s");
        assert_eq!(eta_text(60.0, 100, 1000), "9m00s");
        assert_eq!(eta_text(1800.0, 1, 3), "1h00m");
        assert_eq!(eta_text(5.0, 1000, 1000), "0s");
    }
}
