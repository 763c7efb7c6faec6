//! The busybox initramfs the builder assembles for a domain (manifest
//! `ramdisk: {initramfs: ...}`), reproducibly: the contents come from pinned
//! packages and tree files only, the cpio is normalised (see `cpio`), and
//! the gzip wrapper carries no name and mtime 0.
//!
//! Busybox's applets: an arm64 busybox cannot be run on the build host to
//! ask `--list`. The manifest lists the applets it wants (reviewable, and an
//! initramfs does not change when a busybox update adds applets) or says
//! `all`, and the builder checks each against, or takes all of, the applet
//! name table it finds in the binary: busybox keeps its applet names as one
//! sorted run of NUL-terminated strings (`[`, `[[`, `acpid`, ...), which is
//! the longest strictly ascending run of name-like strings in the file. A typo or an
//! applet this busybox lacks is a build error, not a dangling symlink.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cpio::{Archive, Node};
use crate::deb::{data_entries, EntryKind};
use crate::debian::Fetched;
use crate::digest::sha256_hex;
use crate::kmod::BuiltModuleRecord;
use crate::lock::LockedPackage;
use crate::manifest::{Applets, InitramfsSpec, PackageRef};

/// Where busybox is in the busybox(-static) package.
pub const BUSYBOX_PATH: &str = "bin/busybox";

/// Directories every initramfs has: (path, mode).
const STANDARD_DIRS: &[(&str, u32)] = &[
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("proc", 0o555),
    ("root", 0o700),
    ("sys", 0o555),
    ("tmp", 0o1777),
];

/// The gzip header's OS byte: 3 (Unix), whatever the build host.
pub const GZIP_OS_UNIX: u8 = 3;

/// The built ramdisk and what build.json says about it.
#[derive(Clone, Debug)]
pub struct Initramfs {
    /// gzip-compressed cpio newc archive.
    pub bytes: Vec<u8>,
    pub record: InitramfsRecord,
    /// The packages it was made from, in manifest order.
    pub packages: Vec<LockedPackage>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InitramfsRecord {
    /// Entries in the cpio archive (the trailer not counted).
    pub entries: usize,
    pub cpio_size: u64,
    pub cpio_sha256: String,
    pub mtime: u64,
    /// Kernel modules built for it (manifest `kernel_modules`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<BuiltModuleRecord>,
}

/// The packages an initramfs needs, fetched.
pub type Fetches = BTreeMap<PackageRef, Fetched>;

fn fetched<'a>(fetches: &'a Fetches, r: &PackageRef) -> Result<&'a Fetched> {
    fetches
        .get(r)
        .with_context(|| format!("internal error: package {} was not fetched", r.package))
}

/// Fewer names than this is not busybox's applet table.
const MIN_APPLET_TABLE: usize = 8;

fn applet_like(s: &[u8]) -> bool {
    (1..=32).contains(&s.len())
        && s.iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"[]_.-".contains(&b))
}

/// Busybox's applet names, read from the binary: the longest strictly
/// ascending run of consecutive NUL-terminated name-like strings.
pub fn applet_table(binary: &[u8]) -> Option<Vec<String>> {
    let mut best: &[&[u8]] = &[];
    let tokens: Vec<&[u8]> = binary.split(|&b| b == 0).collect();
    let mut start = 0;
    for i in 0..=tokens.len() {
        let continues =
            i < tokens.len() && applet_like(tokens[i]) && (i == start || tokens[i - 1] < tokens[i]);
        if continues {
            continue;
        }
        if i - start > best.len() {
            best = &tokens[start..i];
        }
        // A non-name ends the run; a name out of order starts the next one.
        start = if i < tokens.len() && applet_like(tokens[i]) {
            i
        } else {
            i + 1
        };
    }
    (best.len() >= MIN_APPLET_TABLE).then(|| {
        best.iter()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect()
    })
}

/// Add a package's data tree (or the part matching `include`).
fn add_package_tree(a: &mut Archive, deb: &[u8], include: &[String]) -> Result<usize> {
    let globs: Vec<glob::Pattern> = include
        .iter()
        .map(|g| glob::Pattern::new(g).with_context(|| format!("bad glob '{g}'")))
        .collect::<Result<_>>()?;
    let wanted = |p: &str| globs.is_empty() || globs.iter().any(|g| g.matches(p));
    // Hard-link targets must be read even if not included themselves.
    let entries = data_entries(deb, &|_| true)?;
    let mut contents: BTreeMap<&str, &[u8]> = BTreeMap::new();
    let mut added = 0;
    for e in &entries {
        if let EntryKind::File(b) = &e.kind {
            contents.insert(&e.path, b);
        }
        if !wanted(&e.path) {
            continue;
        }
        let node = match &e.kind {
            EntryKind::Dir => Node::Dir,
            EntryKind::File(b) => Node::File(b.clone()),
            EntryKind::Symlink(t) => Node::Symlink(t.clone()),
            EntryKind::HardLink(t) => Node::File(
                contents
                    .get(t.as_str())
                    .with_context(|| format!("{}: hard link to unknown {t}", e.path))?
                    .to_vec(),
            ),
        };
        let mode = if matches!(node, Node::Symlink(_)) {
            0o777
        } else {
            e.mode
        };
        a.add(&e.path, mode, node)?;
        added += 1;
    }
    Ok(added)
}

