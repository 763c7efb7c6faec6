//! Two benchmarks, printed as TAP comments (timings vary with the host, so
//! they are measurements, not checks). Times are virtual-counter ticks.

use core::fmt::Write;
use core::ptr::addr_of_mut;

use super::abi::{xen_version, XENVER_VERSION};
use super::evtchn::send;
use super::worker::{self, BENCH_SENDS};
use super::{Ctx, Tap};
use crate::guest::mem::{rd64, ticks, ticks_per_second, wait_for, wr64};

const NULL_CALLS: usize = 1000;

/// Samples of the running benchmark (vCPU 0 only).
static mut SAMPLES: [u64; NULL_CALLS] = [0; NULL_CALLS];

fn sample(i: usize) -> u64 {
    addr_of_mut!(SAMPLES).cast::<u64>() as u64 + 8 * i as u64
}

/// (median, min) of the first `n` samples.
fn summarise(n: usize) -> (u64, u64) {
    // SAFETY: SAMPLES is used by vCPU 0 only and no other reference to it
    // is live; aligned u64 accesses are fine on Device memory.
    let all: &mut [u64; NULL_CALLS] = unsafe { &mut *addr_of_mut!(SAMPLES) };
    let s = &mut all[..n];
    s.sort_unstable();
    (s[n / 2], s[0])
}

/// XENVER_version: the cheapest call that goes through the hypervisor's
/// dispatch and back.
pub fn null_hypercall(tap: &mut Tap) {
    for i in 0..NULL_CALLS {
        let t0 = ticks();
        xen_version(XENVER_VERSION, 0);
        let t1 = ticks();
        wr64(sample(i), t1 - t0);
    }
    let (median, min) = summarise(NULL_CALLS);
    let _ = writeln!(
        tap.out,
        "# bench: null hypercall round trip: median {median} ticks, min {min} ({NULL_CALLS} calls, CNTFRQ {} Hz)",
        ticks_per_second()
    );
}

/// From just before EVTCHNOP_send on vCPU 0 to vCPU 1 seeing
/// upcall_pending in its vcpu_info (it polls; there is no interrupt).
/// Ends by turning vCPU 1 off.
pub fn event_upcall(tap: &mut Tap, ctx: &Ctx, p1: u32) {
    const NAME: &str = "# bench: event send -> upcall seen on vCPU 1";
    if !ctx.smp || p1 == 0 {
        let why = if ctx.smp {
            "no port bound to vCPU 1"
        } else {
            "one vCPU"
        };
        let _ = writeln!(tap.out, "{NAME}: skipped ({why})");
        if ctx.smp {
            worker::stop_worker();
        }
        return;
    }
    let seq = worker::bench_start(p1, BENCH_SENDS);
    let mut sent = 0;
    for i in 0..BENCH_SENDS {
        // vCPU 1 has acknowledged the previous send and polls again.
        if !wait_for(1000, || worker::bench_done() == i as u64) {
            break;
        }
        wr64(sample(i), ticks());
        send(p1);
        sent = i + 1;
    }
    let finished = worker::bench_end(seq);
    let seen = worker::bench_done() as usize;
    let n = seen.min(sent);
    for i in 0..n {
        let t0 = rd64(sample(i));
        wr64(sample(i), worker::bench_seen(i).wrapping_sub(t0));
    }
    if finished && n == BENCH_SENDS {
        let (median, min) = summarise(n);
        let _ = writeln!(
            tap.out,
            "{NAME}: median {median} ticks, min {min} ({BENCH_SENDS} sends)"
        );
    } else {
        let _ = writeln!(
            tap.out,
            "{NAME}: incomplete, vCPU 1 saw {seen} of {BENCH_SENDS} sends"
        );
    }
    worker::stop_worker();
}
