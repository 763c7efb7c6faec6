//! Writer used by the image builder: lays out the table and the modules.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::table::*;
use crate::{align_up, MODULE_ALIGN, SIGNATURE_BLOCK_SIZE};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainSpec {
    pub id: u16,
    pub flags: u16,
    pub vcpus: u16,
    pub memory_bytes: u64,
    pub name: String,
    /// Physical CPUs the vCPUs are pinned to, one bit per CPU (vCPU i on
    /// the i-th set bit); 0: the hypervisor places them.
    pub pcpus: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSpec {
    pub kind: ModuleKind,
    pub domain: u16,
    pub size: u64,
    pub sha256: [u8; 32],
    pub cmdline: String,
    /// SHA-256 of each [`crate::PIECE_SIZE`] piece: `piece_count(size)`
    /// of them. Written only with [`LayoutOptions::piece_blake3`].
    pub piece_blake3: Vec<[u8; 32]>,
    /// Alignment of the module's offset in the image: a power of two, at
    /// least [`MODULE_ALIGN`]; 0 means [`MODULE_ALIGN`]. (A kernel that
    /// is to run where it lies needs the alignment its boot protocol asks.)
    /// Modules asking for more are placed after all others, still listed
    /// in the order given.
    pub align: u64,
}

/// A host device passed through to domain `domain` (not the hardware
/// domain): its device-tree path, MMIO ranges (base, size; page-aligned)
/// and interrupt lines (SPI INTIDs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSpec {
    pub domain: u16,
    pub path: String,
    pub mmio: Vec<(u64, u64)>,
    pub irqs: Vec<u32>,
}

/// Where everything goes: the table bytes, each module's offset from the
/// image start (in the order given), and the total image size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub table_offset: u64,
    pub table: Vec<u8>,
    pub module_offsets: Vec<u64>,
    pub image_size: u64,
    /// For a signed layout: where the signature block goes (right after the
    /// table). The writer fills it after signing `table`, which already has
    /// the SIGNED flag set.
    pub signature_offset: Option<u64>,
}

/// How to lay out a table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayoutOptions {
    /// Set the SIGNED flag and reserve the signature block after the table.
    pub signed: bool,
    /// Set PIECE_BLAKE3 and write every module's piece BLAKE3s after the
    /// strings. Panics if a module's `piece_blake3` has the wrong length.
    pub piece_blake3: bool,
}

/// Lay out an unsigned table placed at `table_offset` (4 KiB aligned)
/// describing `domains` and `modules`. Modules follow the table in the order
/// given. Byte-identical to the layout before signing existed.
pub fn layout(table_offset: u64, domains: &[DomainSpec], modules: &[ModuleSpec]) -> Layout {
    layout_with(table_offset, domains, modules, LayoutOptions::default())
}

/// [`layout`] with options: a signed layout sets the SIGNED flag and puts
/// the modules after a [`SIGNATURE_BLOCK_SIZE`]-byte gap for the block.
pub fn layout_with(
    table_offset: u64,
    domains: &[DomainSpec],
    modules: &[ModuleSpec],
    opts: LayoutOptions,
) -> Layout {
    layout_all(table_offset, domains, modules, &[], opts)
}

