//! The Linux arm64 `Image` header (Documentation/arch/arm64/booting.rst),
//! described once: how a kernel says where it wants to be placed, and the
//! header Halyard's own image carries (image-builder writes and checks it,
//! the hypervisor reads guests' kernels with it).
//!
//! ```text
//! 0   code0/code1   8 text_offset   16 image_size   24 flags
//! 32  res2 (Halyard: the module table's offset)   40 res3, res4
//! 56  magic "ARM\x64"   60 res5 (PE header offset)
//! ```

pub const HEADER_SIZE: usize = 64;
pub const MAGIC: u32 = 0x644d_5241; // "ARM\x64"
/// The magic as the bytes at [`MAGIC_OFFSET`].
pub const MAGIC_BYTES: [u8; 4] = *b"ARM\x64";
pub const MAGIC_OFFSET: usize = 56;
pub const TEXT_OFFSET_OFFSET: usize = 8;
pub const IMAGE_SIZE_OFFSET: usize = 16;
pub const FLAGS_OFFSET: usize = 24;
/// `res2` (u64; 0 in Linux): image-builder stores the module table's
/// offset there, so `verify` finds the table without scanning. The
/// hypervisor finds it at its own `__hyp_end`.
pub const TABLE_OFFSET_OFFSET: usize = 32;
/// Where a kernel with no image_size (pre-3.17) expects to sit.
const LEGACY_TEXT_OFFSET: u64 = 0x8_0000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    /// Offset from a 2 MiB-aligned base where the image must be loaded.
    pub text_offset: u64,
    /// Bytes the kernel needs from its load address (including its BSS).
    pub image_size: u64,
    pub flags: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    TooShort,
    BadMagic,
    BigEndian,
}

/// Whether `bytes` begin with an arm64 `Image` header.
pub fn is_arm64_image(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_SIZE && bytes[MAGIC_OFFSET..MAGIC_OFFSET + 4] == MAGIC_BYTES
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(v)
}

pub fn parse(kernel: &[u8]) -> Result<ImageHeader, ImageError> {
    if kernel.len() < HEADER_SIZE {
        return Err(ImageError::TooShort);
    }
    if !is_arm64_image(kernel) {
        return Err(ImageError::BadMagic);
    }
    let (mut text_offset, mut image_size, flags) = (
        u64_at(kernel, TEXT_OFFSET_OFFSET),
        u64_at(kernel, IMAGE_SIZE_OFFSET),
        u64_at(kernel, FLAGS_OFFSET),
    );
    if image_size == 0 {
        text_offset = LEGACY_TEXT_OFFSET;
        image_size = kernel.len() as u64;
    }
    if flags & 1 != 0 {
        return Err(ImageError::BigEndian);
    }
    Ok(ImageHeader {
        text_offset,
        image_size: image_size.max(kernel.len() as u64),
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text_offset: u64, image_size: u64, flags: u64) -> Vec<u8> {
        let mut h = vec![0u8; 4096];
        h[8..16].copy_from_slice(&text_offset.to_le_bytes());
        h[16..24].copy_from_slice(&image_size.to_le_bytes());
        h[24..32].copy_from_slice(&flags.to_le_bytes());
        h[56..60].copy_from_slice(&MAGIC.to_le_bytes());
        h
    }

    #[test]
    fn parses_modern_and_legacy() {
        let h = parse(&header(0, 0x20_0000, 0xa)).unwrap();
        assert_eq!((h.text_offset, h.image_size), (0, 0x20_0000));
        let h = parse(&header(0x1234, 0, 0)).unwrap();
        assert_eq!((h.text_offset, h.image_size), (0x8_0000, 4096));
        // image_size smaller than the file is raised to the file size.
        assert_eq!(parse(&header(0, 16, 0)).unwrap().image_size, 4096);
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(&[0; 10]), Err(ImageError::TooShort));
        assert_eq!(parse(&[0; 64]), Err(ImageError::BadMagic));
        assert_eq!(parse(&header(0, 64, 1)), Err(ImageError::BigEndian));
    }
}
