//! The release SBOM: an SPDX 2.3 JSON document describing one boot image.
//!
//! Packages: the image (FIRMWARE), the hypervisor ELF and every module in
//! it, every Debian package the modules come from (checksum: the SHA-256
//! pinned in the lock file), every crate in Cargo.lock (checksum: the
//! registry's SHA-256 of the `.crate`), and rustc. Relationships say which
//! is which: the image CONTAINS the hypervisor and the modules; each of
//! those is GENERATED_FROM the crates compiled into it or the Debian
//! packages it was taken from; host crates are BUILD_TOOL_OF the image;
//! crates the image does not use carry only a comment.
//!
//! Deterministic: the namespace is derived from the image's SHA-256,
//! `created` is SOURCE_DATE_EPOCH, and every list is in a fixed order.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::crates::{CrateEntry, CrateUse, CRATES_IO};
use crate::lock::LockedPackage;
use crate::record::BuildRecord;

pub const SPDX_VERSION: &str = "SPDX-2.3";
const NOASSERTION: &str = "NOASSERTION";
pub const IMAGE_ID: &str = "SPDXRef-Image";
/// The secure-world firmware shipped beside the image.
const SECURE_FIRMWARE_ID: &str = "SPDXRef-SecureFirmware";
const HYPERVISOR_ID: &str = "SPDXRef-Hypervisor";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub spdx_version: &'static str,
    pub data_license: &'static str,
    #[serde(rename = "SPDXID")]
    pub spdx_id: &'static str,
    pub name: String,
    pub document_namespace: String,
    pub creation_info: CreationInfo,
    pub comment: String,
    pub packages: Vec<Package>,
    pub relationships: Vec<Relationship>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationInfo {
    pub created: String,
    pub creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub name: String,
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_info: Option<String>,
    pub download_location: String,
    pub files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    pub license_concluded: String,
    pub license_declared: String,
    pub copyright_text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
    pub primary_package_purpose: &'static str,
    pub comment: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    pub algorithm: &'static str,
    pub checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    pub reference_category: &'static str,
    pub reference_type: &'static str,
    pub reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    pub spdx_element_id: String,
    pub relationship_type: &'static str,
    pub related_spdx_element: String,
}

/// How many packages of each kind a document lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub crates_in_image: usize,
    pub crates_build_tools: usize,
    pub crates_not_used: usize,
    pub debian_packages: usize,
    pub modules: usize,
}

