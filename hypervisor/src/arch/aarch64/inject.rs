//! Injecting synchronous exceptions into the guest at EL1: the guest's own
//! vectors handle its faults, the hypervisor never does. A fault raised
//! inside those vectors is not injected (it would loop): the vCPU is
//! stopped instead (`domain::fault_policy`).

use aarch64_cpu::registers::*;

use super::vectors::TrapFrame;
use crate::domain::fault_policy::no_forward_progress;

const EC_UNKNOWN: u64 = 0x00;
const EC_IABT_LOWER: u64 = 0x20;
const EC_IABT_CUR: u64 = 0x21;
const EC_DABT_LOWER: u64 = 0x24;
const EC_DABT_CUR: u64 = 0x25;
const IL: u64 = 1 << 25;
/// Fault status: synchronous external abort, not on a table walk.
const FSC_EXTERNAL: u64 = 0x10;
/// SPSR for entering the guest's vector: EL1h, DAIF masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;

/// Offset into VBAR_EL1 for a synchronous exception taken from `spsr`'s mode.
fn vector_offset(spsr: u64) -> u64 {
    if spsr & (1 << 4) != 0 {
        return 0x600; // from AArch32 EL0
    }
    match spsr & 0xf {
        0b0000 => 0x400, // EL0t: lower EL, AArch64
        0b0100 => 0x000, // EL1t: current EL, SP_EL0
        _ => 0x200,      // EL1h: current EL, SP_ELx
    }
}

fn from_el0(spsr: u64) -> bool {
    spsr & 0xf == 0 || spsr & (1 << 4) != 0
}

fn inject(frame: &mut TrapFrame, what: &str, esr: u64, far: Option<u64>) {
    let vbar = VBAR_EL1.get();
    if no_forward_progress(frame.elr, vbar) {
        super::vcpu::stop_no_progress(what, frame.elr, vbar);
    }
    ELR_EL1.set(frame.elr);
    SPSR_EL1.set(frame.spsr);
    ESR_EL1.set(esr);
    if let Some(far) = far {
        FAR_EL1.set(far);
    }
    frame.elr = vbar + vector_offset(frame.spsr);
    frame.spsr = SPSR_EL1H_MASKED;
}

/// A data abort at guest virtual address `far`.
pub fn data_abort(frame: &mut TrapFrame, far: u64) {
    let ec = if from_el0(frame.spsr) {
        EC_DABT_LOWER
    } else {
        EC_DABT_CUR
    };
    inject(
        frame,
        "data abort",
        (ec << 26) | IL | FSC_EXTERNAL,
        Some(far),
    );
}

/// A prefetch (instruction) abort at `far`.
pub fn prefetch_abort(frame: &mut TrapFrame, far: u64) {
    let ec = if from_el0(frame.spsr) {
        EC_IABT_LOWER
    } else {
        EC_IABT_CUR
    };
    inject(
        frame,
        "instruction abort",
        (ec << 26) | IL | FSC_EXTERNAL,
        Some(far),
    );
}

/// An undefined instruction at the guest's current PC.
pub fn undefined(frame: &mut TrapFrame) {
    inject(
        frame,
        "undefined instruction",
        (EC_UNKNOWN << 26) | IL,
        None,
    );
}
