//! Device drivers the hypervisor itself uses (not guest-facing emulation).
pub mod gicv3;
pub mod imx_uart;
pub mod mmio;
pub mod pl011;
