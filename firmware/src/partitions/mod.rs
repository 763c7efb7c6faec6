//! The test partitions. SP1 and SP2 run at S-EL1 (entered by the SPMC with
//! ERET, MMU on with the firmware's identity tables, own stacks and RX/TX
//! buffers in secure RAM) and talk to the SPMC only through SMCs; the
//! logical partitions are served inside EL3.

pub mod logical;
pub mod protocol;
mod retrieve;
mod sel1;
mod sp1;
mod sp2;

use crate::platform::MAX_CPUS;
use crate::spmc::partitions::SEL1_COUNT;

/// Stack per S-EL1 execution context.
const STACK_SIZE: usize = 16 * 1024;

core::arch::global_asm!(
    r#"
    .section .bss.partition_stacks, "aw", %nobits
    .balign 16
partition_stacks:
    .space {stack_size} * {max_cpus} * {slots}

    .section .bss.partition_buffers, "aw", %nobits
    .balign 4096
    .global partition_buffers
partition_buffers:
    .space 4096 * 2 * {slots}

    .macro sel1_vector id
    .balign 128
    mov     x1, #\id
    b       sel1_crash
    .endm

    .section .text.sel1_vectors, "ax"
    .balign 2048
sel1_vectors:
    sel1_vector 0
    sel1_vector 1
    sel1_vector 2
    sel1_vector 3
    sel1_vector 4
    sel1_vector 5
    sel1_vector 6
    sel1_vector 7
    sel1_vector 8
    sel1_vector 9
    sel1_vector 10
    sel1_vector 11
    sel1_vector 12
    sel1_vector 13
    sel1_vector 14
    sel1_vector 15
// A partition must never take an exception: report it to the SPMC.
sel1_crash:
    ldr     x0, ={crashed}
    mrs     x2, esr_el1
    mrs     x3, elr_el1
    mrs     x4, far_el1
    smc     #0
    b       .
"#,
    stack_size = const STACK_SIZE,
    max_cpus = const MAX_CPUS,
    slots = const SEL1_COUNT,
    crashed = const crate::spmc::abi::HALYARD_SP_CRASHED,
);

extern "C" {
    static partition_stacks: u8;
    static partition_buffers: u8;
    static sel1_vectors: u8;
}

/// Where the SPMC starts each S-EL1 partition (x0 = execution context index).
pub fn entry_point(slot: usize) -> u64 {
    match slot {
        0 => sp1::entry as *const () as u64,
        _ => sp2::entry as *const () as u64,
    }
}

pub fn stack_top(slot: usize, index: usize) -> u64 {
    let base = core::ptr::addr_of!(partition_stacks) as u64;
    base + ((slot * MAX_CPUS + index + 1) * STACK_SIZE) as u64
}

pub fn vectors_address() -> u64 {
    core::ptr::addr_of!(sel1_vectors) as u64
}

/// A partition's (TX, RX) pages in secure RAM.
pub fn buffers(slot: usize) -> (u64, u64) {
    let base = core::ptr::addr_of!(partition_buffers) as u64 + (slot as u64) * 2 * 4096;
    (base, base + 4096)
}
