//! Started by UEFI firmware as an EFI application (the image's PE/COFF
//! view, see `head.rs`). UEFI enters with the MMU and caches on (its
//! identity map), at EL2 when the machine has virtualization, x0 = image
//! handle, x1 = system table.
//!
//! 1. `halyard_efi_entry` (assembly, position-independent): if the firmware
//!    did not load the image at its link address, allocate that address
//!    (AllocatePages, AllocateAddress), copy the loaded image there and
//!    continue in the copy. This part is assembly because nothing else can
//!    run before it: the Rust code is linked for one address and may hold
//!    absolute addresses (vtables, literal pools), and the `uefi` crate
//!    keeps the system table in a static, which would be the wrong copy.
//! 2. `halyard_efi_main` (Rust, at the link address, on the firmware's
//!    stack, with the `uefi` crate): find the device tree in the
//!    configuration table, exit boot services (the crate fetches the
//!    memory map and retries once on a stale map key, as Linux does),
//!    reduce the memory map to the RAM the OS owns (`boot::uefi`) and
//!    leave it in [`HANDOFF`].
//! 3. `halyard_efi_leave` (assembly): clean the image and the DTB to the
//!    point of coherency (the ordinary entry runs with caches off and must
//!    see them), turn the MMU and caches off and enter the Linux boot
//!    protocol entry with x0 = DTB, as if a Linux loader had started us.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::fmt::Write;

use aarch64_cpu::registers::{CurrentEL, Readable};
use uefi::mem::memory_map::MemoryMap;
use uefi::{guid, Guid, Handle, Status};

use super::cache;
use crate::boot::uefi::{Descriptor, Handoff, UefiMemory, HANDOFF_MAGIC};

/// EFI_DTB_TABLE_GUID: the configuration table entry holding the device tree.
const DTB_TABLE_GUID: Guid = guid!("b1b621d5-f19c-41a5-830b-d9152c69aae0");
const DTB_MAGIC: u32 = 0xd00d_feed;

