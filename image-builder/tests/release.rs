//! `image-builder --release`: the SBOM validates with a real SPDX validator
//! (spdx-tools' `pyspdxtools`, installed by scripts/setup into
//! ~/.cache/halyard/spdx-venv; the test fails, it does not skip, when the
//! validator is missing), the validator rejects a broken SBOM (so this test
//! can fail), the archive holds what its README says, and bad input writes
//! nothing.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The SPDX validator: `$HALYARD_SPDX_VALIDATOR`, else the one scripts/setup installs.
fn validator() -> PathBuf {
    let p = match std::env::var_os("HALYARD_SPDX_VALIDATOR") {
        Some(v) => PathBuf::from(v),
        None => Path::new(&std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/halyard/spdx-venv/bin/pyspdxtools"),
    };
    assert!(
        p.is_file(),
        "the SPDX validator {} is missing: run scripts/setup (it installs spdx-tools from PyPI into a venv)",
        p.display()
    );
    p
}

/// Run the validator on `sbom`: (accepted, its output).
fn validate(sbom: &Path) -> (bool, String) {
    let o = Command::new(validator())
        .arg("-i")
        .arg(sbom)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&o), stderr(&o));
    (o.status.success() && !text.contains("invalid"), text)
}

/// (path, mode, mtime, uid, gid, contents) of every entry of a .tar.gz.
type Entry = (String, u32, u64, u64, u64, Vec<u8>);

fn untar(path: &Path) -> Vec<Entry> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut tar)
        .unwrap();
    tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                data,
            )
        })
        .collect()
}

fn release(board: &str, root: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--board",
        board,
        "--release",
        "--workspace",
        root.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    run(&args)
}

