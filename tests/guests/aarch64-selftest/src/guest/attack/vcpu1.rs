//! The attacker's vCPU 1, driven by vCPU 0 through plain statics (one
//! writer each; MMU off, so no atomics). vCPU 0 picks a mode, starts it
//! with PSCI CPU_ON and later asks it to stop, after which it turns itself
//! off with CPU_OFF.

use core::ptr::addr_of_mut;

use crate::guest::calls::{smccc_hvc, smccc_hvc_args};
use crate::guest::mem::{dmb, rd64, wait_for, wr64};
use crate::guest::PSCI_CPU_ON;
use crate::guest::{secondary_stack_top, start, AFF_OFF, PSCI_AFFINITY_INFO, PSCI_CPU_OFF};

/// Spin (interrupts as PSCI left them: masked) until told to stop.
pub const PARK: u64 = 0x5041_524b;
/// Mask every interrupt explicitly and spin, never calling the
/// hypervisor, until told to stop.
pub const MASKED_SPIN: u64 = 0x4d41_534b;

// Written by vCPU 0.
static mut MODE: u64 = 0;
static mut STOP: u64 = 0;
// Written by vCPU 1.
static mut ALIVE: u64 = 0;
/// Loop turns, to show it runs.
static mut TURNS: u64 = 0;

fn at(p: *mut u64) -> u64 {
    p as u64
}

/// vCPU 1 was started for the attacker (checked by `secondary_main`).
pub fn requested() -> bool {
    matches!(rd64(at(addr_of_mut!(MODE))), PARK | MASKED_SPIN)
}

/// vCPU 1's body.
pub fn body() -> ! {
    if rd64(at(addr_of_mut!(MODE))) == MASKED_SPIN {
        // SAFETY: masks this vCPU's interrupts; nothing else changes.
        unsafe { core::arch::asm!("msr daifset, #0xf", options(nomem, nostack)) };
    }
    wr64(at(addr_of_mut!(TURNS)), 0);
    dmb();
    wr64(at(addr_of_mut!(ALIVE)), 1);
    let mut turns = 0u64;
    while rd64(at(addr_of_mut!(STOP))) == 0 {
        turns += 1;
        wr64(at(addr_of_mut!(TURNS)), turns);
    }
    smccc_hvc(PSCI_CPU_OFF);
    loop {
        core::hint::spin_loop();
    }
}

/// CPU_ON of vCPU 1 into `mode`: (rc, came alive within 1 s).
pub fn start(mode: u64) -> (i64, bool) {
    wr64(at(addr_of_mut!(MODE)), mode);
    wr64(at(addr_of_mut!(STOP)), 0);
    wr64(at(addr_of_mut!(ALIVE)), 0);
    dmb();
    let rc = cpu_on(start::secondary_entry_point(), secondary_stack_top());
    let alive = rc == 0 && wait_for(1000, || rd64(at(addr_of_mut!(ALIVE))) == 1);
    (rc, alive)
}

/// PSCI CPU_ON of vCPU 1 (MPIDR affinity 1) at `entry`.
pub fn cpu_on(entry: u64, context: u64) -> i64 {
    smccc_hvc_args(PSCI_CPU_ON, [1, entry, context])[0] as i64
}

/// Still turning its loop (it runs, it is not paused).
pub fn turning() -> bool {
    let t = rd64(at(addr_of_mut!(TURNS)));
    wait_for(200, || rd64(at(addr_of_mut!(TURNS))) != t)
}

/// Ask vCPU 1 to stop; true once PSCI reports it off (within 1 s).
pub fn stop() -> bool {
    wr64(at(addr_of_mut!(STOP)), 1);
    dmb();
    off_within(1000)
}

/// AFFINITY_INFO of vCPU 1 says OFF within `ms`.
pub fn off_within(ms: u64) -> bool {
    wait_for(ms, affinity_off)
}

pub fn affinity_off() -> bool {
    smccc_hvc_args(PSCI_AFFINITY_INFO, [1, 0, 0])[0] == AFF_OFF
}

/// Forget the mode, so that a later plain start of vCPU 1 does not take
/// this body.
pub fn clear_mode() {
    wr64(at(addr_of_mut!(MODE)), 0);
}
