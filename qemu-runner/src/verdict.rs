//! Deciding whether a captured run passed, and why not.
//!
//! Kept free of I/O so the rules (ordered expects, forbidden lines, timeout,
//! exit code) can be unit-tested on hand-made captures, and so every failure
//! carries a specific reason a developer can act on without opening the log.
use std::time::Duration;

use regex::Regex;

use crate::qemu::{RunEnd, SerialLine};

/// Patterns every case forbids, after its own.
pub const BUILTIN_FORBID: &[&str] = &["panic", "^not ok"];

/// How many of the last serial lines a timeout reason quotes.
const TAIL_LINES: usize = 5;

/// What a case requires of a run.
#[derive(Clone, Debug)]
pub struct Expectations {
    /// Must match serial lines in this order, each a later line than the last.
    pub expect: Vec<Regex>,
    /// Must each match some serial line, in any order (lines of domains
    /// that run at the same time interleave).
    pub expect_unordered: Vec<Regex>,
    /// Each has one capture group; it must match at least two serial lines
    /// and capture the same text on all of them.
    pub equal: Vec<Regex>,
    /// Fail the case if any serial line matches.
    pub forbid: Vec<Regex>,
    /// QEMU's expected exit status, or
    pub exit_code: Option<i32>,
    /// the line on which the runner stops QEMU and the run is over.
    pub stop_on: Option<Regex>,
}

impl Expectations {
    /// The first forbidden pattern `line` matches, if any.
    pub fn forbidden(&self, line: &str) -> Option<&Regex> {
        self.forbid.iter().find(|r| r.is_match(line))
    }
}

/// Where an expected pattern matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectMatch {
    pub pattern: String,
    /// Index into the serial lines.
    pub line: usize,
    /// Time since QEMU start.
    pub at: Duration,
}

/// The outcome of judging one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub passed: bool,
    /// Why it failed; `None` when it passed.
    pub reason: Option<String>,
    /// Time to the first serial line.
    pub first_line: Option<Duration>,
    /// The expects that matched, in order (a prefix of the case's list).
    pub matches: Vec<ExpectMatch>,
}

fn format_line(l: &SerialLine) -> String {
    format!("[{:8.3}] {}", l.at.as_secs_f64(), l.text)
}

/// Judge a run: all expects matched in order, no forbidden line, QEMU ended
/// by itself with the expected exit code. The reason names the most specific
/// problem: a forbidden line, else a timeout (with the first unmatched expect
/// and the last serial lines), else the first unmatched expect, else the exit
/// code.
pub fn judge(exp: &Expectations, lines: &[SerialLine], end: &RunEnd, timeout: Duration) -> Verdict {
    let mut matches = Vec::new();
    let mut forbidden = None;
    for (i, l) in lines.iter().enumerate() {
        if let Some(re) = exp.expect.get(matches.len()) {
            if re.is_match(&l.text) {
                matches.push(ExpectMatch {
                    pattern: re.as_str().to_string(),
                    line: i,
                    at: l.at,
                });
            }
        }
        if forbidden.is_none() {
            if let Some(re) = exp.forbidden(&l.text) {
                forbidden = Some((re.as_str().to_string(), l));
            }
        }
    }
    let unmatched = exp.expect.get(matches.len()).map(|re| {
        format!(
            "expect #{} '{}' never matched{}",
            matches.len() + 1,
            re.as_str(),
            match matches.last() {
                Some(m) => format!(" (after expect #{} on line {})", matches.len(), m.line + 1),
                None => String::new(),
            }
        )
    });
    let unmatched = unmatched.or_else(|| {
        exp.expect_unordered
            .iter()
            .find(|re| !lines.iter().any(|l| re.is_match(&l.text)))
            .map(|re| format!("expect_unordered '{}' never matched", re.as_str()))
    });
    let unmatched = unmatched.or_else(|| exp.equal.iter().find_map(|re| unequal(re, lines)));
    let reason = if let Some((pattern, line)) = forbidden {
        Some(format!(
            "forbidden pattern '{pattern}' matched line: {}",
            format_line(line)
        ))
    } else if *end == RunEnd::TimedOut {
        let mut r = format!("timeout after {}s", timeout.as_secs());
        if let Some(u) = &unmatched {
            r.push_str(&format!("; {u}"));
        }
        if lines.is_empty() {
            r.push_str("; no serial output at all");
        } else {
            r.push_str(&format!(
                "; last {} serial lines:",
                TAIL_LINES.min(lines.len())
            ));
            for l in &lines[lines.len().saturating_sub(TAIL_LINES)..] {
                r.push_str(&format!("\n  {}", format_line(l)));
            }
        }
        Some(r)
    } else if let Some(u) = unmatched {
        Some(format!("{u}; QEMU {}", describe_end(end)))
    } else {
        let stopped_on = |re: &Regex| lines.iter().any(|l| re.is_match(&l.text));
        match (&exp.stop_on, exp.exit_code, end) {
            (Some(re), _, RunEnd::Stopped) if stopped_on(re) => None,
            (Some(re), _, _) => Some(format!(
                "QEMU {}, expected to stop on '{}'",
                describe_end(end),
                re.as_str()
            )),
            (None, Some(want), RunEnd::Exited { code: Some(c), .. }) if *c == want => None,
            (None, want, _) => Some(format!(
                "QEMU {}, expected exit code {}",
                describe_end(end),
                want.unwrap_or(0)
            )),
        }
    };
    Verdict {
        passed: reason.is_none(),
        reason,
        first_line: lines.first().map(|l| l.at),
        matches,
    }
}

