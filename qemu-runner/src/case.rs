//! Test case files (`tests/suites/<board>/<case>.yaml`).
//!
//! A case says which image to boot, how long to wait and what the serial
//! console must (and must not) print. This module parses and checks them up
//! front, so that a typo in a case is reported with its file and field before
//! any QEMU starts, instead of surfacing as a confusing test failure.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use regex::Regex;
use serde::Deserialize;

use crate::verdict::{Expectations, BUILTIN_FORBID};

/// One test case, as written in its YAML file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Must equal the file stem.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Image manifest, relative to the workspace root (unless absolute).
    pub image: PathBuf,
    /// Slow cases run only when asked for (`--slow`).
    #[serde(default)]
    pub slow: bool,
    /// Wall-clock limit for the QEMU run, in seconds.
    pub timeout_s: u64,
    /// Overrides the board manifest's `qemu.smp`.
    #[serde(default)]
    pub smp: Option<u32>,
    /// Overrides the board manifest's `qemu.memory_mib`.
    #[serde(default)]
    pub memory_mib: Option<u32>,
    /// Appended after the board's `qemu.extra_args`.
    #[serde(default)]
    pub qemu_extra_args: Vec<String>,
    /// Regexes that must match serial lines, in this order, one line each.
    pub expect: Vec<String>,
    /// Lines that must each appear, in any order (after `expect` is met).
    #[serde(default)]
    pub expect_unordered: Vec<String>,
    /// Regexes with exactly one capture group: each must match at least two
    /// serial lines, and capture the same text on every line it matches
    /// (figures printed at the start and end of a run that must not change,
    /// e.g. the hypervisor's memory in use).
    #[serde(default)]
    pub equal: Vec<String>,
    /// Regexes that fail the case if any serial line matches them
    /// (in addition to [`BUILTIN_FORBID`]).
    #[serde(default)]
    pub forbid: Vec<String>,
    /// Boot through the board's UEFI firmware with Secure Boot enforced
    /// (our keys enrolled) instead of handing QEMU the image directly:
    /// `{image: signed}` boots `boot.efi`, `{image: unsigned}` `boot.img`.
    #[serde(default)]
    pub uefi: Option<crate::uefi::UefiBoot>,
    /// Boot the image's split layout through a boot loader instead of
    /// handing QEMU `boot.img`: `guest-loader` or `u-boot`.
    #[serde(default)]
    pub loader: Option<crate::loader::Loader>,
    /// With `loader: guest-loader`: modules handed over after the image's.
    #[serde(default)]
    pub extra_modules: Vec<crate::loader::ExtraModule>,
    /// With `loader: guest-loader`: files of the split layout not handed
    /// over (names as in its layout.json).
    #[serde(default)]
    pub withhold_modules: Vec<String>,
    /// Bytes changed in the built image (with `uefi`: in the file booted)
    /// before it boots.
    #[serde(default)]
    pub tamper: Vec<Tamper>,
    /// Boot through the board's secure-world firmware (EL3 + SPMC).
    #[serde(default)]
    pub secure_world: Option<crate::secure_world::SecureCase>,
    /// Text to type on the serial console, each once a line matches its
    /// `after` regex (in order).
    #[serde(default)]
    pub input: Vec<InputStep>,
    /// How a passing run ends.
    pub end: End,
}

/// One step of serial input.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InputStep {
    pub after: String,
    pub send: String,
}

/// How a passing run ends: exactly one of the two.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct End {
    /// QEMU's exit status: 0 after PSCI SYSTEM_OFF, the code after a
    /// semihosting SYS_EXIT.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The run is over once a line matches (the runner stops QEMU): for
    /// cases where the system rightly halts instead of powering off.
    #[serde(default)]
    pub stop_on: Option<String>,
}

/// A change to the built image before it boots (to test that tampering
/// is caught): `xor` applied at `offset` bytes into `region`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tamper {
    pub region: TamperRegion,
    /// Module index in the table, for `region: module`.
    #[serde(default)]
    pub module: Option<usize>,
    pub offset: u64,
    pub xor: u8,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TamperRegion {
    Table,
    Signature,
    Module,
}

