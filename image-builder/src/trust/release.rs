//! `image-builder --release`: besides boot.img, boot.img.sha256 and
//! build.json, write the SBOM (`sbom.spdx.json`) and one self-describing
//! archive `halyard-<board>-<image>.tar.gz` holding the image, its
//! manifests and lock file, the build record, the SBOM, the public key, a
//! SHA256SUMS and a README.txt saying what each file is and how to boot
//! and verify it on that board.
//!
//! The archive is reproducible: entries sorted by path under one top
//! directory, mtime SOURCE_DATE_EPOCH, owner 0/0 with empty names, modes
//! 0644/0755, ustar headers; gzip with a fixed header and level
//! ([`crate::initramfs::gzip`]).

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::cargo::Cargo;
use crate::digest::{hex, sha256, sha256_hex};
use crate::manifest::{BoardManifest, ImageFormat};
use crate::record::BuildRecord;
use crate::sbom::{self, Counts};
use crate::signing::PUB_FILE;

pub const SBOM_FILE: &str = "sbom.spdx.json";
pub const README_FILE: &str = "README.txt";
pub const SUMS_FILE: &str = "SHA256SUMS";

/// The host tool whose crates are build tools of every image.
const TOOL_CRATE: &str = "image-builder";
/// Declared license of the workspace's own crates (workspace Cargo.toml).
const WORKSPACE_LICENSE: &str = "Apache-2.0 OR MIT";

/// `halyard-<board>-<image>.tar.gz`.
pub fn archive_name(board: &str, image: &str) -> String {
    format!("halyard-{board}-{image}.tar.gz")
}

/// What a release adds to a build's outputs.
pub(crate) struct Release {
    /// (file name in the output directory, contents): the SBOM and the archive.
    pub files: Vec<(String, Vec<u8>)>,
    pub counts: Counts,
}

/// Everything the release is made from.
pub(crate) struct ReleaseInputs<'a> {
    pub cargo: &'a Cargo,
    pub board: &'a BoardManifest,
    pub record: &'a BuildRecord,
    /// boot.img, boot.img.sha256, build.json (name, contents).
    pub outputs: &'a [(&'a str, &'a [u8])],
    /// Manifests and lock file: (path in the archive, contents).
    pub manifests: Vec<(String, Vec<u8>)>,
    /// `-smp` for QEMU: the largest domain's vCPUs (at least the board's).
    pub smp: u32,
}

pub(crate) fn make(r: &ReleaseInputs) -> Result<Release> {
    let record = r.record;
    // The bare-metal binaries in the image: the BSP and in-tree guests.
    let mut bins: Vec<&str> = vec![record.inputs.hypervisor.package.as_str()];
    for m in &record.modules {
        if let Some(e) = &m.elf {
            if !bins.contains(&e.package.as_str()) {
                bins.push(&e.package);
            }
        }
    }
    let crates = crate::crates::classify(r.cargo, &bins, TOOL_CRATE)
        .context("listing the crates for the SBOM")?;
    let (doc, counts) = sbom::document(
        record,
        &crates,
        env!("CARGO_PKG_VERSION"),
        WORKSPACE_LICENSE,
    );
    let sbom_json = doc.to_json();

    let mut files: Vec<(String, Vec<u8>)> = r
        .outputs
        .iter()
        .map(|(n, b)| (n.to_string(), b.to_vec()))
        .collect();
    files.extend(r.manifests.iter().cloned());
    files.push((SBOM_FILE.into(), sbom_json.clone()));
    files.push((
        PUB_FILE.into(),
        format!("{}\n", record.signing.public_key).into_bytes(),
    ));
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    files.push((README_FILE.into(), readme(r, &names).into_bytes()));
    files.sort();
    let mut sums = String::new();
    for (n, b) in &files {
        let _ = writeln!(sums, "{}  {n}", sha256_hex(b));
    }
    files.push((SUMS_FILE.into(), sums.into_bytes()));

    let top = archive_name(&record.board, &record.image);
    let dir = top.trim_end_matches(".tar.gz");
    let archive = tar_gz(dir, &files, record.source_date_epoch)?;
    Ok(Release {
        files: vec![(SBOM_FILE.into(), sbom_json), (top, archive)],
        counts,
    })
}

