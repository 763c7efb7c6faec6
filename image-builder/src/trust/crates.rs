//! The Rust crates behind an image, for the SBOM: every package in
//! Cargo.lock (name, version, source, the registry's SHA-256) and what it
//! is to this image: compiled into it, a tool that built it, or neither.
//!
//! Cargo.lock is read with a small parser of the layout cargo writes
//! (`[[package]]` tables of `key = "string"` lines); anything else in a
//! package table is an error rather than a guess. Which crates go where
//! comes from `cargo tree` (target-aware, so crates only for other
//! platforms are not counted), which also gives their declared licenses.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};

use crate::cargo::Cargo;

/// The crates.io registry as Cargo.lock names it.
pub const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// One `[[package]]` of Cargo.lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedCrate {
    pub name: String,
    pub version: String,
    /// `None` for path (workspace) crates.
    pub source: Option<String>,
    /// SHA-256 of the `.crate` file (registry crates only).
    pub checksum: Option<String>,
}

/// What a crate is to the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrateUse {
    /// Compiled into these bare-metal binaries (the BSP, in-tree guests).
    InImage(Vec<String>),
    /// Runs on the build host to make the image: the image builder and its
    /// dependencies, build scripts and proc-macros of the image's crates.
    BuildTool,
    /// In Cargo.lock but not used for this image (other tools, tests,
    /// other platforms).
    NotUsed,
}

/// A Cargo.lock crate with its use and declared license.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrateEntry {
    pub krate: LockedCrate,
    pub used: CrateUse,
    /// The `license` field of its Cargo.toml, as cargo reports it.
    pub license: Option<String>,
}

/// Parse Cargo.lock's text (lock file versions 3 and 4).
pub fn parse_cargo_lock(text: &str) -> Result<Vec<LockedCrate>> {
    let mut out = Vec::new();
    let mut cur: Option<BTreeMap<String, String>> = None;
    let mut in_array = false;
    let finish = |m: BTreeMap<String, String>, out: &mut Vec<LockedCrate>| -> Result<()> {
        let (Some(name), Some(version)) = (m.get("name"), m.get("version")) else {
            bail!("Cargo.lock: a [[package]] without name or version");
        };
        out.push(LockedCrate {
            name: name.clone(),
            version: version.clone(),
            source: m.get("source").cloned(),
            checksum: m.get("checksum").cloned(),
        });
        Ok(())
    };
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if in_array {
            in_array = !line.starts_with(']');
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            if let Some(m) = cur.take() {
                finish(m, &mut out)?;
            }
            if line == "[[package]]" {
                cur = Some(BTreeMap::new());
            }
            continue;
        }
        let Some(m) = cur.as_mut() else { continue };
        let Some((key, value)) = line.split_once('=') else {
            bail!("Cargo.lock line {}: cannot read {line:?}", n + 1);
        };
        let (key, value) = (key.trim(), value.trim());
        if value.starts_with('[') {
            in_array = !value.ends_with(']');
            continue;
        }
        match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(v) if !v.contains(['"', '\\']) => {
                m.insert(key.to_string(), v.to_string());
            }
            _ => bail!("Cargo.lock line {}: cannot read {line:?}", n + 1),
        }
    }
    if let Some(m) = cur.take() {
        finish(m, &mut out)?;
    }
    Ok(out)
}

