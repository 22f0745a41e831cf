//! The upload's progress bar: bytes, rate and time left, with chunk retries as lines above it.

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sdv_storage_client::client::Progress;

/// An [`indicatif`] bar on stderr (hidden when stderr is not a terminal) that also counts the
/// chunks accepted.
pub(crate) struct Bar {
    bar: ProgressBar,
    chunks: AtomicU32,
}

impl Bar {
    /// A bar for the file `label`.
    pub(crate) fn new(label: &str) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_owned());
        Self {
            bar,
            chunks: AtomicU32::new(0),
        }
    }

    /// How many chunks were accepted so far.
    pub(crate) fn chunks(&self) -> u32 {
        self.chunks.load(Ordering::SeqCst)
    }

    /// Removes the bar from the screen.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Prints a line above the bar (on stderr when the bar is hidden).
    fn line(&self, text: String) {
        if self.bar.is_hidden() {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }
}

impl Progress for Bar {
    fn started(&self, total: u64, already: u64) {
        self.bar.set_length(total);
        self.bar.set_position(already);
        self.bar.reset_eta();
    }

    fn advanced(&self, bytes: u64) {
        self.bar.inc(bytes);
        self.chunks.fetch_add(1, Ordering::SeqCst);
    }

    fn retrying(&self, index: u32, attempt: u32, delay: Duration, error: &str) {
        self.line(retry_line(index, attempt, delay, error));
    }
}

/// "chunk 7 failed (connection refused), retry 2 of 3 in 2 s".
fn retry_line(index: u32, attempt: u32, delay: Duration, error: &str) -> String {
    let retries = crate::documents::retry_delays().len();
    let delay = if delay.subsec_millis() == 0 {
        format!("{} s", delay.as_secs())
    } else {
        format!("{} ms", delay.as_millis())
    };
    format!("chunk {index} failed ({error}), retry {attempt} of {retries} in {delay}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_reads_as_one_line() {
        assert_eq!(
            retry_line(7, 2, Duration::from_secs(2), "connection refused"),
            format!(
                "chunk 7 failed (connection refused), retry 2 of {} in 2 s",
                crate::documents::retry_delays().len()
            )
        );
        assert!(retry_line(0, 1, Duration::from_millis(50), "x").ends_with("in 50 ms"));
    }
}
