//! `selftest.end=hostile`: after its checks the domain turns hostile, to
//! show that it harms only its own physical CPUs: a flood of faults (each
//! injected back into its own vector, the hypervisor's reports capped), a
//! flood of hypercalls, a console flood (cut by the hypervisor's rate
//! limit), a second vCPU that faults inside its own vectors
//! (the hypervisor stops it), then a spin with interrupts masked, forever.
//! The other domains must go on meanwhile (the suite case checks dom0 does).
//!
//! `selftest.end=vector-loop`: the domain's only running vCPU faults inside
//! its own vectors; the hypervisor stops the domain as crashed.

use core::fmt::Write;

use super::calls::smccc_hvc_args;
use super::mem::{ticks, ticks_per_second};
use super::{start, xen_hypercall, Console, AFF_OFF, PSCI_AFFINITY_INFO, PSCI_CPU_ON};

const FAULTS: u32 = 20_000;
const HYPERCALLS: u32 = 100_000;
const FLOOD_LINES: u32 = 3_000;
/// __HYPERVISOR_xen_version, XENVER_version: the cheapest hypercall.
const XEN_VERSION: u64 = 17;

pub fn end(out: &mut Console, ram_end: u64, smp: bool) -> ! {
    let before = start::sync_exceptions();
    for _ in 0..FAULTS {
        // SAFETY: deliberately reads past this domain's RAM; our own vector
        // catches the abort and steps over the load.
        let _ = unsafe { core::ptr::read_volatile(ram_end as *const u32) };
    }
    let taken = start::sync_exceptions() - before;
    let _ = writeln!(
        out,
        "# hostile: {taken} of {FAULTS} faults taken by our own vector"
    );
    let mut ok = 0u32;
    for _ in 0..HYPERCALLS {
        if xen_hypercall(XEN_VERSION, [0, 0, 0]) > 0 {
            ok += 1;
        }
    }
    let _ = writeln!(out, "# hostile: {ok} of {HYPERCALLS} hypercalls answered");
    // A console flood: the hypervisor lets a burst through, drops the rest
    // and says how many when a line passes again (a second later).
    for i in 0..FLOOD_LINES {
        let _ = writeln!(out, "# flood {i}");
    }
    let until = ticks() + ticks_per_second() * 3 / 2;
    while ticks() < until {
        core::hint::spin_loop();
    }
    let _ = writeln!(
        out,
        "# hostile: {FLOOD_LINES} console lines written at once"
    );
    if smp {
        let rc = smccc_hvc_args(PSCI_CPU_ON, [1, start::vector_loop_entry(), 0])[0] as i64;
        let until = ticks() + 2 * ticks_per_second();
        let mut stopped = false;
        while !stopped && ticks() < until {
            stopped = smccc_hvc_args(PSCI_AFFINITY_INFO, [1, 0, 0])[0] == AFF_OFF;
        }
        let _ = writeln!(
            out,
            "# hostile: vCPU 1 faulting inside its own vectors: cpu_on {rc}, stopped by the hypervisor: {stopped}"
        );
    }
    let _ = writeln!(out, "# hostile: spinning with interrupts masked, forever");
    // SAFETY: masks this vCPU's interrupts; it never unmasks them.
    unsafe { core::arch::asm!("msr daifset, #0xf", options(nomem, nostack)) };
    loop {
        core::hint::spin_loop();
    }
}

/// `selftest.end=vector-loop`.
pub fn vector_loop(out: &mut Console) -> ! {
    let _ = writeln!(out, "# vector loop: faulting inside our own vectors");
    start::enter_vector_loop()
}
