//! Entry (arm64 Image header, stack, BSS, vectors) and the guest's own
//! exception vector, which records synchronous exceptions and steps over
//! the faulting instruction. The MMU stays off, so memory is Device-typed:
//! no atomics here, only volatile accesses to plain statics.

use core::ptr::{addr_of, addr_of_mut};

core::arch::global_asm!(
    r#"
    .section .text.head, "ax"
    .global _start
_start:
    b       1f
    .word   0
    .quad   0                   // text_offset
    .quad   __image_size
    .quad   0x2                 // little-endian, 4 KiB pages
    .quad   0, 0, 0
    .ascii  "ARM\x64"
    .word   0
1:  mov     x19, x0
    adrp    x1, __stack_top
    add     x1, x1, :lo12:__stack_top
    mov     sp, x1
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
2:  cmp     x1, x2
    b.hs    3f
    str     xzr, [x1], #8
    b       2b
3:  adrp    x1, guest_vectors
    add     x1, x1, :lo12:guest_vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x19
    bl      guest_main
4:  wfi
    b       4b

    // A secondary vCPU started by PSCI CPU_ON: x0 = context = its stack top.
    .global secondary_entry
secondary_entry:
    mov     sp, x0
    adrp    x1, guest_vectors
    add     x1, x1, :lo12:guest_vectors
    msr     vbar_el1, x1
    isb
    bl      guest_secondary_main
6:  wfi
    b       6b

    // A vCPU that loses its vectors: VBAR_EL1 = 0 (not RAM), then a jump
    // to the GIC's MMIO, which cannot be executed. The abort's vector is
    // at 0x200, which faults again: no forward progress.
    .global vector_loop
vector_loop:
    msr     vbar_el1, xzr
    isb
    mov     x1, #0x8000000
    br      x1

    .macro vent target
    .balign 0x80
    b       \target
    .endm

    .balign 0x800
guest_vectors:
    vent    unexpected      // current EL, SP_EL0
    vent    unexpected
    vent    unexpected
    vent    unexpected
    vent    on_sync         // current EL, SP_ELx: sync
    vent    unexpected
    vent    unexpected
    vent    unexpected
    .rept 8
    vent    unexpected
    .endr

on_sync:
    sub     sp, sp, #160
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x30, [sp, #144]
    bl      guest_on_sync
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x30, [sp, #144]
    add     sp, sp, #160
    eret

unexpected:
    bl      guest_unexpected
5:  wfi
    b       5b
"#
);

static mut SYNC_COUNT: u64 = 0;
static mut LAST_ESR: u64 = 0;
static mut LAST_FAR: u64 = 0;
static mut LAST_ELR: u64 = 0;

#[unsafe(no_mangle)]
extern "C" fn guest_main(dtb: u64) -> ! {
    super::main(dtb)
}

unsafe extern "C" {
    fn secondary_entry();
    fn vector_loop() -> !;
}

/// Where `vector_loop` starts (a CPU_ON entry point).
pub fn vector_loop_entry() -> u64 {
    vector_loop as *const () as u64
}

/// Lose this vCPU's vectors and fault (see the assembly above).
pub fn enter_vector_loop() -> ! {
    // SAFETY: never returns; it only faults, which the hypervisor ends.
    unsafe { vector_loop() }
}

/// Address of the secondary vCPU entry point.
pub fn secondary_entry_point() -> u64 {
    secondary_entry as *const () as u64
}

#[unsafe(no_mangle)]
extern "C" fn guest_secondary_main() -> ! {
    super::secondary_main()
}

#[unsafe(no_mangle)]
extern "C" fn guest_on_sync() {
    let (esr, far, elr): (u64, u64, u64);
    // SAFETY: reading the exception syndrome registers of our own EL1.
    unsafe {
        core::arch::asm!("mrs {}, esr_el1", "mrs {}, far_el1", "mrs {}, elr_el1",
            out(reg) esr, out(reg) far, out(reg) elr, options(nomem, nostack));
    }
    // SAFETY: single CPU, exceptions do not nest here; plain statics.
    unsafe {
        addr_of_mut!(LAST_ESR).write_volatile(esr);
        addr_of_mut!(LAST_FAR).write_volatile(far);
        addr_of_mut!(LAST_ELR).write_volatile(elr);
        let n = addr_of!(SYNC_COUNT).read_volatile();
        addr_of_mut!(SYNC_COUNT).write_volatile(n + 1);
        // Step over the faulting instruction.
        core::arch::asm!("msr elr_el1, {}", in(reg) elr + 4, options(nomem, nostack));
    }
}

#[unsafe(no_mangle)]
extern "C" fn guest_unexpected() {
    panic!("unexpected exception vector taken");
}

pub fn sync_exceptions() -> u64 {
    // SAFETY: plain static, single CPU.
    unsafe { addr_of!(SYNC_COUNT).read_volatile() }
}

pub fn last_exception() -> (u64, u64) {
    // SAFETY: plain statics, single CPU.
    unsafe {
        (
            addr_of!(LAST_ESR).read_volatile(),
            addr_of!(LAST_FAR).read_volatile(),
        )
    }
}

/// Where the last synchronous exception was taken.
pub fn last_elr() -> u64 {
    // SAFETY: plain static, single CPU.
    unsafe { addr_of!(LAST_ELR).read_volatile() }
}