#[test]
fn qemu_virt_release_archive_and_valid_sbom() {
    let root = repo_root();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let o = release("qemu-virt", &root, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = stdout(&o);
    assert!(printed.contains("in the image"), "{printed}");

    // The SBOM: valid SPDX 2.3, every Cargo.lock crate, the image described.
    let sbom_path = out.join("sbom.spdx.json");
    let (ok, why) = validate(&sbom_path);
    assert!(ok, "pyspdxtools rejects {}: {why}", sbom_path.display());
    let sbom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sbom_path).unwrap()).unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
    let locked = lock.matches("[[package]]").count();
    let packages = sbom["packages"].as_array().unwrap();
    let crates: Vec<_> = packages
        .iter()
        .filter(|p| p["SPDXID"].as_str().unwrap().starts_with("SPDXRef-crate-"))
        .collect();
    assert_eq!(crates.len(), locked, "every Cargo.lock crate is listed");
    let fdt = crates.iter().find(|p| p["name"] == "fdt").unwrap();
    assert_eq!(
        fdt["externalRefs"][0]["referenceLocator"],
        "pkg:cargo/fdt@0.1.5"
    );
    assert_eq!(fdt["checksums"][0]["algorithm"], "SHA256");
    assert!(
        lock.contains(fdt["checksums"][0]["checksumValue"].as_str().unwrap()),
        "the crate's checksum is Cargo.lock's"
    );
    let img = std::fs::read(out.join("boot.img")).unwrap();
    let image = packages
        .iter()
        .find(|p| p["SPDXID"] == "SPDXRef-Image")
        .unwrap();
    assert_eq!(
        image["checksums"][0]["checksumValue"],
        image_builder_sha256(&img)
    );
    let rels = sbom["relationships"].as_array().unwrap();
    let has = |a: &str, kind: &str, b: &str| {
        rels.iter().any(|r| {
            r["spdxElementId"] == a && r["relationshipType"] == kind && r["relatedSpdxElement"] == b
        })
    };
    assert!(has("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"));
    assert!(has(
        "SPDXRef-Hypervisor",
        "GENERATED_FROM",
        "SPDXRef-crate-fdt-0.1.5"
    ));
    let clap = crates.iter().find(|p| p["name"] == "clap").unwrap();
    let clap = clap["SPDXID"].as_str().unwrap();
    assert!(has(clap, "BUILD_TOOL_OF", "SPDXRef-Image"), "{clap}");

    // The validator is real: a broken copy is rejected.
    let mut broken = sbom.clone();
    broken["packages"][0]["SPDXID"] = "not an id".into();
    broken["relationships"][0]["relatedSpdxElement"] = "SPDXRef-missing".into();
    let bad = t.path().join("broken.spdx.json");
    std::fs::write(&bad, serde_json::to_vec(&broken).unwrap()).unwrap();
    let (ok, why) = validate(&bad);
    assert!(!ok, "the validator accepted a broken SBOM: {why}");
    assert!(why.contains("SPDXRef-missing"), "{why}");

    // The archive: sorted, fixed metadata, what the README lists, sums that check.
    let archive = out.join("halyard-qemu-virt-selftest.tar.gz");
    let entries = untar(&archive);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let top = "halyard-qemu-virt-selftest/";
    for want in [
        "README.txt",
        "SHA256SUMS",
        "boot.img",
        "boot.img.sha256",
        "build.json",
        "halyard-signing.pub",
        "manifests/boards/qemu-virt.yaml",
        "manifests/images/selftest.yaml",
        "sbom.spdx.json",
    ] {
        assert!(
            names.contains(&format!("{top}{want}").as_str()),
            "{want}: {names:?}"
        );
    }
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("build.json")).unwrap()).unwrap();
    let epoch = record["source_date_epoch"].as_u64().unwrap();
    let file = |n: &str| {
        &entries
            .iter()
            .find(|e| e.0 == format!("{top}{n}"))
            .unwrap()
            .5
    };
    for (path, mode, mtime, uid, gid, _) in &entries {
        assert_eq!((*mtime, *uid, *gid), (epoch, 0, 0), "{path}");
        assert!(*mode == 0o644 || *mode == 0o755, "{path}");
    }
    assert_eq!(file("boot.img"), &img);
    assert_eq!(file("sbom.spdx.json"), &std::fs::read(&sbom_path).unwrap());
    let sums = String::from_utf8(file("SHA256SUMS").clone()).unwrap();
    for line in sums.lines() {
        let (sum, name) = line.split_once("  ").unwrap();
        assert_eq!(image_builder_sha256(file(name)), sum, "{name}");
    }
    let readme = String::from_utf8(file("README.txt").clone()).unwrap();
    for n in ["boot.img", "build.json", "sbom.spdx.json", "SHA256SUMS"] {
        assert!(
            readme.contains(&format!("\n  {n} ")),
            "README lists {n}: {readme}"
        );
    }
    for needle in [
        "qemu-system-aarch64",
        "-machine virt,virtualization=on,gic-version=3",
        "-kernel boot.img",
        "image-builder verify boot.img --key halyard-signing.pub",
        "sha256sum -c SHA256SUMS",
        record["signing"]["public_key"].as_str().unwrap(),
        "fingerprint",
        "DEVELOPMENT key",
    ] {
        assert!(readme.contains(needle), "README lacks {needle:?}: {readme}");
    }

    // Rebuilt: the same bytes.
    let again = t.path().join("again");
    let o = release("qemu-virt", &root, &again, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["halyard-qemu-virt-selftest.tar.gz", "sbom.spdx.json"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f} differs between two builds"
        );
    }
}

fn image_builder_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn bad_release_input_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    // A manifest that does not exist.
    let o = release(
        "qemu-virt",
        &repo_root(),
        &out,
        &["--image", "/nonexistent/x.yaml"],
    );
    assert_fails_with(&o, &["/nonexistent/x.yaml"]);
    assert!(!out.exists(), "nothing is written for bad input");
    // --release does not go with --update-lock.
    let o = release("qemu-virt", &repo_root(), &out, &["--update-lock"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--update-lock"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn fixture_release_without_image_builder_crate() {
    // A tree without image-builder (the fixture): the SBOM still lists
    // every crate and validates.
    let fx = fixture();
    let root = fx.path();
    let out = root.join("rel");
    let o = release("fake", root, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (ok, why) = validate(&out.join("sbom.spdx.json"));
    assert!(ok, "{why}");
    let names: Vec<String> = untar(&out.join("halyard-fake-guest.tar.gz"))
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert!(
        names.contains(&"halyard-fake-guest/manifests/images/guest.yaml".to_string()),
        "{names:?}"
    );
    // The rest of the output directory: the build's files, SBOM and archive.
    let mut files: Vec<String> = files_under(&out)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "boot.img",
            "boot.img.sha256",
            "build.json",
            "halyard-fake-guest.tar.gz",
            "sbom.spdx.json"
        ]
    );
}
