//! Integration tests with the real QEMU of the qemu-virt board manifest.
//!
//! The images are tiny raw aarch64 programs assembled here as bytes: they
//! print lines on the PL011 and end with a semihosting SYS_EXIT or spin
//! forever. They boot through `run_case`/`run_suite`, the code paths of
//! `qemu-runner test`. A missing QEMU makes these tests fail, not skip.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use image_builder::manifest::{load_board, BoardManifest};
use image_builder::workspace::Workspace;
use qemu_runner::case::Case;
use qemu_runner::qemu::RunEnd;
use qemu_runner::suite::{run_case, run_suite, Status, SuiteOptions};

fn workspace() -> Workspace {
    Workspace {
        root: Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .canonicalize()
            .unwrap(),
    }
}

fn board() -> BoardManifest {
    load_board(&workspace(), "qemu-virt").unwrap()
}

mod common;
use common::*;

#[test]
fn encodings_match_the_assembler() {
    // Cross-checked once against `llvm-mc -triple=aarch64 -show-encoding`.
    assert_eq!(movz_x(3, 0x0900, 16), 0xd2a1_2003); // mov x3, #0x9000000
    assert_eq!(movz_x(0, 0x18, 0), 0xd280_0300); // mov x0, #24
    assert_eq!(ldrb_post_inc(4, 2), 0x3840_1444); // ldrb w4, [x2], #1
    assert_eq!(strb(4, 3), 0x3900_0064); // strb w4, [x3]
    assert_eq!(adr(2, 56), 0x1000_01c2); // adr x2, .+56
    assert_eq!(cbz_w(4, 12), 0x3400_0064); // cbz w4, .+12
    assert_eq!(b(-12), 0x17ff_fffd); // b .-12
    assert_eq!(b(0), 0x1400_0000); // b .
}

fn write_image(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn case(name: &str, extra: &str) -> Case {
    let text = format!("name: {name}\nimage: unused.yaml\n{extra}");
    Case::parse(&text, Path::new(&format!("{name}.yaml"))).unwrap()
}

#[test]
fn pass_with_output_writes_timestamped_serial_log() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(
        dir.path(),
        "hello.bin",
        &program("halyard: hello\r\n1..1\nok 1 - console\n", Some(0)),
    );
    let c = case(
        "hello",
        "timeout_s: 20\nexpect: ['^halyard: ', '^1\\.\\.\\d+$', '^ok \\d+ - console$']\nend: {exit_code: 0}\n",
    );
    let out = dir.path().join("out/hello");
    let r = run_case(&board(), &c, &img, &out, Path::new(".")).unwrap();
    assert!(matches!(r.status, Status::Passed), "{:?}", r.status);
    let v = r.verdict.as_ref().unwrap();
    assert_eq!(v.matches.len(), 3);
    let first = v.first_line.unwrap();
    assert!(first > Duration::ZERO && first < Duration::from_secs(20));
    assert!(
        r.summary_line().starts_with("PASS hello ("),
        "{}",
        r.summary_line()
    );
    assert!(r.summary_line().contains("first line after "));

    let log = std::fs::read_to_string(out.join("serial.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].starts_with('[') && lines[0].ends_with("] halyard: hello"),
        "{log}"
    );
    assert_eq!(&lines[2][10..], " ok 1 - console");
    let cmd = std::fs::read_to_string(out.join("qemu-cmdline.txt")).unwrap();
    assert!(
        cmd.contains("-serial stdio") && cmd.contains("hello.bin"),
        "{cmd}"
    );
}

#[test]
fn nonzero_exit_code_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(dir.path(), "exit3.bin", &program("done\n", Some(3)));
    let c = case(
        "exit3",
        "timeout_s: 20\nexpect: ['^done$']\nend: {exit_code: 0}\n",
    );
    let r = run_case(&board(), &c, &img, &dir.path().join("a"), Path::new(".")).unwrap();
    match &r.status {
        Status::Failed(reason) => {
            assert_eq!(reason, "QEMU exited with code 3, expected exit code 0")
        }
        s => panic!("{s:?}"),
    }
    // The same run passes when 3 is what the case expects.
    let c = case(
        "exit3",
        "timeout_s: 20\nexpect: ['^done$']\nend: {exit_code: 3}\n",
    );
    let r = run_case(&board(), &c, &img, &dir.path().join("b"), Path::new(".")).unwrap();
    assert!(matches!(r.status, Status::Passed), "{:?}", r.status);
}

#[test]
fn missing_expect_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(dir.path(), "p.bin", &program("ok 1 - a\n", Some(0)));
    let c = case(
        "missing",
        "timeout_s: 20\nexpect: ['^ok 1 - a$', '^ok 2 - b$']\nend: {exit_code: 0}\n",
    );
    let r = run_case(&board(), &c, &img, &dir.path().join("o"), Path::new(".")).unwrap();
    match &r.status {
        Status::Failed(reason) => assert!(
            reason.starts_with("expect #2 '^ok 2 - b$' never matched"),
            "{reason}"
        ),
        s => panic!("{s:?}"),
    }
}

