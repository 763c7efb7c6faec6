//! Building QEMU command lines from a board manifest and running QEMU.
//!
//! The board manifest is the single source of how a board's QEMU is started;
//! this module turns it into argv (one function each for the interactive
//! `run` and for `test`), and runs a test QEMU with its serial console
//! captured line by line and time-stamped, under a timeout, so that the
//! verdict and the boot-time measurements can be made from the capture.
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use image_builder::manifest::QemuSettings;

/// Per-run choices layered over the board's QEMU settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub smp: Option<u32>,
    pub memory_mib: Option<u32>,
    /// Appended after the board's `extra_args`.
    pub extra_args: Vec<String>,
    /// Replaces the board's `-machine` (UEFI boots).
    pub machine: Option<String>,
    /// Replace `<kernel_arg> IMAGE` (UEFI boots: firmware and disks).
    pub boot_args: Option<Vec<String>>,
    /// The board's device tree (`-dtb`), for boards whose model makes none.
    pub dtb: Option<PathBuf>,
}

impl Overrides {
    /// The board's DTB that image-builder wrote beside `image`, when the
    /// board manifest names one.
    pub fn with_board_dtb(
        mut self,
        board: &image_builder::manifest::BoardManifest,
        image: &Path,
    ) -> Self {
        if board.dtb.is_some() {
            self.dtb = Some(image.with_file_name("board.dtb"));
        }
        self
    }
}

/// `-serial null` for each port before the console's, then `console`.
fn serials(q: &QemuSettings, console: &str) -> Vec<String> {
    let mut v = Vec::new();
    for _ in 0..q.console_serial {
        v.extend(["-serial".to_string(), "null".to_string()]);
    }
    v.extend(["-serial".to_string(), console.to_string()]);
    v
}

/// Options shared by both kinds of run, in their fixed order.
fn common_head(q: &QemuSettings, o: &Overrides) -> Vec<String> {
    vec![
        q.binary.clone(),
        "-machine".into(),
        o.machine.clone().unwrap_or_else(|| q.machine.clone()),
        "-cpu".into(),
        q.cpu.clone(),
        "-m".into(),
        o.memory_mib.unwrap_or(q.memory_mib).to_string(),
        "-smp".into(),
        o.smp.unwrap_or(q.smp).to_string(),
    ]
}

fn common_tail(q: &QemuSettings, o: &Overrides, image: &Path) -> Vec<String> {
    let mut v = vec![
        "-semihosting-config".into(),
        "enable=on,target=native".into(),
    ];
    match &o.boot_args {
        Some(args) => v.extend(args.iter().cloned()),
        None => v.extend([q.kernel_arg.clone(), image.display().to_string()]),
    }
    if let Some(dtb) = &o.dtb {
        v.extend(["-dtb".to_string(), dtb.display().to_string()]);
    }
    v.extend(q.extra_args.iter().cloned());
    v.extend(o.extra_args.iter().cloned());
    v
}

/// argv (program first) for a test run: serial on stdout, no display, no
/// monitor, no reboot (a reset ends the run instead of looping).
pub fn test_argv(q: &QemuSettings, o: &Overrides, image: &Path) -> Vec<String> {
    let mut v = common_head(q, o);
    v.extend(["-display", "none"].map(String::from));
    v.extend(serials(q, "stdio"));
    v.extend(["-monitor", "none", "-no-reboot"].map(String::from));
    v.extend(common_tail(q, o, image));
    v
}

/// argv (program first) for an interactive run: console on the terminal
/// (`-nographic`, Ctrl-A X quits).
pub fn run_argv(q: &QemuSettings, o: &Overrides, image: &Path) -> Vec<String> {
    let mut v = common_head(q, o);
    v.extend(["-nographic", "-no-reboot"].map(String::from));
    if q.console_serial > 0 {
        v.extend(serials(q, "mon:stdio"));
    }
    v.extend(common_tail(q, o, image));
    v
}

