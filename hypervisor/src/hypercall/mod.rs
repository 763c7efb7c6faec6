//! The guest interface: SMCCC (PSCI) calls and the Xen-compatible
//! hypercalls. Everything here is reached with guest-controlled values, so
//! every path returns an error code; none may panic.
pub mod smccc;
pub mod xen;

/// A guest address that does not translate to the domain's RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestFault {
    pub gva: u64,
}

/// Guest memory by guest virtual address (the caller's current stage-1
/// translation applies, as for Xen's hypercall buffers), limited to the
/// domain's RAM.
pub trait GuestMemory {
    fn read(&self, gva: u64, buf: &mut [u8]) -> Result<(), GuestFault>;
    fn write(&self, gva: u64, bytes: &[u8]) -> Result<(), GuestFault>;
}
