//! EL2 exception vectors. Every exception saves the interrupted context
//! (guest or hypervisor) as a `TrapFrame` on the EL2 stack, calls
//! `halyard_trap`, and returns with ERET from the (possibly edited) frame.

/// Saved general registers and return state; layout shared with the asm.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    _pad: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 272);

impl TrapFrame {
    pub const ZERO: Self = TrapFrame {
        x: [0; 31],
        elr: 0,
        spsr: 0,
        _pad: 0,
    };
}

/// Which vector was taken (the `kind` argument of `halyard_trap`).
pub mod kind {
    pub const CURRENT_SYNC: u64 = 0;
    pub const CURRENT_IRQ: u64 = 1;
    pub const CURRENT_SERROR: u64 = 3;
    pub const LOWER_SYNC: u64 = 4;
    pub const LOWER_IRQ: u64 = 5;
    pub const LOWER_FIQ: u64 = 6;
    pub const LOWER_SERROR: u64 = 7;
    pub const AARCH32: u64 = 8;
}

core::arch::global_asm!(
    r#"
    .macro ventry kind
    .balign 0x80
    sub     sp, sp, #272
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       halyard_save_and_trap
    .endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global halyard_el2_vectors
halyard_el2_vectors:
    ventry 0    // current EL, SP_EL0: never used at EL2
    ventry 1
    ventry 2
    ventry 3
    ventry 0    // current EL, SP_ELx: a hypervisor fault
    ventry 1
    ventry 2
    ventry 3
    ventry 4    // lower EL, AArch64: the guest
    ventry 5
    ventry 6
    ventry 7
    ventry 8    // lower EL, AArch32: not supported
    ventry 8
    ventry 8
    ventry 8

    // The rest lives apart from the table, which fills its 2 KiB exactly
    // (linker scripts may place the table in the image's first page).
    .section .text.trap, "ax"
halyard_save_and_trap:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x1, elr_el2
    stp     x30, x1, [sp, #240]
    mrs     x1, spsr_el2
    str     x1, [sp, #256]
    mov     x1, sp
    bl      halyard_trap
    b       halyard_restore_and_eret

    // sp points at a TrapFrame: load it and return to it.
    .global halyard_restore_and_eret
halyard_restore_and_eret:
    ldr     x1, [sp, #256]
    msr     spsr_el2, x1
    ldp     x30, x1, [sp, #240]
    msr     elr_el2, x1
    ldp     x28, x29, [sp, #224]
    ldp     x26, x27, [sp, #208]
    ldp     x24, x25, [sp, #192]
    ldp     x22, x23, [sp, #176]
    ldp     x20, x21, [sp, #160]
    ldp     x18, x19, [sp, #144]
    ldp     x16, x17, [sp, #128]
    ldp     x14, x15, [sp, #112]
    ldp     x12, x13, [sp, #96]
    ldp     x10, x11, [sp, #80]
    ldp     x8, x9, [sp, #64]
    ldp     x6, x7, [sp, #48]
    ldp     x4, x5, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #272
    eret

    // halyard_enter(frame, stack_top): drop the current stack, copy the
    // frame to its top and return into it.
    .global halyard_enter
halyard_enter:
    sub     sp, x1, #272
    mov     x2, #0
5:  ldr     x3, [x0, x2]
    str     x3, [sp, x2]
    add     x2, x2, #8
    cmp     x2, #272
    b.lo    5b
    b       halyard_restore_and_eret
"#
);

unsafe extern "C" {
    fn halyard_enter(frame: *const TrapFrame, stack_top: usize) -> !;
}

/// Abandon the current call stack and start executing `frame` (at a lower
/// exception level) with the EL2 stack reset to `stack_top`.
///
/// # Safety
/// `frame` must not lie inside the stack being reset, `stack_top` must be
/// this CPU's EL2 stack top, and the EL1/EL2 state for the target must be
/// fully set up.
pub unsafe fn enter(frame: &TrapFrame, stack_top: usize) -> ! {
    // SAFETY: forwarded from this function's contract.
    unsafe { halyard_enter(frame, stack_top) }
}
