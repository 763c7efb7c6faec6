//! Hostile pointers: every structure pointer the hypervisor follows must be
//! checked against the domain's RAM, and a bad one must cost the caller
//! only -EFAULT, leaving the hypervisor able to serve the next call.

use super::abi::*;
use super::{Ctx, Tap, GIC_MMIO, HOLE};

/// Null, a hole, MMIO, and 2 bytes before the end of RAM, so that even a
/// 4-byte structure runs off the end.
pub fn pointers(ram_end: u64) -> [u64; 4] {
    [0, HOLE, GIC_MMIO, ram_end - 2]
}

/// Makes `call` with each bad pointer; returns the four results.
pub fn each(ram_end: u64, mut call: impl FnMut(u64) -> i64) -> [i64; 4] {
    pointers(ram_end).map(&mut call)
}

/// One TAP line: all four results are -EFAULT and `next_ok` (a valid call
/// made right after them succeeded).
pub fn report(tap: &mut Tap, what: &str, rcs: [i64; 4], next_ok: bool, next: i64) {
    let ok = rcs.iter().all(|&rc| rc == EFAULT) && next_ok;
    let mut name = NameBuf::new();
    name.push(what);
    name.push(": null, hole, MMIO, past-end-of-RAM pointers give -EFAULT; next call ok");
    tap.check(
        ok,
        name.as_str(),
        format_args!("{} {} {} {}; next {next}", rcs[0], rcs[1], rcs[2], rcs[3]),
    );
}

pub const EVTCHN_CHECKS: u32 = 7;

/// Each event_channel_op taking a structure, followed each time by a valid
/// status call on vCPU 0's IPI port.
pub fn evtchn(tap: &mut Tap, ctx: &Ctx) {
    let ops = [
        (EVTCHNOP_BIND_VIRQ, "event_channel_op bind_virq"),
        (EVTCHNOP_CLOSE, "event_channel_op close"),
        (EVTCHNOP_SEND, "event_channel_op send"),
        (EVTCHNOP_STATUS, "event_channel_op status"),
        (EVTCHNOP_ALLOC_UNBOUND, "event_channel_op alloc_unbound"),
        (EVTCHNOP_BIND_IPI, "event_channel_op bind_ipi"),
        (EVTCHNOP_UNMASK, "event_channel_op unmask"),
    ];
    for (cmd, what) in ops {
        let rcs = each(ctx.ram_end, |p| evtchn_op(cmd, p));
        let st = super::evtchn::status(ctx.p0);
        let ok = st.rc == 0 && st.status == EVTCHNSTAT_IPI && st.vcpu == 0;
        report(tap, what, rcs, ok, st.rc);
    }
}

/// A TAP name assembled from parts (no allocator here).
struct NameBuf {
    buf: [u8; 128],
    len: usize,
}

impl NameBuf {
    fn new() -> Self {
        NameBuf {
            buf: [0; 128],
            len: 0,
        }
    }

    fn push(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}
