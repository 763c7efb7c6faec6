//! The FF-A mediator (common `ffa/`) wired to EL2: the SMC conduit, the
//! hypervisor's view of physical memory, and the calling domain.

use crate::board::Spmc;
use crate::domain::Domain;
use crate::ffa::{self, abi::Regs, Action, Env, Mediator, OwnBuffers};
use crate::info;
use crate::mm::frames::FrameAllocator;

use super::vectors::TrapFrame;

static MEDIATOR: spin::Once<spin::Mutex<Mediator>> = spin::Once::new();

const PAGE: u64 = 4096;

struct El2;

impl Env for El2 {
    fn smc(&mut self, x: &Regs) -> Regs {
        super::firmware::smc18(x)
    }
    fn read_phys(&mut self, pa: u64, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: the mediator passes only pages it checked: a domain's
            // own RAM (mapped at EL2 1:1 like all RAM) or the hypervisor's
            // RX page; the guest may write it meanwhile, hence volatile.
            *b = unsafe { core::ptr::read_volatile((pa as usize + i) as *const u8) };
        }
    }
    fn write_phys(&mut self, pa: u64, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            // SAFETY: as for `read_phys`: checked RAM pages, mapped at EL2.
            unsafe { core::ptr::write_volatile((pa as usize + i) as *mut u8, *b) };
        }
    }
    fn log(&mut self, args: core::fmt::Arguments) {
        info!("ffa: {args}");
    }
}

/// Probe the board's SPMC (if it may have one) and cache its partitions.
pub fn init(spmc: Spmc, frames: &mut FrameAllocator) {
    if spmc == Spmc::None {
        return;
    }
    let Ok(pages) = frames.alloc(2 * PAGE, PAGE) else {
        info!("ffa: no memory for the RX/TX buffers; FF-A is off");
        return;
    };
    let bufs = OwnBuffers {
        tx_pa: pages,
        rx_pa: pages + PAGE,
    };
    match ffa::probe::probe(&mut El2, &bufs) {
        Ok(p) => {
            let parts = p.cache.partitions();
            info!(
                "ffa: SPMC speaks FF-A {}; {} partition(s) cached ({}-byte descriptors):",
                p.version,
                parts.len(),
                p.cache.desc_size()
            );
            for part in parts {
                info!(
                    "ffa:   {:#06x}: {} execution context(s), properties {:#x}",
                    part.id, part.exec_contexts, part.props
                );
            }
            MEDIATOR.call_once(|| spin::Mutex::new(Mediator::new(p, bufs)));
        }
        Err(e) => {
            info!("ffa: FF-A is off: {e}; guests' FF-A calls get NOT_SUPPORTED");
            let _ = frames.free(pages, 2 * PAGE);
        }
    }
}

/// Whether SMCCC function `fid` is in FF-A's range (both calling conventions).
pub fn is_ffa(fid: u32) -> bool {
    (0x8400_0060..=0x8400_00ff).contains(&(fid & !(1 << 30)))
}

/// One FF-A call from `domain`; false if FF-A is off (the caller answers
/// NOT_SUPPORTED then).
pub fn call(domain: &Domain, frame: &mut TrapFrame) -> bool {
    let Some(m) = MEDIATOR.get() else {
        return false;
    };
    let mut x = [0u64; 18];
    x.copy_from_slice(&frame.x[..18]);
    let action = ffa::domain_call::handle(domain, m, &mut El2, &x);
    let r = match action {
        Action::Reply(r) => r,
        // Direct requests run in the partition without the mediator held.
        Action::Forward(f) => ffa::forwarded_reply(&super::firmware::smc18(&f)),
    };
    frame.x[..18].copy_from_slice(&r);
    true
}

/// A domain was built or rebuilt: partitions that asked hear of it.
pub fn domain_started(d: &Domain) {
    if let Some(m) = MEDIATOR.get() {
        m.lock().domain_created(&mut El2, d.id);
    }
}

/// A domain stopped: its shares are reclaimed, partitions hear of it.
pub fn domain_stopped(d: &Domain) {
    if let Some(m) = MEDIATOR.get() {
        m.lock().domain_destroyed(&mut El2, d.id);
    }
}

/// Whether page `ipa` of domain `id` is shared with a partition.
pub fn is_shared(id: u16, ipa: u64) -> bool {
    MEDIATOR.get().is_some_and(|m| m.lock().is_shared(id, ipa))
}
