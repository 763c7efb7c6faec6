//! Signed images end to end, with the real binary and the real qemu-virt
//! selftest image: a default build is signed with the development key and
//! verifies; any corrupted module, table byte, signature or key is caught
//! and named; keygen makes a key pair that builds and verifies; a missing
//! key fails before anything is built.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use common::*;
use image_format::{ModuleTable, SIGNATURE_BLOCK_SIZE};

const DEV_WARNING: &str = "WARNING: signing with the DEVELOPMENT key (keys/dev): not for release";

/// Build the default qemu-virt image into `out` (extra args appended).
fn build(out: &Path, extra: &[&str]) -> Output {
    let root = repo_root();
    let mut args = vec![
        "--board",
        "qemu-virt",
        "--workspace",
        root.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

struct Built {
    _dir: tempfile::TempDir,
    image: Vec<u8>,
    record: serde_json::Value,
    build_stderr: String,
}

/// One dev-key build shared by the tests of this file.
fn dev_built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let o = build(&out, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        Built {
            image: std::fs::read(out.join("boot.img")).unwrap(),
            record: serde_json::from_slice(&std::fs::read(out.join("build.json")).unwrap())
                .unwrap(),
            build_stderr: stderr(&o),
            _dir: dir,
        }
    })
}

/// Write `image` to a temporary file and run `verify` on it.
fn verify(image: &[u8], key: Option<&Path>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("boot.img");
    std::fs::write(&p, image).unwrap();
    let mut args = vec!["verify".to_string(), p.to_string_lossy().into_owned()];
    if let Some(k) = key {
        args.extend(["--key".into(), k.to_string_lossy().into_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args)
}

fn assert_verify_fails(o: &Output, needle: &str) {
    let out = stdout(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {out}\nstderr: {}",
        stderr(o)
    );
    assert!(out.contains("verdict: FAILED"), "{out}");
    assert!(out.contains(needle), "missing {needle:?} in: {out}");
}

fn flipped(image: &[u8], byte: usize, bit: u8) -> Vec<u8> {
    let mut b = image.to_vec();
    b[byte] ^= 1 << bit;
    b
}

/// The table's offset (from build.json) and the table.
fn table(b: &Built) -> (usize, ModuleTable<'_>) {
    let off = b.record["table_offset"].as_u64().unwrap() as usize;
    (off, ModuleTable::parse(&b.image[off..]).unwrap())
}

#[test]
fn default_build_is_signed_with_the_dev_key_and_verifies() {
    let b = dev_built();
    assert!(b.build_stderr.contains(DEV_WARNING), "{}", b.build_stderr);
    let dev_pub =
        std::fs::read_to_string(repo_root().join("keys/dev/halyard-signing.pub")).unwrap();
    assert_eq!(b.record["signing"]["public_key"], dev_pub.trim());
    assert_eq!(b.record["signing"]["development_key"], true);
    // The Image header's res2 records the table offset.
    let (off, t) = table(b);
    assert_eq!(
        u64::from_le_bytes(b.image[32..40].try_into().unwrap()),
        off as u64
    );
    assert!(t.header.is_signed());
    let o = verify(&b.image, None);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("signature  ok"), "{out}");
    assert!(out.contains("module 0   ok   selftest kernel, "), "{out}");
    assert!(out.ends_with("verdict: OK\n"), "{out}");
    assert!(
        stderr(&o).contains("verifying against the DEVELOPMENT key"),
        "{}",
        stderr(&o)
    );
    // The explicit dev .pub verifies too.
    let o = verify(
        &b.image,
        Some(&repo_root().join("keys/dev/halyard-signing.pub")),
    );
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn a_flipped_bit_in_a_module_is_named() {
    let b = dev_built();
    let (_, t) = table(b);
    let modules: Vec<_> = t.modules().collect();
    assert!(!modules.is_empty());
    for (i, m) in modules.iter().enumerate() {
        let domain = t.domains().find(|d| d.id == m.domain).unwrap().name;
        for at in [m.offset, m.offset + m.size / 2, m.offset + m.size - 1] {
            let o = verify(&flipped(&b.image, at as usize, 3), None);
            assert_verify_fails(
                &o,
                &format!("module {i} ({domain} {}): SHA-256 mismatch", m.kind.name()),
            );
            // The signature itself is still good.
            assert!(stdout(&o).contains("signature  ok"), "{}", stdout(&o));
        }
    }
}

#[test]
fn a_flipped_bit_in_the_table_or_signature_is_caught() {
    let b = dev_built();
    let (off, t) = table(b);
    let size = t.header.table_size as usize;
    // The table's magic: the table no longer parses.
    assert_verify_fails(
        &verify(&flipped(&b.image, off, 0), None),
        "table corrupt: module table magic missing",
    );
    // Module 0's recorded digest and its command line, the last table
    // byte: the table parses, its signature does not match.
    let m0 = off + 48 + 32 * usize::from(t.header.domain_count);
    for at in [m0 + 24, m0 + 55, off + size - 1] {
        assert_verify_fails(
            &verify(&flipped(&b.image, at, 1), None),
            "signature does not verify",
        );
    }
    // Every bit of the signature, and a bit of the signer's key.
    let sig = off + size + 8 + 32;
    for at in sig..sig + 64 {
        assert_verify_fails(
            &verify(&flipped(&b.image, at, (at % 8) as u8), None),
            "signature does not verify",
        );
    }
    assert_verify_fails(
        &verify(&flipped(&b.image, off + size + 8, 0), None),
        "signature does not verify: signed by key",
    );
    // The block's magic.
    assert_verify_fails(
        &verify(&flipped(&b.image, off + size, 0), None),
        "signature does not verify: signature block magic missing",
    );
    assert_eq!(SIGNATURE_BLOCK_SIZE, 104);
}

/// `keygen --out DIR`: the key pair's paths.
fn keygen(dir: &Path) -> (PathBuf, PathBuf) {
    let o = run(&["keygen", "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (k, p) = (
        dir.join("halyard-signing.key"),
        dir.join("halyard-signing.pub"),
    );
    assert_eq!(stdout(&o), format!("{}\n{}\n", k.display(), p.display()));
    (k, p)
}

#[test]
fn another_key_does_not_verify() {
    let b = dev_built();
    let d = tempfile::tempdir().unwrap();
    let (_, public) = keygen(d.path());
    assert_verify_fails(
        &verify(&b.image, Some(&public)),
        "signature does not verify: signed by key",
    );
}

#[test]
fn keygen_key_builds_and_verifies() {
    let d = tempfile::tempdir().unwrap();
    let (key, public) = keygen(&d.path().join("keys"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // keygen never overwrites.
    let o = run(&["keygen", "--out", d.path().join("keys").to_str().unwrap()]);
    assert_fails_with(&o, &["exists; not overwriting a key"]);

    // A release Secure Boot key set too, so neither development warning shows.
    let sb = d.path().join("secureboot");
    let made = std::process::Command::new(repo_root().join("scripts/secureboot-keygen"))
        .arg(&sb)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let out = d.path().join("out");
    let o = build(
        &out,
        &[
            "--key",
            key.to_str().unwrap(),
            "--secureboot-keys",
            sb.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("DEVELOPMENT"), "{}", stderr(&o));
    let image = std::fs::read(out.join("boot.img")).unwrap();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("build.json")).unwrap()).unwrap();
    let public_hex = std::fs::read_to_string(&public).unwrap();
    assert_eq!(record["signing"]["public_key"], public_hex.trim());
    assert_eq!(record["signing"]["development_key"], false);
    assert_eq!(record["secure_boot"]["development_keys"], false);
    let efi = std::fs::read(out.join("boot.efi")).unwrap();
    assert_eq!(
        record["secure_boot"]["output"]["size"],
        efi.len() as u64,
        "build.json records boot.efi"
    );
    let o = verify(&image, Some(&public));
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).ends_with("verdict: OK\n"));
    // The development key does not accept it.
    assert_verify_fails(&verify(&image, None), "signature does not verify");

    // $HALYARD_SIGNING_KEY does the same as --key.
    let out2 = d.path().join("out2");
    let root = repo_root();
    let o = std::process::Command::new(BIN)
        .args(["--board", "qemu-virt", "--workspace"])
        .arg(&root)
        .arg("--out")
        .arg(&out2)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("HALYARD_SIGNING_KEY", &key)
        .env("HALYARD_SECUREBOOT_KEYS", &sb)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("DEVELOPMENT"), "{}", stderr(&o));
    assert_eq!(std::fs::read(out2.join("boot.img")).unwrap(), image);
    // $HALYARD_SECUREBOOT_KEYS does the same as --secureboot-keys, and
    // signing again gives the same bytes.
    assert_eq!(std::fs::read(out2.join("boot.efi")).unwrap(), efi);
}

#[test]
fn missing_or_bad_key_fails_before_building() {
    let d = tempfile::tempdir().unwrap();
    let (out, target) = (d.path().join("out"), d.path().join("target"));
    let missing = d.path().join("nope.key");
    let bad = d.path().join("bad.key");
    std::fs::write(&bad, "not a key\n").unwrap();
    for (key, needles) in [
        (&missing, ["cannot read the signing key", "nope.key"]),
        (&bad, ["not a Halyard signing key", "bad.key"]),
    ] {
        let o = build(
            &out,
            &[
                "--key",
                key.to_str().unwrap(),
                "--target-dir",
                target.to_str().unwrap(),
            ],
        );
        assert_fails_with(&o, &needles);
        assert_eq!(files_under(&out), Vec::<PathBuf>::new());
        assert!(!target.exists(), "nothing was compiled");
    }
}

#[test]
fn verify_rejects_an_unsigned_or_foreign_file() {
    let d = tempfile::tempdir().unwrap();
    // Not an image at all: bad input (exit 2), named, before any warning.
    let o = verify(b"hello", None);
    assert_fails_with(&o, &["is not a Halyard boot image: no arm64 Image header"]);
    // Truncated inside the signature block.
    let b = dev_built();
    let (off, t) = table(b);
    let cut = off + t.header.table_size as usize + 50;
    assert_verify_fails(&verify(&b.image[..cut], None), "table corrupt");
    drop(d);
}
