//! The remote-vCPU checks: vCPU 0 registers the vcpu_info of a running
//! vCPU 1 and sends it events, which vCPU 1 (see `worker`) observes.

use super::abi::*;
use super::areas::{clear_upcall, register, Sel};
use super::evtchn::{bind_ipi, clear_pending, sel_bit, send, status};
use super::worker::{acked, param, post, result, runs_on, start_worker, stop_worker, CMD_WATCH};
use super::{scratch, shared_b, vcpu_info, vcpu_info_page, Ctx, Tap};
use crate::guest::mem::{fill, rd64, rd8, wr64};

pub const CHECKS: u32 = 4;

/// What vCPU 1 saw after vCPU 0 sent on its port.
struct Watch {
    send_rc: i64,
    seen: bool,
    sel: u64,
    word: u64,
    /// vCPU 0's area afterwards: upcall_pending, pending_sel.
    vcpu0: (u8, u64),
}

impl Watch {
    /// The event reached vCPU 1's area and shared_info, and nothing else.
    fn landed(&self, port: u32) -> bool {
        self.send_rc == 0
            && self.seen
            && self.sel & sel_bit(port) != 0
            && self.word & 1 << (port % 64) != 0
            && self.vcpu0 == (0, 0)
    }
}

impl core::fmt::Display for Watch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "send {} seen {} sel {:#x} word {:#x} v0 {}/{:#x}",
            self.send_rc, self.seen as u8, self.sel, self.word, self.vcpu0.0, self.vcpu0.1
        )
    }
}

/// vCPU 0 sends on `port` (bound to vCPU 1) while vCPU 1 watches.
fn watch(port: u32) -> Watch {
    let (si, v0, v1) = (shared_b(), vcpu_info(0), vcpu_info(1));
    clear_upcall(v0);
    clear_upcall(v1);
    clear_pending(si, port);
    wr64(param(0), si);
    wr64(param(1), port as u64);
    let seq = post(CMD_WATCH);
    let send_rc = send(port);
    let done = acked(seq, 2000);
    let w = Watch {
        send_rc,
        seen: done && rd64(result(0)) == 1,
        sel: rd64(result(1)),
        word: rd64(result(2)),
        vcpu0: (rd8(v0 + VI_UPCALL_PENDING), rd64(v0 + VI_PENDING_SEL)),
    };
    clear_pending(si, port);
    clear_upcall(v1);
    w
}

/// The remote-vCPU checks; returns the port bound to vCPU 1 (0 if none),
/// with vCPU 1 left running the worker for the benchmark.
pub fn run(tap: &mut Tap, ctx: &Ctx) -> u32 {
    const NAMES: [&str; CHECKS as usize] = [
        "vcpu_op register_vcpu_info of vCPU 1 while it runs: 0, zeroed area, spurious upcall",
        "an IPI to vCPU 1 shows only in vCPU 1's area: upcall, pending_sel, pending bit",
        "areas on one page: an event for vCPU 0 lands at offset 0, not in vCPU 1's at 64",
        "vCPU 1's area survives cpu_off/on: re-registering -EBUSY, events land there",
    ];
    if !ctx.smp {
        for name in NAMES {
            tap.skip(name, "one vCPU");
        }
        return 0;
    }

    let (on, alive) = start_worker();
    let v1 = vcpu_info(1);
    let rc = register(1, vcpu_info_page() >> 12, 64);
    let (up, sel) = (rd8(v1 + VI_UPCALL_PENDING), rd64(v1 + VI_PENDING_SEL));
    // Scribbled before: the bytes between upcall_pending and pending_sel
    // show whether the area was zeroed.
    let zeroed = (1..8).all(|i| rd8(v1 + i) == 0);
    let runs = runs_on();
    tap.check(
        on == 0 && alive && rc == 0 && up == 1 && sel == !0 && zeroed && runs,
        NAMES[0],
        format_args!(
            "cpu_on {on} alive {}, rc {rc}, upcall {up}, sel {}, zeroed {}, runs {}",
            alive as u8,
            Sel(sel),
            zeroed as u8,
            runs as u8
        ),
    );

    let (rc, p1) = bind_ipi(1);
    let st = status(p1);
    let w = watch(p1);
    tap.check(
        rc == 0 && st.status == EVTCHNSTAT_IPI && st.vcpu == 1 && w.landed(p1),
        NAMES[1],
        format_args!("bind {rc} port {p1} st {}/{}; {w}", st.status, st.vcpu),
    );

    let (si, v0, p0) = (shared_b(), vcpu_info(0), ctx.p0);
    clear_upcall(v0);
    clear_upcall(v1);
    clear_pending(si, p0);
    let rc = send(p0);
    let own = (rd8(v0 + VI_UPCALL_PENDING), rd64(v0 + VI_PENDING_SEL));
    let other = (rd8(v1 + VI_UPCALL_PENDING), rd64(v1 + VI_PENDING_SEL));
    clear_pending(si, p0);
    clear_upcall(v0);
    tap.check(
        rc == 0 && own == (1, sel_bit(p0)) && other == (0, 0),
        NAMES[2],
        format_args!(
            "rc {rc}, vCPU 0 area {}/{:#x}, vCPU 1 area {}/{:#x}",
            own.0, own.1, other.0, other.1
        ),
    );

    let off = stop_worker();
    let (on, alive) = start_worker();
    // A valid spot elsewhere: if it were accepted, events would move here.
    let s = scratch();
    fill(s, 64, 0);
    let rc = register(1, s >> 12, 0);
    let w = watch(p1);
    let elsewhere = (rd8(s + VI_UPCALL_PENDING), rd64(s + VI_PENDING_SEL));
    tap.check(
        off && on == 0 && alive && rc == EBUSY && w.landed(p1) && elsewhere == (0, 0),
        NAMES[3],
        format_args!(
            "off {} on {on}/{} reg {rc}; {w}; scr {}/{}",
            off as u8, alive as u8, elsewhere.0, elsewhere.1
        ),
    );
    p1
}