#[test]
fn timeout_is_a_failure_with_the_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(
        dir.path(),
        "spin.bin",
        &program("booting\nstill here\n", None),
    );
    let c = case(
        "spin",
        "timeout_s: 2\nexpect: ['^booting$']\nend: {exit_code: 0}\n",
    );
    let r = run_case(&board(), &c, &img, &dir.path().join("o"), Path::new(".")).unwrap();
    let cap = r.capture.as_ref().unwrap();
    assert_eq!(cap.end, RunEnd::TimedOut);
    assert!(r.duration >= Duration::from_secs(2) && r.duration < Duration::from_secs(10));
    match &r.status {
        Status::Failed(reason) => {
            assert!(
                reason.starts_with("timeout after 2s; last 2 serial lines:"),
                "{reason}"
            );
            assert!(reason.ends_with("] still here"), "{reason}");
        }
        s => panic!("{s:?}"),
    }
    // What was printed before the kill is in the log.
    let log = std::fs::read_to_string(dir.path().join("o/serial.log")).unwrap();
    assert!(
        log.contains("] booting\n") && log.contains("] still here\n"),
        "{log}"
    );
}

#[test]
fn forbidden_line_fails_and_stops_qemu_early() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(
        dir.path(),
        "bail.bin",
        &program("ok 1 - a\nBail out! broken\n", None),
    );
    let c = case(
        "bail",
        "timeout_s: 60\nexpect: ['^ok 1 - a$']\nforbid: ['^Bail out!']\nend: {exit_code: 0}\n",
    );
    let r = run_case(&board(), &c, &img, &dir.path().join("o"), Path::new(".")).unwrap();
    let cap = r.capture.as_ref().unwrap();
    assert_eq!(cap.end, RunEnd::Stopped);
    // Killed after the 2 s grace period, long before the 60 s timeout.
    assert!(r.duration >= Duration::from_secs(2), "{:?}", r.duration);
    assert!(r.duration < Duration::from_secs(20), "{:?}", r.duration);
    match &r.status {
        Status::Failed(reason) => assert!(
            reason.contains("forbidden pattern '^Bail out!' matched line: [")
                && reason.ends_with("] Bail out! broken"),
            "{reason}"
        ),
        s => panic!("{s:?}"),
    }
}

#[test]
fn builtin_panic_pattern_fails_an_otherwise_passing_run() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(
        dir.path(),
        "panic.bin",
        &program("ok 1 - a\nhypervisor panic: oops\n", Some(0)),
    );
    let c = case(
        "panic",
        "timeout_s: 20\nexpect: ['^ok 1 - a$']\nend: {exit_code: 0}\n",
    );
    let r = run_case(&board(), &c, &img, &dir.path().join("o"), Path::new(".")).unwrap();
    match &r.status {
        Status::Failed(reason) => assert!(reason.contains("forbidden pattern 'panic'"), "{reason}"),
        s => panic!("{s:?}"),
    }
}

const IMAGE_MANIFEST: &str = "image: NAME\nboards: [qemu-virt]\ndomains:\n  - name: d\n    id: 1\n    vcpus: 1\n    memory_mib: 64\n    kernel: {file: unused}\n";

/// A suite in a temporary directory: image manifests `good` and `bad`, cases
/// a-pass and b-pass-again (both on `good`), c-fails (on `bad`), d-slow.
fn make_suite(root: &Path) -> PathBuf {
    let suite = root.join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    for name in ["good", "bad"] {
        std::fs::write(
            root.join(format!("{name}.yaml")),
            IMAGE_MANIFEST.replace("NAME", name),
        )
        .unwrap();
    }
    let cases = [
        (
            "a-pass",
            "good",
            "expect: ['^hello$']\nend: {exit_code: 0}\n",
        ),
        (
            "b-pass-again",
            "good",
            "expect: ['^hello$']\nend: {exit_code: 0}\n",
        ),
        (
            "c-fails",
            "bad",
            "expect: ['^hello$']\nend: {exit_code: 0}\n",
        ),
        (
            "d-slow",
            "good",
            "slow: true\nexpect: ['^hello$']\nend: {exit_code: 0}\n",
        ),
    ];
    for (name, image, rest) in cases {
        let text = format!(
            "name: {name}\nimage: {}\ntimeout_s: 20\n{rest}",
            root.join(format!("{image}.yaml")).display()
        );
        std::fs::write(suite.join(format!("{name}.yaml")), text).unwrap();
    }
    suite
}

fn options(root: &Path, board: BoardManifest, slow: bool, jobs: usize) -> SuiteOptions {
    SuiteOptions {
        workspace: workspace(),
        board,
        suite_dir: root.join("suite"),
        cases: Vec::new(),
        slow,
        out_dir: root.join("out"),
        jobs,
        secure_firmware: None,
    }
}

