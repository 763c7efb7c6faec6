//! Bad input to the real binary, against the real workspace: each run must
//! fail with exit code 2 (bad input), a clear `image-builder: error:` line, and leave
//! no files in the output directory. All of these fail before anything is
//! compiled.

mod common;

use std::path::Path;

use common::*;

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn write(&self, name: &str, contents: &[u8]) -> String {
        std::fs::write(self.dir.path().join(name), contents).unwrap();
        self.path(name)
    }

    /// Run a build for qemu-virt (plus `extra` arguments) into `out/`.
    fn build(&self, extra: &[&str]) -> std::process::Output {
        let root = repo_root();
        let (out, target) = (self.path("out"), self.path("target"));
        let mut args = vec![
            "--workspace",
            root.to_str().unwrap(),
            "--out",
            &out,
            "--target-dir",
            &target,
        ];
        args.extend_from_slice(extra);
        if !extra.contains(&"--board") {
            args.extend_from_slice(&["--board", "qemu-virt"]);
        }
        run(&args)
    }

    fn assert_no_output(&self) {
        let out = self.dir.path().join("out");
        assert_eq!(files_under(&out), Vec::<std::path::PathBuf>::new());
        assert!(
            !Path::new(&self.path("target")).exists(),
            "nothing was compiled"
        );
    }

    /// An image manifest for qemu-virt whose single domain has `kernel_yaml` as kernel.
    fn image_with_kernel(&self, kernel_yaml: &str) -> String {
        self.write(
            "image.yaml",
            format!(
                "image: t\nboards: [qemu-virt]\ndomains:\n  - name: dom0\n    id: 0\n    vcpus: 1\n    memory_mib: 16\n    kernel: {kernel_yaml}\n"
            )
            .as_bytes(),
        )
    }
}

#[test]
fn unknown_board_lists_known_boards() {
    let c = Case::new();
    let o = c.build(&["--board", "rpi9"]);
    assert_fails_with(
        &o,
        &[
            "unknown board 'rpi9'",
            "known boards: imx8mp-evk, qemu-virt, qemu-virt-gicv2, rpi4)",
        ],
    );
    c.assert_no_output();
}

#[test]
fn missing_image_manifest() {
    let c = Case::new();
    let missing = c.path("nope.yaml");
    let o = c.build(&["--image", &missing]);
    assert_fails_with(&o, &["cannot read manifest", &missing]);
    c.assert_no_output();
}

#[test]
fn malformed_manifest_names_field_and_line() {
    let c = Case::new();
    let image = c.write(
        "bad.yaml",
        b"image: t\nboards: [qemu-virt]\ndomains:\n  - name: dom0\n    id: 0\n    vcpus: two\n    memory_mib: 16\n    kernel: {guest: aarch64-selftest}\n",
    );
    let o = c.build(&["--image", &image]);
    assert_fails_with(&o, &["malformed manifest", "bad.yaml", "vcpus", "line 6"]);
    c.assert_no_output();
}

#[test]
fn unknown_manifest_field_is_named() {
    let c = Case::new();
    let image = c.write(
        "bad.yaml",
        b"image: t\nboards: [qemu-virt]\ndomains:\n  - name: dom0\n    id: 0\n    vcpus: 1\n    memory_mib: 16\n    kernel: {guest: aarch64-selftest}\n    initrd: {file: x}\n",
    );
    let o = c.build(&["--image", &image]);
    assert_fails_with(&o, &["bad.yaml", "initrd", "line 9"]);
    c.assert_no_output();
}

#[test]
fn missing_module_file_names_domain_kind_and_path() {
    let c = Case::new();
    let missing = c.path("Image");
    let image = c.image_with_kernel(&format!("{{file: {missing}}}"));
    let o = c.build(&["--image", &image]);
    assert_fails_with(&o, &["domain 'dom0': kernel: cannot read file", &missing]);
    c.assert_no_output();
}

#[test]
fn missing_guest_crate_is_named() {
    let c = Case::new();
    let image = c.image_with_kernel("{guest: no-such-guest}");
    let o = c.build(&["--image", &image]);
    assert_fails_with(
        &o,
        &[
            "domain 'dom0': kernel: guest 'no-such-guest'",
            "tests/guests/no-such-guest",
        ],
    );
    c.assert_no_output();
}

