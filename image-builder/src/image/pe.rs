//! The PE/COFF (EFI application) view of an arm64 boot image: the
//! hypervisor's head (hypervisor/src/arch/aarch64/head.rs) is both a Linux
//! `Image` header and a PE32+ header with one section that starts at the
//! second page and runs to the end of the file. Once the module table and
//! modules are appended, the section and image sizes must grow with them,
//! so the firmware's loader loads (and Secure Boot hashes) everything.

use anyhow::{bail, ensure, Result};

/// Offset of the PE header's file offset (`e_lfanew`; `res5` of the Image header).
const LFANEW_OFFSET: usize = 0x3c;
const PE_MACHINE_ARM64: u16 = 0xaa64;
const PE32_PLUS: u16 = 0x20b;
const COFF_HEADER_SIZE: usize = 20;
const SECTION_HEADER_SIZE: usize = 40;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Whether the image starts with an MZ (PE/COFF) signature.
pub fn is_pe(image: &[u8]) -> bool {
    image.starts_with(b"MZ")
}

/// Where the fields image-builder patches sit, checked against the shape
/// the hypervisor's head writes.
#[derive(Debug, PartialEq, Eq)]
pub struct PeLayout {
    /// File offset of the optional header.
    pub optional: usize,
    /// File offset of the single section header.
    pub section: usize,
    /// File offset (= RVA) where the section starts.
    pub section_start: u32,
    pub section_alignment: u32,
}

/// Parse the head's PE header (arm64, PE32+, one section whose file offset
/// equals its RVA and the header size).
pub fn layout(image: &[u8]) -> Result<PeLayout> {
    ensure!(is_pe(image), "no MZ signature at offset 0");
    ensure!(image.len() >= 0x40, "image too short for a PE header");
    let pe = u32_at(image, LFANEW_OFFSET) as usize;
    let optional = pe + 4 + COFF_HEADER_SIZE;
    ensure!(
        optional + 112 <= image.len() && &image[pe..pe + 4] == b"PE\0\0",
        "no PE signature at the offset in 0x3c ({pe:#x})"
    );
    ensure!(
        u16_at(image, pe + 4) == PE_MACHINE_ARM64,
        "PE machine is not arm64"
    );
    let sections = u16_at(image, pe + 6);
    let optional_size = u16_at(image, pe + 20) as usize;
    ensure!(
        u16_at(image, optional) == PE32_PLUS,
        "PE optional header is not PE32+"
    );
    ensure!(
        sections == 1,
        "expected 1 PE section, found {sections} (see hypervisor/src/arch/aarch64/head.rs)"
    );
    let section = optional + optional_size;
    ensure!(
        section + SECTION_HEADER_SIZE <= image.len(),
        "PE section header beyond the image"
    );
    let section_alignment = u32_at(image, optional + 32);
    let size_of_headers = u32_at(image, optional + 60);
    let rva = u32_at(image, section + 12);
    let raw = u32_at(image, section + 20);
    if rva != raw || raw != size_of_headers || !section_alignment.is_power_of_two() {
        bail!("PE section must start at file offset = RVA = SizeOfHeaders (found RVA {rva:#x}, file offset {raw:#x}, headers {size_of_headers:#x})");
    }
    Ok(PeLayout {
        optional,
        section,
        section_start: rva,
        section_alignment,
    })
}

/// Grow the PE section and image over everything appended: SizeOfCode and
/// SizeOfRawData become the file bytes after the header page; VirtualSize
/// and SizeOfImage cover `mem_size` (the image once running, at least the
/// file), so the loader zero-fills and reserves an in-place kernel's BSS.
/// Images without an MZ signature are left alone.
pub fn patch_sizes(image: &mut [u8], mem_size: u64) -> Result<()> {
    if !is_pe(image) {
        return Ok(());
    }
    let l = layout(image)?;
    let too_big = || anyhow::anyhow!("image of {mem_size} bytes is too large for PE/COFF");
    let len = u32::try_from(image.len()).map_err(|_| too_big())?;
    let mem = u32::try_from(mem_size.max(u64::from(len))).map_err(|_| too_big())?;
    ensure!(len > l.section_start, "image ends inside the PE headers");
    let body = len - l.section_start;
    let a = l.section_alignment;
    let size_of_image = mem
        .checked_add(a - 1)
        .map(|v| v & !(a - 1))
        .ok_or_else(too_big)?;
    put_u32(image, l.optional + 4, body); // SizeOfCode
    put_u32(image, l.optional + 56, size_of_image); // SizeOfImage
    put_u32(image, l.section + 8, mem - l.section_start); // VirtualSize
    put_u32(image, l.section + 16, body); // SizeOfRawData
    Ok(())
}

/// The Authenticode certificate table a Secure Boot signer (sbsign)
/// appended: its file offset and size, from the optional header's data
/// directory 4. `None` for an unsigned or non-PE image, or a directory
/// entry that does not end the file (nothing else may follow it).
pub fn certificate_table(image: &[u8]) -> Option<(usize, usize)> {
    let l = layout(image).ok()?;
    let count_at = l.optional + 108;
    let entry = l.optional + 112 + 4 * 8;
    if entry + 8 > image.len() || u32_at(image, count_at) <= 4 {
        return None;
    }
    let (off, size) = (
        u32_at(image, entry) as usize,
        u32_at(image, entry + 4) as usize,
    );
    (off != 0 && size != 0 && off.checked_add(size) == Some(image.len())).then_some((off, size))
}

