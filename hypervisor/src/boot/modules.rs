//! The boot image's module table: found at the hypervisor's end, checked
//! (structure, then every module's SHA-256) before any domain is built.

use image_format::{FormatError, ModuleEntry, ModuleTable};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleError {
    Table(FormatError),
    /// The table says it sits somewhere other than where we found it.
    Misplaced {
        expected: u64,
        found: u64,
    },
    HashMismatch {
        index: usize,
    },
}

/// Parse the table that starts `table_offset` bytes into the image at
/// `image`. `image` must cover the whole image (header's `image_size`).
pub fn parse_table(image: &[u8], table_offset: u64) -> Result<ModuleTable<'_>, ModuleError> {
    let start =
        usize::try_from(table_offset).map_err(|_| ModuleError::Table(FormatError::Truncated))?;
    let bytes = image
        .get(start..)
        .ok_or(ModuleError::Table(FormatError::Truncated))?;
    let table = ModuleTable::parse(bytes).map_err(ModuleError::Table)?;
    if table.header.table_offset != table_offset {
        return Err(ModuleError::Misplaced {
            expected: table_offset,
            found: table.header.table_offset,
        });
    }
    Ok(table)
}

/// The bytes of module `m` inside `image`.
pub fn module_bytes<'a>(image: &'a [u8], m: &ModuleEntry<'_>) -> Option<&'a [u8]> {
    let start = usize::try_from(m.offset).ok()?;
    let end = start.checked_add(usize::try_from(m.size).ok()?)?;
    image.get(start..end)
}

/// Check the hashes of the modules of domain `id` with `sha256` (the arch
/// layer may have a faster one); on a mismatch returns the module's index.
pub fn verify_domain(
    image: &[u8],
    table: &ModuleTable<'_>,
    id: u16,
    sha256: &dyn Fn(&[u8]) -> [u8; 32],
) -> Result<usize, ModuleError> {
    let mut count = 0;
    for (index, m) in table.modules().enumerate().filter(|(_, m)| m.domain == id) {
        let ok = module_bytes(image, &m).is_some_and(|b| sha256(b) == m.sha256);
        if !ok {
            return Err(ModuleError::HashMismatch { index });
        }
        count += 1;
    }
    Ok(count)
}

/// Check every module's hash; the first mismatch is reported by index.
pub fn verify_hashes(image: &[u8], table: &ModuleTable<'_>) -> Result<(), ModuleError> {
    for (index, m) in table.modules().enumerate() {
        let bytes =
            module_bytes(image, &m).ok_or(ModuleError::Table(FormatError::ModuleOutOfImage {
                module: index,
            }))?;
        if Sha256::digest(bytes).as_slice() != m.sha256 {
            return Err(ModuleError::HashMismatch { index });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image_format::{layout, DomainSpec, ModuleKind, ModuleSpec};

    fn image() -> Vec<u8> {
        let payload = b"kernel bytes".to_vec();
        let l = layout(
            0x1000,
            &[DomainSpec {
                id: 1,
                flags: 0,
                vcpus: 1,
                memory_bytes: 1 << 26,
                name: "d".into(),
            }],
            &[ModuleSpec {
                kind: ModuleKind::Kernel,
                domain: 1,
                size: payload.len() as u64,
                sha256: Sha256::digest(&payload).into(),
                cmdline: String::new(),
            }],
        );
        let mut img = vec![0u8; l.image_size as usize];
        img[0x1000..0x1000 + l.table.len()].copy_from_slice(&l.table);
        let o = l.module_offsets[0] as usize;
        img[o..o + payload.len()].copy_from_slice(&payload);
        img
    }

    #[test]
    fn verifies_and_detects_tampering() {
        let img = image();
        let t = parse_table(&img, 0x1000).unwrap();
        verify_hashes(&img, &t).unwrap();
        let mut bad = img.clone();
        bad[0x2000] ^= 0x80;
        let t = parse_table(&bad, 0x1000).unwrap();
        assert_eq!(
            verify_hashes(&bad, &t),
            Err(ModuleError::HashMismatch { index: 0 })
        );
    }

    #[test]
    fn table_must_be_where_it_says() {
        let mut img = image();
        img.splice(0..0, [0u8; 0x1000]);
        assert_eq!(
            parse_table(&img, 0x2000).unwrap_err(),
            ModuleError::Misplaced {
                expected: 0x2000,
                found: 0x1000
            }
        );
        assert!(matches!(
            parse_table(&img, 0x10_0000),
            Err(ModuleError::Table(_))
        ));
    }
}
