//! `selftest.reset-storm=N`: the domain resets itself with PSCI SYSTEM_RESET
//! on each of its first N-1 boots, as fast as the hypervisor rebuilds it,
//! and on boot N runs every check as usual (the rebuilt domain must still
//! work). With `selftest.storm-after=S` the first boot waits S seconds
//! first, so that the storm overlaps other domains' work. Only the first
//! and the last boot print: the hypervisor's own lines about the storm are
//! what is rate-limited and counted.

use core::fmt::Write;

use super::calls::smccc_hvc;
use super::mem::{ticks, ticks_per_second};
use super::{aarch64_wfi, Console, PSCI_SYSTEM_RESET};

/// Resets on boots before `boots` (returns on that boot, after saying so).
pub fn run(out: &mut Console, boot: u32, boots: u32, wait_s: u64) {
    if boot >= boots {
        let _ = writeln!(
            out,
            "# reset storm: boot {boot} of {boots}: the checks again"
        );
        return;
    }
    if boot == 1 {
        let _ = writeln!(
            out,
            "# reset storm: {boots} boots, a PSCI SYSTEM_RESET at once on each of the first {}, after {wait_s} s",
            boots - 1
        );
        let until = ticks().saturating_add(wait_s.saturating_mul(ticks_per_second()));
        while ticks() < until {
            core::hint::spin_loop();
        }
    }
    smccc_hvc(PSCI_SYSTEM_RESET);
    let _ = writeln!(out, "not ok - PSCI SYSTEM_RESET returned on boot {boot}");
    loop {
        aarch64_wfi();
    }
}
