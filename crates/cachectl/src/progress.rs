//! Progress of a hash run on a terminal: bytes done, rate, files left.
//!
//! Shown only when stderr is a terminal and `-q` was not given; otherwise nothing is drawn, so
//! logs and captured stderr never contain control sequences. The bar is cleared when the run ends:
//! what stays on the screen is the report.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress may be drawn: stderr is a terminal and the user did not ask for quiet.
pub(crate) fn wanted(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// The progress of hashing some files; shared by the workers (every method takes `&self`).
#[derive(Debug)]
pub(crate) struct HashProgress {
    bar: Option<ProgressBar>,
    files_left: AtomicU64,
}

impl HashProgress {
    /// Progress over `files` files of `bytes` bytes in all, drawn on stderr if `visible`.
    pub(crate) fn new(visible: bool, files: u64, bytes: u64) -> Self {
        let bar = (visible && files > 0).then(|| {
            let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "hashing {bytes}/{total_bytes} ({binary_bytes_per_sec}, {msg} left, eta {eta}) [{wide_bar}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let progress = Self {
            bar,
            files_left: AtomicU64::new(files),
        };
        progress.show_files_left(files);
        progress
    }

    /// `bytes` more were hashed.
    pub(crate) fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// A file is done; `unread` of its bytes (those counted in the total but not hashed: a file
    /// not hashed, or one that shrank) are counted as done too.
    pub(crate) fn file_done(&self, unread: u64) {
        let before = self
            .files_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            })
            .unwrap_or(0);
        let left = before.saturating_sub(1);
        self.advance(unread);
        self.show_files_left(left);
    }

    /// Clears the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn show_files_left(&self, left: u64) {
        if let Some(bar) = &self.bar {
            let plural = if left == 1 { "" } else { "s" };
            bar.set_message(format!("{left} file{plural}"));
        }
    }
}

impl Drop for HashProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_progress_counts_without_drawing() {
        let progress = HashProgress::new(false, 2, 100);
        progress.advance(60);
        progress.file_done(0);
        progress.file_done(40);
        assert!(progress.bar.is_none());
        assert_eq!(progress.files_left.load(Ordering::Relaxed), 0);
        // More files done than announced never wraps around.
        progress.file_done(0);
        progress.finish();
    }
}
