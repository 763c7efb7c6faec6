//! Status of a build's long steps, on stderr (stdout carries results).
//!
//! Every finished step prints one line, `image-builder: <step> ... 12.3 s`,
//! the same on a terminal and in a log. On a terminal a spinner (or, for
//! downloads, a byte bar with rate and ETA) shows while the step runs and
//! is erased when it ends; otherwise nothing moves, so CI logs hold only
//! stable lines. Plain output is chosen when stderr is not a terminal, when
//! `$CI` is set, or with `HALYARD_PROGRESS=plain`.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Environment variable: `plain` turns off spinners and bars even on a
/// terminal (other values: decide as usual).
pub const PROGRESS_ENV: &str = "HALYARD_PROGRESS";

/// How status is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Spinners and bars, redrawn in place.
    Terminal,
    /// Finished lines only.
    Plain,
}

/// The mode for this process, decided once.
pub fn mode() -> Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(|| {
        mode_from(
            std::env::var(PROGRESS_ENV).ok().as_deref(),
            std::env::var_os("CI").is_some_and(|v| !v.is_empty()),
            std::io::stderr().is_terminal(),
        )
    })
}

fn mode_from(progress_env: Option<&str>, ci: bool, stderr_is_terminal: bool) -> Mode {
    if progress_env == Some("plain") || ci || !stderr_is_terminal {
        Mode::Plain
    } else {
        Mode::Terminal
    }
}

/// The line a finished step leaves: `image-builder: <step> ... 12.3 s`.
pub fn done_line(step: &str, elapsed: Duration) -> String {
    format!("image-builder: {step} ... {:.1} s", elapsed.as_secs_f64())
}

/// `bytes` for people, with one stable unit: `112.4 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn spinner(template: &str, len: Option<u64>) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    // The templates are constants; a bad one is a bug caught by the tests.
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

const STAGE_TEMPLATE: &str = "{spinner} image-builder: {msg} ... {elapsed}";
// The message already holds the total. A fixed-width bar: `wide_bar`
// shrinks to nothing when the message is long.
const BYTES_TEMPLATE: &str =
    "{spinner} image-builder: {msg} [{bar:20}] {bytes} {bytes_per_sec} ETA {eta}";
const BYTES_UNKNOWN_TEMPLATE: &str = "{spinner} image-builder: {msg} {bytes} {bytes_per_sec}";

/// One step of a build. [`Stage::done`] prints its line; dropped without
/// `done` (the step failed) it prints nothing, and the error says why.
#[must_use = "a stage prints its line when done"]
pub struct Stage {
    name: String,
    started: Instant,
    bar: Option<ProgressBar>,
}

impl Stage {
    pub fn start(name: impl Into<String>) -> Self {
        let name = name.into();
        let bar = (mode() == Mode::Terminal).then(|| spinner(STAGE_TEMPLATE, None));
        Self::showing(name, bar)
    }

    fn showing(name: String, bar: Option<ProgressBar>) -> Self {
        if let Some(b) = &bar {
            b.set_message(name.clone());
        }
        Stage {
            name,
            started: Instant::now(),
            bar,
        }
    }

    pub fn done(mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        eprintln!("{}", done_line(&self.name, self.started.elapsed()));
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// Run `f` as the stage `name`: its line only if it succeeds.
pub fn stage<T, E>(name: impl Into<String>, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let s = Stage::start(name);
    let r = f()?;
    s.done();
    Ok(r)
}

/// A step that moves a known number of bytes (a download). In plain mode:
/// a line when it starts (the size is worth knowing before a long wait)
/// and the usual line when done.
#[must_use = "a byte stage prints its line when done"]
pub struct Bytes {
    stage: Stage,
    total: u64,
}

impl Bytes {
    /// `total` 0: the size is not known (no bar, only bytes and rate).
    pub fn start(name: impl Into<String>, total: u64) -> Self {
        let name = name.into();
        let bar = match mode() {
            Mode::Terminal if total == 0 => Some(spinner(BYTES_UNKNOWN_TEMPLATE, None)),
            Mode::Terminal => Some(spinner(BYTES_TEMPLATE, Some(total))),
            Mode::Plain => {
                eprintln!("image-builder: {name}");
                None
            }
        };
        Bytes {
            stage: Stage::showing(name, bar),
            total,
        }
    }

    /// `n` bytes of `total` are done (a bar never runs past its end, even
    /// if the sizes given at the start were short).
    pub fn set_position(&self, n: u64) {
        if let Some(b) = &self.stage.bar {
            b.set_position(clamp(n, self.total));
        }
    }

    pub fn done(self) {
        self.stage.done();
    }
}

fn clamp(n: u64, total: u64) -> u64 {
    if total == 0 {
        n
    } else {
        n.min(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_lines_are_stable() {
        assert_eq!(
            done_line(
                "building the hypervisor (bsp-qemu-virt)",
                Duration::from_millis(12_345)
            ),
            "image-builder: building the hypervisor (bsp-qemu-virt) ... 12.3 s"
        );
        assert_eq!(
            done_line("writing the outputs", Duration::from_micros(40)),
            "image-builder: writing the outputs ... 0.0 s"
        );
        assert_eq!(
            done_line("x", Duration::from_secs(125)),
            "image-builder: x ... 125.0 s"
        );
    }

    #[test]
    fn sizes_in_mib() {
        assert_eq!(mib(0), "0.0 MiB");
        assert_eq!(mib(59_812_568), "57.0 MiB");
        assert_eq!(mib(117_859_942), "112.4 MiB");
    }

    #[test]
    fn plain_unless_an_interactive_terminal() {
        assert_eq!(mode_from(None, false, true), Mode::Terminal);
        assert_eq!(mode_from(Some("auto"), false, true), Mode::Terminal);
        assert_eq!(mode_from(None, false, false), Mode::Plain);
        assert_eq!(mode_from(None, true, true), Mode::Plain);
        assert_eq!(mode_from(Some("plain"), false, true), Mode::Plain);
    }

    #[test]
    fn bars_stop_at_their_total() {
        assert_eq!(clamp(5, 10), 5);
        assert_eq!(clamp(15, 10), 10);
        assert_eq!(clamp(15, 0), 15);
    }

    #[test]
    fn templates_parse() {
        for t in [STAGE_TEMPLATE, BYTES_TEMPLATE, BYTES_UNKNOWN_TEMPLATE] {
            ProgressStyle::with_template(t).unwrap();
        }
    }
}
