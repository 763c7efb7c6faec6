//! 2-level event channels on vCPU 0: allocation, status, close, virq and
//! IPI bindings, delivery into shared_info's bitmaps and vCPU 0's
//! registered vcpu_info, masking, and ports that do not exist.

use super::abi::*;
use super::areas::clear_upcall;
use super::{args, args_odd, shared_b, vcpu_info, Ctx, Tap};
use crate::guest::mem::{rd32, rd32_bytes, rd64, rd8, wr16, wr32, wr64, wr_bytes};

pub const CHECKS: u32 = 14;
/// Checked last of all, after the isolation checks (`store_channel`).
pub const STORE_CHECKS: u32 = 1;

pub fn run(tap: &mut Tap, ctx: &mut Ctx) {
    let si = shared_b();
    let a = args(24);
    wr64(a, super::scratch() >> 12);
    let rc = evtchn_op(EVTCHNOP_INIT_CONTROL, a);
    tap.check(
        rc == ENOSYS,
        "event_channel_op init_control returns -ENOSYS (no FIFO ABI)",
        format_args!("{rc}"),
    );

    let a = args(8);
    wr16(a, DOMID_SELF);
    wr16(a + 2, DOMID_SELF);
    wr32(a + 4, 0xffff_ffff);
    let rc = evtchn_op(EVTCHNOP_ALLOC_UNBOUND, a);
    let unbound = rd32(a + 4);
    let st = status(unbound);
    tap.check(
        rc == 0 && unbound != 0 && unbound != 0xffff_ffff && st.status == EVTCHNSTAT_UNBOUND,
        "event_channel_op alloc_unbound gives a port whose status is unbound",
        format_args!(
            "rc {rc}, port {unbound}, status rc {} status {}",
            st.rc, st.status
        ),
    );

    let rc = send(unbound);
    let pend = pending(si, unbound);
    tap.check(
        rc == 0 && !pend,
        "event_channel_op send on an unbound port returns 0 and sets nothing",
        format_args!("rc {rc}, pending {pend}"),
    );

    let (rc, again) = (close(unbound), close(unbound));
    tap.check(
        rc == 0 && again == EINVAL,
        "event_channel_op close returns 0, closing the port again -EINVAL",
        format_args!("{rc}, {again}"),
    );

    let (rc, port) = bind_virq(VIRQ_TIMER, 0);
    let st = status(port);
    tap.check(
        rc == 0
            && st.rc == 0
            && st.status == EVTCHNSTAT_VIRQ
            && st.vcpu == 0
            && st.union0 == VIRQ_TIMER,
        "event_channel_op bind_virq of VIRQ_TIMER on vCPU 0: status virq, vCPU 0, virq 0",
        format_args!(
            "rc {rc}, port {port}, status {} vcpu {} virq {}",
            st.status, st.vcpu, st.union0
        ),
    );
    let (rc, _) = bind_virq(VIRQ_TIMER, 0);
    // Closed again so that no timer event can disturb the checks below.
    let closed = close(port);
    tap.check(
        rc == EEXIST && closed == 0,
        "event_channel_op bind_virq of VIRQ_TIMER on vCPU 0 again returns -EEXIST; close works",
        format_args!("{rc}, close {closed}"),
    );

    let (rc, _) = bind_ipi(7);
    tap.check(
        rc == ENOENT,
        "event_channel_op bind_ipi to vCPU 7 returns -ENOENT",
        format_args!("{rc}"),
    );
    let (rc, p0) = bind_ipi(0);
    let st = status(p0);
    tap.check(
        rc == 0 && p0 != 0 && st.rc == 0 && st.status == EVTCHNSTAT_IPI && st.vcpu == 0,
        "event_channel_op bind_ipi on vCPU 0: status ipi, vCPU 0",
        format_args!("rc {rc}, port {p0}, status {} vcpu {}", st.status, st.vcpu),
    );
    ctx.p0 = if rc == 0 { p0 } else { 0 };

    delivery(tap, si, p0);
    no_such_port(tap, 1000);
    no_such_port(tap, 0x7fff_ffff);

    // Xen copies guest structures bytewise: an odd address is no error.
    let a = args_odd();
    wr_bytes(a, DOMID_SELF as u64 | (p0 as u64) << 32, 8);
    wr_bytes(a + 8, 0xeeee_eeee_eeee_eeee, 8);
    wr_bytes(a + 16, 0xeeee_eeee_eeee_eeee, 8);
    let rc = evtchn_op(EVTCHNOP_STATUS, a);
    let (s, v) = (rd32_bytes(a + ST_STATUS), rd32_bytes(a + ST_VCPU));
    tap.check(
        rc == 0 && s == EVTCHNSTAT_IPI && v == 0,
        "event_channel_op status with its struct at an odd address works",
        format_args!("rc {rc}, status {s}, vcpu {v} at {a:#x}"),
    );
}

