//! Reproducibility: `image-builder repro --strict` builds twice from two
//! copies of the tree, the second with another (long) path, HOME, target
//! dir, umask, TZ, locale, shuffled directory order (disorderfs) and a moved
//! clock (faketime), and compares every output.
//!
//! `qemu_virt_is_reproducible` runs on the real tree and needs the real BSP
//! and guests to build: it fails (it does not skip) until they do, and
//! `--strict` makes it fail when a variation cannot be applied (no FUSE,
//! faketime or fr_CH.UTF-8 locale: run scripts/setup). The fixture tests
//! show the check passes for a clean tree and catches a leak, showing it
//! with diffoscope.

mod common;

use std::path::Path;

use common::*;

/// The copy roots named on the report's `tree A:`/`tree B:` lines.
fn tree_paths(report: &str) -> Vec<String> {
    report
        .lines()
        .filter_map(|l| {
            l.strip_prefix("tree A: ")
                .or_else(|| l.strip_prefix("tree B: "))
        })
        .map(|l| l.rsplit_once(" (").unwrap().0.to_string())
        .collect()
}

/// The verdict on the `NAME: VERDICT` line of the report.
fn verdict<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no line for {name} in {report}"))
}

/// Every variation of the second build, as the report names them.
const VARIATIONS: [&str; 8] = [
    "path",
    "HOME",
    "target dir",
    "umask",
    "TZ",
    "locale",
    "directory order",
    "clock",
];

/// `extra`: outputs beyond those every board has (e.g. `boot.efi`).
fn assert_reproducible(o: &std::process::Output, image: &str, extra: &[&str]) {
    let out = stdout(o);
    assert!(o.status.success(), "stdout: {out}\nstderr: {}", stderr(o));
    assert!(out.lines().any(|l| l == "reproducible: OK"), "{out}");
    assert!(!out.contains("NOT VARIED"), "{out}");
    for v in VARIATIONS {
        assert!(
            out.contains(&format!("\n  {v:16} ")),
            "no variation {v}: {out}"
        );
    }
    assert!(out.contains("shuffled (disorderfs)"), "{out}");
    let archive = format!("halyard-{image}.tar.gz");
    for name in [
        "boot.img",
        "boot.img.sha256",
        "build.json",
        "sbom.spdx.json",
        archive.as_str(),
    ]
    .iter()
    .chain(extra)
    {
        assert_eq!(verdict(&out, name), "OK", "{out}");
    }
    let trees = tree_paths(&out);
    assert_eq!(trees.len(), 2, "{out}");
    assert!(
        trees[1].len() > 100,
        "the second tree's path is long: {out}"
    );
    for t in &trees {
        assert!(!Path::new(t).exists(), "{t} was not removed");
    }
}

#[test]
fn qemu_virt_is_reproducible() {
    let root = repo_root();
    let o = run(&[
        "repro",
        "--strict",
        "--board",
        "qemu-virt",
        "--workspace",
        root.to_str().unwrap(),
    ]);
    // The Secure Boot-signed EFI application too (sbsign under faketime).
    assert_reproducible(&o, "qemu-virt-selftest", &["boot.efi"]);
}

#[test]
fn fixture_is_reproducible() {
    let fx = fixture();
    let o = run(&[
        "repro",
        "--strict",
        "--board",
        "fake",
        "--workspace",
        fx.path().to_str().unwrap(),
    ]);
    assert_reproducible(&o, "fake-guest", &[]);
}

#[test]
fn uncommitted_changes_are_built() {
    // An untracked file the image manifest needs: copied, so the build works.
    let fx = fixture();
    let root = fx.path();
    std::fs::write(root.join("modules/new.cpio"), b"070701new").unwrap();
    edit(
        root,
        "manifests/images/guest.yaml",
        "file: modules/rd.cpio",
        "file: modules/new.cpio",
    );
    let o = run(&[
        "repro",
        "--strict",
        "--board",
        "fake",
        "--workspace",
        root.to_str().unwrap(),
    ]);
    assert_reproducible(&o, "fake-guest", &[]);
}

#[test]
fn a_leaking_guest_is_caught() {
    let fx = fixture();
    let root = fx.path();
    let image = root.join("manifests/images/leaky.yaml");
    let o = run(&[
        "repro",
        "--board",
        "fake",
        "--workspace",
        root.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {out}\nstderr: {}",
        stderr(&o)
    );
    assert!(out.contains("reproducible: DIFFER"), "{out}");
    assert!(
        verdict(&out, "boot.img").starts_with("DIFFER (first difference at offset 0x"),
        "{out}"
    );
    // The record holds the guest's ELF digest, which differs too.
    assert!(verdict(&out, "build.json").starts_with("DIFFER"), "{out}");
    // diffoscope shows where: the leaked path in the image's bytes, and the
    // ELF digests in the record.
    assert!(
        out.contains("  diffoscope boot.img (A) boot.img (B):\n"),
        "{out}"
    );
    assert!(!out.contains("NO DIFFOSCOPE REPORT"), "{out}");
    let record_diff = out
        .split("  diffoscope build.json (A) build.json (B):\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no diffoscope report for build.json: {out}"));
    assert!(record_diff.contains("elf_sha256"), "{out}");
    for t in tree_paths(&out) {
        assert!(!Path::new(&t).exists(), "{t} was not removed");
    }
}
