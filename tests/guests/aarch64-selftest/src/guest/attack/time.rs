//! Time: vCPUs that never yield. Each vCPU owns its physical CPU, so a
//! spin, masked or not, must cost nobody else anything: the victim keeps
//! answering while the attacker's vCPU 1 spins with every interrupt
//! masked, and after vCPU 0 itself spun for 2 s without a hypercall.
//! WFI with nothing to wait for and a yield flood return at once.

use super::memory::probe;
use super::vcpu1::{self, MASKED_SPIN};
use super::{Class, Suite};
use crate::guest::mem::{ticks, ticks_per_second, wr32};
use crate::guest::xen::abi::{sched_op, SCHEDOP_YIELD};

pub const CASES: u32 = 4;

/// Its redistributor's SGI/PPI frame (vCPU 0), and the virtual timer's PPI.
const GICR_SGI0: u64 = 0x080b_0000;
const VTIMER_PPI: u64 = 27;
const GICD_CTLR_ENABLE_GRP1: u32 = 1 << 1;
const C: Class = Class::Time;

pub fn run(s: &mut Suite) {
    let (rc, alive) = vcpu1::start(MASKED_SPIN);
    let hz = ticks_per_second();
    let until = ticks() + 2 * hz;
    let (mut beats, mut answered) = (0, 0);
    while ticks() < until {
        beats += 1;
        if s.heartbeat() {
            answered += 1;
        }
        let pause = ticks() + hz / 10;
        while ticks() < pause {
            core::hint::spin_loop();
        }
    }
    let turning = vcpu1::turning();
    let off = vcpu1::stop();
    vcpu1::clear_mode();
    s.case(
        C,
        rc == 0 && alive && turning && answered == beats && beats >= 10 && off,
        "vCPU 1 spins 2 s with every interrupt masked: the victim answers every heartbeat meanwhile; then it stops",
        format_args!("cpu_on {rc}, {answered} of {beats} answered, still spinning {turning}, off {off}"),
    );
    let t0 = ticks();
    // SAFETY: masks our interrupts (they are masked already; PSCI and the
    // boot leave them so) and spins without calling anyone.
    unsafe { core::arch::asm!("msr daifset, #0xf", options(nomem, nostack)) };
    while ticks() - t0 < 2 * hz {
        core::hint::spin_loop();
    }
    let ms = (ticks() - t0) * 1000 / hz;
    s.case(
        C,
        ms >= 2000,
        "vCPU 0 spins 2 s masked without a hypercall: then the victim answers at once",
        format_args!("spun {ms} ms"),
    );
    let (woke, f, ms) = timer_wakeups(100);
    s.case(
        C,
        woke == 100 && f.taken == 0,
        "100 wfi with interrupts masked, each woken by its own virtual timer 1 ms later (acked with IAR/EOI)",
        format_args!("{woke} of 100 in {ms} ms, {} exceptions", f.taken),
    );
    let mut zero = 0;
    for _ in 0..10_000 {
        if sched_op(SCHEDOP_YIELD, 0) == 0 {
            zero += 1;
        }
    }
    s.case(
        C,
        zero == 10_000,
        "10000 sched_op yield calls: each 0 (nobody to yield to on its own CPU)",
        format_args!("{zero} of 10000"),
    );
}

/// `n` times: arm the virtual timer 1 ms ahead, WFI with PSTATE.I set (a
/// pending interrupt wakes WFI even masked), acknowledge and end it.
/// Returns (wake-ups acknowledged as the timer's PPI, exceptions, ms).
fn timer_wakeups(n: u32) -> (u32, super::memory::Fault, u64) {
    // Group 1, enabled, in its redistributor; its distributor's group 1
    // on; the CPU interface lets every priority through.
    wr32(GICR_SGI0 + 0x80, 0xffff_ffff);
    wr32(GICR_SGI0 + 0x100, 1 << VTIMER_PPI);
    wr32(super::GIC_MMIO, GICD_CTLR_ENABLE_GRP1);
    // SAFETY: ICC_PMR_EL1 and ICC_IGRPEN1_EL1 of its own virtual CPU
    // interface; interrupts stay masked in PSTATE.
    unsafe {
        core::arch::asm!("msr daifset, #0xf", "msr S3_0_C4_C6_0, {p}", "msr S3_0_C12_C12_7, {e}", "isb",
            p = in(reg) 0xffu64, e = in(reg) 1u64, options(nostack))
    };
    let hz = ticks_per_second();
    let t0 = ticks();
    let mut woke = 0;
    let f = probe(|| {
        for _ in 0..n {
            let iar: u64;
            // SAFETY: its own virtual timer and CPU interface: arm, wait,
            // acknowledge (ICC_IAR1_EL1), disarm, end (ICC_EOIR1_EL1).
            unsafe {
                core::arch::asm!(
                    "mrs {t}, cntvct_el0", "add {t}, {t}, {d}", "msr cntv_cval_el0, {t}",
                    "mov {t}, #1", "msr cntv_ctl_el0, {t}", "isb", "wfi",
                    "mrs {i}, S3_0_C12_C12_0", "msr cntv_ctl_el0, xzr", "isb",
                    "msr S3_0_C12_C12_1, {i}", "isb",
                    t = out(reg) _, d = in(reg) hz / 1000, i = out(reg) iar, options(nostack))
            };
            if iar & 0xff_ffff == VTIMER_PPI {
                woke += 1;
            }
        }
    });
    (woke, f, (ticks() - t0) * 1000 / hz)
}