/// Check the init script's `#!` interpreter is in the archive.
fn check_interpreter(a: &Archive, init: &[u8], init_name: &str) -> Result<()> {
    let Some(first) = init.strip_prefix(b"#!") else {
        return Ok(());
    };
    let line = first.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let interp = line.split_whitespace().next().unwrap_or_default();
    match a.resolve(interp) {
        Some(Node::File(_)) => Ok(()),
        _ => bail!(
            "init {init_name}: its interpreter {interp} is not in the initramfs \
             (add its applet, e.g. 'sh', to applets)"
        ),
    }
}

/// Assemble the initramfs `spec` describes. `root` is the tree (for `init`
/// and `files`), `fetches` holds its packages, `mtime` is SOURCE_DATE_EPOCH.
pub fn build(
    root: &Path,
    spec: &InitramfsSpec,
    fetches: &Fetches,
    mtime: u64,
) -> Result<Initramfs> {
    let mtime32 = u32::try_from(mtime)
        .with_context(|| format!("SOURCE_DATE_EPOCH {mtime} does not fit cpio's 32-bit mtime"))?;
    let mut a = Archive::new();
    let mut packages = Vec::new();
    for (path, mode) in STANDARD_DIRS {
        a.dir(path, *mode)?;
    }
    a.char_dev("dev/console", 0o600, 5, 1)?;

    // busybox and its applets.
    let bb = fetched(fetches, &spec.busybox.package_ref())?;
    packages.push(bb.locked.clone());
    let deb = bb.read()?;
    let (_, busybox) = crate::deb::extract_one(&deb, BUSYBOX_PATH)
        .with_context(|| format!("busybox package {}", bb.locked.spec()))?;
    let table = applet_table(&busybox).with_context(|| {
        format!(
            "{BUSYBOX_PATH} from {} has no applet name table: is it busybox?",
            bb.locked.spec()
        )
    })?;
    let applets: &[String] = match &spec.applets {
        Applets::All => &table,
        Applets::Named(names) => names,
    };
    let unknown: Vec<&str> = applets
        .iter()
        .filter(|a| !table.contains(a))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        bail!(
            "busybox from {} has no applet named {}: fix 'applets' in the manifest",
            bb.locked.spec(),
            unknown.join(", ")
        );
    }
    a.file(BUSYBOX_PATH, 0o755, busybox)?;
    // The table may name busybox itself; that one is the binary.
    for applet in applets.iter().filter(|a| *a != "busybox") {
        a.symlink(&format!("bin/{applet}"), "busybox")?;
    }

    for p in &spec.packages {
        let f = fetched(fetches, &p.package_ref())?;
        packages.push(f.locked.clone());
        let n = add_package_tree(&mut a, &f.read()?, &p.include)
            .with_context(|| format!("unpacking {} into the initramfs", f.locked.spec()))?;
        if n == 0 {
            bail!(
                "package {}: nothing matches include {:?}",
                f.locked.spec(),
                p.include
            );
        }
    }

    for f in &spec.files {
        let src = crate::build::resolve(root, &f.src);
        let bytes =
            std::fs::read(&src).with_context(|| format!("cannot read {}", src.display()))?;
        let mode = u32::from_str_radix(&f.mode, 8)
            .with_context(|| format!("{}: mode '{}' is not octal", f.dest, f.mode))?;
        a.file(&f.dest, mode, bytes)?;
    }

    let mut modules = Vec::new();
    for m in &spec.kernel_modules {
        let built = crate::kmod::build(m, fetches, mtime)?;
        packages.extend(built.packages);
        a.file(&built.record.dest, 0o644, built.bytes)?;
        modules.push(built.record);
    }

    let init_path = crate::build::resolve(root, &spec.init);
    let init = std::fs::read(&init_path)
        .with_context(|| format!("cannot read init script {}", init_path.display()))?;
    a.file("init", 0o755, init.clone())?;
    check_interpreter(&a, &init, &spec.init.display().to_string())?;

    let cpio = a.write(mtime32)?;
    let bytes = gzip(&cpio)?;
    Ok(Initramfs {
        bytes,
        record: InitramfsRecord {
            entries: a.len()?,
            cpio_size: cpio.len() as u64,
            cpio_sha256: sha256_hex(&cpio),
            mtime,
            modules,
        },
        packages,
    })
}