impl Counts {
    pub fn crates(&self) -> usize {
        self.crates_in_image + self.crates_build_tools + self.crates_not_used
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since 1970 (proleptic Gregorian, UTC).
pub fn iso8601(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Civil date from a day count (era-based, valid for all u64/86400 days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// An SPDX element ID: `SPDXRef-` then only letters, digits, `.` and `-`.
fn spdx_id(kind: &str, parts: &[&str]) -> String {
    let mut id = format!("SPDXRef-{kind}");
    for p in parts {
        id.push('-');
        id.extend(p.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        }));
    }
    id
}

/// Percent-encode a purl component (everything but unreserved characters).
fn purl_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

fn purl(locator: String) -> Vec<ExternalRef> {
    vec![ExternalRef {
        reference_category: "PACKAGE-MANAGER",
        reference_type: "purl",
        reference_locator: locator,
    }]
}

fn sha256(hex: &str) -> Vec<Checksum> {
    vec![Checksum {
        algorithm: "SHA256",
        checksum_value: hex.to_string(),
    }]
}

/// A cargo `license` field as an SPDX expression: the old `A/B` form is
/// `A OR B`; anything that is not a plain expression of identifiers is
/// NOASSERTION rather than an invalid document.
pub fn license_expression(cargo: Option<&str>) -> String {
    let Some(l) = cargo else {
        return NOASSERTION.into();
    };
    let e = l.replace('/', " OR ");
    let spaced = e.replace('(', " ( ").replace(')', " ) ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let plain = !words.is_empty()
        && words.iter().all(|w| {
            w.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-+()".contains(c))
        });
    if plain {
        words.join(" ").replace("( ", "(").replace(" )", ")")
    } else {
        NOASSERTION.into()
    }
}

fn package(name: &str, id: String, purpose: &'static str, comment: String) -> Package {
    Package {
        name: name.to_string(),
        spdx_id: id,
        version_info: None,
        download_location: NOASSERTION.into(),
        files_analyzed: false,
        checksums: Vec::new(),
        license_concluded: NOASSERTION.into(),
        license_declared: NOASSERTION.into(),
        copyright_text: NOASSERTION.into(),
        external_refs: Vec::new(),
        primary_package_purpose: purpose,
        comment,
    }
}

fn rel(a: &str, kind: &'static str, b: &str) -> Relationship {
    Relationship {
        spdx_element_id: a.to_string(),
        relationship_type: kind,
        related_spdx_element: b.to_string(),
    }
}

fn deb_id(p: &LockedPackage) -> String {
    spdx_id("deb", &[&p.name, &p.arch, &p.version])
}

fn crate_id(c: &CrateEntry) -> String {
    spdx_id("crate", &[&c.krate.name, &c.krate.version])
}

fn crate_package(c: &CrateEntry, workspace_license: &str) -> Package {
    let k = &c.krate;
    let comment = match &c.used {
        CrateUse::InImage(bins) => format!("compiled into the image ({})", bins.join(", ")),
        CrateUse::BuildTool => "build tool: runs on the build host to make the image".into(),
        CrateUse::NotUsed => {
            "in Cargo.lock, not used to build this image (other tools, tests or platforms)".into()
        }
    };
    let mut p = package(&k.name, crate_id(c), "LIBRARY", comment);
    p.version_info = Some(k.version.clone());
    p.license_declared = license_expression(c.license.as_deref());
    match (&k.source, &k.checksum) {
        (Some(src), checksum) => {
            if src == CRATES_IO {
                p.download_location = format!(
                    "https://crates.io/api/v1/crates/{}/{}/download",
                    k.name, k.version
                );
                p.external_refs = purl(format!(
                    "pkg:cargo/{}@{}",
                    purl_escape(&k.name),
                    purl_escape(&k.version)
                ));
            } else {
                p.comment += &format!("; source {src}");
            }
            if let Some(sum) = checksum {
                p.checksums = sha256(sum);
            }
        }
        (None, _) => {
            p.comment += "; workspace crate (source in this tree)";
            if c.license.is_none() {
                p.license_declared = license_expression(Some(workspace_license));
            }
        }
    }
    p
}

fn deb_package(d: &LockedPackage) -> Package {
    let mut p = package(
        &d.name,
        deb_id(d),
        "INSTALL",
        "Debian package fetched with apt-get download; SHA-256 of the .deb as pinned in the lock file"
            .into(),
    );
    p.version_info = Some(d.version.clone());
    p.checksums = sha256(&d.sha256);
    p.external_refs = purl(format!(
        "pkg:deb/debian/{}@{}?arch={}",
        purl_escape(&d.name),
        purl_escape(&d.version),
        purl_escape(&d.arch)
    ));
    p
}

/// The SBOM of the image described by `record`, built from `crates` by
/// image-builder `tool_version`.
pub fn document(
    record: &BuildRecord,
    crates: &[CrateEntry],
    tool_version: &str,
    workspace_license: &str,
) -> (Document, Counts) {
    let mut counts = Counts::default();
    let name = format!("halyard-{}-{}", record.board, record.image);
    let mut packages = Vec::new();
    let mut rels = vec![rel("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID)];

    let mut image = package(
        &name,
        IMAGE_ID.into(),
        "FIRMWARE",
        format!(
            "Halyard boot image (boot.img) for board {}, image manifest '{}', signed with Ed25519 key {}{}",
            record.board,
            record.image,
            record.signing.public_key,
            if record.signing.development_key { " (the DEVELOPMENT key)" } else { "" }
        ),
    );
    image.checksums = sha256(&record.output.sha256);
    packages.push(image);

    let hyp = &record.inputs.hypervisor;
    let mut h = package(
        &hyp.package,
        HYPERVISOR_ID.into(),
        "FIRMWARE",
        format!(
            "the hypervisor ELF for {} ({} profile); its loadable segments are the image's first {} bytes",
            hyp.target, hyp.profile, record.table_offset
        ),
    );
    h.checksums = sha256(&hyp.elf_sha256);
    packages.push(h);
    rels.push(rel(IMAGE_ID, "CONTAINS", HYPERVISOR_ID));

    if let Some(fw) = &record.secure_firmware {
        // Shipped beside the image, not in it: the image does not contain it.
        let mut f = package(
            &fw.elf.package,
            SECURE_FIRMWARE_ID.into(),
            "FIRMWARE",
            format!(
                "the secure-world test firmware (EL3 PSCI + FF-A SPMC) for {}, written as {} ({} bytes, runs from flash at {:#x})",
                record.board, fw.output.path, fw.output.size, fw.flash_base
            ),
        );
        f.checksums = sha256(&fw.output.sha256);
        packages.push(f);
        rels.push(rel("SPDXRef-DOCUMENT", "DESCRIBES", SECURE_FIRMWARE_ID));
    }

    let mut debs: BTreeSet<(String, String, String)> = BTreeSet::new();
    for d in &record.inputs.packages {
        if debs.insert((d.name.clone(), d.arch.clone(), d.version.clone())) {
            packages.push(deb_package(d));
            counts.debian_packages += 1;
        }
    }
    for m in &record.modules {
        let id = spdx_id("Module", &[&m.domain, &m.kind]);
        let purpose = match m.kind.as_str() {
            "kernel" => "OPERATING-SYSTEM",
            "ramdisk" => "ARCHIVE",
            _ => "FILE",
        };
        let mut p = package(
            &format!("{} {}", m.domain, m.kind),
            id.clone(),
            purpose,
            format!(
                "module of domain {} (id {}) at image offset {:#x}, from {}",
                m.domain, m.domain_id, m.offset, m.source
            ),
        );
        p.checksums = sha256(&m.sha256);
        packages.push(p);
        counts.modules += 1;
        rels.push(rel(IMAGE_ID, "CONTAINS", &id));
        for d in &m.packages {
            rels.push(rel(&id, "GENERATED_FROM", &deb_id(d)));
        }
        if let Some(elf) = &m.elf {
            for c in crates {
                if matches!(&c.used, CrateUse::InImage(b) if b.contains(&elf.package)) {
                    rels.push(rel(&id, "GENERATED_FROM", &crate_id(c)));
                }
            }
        }
    }

    for c in crates {
        packages.push(crate_package(c, workspace_license));
        match &c.used {
            CrateUse::InImage(bins) => {
                counts.crates_in_image += 1;
                if bins.contains(&hyp.package) {
                    rels.push(rel(HYPERVISOR_ID, "GENERATED_FROM", &crate_id(c)));
                }
            }
            CrateUse::BuildTool => {
                counts.crates_build_tools += 1;
                rels.push(rel(&crate_id(c), "BUILD_TOOL_OF", IMAGE_ID));
            }
            CrateUse::NotUsed => counts.crates_not_used += 1,
        }
    }

    let rustc = record
        .toolchain
        .rustc
        .split_whitespace()
        .nth(1)
        .unwrap_or("");
    let mut r = package(
        "rustc",
        "SPDXRef-Tool-rustc".into(),
        "APPLICATION",
        format!("the compiler: {}", record.toolchain.rustc),
    );
    if !rustc.is_empty() {
        r.version_info = Some(rustc.to_string());
    }
    packages.push(r);
    rels.push(rel("SPDXRef-Tool-rustc", "BUILD_TOOL_OF", IMAGE_ID));

    let doc = Document {
        spdx_version: SPDX_VERSION,
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: name.clone(),
        document_namespace: format!(
            "https://halyard.invalid/spdx/{}/{}/{}",
            record.board, record.image, record.output.sha256
        ),
        creation_info: CreationInfo {
            created: iso8601(record.source_date_epoch),
            creators: vec![format!("Tool: halyard-image-builder-{tool_version}")],
        },
        comment: format!(
            "Every crate in the workspace Cargo.lock ({} compiled into the image, {} build tools, {} not used for it) and every Debian package the image's modules come from.",
            counts.crates_in_image, counts.crates_build_tools, counts.crates_not_used
        ),
        packages,
        relationships: rels,
    };
    (doc, counts)
}

impl Document {
    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("an SPDX document always serializes");
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(iso8601(951_825_600), "2000-02-29T12:00:00Z");
        assert_eq!(iso8601(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn ids_and_purls_are_well_formed() {
        assert_eq!(
            spdx_id("crate", &["wasi", "0.11.0+wasi_snapshot"]),
            "SPDXRef-crate-wasi-0.11.0-wasi-snapshot"
        );
        assert_eq!(purl_escape("1:1.35.0-4+deb12u1"), "1%3A1.35.0-4%2Bdeb12u1");
    }

    #[test]
    fn licenses() {
        assert_eq!(
            license_expression(Some("MIT/Apache-2.0")),
            "MIT OR Apache-2.0"
        );
        assert_eq!(
            license_expression(Some("(MIT OR Apache-2.0) AND Unicode-3.0")),
            "(MIT OR Apache-2.0) AND Unicode-3.0"
        );
        assert_eq!(license_expression(Some("MIT, see LICENSE")), NOASSERTION);
        assert_eq!(license_expression(None), NOASSERTION);
    }
}
