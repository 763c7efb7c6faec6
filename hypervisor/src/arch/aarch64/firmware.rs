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