/// Why `re` (one capture group) fails its `equal` rule on `lines`: fewer
/// than two matching lines, or a capture that differs from the first.
fn unequal(re: &Regex, lines: &[SerialLine]) -> Option<String> {
    let mut first: Option<(&str, usize)> = None;
    let mut count = 0;
    for (i, l) in lines.iter().enumerate() {
        let Some(caps) = re.captures(&l.text) else {
            continue;
        };
        let got = caps.get(1).map_or("", |m| m.as_str());
        count += 1;
        match first {
            None => first = Some((got, i)),
            Some((want, at)) if want != got => {
                return Some(format!(
                    "equal '{}': line {} captured '{got}', line {} captured '{want}'",
                    re.as_str(),
                    i + 1,
                    at + 1
                ));
            }
            Some(_) => {}
        }
    }
    (count < 2).then(|| {
        format!(
            "equal '{}' matched {count} line(s), needs at least 2",
            re.as_str()
        )
    })
}

fn describe_end(end: &RunEnd) -> String {
    match end {
        RunEnd::Exited { code: Some(c), .. } => format!("exited with code {c}"),
        RunEnd::Exited {
            signal: Some(s), ..
        } => format!("was killed by signal {s}"),
        RunEnd::Exited { .. } => "ended without an exit code".into(),
        RunEnd::TimedOut => "timed out".into(),
        RunEnd::Stopped => "was stopped by the runner".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(expect: &[&str], forbid: &[&str], exit_code: i32) -> Expectations {
        Expectations {
            expect_unordered: vec![],
            equal: vec![],
            expect: expect.iter().map(|p| Regex::new(p).unwrap()).collect(),
            forbid: forbid
                .iter()
                .chain(BUILTIN_FORBID)
                .map(|p| Regex::new(p).unwrap())
                .collect(),
            exit_code: Some(exit_code),
            stop_on: None,
        }
    }

    fn lines(texts: &[&str]) -> Vec<SerialLine> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| SerialLine::new(Duration::from_millis(100 * (i as u64 + 1)), *t))
            .collect()
    }

    #[test]
    fn equal_captures_must_agree_on_at_least_two_lines() {
        let mut e = exp(&["^start$"], &[], 0);
        e.equal = vec![Regex::new("^mem: (\\d+) used$").unwrap()];
        let end = RunEnd::Exited {
            code: Some(0),
            signal: None,
        };
        let t = Duration::from_secs(10);
        let v = judge(
            &e,
            &lines(&["start", "mem: 5 used", "x", "mem: 5 used"]),
            &end,
            t,
        );
        assert!(v.passed, "{:?}", v.reason);
        let v = judge(
            &e,
            &lines(&["start", "mem: 5 used", "mem: 5 used", "mem: 7 used"]),
            &end,
            t,
        );
        let r = v.reason.unwrap();
        assert!(
            r.contains("line 4 captured '7'") && r.contains("line 2 captured '5'"),
            "{r}"
        );
        let v = judge(&e, &lines(&["start", "mem: 5 used"]), &end, t);
        assert!(v.reason.unwrap().contains("matched 1 line(s)"));
        let v = judge(&e, &lines(&["start"]), &end, t);
        assert!(v.reason.unwrap().contains("matched 0 line(s)"));
    }

    #[test]
    fn unordered_expects_match_lines_in_any_order() {
        let mut e = exp(&["^start$"], &[], 0);
        e.expect_unordered = vec![
            Regex::new("^d2 ok$").unwrap(),
            Regex::new("^d1 ok$").unwrap(),
        ];
        let end = RunEnd::Exited {
            code: Some(0),
            signal: None,
        };
        let t = Duration::from_secs(5);
        let v = judge(&e, &lines(&["start", "d1 ok", "d2 ok"]), &end, t);
        assert!(v.passed, "{:?}", v.reason);
        let v = judge(&e, &lines(&["start", "d1 ok"]), &end, t);
        assert!(v
            .reason
            .unwrap()
            .contains("expect_unordered '^d2 ok$' never matched"));
    }

    #[test]
    fn stop_on_passes_only_when_stopped_on_its_line() {
        let mut e = exp(&["^a$"], &[], 0);
        e.exit_code = None;
        e.stop_on = Some(Regex::new("^halting$").unwrap());
        let t = Duration::from_secs(5);
        assert!(judge(&e, &lines(&["a", "halting"]), &RunEnd::Stopped, t).passed);
        // Stopped for another reason (no stop line), or exited: not a pass.
        assert!(!judge(&e, &lines(&["a"]), &RunEnd::Stopped, t).passed);
        let exited = RunEnd::Exited {
            code: Some(0),
            signal: None,
        };
        let v = judge(&e, &lines(&["a", "halting"]), &exited, t);
        assert!(!v.passed && v.reason.unwrap().contains("expected to stop on"));
        // Expectations still have to match.
        assert!(!judge(&e, &lines(&["halting"]), &RunEnd::Stopped, t).passed);
    }

    const EXIT0: RunEnd = RunEnd::Exited {
        code: Some(0),
        signal: None,
    };
    const T: Duration = Duration::from_secs(60);

    #[test]
    fn ordered_expects_pass_and_record_times() {
        let e = exp(&["^halyard: ", r"^1\.\.\d+$", "^ok 1 - "], &[], 0);
        let l = lines(&["halyard: v0", "noise", "1..2", "ok 1 - console", "ok 2 - x"]);
        let v = judge(&e, &l, &EXIT0, T);
        assert!(v.passed, "{v:?}");
        assert_eq!(v.reason, None);
        assert_eq!(v.first_line, Some(Duration::from_millis(100)));
        let at: Vec<(usize, u128)> = v
            .matches
            .iter()
            .map(|m| (m.line, m.at.as_millis()))
            .collect();
        assert_eq!(at, [(0, 100), (2, 300), (3, 400)]);
    }

    #[test]
    fn out_of_order_names_first_unmatched_expect() {
        let e = exp(&["^a$", "^b$", "^c$"], &[], 0);
        let v = judge(&e, &lines(&["a", "c", "b"]), &EXIT0, T);
        assert!(!v.passed);
        let r = v.reason.unwrap();
        assert!(r.starts_with("expect #3 '^c$' never matched"), "{r}");
        assert!(r.contains("after expect #2 on line 3"), "{r}");
        assert!(r.contains("exited with code 0"), "{r}");
    }

    #[test]
    fn each_expect_needs_its_own_line() {
        let e = exp(&["ok", "ok"], &[], 0);
        let v = judge(&e, &lines(&["ok ok"]), &EXIT0, T);
        assert!(!v.passed);
        assert!(v
            .reason
            .unwrap()
            .starts_with("expect #2 'ok' never matched"));
        assert!(judge(&e, &lines(&["ok", "ok"]), &EXIT0, T).passed);
    }

    #[test]
    fn forbidden_line_fails_even_if_everything_else_passed() {
        let e = exp(&["^done$"], &["Bail out!"], 0);
        let v = judge(&e, &lines(&["x", "Bail out! broken", "done"]), &EXIT0, T);
        assert!(!v.passed);
        let r = v.reason.unwrap();
        assert!(r.contains("forbidden pattern 'Bail out!'"), "{r}");
        assert!(r.contains("Bail out! broken") && r.contains("0.200"), "{r}");
    }

    #[test]
    fn builtin_forbids_apply_to_every_case() {
        let e = exp(&["^done$"], &[], 0);
        let v = judge(&e, &lines(&["hypervisor panic at x", "done"]), &EXIT0, T);
        assert!(v.reason.unwrap().contains("forbidden pattern 'panic'"));
        let v = judge(&e, &lines(&["not ok 3 - psci", "done"]), &EXIT0, T);
        assert!(v.reason.unwrap().contains("forbidden pattern '^not ok'"));
        // Anchored: "not ok" in the middle of a line is fine.
        assert!(judge(&e, &lines(&["# is it not ok?", "done"]), &EXIT0, T).passed);
    }

    #[test]
    fn exit_code_mismatch_names_both_codes() {
        let e = exp(&["^done$"], &[], 0);
        let end = RunEnd::Exited {
            code: Some(3),
            signal: None,
        };
        let v = judge(&e, &lines(&["done"]), &end, T);
        assert_eq!(
            v.reason.as_deref(),
            Some("QEMU exited with code 3, expected exit code 0")
        );
        let e = exp(&["^done$"], &[], 3);
        assert!(judge(&e, &lines(&["done"]), &end, T).passed);
    }

    #[test]
    fn killed_by_signal_is_a_failure() {
        let e = exp(&["^done$"], &[], 0);
        let end = RunEnd::Exited {
            code: None,
            signal: Some(9),
        };
        let r = judge(&e, &lines(&["done"]), &end, T).reason.unwrap();
        assert!(r.contains("killed by signal 9"), "{r}");
    }

    #[test]
    fn timeout_fails_with_tail_even_if_expects_matched() {
        let e = exp(&["^1$"], &[], 0);
        let l = lines(&["1", "2", "3", "4", "5", "6", "7"]);
        let v = judge(&e, &l, &RunEnd::TimedOut, Duration::from_secs(4));
        assert!(!v.passed);
        let r = v.reason.unwrap();
        assert!(
            r.starts_with("timeout after 4s; last 5 serial lines:"),
            "{r}"
        );
        assert!(
            r.contains("] 3") && r.contains("] 7") && !r.contains("] 2\n"),
            "{r}"
        );
    }

    #[test]
    fn timeout_names_unmatched_expect_and_silence() {
        let e = exp(&["^hello$"], &[], 0);
        let r = judge(&e, &[], &RunEnd::TimedOut, T).reason.unwrap();
        assert_eq!(
            r,
            "timeout after 60s; expect #1 '^hello$' never matched; no serial output at all"
        );
    }

    #[test]
    fn stopped_run_without_forbidden_line_is_not_a_pass() {
        let e = exp(&["^done$"], &[], 0);
        let r = judge(&e, &lines(&["done"]), &RunEnd::Stopped, T)
            .reason
            .unwrap();
        assert!(r.contains("stopped by the runner"), "{r}");
    }
}
