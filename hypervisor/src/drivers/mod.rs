//! Device drivers the hypervisor itself uses (not guest-facing emulation).
pub mod bcm2835_pm;
pub mod gic_bank;
pub mod gicv2;
pub mod gicv3;
pub mod imx_uart;
pub mod mmio;
pub mod pl011;
