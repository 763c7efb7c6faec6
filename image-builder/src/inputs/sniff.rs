//! Content checks ("sniffing"): a module must be what its manifest kind says,
//! and the hypervisor must carry the header its board's loader expects. A
//! wrong file caught here is a clear build error instead of a silent boot hang.

use image_format::ModuleKind;

use crate::manifest::Arch;

// The arm64 `Image` header has one definition, in image-format.
pub use image_format::arm64_image::{
    is_arm64_image, IMAGE_SIZE_OFFSET as ARM64_IMAGE_SIZE_OFFSET,
    MAGIC_OFFSET as ARM64_MAGIC_OFFSET, TABLE_OFFSET_OFFSET as ARM64_TABLE_OFFSET_OFFSET,
};

const GZIP: &[u8] = &[0x1f, 0x8b];
const XZ: &[u8] = &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const LZ4: &[u8] = &[0x02, 0x21, 0x4c, 0x18];
const BZIP2: &[u8] = b"BZh";
const FDT: &[u8] = &[0xd0, 0x0d, 0xfe, 0xed];
const ELF: &[u8] = &[0x7f, b'E', b'L', b'F'];

/// A short human description of what `bytes` look like, for error messages.
pub fn describe(bytes: &[u8]) -> String {
    let known: &[(&[u8], &str)] = &[
        (ELF, "an ELF file"),
        (GZIP, "gzip-compressed data"),
        (XZ, "xz-compressed data"),
        (ZSTD, "zstd-compressed data"),
        (LZ4, "lz4-compressed data"),
        (BZIP2, "bzip2-compressed data"),
        (FDT, "a flattened device tree"),
        (b"070701", "a cpio (newc) archive"),
        (b"070702", "a cpio (newc, crc) archive"),
    ];
    if bytes.is_empty() {
        return "an empty file".into();
    }
    if is_arm64_image(bytes) {
        return "a Linux arm64 Image".into();
    }
    if let Some((_, name)) = known.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return (*name).into();
    }
    let head = &bytes[..bytes.len().min(16)];
    let printable = head
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    if printable {
        let text: String = String::from_utf8_lossy(head)
            .chars()
            .map(|c| if c.is_ascii_whitespace() { ' ' } else { c })
            .collect();
        format!(
            "text starting with {:?} ({} bytes)",
            text.trim_end(),
            bytes.len()
        )
    } else {
        let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "unknown data starting with {} ({} bytes)",
            hex.join(" "),
            bytes.len()
        )
    }
}

/// Check that `bytes` are a valid module of `kind` for a board of `arch`.
/// The error says what was expected and what was found; the caller adds
/// which domain and file it is about.
pub fn check_module(kind: ModuleKind, arch: Arch, bytes: &[u8]) -> Result<(), String> {
    let ok = match kind {
        ModuleKind::Kernel => return check_kernel(arch, bytes),
        ModuleKind::Ramdisk => [b"070701".as_slice(), b"070702", GZIP, XZ, ZSTD, LZ4, BZIP2]
            .iter()
            .any(|m| bytes.starts_with(m)),
        ModuleKind::DeviceTree => bytes.starts_with(FDT),
    };
    if ok {
        return Ok(());
    }
    let expected = match kind {
        ModuleKind::Ramdisk => {
            "a cpio newc archive (070701/070702), optionally gzip/xz/zstd/lz4/bzip2-compressed"
        }
        _ => "a flattened device tree blob (magic d0 0d fe ed)",
    };
    Err(format!("expected {expected}, found {}", describe(bytes)))
}