core::arch::global_asm!(
    r#"
    .section .text.efi, "ax"
    .global halyard_efi_entry
halyard_efi_entry:
    stp     x29, x30, [sp, #-32]!
    mov     x29, sp
    stp     x19, x20, [sp, #16]
    mov     x19, x0                 // image handle
    mov     x20, x1                 // system table
    adr     x9, _start              // where the firmware put us
    ldr     x10, =_start            // where we are linked
    mov     x2, #1                  // loaded in place
    cmp     x9, x10
    b.eq    2f
    // Ask for the link address: BootServices->AllocatePages(AllocateAddress,
    // EfiLoaderCode, pages, &address). Offsets from the UEFI specification:
    // EFI_SYSTEM_TABLE.BootServices at 96, EFI_BOOT_SERVICES.AllocatePages at 40.
    ldr     x11, [x20, #96]
    ldr     x11, [x11, #40]
    ldr     x12, [x9, #16]          // the Image header's image_size: everything
    str     x10, [sp, #-16]!
    mov     x0, #2                  // AllocateAddress
    mov     x1, #1                  // EfiLoaderCode
    add     x2, x12, #0xfff
    lsr     x2, x2, #12
    mov     x3, sp
    blr     x11
    add     sp, sp, #16
    cbnz    x0, 9f                  // taken: return the firmware's status
    adr     x9, _start
    ldr     x10, =_start
    ldr     x12, [x9, #16]
    mov     x13, x10
    add     x12, x10, x12           // end of the copy
1:  ldp     x14, x15, [x9], #16     // both regions are whole pages: the
    stp     x14, x15, [x13], #16    // last 16 bytes may run past image_size
    cmp     x13, x12
    b.lo    1b
    // Make the copy visible to instruction fetch.
    mov     x13, x10
3:  dc      cvau, x13
    add     x13, x13, #64
    cmp     x13, x12
    b.lo    3b
    dsb     ish
    ic      iallu
    dsb     ish
    isb
    mov     x2, #0                  // copied
2:  mov     x0, x19
    mov     x1, x20
    ldr     x9, =halyard_efi_main   // the copy at the link address
    blr     x9
9:  ldp     x19, x20, [sp, #16]
    ldp     x29, x30, [sp], #32
    ret
    .ltorg

    // halyard_efi_leave(dtb): boot services are gone, the image and DTB are
    // clean to PoC. MMU and caches off, then the ordinary entry.
    .global halyard_efi_leave
halyard_efi_leave:
    msr     daifset, #0xf
    mov     x19, x0
    mrs     x1, sctlr_el2
    bic     x1, x1, #1              // M: MMU off
    bic     x1, x1, #4              // C: data cache off
    bic     x1, x1, #0x1000         // I: instruction cache off
    msr     sctlr_el2, x1
    isb
    ic      iallu
    tlbi    alle2
    dsb     nsh
    isb
    // The hypervisor's EL2 state as after a reset (as under QEMU -kernel):
    // whatever the firmware set (E2H, TGE...) must not change how EL2
    // registers behave before the hypervisor programs HCR_EL2 itself.
    msr     hcr_el2, xzr
    isb
    mov     x0, x19
    b       halyard_primary_entry
"#
);

unsafe extern "C" {
    fn halyard_efi_leave(dtb: u64) -> !;
    static _start: u8;
}

/// The hand-off record, in initialised data so the ordinary entry's BSS
/// clearing keeps it.
#[repr(transparent)]
pub struct HandoffCell(UnsafeCell<Handoff>);

// SAFETY: written only by `halyard_efi_main` on the boot CPU before any
// other CPU runs, and only read afterwards.
unsafe impl Sync for HandoffCell {}

#[unsafe(link_section = ".data.halyard_uefi_handoff")]
pub static HANDOFF: HandoffCell = HandoffCell(UnsafeCell::new(Handoff::empty()));

/// What the EFI entry left (an empty record when not started by UEFI).
pub fn handoff() -> Handoff {
    // SAFETY: see `HandoffCell`; a plain read of initialised data.
    unsafe { core::ptr::read_volatile(HANDOFF.0.get()) }
}

fn say(msg: &str) {
    uefi::system::with_stdout(|out| {
        // Nothing useful to do if the firmware console fails.
        let _ = out.write_str(msg);
    });
}

fn find_dtb() -> Option<u64> {
    uefi::system::with_config_table(|entries| {
        entries
            .iter()
            .find(|e| e.guid == DTB_TABLE_GUID)
            .map(|e| e.address as u64)
    })
}

/// Step 2 (see the module comment). Returns only on failure, with boot
/// services still active, to the firmware.
#[unsafe(no_mangle)]
extern "C" fn halyard_efi_main(image: *mut c_void, st: *const c_void, in_place: u64) -> Status {
    let entered_us = super::boot::now_us();
    // SAFETY: the firmware passed its live system table and our image
    // handle; the crate keeps them for its boot-services wrappers.
    unsafe {
        uefi::table::set_system_table(st.cast());
        let Some(handle) = Handle::from_ptr(image) else {
            return Status::INVALID_PARAMETER;
        };
        uefi::boot::set_image_handle(handle);
    }
    let el = ((CurrentEL.get() >> 2) & 3) as u8;
    if el != 2 {
        say(
            "Halyard: UEFI started us at EL1; the hypervisor needs EL2 (enable virtualization)\r\n",
        );
        return Status::UNSUPPORTED;
    }
    let Some(dtb) = find_dtb() else {
        say("Halyard: the firmware provides no device tree (EFI_DTB_TABLE_GUID)\r\n");
        return Status::NOT_FOUND;
    };
    if dtb == 0 || !dtb.is_multiple_of(8) {
        say("Halyard: the firmware's device tree table entry is not a device tree address\r\n");
        return Status::LOAD_ERROR;
    }
    // SAFETY: the firmware's DTB configuration table points to a blob; its
    // header (8-byte aligned, checked) is read before its size is trusted.
    let (magic, dtb_size) = unsafe {
        let p = dtb as *const u32;
        (
            u32::from_be(p.read_volatile()),
            u32::from_be(p.add(1).read_volatile()),
        )
    };
    if magic != DTB_MAGIC {
        say("Halyard: the firmware's device tree table does not hold a device tree\r\n");
        return Status::LOAD_ERROR;
    }
    say("Halyard: exiting UEFI boot services\r\n");

    // SAFETY: nothing of boot services is used after this: no protocols,
    // no pool memory (the map's buffer is forgotten, not freed).
    let map = unsafe { uefi::boot::exit_boot_services(None) };
    let exited_us = super::boot::now_us();
    let memory = UefiMemory::from_descriptors(map.entries().map(|d| Descriptor {
        ty: d.ty.0,
        base: d.phys_start,
        pages: d.page_count,
    }));
    core::mem::forget(map);
    let record = Handoff {
        magic: HANDOFF_MAGIC,
        // An unreadable map leaves no usable memory: the boot path stops.
        memory: memory.unwrap_or_default(),
        entry_el: el,
        entered_us,
        exited_us,
        loaded_in_place: in_place != 0,
    };
    // SAFETY: see `HandoffCell`: the boot CPU, before anything reads it.
    unsafe { core::ptr::write_volatile(HANDOFF.0.get(), record) };

    let start = core::ptr::addr_of!(_start) as u64;
    // SAFETY: our own image header (offset 16: image_size, which covers the
    // hypervisor and everything appended).
    let image_size = unsafe { core::ptr::read_volatile((start + 16) as *const u64) };
    cache::clean_invalidate_range(start as usize, (start + image_size) as usize);
    cache::clean_invalidate_range(dtb as usize, (dtb + u64::from(dtb_size)) as usize);
    // SAFETY: boot services are gone and the image and DTB are in memory;
    // the ordinary entry takes over from here.
    unsafe { halyard_efi_leave(dtb) }
}
