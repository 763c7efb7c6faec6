//! The event-channel link between the hostile suite's victim and attacker
//! (two domains that are not dom0): the victim offers unbound ports for
//! the attacker's domain id, the attacker binds them. Events are seen by
//! polling shared_info's pending bitmap: the guests keep interrupts
//! masked, so nothing arrives as an upcall.

use super::mem::{page_addr, rd32, rd64, wr16, wr32, wr64, Page};
use super::xen::abi::*;

/// Each domain's shared_info (placed in its own RAM) and argument block.
static mut SHARED_INFO: Page = Page::new();
static mut ARGS: Page = Page::new();

pub fn shared_info() -> u64 {
    page_addr(core::ptr::addr_of_mut!(SHARED_INFO))
}

/// A zeroed argument block (vCPU 0 only).
fn args() -> u64 {
    let a = page_addr(core::ptr::addr_of_mut!(ARGS));
    for off in (0..64).step_by(8) {
        wr64(a + off, 0);
    }
    a
}

/// XENMEM_add_to_physmap of shared_info at our own page.
pub fn map_shared_info() -> i64 {
    let a = args();
    wr16(a, DOMID_SELF);
    wr32(a + 4, XENMAPSPACE_SHARED_INFO);
    wr64(a + 16, shared_info() >> 12);
    memory_op(XENMEM_ADD_TO_PHYSMAP, a)
}

/// EVTCHNOP_alloc_unbound: a port of ours that domain `remote` may bind.
pub fn alloc_unbound(remote: u16) -> (i64, u32) {
    let a = args();
    wr16(a, DOMID_SELF);
    wr16(a + 2, remote);
    let rc = evtchn_op(EVTCHNOP_ALLOC_UNBOUND, a);
    (rc, rd32(a + 4))
}

/// EVTCHNOP_bind_interdomain to `remote`'s port `rport`: (rc, our port).
pub fn bind_interdomain(remote: u16, rport: u32) -> (i64, u32) {
    let a = args();
    wr16(a, remote);
    wr32(a + 4, rport);
    wr32(a + 8, 0xffff_ffff);
    let rc = evtchn_op(EVTCHNOP_BIND_INTERDOMAIN, a);
    (rc, rd32(a + 8))
}

pub fn send(port: u32) -> i64 {
    let a = args();
    wr32(a, port);
    evtchn_op(EVTCHNOP_SEND, a)
}

fn pending_word(port: u32) -> u64 {
    shared_info() + SI_EVTCHN_PENDING + 8 * u64::from(port / 64)
}

pub fn pending(port: u32) -> bool {
    rd64(pending_word(port)) & (1 << (port % 64)) != 0
}

/// Clear `port`'s pending bit. Not atomic: each side only clears bits of
/// ports whose events it alone receives, and no one else writes them
/// while it waits for them.
pub fn clear(port: u32) {
    let w = pending_word(port);
    wr64(w, rd64(w) & !(1 << (port % 64)));
}
