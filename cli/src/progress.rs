//! The upload's progress bar: bytes, rate and time left, with chunk retries as lines above it.
//! When stderr is not a terminal (a pipe, a log file, `sdv demo`), the bar is drawn as plain
//! lines instead, one each time another tenth of the bytes has arrived.

use std::{
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
    time::Duration,
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sdv_storage_client::client::Progress;

/// An [`indicatif`] bar on stderr that also counts the chunks accepted; when stderr is not a
/// terminal, plain lines on stderr every 10% instead.
pub(crate) struct Bar {
    bar: ProgressBar,
    chunks: AtomicU32,
    /// The file's label, for the plain lines.
    label: String,
    /// The last tenth a plain line was printed for, plus one (0: none yet).
    tenths_shown: AtomicU64,
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
            label: label.to_owned(),
            tenths_shown: AtomicU64::new(0),
        }
    }

    /// Without a terminal: prints a plain line when the position reached another tenth of the
    /// total (every tenth at most once, the first position always).
    fn plain_line(&self) {
        if !self.bar.is_hidden() {
            return;
        }
        let total = self.bar.length().unwrap_or(0);
        let position = self.bar.position().min(total);
        // An empty file is done at once.
        let tenth = (position * 10).checked_div(total).unwrap_or(10);
        let shown = self.tenths_shown.fetch_max(tenth + 1, Ordering::SeqCst);
        if shown < tenth + 1 {
            eprintln!("{}", plain_bar(&self.label, position, total));
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
        self.plain_line();
    }

    fn advanced(&self, bytes: u64) {
        self.bar.inc(bytes);
        self.chunks.fetch_add(1, Ordering::SeqCst);
        self.plain_line();
    }

    fn retrying(&self, index: u32, attempt: u32, delay: Duration, error: &str) {
        self.line(retry_line(index, attempt, delay, error));
    }
}

/// "w9.pdf [===============>              ]  50% 5.00 MiB of 10.00 MiB".
fn plain_bar(label: &str, position: u64, total: u64) -> String {
    const WIDTH: u64 = 30;
    let percent = (position * 100).checked_div(total).unwrap_or(100);
    let filled = (percent * WIDTH / 100) as usize;
    let mut bar = "=".repeat(filled);
    if filled < WIDTH as usize {
        bar.push('>');
        bar.push_str(&" ".repeat(WIDTH as usize - filled - 1));
    }
    format!(
        "{label} [{bar}] {percent:>3}% {} of {}",
        indicatif::BinaryBytes(position),
        indicatif::BinaryBytes(total)
    )
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

    #[test]
    fn a_plain_line_draws_the_bar_in_text() {
        assert_eq!(
            plain_bar("w9.pdf", 5 << 20, 10 << 20),
            format!(
                "w9.pdf [{}>{}]  50% 5.00 MiB of 10.00 MiB",
                "=".repeat(15),
                " ".repeat(14)
            )
        );
        assert!(plain_bar("x", 7, 7).contains(&format!("[{}] 100%", "=".repeat(30))));
        assert!(plain_bar("x", 0, 0).contains("100%"));
    }
}
