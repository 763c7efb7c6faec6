//! `selftest.end=hostile`: after its checks the domain turns hostile, to
//! show that it harms only its own physical CPUs: a flood of faults (each
//! injected back into its own vector, the hypervisor's reports capped), a
//! flood of hypercalls, then a spin with interrupts masked, forever. The
//! other domains must go on meanwhile (the suite case checks dom0 does).

use core::fmt::Write;

use super::{start, xen_hypercall, Console};

const FAULTS: u32 = 20_000;
const HYPERCALLS: u32 = 100_000;
/// __HYPERVISOR_xen_version, XENVER_version: the cheapest hypercall.
const XEN_VERSION: u64 = 17;

pub fn end(out: &mut Console, ram_end: u64) -> ! {
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
    let _ = writeln!(out, "# hostile: spinning with interrupts masked, forever");
    // SAFETY: masks this vCPU's interrupts; it never unmasks them.
    unsafe { core::arch::asm!("msr daifset, #0xf", options(nomem, nostack)) };
    loop {
        core::hint::spin_loop();
    }
}
