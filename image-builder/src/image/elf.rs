//! ELF → flat binary, without an external objcopy: the boot image holds the
//! hypervisor and in-tree guests as the bytes a loader would put in memory,
//! starting at the lowest physical load address.

use anyhow::{bail, Context, Result};
use object::read::elf::{ElfFile, FileHeader, ProgramHeader};
use object::{elf, Object, ObjectSymbol};

use image_format::MODULE_ALIGN;

/// Refuse flat binaries larger than this: a segment placed far away by a
/// linker-script mistake would otherwise produce a gigantic, mostly-zero file.
pub const MAX_FLAT_SIZE: u64 = 512 << 20;

/// Where the flat binary ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End<'a> {
    /// At this symbol (the hypervisor's `__hyp_end`): it must be 4 KiB
    /// aligned and not below the end of any loadable segment.
    Symbol(&'a str),
    /// At the end of the highest loadable segment (memory size included).
    AllSegments,
    /// A ROM image (firmware run in place from flash): only segments with
    /// file contents, ending with the last of those bytes; segments that
    /// are all zeros in memory (.bss, stacks) live elsewhere.
    FileContents,
}

/// A flat binary: `bytes[0]` belongs at physical address `base`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flat {
    pub base: u64,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
struct Segment {
    paddr: u64,
    vaddr: u64,
    memsz: u64,
    offset: u64,
    filesz: u64,
}

/// Convert an ELF executable (32- or 64-bit, little-endian) to a flat binary
/// made of its `PT_LOAD` segments placed by physical address.
pub fn elf_to_flat(data: &[u8], end: End<'_>) -> Result<Flat> {
    match object::FileKind::parse(data) {
        Ok(object::FileKind::Elf64) => convert::<elf::FileHeader64<object::Endianness>>(data, end),
        Ok(object::FileKind::Elf32) => convert::<elf::FileHeader32<object::Endianness>>(data, end),
        Ok(other) => bail!("not an ELF file (found {other:?})"),
        Err(_) => bail!("not an ELF file: {}", crate::sniff::describe(data)),
    }
}

fn convert<H: FileHeader<Endian = object::Endianness>>(data: &[u8], end: End<'_>) -> Result<Flat> {
    let file = ElfFile::<H>::parse(data).context("malformed ELF file")?;
    let endian = file.endian();
    if !file.is_little_endian() {
        bail!("big-endian ELF files are not supported");
    }
    let mut segments = Vec::new();
    for ph in file.elf_program_headers() {
        if ph.p_type(endian) != elf::PT_LOAD || ph.p_memsz(endian).into() == 0 {
            continue;
        }
        if matches!(end, End::FileContents) && ph.p_filesz(endian).into() == 0 {
            continue;
        }
        let s = Segment {
            paddr: ph.p_paddr(endian).into(),
            vaddr: ph.p_vaddr(endian).into(),
            memsz: ph.p_memsz(endian).into(),
            offset: ph.p_offset(endian).into(),
            filesz: ph.p_filesz(endian).into(),
        };
        if s.filesz > s.memsz {
            bail!(
                "segment at {:#x}: file size {:#x} exceeds memory size {:#x}",
                s.paddr,
                s.filesz,
                s.memsz
            );
        }
        if s.paddr.checked_add(s.memsz).is_none() {
            bail!("segment at {:#x}: size {:#x} overflows", s.paddr, s.memsz);
        }
        segments.push(s);
    }
    if segments.is_empty() {
        bail!("no loadable (PT_LOAD) segments");
    }
    segments.sort_by_key(|s| s.paddr);
    for w in segments.windows(2) {
        if w[0].paddr + w[0].memsz > w[1].paddr {
            bail!(
                "segments at {:#x} and {:#x} overlap in physical memory",
                w[0].paddr,
                w[1].paddr
            );
        }
    }
    let base = segments[0].paddr;
    let segments_end = segments
        .iter()
        .map(|s| s.paddr + s.memsz)
        .max()
        .unwrap_or(base);
    let flat_end = match end {
        End::AllSegments => segments_end,
        End::FileContents => segments
            .iter()
            .map(|s| s.paddr + s.filesz)
            .max()
            .unwrap_or(base),
        End::Symbol(name) => symbol_end(&file, name, &segments, segments_end)?,
    };
    let size = flat_end - base;
    if size > MAX_FLAT_SIZE {
        bail!(
            "loadable contents span {size:#x} bytes from {base:#x} (more than {MAX_FLAT_SIZE:#x}); \
             is a segment placed far from the others?"
        );
    }
    let mut bytes = vec![0u8; size as usize];
    for s in &segments {
        let src = data
            .get(s.offset as usize..)
            .and_then(|d| d.get(..s.filesz as usize))
            .with_context(|| {
                format!(
                    "segment at {:#x}: file range {:#x}+{:#x} is outside the file",
                    s.paddr, s.offset, s.filesz
                )
            })?;
        let at = (s.paddr - base) as usize;
        bytes[at..at + src.len()].copy_from_slice(src);
        // memsz > filesz: the tail (.bss) is already zero.
    }
    Ok(Flat { base, bytes })
}