/// Sends on vCPU 0's IPI port unmasked, masked, then unmasks it.
/// HVMOP_get_param of this domain's `index`: (rc, value).
fn hvm_param(index: u32) -> (i64, u64) {
    let a = args(16);
    wr16(a, DOMID_SELF);
    wr32(a + 4, index);
    wr64(a + 8, 0x5a5a);
    (hvm_op(HVMOP_GET_PARAM, a), rd64(a + 8))
}

/// Beside a hardware domain the domain is `xen,enhanced`: HVM_PARAM_STORE_EVTCHN
/// names a port waiting for domain 0, and STORE_PFN says the page comes
/// later (all ones). Alone, both are 0.
pub fn store_channel(tap: &mut Tap, store_expected: bool) {
    let (rc_e, port) = hvm_param(HVM_PARAM_STORE_EVTCHN);
    let (rc_p, pfn) = hvm_param(HVM_PARAM_STORE_PFN);
    if store_expected {
        let st = status(port as u32);
        tap.check(
            rc_e == 0
                && rc_p == 0
                && port != 0
                && pfn == u64::MAX
                && st.rc == 0
                && st.status == EVTCHNSTAT_UNBOUND
                && st.union0 & 0xffff == 0,
            "hvm_op get_param: a xenstore event channel unbound, waiting for dom0; its page comes later",
            format_args!(
                "rc {rc_e}/{rc_p}, port {port}, pfn {pfn:#x}, status rc {} status {} remote {}",
                st.rc, st.status, st.union0 & 0xffff
            ),
        );
    } else {
        tap.check(
            rc_e == 0 && rc_p == 0 && port == 0 && pfn == 0,
            "hvm_op get_param: no hardware domain, no xenstore event channel or page",
            format_args!("rc {rc_e}/{rc_p}, port {port}, pfn {pfn:#x}"),
        );
    }
}

fn delivery(tap: &mut Tap, si: u64, p0: u32) {
    let (v, legacy) = (vcpu_info(0), si + SI_LEGACY_VCPU_INFO);
    clear_upcall(v);
    clear_upcall(legacy);
    clear_pending(si, p0);
    let rc = send(p0);
    let (pend, up, sel) = (
        pending(si, p0),
        rd8(v + VI_UPCALL_PENDING),
        rd64(v + VI_PENDING_SEL),
    );
    let legacy_up = rd8(legacy + VI_UPCALL_PENDING);
    tap.check(
        rc == 0 && pend && up == 1 && sel == sel_bit(p0) && legacy_up == 0,
        "event_channel_op send on vCPU 0's IPI port: pending, pending_sel, upcall in new area",
        format_args!("rc {rc}, pending {pend}, upcall {up}, sel {sel:#x}, legacy {legacy_up}"),
    );
    clear_pending(si, p0);
    clear_upcall(v);

    mask(si, p0);
    let rc = send(p0);
    let (pend, up, sel) = (
        pending(si, p0),
        rd8(v + VI_UPCALL_PENDING),
        rd64(v + VI_PENDING_SEL),
    );
    tap.check(
        rc == 0 && pend && up == 0 && sel == 0,
        "event_channel_op send on a masked port sets only its pending bit",
        format_args!("rc {rc}, pending {pend}, upcall {up}, sel {sel:#x}"),
    );

    let rc = unmask(p0);
    let masked = rd64(mask_word(si, p0)) & port_bit(p0) != 0;
    let (up, sel) = (rd8(v + VI_UPCALL_PENDING), rd64(v + VI_PENDING_SEL));
    tap.check(
        rc == 0 && !masked && up == 1 && sel == sel_bit(p0),
        "event_channel_op unmask of a pending port clears the mask and raises the upcall",
        format_args!("rc {rc}, masked {masked}, upcall {up}, sel {sel:#x}"),
    );
    clear_pending(si, p0);
    clear_upcall(v);
}