/// (name, version) → license, for every crate `cargo tree` lists with these
/// arguments.
fn cargo_tree(cargo: &Cargo, args: &[&str]) -> Result<BTreeMap<(String, String), String>> {
    let mut cmd = crate::cargo::toolchain_command(&cargo.program);
    cmd.current_dir(&cargo.root)
        .args(["tree", "--locked", "--prefix", "none", "-f", "{p}|{l}"])
        .args(args);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {} tree", cargo.program.to_string_lossy()))?;
    if !out.status.success() {
        bail!(
            "cargo tree {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    let mut found = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `name vX.Y.Z[ (path)][ (*)]|license`
        let (pkg, license) = line.split_once('|').unwrap_or((line, ""));
        let mut words = pkg.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(version) = version.strip_prefix('v') else {
            continue;
        };
        let license = license.trim().trim_end_matches("(*)").trim().to_string();
        found.insert((name.to_string(), version.to_string()), license);
    }
    Ok(found)
}

/// Every crate of `cargo.root`'s Cargo.lock, classified for an image whose
/// bare-metal binaries are built from `image_packages` (for `cargo.target`)
/// by the host tool `tool` (skipped when the workspace has no such crate).
pub fn classify(cargo: &Cargo, image_packages: &[&str], tool: &str) -> Result<Vec<CrateEntry>> {
    let lock_path = cargo.root.join("Cargo.lock");
    let text = std::fs::read_to_string(&lock_path)
        .with_context(|| format!("cannot read {}", lock_path.display()))?;
    let locked = parse_cargo_lock(&text).with_context(|| lock_path.display().to_string())?;
    let target = ["--target", cargo.target.as_str()];

    // Per binary: the crates compiled into it (no proc-macros: they run on
    // the host), and everything its build needs.
    let mut in_image: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut licenses = BTreeMap::new();
    let mut build_time = BTreeMap::new();
    for p in image_packages {
        let linked = cargo_tree(
            cargo,
            &[&["-p", p, "-e", "normal,no-proc-macro"], &target[..]].concat(),
        )?;
        for k in linked.keys() {
            in_image.entry(k.clone()).or_default().insert(p.to_string());
        }
        licenses.extend(linked);
        build_time.extend(cargo_tree(
            cargo,
            &[&["-p", p, "-e", "normal,build"], &target[..]].concat(),
        )?);
    }
    if locked.iter().any(|c| c.name == tool && c.source.is_none()) {
        build_time.extend(cargo_tree(cargo, &["-p", tool, "-e", "normal,build"])?);
    }
    licenses.extend(build_time.clone());

    Ok(locked
        .into_iter()
        .map(|krate| {
            let key = (krate.name.clone(), krate.version.clone());
            let used = match (in_image.get(&key), build_time.contains_key(&key)) {
                (Some(bins), _) => CrateUse::InImage(bins.iter().cloned().collect()),
                (None, true) => CrateUse::BuildTool,
                (None, false) => CrateUse::NotUsed,
            };
            let license = licenses.get(&key).filter(|l| !l.is_empty()).cloned();
            CrateEntry {
                krate,
                used,
                license,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = "aarch64-cpu"
version = "11.2.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "44171e22925ec72b63d86747bc3655c7849a5b8d865c980222128839f45ac034"
dependencies = [
 "tock-registers",
]

[[package]]
name = "hypervisor"
version = "0.1.0"
dependencies = ["aarch64-cpu"]

[metadata]
x = "y"
"#;

    #[test]
    fn parses_packages() {
        let c = parse_cargo_lock(LOCK).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].name, "aarch64-cpu");
        assert_eq!(c[0].version, "11.2.0");
        assert_eq!(c[0].source.as_deref(), Some(CRATES_IO));
        assert_eq!(c[0].checksum.as_deref().map(str::len), Some(64));
        assert_eq!(c[1].name, "hypervisor");
        assert!(c[1].source.is_none() && c[1].checksum.is_none());
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        let e = parse_cargo_lock("[[package]]\nname = 'x'\nversion = \"1\"\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse_cargo_lock("[[package]]\nname = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("without name or version"), "{e}");
    }

    #[test]
    fn real_lock_classifies() {
        let root = crate::test_support::in_tree().root;
        let cargo = Cargo::new(
            &root,
            "aarch64-unknown-none-softfloat",
            &root.join("target"),
            0,
            String::new(),
        );
        let all = classify(&cargo, &["bsp-qemu-virt"], "image-builder").unwrap();
        let find = |n: &str| all.iter().find(|c| c.krate.name == n).unwrap();
        assert_eq!(
            find("fdt").used,
            CrateUse::InImage(vec!["bsp-qemu-virt".into()])
        );
        assert_eq!(find("fdt").license.as_deref(), Some("MPL-2.0"));
        assert_eq!(find("clap").used, CrateUse::BuildTool);
        assert_eq!(find("quick-junit").used, CrateUse::NotUsed);
        let text = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
        assert_eq!(all.len(), parse_cargo_lock(&text).unwrap().len());
    }
}