/// A gzip'd ustar archive of `files` under the directory `top`, with every
/// header field fixed (see the module comment).
pub fn tar_gz(top: &str, files: &[(String, Vec<u8>)], mtime: u64) -> Result<Vec<u8>> {
    let mut entries: Vec<(String, Option<&[u8]>)> = vec![(format!("{top}/"), None)];
    for (name, bytes) in files {
        // Every parent directory gets its own entry.
        let mut at = 0;
        while let Some(i) = name[at..].find('/') {
            at += i + 1;
            entries.push((format!("{top}/{}", &name[..at]), None));
        }
        entries.push((format!("{top}/{name}"), Some(bytes)));
    }
    entries.sort();
    entries.dedup_by(|a, b| a.0 == b.0);
    let mut b = tar::Builder::new(Vec::new());
    for (path, bytes) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        h.set_username("")?;
        h.set_groupname("")?;
        match bytes {
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, &path, std::io::empty())
            }
            Some(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, &path, data)
            }
        }
        .with_context(|| format!("cannot add {path} to the archive"))?;
    }
    let tar = b.into_inner().context("cannot finish the archive")?;
    crate::initramfs::gzip(&tar)
}

/// The board's QEMU command line for `image` (as `qemu-runner run` uses it).
fn qemu_line(board: &BoardManifest, smp: u32, image: &str) -> String {
    let q = &board.qemu;
    let mut v = vec![
        q.binary.clone(),
        format!("-machine {}", q.machine),
        format!("-cpu {}", q.cpu),
        format!("-m {}", q.memory_mib),
        format!("-smp {smp}"),
        "-nographic -no-reboot".into(),
        "-semihosting-config enable=on,target=native".into(),
        format!("{} {image}", q.kernel_arg),
    ];
    v.extend(q.extra_args.iter().cloned());
    v.join(" \\\n      ")
}

/// What each file in the archive is (by name).
fn describe(name: &str, record: &BuildRecord) -> String {
    match name {
        "boot.img" => format!(
            "the boot image ({} bytes): hypervisor, signed module table, modules",
            record.output.size
        ),
        "boot.img.sha256" => "SHA-256 of boot.img (`sha256sum -c boot.img.sha256`)".into(),
        "boot.efi" => "boot.img signed for UEFI Secure Boot (sbsign; the signer's db \
             certificate is in build.json): UEFI firmware that trusts that certificate \
             starts it, e.g. as EFI/BOOT/BOOTAA64.EFI on an EFI system partition"
            .into(),
        "build.json" => "build record: every input with its SHA-256 (manifests, Cargo.lock, \
             lock file, Debian packages, ELF files, modules), the toolchain, \
             SOURCE_DATE_EPOCH and the signing key"
            .into(),
        SBOM_FILE => "SBOM, SPDX 2.3 JSON: every crate in Cargo.lock (built into the \
             image, build tool, or not used), every Debian package, each module"
            .into(),
        PUB_FILE => "the Ed25519 public key the module table is signed with (hex)".into(),
        n if n.starts_with("manifests/boards/") => "the board manifest".into(),
        n if n.ends_with(".lock.yaml") => {
            "the image's lock file: pinned Debian package versions and SHA-256".into()
        }
        n if n.starts_with("manifests/images/") => "the image manifest".into(),
        _ => String::new(),
    }
}

