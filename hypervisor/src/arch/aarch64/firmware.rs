//! The board's firmware interface from EL2: PSCI over SMCCC (`smc #0`) where
//! the board has it, else the board's own power controller (see
//! `board::Firmware`). The board data picks one at boot.

use crate::board::Firmware;

const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
const PSCI_SYSTEM_RESET: u64 = 0x8400_0009;
/// PSCI's NOT_SUPPORTED, for a board without it.
pub const NOT_SUPPORTED: u64 = -1i64 as u64;

static FIRMWARE: spin::Once<Firmware> = spin::Once::new();

pub fn init(f: Firmware) {
    FIRMWARE.call_once(|| f);
}

/// Whether the board answers PSCI (an SMC on a board without EL3
/// firmware never returns).
pub fn has_psci() -> bool {
    matches!(FIRMWARE.get(), Some(Firmware::ArmPsciSmc))
}

/// One SMCCC call through `smc #0`; returns x0..x3. Only on a board with
/// PSCI: anywhere else it answers NOT_SUPPORTED without trying.
pub fn smc(args: [u64; 4]) -> [u64; 4] {
    if !has_psci() {
        return [NOT_SUPPORTED, 0, 0, 0];
    }
    let (mut r0, mut r1, mut r2, mut r3) = (args[0], args[1], args[2], args[3]);
    // SAFETY: an SMCCC call; the firmware may clobber x0-x17 (SMCCC 1.1),
    // which are all declared, and touches no memory of ours.
    unsafe {
        core::arch::asm!(
            "smc #0",
            inout("x0") r0, inout("x1") r1, inout("x2") r2, inout("x3") r3,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _,
            options(nostack),
        );
    }
    [r0, r1, r2, r3]
}

/// One SMCCC 1.2 call through `smc #0` with x0..x17 in and out (FF-A).
/// Only on a board with PSCI, like `smc`.
pub fn smc18(args: &[u64; 18]) -> [u64; 18] {
    if !has_psci() {
        let mut r = [0; 18];
        r[0] = NOT_SUPPORTED;
        return r;
    }
    let mut x = *args;
    // SAFETY: an SMCCC 1.2 call: x0-x17 are arguments and results, all
    // declared; the firmware touches no memory of ours except the RX/TX
    // pages and shared pages the mediator handed it.
    unsafe {
        core::arch::asm!(
            "smc #0",
            inout("x0") x[0], inout("x1") x[1], inout("x2") x[2], inout("x3") x[3],
            inout("x4") x[4], inout("x5") x[5], inout("x6") x[6], inout("x7") x[7],
            inout("x8") x[8], inout("x9") x[9], inout("x10") x[10], inout("x11") x[11],
            inout("x12") x[12], inout("x13") x[13], inout("x14") x[14], inout("x15") x[15],
            inout("x16") x[16], inout("x17") x[17],
            options(nostack),
        );
    }
    x
}

fn bcm2835_reset(pm: u64, halt: bool) -> u64 {
    // SAFETY: the board's power-management block, in a mapped device
    // window; the machine stops right after.
    let block = unsafe { crate::drivers::bcm2835_pm::PowerManagement::new(pm as usize) };
    block.reset(halt);
    // The reset takes a moment; it is not a refusal.
    loop {
        aarch64_cpu::asm::wfe();
    }
}

/// Power the board off. Returns only if the firmware refused.
pub fn system_off() -> u64 {
    match FIRMWARE.get() {
        Some(Firmware::SpinTableBcm2835Pm { pm }) => bcm2835_reset(*pm, true),
        _ => smc([PSCI_SYSTEM_OFF, 0, 0, 0])[0],
    }
}

/// Reset the board. Returns only if the firmware refused.
pub fn system_reset() -> u64 {
    match FIRMWARE.get() {
        Some(Firmware::SpinTableBcm2835Pm { pm }) => bcm2835_reset(*pm, false),
        _ => smc([PSCI_SYSTEM_RESET, 0, 0, 0])[0],
    }
}