impl Case {
    /// Parse and check a case from YAML text. `path` names the file in errors
    /// and gives the expected `name` (its stem).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let ctx = path.display();
        let case: Case =
            serde_norway::from_str(text).with_context(|| format!("malformed test case {ctx}"))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if case.name != stem {
            bail!(
                "{ctx}: field 'name' is '{}', expected '{stem}' (the file name without .yaml)",
                case.name
            );
        }
        if case.timeout_s == 0 {
            bail!("{ctx}: field 'timeout_s' must be at least 1");
        }
        if case.expect.is_empty() {
            bail!("{ctx}: field 'expect' is empty: a case must expect at least one serial line");
        }
        if case.smp == Some(0) {
            bail!("{ctx}: field 'smp' must be at least 1");
        }
        if case.memory_mib == Some(0) {
            bail!("{ctx}: field 'memory_mib' must be at least 1");
        }
        if case.image.as_os_str().is_empty() {
            bail!("{ctx}: field 'image' is empty");
        }
        if case.end.exit_code.is_some() == case.end.stop_on.is_some() {
            bail!("{ctx}: field 'end' needs exactly one of 'exit_code' and 'stop_on'");
        }
        if let Some(u) = &case.uefi {
            if u.image_base.is_some() && u.image != crate::uefi::UefiImage::Signed {
                bail!("{ctx}: field 'uefi.image_base' goes with 'image: signed' only");
            }
        }
        if case.loader.is_some() && (case.uefi.is_some() || !case.tamper.is_empty()) {
            bail!("{ctx}: field 'loader' goes with neither 'uefi' nor 'tamper'");
        }
        let loader_options = !case.extra_modules.is_empty() || !case.withhold_modules.is_empty();
        if loader_options && case.loader != Some(crate::loader::Loader::GuestLoader) {
            bail!(
                "{ctx}: fields 'extra_modules' and 'withhold_modules' need 'loader: guest-loader'"
            );
        }
        for (i, t) in case.tamper.iter().enumerate() {
            if (t.region == TamperRegion::Module) != t.module.is_some() || t.xor == 0 {
                bail!("{ctx}: tamper[{i}]: 'module' goes with region 'module' only, and 'xor' must not be 0");
            }
        }
        // Compile once here so that bad patterns are reported with the file.
        case.expectations()
            .with_context(|| format!("{ctx}: invalid regex"))?;
        Ok(case)
    }

    /// The compiled patterns and the expected end, ready for the verdict.
    /// The built-in forbidden patterns come after the case's own.
    pub fn expectations(&self) -> Result<Expectations> {
        let compile = |field: &str, list: &[String]| -> Result<Vec<Regex>> {
            list.iter()
                .enumerate()
                .map(|(i, p)| {
                    Regex::new(p).with_context(|| format!("field '{field}[{i}]' ('{p}')"))
                })
                .collect()
        };
        let mut forbid = compile("forbid", &self.forbid)?;
        for p in BUILTIN_FORBID {
            forbid.push(Regex::new(p).expect("built-in pattern"));
        }
        let equal = compile("equal", &self.equal)?;
        for (i, re) in equal.iter().enumerate() {
            // captures_len counts the whole match as group 0.
            if re.captures_len() != 2 {
                bail!(
                    "field 'equal[{i}]' ('{}') must have exactly one capture group, has {}",
                    re.as_str(),
                    re.captures_len() - 1
                );
            }
        }
        Ok(Expectations {
            equal,
            expect: compile("expect", &self.expect)?,
            expect_unordered: compile("expect_unordered", &self.expect_unordered)?,
            forbid,
            exit_code: self.end.exit_code,
            stop_on: match &self.end.stop_on {
                Some(p) => {
                    Some(Regex::new(p).with_context(|| format!("field 'end.stop_on' ('{p}')"))?)
                }
                None => None,
            },
        })
    }

    /// The serial input steps, with their `after` patterns compiled.
    pub fn serial_input(&self) -> Result<Vec<crate::qemu::SerialInput>> {
        self.input
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let after = Regex::new(&step.after)
                    .with_context(|| format!("field 'input[{i}].after' ('{}')", step.after))?;
                Ok(crate::qemu::SerialInput {
                    after,
                    send: step.send.clone(),
                })
            })
            .collect()
    }

    /// The image manifest path, resolved against the workspace root.
    pub fn image_manifest(&self, workspace_root: &Path) -> PathBuf {
        workspace_root.join(&self.image)
    }
}

/// Load one case file.
pub fn load_case(path: &Path) -> Result<Case> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read test case {}", path.display()))?;
    Case::parse(&text, path)
}

