//! The exit codes image-builder and qemu-runner share, so a script can tell
//! "you asked for something wrong" from "what you asked for failed":
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | done: built, booted, every check passed |
//! | 1 | failed: a build, boot, suite case or verification failed |
//! | 2 | usage or bad input: an unknown flag or board, a manifest, case or key that is missing or malformed, a file that is not a Halyard image |
//! | 130 | an interactive run was stopped by the user (Ctrl-A X) |
//!
//! Errors are `anyhow` errors; the ones caused by input carry [`BadInput`]
//! somewhere in their chain, and [`code_for`] finds it.

use std::fmt;
use std::process::ExitCode;

pub const FAILED: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const STOPPED_BY_USER: u8 = 130;

/// The text both tools' `--help` ends with.
pub const HELP_EXIT_CODES: &str = "Exit status: 0 done; 1 a build, boot, check or verification \
failed; 2 usage or bad input (unknown flag or board, missing or malformed manifest, case or key, \
a file that is not a Halyard image); 130 an interactive run stopped by the user (Ctrl-A X).";

/// An error caused by what the user gave us; its text is the wrapped error's.
#[derive(Debug)]
pub struct BadInput(anyhow::Error);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for BadInput {}

/// Marks `e` as caused by input, keeping its message.
pub fn bad_input(e: impl Into<anyhow::Error>) -> anyhow::Error {
    let e = e.into();
    if e.downcast_ref::<BadInput>().is_some() {
        e
    } else {
        anyhow::Error::new(BadInput(e))
    }
}

/// `result.or_bad_input()`: the error, if any, is the user's input.
pub trait OrBadInput<T> {
    fn or_bad_input(self) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> OrBadInput<T> for Result<T, E> {
    fn or_bad_input(self) -> anyhow::Result<T> {
        self.map_err(bad_input)
    }
}

/// `bail!` for an error in the user's input.
#[macro_export]
macro_rules! bail_input {
    ($($t:tt)*) => {
        return Err($crate::exit::bad_input(anyhow::anyhow!($($t)*)))
    };
}

/// The exit code for an error that ended a command.
pub fn code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<BadInput>().is_some() {
        BAD_INPUT
    } else {
        FAILED
    }
}

/// Prints `tool: error: ...` and returns the matching exit code.
pub fn report(tool: &str, e: &anyhow::Error) -> ExitCode {
    eprintln!("{tool}: error: {e:#}");
    ExitCode::from(code_for(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::{anyhow, Context};

    #[test]
    fn input_errors_keep_their_text_and_code_through_context() {
        let e = bad_input(anyhow!("inner").context("outer"));
        assert_eq!(format!("{e:#}"), "outer: inner");
        let wrapped = Err::<(), _>(e).context("building dom0").unwrap_err();
        assert_eq!(format!("{wrapped:#}"), "building dom0: outer: inner");
        assert_eq!(code_for(&wrapped), BAD_INPUT);
        // Marking twice does not nest the text.
        assert_eq!(
            format!("{:#}", bad_input(wrapped)),
            "building dom0: outer: inner"
        );
    }

    #[test]
    fn other_errors_are_failures() {
        assert_eq!(code_for(&anyhow!("cargo build failed")), FAILED);
        let io = std::fs::read("/nonexistent/x")
            .context("reading x")
            .unwrap_err();
        assert_eq!(code_for(&io), FAILED);
    }
}