#[test]
fn kernel_that_is_not_an_image() {
    let c = Case::new();
    let text = c.write("notes.txt", b"this is not a kernel\n");
    let image = c.image_with_kernel(&format!("{{file: {text}}}"));
    let o = c.build(&["--image", &image]);
    assert_fails_with(
        &o,
        &[
            "domain 'dom0': kernel",
            &text,
            "expected a Linux arm64 Image",
            "found text starting with \"this is not a ke\"",
        ],
    );
    c.assert_no_output();
}

#[test]
fn truncated_gzip_kernel() {
    let c = Case::new();
    let gz = c.write("vmlinuz", &[0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0]);
    let image = c.image_with_kernel(&format!("{{file: {gz}}}"));
    let o = c.build(&["--image", &image]);
    assert_fails_with(
        &o,
        &[
            "domain 'dom0': kernel",
            &gz,
            "gzip-compressed kernel does not decompress",
        ],
    );
    c.assert_no_output();
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_kernel_that_is_not_an_arm64_image() {
    let c = Case::new();
    let gz = c.write("vmlinuz", &gzip(b"#!/bin/sh\necho not a kernel\n"));
    let image = c.image_with_kernel(&format!("{{file: {gz}}}"));
    let o = c.build(&["--image", &image]);
    assert_fails_with(
        &o,
        &[
            "domain 'dom0': kernel",
            &gz,
            "decompresses to text starting with \"#!/bin/sh echo n\"",
            "not a Linux arm64 Image",
        ],
    );
    c.assert_no_output();
}

#[test]
fn kernel_and_ramdisk_too_large_for_memory() {
    let c = Case::new();
    // An arm64 Image header claiming 12 MiB (image_size), gzip'd as Debian ships it.
    let mut kernel = vec![0u8; 4096];
    kernel[16..24].copy_from_slice(&(12u64 << 20).to_le_bytes());
    kernel[56..60].copy_from_slice(b"ARM\x64");
    let k = c.write("vmlinuz", &gzip(&kernel));
    let mut rd = b"070701".to_vec();
    rd.resize(3 << 20, 0);
    let rd = c.write("initrd.cpio", &rd);
    let image = c.write(
        "image.yaml",
        format!("image: t\nboards: [qemu-virt]\ndomains:\n  - {{name: dom0, id: 0, vcpus: 1, direct_map: true, memory_mib: 16, kernel: {{file: {k}}}, ramdisk: {{file: {rd}}}}}\n").as_bytes(),
    );
    let o = c.build(&["--image", &image]);
    assert_fails_with(
        &o,
        &[
            "domain 'dom0': kernel (12.0 MiB",
            "ramdisk (3.0 MiB)",
            "= 17.0 MiB does not fit in memory_mib 16",
        ],
    );
    c.assert_no_output();
}

#[test]
fn debian_packages_without_a_lock_file() {
    let c = Case::new();
    let init = c.write("init", b"#!/bin/sh\n");
    let image = c.write(
        "linux.yaml",
        format!(
            "image: linux\nboards: [qemu-virt]\ndomains:\n  - name: dom0\n    id: 0\n    vcpus: 1\n    memory_mib: 64\n    \
             kernel: {{debian: {{package: linux-image-arm64, arch: arm64, resolve: depends, path: boot/vmlinuz-*}}}}\n    \
             ramdisk: {{initramfs: {{busybox: {{package: busybox-static, arch: arm64}}, applets: [sh], init: {init}}}}}\n"
        )
        .as_bytes(),
    );
    let o = c.build(&["--image", &image]);
    assert_fails_with(
        &o,
        &[
            "image 'linux' uses Debian packages (busybox-static:arm64, linux-image-arm64:arm64 (resolve: depends))",
            &format!("no lock file {}", c.path("linux.lock.yaml")),
            &format!("`image-builder --board qemu-virt --image {image} --update-lock`"),
        ],
    );
    assert!(
        !Path::new(&c.path("linux.lock.yaml")).exists(),
        "a build does not create the lock"
    );
    c.assert_no_output();
}

#[test]
fn ramdisk_of_the_wrong_kind() {
    let c = Case::new();
    let mut kernel = vec![0u8; 64];
    kernel[56..60].copy_from_slice(b"ARM\x64");
    let k = c.write("Image", &kernel);
    let dtb = c.write("board.dtb", &[0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 0x28]);
    let image = c.write(
        "image.yaml",
        format!("image: t\nboards: [qemu-virt]\ndomains:\n  - {{name: dom0, id: 0, vcpus: 1, memory_mib: 16, kernel: {{file: {k}}}, ramdisk: {{file: {dtb}}}}}\n").as_bytes(),
    );
    let o = c.build(&["--image", &image]);
    assert_fails_with(
        &o,
        &[
            "domain 'dom0': ramdisk",
            &dtb,
            "expected a cpio",
            "found a flattened device tree",
        ],
    );
    c.assert_no_output();
}

#[test]
fn image_for_another_board() {
    let c = Case::new();
    let image = c.write(
        "other.yaml",
        b"image: t\nboards: [rpi5]\ndomains:\n  - {name: a, id: 0, vcpus: 1, memory_mib: 16, kernel: {guest: aarch64-selftest}}\n",
    );
    let o = c.build(&["--image", &image]);
    assert_fails_with(&o, &["not for board 'qemu-virt'"]);
    c.assert_no_output();
}

#[test]
fn not_a_workspace() {
    let c = Case::new();
    let o = run(&[
        "--board",
        "qemu-virt",
        "--workspace",
        &c.path(""),
        "--out",
        &c.path("out"),
    ]);
    assert_fails_with(&o, &["is not a Halyard tree"]);
    c.assert_no_output();
}

#[test]
fn verify_of_a_file_that_is_not_an_image_names_it() {
    let c = Case::new();
    let f = c.write("passwd", b"root:x:0:0:root:/root:/bin/sh\n");
    let o = run(&["verify", &f]);
    assert_fails_with(
        &o,
        &[&format!(
            "{f} is not a Halyard boot image: no arm64 Image header"
        )],
    );
    let o = run(&["verify", &c.path("missing.img")]);
    assert_fails_with(&o, &["cannot read", "missing.img"]);
}

#[test]
fn version_and_usage_errors() {
    let o = run(&["--version"]);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        concat!("image-builder ", env!("CARGO_PKG_VERSION"))
    );
    // clap's usage errors use the same code as bad input.
    assert_eq!(run(&["--no-such-flag"]).status.code(), Some(2));
    let help = String::from_utf8_lossy(&run(&["--help"]).stdout).into_owned();
    assert!(help.contains("Exit status: 0 done; 1 a build"), "{help}");
}

