//! The real Debian archive through the machine's apt: these tests download
//! arm64 packages with `apt-get download` (network to the Debian mirrors;
//! adding the arm64 architecture needs root or sudo the first time). They
//! fail, not skip, when that is impossible.

mod common;

use std::io::Read;
use std::path::Path;

use common::*;
use image_builder::apt::Apt;
use image_builder::debian::{fetch_pinned, resolve_current};
use image_builder::initramfs::{self, Fetches};
use image_builder::lock::{lock_path, LockFile, LockedPackage};
use image_builder::manifest::{
    load_board, load_image, Applets, InitramfsSpec, ModuleSource, PackageRef,
};
use image_builder::workspace::Workspace;
use image_format::{domain_flags, ModuleKind, ModuleTable};

const DOM0: &str = "manifests/images/linux-dom0.yaml";

fn dom0_initramfs() -> (InitramfsSpec, PackageRef) {
    let ws = Workspace { root: repo_root() };
    let board = load_board(&ws, "qemu-virt").unwrap();
    let img = load_image(&repo_root().join(DOM0), &board).unwrap();
    let Some(ModuleSource::Initramfs(spec)) = img.domains[0].ramdisk.clone() else {
        panic!("linux-dom0's ramdisk is an initramfs");
    };
    let r = spec.busybox.package_ref();
    (spec, r)
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// (name, mode, rdev, data) of a cpio entry.
type CpioEntry = (String, u32, (u32, u32), Vec<u8>);

/// Every entry of a newc archive, trailer excluded.
fn cpio_entries(mut bytes: &[u8]) -> Vec<CpioEntry> {
    let mut out = Vec::new();
    loop {
        let mut r = cpio::newc::Reader::new(bytes).unwrap();
        let e = r.entry().clone();
        if e.is_trailer() {
            return out;
        }
        let mut data = Vec::new();
        r.read_to_end(&mut data).unwrap();
        out.push((
            e.name().to_string(),
            e.mode(),
            (e.rdev_major(), e.rdev_minor()),
            data,
        ));
        bytes = r.finish().unwrap();
    }
}

#[test]
fn busybox_initramfs_from_the_archive_is_reproducible() {
    let (spec, busybox) = dom0_initramfs();
    let init = std::fs::read(repo_root().join(&spec.init)).unwrap();
    let mut built = Vec::new();
    let mut pinned: Vec<LockedPackage> = Vec::new();
    for _ in 0..2 {
        // A tree of its own (just the files the spec names) and a cold
        // cache each time.
        let t = tempfile::tempdir().unwrap();
        let tree = t.path().join("tree");
        let srcs = std::iter::once(&spec.init).chain(spec.files.iter().map(|f| &f.src));
        for src in srcs {
            let to = tree.join(src);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(repo_root().join(src), &to).unwrap();
        }
        let started = std::time::Instant::now();
        let f = resolve_current(&Apt::new(), &t.path().join("debs"), &busybox).unwrap();
        eprintln!("fetched {} in {:?}", f.locked.spec(), started.elapsed());
        pinned.push(f.locked.clone());
        let fetches: Fetches = [(busybox.clone(), f)].into_iter().collect();
        let i = initramfs::build(&tree, &spec, &fetches, 1_700_000_000).unwrap();
        eprintln!(
            "initramfs: {} bytes, {} entries",
            i.bytes.len(),
            i.record.entries
        );
        built.push(i);
    }
    assert_eq!(pinned[0], pinned[1], "both runs saw the same package");
    assert_eq!(built[0].bytes, built[1].bytes, "same inputs, same bytes");
    assert_eq!(built[0].record, built[1].record);

    let entries = cpio_entries(&gunzip(&built[0].bytes));
    assert_eq!(entries.len(), built[0].record.entries);
    let by = |n: &str| {
        entries
            .iter()
            .find(|e| e.0 == n)
            .unwrap_or_else(|| panic!("no {n}"))
    };
    let bb = &by("bin/busybox").3;
    // An aarch64 ELF (e_machine 183 at offset 18).
    assert_eq!(&bb[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([bb[18], bb[19]]), 183);
    let table = initramfs::applet_table(bb).unwrap();
    assert!(
        table.len() > 200,
        "busybox-static has hundreds of applets: {}",
        table.len()
    );
    // linux-dom0 links every applet the binary has.
    assert_eq!(spec.applets, Applets::All);
    for applet in table.iter().filter(|a| *a != "busybox") {
        let e = by(&format!("bin/{applet}"));
        assert_eq!((e.1, e.3.as_slice()), (0o120_777, &b"busybox"[..]));
    }
    assert_eq!(by("init").3, init);
    assert_eq!(by("init").1, 0o100_755);
    assert_eq!(
        (by("dev/console").1, by("dev/console").2),
        (0o020_600, (5, 1))
    );
    for d in ["dev", "proc", "sys", "tmp", "etc", "root"] {
        assert_eq!(by(d).1 & 0o170_000, 0o040_000, "{d}");
    }
}

#[test]
fn a_pin_the_archive_no_longer_has_is_a_clear_error() {
    let (_, busybox) = dom0_initramfs();
    let pin = LockedPackage {
        name: busybox.package.clone(),
        arch: busybox.arch.clone(),
        version: "1:0.0.1-0".into(),
        sha256: "00".repeat(32),
        metapackage: None,
    };
    let t = tempfile::tempdir().unwrap();
    let fix =
        "image-builder --board qemu-virt --image manifests/images/linux-dom0.yaml --update-lock";
    let e = fetch_pinned(&Apt::new(), t.path(), &pin, Path::new("x.lock.yaml"), fix).unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("package busybox-static:arm64=1:0.0.1-0 (pinned in x.lock.yaml) can no longer be downloaded")
            && e.contains(fix)
            && e.contains("apt-get download busybox-static:arm64=1:0.0.1-0 failed"),
        "{e}"
    );
}

#[test]
fn update_lock_writes_a_lock_next_to_the_manifest() {
    let t = tempfile::tempdir().unwrap();
    let manifest = t.path().join("dom0.yaml");
    std::fs::copy(repo_root().join(DOM0), &manifest).unwrap();
    let m = manifest.to_str().unwrap();
    let root = repo_root();
    let args = [
        "--board",
        "qemu-virt",
        "--workspace",
        root.to_str().unwrap(),
        "--image",
        m,
        "--update-lock",
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!("{}\n", t.path().join("dom0.lock.yaml").display())),
        "{out}"
    );
    assert!(
        out.contains("  busybox-static:arm64: busybox-static=") && out.contains("(new)"),
        "{out}"
    );
    assert!(
        out.contains("  linux-image-arm64:arm64 (resolve: depends): linux-image-6."),
        "{out}"
    );
    let lock = LockFile::read(&lock_path(&manifest)).unwrap().unwrap();
    assert_eq!(lock.image, "linux-dom0");
    let names: Vec<_> = lock.packages.iter().map(|p| p.request().package).collect();
    assert_eq!(names, ["busybox-static", "linux-image-arm64"]);
    assert!(
        lock.packages[1].name.starts_with("linux-image-6.")
            && lock.packages[1].name.ends_with("-arm64")
    );
    // Again: nothing changed (unless the archive moved in between, which a
    // second look would show as `old -> new`).
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("(unchanged)") || stdout(&o).contains(" -> "),
        "{}",
        stdout(&o)
    );
}