/// The physical address of end symbol `name`, checked against the segments.
fn symbol_end<H: FileHeader<Endian = object::Endianness>>(
    file: &ElfFile<'_, H>,
    name: &str,
    segments: &[Segment],
    segments_end: u64,
) -> Result<u64> {
    let sym = file.symbol_by_name(name).with_context(|| {
        format!("symbol '{name}' is missing (the linker script must define it after .bss)")
    })?;
    let vaddr = sym.address();
    // Symbols are virtual addresses; translate through the nearest segment at
    // or below it (the end symbol usually sits just past the last one).
    let seg = segments
        .iter()
        .filter(|s| s.vaddr <= vaddr)
        .max_by_key(|s| s.vaddr)
        .with_context(|| format!("symbol '{name}' ({vaddr:#x}) is below every loadable segment"))?;
    let paddr = vaddr - seg.vaddr + seg.paddr;
    if !paddr.is_multiple_of(MODULE_ALIGN) {
        bail!("symbol '{name}' ({paddr:#x}) is not 4 KiB aligned");
    }
    if paddr < segments_end {
        bail!(
            "symbol '{name}' ({paddr:#x}) is below the end of the loadable segments ({segments_end:#x})"
        );
    }
    Ok(paddr)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use object::write::elf::{
        FileHeader as WFileHeader, ProgramHeader as WProgramHeader, Sym, Writer,
    };
    use object::write::StreamingBuffer;

    /// A loadable segment for a test ELF: (paddr, vaddr, file bytes, memsz).
    pub(crate) struct TestSeg {
        pub paddr: u64,
        pub vaddr: u64,
        pub data: Vec<u8>,
        pub memsz: u64,
    }

    impl TestSeg {
        pub(crate) fn new(paddr: u64, data: &[u8], memsz: u64) -> Self {
            TestSeg {
                paddr,
                vaddr: paddr,
                data: data.to_vec(),
                memsz,
            }
        }
    }

    /// Build a 64-bit little-endian aarch64 executable with `segs` and
    /// absolute symbols `syms` (name, value), using object's ELF writer.
    pub(crate) fn make_elf(segs: &[TestSeg], syms: &[(&str, u64)]) -> Vec<u8> {
        make_elf_class(true, segs, syms)
    }

    /// As [`make_elf`], 64-bit aarch64 or 32-bit x86.
    pub(crate) fn make_elf_class(is_64: bool, segs: &[TestSeg], syms: &[(&str, u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = StreamingBuffer::new(&mut out);
        let mut w = Writer::new(object::Endianness::Little, is_64, &mut buf);
        w.reserve_file_header();
        w.reserve_program_headers(segs.len() as u32);
        let offsets: Vec<u64> = segs
            .iter()
            .map(|s| w.reserve(s.data.len() as u64, 16))
            .collect();
        let names: Vec<_> = syms
            .iter()
            .map(|(n, _)| w.add_string(n.as_bytes()))
            .collect();
        w.reserve_null_symbol_index();
        for _ in syms {
            w.reserve_symbol_index(None);
        }
        w.reserve_symtab_section_index();
        w.reserve_strtab_section_index();
        w.reserve_shstrtab_section_index();
        w.reserve_symtab();
        w.reserve_strtab().unwrap();
        w.reserve_shstrtab().unwrap();
        w.reserve_section_headers();

        w.write_file_header(&WFileHeader {
            os_abi: elf::ELFOSABI_NONE,
            abi_version: 0,
            e_type: elf::ET_EXEC,
            e_machine: if is_64 { elf::EM_AARCH64 } else { elf::EM_386 },
            e_entry: segs.first().map_or(0, |s| s.vaddr),
            e_flags: elf::FileFlags(0),
        })
        .unwrap();
        w.write_align_program_headers();
        for (s, off) in segs.iter().zip(&offsets) {
            w.write_program_header(&WProgramHeader {
                p_type: elf::PT_LOAD,
                p_flags: elf::PF_R | elf::PF_W,
                p_offset: *off,
                p_vaddr: s.vaddr,
                p_paddr: s.paddr,
                p_filesz: s.data.len() as u64,
                p_memsz: s.memsz,
                p_align: 16,
            });
        }
        for (s, off) in segs.iter().zip(&offsets) {
            w.pad_until(*off);
            w.write(&s.data);
        }
        w.write_null_symbol();
        for ((_, value), name) in syms.iter().zip(&names) {
            w.write_symbol(&Sym {
                section: None,
                st_name: w.string_offset(Some(*name)),
                st_info: elf::STB_GLOBAL | elf::STT_NOTYPE,
                st_other: elf::STV_DEFAULT.into(),
                st_shndx: elf::SHN_ABS,
                st_value: *value,
                st_size: 0,
            });
        }
        w.write_strtab();
        w.write_shstrtab();
        w.write_null_section_header();
        w.write_symtab_section_header(1);
        w.write_strtab_section_header();
        w.write_shstrtab_section_header();
        drop(w);
        buf.result().unwrap();
        out
    }

    const BASE: u64 = 0x4020_0000;

    #[test]
    fn gaps_and_bss_are_zero_filled() {
        let elf = make_elf(
            &[
                TestSeg::new(BASE, &[1, 2, 3, 4], 4),
                // A gap of 0x100 - 4 bytes, then 2 file bytes and 6 of .bss.
                TestSeg::new(BASE + 0x100, &[5, 6], 8),
            ],
            &[],
        );
        let f = elf_to_flat(&elf, End::AllSegments).unwrap();
        assert_eq!(f.base, BASE);
        assert_eq!(f.bytes.len(), 0x108);
        assert_eq!(&f.bytes[..4], &[1, 2, 3, 4]);
        assert!(f.bytes[4..0x100].iter().all(|&b| b == 0));
        assert_eq!(&f.bytes[0x100..0x102], &[5, 6]);
        assert!(f.bytes[0x102..].iter().all(|&b| b == 0));
    }

    #[test]
    fn segments_are_placed_by_physical_address_in_any_order() {
        // Program headers out of order, linked high (vaddr != paddr).
        let mut hi = TestSeg::new(BASE + 0x1000, &[9; 16], 16);
        hi.vaddr = 0xffff_0000_0000_1000;
        let mut lo = TestSeg::new(BASE, &[7; 8], 8);
        lo.vaddr = 0xffff_0000_0000_0000;
        let elf = make_elf(&[hi, lo], &[("__hyp_end", 0xffff_0000_0000_2000)]);
        let f = elf_to_flat(&elf, End::Symbol("__hyp_end")).unwrap();
        assert_eq!(f.base, BASE);
        assert_eq!(f.bytes.len(), 0x2000);
        assert_eq!(&f.bytes[..8], &[7; 8]);
        assert_eq!(&f.bytes[0x1000..0x1010], &[9; 16]);
        assert!(f.bytes[0x1010..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_rom_image_ends_with_its_file_contents() {
        // Code and .data's load image in flash at 0; .bss (no file bytes)
        // and a data segment's zero tail in secure RAM far above.
        let elf = make_elf(
            &[
                TestSeg::new(0, &[1; 0x20], 0x20),
                TestSeg::new(0x20, &[2; 8], 0x40),
                TestSeg::new(0x0e00_0000, &[], 0x1000),
            ],
            &[],
        );
        let f = elf_to_flat(&elf, End::FileContents).unwrap();
        assert_eq!((f.base, f.bytes.len()), (0, 0x28));
        assert_eq!(&f.bytes[0x20..], &[2; 8]);
        // Placed whole, the same ELF spans 224 MiB.
        let whole = elf_to_flat(&elf, End::AllSegments).unwrap();
        assert_eq!(whole.bytes.len(), 0x0e00_1000);
    }

    #[test]
    fn pads_to_end_symbol() {
        let elf = make_elf(
            &[TestSeg::new(BASE, &[0xaa; 0x10], 0x1800)],
            &[("__hyp_start", BASE), ("__hyp_end", BASE + 0x3000)],
        );
        let f = elf_to_flat(&elf, End::Symbol("__hyp_end")).unwrap();
        assert_eq!(f.bytes.len(), 0x3000);
        assert_eq!(&f.bytes[..0x10], &[0xaa; 0x10]);
        // Without the symbol the same ELF ends at its .bss end.
        let f = elf_to_flat(&elf, End::AllSegments).unwrap();
        assert_eq!(f.bytes.len(), 0x1800);
    }

    #[test]
    fn end_symbol_missing_misaligned_or_too_low() {
        let segs = || vec![TestSeg::new(BASE, &[1; 0x10], 0x2000)];
        let e = elf_to_flat(&make_elf(&segs(), &[]), End::Symbol("__hyp_end")).unwrap_err();
        assert!(
            e.to_string().contains("symbol '__hyp_end' is missing"),
            "{e}"
        );
        let elf = make_elf(&segs(), &[("__hyp_end", BASE + 0x2008)]);
        let e = elf_to_flat(&elf, End::Symbol("__hyp_end")).unwrap_err();
        assert!(e.to_string().contains("not 4 KiB aligned"), "{e}");
        let elf = make_elf(&segs(), &[("__hyp_end", BASE + 0x1000)]);
        let e = elf_to_flat(&elf, End::Symbol("__hyp_end")).unwrap_err();
        assert!(
            e.to_string()
                .contains("below the end of the loadable segments"),
            "{e}"
        );
        let elf = make_elf(&segs(), &[("__hyp_end", 0x1000)]);
        let e = elf_to_flat(&elf, End::Symbol("__hyp_end")).unwrap_err();
        assert!(
            e.to_string().contains("below every loadable segment"),
            "{e}"
        );
    }

    #[test]
    fn elf32_works_too() {
        let elf = make_elf_class(
            false,
            &[
                TestSeg::new(0x10_0000, &[1, 2], 2),
                TestSeg::new(0x10_0010, &[3], 4),
            ],
            &[("__hyp_end", 0x10_1000)],
        );
        assert_eq!(&elf[..5], b"\x7fELF\x01", "a 32-bit ELF");
        let f = elf_to_flat(&elf, End::AllSegments).unwrap();
        assert_eq!(f.base, 0x10_0000);
        assert_eq!(
            f.bytes,
            [1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]
        );
        let f = elf_to_flat(&elf, End::Symbol("__hyp_end")).unwrap();
        assert_eq!(f.bytes.len(), 0x1000);
    }

    #[test]
    fn rejects_bad_inputs() {
        let e = elf_to_flat(b"just some text", End::AllSegments).unwrap_err();
        assert!(e.to_string().contains("not an ELF file"), "{e}");
        let e = elf_to_flat(&make_elf(&[], &[]), End::AllSegments).unwrap_err();
        assert!(e.to_string().contains("no loadable"), "{e}");
        let overlap = make_elf(
            &[
                TestSeg::new(BASE, &[1; 0x20], 0x20),
                TestSeg::new(BASE + 0x10, &[2], 1),
            ],
            &[],
        );
        let e = elf_to_flat(&overlap, End::AllSegments).unwrap_err();
        assert!(e.to_string().contains("overlap"), "{e}");
        let far = make_elf(
            &[
                TestSeg::new(BASE, &[1], 1),
                TestSeg::new(BASE + (1 << 32), &[2], 1),
            ],
            &[],
        );
        let e = elf_to_flat(&far, End::AllSegments).unwrap_err();
        assert!(e.to_string().contains("placed far from the others"), "{e}");
        // A truncated file: the segment's bytes are cut off.
        let mut cut = make_elf(&[TestSeg::new(BASE, &[3; 0x400], 0x400)], &[]);
        let ph_off = 64; // e_phoff of our writer: right after the file header.
        let seg_off = u64::from_le_bytes(cut[ph_off + 8..ph_off + 16].try_into().unwrap());
        cut.truncate(seg_off as usize + 0x10);
        assert!(elf_to_flat(&cut, End::AllSegments).is_err());
    }
}
