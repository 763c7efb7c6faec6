//! `selftest.end=cpu-cycles`: after its checks vCPU 0 starts vCPU 1 with
//! PSCI CPU_ON; vCPU 1 counts that it ran and at once calls CPU_OFF; vCPU 0
//! waits with AFFINITY_INFO until it is off. 1,000 times, in rounds of 100,
//! every return code checked. With `selftest.cycle-gap=S`, vCPU 0 waits S
//! seconds before each round, so the cycles spread over a soak. Then it
//! prints the total and idles for good (wfi): the domain stays as it was,
//! so the hypervisor's memory figures around it compare like with like.

use core::fmt::Write;
use core::ptr::{addr_of, addr_of_mut};

use super::calls::{smccc_hvc, smccc_hvc_args};
use super::mem::{ticks, ticks_per_second};
use super::{aarch64_wfi, start, Console, AFF_OFF, PSCI_AFFINITY_INFO, PSCI_CPU_OFF, PSCI_CPU_ON};

const ROUNDS: u32 = 10;
const PER_ROUND: u32 = 100;
/// AFFINITY_INFO answers while vCPU 1 is on its way: ON, ON_PENDING.
const AFF_ON: u64 = 0;
const AFF_ON_PENDING: u64 = 2;

/// Set by vCPU 0 while cycling: vCPU 1's entry takes the cycling path.
static mut CYCLING: u64 = 0;
/// Times vCPU 1 ran (written by vCPU 1 only).
static mut RUNS: u64 = 0;
/// What CPU_OFF returned, if it ever did (it must not).
static mut OFF_RC: u64 = 0;

fn read(p: *const u64) -> u64 {
    // SAFETY: plain statics shared between the two vCPUs; the MMU is off,
    // so accesses are not cached and both vCPUs see memory.
    unsafe { p.read_volatile() }
}

fn write(p: *mut u64, v: u64) {
    // SAFETY: as in `read`.
    unsafe { p.write_volatile(v) }
}

/// Whether vCPU 1 was started for a cycle.
pub fn active() -> bool {
    read(addr_of!(CYCLING)) != 0
}

/// vCPU 1's side of a cycle: count the run, then CPU_OFF.
pub fn vcpu1() -> ! {
    write(addr_of_mut!(RUNS), read(addr_of!(RUNS)) + 1);
    let rc = smccc_hvc(PSCI_CPU_OFF)[0];
    write(addr_of_mut!(OFF_RC), rc | 1 << 63);
    loop {
        aarch64_wfi();
    }
}

/// vCPU 0's side: the cycles, then idle.
pub fn end(out: &mut Console, stack_top: u64, gap_s: u64) -> ! {
    write(addr_of_mut!(CYCLING), 1);
    let mut done = 0u32;
    'rounds: for round in 1..=ROUNDS {
        let until = ticks() + gap_s * ticks_per_second();
        while ticks() < until {
            core::hint::spin_loop();
        }
        for _ in 0..PER_ROUND {
            if let Err(why) = cycle(stack_top, done) {
                let _ = writeln!(out, "# cpu cycles: cycle {} failed: {why}", done + 1);
                break 'rounds;
            }
            done += 1;
        }
        let _ = writeln!(
            out,
            "# cpu cycles: round {round}: {done} CPU_ON/CPU_OFF cycles so far"
        );
    }
    let total = ROUNDS * PER_ROUND;
    let _ = writeln!(out, "# cpu cycles: {done} of {total} CPU_ON/CPU_OFF cycles");
    if done != total {
        let _ = writeln!(out, "not ok - cpu cycles");
    }
    loop {
        aarch64_wfi();
    }
}

/// One cycle: CPU_ON returns SUCCESS, AFFINITY_INFO says ON or ON_PENDING
/// until it says OFF (within 2 s), vCPU 1 ran exactly once more, and its
/// CPU_OFF did not return.
fn cycle(stack_top: u64, done: u32) -> Result<(), &'static str> {
    let rc = smccc_hvc_args(PSCI_CPU_ON, [1, start::secondary_entry_point(), stack_top])[0];
    if rc != 0 {
        return Err("CPU_ON did not return SUCCESS");
    }
    let until = ticks() + 2 * ticks_per_second();
    loop {
        match smccc_hvc_args(PSCI_AFFINITY_INFO, [1, 0, 0])[0] {
            AFF_OFF => break,
            AFF_ON | AFF_ON_PENDING => {}
            _ => return Err("AFFINITY_INFO returned an error"),
        }
        if ticks() > until {
            return Err("vCPU 1 not off within 2 s");
        }
    }
    if read(addr_of!(RUNS)) != u64::from(done) + 1 {
        return Err("vCPU 1 did not run exactly once");
    }
    if read(addr_of!(OFF_RC)) != 0 {
        return Err("CPU_OFF returned");
    }
    Ok(())
}