/// Load every `*.yaml` case in `dir`, sorted by file name.
pub fn load_suite(dir: &Path) -> Result<Vec<Case>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read suite directory {}", dir.display()))?;
    let mut paths = Vec::new();
    for e in entries {
        let p = e
            .with_context(|| format!("cannot read suite directory {}", dir.display()))?
            .path();
        if p.extension().is_some_and(|x| x == "yaml") && p.is_file() {
            paths.push(p);
        }
    }
    paths.sort();
    if paths.is_empty() {
        bail!("suite directory {} has no *.yaml cases", dir.display());
    }
    paths.iter().map(|p| load_case(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: selftest
description: EL1 self-test guest checks the guest interface
image: manifests/images/selftest.yaml
slow: false
timeout_s: 60
smp: 2
memory_mib: 512
qemu_extra_args: ["-d", "guest_errors"]
expect:
  - '^ok 1 - '
forbid:
  - 'Bail out!'
end:
  exit_code: 3
"#;

    fn parse(text: &str, file: &str) -> Result<Case> {
        Case::parse(text, Path::new(file))
    }

    #[test]
    fn end_needs_exactly_one_rule_and_tamper_is_checked() {
        let base = "name: a\nimage: x.yaml\ntimeout_s: 5\nexpect: ['x']\n";
        let p = Path::new("a.yaml");
        assert!(Case::parse(&format!("{base}end: {{stop_on: '^h$'}}\n"), p).is_ok());
        let e =
            Case::parse(&format!("{base}end: {{exit_code: 0, stop_on: 'h'}}\n"), p).unwrap_err();
        assert!(format!("{e:#}").contains("exactly one"), "{e:#}");
        assert!(Case::parse(&format!("{base}end: {{}}\n"), p).is_err());
        let tamper =
            |t: &str| Case::parse(&format!("{base}tamper: [{t}]\nend: {{exit_code: 0}}\n"), p);
        assert!(tamper("{region: module, module: 0, offset: 1, xor: 1}").is_ok());
        assert!(tamper("{region: table, module: 0, offset: 1, xor: 1}").is_err());
        assert!(tamper("{region: module, offset: 1, xor: 1}").is_err());
        assert!(tamper("{region: table, offset: 1, xor: 0}").is_err());
        assert!(tamper("{region: nowhere, offset: 1, xor: 1}").is_err());
    }

    #[test]
    fn uefi_boots_parse_and_image_base_needs_signed() {
        let base = "name: a\nimage: x.yaml\ntimeout_s: 5\nexpect: ['x']\nend: {exit_code: 0}\n";
        let p = Path::new("a.yaml");
        let with = |u: &str| Case::parse(&format!("{base}uefi: {u}\n"), p);
        let c = with("{image: signed, image_base: 0x50000000}").unwrap();
        let u = c.uefi.unwrap();
        assert_eq!(u.image, crate::uefi::UefiImage::Signed);
        assert_eq!(u.image_base, Some(0x5000_0000));
        assert_eq!(
            with("{image: unsigned}").unwrap().uefi.unwrap().image,
            crate::uefi::UefiImage::Unsigned
        );
        let e = with("{image: unsigned, image_base: 0x50000000}").unwrap_err();
        assert!(format!("{e:#}").contains("image_base"), "{e:#}");
        assert!(with("{image: other}").is_err());
        assert!(with("{image: signed, extra: 1}").is_err());
        assert_eq!(Case::parse(base, p).unwrap().uefi, None);
    }

    #[test]
    fn equal_needs_exactly_one_capture_group() {
        let base = "name: a\nimage: x.yaml\ntimeout_s: 5\nexpect: ['x']\nend: {exit_code: 0}\n";
        let p = Path::new("a.yaml");
        let with = |e: &str| Case::parse(&format!("{base}equal: ['{e}']\n"), p);
        let c = with("^heap (\\d+)$").unwrap();
        assert_eq!(c.expectations().unwrap().equal.len(), 1);
        for bad in ["^heap \\d+$", "^(a) (b)$"] {
            let e = format!("{:#}", with(bad).unwrap_err());
            assert!(
                e.contains("equal[0]") && e.contains("one capture group"),
                "{e}"
            );
        }
        // Non-capturing groups do not count.
        assert!(with("^(?:x|y) (\\d+)$").is_ok());
        assert!(Case::parse(base, p).unwrap().equal.is_empty());
    }

    #[test]
    fn good_case_parses() {
        let c = parse(GOOD, "tests/suites/qemu-virt/selftest.yaml").unwrap();
        assert_eq!(c.name, "selftest");
        assert_eq!(c.image, PathBuf::from("manifests/images/selftest.yaml"));
        assert_eq!(c.timeout_s, 60);
        assert_eq!((c.smp, c.memory_mib), (Some(2), Some(512)));
        assert_eq!(c.qemu_extra_args, ["-d", "guest_errors"]);
        assert_eq!(
            c.end,
            End {
                exit_code: Some(3),
                stop_on: None
            }
        );
        let e = c.expectations().unwrap();
        assert_eq!(e.expect.len(), 1);
        // The case's own pattern, then the built-in ones.
        let forbid: Vec<&str> = e.forbid.iter().map(Regex::as_str).collect();
        assert_eq!(forbid, ["Bail out!", "panic", "^not ok"]);
        assert_eq!(e.exit_code, Some(3));
    }

    #[test]
    fn optional_fields_default() {
        let c = parse(
            "name: a\nimage: x.yaml\ntimeout_s: 5\nexpect: ['x']\nend: {exit_code: 0}\n",
            "a.yaml",
        )
        .unwrap();
        assert!(!c.slow);
        assert_eq!((c.smp, c.memory_mib), (None, None));
        assert!(c.forbid.is_empty() && c.qemu_extra_args.is_empty());
    }

    #[test]
    fn unknown_field_names_file_and_field() {
        let text = GOOD.replace("slow: false", "slow: false\ncolour: red");
        let e = format!("{:#}", parse(&text, "suite/selftest.yaml").unwrap_err());
        assert!(e.contains("suite/selftest.yaml"), "{e}");
        assert!(e.contains("colour"), "{e}");
        // Unknown fields inside `end` are errors too.
        let text = GOOD.replace("exit_code: 3", "exit_code: 3\n  signal: 9");
        let e = format!("{:#}", parse(&text, "suite/selftest.yaml").unwrap_err());
        assert!(e.contains("signal"), "{e}");
    }

    #[test]
    fn wrong_type_names_field_and_line() {
        let text = GOOD.replace("timeout_s: 60", "timeout_s: soon");
        let e = format!("{:#}", parse(&text, "s/selftest.yaml").unwrap_err());
        assert!(
            e.contains("s/selftest.yaml") && e.contains("timeout_s"),
            "{e}"
        );
        assert!(e.contains("line 6"), "{e}");
    }

    #[test]
    fn missing_required_field_is_named() {
        let text = GOOD.replace("end:\n  exit_code: 3\n", "");
        let e = format!("{:#}", parse(&text, "selftest.yaml").unwrap_err());
        assert!(e.contains("missing field `end`"), "{e}");
    }

    #[test]
    fn name_must_match_file_stem() {
        let e = parse(GOOD, "suite/other.yaml").unwrap_err().to_string();
        assert!(
            e.contains("suite/other.yaml")
                && e.contains("field 'name' is 'selftest'")
                && e.contains("expected 'other'"),
            "{e}"
        );
    }

    #[test]
    fn bad_regex_names_file_field_and_index() {
        let text = GOOD.replace("  - '^ok 1 - '", "  - '^ok 1 - '\n  - 'ok ('");
        let e = format!("{:#}", parse(&text, "s/selftest.yaml").unwrap_err());
        assert!(
            e.contains("s/selftest.yaml") && e.contains("field 'expect[1]'") && e.contains("ok ("),
            "{e}"
        );
    }

    #[test]
    fn empty_expect_and_zero_timeout_are_rejected() {
        let text = GOOD
            .replace("  - '^ok 1 - '\n", "")
            .replace("expect:", "expect: []");
        let e = parse(&text, "selftest.yaml").unwrap_err().to_string();
        assert!(e.contains("field 'expect' is empty"), "{e}");
        let text = GOOD.replace("timeout_s: 60", "timeout_s: 0");
        let e = parse(&text, "selftest.yaml").unwrap_err().to_string();
        assert!(e.contains("timeout_s"), "{e}");
    }

    #[test]
    fn suite_loads_sorted_and_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b", "a", "c"] {
            std::fs::write(
                dir.path().join(format!("{n}.yaml")),
                format!(
                    "name: {n}\nimage: i.yaml\ntimeout_s: 1\nexpect: [x]\nend: {{exit_code: 0}}\n"
                ),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("README.md"), "not a case").unwrap();
        let names: Vec<String> = load_suite(dir.path())
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn in_tree_suite_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/suites/qemu-virt");
        let cases = load_suite(&dir).unwrap();
        assert!(cases.iter().any(|c| c.name == "selftest"));
    }

    /// Run with `--secure-firmware` (docs/ffa-interop.md), not by CI: at
    /// least they parse and their patterns compile.
    #[test]
    fn interop_suite_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/tfa-optee");
        let cases = load_suite(&dir).unwrap();
        assert!(cases.iter().any(|c| c.name == "ffa-clients"));
        for c in &cases {
            assert!(c.secure_world.is_some(), "{}", c.name);
            c.expectations().unwrap();
        }
    }
}