#[test]
fn linux_dom0_image_builds_from_its_lock() {
    let root = repo_root();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let started = std::time::Instant::now();
    let o = run(&[
        "--board",
        "qemu-virt",
        "--workspace",
        root.to_str().unwrap(),
        "--image",
        root.join(DOM0).to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    eprintln!("linux-dom0 built in {:?}", started.elapsed());
    let img = std::fs::read(out.join("boot.img")).unwrap();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("build.json")).unwrap()).unwrap();
    let lock = LockFile::read(&lock_path(&root.join(DOM0)))
        .unwrap()
        .unwrap();

    let off = record["table_offset"].as_u64().unwrap() as usize;
    let table = ModuleTable::parse(&img[off..]).unwrap();
    let d: Vec<_> = table.domains().collect();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].name, d[0].id, d[0].vcpus), ("dom0", 0, 2));
    assert_eq!(
        d[0].flags,
        domain_flags::HARDWARE | domain_flags::DIRECT_MAP | domain_flags::HVC_CONSOLE
    );
    assert_eq!(d[0].memory_bytes, 512 << 20);

    // The kernel: Debian's, as an arm64 Image that fits with the ramdisk.
    let k = table.module(0, ModuleKind::Kernel).unwrap();
    assert_eq!(k.cmdline, "console=hvc0 earlycon=xenboot rdinit=/init");
    let kernel = &img[k.offset as usize..(k.offset + k.size) as usize];
    assert_eq!(&kernel[56..60], b"ARM\x64");
    let kpin = lock
        .packages
        .iter()
        .find(|p| p.metapackage.is_some())
        .unwrap();
    let m = &record["modules"][0];
    assert_eq!(
        m["source"].as_str().unwrap(),
        format!(
            "debian:{}:boot/vmlinuz-{}",
            kpin.spec(),
            kpin.name.trim_start_matches("linux-image-")
        )
    );
    assert_eq!(m["packages"][0]["sha256"], kpin.sha256.as_str());

    // The ramdisk: the initramfs, with the tree's init script.
    let r = table.module(0, ModuleKind::Ramdisk).unwrap();
    let ramdisk = &img[r.offset as usize..(r.offset + r.size) as usize];
    let entries = cpio_entries(&gunzip(ramdisk));
    let init = entries.iter().find(|e| e.0 == "init").unwrap();
    assert_eq!(
        init.3,
        std::fs::read(root.join("manifests/images/linux-dom0/init")).unwrap()
    );
    let m = &record["modules"][1];
    assert_eq!(m["source"], "initramfs:manifests/images/linux-dom0/init");
    assert_eq!(
        m["initramfs"]["entries"].as_u64().unwrap() as usize,
        entries.len()
    );
    assert_eq!(m["initramfs"]["mtime"], record["source_date_epoch"]);

    // Every pinned package is recorded, with the lock file itself.
    let recorded: Vec<LockedPackage> =
        serde_json::from_value(record["inputs"]["packages"].clone()).unwrap();
    let mut pinned = lock.packages.clone();
    pinned.sort_by(|a, b| a.name.cmp(&b.name));
    let mut recorded_sorted = recorded.clone();
    recorded_sorted.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(recorded_sorted, pinned);
    assert_eq!(
        record["inputs"]["lock_file"]["path"],
        "manifests/images/linux-dom0.lock.yaml"
    );
    let text = String::from_utf8(std::fs::read(out.join("build.json")).unwrap()).unwrap();
    assert!(!text.contains("http"), "no URLs in the record");
}
