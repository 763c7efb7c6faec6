//! Event channels between domains that do not trust each other: binding
//! ports of the victim and of dom0 that were not offered, ports of no
//! domain, allocating in or looking into another domain's table, sending
//! to unbound ports, closing twice, rebinding to absent vCPUs, VIRQ rules,
//! and running the port table out. Errnos are Xen 4.19's.

use super::{all, args, bad_pointers, Class, Suite, NO_DOMAIN};
use crate::guest::mem::{rd32, wr16, wr32};
use crate::guest::peer_link::{alloc_unbound, bind_interdomain};
use crate::guest::xen::abi::*;

pub const CASES: u32 = 15;
const C: Class = Class::Hypercalls;

const VIRQ_CONSOLE: u32 = 2;
const NR_VIRQS: u32 = 24;
/// Halyard's per-domain table: 1024 ports (0 reserved), as a Xen domU
/// built by xl gets by default (max_event_channels 1023); the 2-level ABI
/// itself would allow 4096.
const MAX_PORTS: u32 = 1024;

fn one_port(cmd: u64, port: u32) -> i64 {
    let a = args();
    wr32(a, port);
    evtchn_op(cmd, a)
}

/// EVTCHNOP_bind_virq: (rc, port).
fn bind_virq(virq: u32, vcpu: u32) -> (i64, u32) {
    let a = args();
    wr32(a, virq);
    wr32(a + 4, vcpu);
    let rc = evtchn_op(EVTCHNOP_BIND_VIRQ, a);
    (rc, rd32(a + 8))
}

fn bind_vcpu(port: u32, vcpu: u32) -> i64 {
    let a = args();
    wr32(a, port);
    wr32(a + 4, vcpu);
    evtchn_op(EVTCHNOP_BIND_VCPU, a)
}

/// EVTCHNOP_status of `dom`'s port 1.
fn status_of(dom: u16) -> i64 {
    let a = args();
    wr16(a, dom);
    wr32(a + 4, 1);
    evtchn_op(EVTCHNOP_STATUS, a)
}

fn alloc_in(dom: u16, remote: u16) -> i64 {
    let a = args();
    wr16(a, dom);
    wr16(a + 2, remote);
    evtchn_op(EVTCHNOP_ALLOC_UNBOUND, a)
}