fn no_such_port(tap: &mut Tap, port: u32) {
    let rcs = [send(port), close(port), unmask(port), status(port).rc];
    let name = if port == 1000 {
        "event_channel_op send, close, unmask, status of never-allocated port 1000 return -EINVAL"
    } else {
        "event_channel_op send, close, unmask, status of port 0x7fffffff return -EINVAL"
    };
    tap.check(
        rcs.iter().all(|&rc| rc == EINVAL),
        name,
        format_args!("{rcs:?}"),
    );
}

pub struct Status {
    pub rc: i64,
    pub status: u32,
    pub vcpu: u32,
    /// First word of the union: the virq for a virq port.
    pub union0: u32,
}

/// EVTCHNOP_status of one of our own ports; outputs pre-set to a pattern.
pub fn status(port: u32) -> Status {
    let a = args(24);
    wr16(a, DOMID_SELF);
    wr32(a + ST_PORT, port);
    wr64(a + ST_STATUS, 0xeeee_eeee_eeee_eeee);
    wr64(a + ST_UNION, 0xeeee_eeee_eeee_eeee);
    let rc = evtchn_op(EVTCHNOP_STATUS, a);
    Status {
        rc,
        status: rd32(a + ST_STATUS),
        vcpu: rd32(a + ST_VCPU),
        union0: rd32(a + ST_UNION),
    }
}

fn one_port(cmd: u64, port: u32) -> i64 {
    let a = args(4);
    wr32(a, port);
    evtchn_op(cmd, a)
}

pub fn send(port: u32) -> i64 {
    one_port(EVTCHNOP_SEND, port)
}

fn close(port: u32) -> i64 {
    one_port(EVTCHNOP_CLOSE, port)
}

fn unmask(port: u32) -> i64 {
    one_port(EVTCHNOP_UNMASK, port)
}

/// EVTCHNOP_bind_virq: (rc, port).
fn bind_virq(virq: u32, vcpu: u32) -> (i64, u32) {
    let a = args(12);
    wr32(a, virq);
    wr32(a + 4, vcpu);
    wr32(a + 8, 0xffff_ffff);
    let rc = evtchn_op(EVTCHNOP_BIND_VIRQ, a);
    (rc, rd32(a + 8))
}

/// EVTCHNOP_bind_ipi notifying `vcpu`: (rc, port).
pub fn bind_ipi(vcpu: u32) -> (i64, u32) {
    let a = args(8);
    wr32(a, vcpu);
    wr32(a + 4, 0xffff_ffff);
    let rc = evtchn_op(EVTCHNOP_BIND_IPI, a);
    (rc, rd32(a + 4))
}

/// The pending_sel bit that covers `port` (one per 64-port word).
pub fn sel_bit(port: u32) -> u64 {
    1 << ((port / 64) % 64)
}

fn port_bit(port: u32) -> u64 {
    1 << (port % 64)
}

/// The 64-bit word of shared_info's pending bitmap holding `port`'s bit.
pub fn pending_word(si: u64, port: u32) -> u64 {
    si + SI_EVTCHN_PENDING + 8 * ((port as u64 / 64) % 64)
}

fn mask_word(si: u64, port: u32) -> u64 {
    si + SI_EVTCHN_MASK + 8 * ((port as u64 / 64) % 64)
}

pub fn pending(si: u64, port: u32) -> bool {
    rd64(pending_word(si, port)) & port_bit(port) != 0
}

/// What a guest does once it has handled `port`: clear its pending bit.
/// Not atomic: only safe while no other event can arrive in that word.
pub fn clear_pending(si: u64, port: u32) {
    let w = pending_word(si, port);
    wr64(w, rd64(w) & !port_bit(port));
}

/// Masking is the guest's own business: it sets the bit itself.
fn mask(si: u64, port: u32) {
    let w = mask_word(si, port);
    wr64(w, rd64(w) | port_bit(port));
}
