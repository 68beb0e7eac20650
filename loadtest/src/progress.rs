//! Progress display hooks: the library reports phases; the CLI draws them.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

/// Receives progress of a long operation, phase by phase.
pub trait Progress: Sync {
    /// A new phase with `total` units of work.
    fn phase(&self, name: &str, total: u64);
    /// `n` more units done.
    fn advance(&self, n: u64);
    /// Set the units done.
    fn set(&self, done: u64);
    /// The phase is finished.
    fn finish(&self);
}

/// Draws nothing.
pub struct Silent;

impl Progress for Silent {
    fn phase(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn set(&self, _: u64) {}
    fn finish(&self) {}
}

/// One indicatif progress bar per phase, on stderr.
#[derive(Default)]
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    /// A new display.
    pub fn new() -> Self {
        Self::default()
    }

    fn with(&self, f: impl FnOnce(&ProgressBar)) {
        if let Ok(guard) = self.bar.lock()
            && let Some(bar) = guard.as_ref()
        {
            f(bar);
        }
    }
}

impl Progress for Bars {
    fn phase(&self, name: &str, total: u64) {
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{prefix:>22.bold} [{bar:32.cyan/blue}] {human_pos}/{human_len} {per_sec} {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(name.to_string());
        if let Ok(mut guard) = self.bar.lock() {
            *guard = Some(bar);
        }
    }
    fn advance(&self, n: u64) {
        self.with(|b| b.inc(n));
    }
    fn set(&self, done: u64) {
        self.with(|b| b.set_position(done));
    }
    fn finish(&self) {
        if let Ok(mut guard) = self.bar.lock()
            && let Some(bar) = guard.take()
        {
            bar.finish();
        }
    }
}
