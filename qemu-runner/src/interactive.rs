//! Interactive runs: QEMU on this terminal, plus a QMP connection that tells
//! a guest powering the machine off from the user quitting with Ctrl-A X.
//! Both end QEMU with exit code 0; only QMP's SHUTDOWN event says which.
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use image_builder::exit::STOPPED_BY_USER;

use crate::qemu::find_binary;

/// QEMU's account of why it shut down (the QMP `SHUTDOWN` event's data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shutdown {
    /// True when the guest asked (PSCI SYSTEM_OFF, or a reset under -no-reboot).
    pub guest: bool,
    /// QEMU's reason: `guest-shutdown`, `host-qmp-quit` (Ctrl-A X), `host-signal`, ...
    pub reason: String,
}

/// How a run ended: the runner's exit code and, when it is not plain, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub code: u8,
    pub message: Option<String>,
}

/// Arguments added to an interactive command line: the console multiplexed
/// with the monitor (so Ctrl-A X reaches QEMU even with `-qmp` given, which
/// otherwise turns the console mux off) and QMP on `socket`, which QEMU
/// connects to as a client.
pub fn qmp_args(socket: &Path) -> Vec<String> {
    vec![
        "-serial".into(),
        "mon:stdio".into(),
        "-qmp".into(),
        format!("unix:{}", socket.display()),
    ]
}

/// Decide the exit code of `run` from QEMU's exit and its last SHUTDOWN event.
pub fn outcome(code: Option<i32>, signal: Option<i32>, shutdown: Option<&Shutdown>) -> Outcome {
    let plain = |code: u8| Outcome {
        code,
        message: None,
    };
    match (code, signal) {
        (Some(0), _) => match shutdown {
            Some(s) if !s.guest => Outcome {
                code: STOPPED_BY_USER,
                message: Some(if s.reason == "host-qmp-quit" {
                    "the run was stopped by the user (Ctrl-A X), not by the guest".into()
                } else {
                    format!(
                        "the run was stopped from the host ({}), not by the guest",
                        s.reason
                    )
                }),
            },
            // The guest powered off, or ended QEMU itself (semihosting exit).
            _ => plain(0),
        },
        (Some(c), _) => plain(u8::try_from(c).unwrap_or(u8::MAX)),
        (None, Some(s)) => Outcome {
            code: u8::try_from(128 + s).unwrap_or(u8::MAX),
            message: Some(format!("QEMU was killed by signal {s}")),
        },
        (None, None) => Outcome {
            code: image_builder::exit::FAILED,
            message: Some("QEMU ended without an exit code".into()),
        },
    }
}

/// Parse one QMP line: `Some` for a SHUTDOWN event.
pub fn parse_shutdown(line: &str) -> Option<Shutdown> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v.get("event")?.as_str()? != "SHUTDOWN" {
        return None;
    }
    let data = v.get("data")?;
    Some(Shutdown {
        guest: data.get("guest")?.as_bool()?,
        reason: data.get("reason")?.as_str()?.to_string(),
    })
}

/// Run `argv` with the terminal attached and QMP listening; returns how it ended.
pub fn run(argv: &[String]) -> Result<Outcome> {
    let (program, args) = argv.split_first().context("empty QEMU command line")?;
    find_binary(program)?;
    let dir = tempfile::Builder::new()
        .prefix("halyard-run-")
        .tempdir()
        .context("cannot create a directory for the QMP socket")?;
    let socket = dir.path().join("qmp.sock");
    let listener = UnixListener::bind(&socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    listener.set_nonblocking(true)?;
    let mut child = Command::new(program)
        .args(args)
        .args(qmp_args(&socket))
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let done = Arc::new(AtomicBool::new(false));
    let events = {
        let done = Arc::clone(&done);
        thread::spawn(move || watch(&listener, &done))
    };
    let status: ExitStatus = child.wait().context("waiting for QEMU")?;
    done.store(true, Ordering::Release);
    // The event thread ends at the socket's EOF, or at once if QEMU never connected.
    let shutdown = events.join().unwrap_or(None);
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    Ok(outcome(status.code(), signal, shutdown.as_ref()))
}

/// Accept QEMU's QMP connection, enter command mode and return the last
/// SHUTDOWN event seen before QEMU closed the socket.
fn watch(listener: &UnixListener, qemu_done: &AtomicBool) -> Option<Shutdown> {
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if qemu_done.load(Ordering::Acquire) => return None,
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    };
    stream.set_nonblocking(false).ok()?;
    read_events(stream)
}

fn read_events(stream: UnixStream) -> Option<Shutdown> {
    let mut writer = stream.try_clone().ok()?;
    let mut reader = BufReader::new(stream);
    let mut greeting = String::new();
    reader.read_line(&mut greeting).ok()?;
    // Events are only sent once the client has negotiated capabilities.
    writer
        .write_all(b"{\"execute\": \"qmp_capabilities\"}\n")
        .ok()?;
    let mut last = None;
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if let Some(s) = parse_shutdown(&line) {
            last = Some(s);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shutdown(guest: bool, reason: &str) -> Shutdown {
        Shutdown {
            guest,
            reason: reason.into(),
        }
    }

    #[test]
    fn guest_power_off_is_success() {
        let s = shutdown(true, "guest-shutdown");
        assert_eq!(outcome(Some(0), None, Some(&s)).code, 0);
        assert_eq!(outcome(Some(0), None, None).code, 0);
    }

    #[test]
    fn ctrl_a_x_is_a_stop_by_the_user() {
        let o = outcome(Some(0), None, Some(&shutdown(false, "host-qmp-quit")));
        assert_eq!(o.code, 130);
        assert!(o
            .message
            .unwrap()
            .contains("stopped by the user (Ctrl-A X)"));
        let o = outcome(Some(0), None, Some(&shutdown(false, "host-signal")));
        assert_eq!(o.code, 130);
        assert!(o.message.unwrap().contains("host-signal"));
    }

    #[test]
    fn failures_and_signals_keep_their_codes() {
        let off = shutdown(true, "guest-shutdown");
        assert_eq!(outcome(Some(5), None, None).code, 5);
        assert_eq!(outcome(Some(1), None, Some(&off)).code, 1);
        assert_eq!(outcome(Some(300), None, None).code, 255);
        let o = outcome(None, Some(9), None);
        assert_eq!((o.code, o.message.is_some()), (137, true));
    }

    #[test]
    fn parses_qmp_shutdown_events_only() {
        let line = r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}"#;
        assert_eq!(parse_shutdown(line), Some(shutdown(false, "host-qmp-quit")));
        assert_eq!(parse_shutdown(r#"{"return": {}}"#), None);
        assert_eq!(parse_shutdown(r#"{"event": "STOP"}"#), None);
        assert_eq!(parse_shutdown("not json"), None);
    }
}
