//! The real board: build the default qemu-virt image from this tree and
//! read it back as the hypervisor would. Needs the real BSP and guest to
//! build; fails (does not skip) when they do not.

mod common;

use common::*;
use image_format::{ModuleKind, ModuleTable};

#[test]
fn default_image_builds_and_reads_back() {
    let root = repo_root();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let o = run(&[
        "--board",
        "qemu-virt",
        "--workspace",
        root.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = std::fs::read(out.join("boot.img")).unwrap();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("build.json")).unwrap()).unwrap();
    // QEMU loads it as a Linux arm64 Image.
    assert_eq!(&img[56..60], b"ARM\x64");
    assert_eq!(
        u64::from_le_bytes(img[16..24].try_into().unwrap()),
        img.len() as u64
    );
    let off = record["table_offset"].as_u64().unwrap();
    assert_eq!(off % 4096, 0);
    let t = ModuleTable::parse(&img[off as usize..]).unwrap();
    assert_eq!(t.header.table_offset, off);
    assert_eq!(t.header.image_size, img.len() as u64);
    let d: Vec<_> = t.domains().collect();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].name, d[0].id), ("selftest", 1));
    let k = t.module(1, ModuleKind::Kernel).unwrap();
    assert_eq!(k.cmdline, "selftest");
    let kernel = &img[k.offset as usize..(k.offset + k.size) as usize];
    assert_eq!(&kernel[56..60], b"ARM\x64", "the guest is an arm64 Image");
    assert_eq!(record["modules"][0]["source"], "guest:aarch64-selftest");
}