fn readme(r: &ReleaseInputs, names: &[String]) -> String {
    let rec = r.record;
    let b = r.board;
    let mut s = String::new();
    let title = format!("Halyard release: board {}, image {}", rec.board, rec.image);
    let _ = writeln!(s, "{title}\n{}\n", "=".repeat(title.len()));
    let _ = writeln!(
        s,
        "Built by image-builder {} with {} from sources dated {} \
         (SOURCE_DATE_EPOCH={}).\nBoard: {}\n",
        env!("CARGO_PKG_VERSION"),
        rec.toolchain.rustc,
        sbom::iso8601(rec.source_date_epoch),
        rec.source_date_epoch,
        b.description
    );
    let _ = writeln!(s, "Files\n-----");
    let mut rows: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.clone(), describe(n, rec)))
        .collect();
    rows.push((README_FILE.into(), "this file".into()));
    rows.push((
        SUMS_FILE.into(),
        "SHA-256 of every other file here (`sha256sum -c SHA256SUMS`)".into(),
    ));
    rows.sort();
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (n, d) in rows {
        let _ = writeln!(s, "  {n:width$}  {d}");
    }

    let _ = writeln!(s, "\nBoot\n----");
    let _ = writeln!(
        s,
        "On QEMU (the {} board), from this directory:\n\n  {}\n\n\
         The console is on the terminal; Ctrl-A X quits QEMU.",
        b.board,
        qemu_line(b, r.smp, "boot.img")
    );
    match b.image_format {
        ImageFormat::LinuxArm64Image => {
            let _ = writeln!(
                s,
                "\nboot.img is a Linux arm64 Image (64-byte header, image_size covers \
                 everything), to be loaded at {:#x} and entered at EL2 with x0 = the \
                 device tree's address: any loader that boots an arm64 Linux Image \
                 starts it (QEMU -kernel, U-Boot `booti {:#x} - $fdt_addr`, TF-A as BL33).",
                b.load_address, b.load_address
            );
        }
    }

    let key = &rec.signing.public_key;
    let fingerprint = parse_key(key).map_or_else(String::new, |k| hex(&sha256(&k)));
    let _ = writeln!(s, "\nVerify\n------");
    let _ = writeln!(
        s,
        "  sha256sum -c {SUMS_FILE}\n  \
         image-builder verify boot.img --key {PUB_FILE}\n      \
         (from a Halyard checkout: cargo run -q -p image-builder -- verify ...)\n\n\
         verify checks the module table, its Ed25519 signature and every module's \
         SHA-256; the hypervisor makes the same checks at boot with the key built into it."
    );
    let _ = writeln!(s, "\nSigning key\n-----------");
    let _ = writeln!(s, "  Ed25519 public key   {key}");
    let _ = writeln!(
        s,
        "  fingerprint          SHA256:{fingerprint}  (SHA-256 of the 32 key bytes)"
    );
    if rec.signing.development_key {
        let _ = writeln!(
            s,
            "\n  WARNING: signed with the DEVELOPMENT key (keys/dev in the Halyard tree).\n  \
             Its private half is public: this image proves nothing about who built it.\n  \
             NOT FOR RELEASE."
        );
    } else {
        let _ = writeln!(
            s,
            "  (a release key, not the development key: compare the fingerprint with the\n  \
             one the publisher announced)"
        );
    }
    let _ = writeln!(s, "\nRebuild\n-------");
    let _ = writeln!(
        s,
        "From the Halyard tree these sources came from (build.json lists the SHA-256 of \
         every input):\n\n  SOURCE_DATE_EPOCH={} image-builder --board {} --image {} --release\n\n\
         gives the same bytes (see `image-builder repro`).",
        rec.source_date_epoch, rec.board, rec.inputs.image_manifest.path
    );
    s
}

fn parse_key(hex_key: &str) -> Option<[u8; 32]> {
    crate::signing::parse_pub_text(hex_key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn archive_is_sorted_fixed_and_deterministic() {
        let files = vec![
            ("z.txt".to_string(), b"zz".to_vec()),
            ("manifests/images/a.yaml".to_string(), b"a".to_vec()),
            ("boot.img".to_string(), vec![7; 5000]),
        ];
        let a = tar_gz("top", &files, 1_700_000_000).unwrap();
        let mut shuffled = files.clone();
        shuffled.reverse();
        assert_eq!(a, tar_gz("top", &shuffled, 1_700_000_000).unwrap());
        assert_ne!(a, tar_gz("top", &files, 1).unwrap());
        // gzip header: no name, mtime 0.
        assert_eq!(&a[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_end(&mut tar)
            .unwrap();
        let paths: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        let dirs = ["top/", "top/manifests/", "top/manifests/images/"];
        let files = ["top/boot.img", "top/manifests/images/a.yaml", "top/z.txt"];
        let mut want: Vec<&str> = dirs.iter().chain(&files).copied().collect();
        want.sort();
        assert_eq!(paths, want);
    }
}
