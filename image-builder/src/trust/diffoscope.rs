//! Showing where two outputs differ: diffoscope's text report (Debian
//! package diffoscope-minimal; it unpacks archives, gzip, JSON and ELF and
//! compares what is inside).

use std::path::Path;
use std::process::Command;

/// Lines of a report printed at most (the rest is summarised).
pub const MAX_LINES: usize = 400;

/// diffoscope's text report on `a` and `b`, or a loud line saying why there
/// is none. At most [`MAX_LINES`] lines.
pub fn report(a: &Path, b: &Path) -> String {
    let out = Command::new("diffoscope")
        .args(["--text", "-", "--text-color", "never"])
        .arg(a)
        .arg(b)
        .env("LC_ALL", "C.UTF-8")
        .output();
    let text = match out {
        Err(e) => {
            return format!(
                "NO DIFFOSCOPE REPORT: cannot run diffoscope ({e}); scripts/setup installs diffoscope-minimal\n"
            )
        }
        // 1: differences found (the report is on stdout); 0: none.
        Ok(o) if matches!(o.status.code(), Some(0 | 1)) => {
            String::from_utf8_lossy(&o.stdout).into_owned()
        }
        Ok(o) => {
            return format!(
                "NO DIFFOSCOPE REPORT: diffoscope failed ({}): {}\n",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )
        }
    };
    truncate(&text, MAX_LINES)
}

fn truncate(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut s: String = lines.iter().take(max).map(|l| format!("{l}\n")).collect();
    if lines.len() > max {
        s += &format!(
            "[... {} more lines of diffoscope output]\n",
            lines.len() - max
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_where_two_files_differ() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a.json"), t.path().join("b.json"));
        std::fs::write(&a, "{\n  \"path\": \"/build/a\",\n  \"n\": 1\n}\n").unwrap();
        std::fs::write(&b, "{\n  \"path\": \"/build/b-longer\",\n  \"n\": 1\n}\n").unwrap();
        let r = report(&a, &b);
        assert!(
            !r.starts_with("NO DIFFOSCOPE"),
            "diffoscope must be installed: {r}"
        );
        assert!(
            r.contains("/build/a") && r.contains("/build/b-longer"),
            "{r}"
        );
        assert!(r.contains('-') && r.contains('+'), "{r}");
    }

    #[test]
    fn long_reports_are_cut() {
        let text: String = (0..10).map(|i| format!("l{i}\n")).collect();
        assert_eq!(
            truncate(&text, 3),
            "l0\nl1\nl2\n[... 7 more lines of diffoscope output]\n"
        );
        assert_eq!(truncate("a\n", 3), "a\n");
    }
}
