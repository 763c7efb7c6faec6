//! What the mediator needs from the rest of the hypervisor: the SMC
//! conduit to the SPMC, host-physical memory it has already checked,
//! and the log. The arch glue implements it; host tests fake it.

use core::fmt;

use super::abi::Regs;

pub trait Env {
    /// One SMCCC 1.2 call to the secure world: x0..x17 in and out.
    fn smc(&mut self, x: &Regs) -> Regs;
    /// Copy from host-physical memory the mediator checked (a guest's TX
    /// page, the hypervisor's own RX page).
    fn read_phys(&mut self, pa: u64, buf: &mut [u8]);
    /// Copy into host-physical memory the mediator checked.
    fn write_phys(&mut self, pa: u64, bytes: &[u8]);
    fn log(&mut self, args: fmt::Arguments);
}

/// The hypervisor's own RX/TX pair with the SPMC (one page each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnBuffers {
    pub tx_pa: u64,
    pub rx_pa: u64,
}
