//! A one-line progress bar on stderr, drawn only when stderr is a terminal, shareable between
//! the worker threads of one experiment (`tick(&self)`).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts work units and redraws `label [#####     ] done/total` whenever the whole percentage
/// changes.
pub struct Progress {
    label: String,
    total: usize,
    done: AtomicUsize,
    enabled: bool,
}

impl Progress {
    /// A bar for `total` units, drawn only if stderr is a terminal.
    pub fn new(label: &str, total: usize) -> Self {
        Self {
            label: label.to_string(),
            total: total.max(1),
            done: AtomicUsize::new(0),
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// A bar that never draws (tests).
    #[allow(dead_code)] // used by tests/tail_memory.rs, which compiles this module too
    pub fn hidden() -> Self {
        Self {
            enabled: false,
            ..Self::new("", 1)
        }
    }

    /// One unit done (from any thread).
    pub fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let percent = |n: usize| 100 * n.min(self.total) / self.total;
        if self.enabled && percent(done) != percent(done - 1) {
            let p = percent(done);
            let filled = p * 30 / 100;
            let mut err = std::io::stderr().lock();
            // A failed write to the terminal only loses the bar.
            let _ = write!(
                err,
                "\r{} [{}{}] {p:>3}%",
                self.label,
                "#".repeat(filled),
                " ".repeat(30 - filled)
            );
            let _ = err.flush();
        }
    }

    /// Clears the line.
    pub fn finish(&self) {
        if self.enabled {
            eprint!("\r{}\r", " ".repeat(self.label.len() + 40));
        }
    }
}