/// A command line as one shell-pasteable string.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Find the QEMU binary (a path, or a name looked up in `PATH`). A missing
/// QEMU is an error that says how to install it, never a reason to skip.
pub fn find_binary(binary: &str) -> Result<PathBuf> {
    let missing = || {
        anyhow::anyhow!(
            "QEMU binary '{binary}' not found (looked in PATH). Install QEMU with `scripts/setup` \
             (on Debian: apt-get install -y --no-install-recommends qemu-system-arm qemu-system-x86)"
        )
    };
    if binary.contains('/') {
        let p = PathBuf::from(binary);
        return if p.is_file() { Ok(p) } else { Err(missing()) };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(binary))
        .find(|p| p.is_file())
        .ok_or_else(missing)
}

/// One line of serial output, without its line terminator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialLine {
    /// Time since QEMU was started (monotonic clock).
    pub at: Duration,
    pub text: String,
}

impl SerialLine {
    pub fn new(at: Duration, text: impl Into<String>) -> Self {
        Self {
            at,
            text: text.into(),
        }
    }
}

/// How a captured run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// QEMU exited by itself: its exit code, or the signal that killed it.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// The timeout passed; we killed QEMU.
    TimedOut,
    /// The stop condition matched a line; we killed QEMU after the grace period.
    Stopped,
}

/// Everything a test run produced.
#[derive(Clone, Debug)]
pub struct Capture {
    pub lines: Vec<SerialLine>,
    pub stderr: String,
    pub end: RunEnd,
    /// Wall time from spawn to the end of the run.
    pub elapsed: Duration,
}

/// Limits of a captured run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub timeout: Duration,
    /// How long QEMU keeps running after the stop condition matched, to
    /// capture context around the offending line.
    pub grace: Duration,
}

/// How long to wait for the pipes' last bytes once QEMU has ended.
const PIPE_DRAIN: Duration = Duration::from_secs(1);

/// Run `argv` with stdin null, capturing stdout line by line (with the time
/// since spawn) and stderr whole. Ends when QEMU exits, at the timeout, or
/// `grace` after `stop` first returned true for a line (QEMU is killed in the
/// last two cases).
pub fn capture(argv: &[String], limits: Limits, stop: &dyn Fn(&str) -> bool) -> Result<Capture> {
    capture_with_input(argv, limits, stop, &[])
}

/// Text typed on the serial console once a line matches `after` (in order:
/// each step waits for the previous one).
#[derive(Clone, Debug)]
pub struct SerialInput {
    pub after: regex::Regex,
    pub send: String,
}

