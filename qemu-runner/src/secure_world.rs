//! Cases that boot through the board's secure-world firmware (case field
//! `secure_world:`): QEMU starts the firmware at EL3 from flash, the boot
//! image is placed where the firmware hands over to it (BL33), and the
//! firmware's own console is QEMU's second serial port, kept as
//! `secure.log` and judged with its own expectations.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image_builder::manifest::BoardManifest;
use regex::Regex;
use serde::Deserialize;

/// `secure_world: {knobs, expect, forbid}` in a case.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecureCase {
    /// Boot-time knobs for the test firmware (fw_cfg `opt/halyard/spmc`).
    #[serde(default)]
    pub knobs: Vec<String>,
    /// Lines the secure console must show, in order.
    #[serde(default)]
    pub expect: Vec<String>,
    /// Lines it must not show.
    #[serde(default)]
    pub forbid: Vec<String>,
}

/// The firmware image-builder wrote beside the boot image.
pub fn firmware_path(image: &Path) -> PathBuf {
    image.with_file_name(image_builder::build::SECURE_FIRMWARE_FILE)
}

/// The firmware a `secure_world:` case boots: `chosen` if given (`qemu-runner
/// test --secure-firmware`, e.g. scripts/interop-tfa's TF-A + OP-TEE
/// flash.bin), otherwise the one beside the image.
pub fn firmware_for(image: &Path, chosen: Option<&Path>) -> PathBuf {
    chosen.map_or_else(|| firmware_path(image), Path::to_path_buf)
}

/// `-machine`, the boot arguments and the extra arguments for the run.
pub struct SecureBoot {
    pub machine: String,
    pub boot_args: Vec<String>,
    pub extra_args: Vec<String>,
    pub log: PathBuf,
}

/// QEMU option values are comma-separated: a literal comma is doubled.
fn qemu_escape(s: &str) -> String {
    s.replace(',', ",,")
}

pub fn prepare(
    board: &BoardManifest,
    case: &SecureCase,
    firmware: &Path,
    image: &Path,
    case_dir: &Path,
) -> Result<SecureBoot> {
    let Some(sw) = &board.secure_world else {
        bail!("board {} has no secure_world in its manifest", board.board);
    };
    if !firmware.is_file() {
        bail!(
            "{} is missing: image-builder writes it for boards with a secure_world",
            firmware.display()
        );
    }
    for k in &case.knobs {
        if k.is_empty() || k.contains(',') {
            bail!("secure_world knob '{k}' must be one non-empty knob without commas");
        }
    }
    let log = case_dir.join("secure.log");
    let _ = std::fs::remove_file(&log);
    let mut extra_args = vec!["-serial".to_string(), format!("file:{}", log.display())];
    if !case.knobs.is_empty() {
        extra_args.extend([
            "-fw_cfg".to_string(),
            format!(
                "name=opt/halyard/spmc,string={}",
                qemu_escape(&case.knobs.join(","))
            ),
        ]);
    }
    Ok(SecureBoot {
        machine: sw.machine.clone(),
        boot_args: vec![
            "-bios".into(),
            firmware.display().to_string(),
            "-device".into(),
            format!(
                "loader,file={},addr={:#x},force-raw=on",
                qemu_escape(&image.display().to_string()),
                sw.bl33.entry
            ),
        ],
        extra_args,
        log,
    })
}

/// Why the secure console's log fails the case, if it does.
pub fn judge(case: &SecureCase, log: &Path) -> Result<Option<String>> {
    let text = std::fs::read_to_string(log)
        .with_context(|| format!("cannot read the secure console's log {}", log.display()))?;
    let compile = |field: &str, list: &[String]| -> Result<Vec<Regex>> {
        list.iter()
            .map(|p| Regex::new(p).with_context(|| format!("secure_world.{field}: '{p}'")))
            .collect()
    };
    let expect = compile("expect", &case.expect)?;
    let forbid = compile("forbid", &case.forbid)?;
    let mut next = 0;
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(re) = forbid.iter().find(|re| re.is_match(line)) {
            return Ok(Some(format!(
                "secure console: forbidden pattern '{}' matched: {line}",
                re.as_str()
            )));
        }
        if expect.get(next).is_some_and(|re| re.is_match(line)) {
            next += 1;
        }
    }
    Ok(expect.get(next).map(|re| {
        format!(
            "secure console: expected '{}' not seen ({} of {} matched; see secure.log)",
            re.as_str(),
            next,
            expect.len()
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(expect: &[&str], forbid: &[&str]) -> SecureCase {
        SecureCase {
            knobs: vec![],
            expect: expect.iter().map(|s| s.to_string()).collect(),
            forbid: forbid.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn secure_log_expectations_in_order_and_forbidden_lines() {
        let dir = std::env::temp_dir().join(format!("halyard-secure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("secure.log");
        std::fs::write(
            &log,
            "fw: a\r\nfw: b\nfw: smc 0x84000068 FFA_PARTITION_INFO_GET 1\n",
        )
        .unwrap();
        assert_eq!(
            judge(&case(&["a$", "PARTITION_INFO_GET 1$"], &[]), &log).unwrap(),
            None
        );
        let r = judge(&case(&["b", "a"], &[]), &log).unwrap().unwrap();
        assert!(r.contains("expected 'a' not seen (1 of 2"), "{r}");
        let r = judge(&case(&[], &["fw: b"]), &log).unwrap().unwrap();
        assert!(r.contains("forbidden pattern 'fw: b'"), "{r}");
        assert!(judge(&case(&[], &[]), &dir.join("missing.log")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn chosen_firmware_replaces_the_one_beside_the_image() {
        let image = Path::new("/o/images/ffa/boot.img");
        assert_eq!(
            firmware_for(image, None),
            Path::new("/o/images/ffa").join(image_builder::build::SECURE_FIRMWARE_FILE)
        );
        let tfa = Path::new("/w/out/interop-tfa/flash.bin");
        assert_eq!(firmware_for(image, Some(tfa)), tfa);
    }

    #[test]
    fn knobs_reach_fw_cfg_with_commas_escaped() {
        assert_eq!(
            qemu_escape("desc-size=28,no-bit15"),
            "desc-size=28,,no-bit15"
        );
    }
}
