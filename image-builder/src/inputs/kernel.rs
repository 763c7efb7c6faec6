//! Kernels as distributions ship them, and whether a domain can hold its
//! boot payload. Debian's arm64 `vmlinuz` is a gzip-compressed `Image`; the
//! hypervisor loads a raw `Image`, so the builder decompresses (any source:
//! package or file) and then checks the header. The memory check turns "the
//! ramdisk overwrote the kernel" into a build error.

use std::io::Read;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::digest::sha256_hex;
use crate::manifest::Arch;
use crate::sniff::is_arm64_image;

/// Largest kernel the builder will decompress (a runaway stream is an error).
pub const MAX_KERNEL: u64 = 512 << 20;

/// The last 2 MiB of a domain's RAM hold its device tree (see docs/DESIGN.md).
pub const DTB_AREA: u64 = 2 << 20;

/// What a compressed module was before the builder decompressed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decompressed {
    pub format: String,
    pub size: u64,
    pub sha256: String,
}

/// A kernel, decompressed if it came gzip-compressed.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub bytes: Vec<u8>,
    pub decompressed_from: Option<Decompressed>,
}

/// Decompress a gzip'd kernel (magic 1f 8b); other bytes pass unchanged.
/// For aarch64 the result must be a Linux arm64 `Image`.
pub fn prepare(arch: Arch, bytes: Vec<u8>) -> Result<Kernel> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Kernel {
            bytes,
            decompressed_from: None,
        });
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .take(MAX_KERNEL + 1)
        .read_to_end(&mut out)
        .map_err(|e| anyhow::anyhow!("gzip-compressed kernel does not decompress: {e}"))?;
    if out.len() as u64 > MAX_KERNEL {
        bail!(
            "gzip-compressed kernel decompresses to more than {} MiB",
            MAX_KERNEL >> 20
        );
    }
    if arch == Arch::Aarch64 && !is_arm64_image(&out) {
        bail!(
            "gzip-compressed kernel decompresses to {}, not a Linux arm64 Image (magic ARM\\x64 at offset 56)",
            crate::sniff::describe(&out)
        );
    }
    Ok(Kernel {
        bytes: out,
        decompressed_from: Some(Decompressed {
            format: "gzip".into(),
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        }),
    })
}

/// Bytes of RAM, from the start of the domain's RAM, that an arm64 `Image`
/// occupies once running: `text_offset + image_size` from its header (an
/// `image_size` of 0, from kernels before 3.17, means "unknown": the file
/// size is used).
pub fn arm64_footprint(image: &[u8]) -> Option<u64> {
    // Read as the hypervisor reads it (the shared header definition).
    let h = image_format::arm64_image::parse(image).ok()?;
    h.text_offset.checked_add(h.image_size)
}

/// A domain's kernel, ramdisk and device-tree area must fit in its memory:
/// `text_offset + image_size + ramdisk + 2 MiB <= memory_mib`. For a
/// direct-mapped domain `memory_mib` is the least it gets, so the check
/// still holds; 0 there means "whatever the board has" and is not checked.
pub fn check_fits(
    domain: &str,
    memory_mib: u64,
    kernel: &[u8],
    ramdisk: Option<usize>,
) -> Result<()> {
    if memory_mib == 0 {
        return Ok(());
    }
    let Some(kernel_end) = arm64_footprint(kernel) else {
        return Ok(());
    };
    let memory = memory_mib.saturating_mul(1 << 20);
    let ramdisk = ramdisk.unwrap_or(0) as u64;
    let need = kernel_end.saturating_add(ramdisk).saturating_add(DTB_AREA);
    if need > memory {
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        bail!(
            "domain '{domain}': kernel ({:.1} MiB incl. text_offset and image_size) + ramdisk ({:.1} MiB) \
             + device tree area (2 MiB) = {:.1} MiB does not fit in memory_mib {memory_mib}; \
             raise memory_mib to at least {} or shrink the ramdisk",
            mib(kernel_end),
            mib(ramdisk),
            mib(need),
            need.div_ceil(1 << 20)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn image(text_offset: u64, image_size: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        v[8..16].copy_from_slice(&text_offset.to_le_bytes());
        v[16..24].copy_from_slice(&image_size.to_le_bytes());
        v[56..60].copy_from_slice(b"ARM\x64");
        v
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_kernels_are_decompressed_and_checked() {
        let raw = image(0, 0x20_0000, 4096);
        let gz = gzip(&raw);
        let k = prepare(Arch::Aarch64, gz.clone()).unwrap();
        assert_eq!(k.bytes, raw);
        let d = k.decompressed_from.unwrap();
        assert_eq!((d.format.as_str(), d.size), ("gzip", gz.len() as u64));
        assert_eq!(d.sha256, sha256_hex(&gz));
        // Raw kernels pass through untouched.
        let k = prepare(Arch::Aarch64, raw.clone()).unwrap();
        assert_eq!((k.bytes, k.decompressed_from), (raw, None));
    }

    #[test]
    fn gzip_of_something_else_is_named() {
        let e = prepare(Arch::Aarch64, gzip(b"\x7fELF\x02\x01\x01 not an Image")).unwrap_err();
        assert!(
            e.to_string()
                .contains("decompresses to an ELF file, not a Linux arm64 Image"),
            "{e}"
        );
        let mut truncated = gzip(&image(0, 0, 100_000));
        truncated.truncate(30);
        let e = prepare(Arch::Aarch64, truncated).unwrap_err();
        assert!(e.to_string().contains("does not decompress"), "{e}");
    }

    #[test]
    fn footprint_reads_the_header() {
        assert_eq!(
            arm64_footprint(&image(0x8_0000, 0x100_0000, 64)),
            Some(0x108_0000)
        );
        // image_size 0 (before Linux 3.17): the file's length at the
        // legacy text_offset 0x80000, as the hypervisor places it.
        assert_eq!(arm64_footprint(&image(0, 0, 4096)), Some(0x8_0000 + 4096));
        assert_eq!(arm64_footprint(b"not an image"), None);
    }

    #[test]
    fn fit_check() {
        let k = image(0, 30 << 20, 64);
        check_fits("dom0", 512, &k, Some(100 << 20)).unwrap();
        // Exactly full fits; one byte more does not.
        check_fits("dom0", 64, &k, Some(32 << 20)).unwrap();
        let e = check_fits("dom0", 64, &k, Some((32 << 20) + 1))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("domain 'dom0': kernel (30.0 MiB")
                && e.contains("does not fit in memory_mib 64")
                && e.contains("at least 65"),
            "{e}"
        );
        // No ramdisk, kernel alone too large.
        assert!(check_fits("d", 16, &image(0, 15 << 20, 64), None).is_err());
        // Unknown size (direct map, memory_mib 0) and non-Image kernels are not checked.
        check_fits("d", 0, &k, Some(1 << 40)).unwrap();
        check_fits("d", 1, b"\x7fELF", Some(1 << 30)).unwrap();
    }
}