#[test]
fn suite_builds_each_image_once_reports_and_fails_on_a_failing_case() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    make_suite(root);
    let builds = AtomicUsize::new(0);
    let provider = |manifest: &Path, out: &Path| -> anyhow::Result<PathBuf> {
        builds.fetch_add(1, Ordering::SeqCst);
        std::fs::create_dir_all(out)?;
        let exit = if manifest.ends_with("good.yaml") {
            0
        } else {
            1
        };
        Ok(write_image(
            out,
            "boot.img",
            &program("hello\n", Some(exit)),
        ))
    };
    let report = run_suite(&options(root, board(), false, 2), &provider).unwrap();
    assert_eq!(builds.load(Ordering::SeqCst), 2, "good and bad, each once");
    assert!(root.join("out/images/good/boot.img").is_file());
    assert!(root.join("out/images/bad/boot.img").is_file());

    let statuses: Vec<(&str, String)> = report
        .results
        .iter()
        .map(|r| (r.name.as_str(), format!("{:?}", r.status)))
        .collect();
    assert!(!report.success());
    assert!(
        matches!(report.results[0].status, Status::Passed),
        "{statuses:?}"
    );
    assert!(
        matches!(report.results[1].status, Status::Passed),
        "{statuses:?}"
    );
    match &report.results[2].status {
        Status::Failed(r) => assert_eq!(r, "QEMU exited with code 1, expected exit code 0"),
        s => panic!("{s:?}"),
    }
    match &report.results[3].status {
        Status::Skipped(r) => assert_eq!(r, "slow; use --slow"),
        s => panic!("{s:?}"),
    }
    let summary = report.summary("qemu-virt");
    assert!(
        summary.starts_with("qemu-virt: 2 passed, 1 failed, 1 skipped (slow; use --slow) in "),
        "{summary}"
    );
    for case in ["a-pass", "b-pass-again", "c-fails"] {
        let log = std::fs::read_to_string(root.join("out").join(case).join("serial.log")).unwrap();
        assert!(log.ends_with("] hello\n"), "{case}: {log}");
    }
    assert!(!root.join("out/d-slow").exists());

    let xml = std::fs::read_to_string(root.join("out/junit.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    let s = &junit.test_suites[0];
    assert_eq!((s.tests, s.failures, s.errors, s.disabled), (4, 1, 0, 1));
    let names: Vec<&str> = s.test_cases.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a-pass", "b-pass-again", "c-fails", "d-slow"]);
    assert!(s.test_cases[0]
        .properties
        .iter()
        .any(|p| p.name.as_str() == "first_serial_line_s"));

    // With --slow and only the slow case selected, the run passes.
    let mut opts = options(root, board(), true, 1);
    opts.cases = vec!["d-slow".into()];
    let report = run_suite(&opts, &provider).unwrap();
    assert!(report.success());
    assert_eq!(report.results.len(), 1);
    assert!(matches!(report.results[0].status, Status::Passed));
}

#[test]
fn suite_image_build_failure_is_an_error_of_its_cases() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    make_suite(root);
    let provider = |manifest: &Path, out: &Path| -> anyhow::Result<PathBuf> {
        if manifest.ends_with("bad.yaml") {
            anyhow::bail!("no hypervisor today");
        }
        std::fs::create_dir_all(out)?;
        Ok(write_image(out, "boot.img", &program("hello\n", Some(0))))
    };
    let report = run_suite(&options(root, board(), false, 1), &provider).unwrap();
    assert!(!report.success());
    match &report.results[2].status {
        Status::Error(r) => assert!(r.contains("image build failed: no hypervisor today"), "{r}"),
        s => panic!("{s:?}"),
    }
    assert!(matches!(report.results[0].status, Status::Passed));
}

#[test]
fn suite_with_missing_qemu_is_an_error_not_a_skip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    make_suite(root);
    let mut b = board();
    b.qemu.binary = "qemu-system-halyard-missing".into();
    let built = AtomicUsize::new(0);
    let provider = |_: &Path, _: &Path| -> anyhow::Result<PathBuf> {
        built.fetch_add(1, Ordering::SeqCst);
        anyhow::bail!("must not build")
    };
    let e = run_suite(&options(root, b, false, 1), &provider)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("qemu-system-halyard-missing") && e.contains("scripts/setup"),
        "{e}"
    );
    assert_eq!(built.load(Ordering::SeqCst), 0);
}

#[test]
fn unknown_case_name_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    make_suite(dir.path());
    let mut opts = options(dir.path(), board(), false, 1);
    opts.cases = vec!["nope".into()];
    let e = run_suite(&opts, &|_: &Path, _: &Path| anyhow::bail!("unused"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no case 'nope'") && e.contains("a-pass"), "{e}");
}
