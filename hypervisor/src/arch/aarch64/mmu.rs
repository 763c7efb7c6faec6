//! The hypervisor's own address space: an EL2 stage-1 identity map with
//! the image W^X (text RX, rodata RO, data RW), RAM RW non-executable and the
//! board's device windows as device memory.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::*;

use crate::board::PhysRange;
use crate::mm::page_table::{
    Attrs, DescriptorFormat, MapError, MemType, PageTable, Perms, TableMemory,
};

use super::vmsa::{TABLE_OR_PAGE, VALID};

const ATTR_NORMAL: u64 = 0 << 2;
const ATTR_DEVICE: u64 = 1 << 2;
/// AP[1] is RES1 in the non-VHE EL2 regime; AP[2] makes it read-only.
const AP_RES1: u64 = 1 << 6;
const AP_RO: u64 = 1 << 7;
const SH_INNER: u64 = 3 << 8;
const AF: u64 = 1 << 10;
const XN: u64 = 1 << 54;

/// MAIR_EL2: attr0 normal write-back, attr1 Device-nGnRE.
const MAIR: u64 = 0xff | (0x04 << 8);

pub struct El2Format;

impl DescriptorFormat for El2Format {
    fn leaf(level: usize, pa: u64, a: Attrs) -> u64 {
        let mut d = pa | VALID | AF | AP_RES1;
        d |= if level == 3 { TABLE_OR_PAGE } else { 0 };
        d |= match a.mem {
            MemType::Normal => ATTR_NORMAL | SH_INNER,
            MemType::Device => ATTR_DEVICE,
        };
        if !a.perms.write {
            d |= AP_RO;
        }
        if !a.perms.exec || a.mem == MemType::Device {
            d |= XN;
        }
        d
    }
    super::vmsa::vmsa_common_methods!();
}

/// Physical-address size this CPU supports, as the PS/PARange encoding
/// (capped at 48 bits: 52-bit output needs formats we do not use).
pub fn pa_range() -> (u64, u32) {
    let enc = (ID_AA64MMFR0_EL1.get() & 0xf).min(5);
    let bits = [32, 36, 40, 42, 44, 48][enc as usize];
    (enc, bits)
}

/// The hypervisor image's sections, from the BSP linker script.
#[derive(Clone, Copy, Debug)]
pub struct ImageSections {
    pub text: PhysRange,
    pub rodata: PhysRange,
    pub data: PhysRange,
}

/// Build the EL2 identity map: `image` W^X, `ram` banks (minus the image)
/// RW+XN, `devices` as device memory.
pub fn build(
    mem: &mut dyn TableMemory,
    image: ImageSections,
    ram: &[PhysRange],
    devices: &[PhysRange],
) -> Result<PageTable, MapError> {
    let pt = PageTable::new(mem, 0)?;
    let map = |mem: &mut dyn TableMemory, r: PhysRange, mem_type, perms| {
        if r.size == 0 {
            return Ok(());
        }
        pt.map::<El2Format>(
            mem,
            r.base,
            r.base,
            r.size,
            Attrs {
                mem: mem_type,
                perms,
            },
        )
    };
    map(mem, image.text, MemType::Normal, Perms::RX)?;
    map(mem, image.rodata, MemType::Normal, Perms::RO)?;
    map(mem, image.data, MemType::Normal, Perms::RW)?;
    let (img_start, img_end) = (image.text.base, image.data.end());
    for bank in ram {
        let base = crate::mm::frames::align_up(bank.base, 4096);
        let end = crate::mm::frames::align_down(bank.end(), 4096);
        let pieces = [(base, end.min(img_start)), (base.max(img_end), end)];
        for (s, e) in pieces {
            if e > s {
                map(mem, PhysRange::new(s, e - s), MemType::Normal, Perms::RW)?;
            }
        }
    }
    for d in devices {
        map(mem, *d, MemType::Device, Perms::RW)?;
    }
    Ok(pt)
}

/// Turn the EL2 MMU and caches on with `pt`.
///
/// # Safety
/// `pt` must identity-map everything the hypervisor touches from here on
/// (code, stack, data, devices), and its tables must be visible to the
/// table walker (written with the MMU off and invalidated, or cleaned).
pub unsafe fn enable(pt: &PageTable) {
    let (ps, _) = pa_range();
    // T0SZ=16 (48-bit VA), inner/outer write-back walks, inner shareable,
    // 4 KiB granule, RES1 bits 31 and 23.
    let tcr = 16 | (1 << 8) | (1 << 10) | (3 << 12) | (ps << 16) | (1 << 23) | (1 << 31);
    MAIR_EL2.set(MAIR);
    TCR_EL2.set(tcr);
    TTBR0_EL2.set(pt.root);
    barrier::isb(barrier::SY);
    // SAFETY: drops stale EL2 translations and instructions; nothing else.
    unsafe {
        core::arch::asm!(
            "tlbi alle2",
            "dsb nsh",
            "ic iallu",
            "dsb nsh",
            "isb",
            options(nostack)
        )
    };
    // RES1 bits | M | C | SA | I | WXN (writable implies never-execute).
    let sctlr = 0x30c5_0830u64 | 1 | (1 << 2) | (1 << 3) | (1 << 12) | (1 << 19);
    SCTLR_EL2.set(sctlr);
    barrier::isb(barrier::SY);
}
