//! EL3 exception vectors and the one way back to a lower EL.
//!
//! Every lower-EL synchronous exception (SMC from the normal world or from a
//! secure partition) stores the full general-purpose register file, ELR,
//! SPSR and SCR into the *current context's frame* (pointed to by the first
//! word of this CPU's `CpuLocal`, found through TPIDR_EL3), runs the Rust
//! handler on a fresh EL3 stack, and then leaves through `el3_exit`, which
//! loads whatever frame is current *now*. A world switch is therefore just
//! "point the CPU at another frame" (plus the EL1 system registers, which
//! the Rust side swaps).

use super::context::Frame;
use core::mem::offset_of;

core::arch::global_asm!(
    r#"
    .macro unexpected_vector id
    .balign 128
    mov     x0, #\id
    b       el3_unexpected
    .endm

    .section .text.vectors, "ax"
    .balign 2048
    .global el3_vectors
el3_vectors:
    unexpected_vector 0
    unexpected_vector 1
    unexpected_vector 2
    unexpected_vector 3
    unexpected_vector 4
    unexpected_vector 5
    unexpected_vector 6
    unexpected_vector 7
    .balign 128
    b       el3_lower_sync
    unexpected_vector 9
    unexpected_vector 10
    unexpected_vector 11
    unexpected_vector 12
    unexpected_vector 13
    unexpected_vector 14
    unexpected_vector 15

el3_lower_sync:
    sub     sp, sp, #16
    stp     x0, x1, [sp]
    mrs     x0, tpidr_el3
    ldr     x0, [x0]
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    stp     x18, x19, [x0, #144]
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
    str     x30, [x0, #240]
    ldp     x2, x3, [sp]
    stp     x2, x3, [x0]
    mrs     x2, elr_el3
    mrs     x3, spsr_el3
    stp     x2, x3, [x0, #{elr}]
    mrs     x2, scr_el3
    str     x2, [x0, #{scr}]
    add     sp, sp, #16
    bl      {handler}
    b       el3_exit

    .global el3_exit
el3_exit:
    mrs     x0, tpidr_el3
    ldr     x1, [x0, #8]
    mov     sp, x1
    ldr     x0, [x0]
    ldp     x2, x3, [x0, #{elr}]
    msr     elr_el3, x2
    msr     spsr_el3, x3
    ldr     x2, [x0, #{scr}]
    msr     scr_el3, x2
    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0]
    eret

el3_unexpected:
    bl      {unexpected}
    b       .
"#,
    elr = const offset_of!(Frame, elr),
    scr = const offset_of!(Frame, scr),
    handler = sym super::dispatch::el3_lower_sync_handler,
    unexpected = sym super::dispatch::el3_unexpected_exception,
);

extern "C" {
    fn el3_exit() -> !;
}

/// Leaves EL3 into the context this CPU currently points at.
pub fn exit_to_current() -> ! {
    // SAFETY: the caller has pointed this CPU's `CpuLocal` at a fully
    // initialised frame; `el3_exit` resets the stack and never returns.
    unsafe { el3_exit() }
}
