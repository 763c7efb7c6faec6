//! The whole pipeline on the miniature tree in tests/fixture/ (a fake BSP
//! and guests that build in seconds): real cargo builds, ELF → flat, the
//! module table, the outputs, and build failures that must leave nothing.

mod common;

use std::path::Path;

use common::*;
use image_format::{domain_flags, ModuleKind, ModuleTable};

fn build(root: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--board", "fake", "--workspace", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every string in a JSON value.
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Not on a terminal, a build says what it did one stable line at a time
/// (`image-builder: <stage> ... 1.2 s`, in this order), and never moves
/// the cursor or colours anything.
fn assert_stage_lines(err: &str, stages: &[&str]) {
    assert!(
        !err.contains('\x1b') && !err.contains('\r'),
        "no escape sequences or carriage returns: {err:?}"
    );
    let mut lines = err.lines();
    for stage in stages {
        let line = lines
            .find(|l| l.starts_with(&format!("image-builder: {stage}")))
            .unwrap_or_else(|| panic!("no line for {stage:?} (in this order) in:\n{err}"));
        let secs = line
            .rsplit_once(" ... ")
            .and_then(|(_, t)| t.strip_suffix(" s"))
            .and_then(|t| t.parse::<f64>().ok());
        assert!(secs.is_some(), "no time in {line:?}");
    }
}

#[test]
fn builds_the_default_image() {
    let fx = fixture();
    let root = fx.path();
    let o = build(root, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out_dir = root.join("out/fake/guest");
    let img_path = out_dir.join("boot.img");
    assert!(
        stdout(&o).starts_with(&format!("{}\n", img_path.display())),
        "{}",
        stdout(&o)
    );
    let mut names: Vec<_> = files_under(&out_dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["boot.img", "boot.img.sha256", "build.json"]);

    assert_stage_lines(
        &stderr(&o),
        &[
            "preparing the domains' modules",
            "building the hypervisor (fake-bsp)",
            "building guest ",
            "assembling, hashing and signing the image (",
            "writing the outputs",
        ],
    );

    let img = std::fs::read(&img_path).unwrap();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("build.json")).unwrap()).unwrap();
    let hex = sha256_hex(&img);
    assert!(stdout(&o).contains(&format!("sha256  {hex}")));
    assert_eq!(
        std::fs::read_to_string(out_dir.join("boot.img.sha256")).unwrap(),
        format!("{hex}  boot.img\n")
    );

    // The hypervisor: the BSP's header, its image_size patched to the whole
    // image, .data after a zero-filled gap, .bss and padding to __hyp_end.
    assert_eq!(&img[56..60], b"ARM\x64");
    assert_eq!(u64_at(&img, 16), img.len() as u64);
    assert_eq!(
        u64_at(&img, 24),
        0xa,
        "the flags after image_size are intact"
    );
    let table_offset = record["table_offset"].as_u64().unwrap() as usize;
    assert_eq!(
        table_offset, 0x3000,
        "text, gap, .data + 0x1800 .bss, aligned"
    );
    assert!(img[0x48..0x1000].iter().all(|&b| b == 0));
    assert_eq!(&img[0x1000..0x1010], b"fake-bsp-data!!!");
    assert!(img[0x1010..table_offset].iter().all(|&b| b == 0));

    // The module table, as the hypervisor will read it.
    let t = ModuleTable::parse(&img[table_offset..]).unwrap();
    assert_eq!(t.header.image_size, img.len() as u64);
    assert_eq!(t.header.table_offset, table_offset as u64);
    let d: Vec<_> = t.domains().collect();
    assert_eq!(d.len(), 2);
    assert_eq!((d[0].id, d[0].name, d[0].vcpus), (0, "dom0", 2));
    // A hardware domain's console is hvc0 unless its manifest says `uart`.
    assert_eq!(
        d[0].flags,
        domain_flags::HARDWARE | domain_flags::DIRECT_MAP | domain_flags::HVC_CONSOLE
    );
    assert_eq!(d[0].memory_bytes, 32 << 20);
    assert_eq!((d[1].id, d[1].name, d[1].flags), (7, "second", 0));
    let mods: Vec<_> = t.modules().collect();
    let kinds: Vec<_> = mods.iter().map(|m| (m.domain, m.kind)).collect();
    assert_eq!(
        kinds,
        [
            (0, ModuleKind::Kernel),
            (0, ModuleKind::Ramdisk),
            (0, ModuleKind::DeviceTree),
            (7, ModuleKind::Kernel),
        ]
    );
    assert_eq!(mods[0].cmdline, "console=hvc0 quiet");
    assert!(mods[1..].iter().all(|m| m.cmdline.is_empty()));
    let rd = std::fs::read(root.join("modules/rd.cpio")).unwrap();
    for (i, m) in mods.iter().enumerate() {
        let bytes = &img[m.offset as usize..(m.offset + m.size) as usize];
        assert_eq!(sha256_hex(bytes), image_format_hex(&m.sha256));
        let rec = &record["modules"][i];
        assert_eq!(rec["offset"].as_u64(), Some(m.offset));
        assert_eq!(rec["size"].as_u64(), Some(m.size));
        assert_eq!(rec["sha256"].as_str(), Some(sha256_hex(bytes).as_str()));
    }
    assert_eq!(&img[mods[1].offset as usize..][..rd.len()], &rd[..]);
    // The guest kernel: its own header (not patched) and its data.
    let k = &img[mods[0].offset as usize..][..mods[0].size as usize];
    assert_eq!(&k[56..60], b"ARM\x64");
    assert_eq!(u64_at(k, 16), 0);
    assert!(k.windows(16).any(|w| w == b"fake-guest-data!"));

    // The record: inputs, sources and output, and no absolute path.
    assert_eq!(record["board"], "fake");
    assert_eq!(record["image"], "guest");
    assert_eq!(record["source_date_epoch"].as_u64(), Some(FIXTURE_EPOCH));
    assert!(record["toolchain"]["rustc"]
        .as_str()
        .unwrap()
        .starts_with("rustc "));
    assert!(record["toolchain"]["cargo"]
        .as_str()
        .unwrap()
        .starts_with("cargo "));
    assert_eq!(
        record["inputs"]["image_manifest"]["path"],
        "manifests/images/guest.yaml"
    );
    assert_eq!(
        record["inputs"]["cargo_lock"]["sha256"].as_str().unwrap(),
        sha256_hex(&std::fs::read(root.join("Cargo.lock")).unwrap())
    );
    assert_eq!(record["inputs"]["hypervisor"]["package"], "fake-bsp");
    assert_eq!(
        record["inputs"]["hypervisor"]["flat_size"].as_u64(),
        Some(0x3000)
    );
    assert_eq!(record["modules"][0]["source"], "guest:fake-guest");
    assert_eq!(record["modules"][1]["source"], "file:modules/rd.cpio");
    assert_eq!(record["output"]["sha256"].as_str(), Some(hex.as_str()));
    let mut all = Vec::new();
    strings(&record, &mut all);
    let root_str = root.to_string_lossy();
    for s in &all {
        assert!(
            !s.starts_with('/') && !s.contains(root_str.as_ref()),
            "absolute path {s:?}"
        );
    }

    // Building again in the same tree gives the same bytes.
    let o = build(root, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&img_path).unwrap(), img);
}

