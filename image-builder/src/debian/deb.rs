//! Reading Debian binary packages (`.deb`) with maintained crates: the ar
//! container (`debian-binary`, `control.tar.*`, `data.tar.*`) through
//! `object`'s archive reader, `tar` for the
//! members, and `liblzma` / `zstd` / `flate2` for their compressions. Gives
//! the control fields (to check a download is what was asked for) and the
//! data tree's entries (to pick a kernel or fill an initramfs).

use std::io::Read;

use anyhow::{bail, Context, Result};

use crate::apt::Stanza;

/// A `.deb`'s identity, from its `control` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// All fields, for anything else a caller wants.
    pub stanza: Stanza,
}

/// One entry of a package's data tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataEntry {
    /// Path without a leading `./` or `/`, no trailing `/`.
    pub path: String,
    /// Permission bits (the low 12 bits of the tar mode).
    pub mode: u32,
    pub kind: EntryKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    /// A hard link to an earlier entry (path as in [`DataEntry::path`]).
    HardLink(String),
}

/// Normalise a tar path: `./boot/x` → `boot/x`, `./` → ``.
fn normalise(path: &str) -> String {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    p.trim_end_matches('/').to_string()
}

/// Open the tar member `prefix.tar[.xz|.zst|.gz]` of the `.deb` and hand a
/// decompressed reader to `f`.
fn with_member<T>(
    deb: &[u8],
    prefix: &str,
    f: impl FnOnce(&mut dyn Read) -> Result<T>,
) -> Result<T> {
    let archive = object::read::archive::ArchiveFile::parse(deb)
        .map_err(|e| anyhow::anyhow!("not a Debian package: bad ar archive: {e}"))?;
    if archive.is_thin() {
        bail!("not a Debian package: a thin ar archive (members stored elsewhere)");
    }
    let mut first = true;
    let mut names = Vec::new();
    for member in archive.members() {
        let member =
            member.map_err(|e| anyhow::anyhow!("not a Debian package: bad ar member: {e}"))?;
        let name = String::from_utf8_lossy(member.name()).into_owned();
        let name = name.trim_end_matches('/').to_string();
        let mut entry = member
            .data(deb)
            .map_err(|e| anyhow::anyhow!("not a Debian package: member {name}: {e}"))?;
        if first {
            first = false;
            if name != "debian-binary" {
                bail!("not a Debian package: first ar member is '{name}', not 'debian-binary'");
            }
            let v = String::from_utf8_lossy(entry);
            if !v.starts_with("2.") {
                bail!("unsupported .deb format version {:?}", v.trim());
            }
            continue;
        }
        let Some(suffix) = name
            .strip_prefix(prefix)
            .and_then(|s| s.strip_prefix(".tar"))
        else {
            names.push(name);
            continue;
        };
        let what = format!("member {name}");
        return match suffix {
            "" => f(&mut entry),
            ".xz" => f(&mut liblzma::read::XzDecoder::new(entry)),
            ".zst" => f(&mut zstd::stream::read::Decoder::new(entry)
                .with_context(|| format!("{what}: bad zstd stream"))?),
            ".gz" => f(&mut flate2::read::GzDecoder::new(entry)),
            other => bail!("{what}: unsupported compression '{other}'"),
        }
        .with_context(|| what);
    }
    if first {
        bail!("not a Debian package: empty ar archive");
    }
    bail!("not a Debian package: no {prefix}.tar member (members: {names:?})")
}

/// The package's control fields.
pub fn control(deb: &[u8]) -> Result<Control> {
    let text = with_member(deb, "control", |r| {
        let mut archive = tar::Archive::new(r);
        for entry in archive.entries().context("bad tar")? {
            let mut entry = entry.context("bad tar entry")?;
            let path = entry.path().context("bad tar path")?;
            if normalise(&path.to_string_lossy()) == "control" {
                let mut text = String::new();
                entry
                    .read_to_string(&mut text)
                    .context("control file is not UTF-8")?;
                return Ok(text);
            }
        }
        bail!("no control file")
    })?;
    let stanza = Stanza::parse(&text);
    let field = |k: &str| {
        stanza
            .get(k)
            .map(str::to_string)
            .with_context(|| format!("control file has no {k} field"))
    };
    Ok(Control {
        package: field("Package")?,
        version: field("Version")?,
        architecture: field("Architecture")?,
        stanza: stanza.clone(),
    })
}

