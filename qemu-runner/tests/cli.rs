//! The `qemu-runner` binary's own behaviour: exit codes and messages.
use std::process::{Command, Stdio};

mod common;

fn runner() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_qemu-runner"));
    c.arg("--workspace")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdin(Stdio::null());
    c
}

#[test]
fn run_prints_the_command_line_and_passes_the_exit_code_through() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("exit5.bin");
    std::fs::write(&img, common::program("hello from run\n", Some(5))).unwrap();
    let out = runner()
        .args(["run", "--board", "qemu-virt", "--image"])
        .arg(&img)
        .args(["--smp", "2", "--", "-d", "guest_errors"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{stdout}");
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with("qemu-system-aarch64 -machine "),
        "{stdout}"
    );
    assert!(
        first.contains(" -smp 2 ") && first.ends_with("exit5.bin -d guest_errors"),
        "{first}"
    );
    assert!(stdout.contains("hello from run"), "{stdout}");
}

#[test]
fn test_with_unknown_case_or_board_exits_with_an_error() {
    let out = runner()
        .args(["test", "--board", "qemu-virt", "--case", "no-such-case"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no case 'no-such-case'") && stderr.contains("selftest"),
        "{stderr}"
    );

    let out = runner().args(["test", "--board", "rpi9"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown board 'rpi9'"));
}

#[test]
fn test_with_a_missing_secure_firmware_exits_with_an_error() {
    let out = runner()
        .args(["test", "--board", "qemu-virt", "--case", "ffa-clients"])
        .args(["--secure-firmware", "/nonexistent/flash.bin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--secure-firmware /nonexistent/flash.bin: no such file"),
        "{stderr}"
    );
}

#[test]
fn version_help_and_usage_errors() {
    let o = runner().arg("--version").output().unwrap();
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        concat!("qemu-runner ", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        runner()
            .arg("--no-such-flag")
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    let help = runner().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit status: 0 done; 1 a build"));
    // Every flag of `run` says what it is for.
    let run_help = runner().args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&run_help.stdout).into_owned();
    assert!(
        text.contains("--board <BOARD>\n          Board name"),
        "{text}"
    );
}

/// `run` on a raw program that prints `banner`; once it is on the console,
/// `input` goes to QEMU's stdin. Returns (exit code, stdout, stderr).
fn run_and_type(program: &[u8], banner: &str, input: &[u8]) -> (Option<i32>, String, String) {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("program.bin");
    std::fs::write(&img, program).unwrap();
    let mut child = runner()
        .args(["run", "--board", "qemu-virt", "--image"])
        .arg(&img)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A run that ignores its input must fail the test, not hang it.
    let pid = child.id().to_string();
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            for _ in 0..600 {
                if finished.load(std::sync::atomic::Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
        })
    };
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains(banner) {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    child.stdin.take().unwrap().write_all(input).unwrap();
    out.read_to_string(&mut seen).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let code = child.wait().unwrap().code();
    finished.store(true, std::sync::atomic::Ordering::Release);
    watchdog.join().unwrap();
    (code, seen, err)
}

#[test]
fn ctrl_a_x_exits_130_and_says_the_user_stopped_the_run() {
    let (code, out, err) = run_and_type(&common::program("spinning\n", None), "spinning", b"\x01x");
    assert_eq!(code, Some(130), "stdout: {out}\nstderr: {err}");
    assert!(out.contains("QEMU: Terminated"), "{out}");
    assert!(
        err.contains("qemu-runner: the run was stopped by the user (Ctrl-A X)"),
        "{err}"
    );
}

#[test]
fn a_guest_power_off_exits_0_without_a_stop_message() {
    let (code, out, err) = run_and_type(&common::powering_off("bye\n"), "bye", b"");
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    assert!(!err.contains("stopped"), "{err}");
}