pub fn run(s: &mut Suite) {
    let victim_beat = s.victim_beat;
    let (rc, _) = bind_interdomain(s.peer, victim_beat);
    s.case(
        C,
        rc == EINVAL,
        "event_channel_op bind_interdomain to the victim's port it already bound: -EINVAL",
        format_args!("{rc} (port {victim_beat})"),
    );
    let rcs = [1, 2, 3, 4].map(|p| bind_interdomain(0, p).0);
    s.case(
        C,
        all(&rcs, EINVAL),
        "event_channel_op bind_interdomain to dom0's ports 1-4 (none offered to it): -EINVAL",
        format_args!("{rcs:?}"),
    );
    let rcs = [
        bind_interdomain(s.peer, 4095).0,
        bind_interdomain(s.peer, 0x7fff_ffff).0,
        bind_interdomain(NO_DOMAIN, 1).0,
    ];
    s.case(
        C,
        rcs == [EINVAL, EINVAL, ESRCH],
        "event_channel_op bind_interdomain to the victim's ports 4095, 2^31 - 1: -EINVAL; to no domain: -ESRCH",
        format_args!("{rcs:?}"),
    );
    let rcs = bad_pointers(s.ram_end).map(|p| evtchn_op(EVTCHNOP_BIND_INTERDOMAIN, p));
    s.case(
        C,
        all(&rcs, EFAULT),
        "event_channel_op bind_interdomain with null, hole, MMIO, end-of-RAM, wrapping pointers: -EFAULT",
        format_args!("{rcs:?}"),
    );
    let rcs = [
        alloc_in(s.peer, DOMID_SELF),
        alloc_in(0, DOMID_SELF),
        alloc_in(DOMID_SELF, NO_DOMAIN),
    ];
    s.case(
        C,
        rcs == [EPERM, EPERM, ESRCH],
        "event_channel_op alloc_unbound in the victim's and dom0's tables: -EPERM; for no domain: -ESRCH",
        format_args!("{rcs:?}"),
    );
    let rcs = [status_of(s.peer), status_of(0), status_of(NO_DOMAIN)];
    s.case(
        C,
        rcs == [EPERM, EPERM, ESRCH],
        "event_channel_op status of the victim's and dom0's ports: -EPERM; of no domain: -ESRCH",
        format_args!("{rcs:?}"),
    );
    let (rc, port) = alloc_unbound(s.peer);
    let rcs = [
        rc,
        one_port(EVTCHNOP_SEND, port),
        one_port(EVTCHNOP_CLOSE, port),
        one_port(EVTCHNOP_CLOSE, port),
        one_port(EVTCHNOP_SEND, port),
    ];
    s.case(
        C,
        rcs == [0, 0, 0, EINVAL, EINVAL],
        "event_channel_op: a port offered to the victim, sent to unbound (dropped, 0), closed, closed again and sent: -EINVAL",
        format_args!("{rcs:?} port {port}"),
    );
    let (rc, port) = alloc_unbound(s.peer);
    let rcs = [
        bind_vcpu(port, 2),
        bind_vcpu(port, 99),
        bind_vcpu(port, u32::MAX),
    ];
    let moved = bind_vcpu(port, 1);
    one_port(EVTCHNOP_CLOSE, port);
    s.case(
        C,
        rc == 0 && all(&rcs, ENOENT) && moved == 0,
        "event_channel_op bind_vcpu of a port to vCPUs 2, 99, 2^32 - 1: -ENOENT; to its vCPU 1: 0",
        format_args!("{rcs:?}, vCPU 1 {moved}"),
    );
    let a = args();
    wr32(a, 0);
    let ipi = evtchn_op(EVTCHNOP_BIND_IPI, a);
    let ipi_port = rd32(a + 4);
    let rc = bind_vcpu(ipi_port, 1);
    one_port(EVTCHNOP_CLOSE, ipi_port);
    s.case(
        C,
        ipi == 0 && rc == EINVAL,
        "event_channel_op bind_vcpu of an IPI port: -EINVAL",
        format_args!("bind_ipi {ipi}, bind_vcpu {rc}"),
    );
    let rcs = [
        bind_virq(NR_VIRQS, 0).0,
        bind_virq(99, 0).0,
        bind_virq(u32::MAX, 0).0,
    ];
    let timer = bind_virq(VIRQ_TIMER, 5).0;
    s.case(
        C,
        all(&rcs, EINVAL) && timer == ENOENT,
        "event_channel_op bind_virq of VIRQs 24, 99, 2^32 - 1: -EINVAL; VIRQ_TIMER on absent vCPU 5: -ENOENT",
        format_args!("{rcs:?}, timer {timer}"),
    );
    // Found by this suite: Halyard answered -ENOENT.
    let rcs = [bind_virq(VIRQ_CONSOLE, 1).0, bind_virq(VIRQ_CONSOLE, 9).0];
    s.case(
        C,
        all(&rcs, EINVAL),
        "event_channel_op bind_virq of a global VIRQ on vCPU 1 or absent vCPU 9: -EINVAL (as Xen)",
        format_args!("{rcs:?}"),
    );
    let rcs = [EVTCHNOP_SEND, EVTCHNOP_CLOSE, EVTCHNOP_UNMASK].map(|c| one_port(c, 0));
    s.case(
        C,
        all(&rcs, EINVAL),
        "event_channel_op send, close, unmask of reserved port 0: -EINVAL",
        format_args!("{rcs:?}"),
    );
    let (rc, port) = bind_virq(VIRQ_TIMER, 0);
    let sent = one_port(EVTCHNOP_SEND, port);
    one_port(EVTCHNOP_CLOSE, port);
    s.case(
        C,
        rc == 0 && sent == EINVAL,
        "event_channel_op send on its own VIRQ port: -EINVAL",
        format_args!("bind {rc}, send {sent}"),
    );
    let rcs = [99, EVTCHNOP_INIT_CONTROL, 12, 13, u64::MAX].map(|c| evtchn_op(c, args()));
    s.case(
        C,
        all(&rcs, ENOSYS),
        "event_channel_op 99, init_control, expand_array, set_priority, 2^64 - 1: -ENOSYS (2-level ABI only)",
        format_args!("{rcs:?}"),
    );
    exhaust(s);
}

static mut PORTS: [u32; MAX_PORTS as usize] = [0; MAX_PORTS as usize];

/// Allocate ports until the table is full, then give them all back.
fn exhaust(s: &mut Suite) {
    // The ports allocated, in a static (too big for the stack).
    let list = core::ptr::addr_of_mut!(PORTS) as u64;
    let mut n = 0u64;
    let mut last = 0;
    while n < u64::from(MAX_PORTS) {
        let (rc, port) = alloc_unbound(s.peer);
        if rc != 0 {
            last = rc;
            break;
        }
        wr32(list + 4 * n, port);
        n += 1;
    }
    let mut closed = 0;
    for i in 0..n {
        if one_port(EVTCHNOP_CLOSE, rd32(list + 4 * i)) == 0 {
            closed += 1;
        }
    }
    let (again, p) = alloc_unbound(s.peer);
    one_port(EVTCHNOP_CLOSE, p);
    s.case(
        C,
        last == ENOSPC && n > 1000 && n < MAX_PORTS.into() && closed == n && again == 0,
        "event_channel_op alloc_unbound until its 1024-port table is full: -ENOSPC; all closed; allocation works again",
        format_args!("{n} ports, then {last}; {closed} closed; again {again}"),
    );
}