/// Walk the data tree; `keep(path)` says whether to read a regular file's
/// bytes (others are returned with empty contents: large packages need
/// not be held in memory). Entries come in archive order.
pub fn data_entries(deb: &[u8], keep: &dyn Fn(&str) -> bool) -> Result<Vec<DataEntry>> {
    with_member(deb, "data", |r| {
        let mut archive = tar::Archive::new(r);
        let mut out = Vec::new();
        for entry in archive.entries().context("bad tar")? {
            let mut entry = entry.context("bad tar entry")?;
            let path = normalise(&entry.path().context("bad tar path")?.to_string_lossy());
            if path.is_empty() {
                continue;
            }
            let mode = entry.header().mode().context("bad tar mode")? & 0o7777;
            let link = || -> Result<String> {
                Ok(entry
                    .link_name()
                    .context("bad link name")?
                    .with_context(|| format!("{path}: link without a target"))?
                    .to_string_lossy()
                    .into_owned())
            };
            let kind = match entry.header().entry_type() {
                tar::EntryType::Directory => EntryKind::Dir,
                tar::EntryType::Symlink => EntryKind::Symlink(link()?),
                tar::EntryType::Link => EntryKind::HardLink(normalise(&link()?)),
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut bytes = Vec::new();
                    if keep(&path) {
                        entry
                            .read_to_end(&mut bytes)
                            .with_context(|| format!("cannot read {path}"))?;
                    }
                    EntryKind::File(bytes)
                }
                other => bail!("{path}: unsupported tar entry type {other:?}"),
            };
            out.push(DataEntry { path, mode, kind });
        }
        Ok(out)
    })
}

