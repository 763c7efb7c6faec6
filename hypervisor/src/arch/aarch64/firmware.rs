//! Calls from EL2 to the firmware (EL3) over SMCCC: PSCI power control.

const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
const PSCI_SYSTEM_RESET: u64 = 0x8400_0009;

/// One SMCCC call through `smc #0`; returns x0..x3.
pub fn smc(args: [u64; 4]) -> [u64; 4] {
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

/// Power the board off. Returns only if the firmware refused.
pub fn system_off() -> u64 {
    smc([PSCI_SYSTEM_OFF, 0, 0, 0])[0]
}

/// Reset the board. Returns only if the firmware refused.
pub fn system_reset() -> u64 {
    smc([PSCI_SYSTEM_RESET, 0, 0, 0])[0]
}
