//! Checks of the Xen guest interface (Xen 4.18+ semantics): version and
//! features, console, scheduler, grant table, shared_info, per-vCPU
//! vcpu_info and runstate areas, 2-level event channels, hostile pointers,
//! and a running second vCPU. Without a virtual GIC no upcall arrives as an
//! interrupt, so events are observed by polling the areas the hypervisor
//! writes. Ends with two benchmarks printed as TAP comments.

pub mod abi;
mod areas;
mod basic;
mod bench;
mod evtchn;
mod hostile;
mod remote;
mod worker;

use super::mem::{fill, page_addr, Page};
use super::Tap;

pub use worker::{worker, worker_requested};

/// TAP lines this module prints (the same on one vCPU: remote-vCPU cases
/// are reported as skipped there).
pub const CHECKS: u32 = basic::CHECKS
    + areas::CHECKS
    + evtchn::CHECKS
    + hostile::EVTCHN_CHECKS
    + remote::CHECKS
    + evtchn::STORE_CHECKS;

/// Guest-physical address with nothing behind it (RAM starts at 0x40000000).
pub const HOLE: u64 = 0x1000_0000;
/// The board's GIC distributor: MMIO, never the domain's RAM.
pub const GIC_MMIO: u64 = 0x0800_0000;
/// A gfn past the end of the domain's RAM.
pub const GFN_OUTSIDE_RAM: u64 = 0x10000;

// Pages of the guest's own RAM handed to the hypervisor. Each has one job
// so a misbehaving call cannot disturb a later check.
/// shared_info's first home; after it moves away this page is never
/// touched again (what backs it then is the hypervisor's business).
static mut SHARED_A: Page = Page::new();
/// shared_info's final home.
static mut SHARED_B: Page = Page::new();
/// vCPU 0's vcpu_info at offset 0 and vCPU 1's at offset 64.
static mut VCPU_INFO: Page = Page::new();
/// Targets of registrations that must fail (or must not move an area).
static mut SCRATCH: Page = Page::new();
/// vCPU 0's runstate area, written by the hypervisor from registration on.
static mut RUNSTATE: Page = Page::new();
/// Hypercall argument structures (vCPU 0 only).
static mut ARGS: Page = Page::new();

pub fn shared_a() -> u64 {
    page_addr(core::ptr::addr_of_mut!(SHARED_A))
}
pub fn shared_b() -> u64 {
    page_addr(core::ptr::addr_of_mut!(SHARED_B))
}
pub fn vcpu_info_page() -> u64 {
    page_addr(core::ptr::addr_of_mut!(VCPU_INFO))
}
pub fn scratch() -> u64 {
    page_addr(core::ptr::addr_of_mut!(SCRATCH))
}
pub fn runstate() -> u64 {
    page_addr(core::ptr::addr_of_mut!(RUNSTATE))
}

/// A zeroed argument block of `len` bytes (8-aligned, at most 256).
pub fn args(len: u64) -> u64 {
    let a = page_addr(core::ptr::addr_of_mut!(ARGS));
    fill(a, len.next_multiple_of(8), 0);
    a
}

/// The same page, past the aligned argument blocks: room for structures
/// built at odd addresses.
pub fn args_odd() -> u64 {
    page_addr(core::ptr::addr_of_mut!(ARGS)) + 0x101
}

/// vCPU `n`'s vcpu_info: two areas on one page.
pub fn vcpu_info(n: u64) -> u64 {
    vcpu_info_page() + 64 * n
}

/// What the checks learn and later checks use.
pub struct Ctx {
    pub smp: bool,
    /// One past the last byte of the domain's RAM.
    pub ram_end: u64,
    /// IPI port notifying vCPU 0 (0 if binding failed).
    pub p0: u32,
}

pub use evtchn::store_channel;

pub fn run(tap: &mut Tap, smp: bool, ram_end: u64) {
    let mut ctx = Ctx {
        smp,
        ram_end,
        p0: 0,
    };
    basic::run(tap, &ctx);
    areas::run(tap, &ctx);
    evtchn::run(tap, &mut ctx);
    hostile::evtchn(tap, &ctx);
    let p1 = remote::run(tap, &ctx);
    bench::null_hypercall(tap);
    bench::event_upcall(tap, &ctx, p1);
}