/// The one regular file whose path matches `pattern` (a glob such as
/// `boot/vmlinuz-*`), with its path. No match or several: an error that
/// lists what was found.
pub fn extract_one(deb: &[u8], pattern: &str) -> Result<(String, Vec<u8>)> {
    let glob =
        glob::Pattern::new(pattern).with_context(|| format!("'{pattern}' is not a valid glob"))?;
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let matches = |p: &str| glob.matches_with(p, opts);
    let entries = data_entries(deb, &matches)?;
    let mut found: Vec<(String, Vec<u8>)> = Vec::new();
    let mut others = Vec::new();
    for e in entries.into_iter().filter(|e| matches(&e.path)) {
        match e.kind {
            EntryKind::File(bytes) => found.push((e.path, bytes)),
            _ => others.push(e.path),
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 if others.is_empty() => bail!("no file in the package matches '{pattern}'"),
        0 => bail!("'{pattern}' matches no regular file, only {others:?}"),
        _ => {
            let names: Vec<_> = found.iter().map(|(p, _)| p.as_str()).collect();
            bail!(
                "'{pattern}' matches {} files ({names:?}): make it match one",
                found.len()
            )
        }
    }
}

/// Test helper: a `.deb` made with the `ar` and `tar` crates.
#[cfg(test)]
pub(crate) mod testdeb {
    use std::io::Write;

    pub enum Item<'a> {
        Dir(&'a str),
        File(&'a str, u32, &'a [u8]),
        Symlink(&'a str, &'a str),
    }

    fn tar_of(items: &[Item]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for item in items {
            let mut h = tar::Header::new_gnu();
            match item {
                Item::Dir(p) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    h.set_cksum();
                    b.append_data(&mut h, p, &[][..]).unwrap();
                }
                Item::File(p, mode, bytes) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(bytes.len() as u64);
                    h.set_cksum();
                    b.append_data(&mut h, p, *bytes).unwrap();
                }
                Item::Symlink(p, target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, p, target).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    /// Compression of the data member: "", "xz", "gz" or "zst".
    pub fn deb(
        package: &str,
        version: &str,
        arch: &str,
        compression: &str,
        items: &[Item],
    ) -> Vec<u8> {
        let control = format!(
            "Package: {package}\nVersion: {version}\nArchitecture: {arch}\nDescription: test\n"
        );
        let control_tar = tar_of(&[Item::File("./control", 0o644, control.as_bytes())]);
        let data = tar_of(items);
        let data = match compression {
            "" => data,
            "xz" => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(&data).unwrap();
                e.finish().unwrap()
            }
            "gz" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&data).unwrap();
                e.finish().unwrap()
            }
            "zst" => zstd::stream::encode_all(&data[..], 1).unwrap(),
            c => panic!("{c}"),
        };
        let data_name = if compression.is_empty() {
            "data.tar".to_string()
        } else {
            format!("data.tar.{compression}")
        };
        let mut b = ar::Builder::new(Vec::new());
        for (name, bytes) in [
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar", control_tar),
            (data_name.as_str(), data),
        ] {
            let h = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
            b.append(&h, &bytes[..]).unwrap();
        }
        b.into_inner().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testdeb::{deb, Item};
    use super::*;

    fn sample(compression: &str) -> Vec<u8> {
        deb(
            "linux-image-6.1.0-9-arm64",
            "6.1.1-1",
            "arm64",
            compression,
            &[
                Item::Dir("./"),
                Item::Dir("./boot/"),
                Item::File("./boot/vmlinuz-6.1.0-9-arm64", 0o644, b"KERNEL"),
                Item::File("./boot/config-6.1.0-9-arm64", 0o644, b"CONFIG"),
                Item::Dir("./usr/lib/"),
                Item::File("./usr/lib/x/vmlinuz-deep", 0o755, b"NOT ME"),
                Item::Symlink("./boot/vmlinuz", "vmlinuz-6.1.0-9-arm64"),
            ],
        )
    }

    #[test]
    fn reads_control_and_data_in_every_compression() {
        for c in ["", "xz", "gz", "zst"] {
            let d = sample(c);
            let ctl = control(&d).unwrap();
            assert_eq!(
                (
                    ctl.package.as_str(),
                    ctl.version.as_str(),
                    ctl.architecture.as_str()
                ),
                ("linux-image-6.1.0-9-arm64", "6.1.1-1", "arm64"),
                "{c}"
            );
            let all = data_entries(&d, &|_| true).unwrap();
            let paths: Vec<_> = all.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(
                paths,
                [
                    "boot",
                    "boot/vmlinuz-6.1.0-9-arm64",
                    "boot/config-6.1.0-9-arm64",
                    "usr/lib",
                    "usr/lib/x/vmlinuz-deep",
                    "boot/vmlinuz"
                ],
                "{c}"
            );
            assert_eq!(all[4].mode, 0o755);
            assert_eq!(all[4].kind, EntryKind::File(b"NOT ME".to_vec()));
            assert_eq!(
                all[5].kind,
                EntryKind::Symlink("vmlinuz-6.1.0-9-arm64".into())
            );
            let (path, bytes) = extract_one(&d, "boot/vmlinuz-*").unwrap();
            assert_eq!(
                (path.as_str(), bytes.as_slice()),
                ("boot/vmlinuz-6.1.0-9-arm64", &b"KERNEL"[..])
            );
        }
    }

    #[test]
    fn unkept_files_are_not_read() {
        let d = sample("xz");
        let e = data_entries(&d, &|p| p.ends_with("config-6.1.0-9-arm64")).unwrap();
        assert_eq!(e[1].kind, EntryKind::File(Vec::new()));
        assert_eq!(e[2].kind, EntryKind::File(b"CONFIG".to_vec()));
    }

    #[test]
    fn extract_errors_say_what_matched() {
        let d = sample("gz");
        let e = extract_one(&d, "boot/*").unwrap_err().to_string();
        assert!(
            e.contains("matches 2 files") && e.contains("boot/config-6.1.0-9-arm64"),
            "{e}"
        );
        let e = extract_one(&d, "boot/initrd*").unwrap_err().to_string();
        assert!(
            e.contains("no file in the package matches 'boot/initrd*'"),
            "{e}"
        );
        let e = extract_one(&d, "boot/vmlinuz").unwrap_err().to_string();
        assert!(
            e.contains("matches no regular file, only [\"boot/vmlinuz\"]"),
            "{e}"
        );
        // `*` does not cross `/`.
        let e = extract_one(&d, "usr/*-deep").unwrap_err().to_string();
        assert!(e.contains("no file"), "{e}");
    }

    #[test]
    fn rejects_what_is_not_a_deb() {
        let e = control(b"hello").unwrap_err();
        assert!(format!("{e:#}").contains("not a Debian package"), "{e:#}");
        let mut b = ar::Builder::new(Vec::new());
        b.append(&ar::Header::new(b"foo".to_vec(), 1), &b"x"[..])
            .unwrap();
        let e = control(&b.into_inner().unwrap()).unwrap_err().to_string();
        assert!(e.contains("first ar member is 'foo'"), "{e}");
    }

    /// One ar member header with `name` and `size` bytes of `x` after it.
    fn member(name: &str, size: usize) -> Vec<u8> {
        let mut m =
            format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n", 0, 0, 0, 644).into_bytes();
        m.extend(std::iter::repeat_n(b'x', size));
        if size % 2 == 1 {
            m.push(b'\n');
        }
        m
    }

    #[test]
    fn gnu_long_names_past_their_table_are_an_error_not_a_panic() {
        // Found by the builder-deb fuzz target: the `ar` crate sliced its
        // long-name table at the member's `/N` without a bounds check.
        for table in [None, Some(4)] {
            let mut deb = b"!<arch>\n".to_vec();
            if let Some(n) = table {
                deb.extend(member("//", n));
            }
            deb.extend(member("/100000000000000", 4));
            let e = format!("{:#}", control(&deb).unwrap_err());
            assert!(e.contains("not a Debian package"), "{e}");
        }
        // A name table claiming more bytes than the file has.
        let mut deb = b"!<arch>\n".to_vec();
        deb.extend(&member("//", 0)[..48]);
        deb.extend(b"9999999999`\n");
        let e = format!("{:#}", control(&deb).unwrap_err());
        assert!(e.contains("not a Debian package"), "{e}");
    }
}