fn check_kernel(arch: Arch, bytes: &[u8]) -> Result<(), String> {
    match arch {
        Arch::Aarch64 => {
            // gzip'd kernels are decompressed before this check (`kernel::prepare`).
            if is_arm64_image(bytes) {
                Ok(())
            } else {
                Err(format!(
                    "expected a Linux arm64 Image (magic ARM\\x64 at offset {ARM64_MAGIC_OFFSET}), found {}",
                    describe(bytes)
                ))
            }
        }
        Arch::X86_64 => {
            // An ELF (multiboot2/PVH) or a bzImage ("HdrS" at 0x202).
            let bzimage = bytes.get(0x202..0x206) == Some(b"HdrS".as_slice());
            if bytes.starts_with(ELF) || bzimage {
                Ok(())
            } else {
                Err(format!(
                    "expected an x86_64 kernel (ELF or bzImage), found {}",
                    describe(bytes)
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm64_image(len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        v[56..60].copy_from_slice(&0x644d_5241u32.to_le_bytes());
        v
    }

    #[test]
    fn magic_constant_matches_le_u32() {
        assert_eq!(
            u32::from_le_bytes(image_format::arm64_image::MAGIC_BYTES),
            image_format::arm64_image::MAGIC
        );
    }

    #[test]
    fn arm64_kernel() {
        assert!(check_module(ModuleKind::Kernel, Arch::Aarch64, &arm64_image(64)).is_ok());
        assert!(check_module(ModuleKind::Kernel, Arch::Aarch64, &arm64_image(4096)).is_ok());
        // Magic in place but shorter than the header cannot happen: the magic
        // is at 56..60, so 63 bytes have it but no full header.
        let short = &arm64_image(64)[..63];
        let e = check_module(ModuleKind::Kernel, Arch::Aarch64, short).unwrap_err();
        assert!(e.contains("expected a Linux arm64 Image"), "{e}");
        let mut wrong = arm64_image(64);
        wrong[59] = 0x65;
        assert!(check_module(ModuleKind::Kernel, Arch::Aarch64, &wrong).is_err());
    }

    #[test]
    fn kernel_errors_say_what_was_found() {
        let e = check_module(
            ModuleKind::Kernel,
            Arch::Aarch64,
            b"hello world\nthis is text",
        )
        .unwrap_err();
        assert!(e.contains("text starting with \"hello world this\""), "{e}");
        let e =
            check_module(ModuleKind::Kernel, Arch::Aarch64, b"\x7fELF\x02\x01\x01").unwrap_err();
        assert!(e.contains("an ELF file"), "{e}");
        let e = check_module(ModuleKind::Kernel, Arch::Aarch64, &[]).unwrap_err();
        assert!(e.contains("an empty file"), "{e}");
        let e = check_module(ModuleKind::Kernel, Arch::Aarch64, &[0, 1, 2, 0xff]).unwrap_err();
        assert!(e.contains("00 01 02 ff (4 bytes)"), "{e}");
    }

    #[test]
    fn compressed_kernel_is_named() {
        // The builder decompresses gzip kernels before checking; what still
        // arrives compressed here is named.
        let e = check_module(ModuleKind::Kernel, Arch::Aarch64, &[0x1f, 0x8b, 8, 0]).unwrap_err();
        assert!(e.contains("found gzip-compressed data"), "{e}");
        // gzip is only special for kernels: a gzip ramdisk is fine.
        assert!(check_module(ModuleKind::Ramdisk, Arch::Aarch64, &[0x1f, 0x8b, 8, 0]).is_ok());
    }

    #[test]
    fn ramdisk_formats() {
        let good: &[&[u8]] = &[
            b"070701000000",
            b"070702000000",
            &[0x1f, 0x8b, 8],
            &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0],
            &[0x28, 0xb5, 0x2f, 0xfd, 0],
            &[0x02, 0x21, 0x4c, 0x18, 0],
            b"BZh91AY",
        ];
        for g in good {
            assert!(
                check_module(ModuleKind::Ramdisk, Arch::Aarch64, g).is_ok(),
                "{g:x?}"
            );
        }
        // Old binary cpio, a truncated xz magic, and text are rejected.
        let bad: &[&[u8]] = &[
            b"070707000000",
            &[0xfd, 0x37, 0x7a, 0x58, 0x5a],
            b"#!/bin/sh",
        ];
        for b in bad {
            let e = check_module(ModuleKind::Ramdisk, Arch::Aarch64, b).unwrap_err();
            assert!(e.contains("expected a cpio newc archive"), "{e}");
        }
    }

    #[test]
    fn device_tree() {
        assert!(check_module(
            ModuleKind::DeviceTree,
            Arch::Aarch64,
            &[0xd0, 0x0d, 0xfe, 0xed, 0]
        )
        .is_ok());
        let e = check_module(
            ModuleKind::DeviceTree,
            Arch::Aarch64,
            &[0xed, 0xfe, 0x0d, 0xd0],
        )
        .unwrap_err();
        assert!(e.contains("expected a flattened device tree"), "{e}");
        // A kernel given as a device tree is named as such.
        let e = check_module(ModuleKind::DeviceTree, Arch::Aarch64, &arm64_image(64)).unwrap_err();
        assert!(e.contains("found a Linux arm64 Image"), "{e}");
    }

    #[test]
    fn x86_kernel() {
        assert!(check_module(ModuleKind::Kernel, Arch::X86_64, b"\x7fELF\x02").is_ok());
        let mut bz = vec![0u8; 0x300];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        assert!(check_module(ModuleKind::Kernel, Arch::X86_64, &bz).is_ok());
        assert!(check_module(ModuleKind::Kernel, Arch::X86_64, &arm64_image(64)).is_err());
    }
}