/// Set the PE ImageBase (the address the firmware's loader tries first).
/// Only tests use another address than the link address: it makes the
/// firmware load the image elsewhere, so the EFI entry's copy to the link
/// address runs.
pub fn set_image_base(image: &mut [u8], base: u64) -> Result<()> {
    let l = layout(image)?;
    image[l.optional + 24..l.optional + 32].copy_from_slice(&base.to_le_bytes());
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header page shaped like the hypervisor's head, for `len` bytes.
    pub(crate) fn pe_head(len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0..2].copy_from_slice(b"MZ");
        b[56..60].copy_from_slice(b"ARM\x64");
        put_u32(&mut b, LFANEW_OFFSET, 0x40);
        b[0x40..0x44].copy_from_slice(b"PE\0\0");
        b[0x44..0x46].copy_from_slice(&PE_MACHINE_ARM64.to_le_bytes());
        b[0x46..0x48].copy_from_slice(&1u16.to_le_bytes());
        b[0x54..0x56].copy_from_slice(&160u16.to_le_bytes());
        let opt = 0x58;
        b[opt..opt + 2].copy_from_slice(&PE32_PLUS.to_le_bytes());
        put_u32(&mut b, opt + 32, 0x1000);
        put_u32(&mut b, opt + 36, 0x200);
        put_u32(&mut b, opt + 60, 0x1000);
        let sec = opt + 160;
        b[sec..sec + 5].copy_from_slice(b".text");
        put_u32(&mut b, sec + 12, 0x1000);
        put_u32(&mut b, sec + 20, 0x1000);
        b
    }

    #[test]
    fn sizes_grow_to_the_whole_file() {
        let mut img = pe_head(0x3000);
        img.extend_from_slice(&[7u8; 0x123]);
        patch_sizes(&mut img, 0).unwrap();
        let l = layout(&img).unwrap();
        assert_eq!(
            (l.optional, l.section, l.section_start),
            (0x58, 0xf8, 0x1000)
        );
        let body = 0x2123;
        assert_eq!(u32_at(&img, l.optional + 4), body);
        assert_eq!(
            u32_at(&img, l.optional + 56),
            0x4000,
            "SizeOfImage: whole pages"
        );
        assert_eq!(u32_at(&img, l.section + 8), body);
        assert_eq!(u32_at(&img, l.section + 16), body);
    }

    #[test]
    fn certificate_table_must_end_the_file() {
        let mut img = pe_head(0x2000);
        put_u32(&mut img, 0x58 + 108, 16);
        assert_eq!(certificate_table(&img), None);
        img.extend_from_slice(&[0xc5; 0x30]);
        put_u32(&mut img, 0x58 + 144, 0x2000);
        put_u32(&mut img, 0x58 + 148, 0x30);
        assert_eq!(certificate_table(&img), Some((0x2000, 0x30)));
        img.push(0);
        assert_eq!(certificate_table(&img), None, "bytes after the table");
        assert_eq!(certificate_table(&vec![0u8; 0x2000]), None);
    }

    #[test]
    fn memory_size_can_exceed_the_file() {
        let mut img = pe_head(0x3000);
        patch_sizes(&mut img, 0x9800).unwrap();
        let l = layout(&img).unwrap();
        assert_eq!(u32_at(&img, l.section + 16), 0x2000, "raw data: the file");
        assert_eq!(
            u32_at(&img, l.section + 8),
            0x8800,
            "virtual: the footprint"
        );
        assert_eq!(u32_at(&img, l.optional + 56), 0xa000);
    }

    #[test]
    fn image_base_is_set() {
        let mut img = pe_head(0x2000);
        set_image_base(&mut img, 0x5000_0000).unwrap();
        assert_eq!(img[0x58 + 24..0x58 + 32], 0x5000_0000u64.to_le_bytes());
        assert!(set_image_base(&mut vec![0u8; 0x2000], 1).is_err());
    }

    #[test]
    fn non_pe_images_are_left_alone_and_odd_shapes_refused() {
        let mut plain = vec![0u8; 0x2000];
        patch_sizes(&mut plain, 0).unwrap();
        assert!(plain.iter().all(|&b| b == 0));

        let mut two = pe_head(0x2000);
        two[0x46] = 2;
        let e = patch_sizes(&mut two, 0).unwrap_err().to_string();
        assert!(e.contains("expected 1 PE section"), "{e}");

        let mut moved = pe_head(0x2000);
        put_u32(&mut moved, 0xf8 + 20, 0x400);
        let e = patch_sizes(&mut moved, 0).unwrap_err().to_string();
        assert!(e.contains("file offset = RVA"), "{e}");

        let mut x86 = pe_head(0x2000);
        x86[0x44] = 0x64;
        x86[0x45] = 0x86;
        assert!(patch_sizes(&mut x86, 0).is_err());

        let mut lost = pe_head(0x2000);
        put_u32(&mut lost, LFANEW_OFFSET, 0x80);
        assert!(patch_sizes(&mut lost, 0).is_err());
    }
}
