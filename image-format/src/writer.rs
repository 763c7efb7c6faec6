//! Writer used by the image builder: lays out the table and the modules.

use alloc::string::String;
use alloc::vec::Vec;

use crate::table::*;
use crate::{align_up, MODULE_ALIGN};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainSpec {
    pub id: u16,
    pub flags: u16,
    pub vcpus: u16,
    pub memory_bytes: u64,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSpec {
    pub kind: ModuleKind,
    pub domain: u16,
    pub size: u64,
    pub sha256: [u8; 32],
    pub cmdline: String,
}

/// Where everything goes: the table bytes, each module's offset from the
/// image start (in the order given), and the total image size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub table_offset: u64,
    pub table: Vec<u8>,
    pub module_offsets: Vec<u64>,
    pub image_size: u64,
}

/// Lay out a table placed at `table_offset` (4 KiB aligned) describing
/// `domains` and `modules`. Modules follow the table in the order given.
pub fn layout(table_offset: u64, domains: &[DomainSpec], modules: &[ModuleSpec]) -> Layout {
    assert!(
        table_offset.is_multiple_of(MODULE_ALIGN),
        "table offset must be 4 KiB aligned"
    );
    let fixed = HEADER_SIZE + domains.len() * DOMAIN_ENTRY_SIZE + modules.len() * MODULE_ENTRY_SIZE;
    let mut strings: Vec<u8> = Vec::new();
    let mut add_string = |s: &str| -> (u32, u32) {
        let off = (fixed + strings.len()) as u32;
        strings.extend_from_slice(s.as_bytes());
        (off, s.len() as u32)
    };
    let domain_names: Vec<_> = domains.iter().map(|d| add_string(&d.name)).collect();
    let cmdlines: Vec<_> = modules.iter().map(|m| add_string(&m.cmdline)).collect();
    let table_size = fixed + strings.len();

    let mut offsets = Vec::with_capacity(modules.len());
    let mut cursor = align_up(table_offset + table_size as u64, MODULE_ALIGN);
    for m in modules {
        offsets.push(cursor);
        cursor = align_up(cursor + m.size, MODULE_ALIGN);
    }
    // The image ends with the last module's last byte, not its padding.
    let image_size = match (modules.last(), offsets.last()) {
        (Some(m), Some(o)) => o + m.size,
        _ => table_offset + table_size as u64,
    };

    let mut t = Vec::with_capacity(table_size);
    t.extend_from_slice(&MAGIC);
    t.extend_from_slice(&VERSION.to_le_bytes());
    t.extend_from_slice(&(HEADER_SIZE as u16).to_le_bytes());
    t.extend_from_slice(&(DOMAIN_ENTRY_SIZE as u16).to_le_bytes());
    t.extend_from_slice(&(MODULE_ENTRY_SIZE as u16).to_le_bytes());
    t.extend_from_slice(&(domains.len() as u16).to_le_bytes());
    t.extend_from_slice(&(modules.len() as u16).to_le_bytes());
    t.extend_from_slice(&(table_size as u32).to_le_bytes());
    t.extend_from_slice(&image_size.to_le_bytes());
    t.extend_from_slice(&table_offset.to_le_bytes());
    t.extend_from_slice(&[0u8; 8]);
    debug_assert_eq!(t.len(), HEADER_SIZE);
    for (d, (name_off, name_len)) in domains.iter().zip(&domain_names) {
        t.extend_from_slice(&d.id.to_le_bytes());
        t.extend_from_slice(&d.flags.to_le_bytes());
        t.extend_from_slice(&d.vcpus.to_le_bytes());
        t.extend_from_slice(&[0u8; 2]);
        t.extend_from_slice(&d.memory_bytes.to_le_bytes());
        t.extend_from_slice(&name_off.to_le_bytes());
        t.extend_from_slice(&name_len.to_le_bytes());
        t.extend_from_slice(&[0u8; 8]);
    }
    for ((m, (cl_off, cl_len)), off) in modules.iter().zip(&cmdlines).zip(&offsets) {
        t.extend_from_slice(&(m.kind as u16).to_le_bytes());
        t.extend_from_slice(&m.domain.to_le_bytes());
        t.extend_from_slice(&[0u8; 4]);
        t.extend_from_slice(&off.to_le_bytes());
        t.extend_from_slice(&m.size.to_le_bytes());
        t.extend_from_slice(&m.sha256);
        t.extend_from_slice(&cl_off.to_le_bytes());
        t.extend_from_slice(&cl_len.to_le_bytes());
    }
    t.extend_from_slice(&strings);
    debug_assert_eq!(t.len(), table_size);
    Layout {
        table_offset,
        table: t,
        module_offsets: offsets,
        image_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn sample() -> Layout {
        let domains = vec![DomainSpec {
            id: 0,
            flags: domain_flags::HARDWARE,
            vcpus: 1,
            memory_bytes: 64 << 20,
            name: "selftest".to_string(),
        }];
        let modules = vec![
            ModuleSpec {
                kind: ModuleKind::Kernel,
                domain: 0,
                size: 5000,
                sha256: [7; 32],
                cmdline: "console=hvc0".to_string(),
            },
            ModuleSpec {
                kind: ModuleKind::Ramdisk,
                domain: 0,
                size: 10,
                sha256: [9; 32],
                cmdline: String::new(),
            },
        ];
        layout(0x2000, &domains, &modules)
    }

    #[test]
    fn round_trip() {
        let l = sample();
        assert_eq!(l.module_offsets, vec![0x3000, 0x5000]);
        assert_eq!(l.image_size, 0x5000 + 10);
        let t = ModuleTable::parse(&l.table).unwrap();
        assert_eq!(t.header.table_offset, 0x2000);
        let d: Vec<_> = t.domains().collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "selftest");
        assert!(d[0].is_hardware() && !d[0].is_direct_mapped());
        let k = t.module(0, ModuleKind::Kernel).unwrap();
        assert_eq!(
            (k.offset, k.size, k.cmdline),
            (0x3000, 5000, "console=hvc0")
        );
        assert_eq!(k.sha256, [7; 32]);
        assert_eq!(t.module(0, ModuleKind::Ramdisk).unwrap().size, 10);
        assert!(t.module(1, ModuleKind::Kernel).is_none());
    }

    #[test]
    fn rejects_corruption() {
        let good = sample().table;
        let mut b = good.clone();
        b[0] ^= 1;
        assert_eq!(ModuleTable::parse(&b).unwrap_err(), FormatError::BadMagic);
        let mut b = good.clone();
        b[8] = 2;
        assert_eq!(
            ModuleTable::parse(&b).unwrap_err(),
            FormatError::UnsupportedVersion(2)
        );
        assert_eq!(
            ModuleTable::parse(&good[..good.len() - 1]).unwrap_err(),
            FormatError::Truncated
        );
        // Module 0 kind -> 99.
        let m0 = HEADER_SIZE + DOMAIN_ENTRY_SIZE;
        let mut b = good.clone();
        b[m0] = 99;
        assert!(matches!(
            ModuleTable::parse(&b),
            Err(FormatError::UnknownModuleKind { .. })
        ));
        // Module 0 owned by a domain that does not exist.
        let mut b = good.clone();
        b[m0 + 2] = 5;
        assert!(matches!(
            ModuleTable::parse(&b),
            Err(FormatError::UnknownDomain { .. })
        ));
        // Module 0 offset inside the table.
        let mut b = good.clone();
        b[m0 + 8..m0 + 16].copy_from_slice(&0x2000u64.to_le_bytes());
        assert!(matches!(
            ModuleTable::parse(&b),
            Err(FormatError::ModuleOutOfImage { .. })
        ));
        // Module 1 size overflowing.
        let m1 = m0 + MODULE_ENTRY_SIZE;
        let mut b = good.clone();
        b[m1 + 16..m1 + 24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            ModuleTable::parse(&b),
            Err(FormatError::ModuleOutOfImage { .. })
        ));
        // Command line pointing past the table.
        let mut b = good;
        b[m0 + 56..m0 + 60].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert!(matches!(
            ModuleTable::parse(&b),
            Err(FormatError::BadString { .. })
        ));
    }

    /// Any byte string either parses or errors; never panics.
    #[test]
    fn never_panics_on_mutations() {
        let good = sample().table;
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut b = good.clone();
            let n = (seed % 4 + 1) as usize;
            for k in 0..n {
                let pos = ((seed >> (k * 12)) as usize) % b.len();
                b[pos] = (seed >> (k * 8 + 3)) as u8;
            }
            let cut = if seed.is_multiple_of(5) {
                (seed >> 20) as usize % b.len()
            } else {
                b.len()
            };
            if let Ok(t) = ModuleTable::parse(&b[..cut]) {
                let _ = t.domains().count() + t.modules().count();
            }
        }
    }
}
