//! Hand-off to the normal world per the Linux arm64 boot protocol: the image
//! QEMU placed at 0x40200000 is entered at EL2h with x0 = DTB (0x40000000),
//! after the DTB has gained its /psci node.

use crate::console::fwprintln;
use crate::dtb_psci::{self, Outcome};
use crate::platform::{NS_DTB_BASE, NS_IMAGE_BASE};
use crate::{psci, spmc};

/// The DTB may grow into the gap up to the image.
const DTB_WINDOW: usize = (NS_IMAGE_BASE - NS_DTB_BASE) as usize;
const IMAGE_MAGIC_OFFSET: usize = 0x38;
const IMAGE_MAGIC: u32 = 0x644d_5241; // "ARM\x64"

pub fn boot_normal_world() -> ! {
    check_image();
    // SAFETY: normal-world RAM from 0x40000000 to the image is mapped (NS,
    // read-write) in the EL3 tables; the normal world is not running yet, so
    // the firmware is the only user of the DTB's memory.
    let dtb = unsafe { core::slice::from_raw_parts_mut(NS_DTB_BASE as *mut u8, DTB_WINDOW) };
    match dtb_psci::add_psci_node(dtb) {
        Ok(Outcome::Added { new_size }) => {
            fwprintln!("dtb: added /psci (method smc), DTB now {} bytes", new_size)
        }
        Ok(Outcome::AlreadyPresent) => fwprintln!("dtb: /psci already present, left alone"),
        Err(why) => fwprintln!("dtb: could not add /psci: {}", why),
    }
    fwprintln!(
        "entering normal world at EL2h {:#x}, x0 = DTB {:#x}",
        NS_IMAGE_BASE,
        NS_DTB_BASE
    );
    psci::prepare_normal_world(NS_IMAGE_BASE, [NS_DTB_BASE, 0, 0, 0]);
    spmc::start_partitions_then_normal_world()
}

/// Normal-world RAM size from QEMU's DTB (0 if it cannot be read).
pub fn normal_world_ram_size() -> u64 {
    // SAFETY: as in `boot_normal_world`; read-only and before the normal
    // world runs.
    let dtb = unsafe { core::slice::from_raw_parts(NS_DTB_BASE as *const u8, DTB_WINDOW) };
    dtb_psci::normal_world_ram_size(dtb).unwrap_or(0)
}

fn check_image() {
    let base = NS_IMAGE_BASE as *const u32;
    // SAFETY: the image's header lies in mapped normal-world RAM; aligned reads.
    let (magic, text_offset) = unsafe {
        (
            core::ptr::read_volatile(base.add(IMAGE_MAGIC_OFFSET / 4)),
            core::ptr::read_volatile((NS_IMAGE_BASE + 8) as *const u64),
        )
    };
    if magic != IMAGE_MAGIC {
        fwprintln!(
            "warning: no arm64 Image magic at {:#x}, entering anyway",
            NS_IMAGE_BASE
        );
    } else if !(NS_IMAGE_BASE - text_offset).is_multiple_of(0x20_0000) {
        // The Image wants a 2 MiB-aligned base + text_offset.
        fwprintln!(
            "warning: Image text_offset {:#x} does not fit {:#x}",
            text_offset,
            NS_IMAGE_BASE
        );
    }
}
