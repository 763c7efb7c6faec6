//! Device drivers the hypervisor itself uses (not guest-facing emulation).
pub mod gicv3;
pub mod mmio;
pub mod pl011;