/// gzip with a fixed header: no file name, mtime 0, OS byte Unix, best
/// compression (miniz_oxide, pinned by Cargo.lock).
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut e = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS_UNIX)
        .write(Vec::new(), flate2::Compression::best());
    e.write_all(bytes)?;
    Ok(e.finish()?)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::PathBuf;

    use super::*;
    use crate::cpio::tests::read_back;
    use crate::deb::testdeb::Item;
    use crate::debian::tests::FakeArchive;
    use crate::manifest::{BusyboxRef, ExtraFile, Resolve, TreePackage};

    const BUSYBOX: &[u8] =
        b"\x7fELF\x02\0sh\0more\0[\0[[\0acpid\0cat\0mount\0poweroff\0sh\0tail\0zcat\0\x82\0yes\0";

    fn setup() -> (tempfile::TempDir, InitramfsSpec, Fetches) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("guest")).unwrap();
        std::fs::write(root.join("guest/init"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::write(root.join("guest/motd"), "hello\n").unwrap();
        let mut archive = FakeArchive::default();
        archive.add(
            "busybox-static",
            "arm64",
            "1:1.35.0-4",
            "",
            &[
                Item::Dir("./bin/"),
                Item::File("./bin/busybox", 0o755, BUSYBOX),
                Item::Dir("./usr/share/doc/busybox-static/"),
                Item::File("./usr/share/doc/busybox-static/copyright", 0o644, b"GPL"),
            ],
        );
        archive.add(
            "extra-data",
            "arm64",
            "2",
            "",
            &[
                Item::Dir("./usr/"),
                Item::Dir("./usr/share/extra/"),
                Item::File("./usr/share/extra/a.dat", 0o600, b"AAA"),
                Item::Symlink("./usr/share/extra/b.dat", "a.dat"),
                Item::File("./usr/lib/skip.so", 0o644, b"no"),
            ],
        );
        let cache = root.join("cache");
        let mut fetches = Fetches::new();
        for (name, version) in [("busybox-static", "1:1.35.0-4"), ("extra-data", "2")] {
            let r = PackageRef {
                package: name.into(),
                arch: "arm64".into(),
                resolve: Resolve::Exact,
            };
            let f = crate::debian::resolve_current(&archive, &cache, &r).unwrap();
            assert_eq!(f.locked.version, version);
            fetches.insert(r, f);
        }
        let spec = InitramfsSpec {
            busybox: BusyboxRef {
                package: "busybox-static".into(),
                arch: "arm64".into(),
            },
            applets: Applets::Named(vec![
                "sh".into(),
                "mount".into(),
                "cat".into(),
                "[".into(),
                "poweroff".into(),
            ]),
            init: PathBuf::from("guest/init"),
            packages: vec![TreePackage {
                package: "extra-data".into(),
                arch: "arm64".into(),
                resolve: Resolve::Exact,
                include: vec!["usr/share/extra/*".into()],
            }],
            files: vec![ExtraFile {
                src: "guest/motd".into(),
                dest: "/etc/motd".into(),
                mode: "0640".into(),
            }],
            kernel_modules: Vec::new(),
        };
        (t, spec, fetches)
    }

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn contents_and_record() {
        let (t, spec, fetches) = setup();
        let i = build(t.path(), &spec, &fetches, 1_700_000_000).unwrap();
        let cpio = gunzip(&i.bytes);
        assert_eq!(i.record.cpio_sha256, sha256_hex(&cpio));
        assert_eq!(i.record.cpio_size, cpio.len() as u64);
        let r = read_back(&cpio);
        assert_eq!(i.record.entries, r.len() - 1);
        let by = |n: &str| {
            r.iter()
                .find(|e| e.0 == n)
                .unwrap_or_else(|| panic!("no {n}"))
        };
        assert_eq!(by("bin/busybox").8, BUSYBOX);
        assert_eq!(by("bin/busybox").2, 0o100_755);
        for applet in ["sh", "mount", "cat", "[", "poweroff"] {
            let e = by(&format!("bin/{applet}"));
            assert_eq!((e.2, e.8.as_slice()), (0o120_777, &b"busybox"[..]));
        }
        assert_eq!(by("init").2, 0o100_755);
        assert_eq!(by("init").8, b"#!/bin/sh\necho hi\n");
        assert_eq!(by("dev/console").2, 0o020_600);
        assert_eq!(by("dev/console").7, (5, 1));
        assert_eq!(by("tmp").2, 0o041_777);
        assert_eq!(by("etc/motd").2, 0o100_640);
        assert_eq!(by("usr/share/extra/a.dat").2, 0o100_600);
        assert_eq!(by("usr/share/extra/b.dat").8, b"a.dat");
        assert!(!r
            .iter()
            .any(|e| e.0.contains("skip.so") || e.0.contains("copyright")));
        for d in ["proc", "sys", "root", "usr", "usr/share"] {
            assert_eq!(by(d).2 & 0o170_000, 0o040_000, "{d}");
        }
        assert!(r
            .iter()
            .all(|e| e.6 == 1_700_000_000 || e.0 == "TRAILER!!!"));
        let names: Vec<_> = i.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["busybox-static", "extra-data"]);
    }

    #[test]
    fn all_links_every_applet_in_the_table() {
        let (t, mut spec, fetches) = setup();
        spec.applets = Applets::All;
        let i = build(t.path(), &spec, &fetches, 0).unwrap();
        let r = read_back(&gunzip(&i.bytes));
        let mut linked: Vec<&str> = r
            .iter()
            .filter(|e| e.0.starts_with("bin/") && e.8 == b"busybox")
            .map(|e| e.0.trim_start_matches("bin/"))
            .collect();
        linked.sort_unstable();
        // The fake binary's table, not the stray strings around it.
        assert_eq!(
            linked,
            ["[", "[[", "acpid", "cat", "mount", "poweroff", "sh", "tail", "zcat"]
        );
    }

    #[test]
    fn gzip_header_is_fixed() {
        let (t, spec, fetches) = setup();
        let i = build(t.path(), &spec, &fetches, 5).unwrap();
        // ID1 ID2 CM=deflate FLG=0 (no name/comment/extra) MTIME=0 XFL=2 (best) OS=3.
        assert_eq!(
            &i.bytes[..10],
            &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, GZIP_OS_UNIX]
        );
        assert_eq!(gzip(b"x").unwrap(), gzip(b"x").unwrap());
    }

    #[test]
    fn same_inputs_same_bytes_other_mtime_other_bytes() {
        let (t1, spec, f1) = setup();
        let (t2, _, f2) = setup();
        let a = build(t1.path(), &spec, &f1, 1000).unwrap();
        let b = build(t2.path(), &spec, &f2, 1000).unwrap();
        assert_eq!(a.bytes, b.bytes);
        let c = build(t1.path(), &spec, &f1, 1001).unwrap();
        assert_ne!(a.bytes, c.bytes);
        let e = build(t1.path(), &spec, &f1, 1 << 33)
            .unwrap_err()
            .to_string();
        assert!(e.contains("32-bit mtime"), "{e}");
    }

    #[test]
    fn errors_name_the_problem() {
        let (t, mut spec, fetches) = setup();
        let Applets::Named(names) = &mut spec.applets else {
            unreachable!()
        };
        names.push("nosuchapplet".into());
        names.push("mou".into());
        // In the binary, but not in its applet table.
        names.push("more".into());
        let e = build(t.path(), &spec, &fetches, 0).unwrap_err().to_string();
        assert!(
            e.contains("busybox from busybox-static:arm64=1:1.35.0-4 has no applet named nosuchapplet, mou, more"),
            "{e}"
        );
        let (t, mut spec, fetches) = setup();
        if let Applets::Named(names) = &mut spec.applets {
            names.retain(|a| a != "sh");
        }
        let e = build(t.path(), &spec, &fetches, 0).unwrap_err().to_string();
        assert!(
            e.contains("init guest/init: its interpreter /bin/sh is not in the initramfs"),
            "{e}"
        );
        let (t, mut spec, fetches) = setup();
        spec.files[0].dest = "/bin/busybox".into();
        let e = build(t.path(), &spec, &fetches, 0).unwrap_err().to_string();
        assert!(e.contains("bin/busybox is added twice"), "{e}");
        let (t, mut spec, fetches) = setup();
        spec.packages[0].include = vec!["nothing/*".into()];
        let e = build(t.path(), &spec, &fetches, 0).unwrap_err().to_string();
        assert!(e.contains("nothing matches include"), "{e}");
    }

    #[test]
    fn finds_the_applet_table() {
        assert_eq!(
            applet_table(BUSYBOX).unwrap(),
            ["[", "[[", "acpid", "cat", "mount", "poweroff", "sh", "tail", "zcat"]
        );
        // A run that stops ascending ends there; a later, shorter run loses.
        let t = applet_table(b"a\0b\0c\0d\0e\0f\0g\0h\0i\0c\0d\0e\0").unwrap();
        assert_eq!(t.len(), 9);
        assert!(applet_table(b"\x7fELF\0a\0b\0").is_none());
        assert!(applet_table(b"").is_none());
    }
}
