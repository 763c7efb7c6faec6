//! The split layout from a real assembled image.

use image_format::{domain_flags, DomainSpec, ModuleKind};

use super::*;
use crate::assemble::{assemble, Module};
use crate::manifest::ImageFormat;
use image_format::arm64_image::MAGIC_BYTES as ARM64_MAGIC;

fn image() -> (Vec<u8>, u64) {
    let mut hyp = vec![0x11u8; 0x2000];
    hyp[16..24].fill(0);
    hyp[56..60].copy_from_slice(&ARM64_MAGIC);
    let domain = |id, name: &str, flags| DomainSpec {
        id,
        flags,
        vcpus: 1,
        memory_bytes: 64 << 20,
        pcpus: 0,
        name: name.into(),
    };
    let module = |kind, domain, bytes: Vec<u8>, cmdline: &str| Module {
        kind,
        domain,
        cmdline: cmdline.into(),
        bytes,
    };
    let kernel = vec![0x22u8; 5000];
    let a = assemble(
        &hyp,
        &[
            domain(1, "linux-domu", 0),
            domain(0, "dom0", domain_flags::HARDWARE),
        ],
        &[
            module(ModuleKind::Kernel, 1, kernel.clone(), "console=ttyAMA0"),
            module(ModuleKind::Ramdisk, 1, vec![3; 300], ""),
            module(ModuleKind::Kernel, 0, kernel, "console=hvc0 quiet"),
            module(ModuleKind::Ramdisk, 0, vec![4; 200], ""),
        ],
        ImageFormat::LinuxArm64Image,
        None,
    )
    .unwrap();
    (a.bytes, a.table_offset)
}

#[test]
fn cuts_the_image_after_its_table_and_shares_equal_modules() {
    let (img, at) = image();
    let s = split(&img, at, 0x4020_0000, 1_700_000_000).unwrap();
    let names: Vec<&str> = s.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "halyard.bin",
            "01-dom0-kernel.bin",
            "02-dom0-ramdisk.bin",
            "03-linux-domu-ramdisk.bin",
            "boot.cmd",
            "boot.scr",
            "layout.json"
        ]
    );
    let t = ModuleTable::parse(&img[at as usize..]).unwrap();
    let head = t.header.reserved_end().unwrap() as usize;
    assert_eq!(s.files[0].1, img[..head]);
    let m = &s.layout.modules;
    assert_eq!(m[0].domains, ["dom0", "linux-domu"]);
    assert!(m[0].hardware && m[1].hardware && !m[2].hardware);
    assert_eq!(m[0].bootargs, "console=hvc0 quiet");
    // Above RAM base + 160 MiB, 2 MiB apart.
    assert_eq!(m[0].loaded.addr, "0x4a000000");
    assert_eq!(m[1].loaded.addr, "0x4a200000");
    assert_eq!(s.files[1].1, vec![0x22u8; 5000]);
    let back: SplitLayout = serde_json::from_slice(&s.files[6].1).unwrap();
    assert_eq!(back, s.layout);
}

#[test]
fn the_boot_script_loads_everything_and_describes_it_the_xen_way() {
    let (img, at) = image();
    let s = split(&img, at, 0x4020_0000, 0).unwrap();
    let cmd = String::from_utf8(s.files[4].1.clone()).unwrap();
    for line in [
        "load ${devtype} ${devnum}:${distro_bootpart} 0x40200000 halyard.bin || setenv halyard_ok 0",
        "fdt set /chosen/module@4a000000 compatible \"multiboot,module\" || setenv halyard_ok 0",
        "fdt set /chosen/module@4a000000 reg <0x0 0x4a000000 0x0 0x1388> || setenv halyard_ok 0",
        "fdt set /chosen/module@4a000000 bootargs \"console=hvc0 quiet\" || setenv halyard_ok 0",
        "fdt set /chosen/linux-domu compatible \"xen,domain\" || setenv halyard_ok 0",
        "fdt set /chosen/linux-domu/module@4a400000 compatible \"multiboot,ramdisk\" \"multiboot,module\" || setenv halyard_ok 0",
        "if test \"${halyard_ok}\" = 1; then booti 0x40200000 - ${fdt_addr}; fi",
    ] {
        assert!(cmd.lines().any(|l| l == line), "no line {line:?} in\n{cmd}");
    }
    // mknode prepends: the domain node first, then dom0's ramdisk, its
    // kernel last, so that the tree reads kernel, ramdisk, domain.
    let made: Vec<&str> = cmd
        .lines()
        .filter_map(|l| l.strip_prefix("fdt mknode "))
        .collect();
    assert_eq!(
        made,
        [
            "/chosen linux-domu || setenv halyard_ok 0",
            "/chosen/linux-domu module@4a400000 || setenv halyard_ok 0",
            "/chosen module@4a200000 || setenv halyard_ok 0",
            "/chosen module@4a000000 || setenv halyard_ok 0",
        ]
    );
}

#[test]
fn boot_scr_is_a_legacy_script_image() {
    let img = crate::uboot::script_image("echo hi\n", 0x1234).unwrap();
    assert_eq!(img[0..4], [0x27, 0x05, 0x19, 0x56]);
    assert_eq!(u32::from_be_bytes(img[8..12].try_into().unwrap()), 0x1234);
    assert_eq!(u32::from_be_bytes(img[12..16].try_into().unwrap()), 16);
    assert_eq!((img[29], img[30]), (22, 6), "arm64, script");
    assert_eq!(&img[64..72], &[0, 0, 0, 8, 0, 0, 0, 0]);
    assert_eq!(&img[72..], b"echo hi\n");
    // The header CRC is over the header with its CRC field zeroed.
    let mut h = img[..64].to_vec();
    let want = u32::from_be_bytes(h[4..8].try_into().unwrap());
    h[4..8].fill(0);
    let mut c = flate2::Crc::new();
    c.update(&h);
    assert_eq!(c.sum(), want);
}

#[test]
fn a_command_line_the_script_cannot_quote_is_refused() {
    let (img, at) = image();
    let mut s = split(&img, at, 0x4020_0000, 0).unwrap().layout;
    s.modules[0].bootargs = "a=\"b\"".into();
    let e = crate::uboot::boot_script(&s).unwrap_err();
    assert!(e.to_string().contains("cannot quote"), "{e}");
}