/// [`layout_with`] and a device section when `devices` is not empty
/// (without devices the bytes are exactly [`layout_with`]'s).
pub fn layout_all(
    table_offset: u64,
    domains: &[DomainSpec],
    modules: &[ModuleSpec],
    devices: &[DeviceSpec],
    opts: LayoutOptions,
) -> Layout {
    assert!(
        table_offset.is_multiple_of(MODULE_ALIGN),
        "table offset must be 4 KiB aligned"
    );
    let entries =
        HEADER_SIZE + domains.len() * DOMAIN_ENTRY_SIZE + modules.len() * MODULE_ENTRY_SIZE;
    let device_section = if devices.is_empty() {
        0
    } else {
        crate::devices::section_size(devices.len())
    };
    let fixed = entries + device_section;
    let mut strings: Vec<u8> = Vec::new();
    let mut add_string = |s: &str| -> (u32, u32) {
        let off = (fixed + strings.len()) as u32;
        strings.extend_from_slice(s.as_bytes());
        (off, s.len() as u32)
    };
    let domain_names: Vec<_> = domains.iter().map(|d| add_string(&d.name)).collect();
    let cmdlines: Vec<_> = modules.iter().map(|m| add_string(&m.cmdline)).collect();
    let paths: Vec<_> = devices.iter().map(|d| add_string(&d.path)).collect();
    let mut piece_lists: Vec<u8> = Vec::new();
    let piece_offsets: Vec<u32> = modules
        .iter()
        .map(|m| {
            if !opts.piece_blake3 {
                return 0;
            }
            assert_eq!(
                m.piece_blake3.len() as u64,
                crate::piece_count(m.size),
                "a module's piece digests do not match its size"
            );
            let off = (fixed + strings.len() + piece_lists.len()) as u32;
            m.piece_blake3
                .iter()
                .for_each(|d| piece_lists.extend_from_slice(d));
            off
        })
        .collect();
    let mut device_lists: Vec<u8> = Vec::new();
    let list_offsets: Vec<u32> = devices
        .iter()
        .map(|d| {
            let off = (fixed + strings.len() + piece_lists.len() + device_lists.len()) as u32;
            for (base, size) in &d.mmio {
                device_lists.extend_from_slice(&base.to_le_bytes());
                device_lists.extend_from_slice(&size.to_le_bytes());
            }
            d.irqs
                .iter()
                .for_each(|i| device_lists.extend_from_slice(&i.to_le_bytes()));
            off
        })
        .collect();
    let table_size = fixed + strings.len() + piece_lists.len() + device_lists.len();
    let table_end = table_offset + table_size as u64;
    let mut flags = 0;
    if opts.piece_blake3 {
        flags |= table_flags::PIECE_BLAKE3;
    }
    if !devices.is_empty() {
        flags |= table_flags::DEVICES;
    }
    let (reserved_end, signature_offset) = if opts.signed {
        flags |= table_flags::SIGNED;
        (table_end + SIGNATURE_BLOCK_SIZE as u64, Some(table_end))
    } else {
        (table_end, None)
    };

    // Modules go in the order given, except that those asking for more
    // than the default alignment come after all the others (so that a
    // kernel run in place ends the image and its BSS runs past the end).
    let mut offsets = vec![0; modules.len()];
    let mut cursor = reserved_end;
    let big = |m: &ModuleSpec| m.align > MODULE_ALIGN;
    let placement = (0..modules.len())
        .filter(|&i| !big(&modules[i]))
        .chain((0..modules.len()).filter(|&i| big(&modules[i])));
    for i in placement {
        let m = &modules[i];
        let align = m.align.max(MODULE_ALIGN);
        assert!(
            align.is_power_of_two(),
            "module alignment must be a power of two"
        );
        cursor = align_up(cursor, align);
        offsets[i] = cursor;
        cursor += m.size;
    }
    // The image ends with the last module's last byte, not its padding.
    let image_size = cursor;

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
    t.extend_from_slice(&flags.to_le_bytes());
    debug_assert_eq!(t.len(), HEADER_SIZE);
    for (d, (name_off, name_len)) in domains.iter().zip(&domain_names) {
        t.extend_from_slice(&d.id.to_le_bytes());
        t.extend_from_slice(&d.flags.to_le_bytes());
        t.extend_from_slice(&d.vcpus.to_le_bytes());
        t.extend_from_slice(&[0u8; 2]);
        t.extend_from_slice(&d.memory_bytes.to_le_bytes());
        t.extend_from_slice(&name_off.to_le_bytes());
        t.extend_from_slice(&name_len.to_le_bytes());
        t.extend_from_slice(&d.pcpus.to_le_bytes());
    }
    for (((m, (cl_off, cl_len)), off), pieces) in modules
        .iter()
        .zip(&cmdlines)
        .zip(&offsets)
        .zip(&piece_offsets)
    {
        t.extend_from_slice(&(m.kind as u16).to_le_bytes());
        t.extend_from_slice(&m.domain.to_le_bytes());
        t.extend_from_slice(&pieces.to_le_bytes());
        t.extend_from_slice(&off.to_le_bytes());
        t.extend_from_slice(&m.size.to_le_bytes());
        t.extend_from_slice(&m.sha256);
        t.extend_from_slice(&cl_off.to_le_bytes());
        t.extend_from_slice(&cl_len.to_le_bytes());
    }
    if !devices.is_empty() {
        t.extend_from_slice(&(devices.len() as u16).to_le_bytes());
        t.extend_from_slice(&(crate::devices::DEVICE_ENTRY_SIZE as u16).to_le_bytes());
        t.extend_from_slice(&[0u8; 4]);
    }
    for ((d, (path_off, path_len)), list) in devices.iter().zip(&paths).zip(&list_offsets) {
        t.extend_from_slice(&d.domain.to_le_bytes());
        t.extend_from_slice(&[0u8; 2]);
        t.extend_from_slice(&(d.mmio.len() as u16).to_le_bytes());
        t.extend_from_slice(&(d.irqs.len() as u16).to_le_bytes());
        t.extend_from_slice(&path_off.to_le_bytes());
        t.extend_from_slice(&path_len.to_le_bytes());
        t.extend_from_slice(&list.to_le_bytes());
        t.extend_from_slice(&[0u8; 4]);
    }
    debug_assert_eq!(t.len(), fixed);
    t.extend_from_slice(&strings);
    t.extend_from_slice(&piece_lists);
    t.extend_from_slice(&device_lists);
    debug_assert_eq!(t.len(), table_size);
    Layout {
        table_offset,
        table: t,
        module_offsets: offsets,
        image_size,
        signature_offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;
    use alloc::string::ToString;
    use alloc::vec;

    const SIGNED_ONLY: LayoutOptions = LayoutOptions {
        signed: true,
        piece_blake3: false,
    };

    fn sample() -> Layout {
        let domains = vec![DomainSpec {
            id: 0,
            flags: domain_flags::HARDWARE,
            vcpus: 1,
            memory_bytes: 64 << 20,
            pcpus: 0,
            name: "selftest".to_string(),
        }];
        let modules = vec![
            ModuleSpec {
                kind: ModuleKind::Kernel,
                domain: 0,
                size: 5000,
                sha256: [7; 32],
                cmdline: "console=hvc0".to_string(),
                piece_blake3: Vec::new(),
                align: 0,
            },
            ModuleSpec {
                kind: ModuleKind::Ramdisk,
                domain: 0,
                size: 10,
                sha256: [9; 32],
                cmdline: String::new(),
                piece_blake3: Vec::new(),
                align: 0,
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
    fn pinned_cpus_round_trip_and_conflicts_are_refused() {
        let dom = |id: u16, vcpus: u16, pcpus: u64| DomainSpec {
            id,
            flags: 0,
            vcpus,
            memory_bytes: 1 << 26,
            pcpus,
            name: alloc::format!("d{id}"),
        };
        let parse = |ds: &[DomainSpec]| {
            let t = layout(0x1000, ds, &[]).table;
            ModuleTable::parse(&t).map(|t| t.domains().map(|d| d.pcpus).collect::<Vec<_>>())
        };
        assert_eq!(
            parse(&[dom(0, 1, 0b1), dom(1, 2, 0b110)]),
            Ok(vec![0b1, 0b110])
        );
        assert_eq!(parse(&[dom(0, 2, 0), dom(1, 2, 0)]), Ok(vec![0, 0]));
        assert_eq!(
            parse(&[dom(0, 2, 0b1)]),
            Err(FormatError::BadPcpus { domain: 0 })
        );
        assert_eq!(
            parse(&[dom(3, 2, 0b11), dom(5, 2, 0b110)]),
            Err(FormatError::SharedPcpu {
                first: 3,
                second: 5,
                cpu: 1
            })
        );
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

    fn specs(cmdline_len: usize) -> (Vec<DomainSpec>, Vec<ModuleSpec>) {
        let domains = vec![DomainSpec {
            id: 1,
            flags: domain_flags::HARDWARE | domain_flags::DIRECT_MAP,
            vcpus: 2,
            memory_bytes: 128 << 20,
            pcpus: 0,
            name: "dom0".to_string(),
        }];
        let modules = vec![
            ModuleSpec {
                kind: ModuleKind::Kernel,
                domain: 1,
                size: 4096 * 3 + 5,
                sha256: [1; 32],
                cmdline: "x".repeat(cmdline_len),
                piece_blake3: Vec::new(),
                align: 0,
            },
            ModuleSpec {
                kind: ModuleKind::Ramdisk,
                domain: 1,
                size: 4096,
                sha256: [2; 32],
                cmdline: String::new(),
                piece_blake3: Vec::new(),
                align: 0,
            },
        ];
        (domains, modules)
    }

    /// FNV-1a over every table, module offset and image size `f` lays out
    /// for the sizes and offsets `unsigned_layout_is_unchanged` uses.
    fn fingerprint(f: impl Fn(u64, &[DomainSpec], &[ModuleSpec]) -> Layout) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        };
        for len in [0, 10, 3000, 3900, 3950, 4000, 4096, 9000] {
            let (d, m) = specs(len);
            for off in [0x1000, 0x7000] {
                for l in [f(off, &d, &m), f(off, &d, &[])] {
                    eat(&l.table);
                    l.module_offsets.iter().for_each(|o| eat(&o.to_le_bytes()));
                    eat(&l.image_size.to_le_bytes());
                }
            }
        }
        h
    }

    #[test]
    fn unsigned_layout_is_unchanged() {
        // Table sizes on both sides of "block would cross a 4 KiB boundary".
        // The fingerprint of the layouts `layout` produced before signing
        // existed (computed from that code, commit 4959ba1 and earlier).
        assert_eq!(fingerprint(layout), 0xdc56_e346_d2da_0f51);
        let s = sample();
        let t = ModuleTable::parse(&s.table).unwrap();
        assert_eq!(t.header.flags, 0);
        assert!(!t.header.is_signed());
        assert_eq!(t.signature(&s.table), Ok(None));
    }

    #[test]
    fn signed_layout_reserves_the_block() {
        for len in [0, 3000, 3950, 4000, 9000] {
            let (d, m) = specs(len);
            let l = layout_with(0x1000, &d, &m, SIGNED_ONLY);
            let t = ModuleTable::parse(&l.table).unwrap();
            assert!(t.header.is_signed());
            let table_end = 0x1000 + l.table.len() as u64;
            assert_eq!(l.signature_offset, Some(table_end));
            assert_eq!(t.header.signature_offset(), Some(table_end));
            let first = l.module_offsets[0];
            assert!(first >= table_end + SIGNATURE_BLOCK_SIZE as u64, "{len}");
            assert_eq!(first, align_up(table_end + 104, MODULE_ALIGN));
            // Apart from the flag (and where the modules go), the same table.
            let u = layout(0x1000, &d, &m);
            if u.module_offsets == l.module_offsets {
                let mut b = l.table.clone();
                b[40] = 0;
                assert_eq!(b, u.table);
            }
        }
        // No modules: the image ends with the block.
        let (d, _) = specs(0);
        let l = layout_with(0x1000, &d, &[], SIGNED_ONLY);
        assert_eq!(l.image_size, 0x1000 + l.table.len() as u64 + 104);
    }

    #[test]
    fn unknown_table_flags_are_rejected() {
        let mut b = sample().table;
        b[40] = 8;
        assert_eq!(
            ModuleTable::parse(&b).unwrap_err(),
            FormatError::UnknownTableFlags { flags: 8 }
        );
    }

    /// Specs whose first module spans three pieces (the last one short).
    fn pieced_specs() -> (Vec<DomainSpec>, Vec<ModuleSpec>) {
        let (d, mut m) = specs(7);
        m[0].size = 2 * PIECE_SIZE + 5;
        m[0].piece_blake3 = vec![[0xa1; 32], [0xa2; 32], [0xa3; 32]];
        m[1].piece_blake3 = vec![[0xb1; 32]];
        (d, m)
    }

    #[test]
    fn piece_blake3_round_trip() {
        let (d, m) = pieced_specs();
        let opts = LayoutOptions {
            signed: true,
            piece_blake3: true,
        };
        let l = layout_with(0x1000, &d, &m, opts);
        let t = ModuleTable::parse(&l.table).unwrap();
        assert!(t.header.has_piece_blake3() && t.header.is_signed());
        let mods: Vec<_> = t.modules().collect();
        assert_eq!(mods[0].piece_blake3(0), Some([0xa1; 32]));
        assert_eq!(mods[0].piece_blake3(2), Some([0xa3; 32]));
        assert_eq!(mods[0].piece_blake3(3), None);
        assert_eq!(mods[1].piece_blake3(0), Some([0xb1; 32]));
        assert_eq!(mods[1].piece_blake3(1), None);
        // Without the option, the same specs give the plain layout.
        let plain = layout_with(0x1000, &d, &m, SIGNED_ONLY);
        let p = ModuleTable::parse(&plain.table).unwrap();
        assert!(p.modules().all(|m| m.piece_blake3_list.is_none()));
        assert_eq!(plain.table.len() + 4 * 32, l.table.len());
    }

    #[test]
    fn piece_list_outside_the_table_is_rejected() {
        let (d, m) = pieced_specs();
        let opts = LayoutOptions {
            signed: false,
            piece_blake3: true,
        };
        let mut b = layout_with(0x1000, &d, &m, opts).table;
        // Module 1's list offset (entry offset 4) moved past the table end.
        let entry = HEADER_SIZE + DOMAIN_ENTRY_SIZE + MODULE_ENTRY_SIZE;
        let past = (b.len() - 31) as u32;
        b[entry + 4..entry + 8].copy_from_slice(&past.to_le_bytes());
        assert_eq!(
            ModuleTable::parse(&b).unwrap_err(),
            FormatError::BadPieceList { module: 1 }
        );
    }

    #[test]
    fn a_module_can_ask_for_a_bigger_alignment() {
        let (d, mut m) = specs(10);
        m[0].align = 2 << 20;
        let l = layout(0x1000, &d, &m);
        // Listed first, placed last: the ramdisk takes the first slot.
        assert_eq!(l.module_offsets, [2 << 20, 0x2000]);
        assert_eq!(l.image_size, (2 << 20) + m[0].size);
        let t = ModuleTable::parse(&l.table).unwrap();
        let offsets: Vec<_> = t.modules().map(|m| m.offset).collect();
        assert_eq!(offsets, [2 << 20, 0x2000]);
    }

    #[test]
    #[should_panic(expected = "piece digests")]
    fn writer_refuses_a_wrong_digest_count() {
        let (d, mut m) = pieced_specs();
        m[0].piece_blake3.pop();
        let opts = LayoutOptions {
            signed: false,
            piece_blake3: true,
        };
        layout_with(0x1000, &d, &m, opts);
    }

    /// A signed image: zeros up to the table, table, block, zero modules.
    fn signed_image(seed: [u8; 32]) -> (Vec<u8>, [u8; 32]) {
        use ed25519_dalek::{Signer, SigningKey};
        let (d, m) = specs(20);
        let l = layout_with(0x1000, &d, &m, SIGNED_ONLY);
        let key = SigningKey::from_bytes(&seed);
        let sig = key.sign(&l.table).to_bytes();
        let pk = key.verifying_key().to_bytes();
        let mut img = vec![0u8; 0x1000];
        img.extend_from_slice(&l.table);
        img.extend_from_slice(&encode_signature_block(&pk, &sig));
        img.resize(l.image_size as usize, 0);
        (img, pk)
    }

    #[test]
    fn signature_block_round_trip() {
        let (img, pk) = signed_image([5; 32]);
        let t = ModuleTable::parse(&img[0x1000..]).unwrap();
        let b = t.signature(&img[0x1000..]).unwrap().unwrap();
        assert_eq!(b.public_key, &pk);
        assert_eq!(signature_block(&img, &t.header), Ok(Some(b)));
        let off = t.header.signature_offset().unwrap() as usize;
        assert_eq!(&img[off..off + 8], b"HALYSIG1");
        // The block is in the image, the hash-covered modules are after it.
        assert!(t.modules().all(|m| m.offset >= off as u64 + 104));
    }

    #[test]
    fn truncated_or_missing_block_is_an_error() {
        let (img, _) = signed_image([5; 32]);
        let t = ModuleTable::parse(&img[0x1000..]).unwrap();
        let off = t.header.signature_offset().unwrap() as usize;
        for cut in off..off + SIGNATURE_BLOCK_SIZE {
            assert_eq!(
                signature_block(&img[..cut], &t.header),
                Err(FormatError::SignatureTruncated),
                "{cut}"
            );
            assert_eq!(
                t.signature(&img[0x1000..cut]),
                Err(FormatError::SignatureTruncated)
            );
        }
        let mut bad = img.clone();
        bad[off] ^= 1;
        assert_eq!(
            signature_block(&bad, &t.header),
            Err(FormatError::BadSignatureMagic)
        );
    }

    #[cfg(feature = "verify")]
    #[test]
    fn verify_accepts_only_the_exact_table_signature_and_key() {
        let (img, pk) = signed_image([5; 32]);
        let check = |img: &[u8], trusted: &[u8; 32]| -> bool {
            let Ok(t) = ModuleTable::parse(&img[0x1000..]) else {
                return false;
            };
            match signature_block(img, &t.header) {
                Ok(Some(b)) => verify_signature(t.as_bytes(), &b, trusted).is_ok(),
                _ => false,
            }
        };
        assert!(check(&img, &pk));
        let t = ModuleTable::parse(&img[0x1000..]).unwrap();
        let end = 0x1000 + t.header.table_size as usize + SIGNATURE_BLOCK_SIZE;
        // Every single-bit flip in the table, the magic, the key and the
        // signature is caught.
        for byte in 0x1000..end {
            for bit in 0..8 {
                let mut b = img.clone();
                b[byte] ^= 1 << bit;
                assert!(!check(&b, &pk), "flip at {byte:#x} bit {bit} accepted");
            }
        }
        // Another trusted key, a key that is no curve point, a cleared flag.
        let (_, other) = signed_image([6; 32]);
        assert!(!check(&img, &other));
        let b = signature_block(&img, &t.header).unwrap().unwrap();
        assert_eq!(
            verify_signature(t.as_bytes(), &b, &other),
            Err(SigError::UntrustedKey)
        );
        let mut unflagged = t.as_bytes().to_vec();
        unflagged[40] = 0;
        assert_eq!(
            verify_signature(&unflagged, &b, &pk),
            Err(SigError::NotSigned)
        );
        let mut tampered = t.as_bytes().to_vec();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            verify_signature(&tampered, &b, &pk),
            Err(SigError::BadSignature)
        );
    }

    /// Any byte string either parses or errors; never panics.
    #[test]
    fn never_panics_on_mutations() {
        let (d, m) = pieced_specs();
        let opts = LayoutOptions {
            signed: true,
            piece_blake3: true,
        };
        for good in [sample().table, layout_with(0x1000, &d, &m, opts).table] {
            mutate_and_parse(good);
        }
    }

    fn mutate_and_parse(good: Vec<u8>) {
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
                let pieces: usize = t
                    .modules()
                    .map(|m| (0..4).filter_map(|i| m.piece_blake3(i)).count())
                    .sum();
                assert!(pieces <= 4 * t.modules().count());
            }
        }
    }
}
