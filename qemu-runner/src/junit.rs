//! JUnit XML for CI dashboards.
//!
//! CI systems read JUnit; besides pass/fail, each test case records the QEMU
//! command line, the serial log and the boot-time measurements (time to the
//! first serial line and to each expected line) so that boot-time trends can
//! be followed from the CI artifacts alone.
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::qemu::shell_line;
use crate::suite::{format_serial_log, CaseResult, Status};

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// The measurements and log that go into a test case's system-out.
fn system_out(r: &CaseResult) -> String {
    let mut s = String::new();
    if !r.argv.is_empty() {
        s.push_str(&format!("qemu: {}\n", shell_line(&r.argv)));
    }
    if let Some(v) = &r.verdict {
        match v.first_line {
            Some(t) => s.push_str(&format!("first serial line after {} s\n", secs(t))),
            None => s.push_str("no serial output\n"),
        }
        for (i, m) in v.matches.iter().enumerate() {
            s.push_str(&format!(
                "expect #{} '{}' matched line {} after {} s\n",
                i + 1,
                m.pattern,
                m.line + 1,
                secs(m.at)
            ));
        }
    }
    if let Some(c) = &r.capture {
        s.push_str("--- serial ---\n");
        s.push_str(&format_serial_log(&c.lines));
    }
    s
}

fn test_case(board: &str, r: &CaseResult) -> TestCase {
    let status = match &r.status {
        Status::Passed => TestCaseStatus::success(),
        Status::Failed(reason) | Status::Error(reason) => {
            let kind = match r.status {
                Status::Error(_) => NonSuccessKind::Error,
                _ => NonSuccessKind::Failure,
            };
            let mut st = TestCaseStatus::non_success(kind);
            st.set_message(reason.lines().next().unwrap_or_default());
            st.set_description(reason.as_str());
            st
        }
        Status::Skipped(reason) => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(reason.as_str());
            st
        }
    };
    let mut tc = TestCase::new(r.name.as_str(), status);
    tc.set_classname(board);
    tc.set_time(r.duration);
    if let Some(v) = &r.verdict {
        if let Some(t) = v.first_line {
            tc.add_property(Property::new("first_serial_line_s", secs(t)));
        }
        for (i, m) in v.matches.iter().enumerate() {
            tc.add_property(Property::new(format!("expect_{}_s", i + 1), secs(m.at)));
        }
    }
    let out = system_out(r);
    if !out.is_empty() {
        tc.set_system_out(out);
    }
    if let Some(c) = r.capture.as_ref().filter(|c| !c.stderr.is_empty()) {
        tc.set_system_err(c.stderr.as_str());
    }
    tc
}

/// The report of one board's suite run.
pub fn report(board: &str, results: &[CaseResult], duration: Duration) -> Report {
    let mut suite = TestSuite::new(board);
    suite.set_time(duration);
    suite.add_test_cases(results.iter().map(|r| test_case(board, r)));
    let mut report = Report::new(format!("halyard-{board}"));
    report.set_time(duration);
    report.add_test_suite(suite);
    report
}

/// Write the report to `path`.
pub fn write(path: &Path, board: &str, results: &[CaseResult], duration: Duration) -> Result<()> {
    let xml = report(board, results, duration)
        .to_string()
        .context("serializing the JUnit report")?;
    std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::{Capture, RunEnd, SerialLine};
    use crate::verdict::{ExpectMatch, Verdict};

    fn passed() -> CaseResult {
        let lines = vec![
            SerialLine::new(Duration::from_millis(250), "halyard: v0 <&>"),
            SerialLine::new(Duration::from_millis(900), "ok 1 - console\x1b[0m"),
        ];
        CaseResult {
            name: "selftest".into(),
            description: String::new(),
            status: Status::Passed,
            duration: Duration::from_millis(1200),
            argv: vec![
                "qemu-system-aarch64".into(),
                "-kernel".into(),
                "boot.img".into(),
            ],
            verdict: Some(Verdict {
                passed: true,
                reason: None,
                first_line: Some(Duration::from_millis(250)),
                matches: vec![ExpectMatch {
                    pattern: "^ok 1 - ".into(),
                    line: 1,
                    at: Duration::from_millis(900),
                }],
            }),
            capture: Some(Capture {
                lines,
                stderr: "qemu: warning\n".into(),
                end: RunEnd::Exited {
                    code: Some(0),
                    signal: None,
                },
                elapsed: Duration::from_millis(1200),
            }),
        }
    }

    fn not_run(name: &str, status: Status) -> CaseResult {
        CaseResult {
            name: name.into(),
            description: String::new(),
            status,
            duration: Duration::ZERO,
            argv: Vec::new(),
            capture: None,
            verdict: None,
        }
    }

    #[test]
    fn report_round_trips_with_statuses_measurements_and_log() {
        let results = [
            passed(),
            not_run(
                "broken",
                Status::Failed("timeout after 5s; last 1 serial lines:\n  x".into()),
            ),
            not_run("noimage", Status::Error("image build failed: boom".into())),
            not_run("big", Status::Skipped("slow; use --slow".into())),
        ];
        let xml = report("qemu-virt", &results, Duration::from_secs(3))
            .to_string()
            .unwrap();
        let back = Report::deserialize_from_str(&xml).unwrap();
        let suite = &back.test_suites[0];
        assert_eq!(suite.name.as_str(), "qemu-virt");
        assert_eq!(
            (suite.tests, suite.failures, suite.errors, suite.disabled),
            (4, 1, 1, 1)
        );

        let tc = &suite.test_cases[0];
        assert_eq!(tc.name.as_str(), "selftest");
        assert_eq!(tc.classname.as_ref().unwrap().as_str(), "qemu-virt");
        let props: Vec<(&str, &str)> = tc
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            props,
            [("first_serial_line_s", "0.250"), ("expect_1_s", "0.900")]
        );
        let out = tc.system_out.as_ref().unwrap().as_str();
        assert!(
            out.contains("qemu: qemu-system-aarch64 -kernel boot.img"),
            "{out}"
        );
        assert!(out.contains("first serial line after 0.250 s"), "{out}");
        assert!(
            out.contains("expect #1 '^ok 1 - ' matched line 2 after 0.900 s"),
            "{out}"
        );
        // Escaped markup survives; the ANSI escape is stripped.
        assert!(
            out.contains("[   0.250] halyard: v0 <&>\n[   0.900] ok 1 - console"),
            "{out}"
        );
        assert!(!out.contains('\x1b'), "{out}");
        assert_eq!(
            tc.system_err.as_ref().unwrap().as_str().trim_end(),
            "qemu: warning"
        );

        match &suite.test_cases[1].status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                message,
                description,
                ..
            } => {
                assert_eq!(
                    message.as_ref().unwrap().as_str(),
                    "timeout after 5s; last 1 serial lines:"
                );
                assert!(description.as_ref().unwrap().as_str().ends_with("\n  x"));
            }
            s => panic!("{s:?}"),
        }
        assert!(matches!(
            suite.test_cases[2].status,
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Error,
                ..
            }
        ));
        assert!(matches!(
            suite.test_cases[3].status,
            TestCaseStatus::Skipped { .. }
        ));
    }
}
