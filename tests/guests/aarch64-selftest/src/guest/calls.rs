//! The calls a guest can make: SMCCC over HVC or SMC, Xen hypercalls.

/// SMCCC call with `hvc #0`; returns x0..x3.
pub fn smccc_hvc(fid: u64) -> [u64; 4] {
    smccc_hvc_args(fid, [0; 3])
}

/// SMCCC call with `hvc #0` and arguments in x1..x3.
pub fn smccc_hvc_args(fid: u64, a: [u64; 3]) -> [u64; 4] {
    let (mut r0, r1, r2, r3): (u64, u64, u64, u64);
    r0 = fid;
    // SAFETY: an SMCCC call to the hypervisor; x0-x17 may be clobbered.
    unsafe {
        core::arch::asm!("hvc #0", inout("x0") r0, inout("x1") a[0] => r1, inout("x2") a[1] => r2,
            inout("x3") a[2] => r3, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
            out("x14") _, out("x15") _, out("x16") _, out("x17") _, options(nostack));
    }
    [r0, r1, r2, r3]
}

/// SMCCC call with `smc #0` (the hypervisor traps it).
pub fn smccc_smc(fid: u64) -> [u64; 4] {
    let (mut r0, r1, r2, r3): (u64, u64, u64, u64);
    r0 = fid;
    // SAFETY: as for `smccc_hvc`.
    unsafe {
        core::arch::asm!("smc #0", inout("x0") r0, inout("x1") 0u64 => r1, inout("x2") 0u64 => r2,
            inout("x3") 0u64 => r3, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
            out("x14") _, out("x15") _, out("x16") _, out("x17") _, options(nostack));
    }
    [r0, r1, r2, r3]
}

/// Xen hypercall `nr` (`hvc #0xEA1`, number in x16); returns x0.
pub fn xen_hypercall(nr: u64, args: [u64; 3]) -> i64 {
    let mut r0 = args[0];
    // SAFETY: a hypercall; the hypervisor reads and writes only the buffers
    // named by the arguments and returns in x0. Xen's debug builds poison
    // x1..x4 and x16 on return, so they are declared clobbered.
    unsafe {
        core::arch::asm!("hvc #0xea1", inout("x0") r0, inout("x1") args[1] => _,
            inout("x2") args[2] => _, out("x3") _, out("x4") _, inout("x16") nr => _,
            options(nostack));
    }
    r0 as i64
}

/// CONSOLEIO_write of `bytes`; returns the hypercall's result.
pub fn console_write(bytes: &[u8]) -> i64 {
    xen_hypercall(18, [0, bytes.len() as u64, bytes.as_ptr() as u64])
}

/// `hvc #0x1234`: neither SMCCC nor Xen; the hypervisor must answer with an
/// undefined-instruction exception into our own vector. Returns the HVC's
/// address, which the exception must report.
pub fn hvc_unknown_immediate() -> u64 {
    let at: u64;
    // SAFETY: our vector steps over the instruction; only `at` is written.
    unsafe {
        core::arch::asm!("adr {at}, 1f", "1: hvc #0x1234", at = out(reg) at, options(nostack))
    };
    at
}

/// An SMCCC 1.2 call with `hvc #0`: x0..x17 in and out (FF-A).
pub fn ffa_call(x: [u64; 18]) -> [u64; 18] {
    let mut r = x;
    // SAFETY: an SMCCC call to the hypervisor; x0-x17 are arguments and
    // results; it touches only memory this guest handed it (RX/TX, shares).
    unsafe {
        core::arch::asm!("hvc #0",
            inout("x0") r[0], inout("x1") r[1], inout("x2") r[2], inout("x3") r[3],
            inout("x4") r[4], inout("x5") r[5], inout("x6") r[6], inout("x7") r[7],
            inout("x8") r[8], inout("x9") r[9], inout("x10") r[10], inout("x11") r[11],
            inout("x12") r[12], inout("x13") r[13], inout("x14") r[14], inout("x15") r[15],
            inout("x16") r[16], inout("x17") r[17], options(nostack));
    }
    r
}