#[test]
fn a_plan_that_overcommits_cpus_or_memory_names_both_domains() {
    let c = Case::new();
    let k = c.write("k", b"x");
    let domain = |name: &str, id: u16, mib: u64, cpus: &str| {
        format!("  - {{name: {name}, id: {id}, vcpus: 1, memory_mib: {mib}, kernel: {{file: {k}}}, cpus: {cpus}}}\n")
    };
    let cpus = c.write(
        "cpus.yaml",
        format!(
            "image: t\nboards: [qemu-virt]\ndomains:\n{}{}",
            domain("web", 1, 64, "[1]"),
            domain("db", 2, 64, "[1]")
        )
        .as_bytes(),
    );
    assert_fails_with(
        &c.build(&["--image", &cpus]),
        &["domains 'web' and 'db' both pin physical CPU 1"],
    );
    c.assert_no_output();
    let memory = c.write(
        "memory.yaml",
        format!(
            "image: t\nboards: [qemu-virt]\ndomains:\n{}{}",
            domain("web", 1, 700, "[1]"),
            domain("db", 2, 400, "[2]")
        )
        .as_bytes(),
    );
    assert_fails_with(
        &c.build(&["--image", &memory]),
        &["'web' 700 MiB, 'db' 400 MiB", "> 1024 MiB of RAM"],
    );
    c.assert_no_output();
}