/// `capture`, typing `input` on QEMU's standard input (the serial port).
pub fn capture_with_input(
    argv: &[String],
    limits: Limits,
    stop: &dyn Fn(&str) -> bool,
    input: &[SerialInput],
) -> Result<Capture> {
    let (program, args) = argv.split_first().context("empty QEMU command line")?;
    let start = Instant::now();
    let mut child = match Command::new(program)
        .args(args)
        .stdin(if input.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(find_binary(program).err().unwrap_or_else(|| e.into()));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot start {program}")),
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let mut stdin = child.stdin.take();
    let mut pending_input = input.iter();
    let mut next_input = pending_input.next();

    let (tx, rx) = mpsc::channel::<SerialLine>();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let at = start.elapsed();
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if tx.send(SerialLine { at, text }).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let (err_tx, err_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        let _ = err_tx.send(String::from_utf8_lossy(&v).into_owned());
    });

    let deadline = start + limits.timeout;
    let mut stop_at: Option<Instant> = None;
    let mut lines = Vec::new();
    // Phase 1: read serial lines until EOF, the timeout or the grace end.
    let mut killed: Option<RunEnd> = None;
    loop {
        let until = stop_at.map_or(deadline, |s| s.min(deadline));
        let now = Instant::now();
        if now >= until {
            killed = Some(if stop_at.is_some_and(|s| s <= deadline) {
                RunEnd::Stopped
            } else {
                RunEnd::TimedOut
            });
            break;
        }
        match rx.recv_timeout(until - now) {
            Ok(line) => {
                if stop_at.is_none() && stop(&line.text) {
                    stop_at = Some(Instant::now() + limits.grace);
                }
                if let Some(step) = next_input.filter(|s| s.after.is_match(&line.text)) {
                    if let Some(w) = stdin.as_mut() {
                        // QEMU may already be gone; the verdict will say why.
                        let _ = w.write_all(step.send.as_bytes()).and_then(|_| w.flush());
                    }
                    next_input = pending_input.next();
                }
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // Phase 2: stdout is closed (or we are about to kill): wait for the exit.
    if killed.is_none() {
        loop {
            if child.try_wait().context("waiting for QEMU")?.is_some() {
                break;
            }
            let now = Instant::now();
            if stop_at.is_some_and(|s| s <= deadline && now >= s) {
                killed = Some(RunEnd::Stopped);
                break;
            }
            if now >= deadline {
                killed = Some(RunEnd::TimedOut);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    if killed.is_some() {
        // Kill may fail only if QEMU already exited; wait reaps it either way.
        let _ = child.kill();
    }
    let status = child.wait().context("waiting for QEMU")?;
    let elapsed = start.elapsed();
    // Lines read before the end but not yet received. The reader threads
    // are not joined: should something else still hold QEMU's pipes open,
    // waiting for their EOF could hang the runner.
    let drain_until = Instant::now() + PIPE_DRAIN;
    while let Ok(line) = rx.recv_timeout(drain_until.saturating_duration_since(Instant::now())) {
        lines.push(line);
    }
    let stderr = err_rx
        .recv_timeout(drain_until.saturating_duration_since(Instant::now()))
        .unwrap_or_default();
    let end = killed.unwrap_or_else(|| {
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&status);
        #[cfg(not(unix))]
        let signal = None;
        RunEnd::Exited {
            code: status.code(),
            signal,
        }
    });
    Ok(Capture {
        lines,
        stderr,
        end,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> QemuSettings {
        QemuSettings {
            binary: "qemu-system-aarch64".into(),
            machine: "virt,virtualization=on,gic-version=3".into(),
            cpu: "max,pauth=off".into(),
            memory_mib: 1024,
            smp: 1,
            kernel_arg: "-kernel".into(),
            extra_args: vec!["-d".into(), "guest_errors".into()],
            uboot: None,
            console_serial: 0,
        }
    }

    #[test]
    fn test_argv_has_fixed_order_and_board_defaults() {
        let v = test_argv(&settings(), &Overrides::default(), Path::new("/o/boot.img"));
        assert_eq!(
            shell_line(&v),
            "qemu-system-aarch64 -machine virt,virtualization=on,gic-version=3 -cpu max,pauth=off \
             -m 1024 -smp 1 -display none -serial stdio -monitor none -no-reboot \
             -semihosting-config enable=on,target=native -kernel /o/boot.img -d guest_errors"
        );
    }

    #[test]
    fn overrides_replace_smp_memory_and_append_args_last() {
        let o = Overrides {
            smp: Some(4),
            memory_mib: Some(256),
            extra_args: vec!["-s".into()],
            ..Overrides::default()
        };
        let v = test_argv(&settings(), &o, Path::new("img"));
        let at = |flag: &str| v[v.iter().position(|a| a == flag).unwrap() + 1].clone();
        assert_eq!(at("-m"), "256");
        assert_eq!(at("-smp"), "4");
        assert_eq!(at("-kernel"), "img");
        assert_eq!(&v[v.len() - 3..], ["-d", "guest_errors", "-s"]);
    }

    #[test]
    fn uefi_overrides_replace_machine_and_kernel() {
        let o = Overrides {
            machine: Some("virt,acpi=off".into()),
            boot_args: Some(vec!["-nic".into(), "none".into()]),
            ..Overrides::default()
        };
        let v = test_argv(&settings(), &o, Path::new("img"));
        let line = shell_line(&v);
        assert!(line.contains("-machine virt,acpi=off "), "{line}");
        assert!(
            line.ends_with("target=native -nic none -d guest_errors"),
            "{line}"
        );
        assert!(!v.contains(&"-kernel".to_string()));
    }

    #[test]
    fn a_later_console_serial_and_a_board_dtb() {
        let mut q = settings();
        q.console_serial = 1;
        let o = Overrides {
            dtb: Some("/o/board.dtb".into()),
            ..Overrides::default()
        };
        let v = test_argv(&q, &o, Path::new("/o/boot.img")).join(" ");
        assert!(
            v.contains("-serial null -serial stdio -monitor none"),
            "{v}"
        );
        assert!(v.contains("-kernel /o/boot.img -dtb /o/board.dtb"), "{v}");
        let v = run_argv(&q, &Overrides::default(), Path::new("i")).join(" ");
        assert!(
            v.contains("-nographic -no-reboot -serial null -serial mon:stdio"),
            "{v}"
        );
    }

    #[test]
    fn run_argv_attaches_console() {
        let v = run_argv(&settings(), &Overrides::default(), Path::new("img"));
        assert!(v.contains(&"-nographic".to_string()));
        assert!(!v.contains(&"-serial".to_string()) && !v.contains(&"-display".to_string()));
        assert!(v.contains(&"-no-reboot".to_string()));
        assert_eq!(v[0], "qemu-system-aarch64");
    }

    #[test]
    fn shell_line_quotes_what_needs_it() {
        let v: Vec<String> = ["a", "b c", "it's", ""].map(String::from).to_vec();
        assert_eq!(shell_line(&v), r"a 'b c' 'it'\''s' ''");
    }

    #[test]
    fn missing_binary_says_how_to_install() {
        let e = find_binary("qemu-system-does-not-exist")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("qemu-system-does-not-exist") && e.contains("scripts/setup"),
            "{e}"
        );
        let e = capture(
            &["/nonexistent/qemu-system-aarch64".to_string()],
            Limits {
                timeout: Duration::from_secs(1),
                grace: Duration::ZERO,
            },
            &|_| false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("scripts/setup"), "{e}");
    }

    fn sh(script: &str) -> Vec<String> {
        ["/bin/sh", "-c", script].map(String::from).to_vec()
    }

    const LIMITS: Limits = Limits {
        timeout: Duration::from_secs(10),
        grace: Duration::from_millis(300),
    };

    // The process plumbing, exercised with /bin/sh standing in for QEMU.
    #[test]
    fn capture_collects_lines_stderr_and_exit_code() {
        let c = capture(
            &sh("printf 'one\\r\\ntwo\\nno newline'; echo oops >&2; exit 7"),
            LIMITS,
            &|_| false,
        )
        .unwrap();
        let texts: Vec<&str> = c.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "no newline"]);
        assert!(c.lines.windows(2).all(|w| w[0].at <= w[1].at));
        assert_eq!(c.stderr, "oops\n");
        assert_eq!(
            c.end,
            RunEnd::Exited {
                code: Some(7),
                signal: None
            }
        );
    }

    #[test]
    fn input_is_typed_after_its_line() {
        let input = [
            SerialInput {
                after: regex::Regex::new("^ready$").unwrap(),
                send: "one\n".into(),
            },
            SerialInput {
                after: regex::Regex::new("^got one$").unwrap(),
                send: "two\n".into(),
            },
        ];
        let script = "echo ready; read a; echo got $a; read b; echo got $b";
        let c = capture_with_input(&sh(script), LIMITS, &|_| false, &input).unwrap();
        let text: Vec<_> = c.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(text, ["ready", "got one", "got two"]);
        assert_eq!(
            c.end,
            RunEnd::Exited {
                code: Some(0),
                signal: None
            }
        );
    }

    #[test]
    fn capture_kills_at_timeout() {
        let c = capture(
            &sh("echo started; exec sleep 30"),
            Limits {
                timeout: Duration::from_millis(500),
                grace: Duration::ZERO,
            },
            &|_| false,
        )
        .unwrap();
        assert_eq!(c.end, RunEnd::TimedOut);
        assert_eq!(c.lines.len(), 1);
        assert!(c.elapsed < Duration::from_secs(5), "{:?}", c.elapsed);
    }

    #[test]
    fn capture_stops_after_grace_once_stop_matches() {
        let c = capture(
            &sh("echo a; echo BAD; echo after; exec sleep 30"),
            LIMITS,
            &|l| l == "BAD",
        )
        .unwrap();
        assert_eq!(c.end, RunEnd::Stopped);
        let texts: Vec<&str> = c.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "BAD", "after"]);
        assert!(c.elapsed < Duration::from_secs(5), "{:?}", c.elapsed);
    }

    #[test]
    fn capture_reports_time_since_start() {
        let c = capture(&sh("sleep 0.3; echo late"), LIMITS, &|_| false).unwrap();
        assert!(
            c.lines[0].at >= Duration::from_millis(300),
            "{:?}",
            c.lines[0].at
        );
    }
}