fn image_format_hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn out_dir_and_target_dir_options() {
    let fx = fixture();
    let root = fx.path();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = elsewhere.path().join("images/x");
    let target = elsewhere.path().join("tgt");
    let o = build(
        root,
        &[
            "--out",
            out.to_str().unwrap(),
            "--target-dir",
            target.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("boot.img").is_file());
    assert!(target
        .join("aarch64-unknown-none-softfloat/firmware/fake-bsp")
        .is_file());
    assert!(!root.join("out").exists() && !root.join("target").exists());
}

/// Break the fixture with `edit`, build, and check the error and that the
/// output directory holds no files.
fn assert_build_fails(rel: &str, from: &str, to: &str, needles: &[&str]) {
    let fx = fixture();
    let root = fx.path();
    edit(root, rel, from, to);
    let out = root.join("out-test");
    let o = build(root, &["--out", out.to_str().unwrap()]);
    // The tree builds but what it builds is wrong: a failed build, exit 1.
    assert_fails_with_code(&o, 1, needles);
    assert_eq!(files_under(&out), Vec::<std::path::PathBuf>::new());
    assert!(!out.exists(), "the output directory is not even created");
}

#[test]
fn compile_error_shows_cargo_output() {
    assert_build_fails(
        "bsp/src/main.rs",
        "#[panic_handler]",
        "fn broken() -> u32 { \"not a number\" }\n#[panic_handler]",
        &[
            "building the hypervisor",
            "cargo build of package 'fake-bsp'",
            "mismatched types",
        ],
    );
}

#[test]
fn hypervisor_at_the_wrong_address() {
    assert_build_fails(
        "bsp/link.x",
        ". = 0x40200000;",
        ". = 0x40000000;",
        &[
            "lowest load address is 0x40000000",
            "loads the image at 0x40200000",
        ],
    );
}

#[test]
fn hypervisor_without_end_symbol() {
    assert_build_fails(
        "bsp/link.x",
        "__hyp_end = .;",
        "",
        &[
            "hypervisor ELF",
            "fake-bsp",
            "symbol '__hyp_end' is missing",
        ],
    );
}

#[test]
fn hypervisor_with_misaligned_end_symbol() {
    assert_build_fails(
        "bsp/link.x",
        "__hyp_end = .;",
        "__hyp_end = . + 8;",
        &["symbol '__hyp_end'", "not 4 KiB aligned"],
    );
}

#[test]
fn hypervisor_without_image_header() {
    assert_build_fails(
        "bsp/src/main.rs",
        "\".word 0x644d5241\",",
        "\".word 0x12345678\",",
        &["fake-bsp", "no Linux arm64 Image header"],
    );
}

#[test]
fn guest_kernel_without_image_header() {
    assert_build_fails(
        "tests/guests/fake-guest/src/main.rs",
        "\".word 0x644d5241\",",
        "\".word 0x12345678\",",
        &[
            "domain 'dom0': kernel guest:fake-guest",
            "expected a Linux arm64 Image",
        ],
    );
}

#[test]
fn failed_build_keeps_previous_outputs() {
    let fx = fixture();
    let root = fx.path();
    let o = build(root, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out_dir = root.join("out/fake/guest");
    let before: Vec<_> = ["boot.img", "boot.img.sha256", "build.json"]
        .iter()
        .map(|n| std::fs::read(out_dir.join(n)).unwrap())
        .collect();
    std::fs::write(root.join("modules/d.dtb"), b"not a dtb").unwrap();
    let o = build(root, &[]);
    assert_fails_with(&o, &["domain 'dom0': device-tree", "d.dtb"]);
    let after: Vec<_> = ["boot.img", "boot.img.sha256", "build.json"]
        .iter()
        .map(|n| std::fs::read(out_dir.join(n)).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(files_under(&out_dir).len(), 3, "no temporary files left");
}