#[test]
fn a_device_given_twice_or_the_hypervisors_is_refused_by_name() {
    let c = Case::new();
    let k = c.write("k", b"x");
    let domain = |name: &str, id: u16, path: &str, base: &str| {
        format!("  - {{name: {name}, id: {id}, vcpus: 1, memory_mib: 64, kernel: {{file: {k}}}, devices: [{{path: {path}, mmio: [[{base}, 0x1000]], force_assign_without_iommu: true}}]}}\n")
    };
    let twice = c.write(
        "twice.yaml",
        format!(
            "image: t\nboards: [qemu-virt]\ndomains:\n{}{}",
            domain("web", 1, "/pl031@9010000", "0x09010000"),
            domain("db", 2, "/pl031@9010000", "0x09010000")
        )
        .as_bytes(),
    );
    assert_fails_with(
        &c.build(&["--image", &twice]),
        &["domains 'web' and 'db' are both given the same device"],
    );
    c.assert_no_output();
    let uart = c.write(
        "uart.yaml",
        format!(
            "image: t\nboards: [qemu-virt]\ndomains:\n{}",
            domain("web", 1, "/pl011@9000000", "0x09000000")
        )
        .as_bytes(),
    );
    assert_fails_with(
        &c.build(&["--image", &uart]),
        &["device '/pl011@9000000': MMIO at 0x9000000 belongs to the hypervisor's own 'console-uart'"],
    );
    c.assert_no_output();
}

// ---- hostile files: one test per error class (truncated, oversized, random
// bytes) for manifests, lock files and images; the fuzz targets
// builder-manifest, builder-lock and builder-verify cover the rest.

/// Deterministic noise (xorshift), so a failure reproduces.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn in_tree(rel: &str) -> Vec<u8> {
    std::fs::read(repo_root().join(rel)).unwrap()
}

#[test]
fn truncated_manifest_is_named() {
    let c = Case::new();
    let whole = in_tree("manifests/images/dom0-and-selftest.yaml");
    let cut = c.write("cut.yaml", &whole[..whole.len() * 2 / 3]);
    let o = c.build(&["--image", &cut]);
    assert_fails_with(&o, &[&cut]);
    c.assert_no_output();
}

#[test]
fn random_bytes_as_manifest_are_not_text() {
    let c = Case::new();
    let f = c.write("noise.yaml", &noise(4096));
    let o = c.build(&["--image", &f]);
    assert_fails_with(&o, &["manifest", &f, "is not UTF-8 text"]);
    c.assert_no_output();
}

#[test]
fn oversized_manifest_is_refused_unread() {
    let c = Case::new();
    let mut big = in_tree("manifests/images/selftest.yaml");
    big.extend(std::iter::repeat_n(b"# padding\n".as_slice(), 200_000).flatten());
    let f = c.write("big.yaml", &big);
    let o = c.build(&["--image", &f]);
    assert_fails_with(
        &o,
        &[&f, "2000", "bytes, more than the 1048576 a manifest may be"],
    );
    c.assert_no_output();
}

/// linux-dom0.yaml beside a lock file with `lock` as its contents.
fn with_lock(c: &Case, lock: &[u8]) -> (String, String) {
    let image = c.write("linux.yaml", &in_tree("manifests/images/linux-dom0.yaml"));
    let lock = c.write("linux.lock.yaml", lock);
    (image, lock)
}

#[test]
fn truncated_lock_file_is_named() {
    let c = Case::new();
    let whole = in_tree("manifests/images/linux-dom0.lock.yaml");
    let (image, lock) = with_lock(&c, &whole[..whole.len() / 2]);
    let o = c.build(&["--image", &image]);
    assert_fails_with(&o, &[&lock]);
    c.assert_no_output();
}

#[test]
fn random_or_oversized_lock_file_is_refused() {
    let c = Case::new();
    let (image, lock) = with_lock(&c, &noise(2048));
    let o = c.build(&["--image", &image]);
    assert_fails_with(&o, &["lock file", &lock, "not UTF-8 text"]);
    let (image, lock) = with_lock(&c, &vec![b'#'; 2 << 20]);
    let o = c.build(&["--image", &image]);
    assert_fails_with(&o, &[&lock, "more than the 1048576 a lock file may be"]);
    c.assert_no_output();
}

#[test]
fn truncated_or_random_image_fails_verify_clearly() {
    let c = Case::new();
    // An arm64 Image header whose recorded table lies past the file's end.
    let mut head = vec![0u8; 64];
    head[56..60].copy_from_slice(b"ARMd");
    head[48..56].copy_from_slice(&4096u64.to_le_bytes());
    let cut = c.write("cut.img", &head);
    let o = run(&["verify", &cut]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("verdict: FAILED") || stderr(&o).contains(&cut),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let noise_img = c.write("noise.img", &noise(65536));
    let o = run(&["verify", &noise_img]);
    assert_fails_with(&o, &[&noise_img, "is not a Halyard boot image"]);
}
